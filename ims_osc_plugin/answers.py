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

_MAX_SHOWN = 200
# What marks a cut: no escape produces a backslash followed by a dot.
CUT = '\\...'
# The most of an answer's body that is read and parsed: an error page or a
# document of any size and shape can come from a proxy.
MAX_BODY = 64 * 1024
# JSON nested deeper than this is not parsed (json's parser recurses).
_MAX_DEPTH = 64
# IMS's own codes and those of Huawei Cloud's API gateway in front of it.
_CODE = re.compile(r'\A(IMG|APIGW)\.\d{1,6}\Z', re.IGNORECASE)

# Characters that take no room or look like a space, yet are letters or
# symbols to unicodedata: Unicode's default ignorable code points outside
# the categories escaped below, and the blank Braille pattern.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0] +
    list(range(0x180B, 0x1810)) + list(range(0xFE00, 0xFE10)) +
    list(range(0xE0100, 0xE01F0)))


def _shown(char):
    """``char`` as printed: itself, or its Python escape.

    ``str.isprintable`` is false for control, format, surrogate, private
    use and unassigned characters, line and paragraph separators and every
    space but ' '.
    """
    if char == '\\':
        return '\\\\'
    if char.isprintable() and ord(char) not in _INVISIBLE:
        return char
    return char.encode('unicode_escape').decode('ascii')


def printable(text, limit=_MAX_SHOWN):
    """``text`` made safe and exact for one terminal line.

    Everything the service or the user wrote goes through this before it
    is printed or logged: an image name holding an escape sequence must not
    drive the terminal, and one holding U+202E must not print like one
    holding the six characters ``\\u202e``. So the result is injective: a
    backslash is escaped (``\\\\``), as is every character that is not
    visible (control, format, private use, unassigned, surrogates, line and
    paragraph separators, spaces other than ' ', fillers such as U+3164),
    as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``. If the escaped text is
    longer than ``limit`` characters (``None``: no limit), it is cut
    between two escapes and :data:`CUT` (a backslash and three dots, which
    no escape produces) ends it.
    """
    if text is None:
        text = ''
    pieces = []
    size = 0
    for char in text:
        piece = _shown(char)
        if limit is not None and size + len(piece) > limit:
            pieces.append(CUT)
            break
        pieces.append(piece)
        size += len(piece)
    return ''.join(pieces)


def _causes(error):
    """``error`` and what it was raised from or wraps, breadth first."""
    seen, todo = set(), [error]
    while todo and len(seen) < 32:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend([item.__cause__, item.__context__,
                     getattr(item, 'reason', None)] + list(item.args[:2]))


def never_connected(error):
    """Whether a keystoneauth connection error certainly sent nothing.

    keystoneauth raises ConnectTimeout for connect and read timeouts alike,
    ConnectFailure for refused and dropped connections, and SSLError for a
    failed handshake and a TLS error while the answer is read alike, so
    look at the requests/urllib3/ssl errors it was raised from: only a
    failure to open the connection (or to verify the server's certificate,
    which happens before anything is sent) proves the request was never
    sent.
    """
    # Imported here: needed only after a failure, and kept off start-up.
    import ssl

    import requests
    from urllib3 import exceptions as urllib3_exceptions

    for cause in _causes(error):
        if isinstance(cause, (requests.exceptions.ConnectTimeout,
                              urllib3_exceptions.NewConnectionError,
                              urllib3_exceptions.ConnectTimeoutError,
                              ssl.SSLCertVerificationError)):
            return True
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


# What counts for JSON's nesting: brackets, and quotes and backslashes
# (to skip strings).
_JSON_TOKEN = re.compile(r'["\\\[\]{}]')


