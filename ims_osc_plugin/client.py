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

It owns the HTTP calls the plugin makes and nothing else: no wording for a
terminal. It runs on any keystoneauth :class:`~keystoneauth1.adapter.Adapter`,
openstacksdk's image proxy included, so OSC's session, TLS settings,
timeouts, endpoint choice and redacted ``--debug`` logging all apply::

    from keystoneauth1 import loading, session
    from ims_osc_plugin import client

    auth = loading.load_auth_from_argparse_arguments(...)  # or any plugin
    ims = client.ImageClient.from_session(
        session.Session(auth=auth), region_name='eu-de')
    ims.delete_image(ims.find_image('my-image')['id'], delete_backup=True)

or, with an openstacksdk connection, ``ImageClient.from_connection(conn)``.
"""

import copy
import logging
import re
import threading
import urllib.parse

from keystoneauth1 import exceptions as ks_exceptions
import requests
from urllib3 import exceptions as urllib3_exceptions

from ims_osc_plugin import answers
from ims_osc_plugin import images
from ims_osc_plugin import throttle

# DELETE and GET are idempotent, so these answers are retried with backoff.
RETRIABLE_STATUS_CODES = (429, 502, 503, 504)
# The service itself says it did not act on the request. A 502 or 504 comes
# from a proxy, behind which the request may have reached the service.
_NOT_ACTED_ON = (429, 503)
# Used for a retry count the cloud's configuration does not set.
DEFAULT_RETRIES = 3
# The longest wait between two tries, as keystoneauth's own backoff ceiling.
# A Retry-After beyond it ends the request instead of hanging the command.
MAX_RETRY_WAIT = 60.0
_FIRST_DELAY = 0.5
# A listing that has not ended after this many pages is not believed.
MAX_PAGES = 1000
# The largest document or page believed; more is not read.
MAX_DOCUMENT = 32 * 1024 * 1024

# A path segment naming an API version: v1, v2, v2.1, V2.
_VERSION_SEGMENT = re.compile(r'\Av\d+(\.\d+)?\Z', re.IGNORECASE)
# What keystoneauth substitutes in an endpoint override.
_SUBSTITUTIONS = ('project_id', 'user_id')

LOG = logging.getLogger(__name__)

# Where a service puts the ID of a request: OpenStack's header, then the
# one Huawei Cloud's API gateway adds to IMS's answers.
REQUEST_ID_HEADERS = ('X-Openstack-Request-Id', 'X-Request-Id')


def request_id(response):
    """The service's ID of the request ``response`` answers, or ``None``."""
    headers = getattr(response, 'headers', None) or {}
    for header in REQUEST_ID_HEADERS:
        value = headers.get(header)
        if value:
            return value
    return None


class _EscapeServiceText(logging.Filter):
    """Escape a log record's text, line by line (see :data:`HTTP_LOG`)."""

    def filter(self, record):
        try:
            text = record.getMessage()
        except Exception:  # noqa: B902 - logging never fails the run
            return True
        escaped = [answers.printable(line, None) for line in text.split('\n')]
        record.msg = '\n'.join(escaped)
        record.args = None
        return True


# keystoneauth's --debug request and response logs (headers, bodies: the
# service's text) go here, escaped as every line the command prints.
# keystoneauth writes them unescaped, through the logger it is given; with
# a cloud's split_loggers it uses its own loggers instead.
HTTP_LOG = logging.getLogger(__name__ + '.http')
HTTP_LOG.addFilter(_EscapeServiceText())


class ImsError(Exception):
    """Base class of this client's own errors."""


class ImageNotFound(ImsError):
    """No image has this ID, or this exact name."""

    def __init__(self, image):
        self.image = image
        super().__init__(image)


class AmbiguousImage(ImsError):
    """More than one image has this name."""

    def __init__(self, image):
        self.image = image
        super().__init__(image)


class UnexpectedResponse(ImsError):
    """A reply that is neither an error nor the success we asked for."""

    def __init__(self, response):
        self.response = response
        super().__init__(response.status_code)


