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

"""The HTTP layer on real keystoneauth Sessions, with requests-mock."""

import logging
from unittest import mock
import uuid

import fixtures
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
import requests
import requests_mock
from requests_mock.contrib import fixture as rm_fixture
import testtools

from ims_osc_plugin import client
from ims_osc_plugin.tests.unit import fakes

IMAGE_ID = '4ca46bf1-5c61-48ff-b4f3-0ad4e5e3ba90'


class TestBase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.requests = self.useFixture(rm_fixture.Fixture())
        # keystoneauth sleeps between retries: make that instant here.
        self.sleep = self.useFixture(
            fixtures.MockPatch(
                'keystoneauth1.session.time.sleep')).mock

    def password_session(self):
        fakes.register_identity(self.requests)
        auth = v3.Password(
            auth_url=fakes.AUTH_URL, username='u', password='p',
            project_name='p', user_domain_id='default',
            project_domain_id='default')
        return ks_session.Session(auth=auth)


class TestEndpoint(TestBase):
    """The request lands on .../v2/images/<id> for every endpoint form."""

    def _delete_url(self, ims):
        self.requests.delete(requests_mock.ANY, status_code=204)
        ims.delete_image(IMAGE_ID)
        return self.requests.last_request.url

    def test_unversioned_catalog_url(self):
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='region-1')
        self.assertEqual(fakes.IMAGE_URL + '/v2/images/' + IMAGE_ID,
                         self._delete_url(ims))

    def test_versioned_catalog_url(self):
        ims = client.ImageClient.from_session(
            fakes.token_session(fakes.IMAGE_URL + '/v2/'))
        self.assertEqual(fakes.IMAGE_URL + '/v2/images/' + IMAGE_ID,
                         self._delete_url(ims))

    def test_minor_versioned_url(self):
        ims = client.ImageClient.from_session(
            fakes.token_session(fakes.IMAGE_URL + '/v2.1'))
        self.assertEqual(fakes.IMAGE_URL + '/v2.1/images/' + IMAGE_ID,
                         self._delete_url(ims))

    def test_url_with_path_prefix(self):
        ims = client.ImageClient.from_session(
            fakes.token_session('https://cloud.test/image'))
        self.assertEqual('https://cloud.test/image/v2/images/' + IMAGE_ID,
                         self._delete_url(ims))

    def test_interface_and_region(self):
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='region-1',
            interface='internal')
        self.assertEqual(fakes.INTERNAL_IMAGE_URL + '/images/' + IMAGE_ID,
                         self._delete_url(ims))
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='region-2')
        self.assertEqual(
            fakes.OTHER_REGION_IMAGE_URL + '/v2/images/' + IMAGE_ID,
            self._delete_url(ims))

    def test_endpoint_override(self):
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='region-1',
            endpoint_override='https://override.test:9292')
        self.assertEqual(
            'https://override.test:9292/v2/images/' + IMAGE_ID,
            self._delete_url(ims))

    def test_sdk_proxy_endpoint(self):
        # The openstacksdk proxy is an Adapter with a discovered endpoint.
        adapter = mock.Mock(spec=['get_endpoint', 'request', 'session'])
        adapter.get_endpoint.return_value = fakes.IMAGE_URL + '/v2/'
        adapter.request.return_value = mock.Mock(status_code=204)
        client.ImageClient(adapter).delete_image(IMAGE_ID)
        adapter.request.assert_called_once_with(
            fakes.IMAGE_URL + '/v2/images/' + IMAGE_ID, 'DELETE',
            raise_exc=True, redirect=False, logger=mock.ANY,
            connect_retries=3,
            status_code_retries=3,
            retriable_status_codes=client.RETRIABLE_STATUS_CODES)

    def test_no_endpoint(self):
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='nowhere')
        self.assertRaises(ks_exceptions.EndpointNotFound,
                          ims.delete_image, IMAGE_ID)


