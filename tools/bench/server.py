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

"""A small IMS-like cloud on 127.0.0.1 for the benchmark (stdlib only).

One threaded HTTP server plays two services:

* Identity (Keystone v3) under ``/identity``: version discovery and
  ``POST /identity/v3/auth/tokens``, whose catalog has an ``image`` endpoint
  pointing at this server's root, unversioned, as real IMS endpoints are.
* Image (IMS/Glance v2) at the root: ``GET /`` version discovery (a Glance
  300 Multiple Choices), ``GET /v2/images/{id}``,
  ``GET /v2/images?name=...`` and ``DELETE /v2/images/{id}`` with or
  without IMS's ``{"delete_backup": ...}`` body (204, then 404).

Every request but the control ones sleeps ``delay`` seconds in its own
thread (one thread per connection, so other connections are not blocked),
which stands for the round trip of a WAN link. A share ``fail_rate`` of the
image API requests gets a transient ``503`` (or ``fail_status``, such as
429), with ``Retry-After`` unless ``retry_after`` is ``None``. Requests
are counted by kind, and connections by how many were opened.

With ``throttle=(limit, window)`` it also plays an API gateway in front of
the image service: ``limit`` image service requests per fixed ``window``
seconds (the first window starts with the first of them), the others
answered ``429`` with the gateway's ``APIGW.0308`` body (and
``Retry-After``, the seconds left in the window rounded up, when
``throttle_retry_after`` is set). A throttled request does not reach the
images; it is counted as ``<kind>:throttled``.

Control API (not delayed, not counted): ``GET /_bench/stats`` and
``POST /_bench/reset`` with ``{"images": N, "seed": S, "fail_rate": F,
"throttle": [LIMIT, WINDOW] or null, "throttle_retry_after": B}`` (any key
optional), which answers with the new images.

Run alone::

    python tools/bench/server.py --images 20 --delay 40
"""

import argparse
import collections
import http
import http.server
import json
import math
import random
import socket
import threading
import time
import urllib.parse
import uuid

# The kinds a request is counted as. The first three are the set-up every
# ``openstack`` run spends before it touches an image.
SETUP_KINDS = ('identity-discovery', 'token', 'image-discovery')
IMAGE_KINDS = ('image-get', 'image-list', 'image-delete')

TOKEN = 'bench-token-0123456789abcdef'
PROJECT_ID = '5f0c1f2b8a4e4f6c9d3e2b1a0c9d8e7f'
USER_ID = '9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d'
REGION = 'RegionOne'
FULL_ECS_EVERY = 5


def make_images(count, seed=0):
    """``count`` image documents with stable names and IDs for ``seed``.

    Every fifth one is a full-ECS image with ``__whole_image`` and
    ``__backup_id``, as IMS reports them.
    """
    rng = random.Random(seed)
    images = []
    for i in range(count):
        image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        image = {
            'id': image_id,
            'name': 'bench-image-%05d' % i,
            'status': 'active',
            'visibility': 'private',
            'protected': False,
            'container_format': 'bare',
            'disk_format': 'zvhd2',
            'min_disk': 40,
            'min_ram': 0,
            'size': 0,
            'tags': [],
            'owner': PROJECT_ID,
            'created_at': '2026-01-01T00:00:00Z',
            'updated_at': '2026-01-01T00:00:00Z',
            'self': '/v2/images/' + image_id,
            'file': '/v2/images/%s/file' % image_id,
            'schema': '/v2/schemas/image',
            '__imagetype': 'private',
            '__os_type': 'Linux',
        }
        if i % FULL_ECS_EVERY == FULL_ECS_EVERY - 1:
            image['__whole_image'] = 'true'
            image['__backup_id'] = str(
                uuid.UUID(int=rng.getrandbits(128), version=4))
        images.append(image)
    return images


