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

"""TEST CODE: IMS's ``delete_backup`` and injected faults on real Glance.

This is a stand-in for Huawei Cloud IMS, for the functional tests only. It
is a WSGI layer around the unmodified Glance application that:

- accepts IMS's ``{"delete_backup": true|false}`` body (and nothing else)
  on ``DELETE /v2/images/{id}``, takes it off the request and lets Glance
  do the delete, so Glance's own 401/403/404/204 answers stay as they are.
  Any other body goes to Glance unchanged, which answers 400 "A body is
  not expected with this request.";
- when ``delete_backup`` is true, the delete succeeded and the image was a
  full-ECS image (``__whole_image=true`` and ``__backup_id`` properties),
  marks that backup deleted in a small registry (an SQLite file) the tests
  read and fill;
- answers chosen images' DELETEs with faults, for the first K attempts or
  always (see :meth:`State.set_fault`):

  ``status``
      a JSON error with a chosen status (503, 500, 429, ...), optionally
      with a ``Retry-After`` header of a chosen value; Glance never sees
      the request;
  ``html``
      the same as an HTML error page (as a proxy in front would send);
  ``drop``
      the connection is closed before Glance sees the request: nothing
      was done;
  ``lost``
      Glance really does the delete (and the layer its ``delete_backup``
      part), then the connection is closed without an answer: the work
      was done but the client never hears of it, so its retry gets 404;
  ``vanish``
      the image is deleted in Glance first (as if by someone else, with
      no body: its backup stays), then the request goes to Glance, which
      answers 404: an image that was there at the lookup and is gone
      when our first DELETE arrives;
  ``delay``
      sleep a chosen time, then let Glance answer (outside the write
      lock, so delayed requests overlap);
  ``linger``
      let Glance delete (204), then keep showing the image for ``delay``
      seconds to ``GET /v2/images/{id}`` on the IMS ports, with status
      ``pending_delete``, as IMS does while it finishes a delete in the
      background (and Glance with delayed delete);
  ``ims``
      IMS's own refusal: ``{"error": {"code": "IMG.xxxx", "message":
      ...}}`` with IMS's message for that code (see :data:`IMS_ERRORS`)
      and a chosen status (400 by default, as IMS documents it). Glance
      never sees the request, except for ``IMG.0176``: the image is
      deleted (its backup stays), then the answer says the backup could
      not be deleted, as IMS answers when the backup's deletion fails;

- answers the version document at the root of the image endpoint (``GET
  /`` and ``GET /versions``, what keystoneauth's version discovery
  fetches) with a chosen status while the ``root_status`` flag is set
  (:meth:`State.set_flag`), on the IMS ports only, as an API gateway that
  serves only ``/v2/...`` would;
- records every request it gets (method, path, port, status, fault): a
  row is written when the request arrives (``status`` NULL while it is in
  flight) and completed when it is answered, so the tests can tell what
  reached the server, in arrival order, and what is still in flight.
  Requests outside ``/v2/images`` (the version document, set-up requests)
  are recorded too; :meth:`State.events` returns them only when asked;
- lets one writing request at a time into Glance: Glance on SQLite fails
  concurrent writes with "database is locked" (a test stand-in's limit,
  not a production one; reads still run in parallel).

Ports listed in ``IMS_LAYER_PLAIN_PORTS`` are plain Glance: no
``delete_backup`` handling and no faults, only the record.

It imports only the standard library: it runs in the servers' venv, where
this plugin is not installed.
"""

import io
import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid

