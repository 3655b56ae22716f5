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

"""A requests-mock'd cloud: Keystone v3 token, catalog and an image API."""

import http.client
import io
import json
import re
import types
import urllib.parse
import uuid

from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import requests
import requests_mock
from urllib3 import exceptions as urllib3_exceptions

from ims_osc_plugin import throttle

AUTH_URL = 'https://iam.example.test/v3'
IMAGE_URL = 'https://ims.region-1.example.test'
IMAGE_URL_V2 = IMAGE_URL + '/v2'
INTERNAL_IMAGE_URL = 'https://ims-internal.region-1.example.test/v2'
OTHER_REGION_IMAGE_URL = 'https://ims.region-2.example.test'
TOKEN = 'gAAAAAsecret-token-%s' % uuid.uuid4().hex


# A Cloud fault: the DELETE is done, then the connection drops unanswered.
LOST = object()


# Glance's split_filter_value_for_quotes: "quoted" or plain values.
_IN_VALUES = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,')


def glance_on_mysql(wanted, name):
    """Glance's name filter, names compared without case as MySQL does.

    ``in:`` lists names, each plain or "quoted" (Glance's
    ``split_filter_value_for_quotes``).
    """
    name = (name or '').lower()
    if wanted.startswith('in:'):
        values = [q or p for q, p in _IN_VALUES.findall(wanted[3:])]
        return any(v.lower() == name for v in values)
    return wanted.lower() == name


def dropped_connection():
    """What requests raises when the server closes without answering."""
    return requests.exceptions.ConnectionError(
        urllib3_exceptions.ProtocolError(
            'Connection aborted.', http.client.RemoteDisconnected(
                'Remote end closed connection without response')))


def refused_connection():
    """What requests raises when nothing listens: nothing was sent."""
    return requests.exceptions.ConnectionError(
        urllib3_exceptions.MaxRetryError(
            None, '/', reason=urllib3_exceptions.NewConnectionError(
                None, 'Connection refused')))


class InstantGate(throttle.Gate):
    """The real throttle gate on a fake clock.

    A closed gate's wait passes at once and is recorded in ``waits``.
    Waiting for a probe's answer or for room in flight stays a real wait,
    which the answer ends at once.
    """

    def __init__(self, waits=None):
        self.now = 0.0
        self.waits = [] if waits is None else waits
        super().__init__(clock=lambda: self.now)

    def _pause(self, seconds):
        if self._opens_at is not None and self.now < self._opens_at:
            self.waits.append(self._opens_at - self.now)
            self.now = self._opens_at
        else:
            self._lock.wait(0.01)


class FakeApp:
    """What a cliff command uses of OSC's app: streams, client manager."""

    def __init__(self, ims=None, image_api_version='2'):
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.client_manager = types.SimpleNamespace(
            ims=ims, _api_version={'image': image_api_version})


def image(name='image', whole=False, backup=None, **extra):
    body = {'id': str(uuid.uuid4()), 'name': name, 'status': 'active',
            'visibility': 'private', 'protected': False}
    if whole:
        body['__whole_image'] = 'true'
        body['__backup_id'] = backup or str(uuid.uuid4())
    body.update(extra)
    return body


def token_fixture():
    token = ks_fixture.V3Token()
    service = token.add_service('image', name='ims')
    service.add_endpoint('public', IMAGE_URL, region='region-1')
    service.add_endpoint('internal', INTERNAL_IMAGE_URL, region='region-1')
    service.add_endpoint('public', OTHER_REGION_IMAGE_URL,
                         region='region-2')
    token.set_project_scope()
    return token


def register_identity(mocker):
    mocker.get(AUTH_URL, json=ks_fixture.V3Discovery(AUTH_URL))
    mocker.post(AUTH_URL + '/auth/tokens', json=token_fixture(),
                headers={'X-Subject-Token': TOKEN})


def register_image_discovery(mocker, base=IMAGE_URL):
    versions = {'versions': [{
        'id': 'v2.9', 'status': 'CURRENT',
        'links': [{'rel': 'self', 'href': base + '/v2/'}],
    }]}
    mocker.get(base, json=versions, status_code=300)
    mocker.get(base + '/', json=versions, status_code=300)


def token_session(endpoint=IMAGE_URL_V2):
    """A real keystoneauth Session whose auth plugin serves ``endpoint``."""
    return ks_session.Session(auth=token_endpoint.Token(endpoint, TOKEN))


class Cloud:
    """Images behind requests-mock, keyed by ID, answering like IMS.

    As hostile as a real deployment: the name filter is Glance's on MySQL
    (``in:a,b`` means "a or b", names compared without case; see
    :func:`glance_on_mysql`), listings come
    in pages of :attr:`page_size` with a ``next`` link, and hidden images
    are listed only with ``os_hidden=true``.
    """

    page_size = 3

    def __init__(self, mocker, base=IMAGE_URL_V2):
        self.mocker = mocker
        self.base = base
        self.images = {}
        self.deleted = []
        self.faults = {}
        mocker.register_uri(
            'GET', base + '/images', json=self._list)
        for method in ('GET', 'DELETE'):
            mocker.register_uri(
                method, requests_mock.ANY, additional_matcher=self._is_image,
                text=self._image)

    def add(self, *images):
        for i in images:
            self.images[i['id']] = i
        return images[0] if len(images) == 1 else images

    def _is_image(self, request):
        return request.url.startswith(self.base + '/images/')

    def _list(self, request, context):
        # request.qs is lower-cased by requests-mock: parse the URL.
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        names = query.get('name', [])
        hidden = query.get('os_hidden', ['false'])[0] == 'true'
        found = [i for i in self.images.values()
                 if bool(i.get('os_hidden')) == hidden and (
                     not names or glance_on_mysql(names[0], i['name']))]
        start = 0
        if 'marker' in query:
            start = [i['id'] for i in found].index(query['marker'][0]) + 1
        page = found[start:start + self.page_size]
        body = {'images': page}
        if start + self.page_size < len(found):
            body['next'] = '/v2/images?' + urllib.parse.urlencode(
                dict({k: v[0] for k, v in query.items()},
                     marker=page[-1]['id']))
        return body

    def _image(self, request, context):
        image_id = request.path.rsplit('/', 1)[-1]
        # faults[id] hits any request on the image, faults['DELETE', id]
        # only its DELETEs: a list of (status, body), one per request.
        for key in ((request.method, image_id), image_id):
            fault = self.faults.get(key)
            if fault:
                fault = fault.pop(0)
                if fault is LOST:
                    # The service deletes it; the answer never arrives.
                    self.deleted.append(image_id)
                    del self.images[image_id]
                    raise dropped_connection()
                if isinstance(fault, Exception):
                    raise fault
                context.status_code, text = fault[:2]
                if len(fault) > 2:
                    context.headers.update(fault[2])
                return text
        if image_id not in self.images:
            context.status_code = 404
            context.headers['Content-Type'] = 'application/json'
            return '{"message": "No image found", "code": "404 Not Found"}'
        if request.method == 'GET':
            context.headers['Content-Type'] = 'application/json'
            return json.dumps(self.images[image_id])
        context.status_code = 204
        self.deleted.append(image_id)
        del self.images[image_id]
        return ''
