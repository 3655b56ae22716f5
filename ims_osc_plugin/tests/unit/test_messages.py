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

"""Reading an error reply (client) and phrasing it (the command)."""

import json
import logging
import os
import re
from unittest import mock

from keystoneauth1 import exceptions as ks_exceptions
import requests
import testtools

from ims_osc_plugin import answers
from ims_osc_plugin import ims_codes
from ims_osc_plugin import outcomes
from ims_osc_plugin.v2 import messages


class TestMessages(testtools.TestCase):

    def _error(self, status, **kwargs):
        # A real requests Response: the answer's bytes are what is read.
        response = requests.Response()
        response.status_code = status
        response.reason = 'Reason'
        if 'json' in kwargs:
            response._content = json.dumps(kwargs['json']).encode()
            response.headers['Content-Type'] = 'application/json'
        else:
            response._content = kwargs.get('text', '').encode()
            response.headers['Content-Type'] = 'text/plain'
        response.encoding = 'utf-8'
        return response

    def test_glance_json(self):
        self.assertEqual('A body is not expected with this request.',
                         answers.server_message(self._error(400, json={
                             'message': 'A body is not expected with this '
                                        'request.',
                             'code': '400 Bad Request',
                             'title': 'Bad Request'})))

    def test_error_object(self):
        self.assertEqual('The image is in use', answers.server_message(
            self._error(409, json={'error': {
                'code': 'IMG.0001', 'message': 'The image is in use'}})))

    def test_api_sig_errors(self):
        self.assertEqual('detail', answers.server_message(
            self._error(400, json={'errors': [{'detail': 'detail'}]})))

    def test_html_page(self):
        text = ('<html><head><title>403 Forbidden</title></head><body>'
                '<h1>403 Forbidden</h1>Access was denied to this '
                'resource.<br /><br /></body></html>')
        message = answers.server_message(self._error(403, text=text))
        self.assertNotIn('<', message)
        self.assertIn('Access was denied to this resource.', message)

    def test_plain_webob_page(self):
        self.assertEqual(
            'A body is not expected with this request.',
            answers.server_message(self._error(400, text=(
                '400 Bad Request\n\nA body is not expected with this '
                'request.\n\n   '))))

    def test_huge_body_trimmed(self):
        e = ks_exceptions.from_response(
            self._error(500, text='x' * 10 ** 6), 'DELETE', 'u')
        line = messages.explain(e)
        self.assertLess(len(line), 300)
        self.assertTrue(line.endswith('x\\...'))

    def test_unexpected_shapes(self):
        for body in ([1, 2], 'text', 42, {'error': 7}, {}):
            self.assertIsNone(
                answers.server_message(self._error(500, json=body)))
        self.assertIsNone(answers.server_message(self._error(500)))

    def test_control_characters_escaped(self):
        e = ks_exceptions.from_response(self._error(
            400, json={'message': 'bad \x1b[31mred\u200f'}), 'DELETE', 'u')
        self.assertEqual('400 Reason, request error: bad \\x1b[31mred\\u200f',
                         messages.explain(e))

    def test_explain_every_seed_status(self):
        for status, meaning in ((400, 'request error'),
                                (401, 'authentication failed'),
                                (403, 'no rights to delete it'),
                                (404, 'not found'),
                                (500, 'internal error'),
                                (503, 'unavailable')):
            e = ks_exceptions.from_response(
                self._error(status, json={'message': 'm'}), 'DELETE', 'u')
            line = messages.explain(e)
            self.assertTrue(line.startswith('%d Reason, ' % status), line)
            self.assertIn(meaning, line)
            self.assertTrue(line.endswith(': m'), line)

    def test_body_rejected(self):
        e = ks_exceptions.from_response(self._error(400, json={
            'message': 'A body is not expected with this request.'}),
            'DELETE', 'u')
        self.assertTrue(messages.is_body_rejected(e))
        e = ks_exceptions.from_response(self._error(400, json={
            'message': 'Invalid delete_backup'}), 'DELETE', 'u')
        self.assertFalse(messages.is_body_rejected(e))

    def test_printable(self):
        self.assertEqual('a\\nb\\u202e', messages.printable('a\nb\u202e'))
        self.assertEqual('x' * 200 + '\\...', messages.printable('x' * 5000))

    def test_reason_phrase_is_the_servers_text(self):
        # A status line's reason phrase comes from the server, too.
        response = self._error(503, json={'message': 'busy\x1b[2J'})
        response.reason = 'Unavailable\x1b]0;title\x07'
        line = messages.explain(ks_exceptions.from_response(
            response, 'DELETE', 'u'))
        self.assertTrue(line.isprintable(), line)
        self.assertEqual('503 Unavailable\\x1b]0;title\\x07, the image '
                         'service is unavailable: busy\\x1b[2J', line)


class _Response:
    """What ims_error_code reads of a requests Response."""

    def __init__(self, content):
        self.content = content


