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

from keystoneauth1 import exceptions as ks_exceptions
import requests
import testtools

from ims_osc_plugin import answers
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