class MalformedAnswer(ImsError):
    """A success whose document cannot be trusted; ``str()`` says why."""


class EndpointError(ImsError):
    """The image endpoint's URL cannot be used; ``url`` is the URL."""

    def __init__(self, url, why):
        self.url = url
        self.why = why
        super().__init__('%s: %s' % (url, why))


class Interrupted(ImsError):
    """:attr:`ImageClient.cancel` was set before a request was (re)sent.

    ``attempts`` lists the tries already made, oldest first; ``error`` is
    the error of the last of them, or ``None``.
    """

    def __init__(self, attempts, error=None):
        self.attempts = attempts
        self.error = error
        super().__init__('interrupted')


class RetryAfterTooLong(ImsError):
    """The service asked to wait longer than :data:`MAX_RETRY_WAIT`.

    ``error`` is the keystoneauth HttpError of that answer, ``wait`` the
    seconds asked for.
    """

    def __init__(self, error, wait, attempts):
        self.error = error
        self.wait = wait
        self.attempts = attempts
        super().__init__(str(error))


class Attempt:
    """One try of a request.

    ``status`` is its answer's status, ``None`` if no answer came;
    ``may_have_reached`` whether the image service may have acted on it.
    """

    __slots__ = ('status', 'may_have_reached')

    def __init__(self, status, may_have_reached):
        self.status = status
        self.may_have_reached = may_have_reached

    def __repr__(self):
        return 'Attempt(%r, %r)' % (self.status, self.may_have_reached)


def image_api_url(endpoint, project_id=None, user_id=None):
    """The image API's ``.../v2`` URL, from a catalog URL or an override.

    No version discovery: the IMS API is v2. The path up to its last
    version segment (``/v1``, ``/v2``, ``/v2.1``, ``/V2``) is kept and
    that segment and what follows it (a project ID, ``/images``) become
    ``/v2``; a path without one gets ``/v2``. ``%(project_id)s`` and
    ``%(user_id)s`` are filled in as keystoneauth does for an override.

    :raises EndpointError: a URL this cannot build on.
    """
    url = endpoint
    for key in _SUBSTITUTIONS:
        placeholder = '%%(%s)s' % key
        if placeholder in url:
            value = project_id if key == 'project_id' else user_id
            if not value:
                raise EndpointError(endpoint, 'it has %s, and the token '
                                    'gives no %s' % (placeholder, key))
            url = url.replace(placeholder, value)
    if '%(' in url:
        raise EndpointError(endpoint, 'it has a placeholder other than '
                            '%(project_id)s and %(user_id)s')
    if not url.isprintable() or ' ' in url:
        raise EndpointError(endpoint, 'it has spaces or control characters')
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise EndpointError(endpoint, str(e))
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise EndpointError(endpoint, 'it is not an http(s) URL')
    if parts.query or parts.fragment:
        raise EndpointError(endpoint, 'it has a query or a fragment')
    segments = [s for s in parts.path.split('/') if s]
    versions = [i for i, s in enumerate(segments)
                if _VERSION_SEGMENT.match(s)]
    if versions:
        segments = segments[:versions[-1]]
    path = '/' + '/'.join(segments + ['v2'])
    return urllib.parse.urlunsplit(parts._replace(path=path))


def _segment(text):
    """``text`` as one percent-encoded path segment.

    '/', '?' and '#' are encoded. requests resolves '.' and '..' even
    encoded ("stores/%2E%2E/x" is sent as "x"), so those are refused.
    """
    if text.strip('.') == '':
        raise ImsError("'%s' cannot be part of a URL path"
                       % answers.printable(text))
    return urllib.parse.quote(text, safe='')


def _read_body(response, limit):
    """Read at most ``limit`` + 1 bytes of a streamed answer's body.

    The rest is not read (the connection is closed instead); what was read
    becomes ``response.content``. A body already read is cut the same way.
    """
    if not isinstance(response, requests.Response):
        return
    if response._content is False:
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
        finally:
            response.close()
        response._content = b''.join(chunks)
        response._content_consumed = True
    if len(response._content or b'') > limit + 1:
        response._content = response._content[:limit + 1]