class TestDelete(TestBase):

    def setUp(self):
        super().setUp()
        self.ims = client.ImageClient.from_session(fakes.token_session())
        self.url = fakes.IMAGE_URL_V2 + '/images/' + IMAGE_ID
        self.requests.delete(self.url, status_code=204)

    def test_no_flag_sends_no_body(self):
        self.ims.delete_image(IMAGE_ID)
        request = self.requests.last_request
        self.assertEqual('DELETE', request.method)
        self.assertIsNone(request.body)
        self.assertNotIn('Content-Type', request.headers)
        self.assertEqual(fakes.TOKEN, request.headers['X-Auth-Token'])

    def test_delete_backup_true(self):
        self.ims.delete_image(IMAGE_ID, delete_backup=True)
        request = self.requests.last_request
        self.assertEqual({'delete_backup': True}, request.json())
        self.assertEqual('application/json',
                         request.headers['Content-Type'])

    def test_delete_backup_false(self):
        self.ims.delete_image(IMAGE_ID, delete_backup=False)
        request = self.requests.last_request
        self.assertEqual({'delete_backup': False}, request.json())
        self.assertEqual('application/json',
                         request.headers['Content-Type'])

    def test_store(self):
        url = fakes.IMAGE_URL_V2 + '/stores/a%2Fb/' + IMAGE_ID
        self.requests.delete(url, status_code=204)
        self.ims.delete_image(IMAGE_ID, store='a/b')
        self.assertEqual(url, self.requests.last_request.url)
        self.assertIsNone(self.requests.last_request.body)

    def test_dot_segments_refused(self):
        for store in ('..', '.', ''):
            self.assertRaises(client.ImsError, self.ims.delete_image,
                              IMAGE_ID, store=store)
        self.assertFalse(self.requests.called)

    def test_store_and_backup_refused(self):
        self.assertRaises(ValueError, self.ims.delete_image, IMAGE_ID,
                          delete_backup=True, store='s')
        self.assertFalse(self.requests.called)

    def test_not_an_id_sends_nothing(self):
        for bad in ('../../v3/auth/tokens', 'a/b', '', IMAGE_ID + '/x'):
            self.assertRaises(client.ImageNotFound, self.ims.delete_image,
                              bad)
        self.assertFalse(self.requests.called)

    def test_http_errors_raise_keystoneauth_errors(self):
        self.requests.delete(self.url, status_code=403, json={
            'message': 'Image is protected', 'code': '403 Forbidden'})
        e = self.assertRaises(ks_exceptions.Forbidden,
                              self.ims.delete_image, IMAGE_ID)
        self.assertEqual(
            '403 Forbidden, no rights to delete it (it is protected, or '
            'not your own private image): Image is protected',
            client.explain(e))

    def test_redirect_not_followed(self):
        self.requests.delete(self.url, status_code=302,
                             headers={'Location': 'https://elsewhere.test/'})
        e = self.assertRaises(client.UnexpectedResponse,
                              self.ims.delete_image, IMAGE_ID)
        self.assertIn('302', str(e))
        self.assertIn('https://elsewhere.test/', str(e))
        self.assertEqual(1, self.requests.call_count)

    def test_retries_503_then_deletes(self):
        self.requests.delete(self.url, [
            {'status_code': 503}, {'status_code': 503},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.assertEqual(3, self.requests.call_count)
        self.assertEqual(2, self.sleep.call_count)

    def test_retry_after_is_honoured(self):
        self.requests.delete(self.url, [
            {'status_code': 429, 'headers': {'Retry-After': '7'}},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.sleep.assert_called_once_with(7)

    def test_retries_are_bounded(self):
        self.ims.retries = 2
        self.requests.delete(self.url, status_code=503)
        self.assertRaises(ks_exceptions.ServiceUnavailable,
                          self.ims.delete_image, IMAGE_ID)
        self.assertEqual(3, self.requests.call_count)

    def test_no_retry_on_client_errors(self):
        self.requests.delete(self.url, status_code=404)
        e = self.assertRaises(ks_exceptions.NotFound,
                              self.ims.delete_image, IMAGE_ID)
        self.assertEqual(1, self.requests.call_count)
        self.assertFalse(e.retried)

    def test_error_after_retry_says_so(self):
        self.requests.delete(self.url, [{'status_code': 503},
                                        {'status_code': 404}])
        e = self.assertRaises(ks_exceptions.NotFound,
                              self.ims.delete_image, IMAGE_ID)
        self.assertTrue(e.retried)

    def test_retry_notices_at_info(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name=client.HTTP_LOG.name, level=logging.INFO,
            format='%(levelname)s %(message)s'))
        self.requests.delete(self.url, [{'status_code': 503},
                                        {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.assertTrue(logger.output.startswith(
            'INFO Retriable status code 503. Retrying in'), logger.output)

    def test_connection_failure_retried(self):
        self.requests.delete(self.url, [
            {'exc': requests.exceptions.ConnectionError},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.assertEqual(2, self.requests.call_count)


class TestFind(TestBase):

    def setUp(self):
        super().setUp()
        self.ims = client.ImageClient.from_session(fakes.token_session())
        self.cloud = fakes.Cloud(self.requests)

    def test_by_id_one_request(self):
        image = self.cloud.add(fakes.image('x'))
        self.assertEqual(image, self.ims.find_image(image['id']))
        self.assertEqual(1, self.requests.call_count)

    def test_by_name_one_request_name_in_query(self):
        image = self.cloud.add(fakes.image('a/../b?c=d#e f'))
        self.assertEqual(image, self.ims.find_image('a/../b?c=d#e f'))
        self.assertEqual(1, self.requests.call_count)
        request = self.requests.last_request
        self.assertEqual('/v2/images', request.path)
        self.assertEqual(
            'name=a%2F..%2Fb%3Fc%3Dd%23e+f&limit=2',
            request.url.split('?', 1)[1])

    def test_id_shaped_name(self):
        name = str(uuid.uuid4())
        image = self.cloud.add(fakes.image(name))
        self.assertEqual(image, self.ims.find_image(name))
        self.assertEqual(2, self.requests.call_count)

    def test_missing(self):
        self.assertRaises(client.ImageNotFound, self.ims.find_image, 'nope')

    def test_ambiguous(self):
        self.cloud.add(fakes.image('twin'), fakes.image('twin'))
        self.assertRaises(client.AmbiguousImage, self.ims.find_image, 'twin')

    def test_path_traversal_never_in_path(self):
        for hostile in ('../../v3/auth/tokens', '%2e%2e%2f', '?x=1', '#f'):
            self.assertRaises(client.ImageNotFound, self.ims.find_image,
                              hostile)
            self.assertEqual('/v2/images', self.requests.last_request.path)

    def test_unexpected_list_shape(self):
        self.requests.get(fakes.IMAGE_URL_V2 + '/images',
                          json={'images': 'nope'})
        self.assertRaises(client.UnexpectedResponse, self.ims.find_image,
                          'x')

    def test_non_json_success(self):
        self.requests.get(fakes.IMAGE_URL_V2 + '/images', text='<html>')
        self.assertRaises(client.UnexpectedResponse, self.ims.find_image,
                          'x')


class TestAllowConcurrency(testtools.TestCase):

    def test_pools_grow_keeping_adapter(self):
        session = ks_session.Session()
        ims = client.ImageClient.from_session(session)
        before = dict(session.session.adapters)
        ims.allow_concurrency(32)
        self.assertEqual(before, session.session.adapters)
        for http_adapter in session.session.adapters.values():
            self.assertEqual(32, http_adapter._pool_maxsize)
            self.assertIsInstance(http_adapter,
                                  ks_session.TCPKeepAliveAdapter)

    def test_never_shrinks(self):
        session = ks_session.Session()
        ims = client.ImageClient.from_session(session)
        ims.allow_concurrency(4)
        for http_adapter in session.session.adapters.values():
            self.assertEqual(10, http_adapter._pool_maxsize)


class TestMessages(testtools.TestCase):

    def _error(self, status, **kwargs):
        response = mock.Mock(status_code=status, reason='Reason',
                             headers={})
        if 'json' in kwargs:
            response.json.return_value = kwargs['json']
            response.text = str(kwargs['json'])
        else:
            response.json.side_effect = ValueError
            response.text = kwargs.get('text', '')
        return response

    def test_glance_json(self):
        self.assertEqual('A body is not expected with this request.',
                         client.server_message(self._error(400, json={
                             'message': 'A body is not expected with this '
                                        'request.',
                             'code': '400 Bad Request',
                             'title': 'Bad Request'})))

    def test_error_object(self):
        self.assertEqual('The image is in use', client.server_message(
            self._error(409, json={'error': {
                'code': 'IMG.0001', 'message': 'The image is in use'}})))

    def test_api_sig_errors(self):
        self.assertEqual('detail', client.server_message(
            self._error(400, json={'errors': [{'detail': 'detail'}]})))

    def test_html_page(self):
        text = ('<html><head><title>403 Forbidden</title></head><body>'
                '<h1>403 Forbidden</h1>Access was denied to this '
                'resource.<br /><br /></body></html>')
        message = client.server_message(self._error(403, text=text))
        self.assertNotIn('<', message)
        self.assertIn('Access was denied to this resource.', message)

    def test_plain_webob_page(self):
        self.assertEqual(
            'A body is not expected with this request.',
            client.server_message(self._error(400, text=(
                '400 Bad Request\n\nA body is not expected with this '
                'request.\n\n   '))))

    def test_huge_body_trimmed(self):
        message = client.server_message(self._error(500, text='x' * 10 ** 6))
        self.assertEqual(203, len(message))
        self.assertTrue(message.endswith('...'))

    def test_unexpected_shapes(self):
        for body in ([1, 2], 'text', 42, {'error': 7}, {}):
            self.assertIsNone(
                client.server_message(self._error(500, json=body)))
        self.assertIsNone(client.server_message(self._error(500)))

    def test_control_characters_escaped(self):
        message = client.server_message(self._error(
            400, json={'message': 'bad \x1b[31mred\u200f'}))
        self.assertEqual('bad \\x1b[31mred\\u200f', message)

    def test_explain_every_seed_status(self):
        for status, meaning in ((400, 'request error'),
                                (401, 'authentication failed'),
                                (403, 'no rights to delete it'),
                                (404, 'not found'),
                                (500, 'internal error'),
                                (503, 'unavailable')):
            e = ks_exceptions.from_response(
                self._error(status, json={'message': 'm'}), 'DELETE', 'u')
            line = client.explain(e)
            self.assertTrue(line.startswith('%d Reason, ' % status), line)
            self.assertIn(meaning, line)
            self.assertTrue(line.endswith(': m'), line)

    def test_body_rejected(self):
        e = ks_exceptions.from_response(self._error(400, json={
            'message': 'A body is not expected with this request.'}),
            'DELETE', 'u')
        self.assertTrue(client.is_body_rejected(e))
        e = ks_exceptions.from_response(self._error(400, json={
            'message': 'Invalid delete_backup'}), 'DELETE', 'u')
        self.assertFalse(client.is_body_rejected(e))

    def test_printable(self):
        self.assertEqual('a\\nb\\u202e', client.printable('a\nb\u202e'))
        self.assertEqual('x' * 200 + '...', client.printable('x' * 5000))

    def test_backup_of(self):
        self.assertEqual('b', client.backup_of(
            {'__whole_image': 'true', '__backup_id': 'b'}))
        self.assertEqual('b', client.backup_of(
            {'__whole_image': 'True', '__backup_id': 'b'}))
        self.assertIsNone(client.backup_of({'__backup_id': 'b'}))
        self.assertIsNone(client.backup_of({'__whole_image': 'true'}))
        self.assertIsNone(client.backup_of({}))

    def test_is_image_id(self):
        self.assertTrue(client.is_image_id(IMAGE_ID))
        self.assertTrue(client.is_image_id(IMAGE_ID.upper()))
        for bad in ('', IMAGE_ID + '\n', IMAGE_ID.replace('-', ''),
                    '{%s}' % IMAGE_ID, 'urn:uuid:' + IMAGE_ID):
            self.assertFalse(client.is_image_id(bad), bad)
