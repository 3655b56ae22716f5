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
- each request, by its number or as the n-th of its method, can meet a
  fault (see :data:`FAULTS`): an error status with
  any ``Retry-After``, before or after the service acted (a gateway timing
  out on a backend that deleted); a connection refused, dropped, timed out
  or failing TLS before or after the service acted, or while the body is
  read; a redirect, 401, 409, 410, a 2xx other than 204 (a proxy's login
  page, a 202 for a delete it does); error bodies that are hostile (JSON
  nested 60,000 and 200,000 deep, 2 MB, a run of ``<``, invalid UTF-8); a task
  crash; or a hang during which the run is abandoned;
- its listing's ``next`` link can repeat, point to another host or path,
  or drop the name filter (``pagination``);
- at a chosen request, the run is stopped (a first Ctrl-C).

Every answer is streamed, and how much of each body the client read is
recorded. It records every request and every image it deleted.
"""

import http
import io
import json
import ssl
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
    'acted_status': True,   # the service acted; a gateway answers 502/504
    'answer': None,         # see ANSWERS
    'body': None,           # an error answer with a hostile body (BODIES),
                            # from a gateway after the backend acted or not
    'tls_before': False,    # the server's certificate is refused
    'tls_after': True,      # the service acted; TLS fails reading the answer
    'body_drop': True,      # the service acted; the body's read fails
    'crash': False,         # something no task expects (see Crash)
    'stop': False,          # a first Ctrl-C as it is sent; then answered
    'refused': False,       # nothing listened: never sent
    'drop_before': False,   # connection dropped before the service acted
    'drop_after': True,     # the service acted, then the answer was lost
    'timeout_before': False,
    'timeout_after': True,
    'hang': True,           # the service acts; the run is abandoned while
                            # the answer is awaited
}
PROJECT = 'mine'

# Answers other than errors and 204s: (status, whether a DELETE acts
# first, body, content type, extra headers).
ANSWERS = {
    '302': (302, False, b'', None,
            {'Location': 'https://login.example.test/\x1b[2J'}),
    '401': (401, False, b'{"error": {"message": "token expired"}}',
            'application/json', {}),
    '409': (409, False, '{"error": {"code": "IMG.0028", "message": '
            '"in use\u202e\u200b"}}'.encode('utf-8'), 'application/json',
            {'X-Trace': 'id\x1b[2J'}),
    '410': (410, False, b'gone', 'text/plain', {}),
    '200-login': (200, False, b'<html><form>Log in</form></html>',
                  'text/html', {}),
    '202-accepted': (202, True, b'', None, {}),
}
# Error bodies a broken proxy can send: (content type, body).
BODIES = {
    'nested-json': ('application/json', b'[' * 60000),
    'nested-text': ('text/plain', b'[' * 60000),
    'nested-huge': ('text/plain', b'[' * 200000),
    'huge': ('text/html', b'<p>' + b'x' * (2 * 1024 * 1024)),
    'angles': ('text/html', b'<' * 200000),
    'invalid-utf8': ('application/json', b'{"message": "\xff\xfe\xc3"}'),
    'invalid-utf8-text': ('text/plain; charset=utf-8', b'\xff\x80 \xed\xa0'),
}
# How a listing's next link can be wrong.
PAGINATION = (None, 'repeat', 'other-host', 'other-path', 'drop-filter')


class Crash(BaseException):
    """What no task expects: stands for any bug below the engine."""


class CountingBody(io.BytesIO):
    """A response body that counts what was read of it."""

    def __init__(self, data, fail=False):
        super().__init__(data)
        self.size = len(data)
        self.read_bytes = 0
        self.fail = fail

    def stream(self, amount, decode_content=True):
        # As urllib3's HTTPResponse.stream, which requests reads.
        while True:
            data = self.read(amount)
            if not data:
                return
            yield data

    def read(self, size=-1, **kwargs):
        if self.fail:
            raise urllib3_exceptions.ProtocolError(
                'Connection broken', ConnectionResetError(104, 'reset'))
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def _answer(request, status, body=None, headers=None, reason=None,
            raw=None, content_type=None, fail=False):
    response = requests.Response()
    response.status_code = status
    response.reason = reason or http.HTTPStatus(status).phrase
    response.headers = structures.CaseInsensitiveDict(headers or {})
    if raw is None:
        if body is not None:
            # Names as they are, bidi and zero-width characters included.
            raw = json.dumps(body, ensure_ascii=False).encode('utf-8')
            content_type = 'application/json'
        else:
            raw = b''
    if content_type:
        response.headers['Content-Type'] = content_type
    # Streamed, as keystoneauth asks with stream=True: the client reads it.
    response.raw = CountingBody(raw, fail)
    response.encoding = 'utf-8'
    response.url = request.url
    response.request = request
    return response


def _tls_error(verify):
    """What requests raises for a TLS failure.

    In the handshake (a refused certificate, before anything is sent), or
    while the answer is read.
    """
    cause = ssl.SSLCertVerificationError(
        1, 'certificate verify failed') if verify else ssl.SSLError(
        1, 'decryption failed or bad record mac')
    return requests.exceptions.SSLError(
        urllib3_exceptions.MaxRetryError(
            None, '/', reason=urllib3_exceptions.SSLError(cause)))


def _dropped():
    return requests.exceptions.ConnectionError(
        urllib3_exceptions.ProtocolError(
            'Connection aborted.', ConnectionResetError(104, 'reset')))


class FakeImageService(adapters.BaseAdapter):
    """The service; ``images`` maps ID to document (see module doc)."""

    def __init__(self, images, name_filter='exact', page_size=3,
                 malformed=None, faults=None, stop_at=None, admin=False,
                 ids_without_case=True, pagination=None):
        super().__init__()
        self.images = {i['id']: dict(i) for i in images}
        self.name_filter = name_filter
        self.page_size = page_size
        self.malformed = dict(malformed or {})
        self.faults = dict(faults or {})
        self.stop_at = stop_at
        self.admin = admin
        self.ids_without_case = ids_without_case
        self.pagination = pagination
        # The body of each answer: how much the client read of it.
        self.bodies = []
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
            ordinal = sum(1 for method, _url in self.requests
                          if method == request.method)
            self.requests.append((request.method, request.url))
        if number == self.stop_at:
            self.deletion.stop()
        # A fault for this request by its number, or by its method's count
        # (('DELETE', 1): the second DELETE, whichever request that is).
        fault = self.faults.get(number) or self.faults.get(
            (request.method, ordinal))
        response = self._fault(request, fault)
        if isinstance(response, requests.Response):
            with self._lock:
                self.bodies.append((response.status_code, response.raw))
        return response

    def _fault(self, request, fault):
        kind = fault[0] if fault else None
        if kind in ('status', 'acted_status'):
            status, retry_after = fault[1], fault[2]
            headers = {} if retry_after is None else {
                'Retry-After': retry_after}
            if kind == 'acted_status':
                with self._lock:
                    self._serve(request)
            # The reason phrase, headers and message are the server's text.
            headers['X-Openstack-Request-Id'] = 'req-\x1b[2J\u202e'
            return _answer(request, status, {'message': 'fault\x1b[31m'},
                           headers, reason='Slow\x1b]0;title\x07')
        if kind == 'answer':
            status, acts, raw, content_type, headers = ANSWERS[fault[1]]
            if acts and request.method == 'DELETE':
                with self._lock:
                    self._serve(request)
            return _answer(request, status, raw=raw, headers=headers,
                           content_type=content_type)
        if kind == 'body':
            content_type, raw = BODIES[fault[1]]
            if fault[3]:
                # A gateway's error page after the backend acted.
                with self._lock:
                    self._serve(request)
            return _answer(request, fault[2], raw=raw,
                           content_type=content_type)
        if kind == 'tls_before':
            raise _tls_error(verify=True)
        if kind == 'crash':
            raise Crash()
        if kind == 'stop':
            self.deletion.stop()
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
        if kind == 'tls_after':
            raise _tls_error(verify=False)
        if kind == 'body_drop':
            response.raw.fail = True
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
            following = dict(query, marker=page[-1]['id'])
            prefix = '/v2/images?'
            if self.pagination == 'repeat':
                following = query
            elif self.pagination == 'other-host':
                prefix = 'https://elsewhere.example.test/v2/images?'
            elif self.pagination == 'other-path':
                prefix = '/v2/stores/s1/images?'
            elif self.pagination == 'drop-filter':
                following.pop('name', None)
            body['next'] = prefix + urllib.parse.urlencode(following)
        elif self.pagination == 'repeat' and 'marker' in query:
            # The last page points back to the first.
            body['next'] = '/v2/images?' + urllib.parse.urlencode(
                {k: v for k, v in query.items() if k != 'marker'})
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
