#   Licensed under the Apache License, Version 2.0 (the "License"); you may
#   not use this file except in compliance with the License. You may obtain
#   a copy of the License at
#
#        http://www.apache.org/licenses/LICENSE-2.0
#
#   Unless required by applicable law or agreed to in writing, software
#   distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#   WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#   License for the specific language governing permissions and limitations
#   under the License.

"""The outcome rules, on their own."""

from unittest import mock

from keystoneauth1 import exceptions as ks_exceptions
import testtools

from ims_osc_plugin import client
from ims_osc_plugin import outcomes


def error(cls, *attempts):
    if cls is client.Interrupted:
        e = cls([])
    elif cls is client.UnexpectedResponse:
        e = cls(mock.Mock(status_code=attempts[-1][0]))
    else:
        e = cls()
    e.attempts = [client.Attempt(s, r) for s, r in attempts]
    return e


class TestJudgeFailedDelete(testtools.TestCase):

    def judge(self, cls, *attempts):
        return outcomes.judge_failed_delete(error(cls, *attempts))

    def test_404_first_try_is_not_found(self):
        self.assertEqual(outcomes.FAILED,
                         self.judge(ks_exceptions.NotFound, (404, True)))

    def test_404_after_503_or_429_or_refused_is_not_found(self):
        for first in ((503, False), (429, False), (None, False)):
            self.assertEqual(outcomes.FAILED, self.judge(
                ks_exceptions.NotFound, first, (404, True)))

    def test_404_after_lost_answer_or_proxy_error_is_deleted(self):
        for first in ((None, True), (502, True), (504, True)):
            self.assertEqual(outcomes.DELETED, self.judge(
                ks_exceptions.NotFound, first, (404, True)))

    def test_error_after_lost_answer_is_unknown(self):
        self.assertEqual(outcomes.UNKNOWN, self.judge(
            ks_exceptions.InternalServerError, (None, True), (500, True)))

    def test_last_try_unanswered_is_unknown(self):
        self.assertEqual(outcomes.UNKNOWN, self.judge(
            ks_exceptions.ConnectFailure, (None, True)))
        self.assertEqual(outcomes.FAILED, self.judge(
            ks_exceptions.ConnectFailure, (None, False)))

    def test_a_2xx_other_than_204_is_unknown(self):
        # A 202, or a proxy's 200 login page: taken, not done.
        for status in (200, 202):
            self.assertEqual(outcomes.UNKNOWN, self.judge(
                client.UnexpectedResponse, (status, True)))

    def test_a_redirect_fails(self):
        self.assertEqual(outcomes.FAILED, self.judge(
            client.UnexpectedResponse, (302, False)))

    def test_plain_errors_fail(self):
        for status, cls in ((403, ks_exceptions.Forbidden),
                            (503, ks_exceptions.ServiceUnavailable)):
            self.assertEqual(outcomes.FAILED,
                             self.judge(cls, (status, status != 503)))

    def test_interrupted(self):
        self.assertEqual(outcomes.NOT_ATTEMPTED,
                         self.judge(client.Interrupted))
        self.assertEqual(outcomes.FAILED,
                         self.judge(client.Interrupted, (503, False)))
        self.assertEqual(outcomes.UNKNOWN,
                         self.judge(client.Interrupted, (None, True)))


class TestJudgeDryRun(testtools.TestCase):

    def test_protected_is_refused_whatever_the_roles(self):
        for may in (None, False, True):
            self.assertEqual(
                (outcomes.WOULD_REFUSE, outcomes.PROTECTED),
                outcomes.judge_dry_run({'protected': True}, 'p', may))

    def test_other_project(self):
        image = {'owner': 'other'}
        for may, expected in (
                (None, (outcomes.WOULD_REFUSE, outcomes.OTHER_PROJECT)),
                (False, (outcomes.WOULD_REFUSE, outcomes.OTHER_PROJECT)),
                (True, (outcomes.WOULD_DELETE, None))):
            self.assertEqual(expected,
                             outcomes.judge_dry_run(image, 'p', may))

    def test_own_or_unknown_owner(self):
        for image, project in (({'owner': 'p'}, 'p'), ({}, 'p'),
                               ({'owner': 'x'}, None)):
            self.assertEqual((outcomes.WOULD_DELETE, None),
                             outcomes.judge_dry_run(image, project, None))