_DELETE = re.compile(r'\A/v2/images/([^/]+)\Z')
_MAX_BODY = 65536
_MAX_DELAY = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS backups (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'available'
);
CREATE TABLE IF NOT EXISTS faults (
    image_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 503,
    remaining INTEGER NOT NULL DEFAULT -1,
    delay REAL NOT NULL DEFAULT 0,
    retry_after TEXT,
    code TEXT
);
CREATE TABLE IF NOT EXISTS lingering (
    image_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT,
    path TEXT,
    query TEXT,
    port INTEGER,
    mode TEXT,
    image_id TEXT,
    body TEXT,
    status INTEGER,
    fault TEXT,
    backup TEXT,
    backup_action TEXT,
    served INTEGER,
    arrived REAL,
    answered REAL
);
"""

HTML_PAGE = (
    '<html>\r\n<head><title>{line}</title></head>\r\n'
    '<body>\r\n<center><h1>{line}</h1></center>\r\n'
    '<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n')


# IMS's error codes for a delete and the messages IMS sends with them
# (the IMS API reference's Error Codes).
IMS_ERRORS = {
    'IMG.0028': 'The image is protected and cannot be deleted.',
    'IMG.0060': 'The request exceeds the flow control limit.',
    'IMG.0090': 'The image is being created and cannot be deleted.',
    'IMG.0092': 'Only the image owner can delete the image.',
    'IMG.0094': 'Public images cannot be deleted.',
    'IMG.0176': 'Failed to delete the backup of the full-ECS image.',
}
# The code whose answer follows the image's own deletion.
_AFTER_DELETE = 'IMG.0176'


class State:
    """The layer's registry: backups, faults and the request record."""

    def __init__(self, path):
        self.path = path
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute('PRAGMA journal_mode=WAL')
        db.row_factory = sqlite3.Row
        return _Closing(db)

    # -- backups ----------------------------------------------------------

    def add_backup(self, backup_id):
        with self._connect() as db:
            db.execute('INSERT OR REPLACE INTO backups (id, status) '
                       "VALUES (?, 'available')", (backup_id,))

    def backup_status(self, backup_id):
        """'available', 'deleted', or None if never registered."""
        with self._connect() as db:
            row = db.execute('SELECT status FROM backups WHERE id = ?',
                             (backup_id,)).fetchone()
        return row['status'] if row else None

    def delete_backup(self, backup_id):
        with self._connect() as db:
            cur = db.execute("UPDATE backups SET status = 'deleted' "
                             "WHERE id = ? AND status = 'available'",
                             (backup_id,))
            return cur.rowcount == 1

    # -- faults -----------------------------------------------------------

    def set_fault(self, image_id, kind, status=503, count=-1, delay=0.0,
                  retry_after=None):
        """Answer DELETEs of ``image_id`` with a fault.

        :param kind: ``status`` (a JSON error with ``status``), ``html``
            (an HTML page with ``status``), ``drop`` (close the connection
            before Glance sees the request), ``lost`` (let Glance delete,
            then close the connection without an answer), ``vanish``
            (delete the image behind the caller's back, then let Glance
            answer the request: 404) or ``delay`` (sleep ``delay``
            seconds, then let Glance answer).
        :param count: for this many attempts, then normal; -1 for always.
        :param retry_after: with ``status``/``html``, the value of a
            ``Retry-After`` header (e.g. ``'86400'``); None for none.
        """
        self.set_faults([image_id], kind, status=status, count=count,
                        delay=delay, retry_after=retry_after)

    def set_faults(self, image_ids, kind, status=503, count=-1, delay=0.0,
                   retry_after=None, code=None):
        if kind not in _FAULT_KINDS:
            raise ValueError('unknown fault kind %r' % kind)
        if (kind == 'ims') != (code is not None) or (
                code is not None and code not in IMS_ERRORS):
            raise ValueError('an ims fault needs one of %s' % sorted(
                IMS_ERRORS))
        delay = min(float(delay), _MAX_DELAY)
        retry_after = None if retry_after is None else str(retry_after)
        with self._connect() as db:
            db.execute('BEGIN')
            db.executemany(
                'INSERT OR REPLACE INTO faults (image_id, kind, status, '
                'remaining, delay, retry_after, code) '
                'VALUES (?, ?, ?, ?, ?, ?, ?)',
                [(i, kind, status, count, delay, retry_after, code)
                 for i in image_ids])
            db.execute('COMMIT')

    def set_ims_error(self, image_id, code, status=400, count=-1,
                      retry_after=None):
        """Answer DELETEs of ``image_id`` with IMS's error ``code``.

        For ``count`` attempts (-1: always); see the ``ims`` fault kind.
        """
        self.set_faults([image_id], 'ims', status=status, count=count,
                        retry_after=retry_after, code=code)

    def clear_faults(self):
        with self._connect() as db:
            db.execute('DELETE FROM faults')

    def take_fault(self, image_id):
        """The fault for this attempt, consuming one of its count."""
        with self._connect() as db:
            db.execute('BEGIN IMMEDIATE')
            try:
                row = db.execute('SELECT * FROM faults WHERE image_id = ?',
                                 (image_id,)).fetchone()
                if row is None or row['remaining'] == 0:
                    return None
                if row['remaining'] > 0:
                    db.execute('UPDATE faults SET remaining = remaining - 1 '
                               'WHERE image_id = ?', (image_id,))
                return dict(row)
            finally:
                db.execute('COMMIT')

    # -- images still shown after their delete ---------------------------

    def linger(self, image_id, doc, seconds):
        with self._connect() as db:
            db.execute('INSERT OR REPLACE INTO lingering (image_id, doc, '
                       'until) VALUES (?, ?, ?)',
                       (image_id, doc, time.time() + seconds))

    def lingering(self, image_id):
        """The document still shown for a deleted image, or None."""
        with self._connect() as db:
            row = db.execute('SELECT doc FROM lingering WHERE image_id = ? '
                             'AND until > ?',
                             (image_id, time.time())).fetchone()
        return row['doc'] if row else None

    # -- flags ------------------------------------------------------------

    def set_flag(self, name, value):
        """Set a switch the layer reads on every request; None clears it.

        ``root_status``: the status (e.g. 404) that ``GET /`` and ``GET
        /versions`` get on the IMS ports instead of the version document.
        """
        with self._connect() as db:
            if value is None:
                db.execute('DELETE FROM flags WHERE name = ?', (name,))
            else:
                db.execute('INSERT OR REPLACE INTO flags (name, value) '
                           'VALUES (?, ?)', (name, str(value)))

    def flag(self, name):
        with self._connect() as db:
            row = db.execute('SELECT value FROM flags WHERE name = ?',
                             (name,)).fetchone()
        return row['value'] if row else None

    # -- the record -------------------------------------------------------

    def record(self, **event):
        """Write a whole event (arrived and answered); return its seq."""
        event.setdefault('arrived', time.time())
        event.setdefault('answered', time.time())
        return self.arrive(**event)

    def arrive(self, **event):
        """Write the event of a request that arrived; return its seq."""
        event.setdefault('arrived', time.time())
        keys = sorted(event)
        with self._connect() as db:
            cur = db.execute('INSERT INTO events (%s) VALUES (%s)' % (
                ', '.join(keys), ', '.join('?' * len(keys))),
                [event[k] for k in keys])
            return cur.lastrowid

    def answer(self, seq, **fields):
        """Complete an arrived event with what it was answered."""
        fields.setdefault('answered', time.time())
        keys = sorted(fields)
        with self._connect() as db:
            db.execute('UPDATE events SET %s WHERE seq = ?' % ', '.join(
                '%s = ?' % k for k in keys),
                [fields[k] for k in keys] + [seq])

    def last_seq(self):
        with self._connect() as db:
            row = db.execute('SELECT MAX(seq) AS s FROM events').fetchone()
        return row['s'] or 0

    def events(self, since=0, method=None, everything=False):
        """Recorded requests after ``since``, in arrival order.

        Only those under ``/v2/images`` unless ``everything``. A request
        still in flight has ``status`` None; ``status`` 0 means the
        connection was closed without an answer (``served`` then holds
        what Glance answered, if it was asked).
        """
        query = 'SELECT * FROM events WHERE seq > ?'
        args = [since]
        if method:
            query += ' AND method = ?'
            args.append(method)
        if not everything:
            query += " AND path LIKE '/v2/images%'"
        with self._connect() as db:
            rows = db.execute(query + ' ORDER BY seq', args).fetchall()
        return [dict(r) for r in rows]


