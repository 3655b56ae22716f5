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
import threading
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

from ims_osc_plugin import answers
from ims_osc_plugin import client
from ims_osc_plugin import outcomes
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin import throttle

IMAGE_ID = '4ca46bf1-5c61-48ff-b4f3-0ad4e5e3ba90'
# Before TestBase puts fakes.InstantGate in its place.
RealGate = throttle.Gate


class TestBase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.requests = self.useFixture(rm_fixture.Fixture())
        # The client waits between retries: record instead.
        self.sleep = self.useFixture(fixtures.MockPatchObject(
            client.ImageClient, '_wait')).mock
        # The shared gate's waits pass at once, recorded.
        self.gate_waits = []
        self.useFixture(fixtures.MockPatchObject(
            throttle, 'Gate', lambda: fakes.InstantGate(self.gate_waits)))

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

    def test_other_versions_are_not_built_on(self):
        # Never .../v1/v2/...: the IMS API is v2 at the service's root.
        for version in ('v2.1', 'v1', 'v1.1', 'v2/'):
            ims = client.ImageClient.from_session(
                fakes.token_session(fakes.IMAGE_URL + '/' + version))
            self.assertEqual(fakes.IMAGE_URL + '/v2/images/' + IMAGE_ID,
                             self._delete_url(ims))

    def test_no_version_discovery(self):
        # One request fewer than core, and it works where the service's
        # root answers no version document (a gateway, a bare override).
        self.requests.get(fakes.IMAGE_URL, status_code=404)
        self.requests.get(fakes.IMAGE_URL + '/', status_code=404)
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='region-1')
        self.assertEqual(fakes.IMAGE_URL + '/v2/images/' + IMAGE_ID,
                         self._delete_url(ims))
        self.assertEqual(
            ['POST ' + fakes.AUTH_URL + '/auth/tokens',
             'DELETE ' + fakes.IMAGE_URL_V2 + '/images/' + IMAGE_ID],
            ['%s %s' % (r.method, r.url)
             for r in self.requests.request_history])

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

    def test_adapter_contract(self):
        # What the client asks of any Adapter (openstacksdk's proxy is one):
        # no discovery, and no retries of keystoneauth's own (it counts
        # them itself), no redirects.
        adapter = mock.Mock(spec=['get_endpoint', 'request', 'session'])
        adapter.get_endpoint.return_value = fakes.IMAGE_URL + '/v2/'
        adapter.request.return_value = mock.Mock(status_code=204)
        client.ImageClient(adapter).delete_image(IMAGE_ID)
        adapter.get_endpoint.assert_called_once_with(skip_discovery=True)
        adapter.request.assert_called_once_with(
            fakes.IMAGE_URL + '/v2/images/' + IMAGE_ID, 'DELETE',
            raise_exc=False, redirect=False, logger=client.HTTP_LOG,
            connect_retries=0, status_code_retries=0, stream=True)

    def test_from_connection_reads_its_cloud_config(self):
        import openstack

        conn = openstack.connection.Connection(
            session=fakes.token_session(), region_name='region-1',
            image_endpoint_override='https://override.test:9292/v1')
        ims = client.ImageClient.from_connection(conn)
        self.assertIs(conn.session, ims._adapter.session)
        self.assertEqual('https://override.test:9292/v2/images/' + IMAGE_ID,
                         self._delete_url(ims))

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
        self.assertEqual('Image is protected', answers.server_message(
            e.response))
        self.assertEqual([(403, True)],
                         [(a.status, a.may_have_reached) for a in e.attempts])

    def test_redirect_not_followed(self):
        self.requests.delete(self.url, status_code=302,
                             headers={'Location': 'https://elsewhere.test/'})
        e = self.assertRaises(client.UnexpectedResponse,
                              self.ims.delete_image, IMAGE_ID)
        self.assertEqual(302, e.response.status_code)
        self.assertEqual(1, self.requests.call_count)

    def test_retries_503_then_deletes(self):
        self.requests.delete(self.url, [
            {'status_code': 503}, {'status_code': 503},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.assertEqual(3, self.requests.call_count)
        # keystoneauth's backoff: 0.5 s, doubling.
        self.assertEqual([mock.call(0.5), mock.call(1.0)],
                         self.sleep.call_args_list)

    def test_retry_after_is_honoured(self):
        self.requests.delete(self.url, [
            {'status_code': 429, 'headers': {'Retry-After': '7'}},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        # At the shared gate, which the retry opens again as its probe.
        self.assertAlmostEqual(7, sum(self.gate_waits))
        self.assertIsNone(self.ims.gate.waiting())
        self.assertFalse(any(c[0][0] for c in self.sleep.call_args_list))

    def test_retry_after_as_a_date(self):
        import email.utils
        import time

        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        self.requests.delete(self.url, [
            {'status_code': 503, 'headers': {'Retry-After': when}},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        waited = sum(self.gate_waits)
        self.assertTrue(25 < waited <= 30, waited)

    def test_retry_after_beyond_the_cap(self):
        self.requests.delete(self.url, status_code=429,
                             headers={'Retry-After': '86400'})
        e = self.assertRaises(client.RetryAfterTooLong,
                              self.ims.delete_image, IMAGE_ID)
        self.assertEqual((86400, 429), (e.wait, e.error.http_status))
        self.assertEqual(1, self.requests.call_count)
        self.assertFalse(self.sleep.called)

    def test_configured_retry_delay(self):
        ims = client.ImageClient.from_session(
            fakes.token_session(), status_code_retry_delay=2.5)
        self.requests.delete(self.url, [{'status_code': 503},
                                        {'status_code': 204}])
        ims.delete_image(IMAGE_ID)
        self.sleep.assert_called_once_with(2.5)

    def test_configured_retries(self):
        for settings, tries in (({}, 4), ({'status_code_retries': 1}, 2),
                                ({'status_code_retries': 0}, 1)):
            ims = client.ImageClient.from_session(fakes.token_session(),
                                                  **settings)
            before = self.requests.call_count
            self.requests.delete(self.url, status_code=503)
            self.assertRaises(ks_exceptions.ServiceUnavailable,
                              ims.delete_image, IMAGE_ID)
            self.assertEqual(tries, self.requests.call_count - before,
                             settings)

    def test_cancel_stops_before_sending(self):
        self.ims.cancel.set()
        e = self.assertRaises(client.Interrupted, self.ims.delete_image,
                              IMAGE_ID)
        self.assertEqual([], e.attempts)
        self.assertFalse(self.requests.called)

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
        self.assertFalse(outcomes.earlier_attempt_may_have_acted(e))

    def attempts_before_404(self, first):
        self.requests.delete(self.url, [first, {'status_code': 404}])
        e = self.assertRaises(ks_exceptions.NotFound,
                              self.ims.delete_image, IMAGE_ID)
        return [(a.status, a.may_have_reached) for a in e.attempts]

    def test_attempts_tell_what_may_have_reached_the_service(self):
        for first, attempt in (
                ({'status_code': 503}, (503, False)),
                ({'status_code': 429}, (429, False)),
                ({'status_code': 502}, (502, True)),
                ({'status_code': 504}, (504, True)),
                ({'exc': fakes.refused_connection()}, (None, False)),
                ({'exc': requests.exceptions.ConnectTimeout}, (None, False)),
                ({'exc': fakes.dropped_connection()}, (None, True)),
                ({'exc': requests.exceptions.ReadTimeout}, (None, True)),
                ({'exc': requests.exceptions.ConnectionError}, (None, True))):
            self.assertEqual([attempt, (404, True)],
                             self.attempts_before_404(first), first)

    def test_throttled_retries_count_per_image(self):
        self.requests.delete(self.url, status_code=429)
        e = self.assertRaises(ks_exceptions.HttpError,
                              self.ims.delete_image, IMAGE_ID)
        # --retries' meaning kept: 1 try and 3 retries, each a probe
        # after a growing wait at the gate.
        self.assertEqual(4, self.requests.call_count)
        self.assertEqual([(429, False)] * 4,
                         [(a.status, a.may_have_reached) for a in e.attempts])
        self.assertAlmostEqual(1 + 2 + 4, sum(self.gate_waits))

    def test_ims_flow_control_is_throttling(self):
        flow = {'error': {'code': 'IMG.0060', 'message': 'flow control'}}
        self.requests.delete(self.url, [
            {'status_code': 400, 'json': flow},
            {'status_code': 403, 'json': flow},
            {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.assertEqual(3, self.requests.call_count)
        self.assertEqual(2, self.ims.gate.throttled)
        self.assertAlmostEqual(1 + 2, sum(self.gate_waits))

    def test_flow_control_not_acted_on(self):
        flow = {'error': {'code': 'IMG.0060', 'message': 'flow control'}}
        self.assertEqual([(400, False), (404, True)], self.attempts_before_404(
            {'status_code': 400, 'json': flow}))

    def test_a_closed_gate_holds_other_requests(self):
        other = fakes.IMAGE_URL_V2 + '/images/' + str(uuid.uuid4())
        self.requests.delete(other, status_code=204)
        self.requests.delete(self.url, [
            {'status_code': 429, 'headers': {'Retry-After': '5'}},
            {'status_code': 204}])
        self.assertRaises(ks_exceptions.HttpError, client.ImageClient(
            self.ims._adapter, retries=0).delete_image, IMAGE_ID)
        # A client of its own: this one's gate is still open.
        self.ims.gate.leave(self.ims.gate.enter(threading.Event()),
                            throttled=True, wait=5)
        self.ims.delete_image(other.rsplit('/', 1)[1])
        self.assertAlmostEqual(5, sum(self.gate_waits))

    def test_cancel_at_the_gate_sends_nothing(self):
        self.ims.gate.leave(self.ims.gate.enter(threading.Event()),
                            throttled=True, wait=30)
        self.ims.cancel.set()
        e = self.assertRaises(client.Interrupted, self.ims.delete_image,
                              IMAGE_ID)
        self.assertEqual([], e.attempts)
        self.assertFalse(self.requests.called)

    def test_cancel_while_waiting_at_the_gate(self):
        self.ims.gate = RealGate()
        self.ims.gate.leave(self.ims.gate.enter(threading.Event()),
                            throttled=True, wait=30)
        raised = []

        def delete():
            try:
                self.ims.delete_image(IMAGE_ID)
            except client.Interrupted as e:
                raised.append(e)

        worker = threading.Thread(target=delete)
        worker.start()
        worker.join(0.3)
        self.assertTrue(worker.is_alive())
        self.ims.cancel.set()
        worker.join(2)
        self.assertFalse(worker.is_alive())
        self.assertEqual([[]], [e.attempts for e in raised])
        self.assertFalse(self.requests.called)

    def test_retry_notices_at_info(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name=client.LOG.name, level=logging.INFO,
            format='%(levelname)s %(message)s'))
        self.requests.delete(self.url, [{'status_code': 503},
                                        {'status_code': 204}])
        self.ims.delete_image(IMAGE_ID)
        self.assertIn('INFO DELETE %s: 503 Service Unavailable; '
                      'retrying in 0.5 s (retry 1 of 3)' % self.url,
                      logger.output)
        self.assertNotIn('WARNING', logger.output)


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
        self.assertEqual('name=a%2F..%2Fb%3Fc%3Dd%23e+f',
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
        self.assertRaises(client.MalformedAnswer, self.ims.find_image, 'x')

    def test_non_json_success(self):
        self.requests.get(fakes.IMAGE_URL_V2 + '/images', text='<html>')
        self.assertRaises(client.MalformedAnswer, self.ims.find_image, 'x')


class TestAllowConcurrency(testtools.TestCase):

    def pool_sizes(self, session):
        # Test-only look into urllib3: the pool a request would use.
        return {prefix: adapter.poolmanager.connection_pool_kw['maxsize']
                for prefix, adapter in session.session.adapters.items()}

    def test_pools_grow(self):
        session = ks_session.Session()
        ims = client.ImageClient.from_session(session)
        ims.allow_concurrency(32)
        self.assertEqual({'http://': 32, 'https://': 32},
                         self.pool_sizes(session))
        for http_adapter in session.session.adapters.values():
            self.assertIsInstance(http_adapter,
                                  ks_session.TCPKeepAliveAdapter)

    def test_never_below_the_default(self):
        session = ks_session.Session()
        ims = client.ImageClient.from_session(session)
        ims.allow_concurrency(4)
        self.assertEqual({'http://': 10, 'https://': 10},
                         self.pool_sizes(session))

    def test_a_callers_own_adapter_stays(self):
        session = ks_session.Session()
        own = requests.adapters.HTTPAdapter(max_retries=5)
        session.session.mount('https://', own)
        client.ImageClient.from_session(session).allow_concurrency(32)
        self.assertIs(own, session.session.adapters['https://'])


class TestImageApiUrl(testtools.TestCase):
    """Every catalog or override form keystoneauth accepts.

    Or a refusal that names the URL.
    """

    def test_forms(self):
        project = 'c5c4b9b3d3ba4d7e9e7f9a1c2b3d4e5f'
        for endpoint, expected in (
                ('https://ims.test', 'https://ims.test/v2'),
                ('https://ims.test/', 'https://ims.test/v2'),
                ('https://ims.test/v2', 'https://ims.test/v2'),
                ('https://ims.test/v2/', 'https://ims.test/v2'),
                ('https://ims.test/V2', 'https://ims.test/v2'),
                ('https://ims.test/v2.1', 'https://ims.test/v2'),
                ('https://ims.test/v1', 'https://ims.test/v2'),
                ('https://ims.test/v2/' + project, 'https://ims.test/v2'),
                ('https://ims.test/v2/images', 'https://ims.test/v2'),
                ('https://ims.test/v2/images/', 'https://ims.test/v2'),
                ('https://gw.test/image', 'https://gw.test/image/v2'),
                ('https://gw.test/image/v2/' + project,
                 'https://gw.test/image/v2'),
                ('http://127.0.0.1:9292', 'http://127.0.0.1:9292/v2'),
                ('https://ims.test/v2/%(project_id)s', 'https://ims.test/v2'),
                ('https://ims.test/%(project_id)s',
                 'https://ims.test/%s/v2' % project)):
            self.assertEqual(expected, client.image_api_url(
                endpoint, project_id=project, user_id='u1'), endpoint)

    def test_refused(self):
        for endpoint in ('ftp://ims.test/v2', 'ims.test/v2', 'https://',
                         'https://ims.test/v2?x=1', 'https://ims.test/#f',
                         'https://ims.test/%(tenant_id)s',
                         'https://ims.test/v2 x', 'https://ims.test/\x1b[2J'):
            e = self.assertRaises(client.EndpointError,
                                  client.image_api_url, endpoint, 'p', 'u')
            self.assertEqual(endpoint, e.url)

    def test_placeholder_without_a_project(self):
        e = self.assertRaises(client.EndpointError, client.image_api_url,
                              'https://ims.test/v2/%(project_id)s')
        self.assertIn('gives no project_id', e.why)


class TestEndpointOverridePlaceholder(TestBase):

    def test_project_id_is_filled_in_as_keystoneauth_does(self):
        self.requests.delete(requests_mock.ANY, status_code=204)
        ims = client.ImageClient.from_session(
            self.password_session(), region_name='region-1',
            endpoint_override='https://override.test/v2/%(project_id)s')
        ims.delete_image(IMAGE_ID)
        self.assertEqual('https://override.test/v2/images/' + IMAGE_ID,
                         self.requests.last_request.url)


class TestRetryAfter(testtools.TestCase):

    def seconds(self, value, now=1000.0):
        return answers.retry_after(
            mock.Mock(headers={'Retry-After': value}), now=lambda: now)

    def test_forms(self):
        self.assertEqual(7, self.seconds('7'))
        self.assertEqual(0, self.seconds('0'))
        self.assertEqual(int('9' * 400), self.seconds('9' * 400))
        self.assertEqual(30, self.seconds(
            'Thu, 01 Jan 1970 00:17:10 GMT'))
        self.assertEqual(0, self.seconds('Thu, 01 Jan 1970 00:00:01 GMT'))
        for ignored in ('', '-5', '1e3', '1.5', 'soon', '\u0663',
                        'Thu, 99 Foo 1970', 'Mon, 01 Jan 99999 00:00:00 GMT'):
            self.assertIsNone(self.seconds(ignored), ignored)

    def test_any_number_of_digits_ends_the_request(self):
        # A float would be infinity, and '%d' of it a crash.
        requests_fixture = self.useFixture(rm_fixture.Fixture())
        self.useFixture(fixtures.MockPatchObject(client.ImageClient, '_wait'))
        requests_fixture.delete(requests_mock.ANY, status_code=429,
                                headers={'Retry-After': '9' * 400})
        ims = client.ImageClient.from_session(fakes.token_session())
        e = self.assertRaises(client.RetryAfterTooLong, ims.delete_image,
                              IMAGE_ID)
        self.assertEqual(int('9' * 400), e.wait)


class TestRetriesInAll(TestBase):
    """--retries N: N retries per request in all.

    The cloud's settings: each kind its own count, as keystoneauth counts
    them.
    """

    def setUp(self):
        super().setUp()
        self.url = fakes.IMAGE_URL_V2 + '/images/' + IMAGE_ID
        self.requests.delete(self.url, [
            {'exc': fakes.refused_connection()}, {'status_code': 503},
            {'status_code': 503}, {'status_code': 204}])

    def tries(self, ims):
        try:
            ims.delete_image(IMAGE_ID)
        except (ks_exceptions.ServiceUnavailable,
                ks_exceptions.ConnectFailure):
            pass
        return self.requests.call_count

    def test_option_counts_both_kinds(self):
        ims = client.ImageClient.from_session(fakes.token_session())
        ims.retries = 1
        self.assertEqual(2, self.tries(ims))

    def test_option_two(self):
        ims = client.ImageClient.from_session(fakes.token_session())
        ims.retries = 2
        self.assertEqual(3, self.tries(ims))

    def test_cloud_settings_count_each_kind(self):
        ims = client.ImageClient.from_session(
            fakes.token_session(), connect_retries=1, status_code_retries=1)
        self.assertEqual(3, self.tries(ims))


class TestHostileLookups(TestBase):
    """Only an exact name or the ID counts, whatever the filter returned."""

    def setUp(self):
        super().setUp()
        self.ims = client.ImageClient.from_session(fakes.token_session())
        self.cloud = fakes.Cloud(self.requests)

    def test_name_filter_without_case(self):
        self.cloud.add(fakes.image('Prod-Golden'))
        self.assertRaises(client.ImageNotFound, self.ims.find_image,
                          'prod-golden')

    def test_in_operator(self):
        self.cloud.add(fakes.image('a'))
        self.assertRaises(client.ImageNotFound, self.ims.find_image,
                          'in:a,zzz')

    def test_a_name_glance_reads_as_a_list_is_asked_for_quoted(self):
        # Found by the model-based test: Glance answers "in:a,b" with the
        # images named a or b; only 'in:"in:a,b"' lists the image itself.
        self.cloud.add(fakes.image('a'))
        listed = self.cloud.add(fakes.image('in:a,b'))
        self.assertEqual(listed, self.ims.find_image('in:a,b'))
        self.assertEqual(
            ['name=in%3Aa%2Cb', 'name=in%3A%22in%3Aa%2Cb%22'],
            [r.url.split('?', 1)[1] for r in self.requests.request_history])

    def test_exact_match_on_a_later_page(self):
        self.cloud.add(*[fakes.image(n) for n in ('DUP', 'Dup', 'dUp',
                                                  'duP')])
        exact = self.cloud.add(fakes.image('dup'))
        self.assertEqual(exact, self.ims.find_image('dup'))
        self.assertEqual(2, self.requests.call_count)

    def test_two_exact_matches_across_pages(self):
        self.cloud.add(*[fakes.image(n) for n in ('dup', 'DUP', 'Dup',
                                                  'dUp', 'dup')])
        self.assertRaises(client.AmbiguousImage, self.ims.find_image, 'dup')

    def test_hidden_images_are_found_as_core_finds_them(self):
        hidden = self.cloud.add(fakes.image('h', os_hidden=True))
        self.assertEqual(hidden, self.ims.find_image('h'))
        self.assertEqual(
            ['name=h', 'name=h&os_hidden=true'],
            [r.url.split('?', 1)[1] for r in self.requests.request_history])

    def test_a_listed_image_wins_over_a_hidden_one(self):
        shown = self.cloud.add(fakes.image('h'))
        self.cloud.add(fakes.image('h', os_hidden=True))
        self.assertEqual(shown, self.ims.find_image('h'))

    def test_id_lookup_answered_with_another_image(self):
        other = fakes.image('other')
        self.requests.get(fakes.IMAGE_URL_V2 + '/images/' + IMAGE_ID,
                          json=other)
        e = self.assertRaises(client.MalformedAnswer, self.ims.find_image,
                              IMAGE_ID)
        self.assertIn(other['id'], str(e))

    def test_malformed_documents(self):
        for bad in ({'id': 42, 'name': 'x'}, {'name': 'x'}, ['x'],
                    {'id': 'not-a-uuid', 'name': 'x'},
                    {'id': IMAGE_ID, 'name': 7}):
            self.requests.get(fakes.IMAGE_URL_V2 + '/images',
                              json={'images': [bad]})
            self.assertRaises(client.MalformedAnswer, self.ims.find_image,
                              'x')
        for field, value in (('protected', 'yes'), ('owner', 1),
                             ('__backup_id', ['b']),
                             ('__whole_image', True)):
            doc = fakes.image('x', **{field: value})
            self.requests.get(fakes.IMAGE_URL_V2 + '/images',
                              json={'images': [doc]})
            e = self.assertRaises(client.MalformedAnswer,
                                  self.ims.find_image, 'x')
            self.assertIn(field, str(e))

    def test_next_link_stays_on_the_image_api(self):
        self.requests.get(fakes.IMAGE_URL_V2 + '/images', [
            {'json': {'images': [fakes.image('y')],
                      'next': 'https://evil.test/v3/auth/tokens?marker=m'}},
            {'json': {'images': []}}])
        self.assertRaises(client.ImageNotFound, self.ims.find_image, 'x')
        second = self.requests.request_history[1]
        # Only the link's query is used, and the name filter stays.
        self.assertEqual(fakes.IMAGE_URL_V2 + '/images?marker=m&name=x',
                         second.url)

    def test_a_repeating_next_link_ends_the_lookup(self):
        self.requests.get(fakes.IMAGE_URL_V2 + '/images', json={
            'images': [fakes.image('y')], 'next': '/v2/images?marker=m'})
        self.assertRaises(client.MalformedAnswer, self.ims.find_image, 'x')
        self.assertEqual(2, self.requests.call_count)
