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

"""A small client for the IMS native image API (``/v2/images``).

It owns the HTTP calls the plugin makes and nothing else. It runs on any
keystoneauth :class:`~keystoneauth1.adapter.Adapter`, openstacksdk's image
proxy included, so OSC's session, TLS settings, timeouts, endpoint choice
and redacted ``--debug`` logging all apply::

    from keystoneauth1 import loading, session
    from ims_osc_plugin import client

    auth = loading.load_auth_from_argparse_arguments(...)  # or any plugin
    ims = client.ImageClient.from_session(
        session.Session(auth=auth), region_name='eu-de')
    ims.delete_image(ims.find_image('my-image')['id'], delete_backup=True)

or, with an openstacksdk connection, ``ImageClient.from_connection(conn)``.
"""

import http
import logging
import re
import urllib.parse

from keystoneauth1 import exceptions as ks_exceptions

# Glance and IMS image IDs are canonical UUIDs. Only an argument of this
# shape is ever put into a URL path; names travel as a query parameter.
_IMAGE_ID = re.compile(
    r'\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z',
    re.IGNORECASE,
)
_VERSIONED = re.compile(r'/v2(\.\d+)?\Z')

# What the IMS API reference says each failure status means.
STATUS_MEANINGS = {
    400: 'request error',
    401: 'authentication failed',
    403: ('no rights to delete it (it is protected, or not your own '
          'private image)'),
    404: 'not found',
    409: 'conflict with the image state',
    429: 'too many requests',
    500: 'internal error in the image service',
    503: 'the image service is unavailable',
}

# DELETE and GET are idempotent: keystoneauth retries these with backoff
# (honouring Retry-After), as it does connection failures and timeouts.
RETRIABLE_STATUS_CODES = (429, 502, 503, 504)
DEFAULT_RETRIES = 3

# Plain Glance rejects any DELETE body with this text (its router has
# body_reject=True), before it looks at the image.
_BODY_REJECTED = 'a body is not expected'

_MAX_SHOWN = 200


HTTP_LOG = logging.getLogger(__name__ + '.http')


class _RequestLog(logging.LoggerAdapter):
    """keystoneauth's logger for one request; it notes the retries.

    keystoneauth logs each retry as a warning ("... Retrying in ...").
    A retry is not a failure (one that persists is reported once per image
    by the command), so it is shown at -v; and a DELETE that was sent
    more than once may find its image already deleted by an earlier try.
    """

    retried = False

    def warning(self, msg, *args, **kwargs):
        if 'Retrying in' in str(msg):
            self.retried = True
            self.info(msg, *args, **kwargs)
        else:
            super().warning(msg, *args, **kwargs)


class ImsError(Exception):
    """Base class of this client's own errors."""


class ImageNotFound(ImsError):
    def __init__(self, image):
        self.image = image
        super().__init__('no image with this name or ID')


class AmbiguousImage(ImsError):
    def __init__(self, image):
        self.image = image
        super().__init__(
            'more than one image has this name; use the image ID')


class UnexpectedResponse(ImsError):
    """A reply that is neither an error nor the success we asked for."""

    def __init__(self, response):
        self.response = response
        location = response.headers.get('Location')
        text = 'unexpected reply %s %s' % (
            response.status_code,
            _reason(response.status_code, response))
        if location:
            text += ' (to %s)' % printable(location)
        super().__init__(text.strip())


def is_image_id(text):
    """Whether ``text`` has the shape of an image ID (a canonical UUID)."""
    return bool(_IMAGE_ID.match(text))


def printable(text, limit=_MAX_SHOWN):
    """``text`` safe for one terminal line: escaped, trimmed."""
    shown = ''.join(
        c if c.isprintable() else c.encode('unicode_escape').decode('ascii')
        for c in text[:limit + 1])
    if len(shown) > limit:
        shown = shown[:limit] + '...'
    return shown