class _Closing:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        return self.db

    def __exit__(self, *exc):
        self.db.close()


def _json_error(status, message, code=None):
    """(status line, headers, chunks) of an IMS-style JSON error."""
    body = json.dumps({'error': {'code': code or 'IMS.%04d' % status,
                                 'message': message}}).encode()
    return ('%d %s' % (status, _REASONS.get(status, 'Error')),
            [('Content-Type', 'application/json'),
             ('Content-Length', str(len(body)))], [body])


_FAULT_KINDS = ('status', 'html', 'drop', 'lost', 'vanish', 'delay',
                'linger', 'ims')
_IMAGE = re.compile(r'\A/v2/images/([^/]+)\Z')
_ROOT_PATHS = ('', '/', '/versions')

_REASONS = {400: 'Bad Request',
            500: 'Internal Server Error', 502: 'Bad Gateway',
            503: 'Service Unavailable', 504: 'Gateway Timeout',
            429: 'Too Many Requests', 404: 'Not Found'}


class IMSLayer:
    """WSGI middleware: IMS's delete_backup and faults on Glance."""

    def __init__(self, app, state_path=None, plain_ports=None):
        self.app = app
        self.state = State(state_path or os.environ['IMS_LAYER_STATE'])
        if plain_ports is None:
            plain_ports = os.environ.get('IMS_LAYER_PLAIN_PORTS', '')
            plain_ports = [p for p in plain_ports.split(',') if p]
        self.plain_ports = set(str(p) for p in plain_ports)
        self._write_lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        method = environ.get('REQUEST_METHOD', '')
        port = environ.get('SERVER_PORT', '')
        mode = 'plain' if port in self.plain_ports else 'ims'
        event = {'method': method, 'path': path, 'mode': mode,
                 'query': environ.get('QUERY_STRING', ''),
                 'port': int(port) if port.isdigit() else None}
        match = _DELETE.match(path)
        if method == 'DELETE' and match:
            event['image_id'] = match.group(1)
        seq = self.state.arrive(**event)
        outcome = {}
        try:
            status, headers, chunks = self._handle(
                environ, mode, match if method == 'DELETE' else None,
                outcome)
        except _Drop:
            self._drop(environ)
            outcome['status'] = 0
            self.state.answer(seq, **outcome)
            # Nothing reaches the client; the server logs the failed write.
            start_response('500 Internal Server Error',
                           [('Content-Length', '0')])
            return []
        except BaseException:
            outcome['status'] = -1
            self.state.answer(seq, **outcome)
            raise
        outcome['status'] = int(status.split()[0])
        self.state.answer(seq, **outcome)
        start_response(status, headers)
        return chunks

    def _handle(self, environ, mode, match, outcome):
        """(status, headers, chunks) for one request, or raise _Drop."""
        if (mode == 'ims' and environ.get('PATH_INFO', '') in _ROOT_PATHS
                and environ.get('REQUEST_METHOD') in ('GET', 'HEAD')):
            root_status = self.state.flag('root_status')
            if root_status:
                outcome['fault'] = 'root'
                return _json_error(
                    int(root_status), 'no version document here '
                    '(injected fault: only /v2/... is served)')
        if not match:
            shown = _IMAGE.match(environ.get('PATH_INFO', ''))
            if (shown and mode == 'ims' and
                    environ.get('REQUEST_METHOD') == 'GET'):
                doc = self.state.lingering(shown.group(1))
                if doc is not None:
                    outcome['fault'] = 'linger'
                    body = doc.encode()
                    return ('200 OK',
                            [('Content-Type', 'application/json'),
                             ('Content-Length', str(len(body)))], [body])
            return self._glance(environ)

        body = self._read_body(environ)
        outcome['body'] = body.decode('utf-8', 'replace') if body else None
        if mode == 'plain':
            environ['wsgi.input'] = io.BytesIO(body)
            return self._glance(environ)

        fault = self.state.take_fault(match.group(1))
        kind = fault['kind'] if fault else None
        shown = None
        if fault:
            outcome['fault'] = kind
            if kind == 'delay':
                time.sleep(fault['delay'])
            elif kind == 'drop':
                raise _Drop()
            elif kind == 'vanish':
                self._vanish(environ)
            elif kind in ('status', 'html'):
                return _error_reply(fault)
            elif kind == 'linger':
                shown = self._document(environ)
            elif kind == 'ims' and fault['code'] != _AFTER_DELETE:
                return _error_reply(fault)

        delete_backup = _delete_backup(body)
        if delete_backup is None:
            # No body, or not IMS's: Glance answers (400 for any body).
            environ['wsgi.input'] = io.BytesIO(body)
            answer = self._glance(environ)
        else:
            _no_body(environ)
            backup = self._backup_of(environ)
            outcome['backup'] = backup
            answer = self._glance(environ)
            if answer[0].startswith('204') and backup:
                if delete_backup and kind == 'ims':
                    # IMG.0176: IMS failed to delete it.
                    outcome['backup_action'] = 'failed'
                elif delete_backup:
                    self.state.delete_backup(backup)
                    outcome['backup_action'] = 'deleted'
                else:
                    outcome['backup_action'] = 'kept'
        if kind == 'linger' and answer[0].startswith('204') and shown:
            shown['status'] = 'pending_delete'
            self.state.linger(match.group(1), json.dumps(shown),
                              fault['delay'])
        if kind == 'ims' and answer[0].startswith('204'):
            # IMG.0176: the image went; its backup did not.
            outcome['served'] = 204
            return _error_reply(fault)
        if kind == 'lost':
            # The work is done; the answer never leaves.
            outcome['served'] = int(answer[0].split()[0])
            raise _Drop()
        return answer

    # -- helpers ----------------------------------------------------------

    def _glance(self, environ):
        if environ.get('REQUEST_METHOD') in ('GET', 'HEAD'):
            return self._call(self.app, environ)
        with self._write_lock:
            return self._call(self.app, environ)

    @staticmethod
    def _call(app, environ):
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured['status'] = status
            captured['headers'] = headers

        result = app(environ, start_response)
        try:
            chunks = [b''.join(result)]
        finally:
            if hasattr(result, 'close'):
                result.close()
        return captured['status'], captured['headers'], chunks

    @staticmethod
    def _read_body(environ):
        stream = environ.get('wsgi.input')
        if stream is None:
            return b''
        length = environ.get('CONTENT_LENGTH')
        if length:
            try:
                length = int(length)
            except ValueError:
                length = 0
            return stream.read(min(length, _MAX_BODY)) if length > 0 else b''
        if 'chunked' in environ.get('HTTP_TRANSFER_ENCODING', '').lower():
            return stream.read(_MAX_BODY)
        return b''

    def _backup_of(self, environ):
        """The image's backup ID if it is a full-ECS image, or None.

        Looked up as the caller, so a refused caller learns nothing.
        """
        image = self._document(environ) or {}
        if str(image.get('__whole_image', '')).lower() != 'true':
            return None
        return image.get('__backup_id') or None

    def _document(self, environ):
        """The image's document as the caller sees it, or None."""
        get = dict(environ)
        get['REQUEST_METHOD'] = 'GET'
        get['wsgi.input'] = io.BytesIO(b'')
        get['QUERY_STRING'] = ''
        status, headers, chunks = self._glance(get)
        if not status.startswith('200'):
            return None
        try:
            image = json.loads(b''.join(chunks))
        except ValueError:
            return None
        return image if isinstance(image, dict) else None

    def _vanish(self, environ):
        """Delete the image as the caller, with no body (backup stays)."""
        gone = dict(environ)
        _no_body(gone)
        gone['QUERY_STRING'] = ''
        self._glance(gone)

    @staticmethod
    def _drop(environ):
        sock = environ.get('gunicorn.socket')
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Drop(Exception):
    """Close the connection without an answer."""


