#!/usr/bin/env python3
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

"""The cases of issue 21, each run on engine.Deletion and a real
keystoneauth Session against the unit tests' fake service.

For each case it prints the arguments and options, what the service
recorded (requests, images deleted) and the lines the command prints.
To compare with another version of the engine, put that version's
``ims_osc_plugin`` first on ``PYTHONPATH`` with this version's
``tests/unit/fake_service.py`` and ``fakes.py`` in it. Run it with the
unit tests' Python:

    .tox/py3/bin/python tools/trust_cases.py [CASE ...]
"""

import logging
import sys
import threading
import time
import traceback

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint

from ims_osc_plugin import client
from ims_osc_plugin import engine
from ims_osc_plugin.tests.unit import fake_service
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin.v2 import messages

U = 'abcdef01-beef-4a0c-8d0e-0000c0ffee01'
V = 'abcdef02-beef-4a0c-8d0e-0000c0ffee02'
W = 'abcdef03-beef-4a0c-8d0e-0000c0ffee03'
B = 'abcdef09-beef-4a0c-8d0e-0000c0ffee09'
TYPO = 'abcdef07-beef-4a0c-8d0e-0000c0ffee07'
TIMEOUT = 30


def image(image_id, name, **extra):
    return dict(fakes.image(name), id=image_id, **extra)


# name: (what, images, arguments, service settings, Deletion settings)
CASES = {
    'lost-502-then-name': (
        'image delete <U>: U deleted, the 502 after it; B is named U',
        [image(U, 'u'), image(B, U)], [U],
        {'faults': {0: ('acted_status', 502, None)}}, {}),
    'lost-drop-then-name': (
        'image delete <U>: U deleted, the connection drops; B is named U',
        [image(U, 'u'), image(B, U)], [U],
        {'faults': {0: ('drop_after',)}}, {}),
    'lost-then-ctrl-c': (
        'image delete <U>: U deleted, 504; Ctrl-C during the name lookup',
        [image(U, 'u'), image(B, U)], [U],
        {'faults': {0: ('acted_status', 504, None)}, 'stop_at': 2}, {}),
    'nested-json-text': (
        'image delete <U> <V>: U answered 500, 200,000 "[" as text/plain',
        [image(U, 'u'), image(V, 'v')], [U, V],
        {'faults': {0: ('body', 'nested-huge', 500, False)}}, {}),
    'nested-json': (
        'image delete <U>: 500, 60,000 "[" as application/json',
        [image(U, 'u')], [U],
        {'faults': {0: ('body', 'nested-json', 500, False)}}, {}),
    'angles': (
        'image delete <U>: 500, 200 KB of "<" as text/html',
        [image(U, 'u')], [U],
        {'faults': {0: ('body', 'angles', 500, False)}}, {}),
    'worker-crash': (
        'image delete u v: the first lookup\'s task raises',
        [image(U, 'u'), image(V, 'v')], ['u', 'v'],
        {'faults': {0: ('crash',)}}, {}),
    'tls-after-send': (
        'image delete <U>: U deleted, TLS error reading the answer',
        [image(U, 'u')], [U], {'faults': {0: ('tls_after',)}}, {}),
    'tls-after-send-backup': (
        'image delete --delete-backup u: the same, full-ECS image',
        [image(U, 'u', __whole_image='true', __backup_id='bk-1')], ['u'],
        {'faults': {1: ('tls_after',)}}, {'delete_backup': True}),
    'login-page-200': (
        'image delete <U>: a proxy answers 200 with a login page',
        [image(U, 'u')], [U], {'faults': {0: ('answer', '200-login')}}, {}),
    'accepted-202': (
        'image delete <U>: 202 Accepted',
        [image(U, 'u')], [U], {'faults': {0: ('answer', '202-accepted')}},
        {}),
    'ids-differing-in-case': (
        'image delete <u> <U upper>: IDs compared with case; B is named U',
        [image(U, 'u'), image(B, U.upper())], [U, U.upper()],
        {'ids_without_case': False}, {}),
    'typo-among-ids': (
        'image delete <U> <typo> <V>: the typo is a UUID no image has',
        [image(U, 'u'), image(V, 'v')], [U, TYPO, V], {}, {}),
    'escaping': (
        'image delete: names with U+202E, the six characters "\\u202e", '
        'U+200B, U+3164, U+2800, 300 characters',
        [image(U, 'a\u202eb'), image(V, 'a\\u202eb'), image(W, 'z\u200b'),
         image(B, '\u3164\u2800'),
         image(TYPO, 'x' * 197 + '...')],
        ['a\u202eb', 'a\\u202eb', 'z\u200b', '\u3164\u2800', 'x' * 300,
         'x' * 197 + '...'],
        {}, {}),
    'debug-log': (
        'image delete --debug <U>: 409 whose message holds escapes',
        [image(U, 'u')], [U], {'faults': {0: ('answer', '409')}}, {},
    ),
}


def run(name):
    what, docs, arguments, service_settings, settings = CASES[name]
    service = fake_service.FakeImageService(docs, **service_settings)
    session = ks_session.Session(
        auth=token_endpoint.Token(fakes.IMAGE_URL_V2, fakes.TOKEN))
    session.session.mount('https://', service)
    ims = client.ImageClient.from_session(session)
    ims._wait = lambda seconds: None
    deletion = engine.Deletion(ims, arguments, **settings)
    service.deletion = deletion
    logged = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = logging.getLogger('ims_osc_plugin.client')
    if name == 'debug-log':
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    lines, errors = [], []
    started = time.monotonic()

    def consume():
        try:
            for job in deletion.run():
                for _level, line in messages.result_lines(
                        job, settings.get('delete_backup')):
                    lines.append(line)
        except BaseException as e:  # noqa: B902 - shown as the outcome
            errors.append(''.join(traceback.format_exception_only(
                type(e), e)).strip()[:200])

    runner = threading.Thread(target=consume, daemon=True)
    runner.start()
    runner.join(TIMEOUT)
    took = time.monotonic() - started
    logger.removeHandler(handler)
    print('== %s: %s' % (name, what))
    print('   arguments: %s' % ' '.join(repr(a)[:60] for a in arguments))
    print('   service: requests %s' % ['%s %s' % (m, u.split('/v2')[-1][:60])
                                       for m, u in service.requests][:12])
    print('   service: deleted %s' % service.deleted)
    for line in lines:
        print('   > %s' % line[:400])
    for error in errors:
        print('   raised out of the run: %s' % error)
    if runner.is_alive():
        print('   the run did not end within %d s' % TIMEOUT)
    if took > 1:
        print('   took %.1f s' % took)
    for line in logged:
        if 'RESP BODY' in line or 'RESP:' in line:
            print('   debug: %r' % line[:200])
    print()


def main():
    for name in sys.argv[1:] or CASES:
        run(name)


if __name__ == '__main__':
    main()
