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

"""An in-process image service at least as hostile as real ones.

It is a requests transport adapter, mounted on a real keystoneauth
Session, so every request goes through keystoneauth and requests as it
would to a cloud. What it does wrong is chosen by the test:

- its name filter is loose: ``exact``, ``nocase`` (MySQL's collation),
  ``in`` (Glance's ``in:a,b`` operator, without case), ``prefix`` or
  ``all`` (it ignores the filter);
- it lists in pages of ``page_size`` with a ``next`` link, and hidden
  images only for ``os_hidden=true``;
- images can be malformed (an ``id`` that is a number or missing, a
  ``name`` that is a number, an entry that is not an object, a
  ``protected`` that is a string);
- each request can meet a fault (see :data:`FAULTS`): an error status with
  any ``Retry-After``, a connection refused, dropped or timed out before or
  after the service acted, or a hang during which the run is abandoned;
- at a chosen request, the run is stopped (a first Ctrl-C).

It records every request and every image it deleted.
"""

import http
import json
import threading
import urllib.parse

import requests
from requests import adapters
from requests import structures
from urllib3 import exceptions as urllib3_exceptions

from ims_osc_plugin.tests.unit import fakes

# Fault kinds, and whether the service acted on the request first.
FAULTS = {
    'status': False,        # an error answer (429/502/503/504)
    'refused': False,       # nothing listened: never sent
    'drop_before': False,   # connection dropped before the service acted
    'drop_after': True,     # the service acted, then the answer was lost
    'timeout_before': False,
    'timeout_after': True,
    'hang': True,           # the service acts; the run is abandoned while
                            # the answer is awaited
}
PROJECT = 'mine'


def _answer(request, status, body=None, headers=None, reason=None):
    response = requests.Response()
    response.status_code = status
    response.reason = reason or http.HTTPStatus(status).phrase
    response.headers = structures.CaseInsensitiveDict(headers or {})
    if body is not None:
        response._content = json.dumps(body).encode('utf-8')
        response.headers['Content-Type'] = 'application/json'
    else:
        response._content = b''
    response.encoding = 'utf-8'
    response.url = request.url
    response.request = request
    return response


def _dropped():
    return requests.exceptions.ConnectionError(
        urllib3_exceptions.ProtocolError(
            'Connection aborted.', ConnectionResetError(104, 'reset')))


class FakeImageService(adapters.BaseAdapter):
    """The service; ``images`` maps ID to document (see module doc)."""

    def __init__(self, images, name_filter='exact', page_size=3,
                 malformed=None, faults=None, stop_at=None, admin=False,
                 ids_without_case=True):
        super().__init__()
        self.images = {i['id']: dict(i) for i in images}
        self.name_filter = name_filter
        self.page_size = page_size
        self.malformed = dict(malformed or {})
        self.faults = dict(faults or {})
        self.stop_at = stop_at
        self.admin = admin
        self.ids_without_case = ids_without_case
        self.deleted = []
        self.backups_deleted = []
        self.requests = []
        self.release = threading.Event()
        self.deletion = None    # the engine, to stop or abandon
        self._lock = threading.Lock()

    # -- the transport ----------------------------------------------------

    def send(self, request, **kwargs):
        with self._lock:
            number = len(self.requests)
            self.requests.append((request.method, request.url))
        if number == self.stop_at:
            self.deletion.stop()
        fault = self.faults.get(number)
        kind = fault[0] if fault else None
        if kind == 'status':
            status, retry_after = fault[1], fault[2]
            headers = {} if retry_after is None else {
                'Retry-After': retry_after}
            # The reason phrase and the message are the server's text.
            return _answer(request, status, {'message': 'fault\x1b[31m'},
                           headers, reason='Slow\x1b]0;title\x07')
        if kind == 'refused':
            raise fakes.refused_connection()
        if kind == 'drop_before':
            raise _dropped()
        if kind == 'timeout_before':
            raise requests.exceptions.ReadTimeout()
        with self._lock:
            response = self._serve(request)
        if kind == 'drop_after':
            raise _dropped()
        if kind == 'timeout_after':
            raise requests.exceptions.ReadTimeout()
        if kind == 'hang':
            self.deletion.abandon()
            self.release.wait(30)
            raise _dropped()
        return response

    def close(self):
        pass

    # -- the image API ----------------------------------------------------

    def _find(self, image_id):
        for known in self.images:
            if known == image_id or (self.ids_without_case and
                                     known.lower() == image_id.lower()):
                return known
        return None

    def _document(self, image_id):
        doc = dict(self.images[image_id])
        bad = self.malformed.get(image_id)
        if bad == 'int id':
            doc['id'] = 12345
        elif bad == 'no id':
            del doc['id']
        elif bad == 'int name':
            doc['name'] = 42
        elif bad == 'not an object':
            return [doc['id']]
        elif bad == 'string protected':
            doc['protected'] = 'no'
        return doc

    def _name_matches(self, wanted, name):
        name = name or ''
        if self.name_filter == 'all':
            return True
        if self.name_filter == 'prefix':
            return name.lower().startswith(wanted.lower())
        if self.name_filter == 'in':
            return fakes.glance_on_mysql(wanted, name)
        if self.name_filter == 'nocase':
            return wanted.lower() == name.lower()
        return wanted == name

    def _serve(self, request):
        parts = urllib.parse.urlsplit(request.url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = parts.path
        if not path.startswith('/v2/'):
            return _answer(request, 404, {'message': 'no such path'})
        segments = path[len('/v2/'):].split('/')
        if segments == ['images'] and request.method == 'GET':
            return self._list(request, query)
        if len(segments) != 2 or segments[0] != 'images':
            return _answer(request, 404, {'message': 'no such path'})
        image_id = self._find(urllib.parse.unquote(segments[1]))
        if image_id is None:
            return _answer(request, 404, {'message': 'No image found'})
        if request.method == 'GET':
            return _answer(request, 200, self._document(image_id))
        return self._delete(request, image_id)

    def _list(self, request, query):
        hidden = query.get('os_hidden') == 'true'
        found = [i for i in self.images.values()
                 if bool(i.get('os_hidden')) == hidden and (
                     'name' not in query or
                     self._name_matches(query['name'], i.get('name')))]
        start = 0
        if 'marker' in query:
            ids = [i['id'] for i in found]
            if query['marker'] not in ids:
                return _answer(request, 400, {'message': 'bad marker'})
            start = ids.index(query['marker']) + 1
        page = found[start:start + self.page_size]
        body = {'images': [self._document(i['id']) for i in page]}
        if start + self.page_size < len(found):
            body['next'] = '/v2/images?' + urllib.parse.urlencode(
                dict(query, marker=page[-1]['id']))
        return _answer(request, 200, body)

    def _delete(self, request, image_id):
        image = self.images[image_id]
        if image.get('protected'):
            return _answer(request, 403, {'message': 'protected'})
        if image.get('owner', PROJECT) != PROJECT and not self.admin:
            return _answer(request, 403, {'message': 'not yours'})
        body = json.loads(request.body) if request.body else {}
        del self.images[image_id]
        self.deleted.append(image_id)
        if body.get('delete_backup') is True and (
                image.get('__whole_image') == 'true' and
                image.get('__backup_id')):
            self.backups_deleted.append(image['__backup_id'])
        return _answer(request, 204)