class TestImsErrorCode(testtools.TestCase):

    def test_error_object(self):
        self.assertEqual('IMG.0028', answers.ims_error_code(_Response(
            b'{"error": {"code": "IMG.0028", "message": "protected"}}')))

    def test_gateway_and_top_level_codes(self):
        self.assertEqual('APIGW.0308', answers.ims_error_code(_Response(
            b'{"error_code": "APIGW.0308", "error_msg": "throttled"}')))
        self.assertEqual('IMG.0060', answers.ims_error_code(_Response(
            b'{"code": "IMG.0060", "message": "flow control"}')))

    def test_no_code(self):
        for content in (
                # Glance's "code" is a status line, not a code.
                b'{"message": "x", "code": "400 Bad Request"}',
                b'{"error": {"code": 28}}', b'[]', b'', None, b'\xff\xfe',
                b'<html>IMG.0028</html>', b'{"error": "IMG.0028"}',
                # Another service's code, or one made up by a proxy.
                b'{"error": {"code": "IMS.0429", "message": "busy"}}'):
            self.assertIsNone(answers.ims_error_code(_Response(content)),
                              content)
        self.assertIsNone(answers.ims_error_code(None))

    def test_bounded(self):
        # A huge page is not parsed whole, even if it is JSON.
        huge = (b'{"error": {"code": "IMG.0028", "message": "' +
                b'x' * (1 << 20) + b'"}}')
        self.assertIsNone(answers.ims_error_code(_Response(huge)))


class TestImsCodes(testtools.TestCase):
    """Each IMS delete code has its own words and advice."""

    def _http_error(self, code, status=400):
        body = json.dumps({'error': {'code': code,
                                     'message': 'Server text.'}})
        response = mock.Mock(status_code=status, reason='Bad Request',
                             headers={}, content=body.encode(), text=body)
        response.json.return_value = json.loads(body)
        return ks_exceptions.from_response(response, 'DELETE', 'http://x')

    def test_every_delete_code_has_words_and_advice(self):
        for code in ims_codes.DELETE_CODES:
            self.assertIn(code, messages.IMS_CODE_MEANINGS)
            self.assertIn(code, messages.IMS_CODE_ADVICE)

    def test_advice_matches_what_the_code_tells(self):
        # Refusals are not worth retrying; the others say when to try.
        for code in ims_codes.DELETE_CODES:
            advice = messages.IMS_CODE_ADVICE[code]
            self.assertEqual(code in ims_codes.REFUSED,
                             advice.startswith('Not worth retrying'), code)
            if code in ims_codes.TRY_LATER:
                self.assertRegex(advice, r'(again later|Try again once)')
        self.assertLessEqual(ims_codes.THROTTLING, ims_codes.TRY_LATER)

    def test_explain_names_the_code_and_its_meaning(self):
        line = messages.explain(self._http_error('IMG.0094'))
        self.assertEqual('400 Bad Request, IMG.0094: a public image cannot '
                         'be deleted: Server text.', line)
        # An unknown code is shown with the status's meaning.
        self.assertEqual('400 Bad Request, IMG.9999, request error: Server '
                         'text.',
                         messages.explain(self._http_error('IMG.9999')))

    def _job(self, code, backup='b-1'):
        from ims_osc_plugin import engine
        job = engine.Job(0, 'my-image')
        job.image_id = '00000000-0000-4000-8000-000000000001'
        job.image = {'id': job.image_id, '__whole_image': 'true',
                     '__backup_id': backup} if backup else {
                         'id': job.image_id}
        job.error = self._http_error(code)
        job.kind = outcomes.judge_failed_delete(job.error)
        return job

    def test_refusals_fail_with_advice(self):
        job = self._job('IMG.0028')
        self.assertEqual(outcomes.FAILED, job.kind)
        [(level, line)] = messages.result_lines(job, delete_backup=True)
        self.assertEqual(logging.ERROR, level)
        self.assertEqual(
            "Failed to delete image 'my-image': 400 Bad Request, IMG.0028: "
            "the image is protected: Server text. Not worth retrying as it "
            "is: if the image is to go, unprotect it with 'openstack image "
            "set --unprotected 00000000-0000-4000-8000-000000000001', then "
            "delete it again.", line)

    def test_backup_not_deleted_leaves_the_image_unknown(self):
        job = self._job('IMG.0176')
        self.assertEqual(outcomes.UNKNOWN, job.kind)
        [(level, line)] = messages.result_lines(job, delete_backup=True)
        self.assertTrue(line.startswith(
            "Image 'my-image' may or may not have been deleted: 400 Bad "
            "Request, IMG.0176: IMS could not delete the CBR backup of "
            "this full-ECS image"), line)
        self.assertIn("'openstack image show "
                      "00000000-0000-4000-8000-000000000001'", line)
        self.assertIn('its backup b-1 is left in CBR', line)
        self.assertIn('DELETE /v3/{project_id}/backups/b-1', line)

    def test_troubleshooting_explains_each_code(self):
        page = os.path.join(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
            'doc', 'source', 'troubleshooting.rst')
        if not os.path.exists(page):
            self.skipTest('no doc/source here (an installed package)')
        with open(page, encoding='utf-8') as f:
            text = ' '.join(f.read().split())
        missing = []
        for table in (messages.IMS_CODE_MEANINGS, messages.IMS_CODE_ADVICE):
            for code, words in sorted(table.items()):
                if code not in text:
                    missing.append(code)
                for part in re.split(r'%\(\w+\)[sd]', words):
                    part = ' '.join(part.split()).strip(" :;,.()'")
                    if len(part) >= 4 and part not in text:
                        missing.append('%s: %r' % (code, part))
        self.assertEqual([], missing)