def _http_error(response, method, url):
    """keystoneauth's HttpError for an error answer; never raises.

    keystoneauth parses a JSON body with json, which recurses: a deeply
    nested body would raise RecursionError. Such a body is not given to it.
    """
    if answers.body_json(response) is None:
        response_copy = copy.copy(response)
        response_copy.headers = requests.structures.CaseInsensitiveDict(
            response.headers)
        response_copy.headers['Content-Type'] = 'application/octet-stream'
        error = ks_exceptions.from_response(response_copy, method, url)
        error.response = response
        return error
    return ks_exceptions.from_response(response, method, url)


class ImageClient:
    """The IMS native image calls, on a keystoneauth Adapter.

    :param adapter: a :class:`keystoneauth1.adapter.Adapter` for the image
        service, such as openstacksdk's ``connection.image`` proxy.
    :param retries: how many times in all a request is tried again after
        connection failures, timeouts and 429/502/503/504 answers. ``None``
        (the default) takes the adapter's ``connect_retries`` for the
        former and ``status_code_retries`` for the latter (a cloud's
        ``image_connect_retries`` and ``image_status_code_retries``), and
        :data:`DEFAULT_RETRIES` for a count that is not set.

    :attr:`cancel` is a :class:`threading.Event`: once set, no request is
    sent or retried (:class:`Interrupted` is raised instead).

    :attr:`gate` is the :class:`~ims_osc_plugin.throttle.Gate` every
    request passes: when the service throttles, all of them wait together.
    """

    def __init__(self, adapter, retries=None):
        self._adapter = adapter
        self._base_url = None
        self.retries = retries
        self.cancel = threading.Event()
        self._last = threading.local()
        self.gate = throttle.Gate()

    @property
    def last_request_id(self):
        """The request ID of the last answer this thread's request got.

        Set anew by each call that sends a request; ``None`` when no
        answer came or the answer had none.
        """
        return getattr(self._last, 'request_id', None)

    @classmethod
    def from_session(cls, session, **adapter_kwargs):
        """Build on a keystoneauth Session; ``adapter_kwargs`` go to Adapter.

        ``service_type`` defaults to ``image``; ``region_name``,
        ``interface``, ``endpoint_override`` and the retry settings work as
        in keystoneauth.
        """
        from keystoneauth1 import adapter

        adapter_kwargs.setdefault('service_type', 'image')
        return cls(adapter.Adapter(session, **adapter_kwargs))

    @classmethod
    def from_connection(cls, connection):
        """Build on an openstacksdk Connection's cloud configuration."""
        return cls.from_cloud_region(connection.config)

    @classmethod
    def from_cloud_region(cls, config, session=None):
        """Build on a cloud's configuration, as openstacksdk would.

        ``config`` is an openstacksdk ``CloudRegion`` (OSC's
        ``client_manager.sdk_connection.config``): the image service's
        region, interface, endpoint override and retry settings are read
        with the getters openstacksdk's own proxy uses. Unlike
        ``connection.image``, making this client sends no version
        discovery request.
        """
        service = 'image'
        kwargs = {
            'service_type': config.get_service_type(service),
            'service_name': config.get_service_name(service),
            'interface': config.get_interface(service),
            'region_name': config.get_region_name(service),
            'endpoint_override': config.get_endpoint(service),
        }
        for setting in ('connect_retries', 'status_code_retries',
                        'connect_retry_delay', 'status_code_retry_delay'):
            # The *_retry_delay getters are newer than openstacksdk 0.101.
            getter = getattr(config, 'get_' + setting, None)
            if getter is not None:
                kwargs[setting] = getter(service)
        return cls.from_session(session or config.get_session(), **kwargs)

    @property
    def base_url(self):
        """The image API's ``.../v2`` URL (see :func:`image_api_url`).

        :raises EndpointError: the catalog's or override's URL is unusable.
        :raises keystoneauth1.exceptions.ClientException: no image
            endpoint, or authentication failed.
        """
        if self._base_url is None:
            endpoint = self._adapter.get_endpoint(skip_discovery=True)
            if not endpoint:
                raise ks_exceptions.EndpointNotFound(
                    'no image endpoint in the service catalog')
            project_id = user_id = None
            if '%(' in endpoint:
                project_id = self.project_id
                user_id = self._adapter.get_user_id()
            self._base_url = image_api_url(endpoint, project_id, user_id)
            LOG.info('Image API at %s (from %s, without version discovery)',
                     self._base_url, answers.printable(endpoint))
        return self._base_url

    @property
    def project_id(self):
        """The project the session is scoped to, or ``None`` if unknown."""
        try:
            return self._adapter.get_project_id()
        except ks_exceptions.ClientException:
            return None

    def role_names(self):
        """The token's role names, or ``None`` if the token does not say."""
        auth = self._adapter.auth or self._adapter.session.auth
        try:
            access = auth.get_access(self._adapter.session)
        except (AttributeError, ks_exceptions.ClientException):
            return None
        names = getattr(access, 'role_names', None)
        return None if names is None else frozenset(names)

    def allow_concurrency(self, threads):
        """Let ``threads`` threads share the session's connections.

        requests keeps 10 connections per host; more threads would open and
        throw away a connection per request. A larger keystoneauth adapter
        is mounted in place of the default one; TLS settings (verify, cert)
        are passed with each request, so none is lost.
        """
        from keystoneauth1 import session as ks_session
        import requests

        requests_session = getattr(self._adapter.session, 'session', None)
        if requests_session is None:
            return
        size = max(threads, requests.adapters.DEFAULT_POOLSIZE)
        for prefix, old in list(requests_session.adapters.items()):
            # Only keystoneauth's own adapter: a caller's custom one stays.
            if type(old) is ks_session.TCPKeepAliveAdapter:
                requests_session.mount(prefix, ks_session.TCPKeepAliveAdapter(
                    pool_maxsize=size, max_retries=old.max_retries))

    def _url(self, *segments):
        return '/'.join([self.base_url] + [_segment(s) for s in segments])

    def _allowed(self, kind):
        return self._retries(kind) if self.retries is None else self.retries

    def _retries(self, kind):
        configured = getattr(self._adapter, kind + '_retries', None)
        return DEFAULT_RETRIES if configured is None else int(configured)

    def _delay(self, kind, count):
        fixed = getattr(self._adapter, kind + '_retry_delay', None)
        if fixed is not None:
            return min(float(fixed), MAX_RETRY_WAIT)
        return min(_FIRST_DELAY * 2 ** count, MAX_RETRY_WAIT)

    def _request(self, method, url, expect=None, **kwargs):
        """Send a request, retrying as configured; raise on failure.

        keystoneauth can retry too, but it does not tell which tries were
        answered with what, and the command must know that to say whether a
        404 after a retry means "deleted by an earlier try" or "never
        there". So the retries are counted here, with keystoneauth's backoff
        and the cloud's retry settings; every try goes through the adapter.
        Each raised error carries ``attempts``.

        ``expect``: the success statuses (default: any 2xx); another 2xx
        raises :class:`UnexpectedResponse`. An answer's body is read here,
        in the calling thread, at most :data:`MAX_DOCUMENT` bytes of a
        success and :data:`~ims_osc_plugin.answers.MAX_BODY` of an error.
        """
        attempts = []
        tries = {'connect': 0, 'status_code': 0}
        error = None
        self._last.request_id = None
        while True:
            if self.cancel.is_set():
                raise Interrupted(attempts, error)
            # Waiting at the gate sends nothing and spends no retry; it is
            # bounded by the waits this request's retries could take.
            ticket = self.gate.enter(self.cancel, patience=MAX_RETRY_WAIT * (
                1 + self._allowed('status_code')))
            if ticket is None:
                raise Interrupted(attempts, error)
            throttled = wait = None
            try:
                response = self._adapter.request(
                    url, method, raise_exc=False, redirect=False,
                    connect_retries=0, status_code_retries=0,
                    logger=HTTP_LOG, stream=True, **kwargs)
                status = response.status_code
                _read_body(response, MAX_DOCUMENT if 200 <= status < 300
                           else answers.MAX_BODY)
                throttled, wait = throttle.throttling(response)
            except ks_exceptions.ConnectionError as e:
                self._last.request_id = None
                attempts.append(Attempt(None, not answers.never_connected(e)))
                kind, wait, error = 'connect', None, e
            except (requests.exceptions.RequestException,
                    urllib3_exceptions.HTTPError) as e:
                # The body could not be read: the request was sent.
                self._last.request_id = None
                attempts.append(Attempt(None, True))
                kind, wait, error = 'connect', None, e
            else:
                self._last.request_id = request_id(response)
                if status < 400:
                    break
                attempts.append(Attempt(status, status not in _NOT_ACTED_ON
                                        and not throttled))
                # Read in this thread, bounded: the reporting thread only
                # prints it.
                answers.remember_message(response)
                error = _http_error(response, method, url)
                if status not in RETRIABLE_STATUS_CODES and not throttled:
                    error.attempts = attempts
                    raise error
                kind = 'status_code'
                wait = answers.retry_after(response)
            finally:
                # None: no answer came.
                self.gate.leave(ticket, throttled=bool(throttled), wait=wait,
                                success=throttled is False and status < 500)
            if wait is not None and wait > MAX_RETRY_WAIT:
                raise RetryAfterTooLong(error, wait, attempts)
            if self.retries is not None:
                used, allowed = sum(tries.values()), self.retries
            else:
                used, allowed = tries[kind], self._retries(kind)
            if used >= allowed:
                error.attempts = attempts
                raise error
            tries[kind] += 1
            if throttled:
                # The shared gate, now closed, does the waiting.
                LOG.info('%s %s: %s; retrying when the service\'s limit '
                         'allows (retry %d of %d)', method, url,
                         self._describe(error), used + 1, allowed)
                continue
            delay = max(self._delay(kind, tries[kind] - 1), wait or 0)
            LOG.info('%s %s: %s; retrying in %.1f s (retry %d of %d)',
                     method, url, self._describe(error), delay, used + 1,
                     allowed)
            self._wait(delay)
        success = 200 <= status < 300
        if not success or (expect is not None and status not in expect):
            error = UnexpectedResponse(response)
            # A 2xx says the service took the request, not what it did; a
            # 1xx or 3xx comes before it acts.
            error.attempts = attempts + [Attempt(status, success)]
            raise error
        return response

    @staticmethod
    def _describe(error):
        response = getattr(error, 'response', None)
        if response is not None:
            return answers.status_line(response.status_code, response)
        return answers.printable(str(error))

    def _wait(self, seconds):
        # Bounded by MAX_RETRY_WAIT; wakes at once when cancelled.
        self.cancel.wait(seconds)

    @staticmethod
    def _json(response):
        if len(response.content) > MAX_DOCUMENT:
            raise MalformedAnswer('the answer is larger than %d bytes'
                                  % MAX_DOCUMENT)
        body = answers.body_json(response, MAX_DOCUMENT)
        if not isinstance(body, dict):
            raise MalformedAnswer('the answer is not a JSON object')
        return body

    def get_image(self, image_id):
        """The image document of ``image_id`` (raises keystoneauth NotFound).

        ``image_id`` must have the shape of an ID, or ImageNotFound is
        raised without a request.

        :raises MalformedAnswer: the document fails
            :func:`~ims_osc_plugin.images.check_image`, or is another
            image's.
        """
        if not images.is_image_id(image_id):
            raise ImageNotFound(image_id)
        doc = self._json(self._request('GET', self._url('images', image_id)))
        try:
            images.check_image(doc)
        except images.MalformedImage as e:
            raise MalformedAnswer(str(e))
        if not images.same_id(doc['id'], image_id):
            raise MalformedAnswer('asked for image %s, the service answered '
                                  'with image %s' % (image_id, doc['id']))
        return doc

    def list_images(self, **filters):
        """Every image the service lists for ``filters``, page by page.

        Each listed image is checked with
        :func:`~ims_osc_plugin.images.check_listed`. The ``next`` link's
        query is followed on this client's own ``/v2/images`` URL, so a
        service's link cannot send the request elsewhere.

        :raises MalformedAnswer: a page or an image in it is malformed, or
            the listing does not end within :data:`MAX_PAGES` pages.
        """
        url = self._url('images')
        params = dict(filters)
        requested = set()
        found = []
        for _page in range(MAX_PAGES):
            # A link back to a page already read would list it again.
            key = tuple(sorted(params.items()))
            if key in requested:
                raise MalformedAnswer('the listing\'s "next" link is not '
                                      'a new link')
            requested.add(key)
            body = self._json(self._request('GET', url, params=params))
            page = body.get('images')
            if not isinstance(page, list):
                raise MalformedAnswer('the listing has no "images" list')
            try:
                found.extend(images.check_listed(doc) for doc in page)
            except images.MalformedImage as e:
                raise MalformedAnswer(str(e))
            link = body.get('next')
            if not link or not page:
                return found
            if not isinstance(link, str):
                raise MalformedAnswer('the listing\'s "next" link is not '
                                      'a new link')
            # Only its query is used, and the filters asked for stay.
            params = dict(urllib.parse.parse_qsl(
                urllib.parse.urlsplit(link).query))
            params.update(filters)
        raise MalformedAnswer('the listing did not end within %d pages'
                              % MAX_PAGES)

    def find_image_by_name(self, name):
        """The one image named exactly ``name``, hidden images included.

        As openstacksdk's ``Image.find``: the images listed for the name
        first, then the hidden ones (``os_hidden``); each time only an
        exact name counts, whatever else the service's filter returned.

        Glance reads a name filter starting with ``in:`` as a list of names
        (``in:a,b``: "a" or "b"), so an image named ``in:a,b`` is listed
        only for the quoted form ``in:"in:a,b"``, which is asked next.

        :raises ImageNotFound: no image has this exact name.
        :raises AmbiguousImage: more than one has.
        :raises MalformedAnswer: see :meth:`list_images` and
            :func:`~ims_osc_plugin.images.check_image`.
        """
        queries = [name]
        if name.startswith('in:') and not set('"\\') & set(name):
            queries.append('in:"%s"' % name)
        for filters in ({}, {'os_hidden': 'true'}):
            matches = {}
            for query in queries:
                for doc in images.named(
                        name, self.list_images(name=query, **filters)):
                    matches[doc['id']] = doc
            matches = list(matches.values())
            if len(matches) > 1:
                raise AmbiguousImage(name)
            if matches:
                try:
                    return images.check_image(matches[0])
                except images.MalformedImage as e:
                    raise MalformedAnswer(str(e))
        raise ImageNotFound(name)

    def find_image(self, name_or_id):
        """The one image with this ID, or else with this exact name.

        Raises what :meth:`get_image` and :meth:`find_image_by_name` raise,
        but NotFound for the ID.
        """
        if images.is_image_id(name_or_id):
            try:
                return self.get_image(name_or_id)
            except ks_exceptions.NotFound:
                pass
        return self.find_image_by_name(name_or_id)

    def delete_image(self, image_id, delete_backup=None, store=None):
        """``DELETE /v2/images/{image_id}``.

        :param delete_backup: ``None`` sends no body (as Glance expects);
            ``True``/``False`` sends ``{"delete_backup": ...}``, which IMS
            reads to also delete (or keep) a full-ECS image's backup.
        :param store: delete the image from this one store only
            (``DELETE /v2/stores/{store}/{image_id}``); no body.
        :raises keystoneauth1.exceptions.HttpError: the cloud refused; its
            ``attempts`` tell what each try got.
        """
        if not images.is_image_id(image_id):
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
        # IMS and Glance answer a delete with 204: another 2xx (a proxy's
        # login page, a 202) does not say the image was deleted.
        self._request('DELETE', url, expect=(204,), **kwargs)