def _json_depth_ok(text):
    """Whether JSON ``text`` nests at most :data:`_MAX_DEPTH` deep.

    One linear pass over its brackets and quotes, strings skipped: json's
    parser recurses, and a body of 200,000 ``[`` would raise
    RecursionError.
    """
    depth = 0
    in_string = False
    escaped_at = -1
    for token in _JSON_TOKEN.finditer(text):
        at, char = token.start(), token.group()
        if at == escaped_at:
            continue
        if in_string:
            if char == '\\':
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in '[{':
            depth += 1
            if depth > _MAX_DEPTH:
                return False
        elif char in ']}':
            depth -= 1
    return True


def body_text(response, limit=MAX_BODY):
    """The first ``limit`` bytes of an answer's body, as text.

    Bytes that are not in its encoding (UTF-8 if it names none or an
    unknown one) become U+FFFD.
    """
    content = getattr(response, 'content', None) or b''
    if not isinstance(content, bytes):
        return ''
    encoding = getattr(response, 'encoding', None)
    if not isinstance(encoding, str):
        encoding = 'utf-8'
    try:
        return content[:limit].decode(encoding, 'replace')
    except LookupError:
        return content[:limit].decode('utf-8', 'replace')


def body_json(response, limit=MAX_BODY):
    """The answer's body as JSON, or ``None`` if it is not (safely) JSON.

    Never raises: a body longer than ``limit`` bytes, nested too deep or
    not JSON is ``None``.
    """
    content = getattr(response, 'content', None) or b''
    if not isinstance(content, bytes) or len(content) > limit:
        return None
    text = body_text(response, limit)
    if not _json_depth_ok(text):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# Where remember_message keeps what it read on the response.
_MESSAGE = 'ims_server_message'
# A tag: no '<' inside, so that each '<' is scanned past once (with
# r'<[^>]*>' a run of '<' without '>' takes quadratic time).
_TAG = re.compile(r'<[^<>]*>')


def server_message(response):
    """The human text an error reply carries, on one line, or ``None``.

    Glance and IMS send ``{"message", "code", "title"}`` or
    ``{"error": {"code", "message"}}``, sometimes an HTML or plain page.
    The text is the server's: escape it before printing it. Only the first
    :data:`MAX_BODY` bytes are read, in time linear in them; it never
    raises. The client reads it in the worker that got the answer
    (:func:`remember_message`); later calls return what was read then.
    """
    if response is None:
        return None
    known = getattr(response, '__dict__', {})
    if _MESSAGE in known:
        return known[_MESSAGE]
    try:
        return _server_message(response)
    except Exception:  # noqa: B902 - the service's text never sinks a run
        return None


def remember_message(response):
    """Read the answer's message now, in this thread, and keep it."""
    message = server_message(response)
    try:
        setattr(response, _MESSAGE, message)
    except AttributeError:
        pass
    return message


def _server_message(response):
    text = None
    body = body_json(response)
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
    elif body is None:
        # webob pages: "<html>...<h1>403 Forbidden</h1>...</html>" or
        # "403 Forbidden\n\nYou are not authorized ...".
        text = _TAG.sub(' ', body_text(response))
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


def ims_error_code(response):
    """The service's error code of an answer, ``'IMG.0028'``, or ``None``.

    IMS (and its API gateway, ``APIGW.xxxx``) answer errors as ``{"error":
    {"code": ..., "message": ...}}``; a top-level ``"error_code"`` or
    ``"code"`` string is read too. Reads at most :data:`MAX_BODY` bytes
    (see :func:`body_json`) and never raises: any other answer has no
    code. Glance's ``"code": "400 Bad Request"`` is a status line, not a
    code.
    """
    try:
        body = body_json(response)
        if not isinstance(body, dict):
            return None
        error = body.get('error')
        candidates = [error.get('code')] if isinstance(error, dict) else []
        candidates += [body.get('error_code'), body.get('code')]
        for code in candidates:
            if isinstance(code, str) and _CODE.match(code.strip()):
                return code.strip().upper()
    except Exception:  # noqa: B902 - never raises, as agreed
        return None
    return None