def server_message(response):
    """The human text an error reply carries, on one line, or ``None``.

    Glance and IMS send ``{"message", "code", "title"}`` or
    ``{"error": {"code", "message"}}``, sometimes an HTML or plain page.
    """
    if response is None:
        return None
    text = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get('error')
        if isinstance(error, dict):
            text = error.get('message') or error.get('title')
        elif isinstance(error, str):
            text = error
        if not text:
            text = body.get('message') or body.get('title')
        if not text and isinstance(body.get('errors'), list) and body[
                'errors'] and isinstance(body['errors'][0], dict):
            first = body['errors'][0]
            text = first.get('detail') or first.get('title')
    elif body is None and response.text:
        # webob pages: "<html>...<h1>403 Forbidden</h1>...</html>" or
        # "403 Forbidden\n\nYou are not authorized ...".
        text = re.sub(r'<[^>]*>', ' ', response.text)
    if not isinstance(text, str):
        return None
    text = ' '.join(text.split())
    # Pages repeat the status line ("403 Forbidden ..."): it is shown anyway.
    status = response.status_code
    prefixes = ['%s %s' % (status, response.reason or ''),
                '%s %s' % (status, _reason(status, None)), str(status)]
    for prefix in prefixes:
        prefix = prefix.strip()
        while text.startswith(prefix):
            text = text[len(prefix):].lstrip(' :-')
    text = ' '.join(text.split())
    return printable(text) or None


def _reason(status, response):
    reason = getattr(response, 'reason', None)
    if not reason:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ''
    return reason


def explain(exc):
    """One line that says what an HTTP error means, with the server's text.

    ``exc`` is a keystoneauth :class:`~keystoneauth1.exceptions.HttpError`.
    """
    status = exc.http_status
    reason = _reason(status, exc.response)
    line = ('%s %s' % (status, reason)).strip()
    meaning = STATUS_MEANINGS.get(status)
    if meaning:
        line += ', ' + meaning
    message = server_message(exc.response)
    if message:
        line += ': ' + message
    return line


def is_body_rejected(exc):
    """Whether a plain Glance refused the ``delete_backup`` body."""
    if getattr(exc, 'http_status', None) != 400:
        return False
    message = server_message(exc.response) or ''
    return _BODY_REJECTED in message.lower()


def backup_of(image):
    """The backup a full-ECS image was made from, or ``None``."""
    if str(image.get('__whole_image', '')).lower() != 'true':
        return None
    return image.get('__backup_id') or None


def _segment(text):
    """``text`` as one percent-encoded path segment.

    '/', '?' and '#' are encoded. requests resolves '.' and '..' even
    encoded ("stores/%2E%2E/x" is sent as "x"), so those are refused.
    """
    if text.strip('.') == '':
        raise ImsError('%r cannot be part of a URL path' % text)
    return urllib.parse.quote(text, safe='')


