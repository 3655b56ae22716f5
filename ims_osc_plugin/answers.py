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

"""What the image service's answers say, and text made safe to print.

Pure functions of a requests ``Response`` or a keystoneauth error; no
I/O. The service's text is never trusted: :func:`printable` escapes it
before it reaches a terminal.
"""

import datetime
import email.utils
import http
import json
import re
import time

from keystoneauth1 import exceptions as ks_exceptions

_MAX_SHOWN = 200


def printable(text, limit=_MAX_SHOWN):
    """``text`` made safe for one terminal line.

    Control characters are escaped; what is past ``limit`` characters is
    cut. Everything the service or the user wrote goes through this before it
    is printed or logged: an image name holding an escape sequence must not
    drive the terminal.
    """
    shown = ''.join(
        c if c.isprintable() else c.encode('unicode_escape').decode('ascii')
        for c in text[:limit + 1])
    if len(shown) > limit:
        shown = shown[:limit] + '...'
    return shown


def never_connected(error):
    """Whether a keystoneauth connection error certainly sent nothing.

    keystoneauth raises ConnectTimeout for connect and read timeouts alike
    and ConnectFailure for refused and dropped connections, so look at the
    requests/urllib3 error it was raised from: only a failure to open the
    connection proves the request was never sent.
    """
    # Imported here: needed only after a failure, and kept off start-up.
    import requests
    from urllib3 import exceptions as urllib3_exceptions

    if isinstance(error, ks_exceptions.SSLError):
        return True
    cause = error.__cause__ or error.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError):
        reason = cause.args[0] if cause.args else None
        reason = getattr(reason, 'reason', reason)
        return isinstance(reason, (urllib3_exceptions.NewConnectionError,
                                   urllib3_exceptions.ConnectTimeoutError))
    return False


def retry_after(response, now=time.time):
    """Seconds a ``Retry-After`` header asks for, or ``None``.

    Either form of RFC 9110 (seconds, or an HTTP date) is read; a value in
    neither form, or a negative one, is ignored (the backoff applies). Any
    number of digits is read exactly (a float would overflow).
    """
    value = response.headers.get('Retry-After', '').strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            # "-0000": the date is UTC, as HTTP dates are.
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - now()
    except (TypeError, ValueError, IndexError, OverflowError, OSError,
            AttributeError):
        return None
    return max(0, int(seconds))


def status_line(status, response=None):
    """``'503 Service Unavailable'``: the status and its reason phrase.

    The phrase is the server's (escaped: it is the server's text), else
    the standard one.
    """
    phrase = getattr(response, 'reason', None)
    if not isinstance(phrase, str) or not phrase:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ''
    return ('%s %s' % (status, printable(phrase, 60))).strip()


def server_message(response):
    """The human text an error reply carries, on one line, or ``None``.

    Glance and IMS send ``{"message", "code", "title"}`` or
    ``{"error": {"code", "message"}}``, sometimes an HTML or plain page.
    The text is the server's: escape it before printing it.
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
        errors = body.get('errors')
        if not text and isinstance(errors, list) and errors and isinstance(
                errors[0], dict):
            text = errors[0].get('detail') or errors[0].get('title')
    elif body is None and response.text:
        # webob pages: "<html>...<h1>403 Forbidden</h1>...</html>" or
        # "403 Forbidden\n\nYou are not authorized ...".
        text = re.sub(r'<[^>]*>', ' ', response.text)
    if not isinstance(text, str):
        return None
    text = ' '.join(text.split())
    # Pages repeat the status line ("403 Forbidden ..."): drop it.
    status = response.status_code
    for prefix in (status_line(status, response), status_line(status),
                   str(status)):
        while prefix and text.startswith(prefix):
            text = text[len(prefix):].lstrip(' :-')
    return text or None


# An error document is small; a longer body is a page, not one of these.
_MAX_ERROR_BODY = 65536
_ERROR_CODE = re.compile(r'\A[A-Za-z]{2,16}\.\d{1,8}\Z')


def ims_error_code(response):
    """The ``"IMG.0060"`` / ``"APIGW.0308"`` code of an error answer, or None.

    Read from ``{"error": {"code": ..., "message": ...}}`` (IMS, the API
    gateway), or a top-level ``"error_code"`` / ``"code"`` string. Only the
    first :data:`_MAX_ERROR_BODY` bytes are looked at, and only a string
    shaped as such a code is returned; it never raises.
    """
    try:
        content = response.content
        if not isinstance(content, bytes) or len(content) > _MAX_ERROR_BODY:
            return None
        body = json.loads(content.decode('utf-8'))
    except Exception:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get('error')
    candidates = [error.get('code')] if isinstance(error, dict) else []
    candidates += [body.get('error_code'), body.get('code')]
    for code in candidates:
        if isinstance(code, str) and _ERROR_CODE.match(code):
            return code
    return None