class State:
    """The images and counters, shared by the handler threads."""

    def __init__(self, delay=0.0, fail_rate=0.0, retry_after=0,
                 connect_delay=0.0, fail_status=503, throttle=None,
                 throttle_retry_after=False):
        self.lock = threading.Lock()
        self.throttle = throttle
        self.throttle_retry_after = throttle_retry_after
        self.window_start = None
        self.window_used = 0
        self.delay = delay
        self.connect_delay = connect_delay
        self.retry_after = retry_after
        self.fail_rate = fail_rate
        self.fail_status = fail_status
        self.rng = random.Random(0)
        self.images = {}
        self.counts = collections.Counter()
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def reset(self, images=0, seed=0, fail_rate=None, throttle=False,
              throttle_retry_after=None):
        """New images; ``throttle``: ``[limit, window]``, None or False.

        False leaves the throttle as it is.
        """
        made = make_images(images, seed)
        with self.lock:
            if throttle is not False:
                self.throttle = tuple(throttle) if throttle else None
            if throttle_retry_after is not None:
                self.throttle_retry_after = throttle_retry_after
            self.window_start = None
            self.window_used = 0
            self.images = {i['id']: i for i in made}
            self.counts = collections.Counter()
            self.connections = 0
            self.max_in_flight = 0
            self.rng = random.Random(seed)
            if fail_rate is not None:
                self.fail_rate = fail_rate
        return made

    def stats(self):
        with self.lock:
            return {
                'counts': dict(self.counts),
                'connections': self.connections,
                'max_in_flight': self.max_in_flight,
                'images_left': len(self.images),
                'delay': self.delay,
                'fail_rate': self.fail_rate,
                'throttled': sum(v for k, v in self.counts.items()
                                 if k.endswith(':throttled')),
            }

    def over_limit(self, kind):
        """Seconds left in a full gateway window, or None to let through.

        Called with the lock held, for image service requests only.
        """
        limit, window = self.throttle
        now = time.monotonic()
        if self.window_start is None or now >= self.window_start + window:
            # Fixed windows, one after the other from the first request.
            if self.window_start is None:
                self.window_start = now
            else:
                self.window_start += window * (
                    (now - self.window_start) // window)
            self.window_used = 0
        if self.window_used < limit:
            self.window_used += 1
            return None
        return self.window_start + window - now


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'ims-bench/1.0'

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's
        # algorithm holds the body for the client's delayed ACK (40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = self.server.state
        with state.lock:
            state.connections += 1
        if state.connect_delay:
            # A new connection costs its handshakes on a real WAN link.
            time.sleep(state.connect_delay)

    def log_message(self, format, *args):
        pass

    # Plumbing

    @property
    def base(self):
        host, port = self.server.server_address[:2]
        return 'http://%s:%s' % (host, port)

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def _send(self, status, body=None, headers=None):
        data = b''
        if body is not None:
            data = json.dumps(body).encode('utf-8')
        self.send_response(status)
        if body is not None:
            self.send_header('Content-Type', 'application/json')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if data and self.command != 'HEAD':
            self.wfile.write(data)

    def _error(self, status, title, message):
        self._send(status, {'code': status, 'title': title,
                            'message': message})

    def do_GET(self):
        self._handle('GET')

    def do_POST(self):
        self._handle('POST')

    def do_DELETE(self):
        self._handle('DELETE')

    def do_HEAD(self):
        self._handle('HEAD')

    def _handle(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip('/') or '/'
        query = urllib.parse.parse_qs(url.query)
        body = self._body()
        if path.startswith('/_bench/'):
            return self._control(method, path, body)
        kind, route = self._route(method, path)
        state = self.server.state
        fail = False
        throttled = None
        with state.lock:
            state.counts[kind] += 1
            if state.throttle and not kind.startswith(('identity', 'token')):
                throttled = state.over_limit(kind)
                if throttled is not None:
                    state.counts[kind + ':throttled'] += 1
            if kind == 'image-delete' and body:
                state.counts['image-delete-with-body'] += 1
            if kind in IMAGE_KINDS and state.fail_rate:
                fail = state.rng.random() < state.fail_rate
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.delay:
                time.sleep(state.delay)
            if throttled is not None:
                headers = {}
                if state.throttle_retry_after:
                    headers['Retry-After'] = str(max(1, math.ceil(throttled)))
                # As Huawei Cloud's API gateway answers.
                self._send(429, {
                    'error_code': 'APIGW.0308',
                    'error_msg': 'The throttling threshold has been '
                                 'reached: policy user over ratelimit, '
                                 'limit:%d, time:%d second' % state.throttle,
                    'request_id': uuid.uuid4().hex}, headers)
                return
            if fail:
                with state.lock:
                    state.counts[kind + ':refused'] += 1
                status = state.fail_status
                headers = {}
                if state.retry_after is not None:
                    headers['Retry-After'] = str(state.retry_after)
                self._send(
                    status,
                    {'code': status,
                     'title': http.HTTPStatus(status).phrase,
                     'message': 'The server is busy; try again later.'},
                    headers)
                return
            route(path, query, body)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _route(self, method, path):
        parts = path.strip('/').split('/') if path != '/' else []
        if parts[:1] == ['identity']:
            if method in ('GET', 'HEAD') and parts[1:] in ([], ['v3']):
                return 'identity-discovery', self._identity_discovery
            if method == 'POST' and parts[1:] == ['v3', 'auth', 'tokens']:
                return 'token', self._token
        elif method in ('GET', 'HEAD') and parts in ([], ['v2']):
            return 'image-discovery', self._image_discovery
        elif parts[:2] == ['v2', 'images']:
            if method == 'GET' and len(parts) == 2:
                return 'image-list', self._list_images
            if method == 'GET' and len(parts) == 3:
                return 'image-get', self._get_image
            if method == 'DELETE' and len(parts) == 3:
                return 'image-delete', self._delete_image
        return 'other', self._not_found

    # Identity

    def _identity_v3(self):
        return {
            'id': 'v3.14',
            'status': 'stable',
            'updated': '2020-04-07T00:00:00Z',
            'links': [{'rel': 'self', 'href': self.base + '/identity/v3/'}],
            'media-types': [{
                'base': 'application/json',
                'type': 'application/vnd.openstack.identity-v3+json',
            }],
        }

    def _identity_discovery(self, path, query, body):
        if path.endswith('/v3'):
            self._send(200, {'version': self._identity_v3()})
        else:
            self._send(300, {'versions': {'values': [self._identity_v3()]}})

    def _token(self, path, query, body):
        now = time.time()
        domain = {'id': 'default', 'name': 'Default'}
        token = {
            'methods': ['password'],
            'expires_at': time.strftime(
                '%Y-%m-%dT%H:%M:%S.000000Z', time.gmtime(now + 86400)),
            'issued_at': time.strftime(
                '%Y-%m-%dT%H:%M:%S.000000Z', time.gmtime(now)),
            'audit_ids': ['bench'],
            'user': {'id': USER_ID, 'name': 'bench', 'domain': domain,
                     'password_expires_at': None},
            'project': {'id': PROJECT_ID, 'name': 'bench',
                        'domain': domain},
            'roles': [{'id': 'r1', 'name': 'member'}],
            'is_domain': False,
            'catalog': [
                {'type': 'identity', 'name': 'keystone', 'id': 'svc-id',
                 'endpoints': [{
                     'id': 'ep-id', 'interface': 'public',
                     'region': REGION, 'region_id': REGION,
                     'url': self.base + '/identity/v3'}]},
                {'type': 'image', 'name': 'ims', 'id': 'svc-ims',
                 'endpoints': [{
                     'id': 'ep-ims', 'interface': 'public',
                     'region': REGION, 'region_id': REGION,
                     # Unversioned, as IMS's catalog entries are.
                     'url': self.base}]},
            ],
        }
        self._send(201, {'token': token}, {'X-Subject-Token': TOKEN})

    # Image

    def _image_discovery(self, path, query, body):
        versions = []
        for version, status in (('v2.9', 'CURRENT'), ('v2.0', 'SUPPORTED'),
                                ('v1.0', 'DEPRECATED')):
            major = version.split('.')[0]
            versions.append({
                'id': version, 'status': status,
                'links': [{'rel': 'self',
                           'href': '%s/%s/' % (self.base, major)}],
            })
        self._send(300, {'versions': versions})

    def _get_image(self, path, query, body):
        image_id = urllib.parse.unquote(path.rsplit('/', 1)[1])
        with self.server.state.lock:
            image = self.server.state.images.get(image_id)
        if image is None:
            return self._error(404, 'Not Found',
                               'No image found with ID %s' % image_id)
        self._send(200, image)

    def _list_images(self, path, query, body):
        name = query.get('name', [None])[0]
        try:
            limit = int(query.get('limit', ['25'])[0])
        except ValueError:
            return self._error(400, 'Bad Request', 'Invalid limit')
        with self.server.state.lock:
            images = [i for i in self.server.state.images.values()
                      if name is None or i['name'] == name]
        images = images[:limit]
        first = '/v2/images'
        if name is not None:
            first += '?' + urllib.parse.urlencode({'name': name})
        self._send(200, {'images': images, 'first': first,
                         'schema': '/v2/schemas/images'})

    def _delete_image(self, path, query, body):
        image_id = urllib.parse.unquote(path.rsplit('/', 1)[1])
        if body:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if not isinstance(doc, dict) or not isinstance(
                    doc.get('delete_backup'), bool):
                return self._error(400, 'Bad Request',
                                   'Invalid delete_backup body')
        with self.server.state.lock:
            image = self.server.state.images.pop(image_id, None)
        if image is None:
            return self._error(404, 'Not Found',
                               'No image found with ID %s' % image_id)
        self._send(204)

    def _not_found(self, path, query, body):
        self._error(404, 'Not Found', 'No route for %s %s' % (
            self.command, path))

    # Control

    def _control(self, method, path, body):
        state = self.server.state
        if method == 'GET' and path == '/_bench/stats':
            return self._send(200, state.stats())
        if method == 'POST' and path == '/_bench/reset':
            doc = json.loads(body or b'{}')
            made = state.reset(images=int(doc.get('images', 0)),
                               seed=int(doc.get('seed', 0)),
                               fail_rate=doc.get('fail_rate'),
                               throttle=doc.get('throttle', False),
                               throttle_retry_after=doc.get(
                                   'throttle_retry_after'))
            return self._send(200, {'images': [
                {'id': i['id'], 'name': i['name']} for i in made]})
        self._error(404, 'Not Found', 'No control route %s' % path)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections that many
    # workers open at once, which costs them a 1 s SYN retransmission.
    request_queue_size = 128

    def __init__(self, state, port=0):
        self.state = state
        super().__init__(('127.0.0.1', port), Handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return 'http://%s:%s' % (host, port)


def start(delay=0.0, images=0, fail_rate=0.0, retry_after=0,
          connect_delay=0.0, fail_status=503, port=0, throttle=None,
          throttle_retry_after=False):
    """Start a server in a daemon thread; stop it with ``shutdown()``."""
    state = State(delay=delay, fail_rate=fail_rate, retry_after=retry_after,
                  connect_delay=connect_delay, fail_status=fail_status,
                  throttle=throttle,
                  throttle_retry_after=throttle_retry_after)
    state.reset(images=images)
    server = Server(state, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--images', type=int, default=20)
    parser.add_argument('--delay', type=float, default=40.0,
                        help='Milliseconds each request waits.')
    parser.add_argument('--connect-delay', type=float, default=0.0,
                        help='Milliseconds each new connection waits.')
    parser.add_argument('--fail-rate', type=float, default=0.0,
                        help='Share of image requests refused.')
    parser.add_argument('--fail-status', type=int, default=503)
    parser.add_argument('--retry-after', type=int, default=0,
                        help='Retry-After seconds (-1: no header).')
    parser.add_argument('--throttle', metavar='LIMIT/WINDOW',
                        help='Act as an API gateway letting LIMIT image '
                             'requests through per WINDOW seconds, e.g. '
                             '20/30.')
    parser.add_argument('--throttle-retry-after', action='store_true',
                        help='The gateway\'s 429 says Retry-After.')
    args = parser.parse_args(argv)
    throttle = None
    if args.throttle:
        limit, window = args.throttle.split('/')
        throttle = (int(limit), float(window))
    server = start(throttle=throttle,
                   throttle_retry_after=args.throttle_retry_after,
                   delay=args.delay / 1000.0, images=args.images,
                   fail_rate=args.fail_rate, fail_status=args.fail_status,
                   retry_after=(None if args.retry_after < 0
                                else args.retry_after),
                   connect_delay=args.connect_delay / 1000.0,
                   port=args.port)
    print('auth URL %s/identity/v3 (any user and password)' % server.url,
          flush=True)
    for image in sorted(server.state.images.values(),
                        key=lambda i: i['name']):
        print('%s %s' % (image['id'], image['name']), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == '__main__':
    main()
