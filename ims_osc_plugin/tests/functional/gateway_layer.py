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

"""TEST CODE: an API gateway's rate limit in front of Glance.

A WSGI layer, for the functional tests only, that acts as Huawei Cloud's
API gateway does past a user's limit: it lets ``limit`` requests through
per fixed ``window`` seconds (the first window starts with the first
request) and answers the others ``429`` with the gateway's ``APIGW.0308``
body, with a ``Retry-After`` (the seconds left in the window, rounded up)
when asked to. Only the requests on the images the test chose count and
can be throttled (``/v2/images/<id>``), so other tests and the harness's
own requests are never held up.

It sits between :mod:`ims_layer` and Glance, so the IMS layer's record
shows each throttled request with its 429. Configured through the IMS
layer's flags (:func:`configure`); off when the ``gateway`` flag is unset.

Standard library only: it runs in the servers' venv.
"""

import json
import math
import os
import threading
import time
import uuid

FLAG = 'gateway'


def configure(state, image_ids, limit, window, retry_after=False):
    """Throttle the requests on ``image_ids`` (``state``: ims_layer.State).

    A new configuration starts a new first window.
    """
    state.set_flag(FLAG, json.dumps({
        'images': sorted(image_ids), 'limit': limit, 'window': window,
        'retry_after': retry_after, 'serial': uuid.uuid4().hex}))


def unconfigure(state):
    state.set_flag(FLAG, None)


class GatewayLayer:
    """``state``: the IMS layer's State (default: ``IMS_LAYER_STATE``'s)."""

    def __init__(self, app, state=None):
        if state is None:
            import ims_layer

            state = ims_layer.State(os.environ['IMS_LAYER_STATE'])
        self.app = app
        self.state = state
        self._lock = threading.Lock()
        self._serial = None
        self._window_start = None
        self._used = 0

    def __call__(self, environ, start_response):
        raw = self.state.flag(FLAG)
        if raw:
            config = json.loads(raw)
            parts = environ.get('PATH_INFO', '').strip('/').split('/')
            if (len(parts) == 3 and parts[:2] == ['v2', 'images'] and
                    parts[2] in config['images']):
                left = self._over_limit(config)
                if left is not None:
                    return self._throttle(config, left, start_response)
        return self.app(environ, start_response)

    def _over_limit(self, config):
        """Seconds left in a full window, or None to let the request by."""
        with self._lock:
            now = time.monotonic()
            window = float(config['window'])
            if self._serial != config['serial']:
                self._serial, self._window_start = config['serial'], now
                self._used = 0
            elif now >= self._window_start + window:
                self._window_start += window * (
                    (now - self._window_start) // window)
                self._used = 0
            if self._used < config['limit']:
                self._used += 1
                return None
            return self._window_start + window - now

    @staticmethod
    def _throttle(config, left, start_response):
        body = json.dumps({
            'error_code': 'APIGW.0308',
            'error_msg': 'The throttling threshold has been reached: '
                         'policy user over ratelimit, limit:%d, time:%g '
                         'second' % (config['limit'], config['window']),
            'request_id': uuid.uuid4().hex}).encode()
        headers = [('Content-Type', 'application/json'),
                   ('Content-Length', str(len(body)))]
        if config['retry_after']:
            headers.append(('Retry-After', str(max(1, math.ceil(left)))))
        start_response('429 Too Many Requests', headers)
        return [body]
