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
- answers chosen images' DELETEs with faults: a status (503, 500, ...)
  for the first K attempts or always, an HTML error page, a dropped
  connection, or a delay;
- records every request under ``/v2/images`` (method, path, port, status)
  so the tests can tell what reached the server;
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
    delay REAL NOT NULL DEFAULT 0
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
    backup_action TEXT
);
"""

HTML_PAGE = (
    '<html>\r\n<head><title>{line}</title></head>\r\n'
    '<body>\r\n<center><h1>{line}</h1></center>\r\n'
    '<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n')


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

    def set_fault(self, image_id, kind, status=503, count=-1, delay=0.0):
        """Answer DELETEs of ``image_id`` with a fault.

        :param kind: ``status`` (a JSON error with ``status``), ``html``
            (an HTML page with ``status``), ``drop`` (close the connection)
            or ``delay`` (sleep ``delay`` seconds, then let Glance answer).
        :param count: for this many attempts, then normal; -1 for always.
        """
        with self._connect() as db:
            db.execute(
                'INSERT OR REPLACE INTO faults '
                '(image_id, kind, status, remaining, delay) '
                'VALUES (?, ?, ?, ?, ?)',
                (image_id, kind, status, count, min(delay, _MAX_DELAY)))

    def set_faults(self, image_ids, kind, status=503, count=-1):
        with self._connect() as db:
            db.execute('BEGIN')
            db.executemany(
                'INSERT OR REPLACE INTO faults '
                '(image_id, kind, status, remaining, delay) '
                'VALUES (?, ?, ?, ?, 0)',
                [(i, kind, status, count) for i in image_ids])
            db.execute('COMMIT')

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

    # -- the record -------------------------------------------------------

    def record(self, **event):
        keys = sorted(event)
        with self._connect() as db:
            db.execute('INSERT INTO events (%s) VALUES (%s)' % (
                ', '.join(keys), ', '.join('?' * len(keys))),
                [event[k] for k in keys])

    def last_seq(self):
        with self._connect() as db:
            row = db.execute('SELECT MAX(seq) AS s FROM events').fetchone()
        return row['s'] or 0

    def events(self, since=0, method=None):
        query = 'SELECT * FROM events WHERE seq > ?'
        args = [since]
        if method:
            query += ' AND method = ?'
            args.append(method)
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


def _json_error(status, reason, message):
    body = json.dumps({'error': {'code': 'IMS.%04d' % status,
                                 'message': message}}).encode()
    return ('%d %s' % (status, reason),
            [('Content-Type', 'application/json'),
             ('Content-Length', str(len(body)))], body)


_REASONS = {500: 'Internal Server Error', 502: 'Bad Gateway',
            503: 'Service Unavailable', 504: 'Gateway Timeout',
            429: 'Too Many Requests'}


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
        if not path.startswith('/v2/images'):
            return self.app(environ, start_response)
        event = {'method': method, 'path': path, 'mode': mode,
                 'query': environ.get('QUERY_STRING', ''),
                 'port': int(port) if port.isdigit() else None}
        match = _DELETE.match(path)
        if method != 'DELETE' or not match:
            return self._forward(environ, start_response, event)
        image_id = match.group(1)
        event['image_id'] = image_id
        body = self._read_body(environ)
        event['body'] = body.decode('utf-8', 'replace') if body else None
        if mode == 'plain':
            environ['wsgi.input'] = io.BytesIO(body)
            return self._forward(environ, start_response, event)

        fault = self.state.take_fault(image_id)
        if fault:
            event['fault'] = fault['kind']
            answer = self._fault(fault, environ, start_response, event)
            if answer is not None:
                return answer

        delete_backup = _delete_backup(body)
        if delete_backup is None:
            # No body, or not IMS's: Glance answers (400 for any body).
            environ['wsgi.input'] = io.BytesIO(body)
            return self._forward(environ, start_response, event)

        for key in ('CONTENT_LENGTH', 'CONTENT_TYPE',
                    'HTTP_TRANSFER_ENCODING'):
            environ.pop(key, None)
        environ['wsgi.input'] = io.BytesIO(b'')
        backup = self._backup_of(environ)
        event['backup'] = backup
        status, headers, chunks = self._glance(environ)
        if status.startswith('204') and backup:
            if delete_backup:
                self.state.delete_backup(backup)
                event['backup_action'] = 'deleted'
            else:
                event['backup_action'] = 'kept'
        event['status'] = int(status.split()[0])
        self.state.record(**event)
        start_response(status, headers)
        return chunks

    # -- helpers ----------------------------------------------------------

    def _forward(self, environ, start_response, event):
        status, headers, chunks = self._glance(environ)
        event['status'] = int(status.split()[0])
        self.state.record(**event)
        start_response(status, headers)
        return chunks

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
        if str(image.get('__whole_image', '')).lower() != 'true':
            return None
        return image.get('__backup_id') or None

    def _fault(self, fault, environ, start_response, event):
        kind = fault['kind']
        status = fault['status']
        if kind == 'delay':
            time.sleep(fault['delay'])
            return None
        if kind == 'drop':
            sock = environ.get('gunicorn.socket')
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            event['status'] = 0
            self.state.record(**event)
            # Nothing reaches the client; the server logs the failed write.
            start_response('500 Internal Server Error',
                           [('Content-Length', '0')])
            return []
        reason = _REASONS.get(status, 'Error')
        if kind == 'html':
            line = '%d %s' % (status, reason)
            body = HTML_PAGE.format(line=line).encode()
            headers = [('Content-Type', 'text/html'),
                       ('Content-Length', str(len(body)))]
        else:
            line, headers, body = _json_error(
                status, reason, 'Injected fault: the image service is '
                'busy, try again later.')
        event['status'] = status
        self.state.record(**event)
        start_response(line, headers)
        return [body]


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