class ImageClient:
    """The IMS native image calls, on a keystoneauth Adapter.

    :param adapter: a :class:`keystoneauth1.adapter.Adapter` for the image
        service, such as openstacksdk's ``connection.image`` proxy. Its
        endpoint may be unversioned or end in ``/v2``.
    :param retries: how many times keystoneauth retries a request after a
        connection failure, a timeout or a 429/502/503/504 answer.
    """

    def __init__(self, adapter, retries=DEFAULT_RETRIES):
        self._adapter = adapter
        self._base_url = None
        self.retries = retries

    @classmethod
    def from_session(cls, session, **adapter_kwargs):
        """Build on a keystoneauth Session; ``adapter_kwargs`` go to Adapter.

        ``service_type`` defaults to ``image``; ``region_name``,
        ``interface`` and ``endpoint_override`` work as in keystoneauth.
        """
        from keystoneauth1 import adapter

        adapter_kwargs.setdefault('service_type', 'image')
        return cls(adapter.Adapter(session, **adapter_kwargs))

    @classmethod
    def from_connection(cls, connection):
        """Build on an openstacksdk Connection (its image proxy)."""
        return cls(connection.image)

    @property
    def base_url(self):
        """The image API's ``.../v2`` URL, found once from the adapter."""
        if self._base_url is None:
            endpoint = self._adapter.get_endpoint()
            if not endpoint:
                raise ks_exceptions.EndpointNotFound(
                    'no image endpoint in the service catalog')
            endpoint = endpoint.rstrip('/')
            if not _VERSIONED.search(urllib.parse.urlsplit(endpoint).path):
                endpoint += '/v2'
            self._base_url = endpoint
        return self._base_url

    def allow_concurrency(self, threads):
        """Let ``threads`` threads share the session's connections.

        requests keeps 10 connections per host by default; more threads
        would open and throw away a connection per request. The pools are
        resized in place so the session's TLS settings stay as they are.
        """
        requests_session = getattr(self._adapter.session, 'session', None)
        adapters = getattr(requests_session, 'adapters', {})
        for http_adapter in set(adapters.values()):
            size = getattr(http_adapter, '_pool_maxsize', threads)
            if size < threads:
                http_adapter.init_poolmanager(
                    http_adapter._pool_connections, threads,
                    block=http_adapter._pool_block)

    def _url(self, *segments):
        return '/'.join([self.base_url] + [_segment(s) for s in segments])

    def _request(self, method, url, **kwargs):
        log = _RequestLog(HTTP_LOG, {})
        try:
            # redirect=False: a delete is never sent on to another place.
            response = self._adapter.request(
                url, method, raise_exc=True, redirect=False, logger=log,
                connect_retries=self.retries,
                status_code_retries=self.retries,
                retriable_status_codes=RETRIABLE_STATUS_CODES,
                **kwargs)
        except ks_exceptions.HttpError as e:
            e.retried = log.retried
            raise
        if not 200 <= response.status_code < 300:
            raise UnexpectedResponse(response)
        return response

    def _json(self, response):
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UnexpectedResponse(response)
        return body

    def get_image(self, image_id):
        """The image document of ``image_id`` (raises keystoneauth NotFound).

        ``image_id`` must have the shape of an ID, or ImageNotFound is
        raised without a request.
        """
        if not is_image_id(image_id):
            raise ImageNotFound(image_id)
        return self._json(self._request('GET', self._url('images', image_id)))

    def find_images(self, name, limit=2):
        """Up to ``limit`` images whose name is exactly ``name``."""
        response = self._request(
            'GET', self._url('images'),
            params={'name': name, 'limit': limit})
        images = self._json(response).get('images')
        if not isinstance(images, list):
            raise UnexpectedResponse(response)
        return [i for i in images if isinstance(i, dict) and 'id' in i]

    def find_image(self, name_or_id):
        """The one image with this ID, or else with this exact name.

        Raises :class:`ImageNotFound` or :class:`AmbiguousImage`.
        """
        if is_image_id(name_or_id):
            try:
                return self.get_image(name_or_id)
            except ks_exceptions.NotFound:
                pass
        return self.find_image_by_name(name_or_id)

    def find_image_by_name(self, name):
        """The one image named exactly ``name``.

        Raises :class:`ImageNotFound` or :class:`AmbiguousImage`.
        """
        images = self.find_images(name)
        if not images:
            raise ImageNotFound(name)
        if len(images) > 1:
            raise AmbiguousImage(name)
        return images[0]

    def delete_image(self, image_id, delete_backup=None, store=None):
        """``DELETE /v2/images/{image_id}``.

        :param delete_backup: ``None`` sends no body (as Glance expects);
            ``True``/``False`` sends ``{"delete_backup": ...}``, which IMS
            reads to also delete (or keep) a full-ECS image's backup.
        :param store: delete the image from this one store only
            (``DELETE /v2/stores/{store}/{image_id}``); no body.
        :raises keystoneauth1.exceptions.HttpError: the cloud refused.
        """
        if not is_image_id(image_id):
            raise ImageNotFound(image_id)
        if store is not None:
            if delete_backup is not None:
                raise ValueError('store and delete_backup do not combine')
            url = self._url('stores', store, image_id)
        else:
            url = self._url('images', image_id)
        kwargs = {}
        if delete_backup is not None:
            kwargs['json'] = {'delete_backup': bool(delete_backup)}
        self._request('DELETE', url, **kwargs)