def _no_body(environ):
    for key in ('CONTENT_LENGTH', 'CONTENT_TYPE', 'HTTP_TRANSFER_ENCODING'):
        environ.pop(key, None)
    environ['wsgi.input'] = io.BytesIO(b'')


def _error_reply(fault):
    status = fault['status']
    reason = _REASONS.get(status, 'Error')
    if fault['kind'] == 'html':
        line = '%d %s' % (status, reason)
        body = HTML_PAGE.format(line=line).encode()
        headers = [('Content-Type', 'text/html'),
                   ('Content-Length', str(len(body)))]
    elif fault['kind'] == 'ims':
        line, headers, body = _json_error(
            status, IMS_ERRORS[fault['code']], fault['code'])
        body = body[0]
        # As IMS behind Huawei Cloud's API gateway: every answer has one.
        headers.append(('X-Request-Id', uuid.uuid4().hex))
    else:
        line, headers, body = _json_error(
            status, 'Injected fault: the image service is busy, try again '
            'later.')
        body = body[0]
    if fault.get('retry_after') is not None:
        headers.append(('Retry-After', fault['retry_after']))
    return line, headers, [body]


def _delete_backup(body):
    """True/False for exactly ``{"delete_backup": <bool>}``, else None."""
    if not body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if (isinstance(doc, dict) and list(doc) == ['delete_backup'] and
            isinstance(doc['delete_backup'], bool)):
        return doc['delete_backup']
    return None
