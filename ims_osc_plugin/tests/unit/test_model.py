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

"""The deletion engine against a hostile image service, scenarios drawn by
hypothesis.

Each scenario draws images (colliding names, UUID-shaped names, hidden,
protected, other projects', full-ECS with backups, control characters),
the service's misbehaviour (see :mod:`fake_service`), the arguments and the
options, then runs :class:`ims_osc_plugin.engine.Deletion` on a real
keystoneauth Session and checks what must hold whatever happened:

- no DELETE reaches an image that no argument names as core OSC would
  find it (an ID match wins over a name; two images of one name name
  none), and a dry run sends none; every request stays on the image API;
- every "deleted" names an image the service deleted in this run and that
  its argument names, and a backup said deleted was deleted;
- every image the service deleted is reported deleted or unknown by each
  argument resolved to it, never failed or not attempted;
- "no image with this name or ID" and "more than one image has this name"
  are true of the images as they were; a name that two images have is
  never deleted; a UUID that no image has is "not found" when nothing
  went wrong; without faults, an image an argument names is deleted;
- the run ends, nothing raises out of it, every wait is bounded, each
  request is tried at most ``--retries`` + 1 times, no error body is read
  past its cap, and every line (and every ``--debug`` line) is printable,
  without invisible characters, and tells different arguments apart;
- a dry run promises no refusal the real run would not meet.

``IMS_MODEL_EXAMPLES`` sets how many scenarios run (the CI default below);
the seed is fixed (derandomize), so a run is repeatable.
"""

import importlib.util
import logging
import os
import re
import threading
import time
import unicodedata

import hypothesis
from hypothesis import strategies as st
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import testtools

from ims_osc_plugin import answers
from ims_osc_plugin import client
from ims_osc_plugin import engine
from ims_osc_plugin import images
from ims_osc_plugin import outcomes
from ims_osc_plugin.tests.unit import fake_service
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin.v2 import messages

EXAMPLES = int(os.environ.get('IMS_MODEL_EXAMPLES', '1000'))
RUN_TIMEOUT = 20
# A run takes milliseconds; an answer read in quadratic time, seconds.
SLOW = 1.5

# A small pool, so that IDs, UUID-shaped names and arguments collide. The
# first five can be images' IDs; the last three never are: as an argument
# one of them names nothing by ID. Their hex digits hold letters, so that
# case matters; the service writes them in lower case.
UUIDS = ['%08x-beef-4a0c-8d0e-%012x' % (0xabcdef00 + i, 0xc0ffee00 + i)
         for i in range(1, 9)]


def mixed_case(image_id):
    return image_id[:18].upper() + image_id[18:]


# Names that collide, escape sequences, bidi and zero-width characters, a
# name spelling an escape, fillers, and names cut when printed.
NAMES = ['a', 'A', 'b', 'in:a,b', 'a,b', 'in:a,zzz', 'web', 'web-1',
         '\x1b[31mred\x1b[0m', 'a\u202eb', 'a\\u202eb', 'a\u200b', '\u3164',
         'b\u2800', 'C:\\images',
         'x' * 195 + '\U000e0001', 'x' * 195 + '...']
UUID_NAMES = UUIDS[3:] + [UUIDS[1].upper(), mixed_case(UUIDS[2])]
OTHER_ARGUMENTS = UUIDS + ['', ' ', 'we', 'zzz', 'in:a,zzz', '\u3164',
                           'x' * 300, 'a\\b']
# Characters no line may show as they are: what cannot be seen, or looks
# like a space (an independent list, not answers.printable's).
INVISIBLE = frozenset('\u115f\u1160\u3164\uffa0\u2800')
RETRY_AFTERS = [None, '0', '1', '61', '-5', '9' * 400, '9' * 400, '9' * 400,
                'soon',
                '1.5',
                'Thu, 01 Jan 1970 00:00:00 GMT', '\u0663']


class RecordingClient(client.ImageClient):
    """The real client; its waits are recorded and checked, not slept."""

    def __init__(self, adapter):
        super().__init__(adapter)
        self.waits = []
        self.gate = fakes.InstantGate(self.waits)

    def _wait(self, seconds):
        self.waits.append(seconds)


@st.composite
def image_docs(draw):
    ids = draw(st.lists(st.sampled_from(UUIDS[:5]), min_size=1,
                        max_size=5, unique=True))
    docs = []
    for image_id in ids:
        # The first names often, so that names collide.
        doc = fakes.image(draw(st.one_of(st.sampled_from(NAMES[:3]),
                                         st.sampled_from(NAMES),
                                         st.sampled_from(UUID_NAMES))))
        doc['id'] = image_id
        if draw(st.booleans()):
            doc['owner'] = fake_service.PROJECT
        if draw(st.integers(0, 3)) == 0:
            doc['owner'] = 'theirs'
        if draw(st.integers(0, 5)) == 0:
            doc['protected'] = True
        if draw(st.integers(0, 3)) == 0:
            doc['os_hidden'] = True
        if draw(st.booleans()):
            doc['__whole_image'] = 'true'
            doc['__backup_id'] = draw(st.sampled_from(
                ['bk-%s' % image_id[:8], 'bk\x1b]0;title\x07']))
        docs.append(doc)
    return docs


# The fault kinds, errors answered with a status and lost answers drawn
# more often: most bugs take one of them.
FAULT_KINDS = sorted(fake_service.FAULTS) + ['status'] * 4 + [
    'acted_status', 'acted_status', 'drop_after', 'timeout_after', 'hang',
    'body', 'body', 'stop', 'crash', 'tls_after', 'answer', 'answer']


@st.composite
def faults(draw):
    kind = draw(st.sampled_from(FAULT_KINDS))
    if kind == 'status':
        return (kind, draw(st.sampled_from([429, 502, 503, 504])),
                draw(st.sampled_from(RETRY_AFTERS)))
    if kind == 'acted_status':
        return (kind, draw(st.sampled_from([502, 504])),
                draw(st.sampled_from(RETRY_AFTERS[:3])))
    if kind == 'answer':
        return (kind, draw(st.sampled_from(sorted(fake_service.ANSWERS))))
    if kind == 'body':
        # (Not 404: a 404 for an image that exists would make "not found"
        # a lie no client can see through.)
        status = draw(st.sampled_from([400, 500, 502, 502, 504]))
        return (kind, draw(st.sampled_from(sorted(fake_service.BODIES))),
                status, status in (502, 504) and draw(st.integers(0, 2)) > 0)
    return (kind,)


@st.composite
def fault_plans(draw):
    """Faults by request: a few anywhere, and a burst on successive tries.

    Keys are request numbers or ('DELETE', n), the n-th DELETE. A burst
    meets one request and its retries (a lost answer, then a 404 or
    another error), where most bugs are.
    """
    if draw(st.booleans()):
        return {}
    plan = draw(st.dictionaries(
        st.one_of(st.integers(0, 7), st.integers(0, 7), st.integers(0, 40),
                  st.tuples(st.just('DELETE'), st.integers(0, 3))),
        faults(), max_size=3))
    if draw(st.integers(0, 2)) > 0:
        # A retry meets another fault, a status, or a first Ctrl-C.
        retried = st.one_of(
            faults(), st.just(('stop',)),
            st.tuples(st.just('status'), st.sampled_from([429, 503]),
                      st.sampled_from(RETRY_AFTERS)))
        burst = [draw(faults())] + draw(st.lists(retried, max_size=2))
        if draw(st.integers(0, 2)) > 0:
            first = draw(st.sampled_from([0, 0, 1]))
            keys = [('DELETE', first + i) for i in range(len(burst))]
        else:
            first = draw(st.integers(0, 3))
            keys = [first + i for i in range(len(burst))]
        plan.update(zip(keys, burst))
    return plan


@st.composite
def scenarios(draw):
    docs = draw(image_docs())
    # Mostly what names the images (an ID in either case, a name, or an
    # image's name and ID one after the other), else anything of the pools.
    forms = [[d['id']] for d in docs] + [[d['id'].upper()] for d in docs] + [
        [mixed_case(d['id'])] for d in docs] + [
        [d['name']] for d in docs] + [[d['name'], d['id']] for d in docs] * 2
    picks = draw(st.lists(
        st.one_of(st.sampled_from(forms), st.sampled_from(forms),
                  st.sampled_from(OTHER_ARGUMENTS).map(lambda arg: [arg]),
                  st.sampled_from(NAMES).map(lambda arg: [arg])),
        min_size=1, max_size=4))
    arguments = [arg for pick in picks for arg in pick][:6]
    admin, roles_known = draw(st.sampled_from(
        [(True, True), (False, True), (True, False), (False, False)]))
    malformed = {}
    for doc in docs:
        if draw(st.integers(0, 7)) == 0:
            malformed[doc['id']] = draw(st.sampled_from(
                ['int id', 'no id', 'int name', 'not an object',
                 'string protected']))
    scenario = {
        'docs': docs,
        'arguments': arguments,
        'name_filter': draw(st.sampled_from(
            ['exact', 'nocase', 'in', 'prefix', 'all'])),
        'page_size': draw(st.integers(1, 4)),
        'malformed': malformed,
        # Faults on the first requests mostly, but on any request.
        'faults': draw(fault_plans()),
        'pagination': draw(st.sampled_from(
            fake_service.PAGINATION + ('repeat',) + (None,) * 5)),
        'debug': draw(st.integers(0, 5)) == 0,
        'stop_at': draw(st.one_of(st.none(), st.none(),
                                  st.integers(0, 14))),
        # The token's roles, and whether the command is told them.
        'admin': admin,
        'ids_without_case': draw(st.booleans()),
        'delete_backup': draw(st.sampled_from(
            [None, None, None, True, False])),
        'dry_run': draw(st.integers(0, 3)) == 0,
        'workers': draw(st.sampled_from([1, 1, 3])),
        'retries': draw(st.sampled_from([None, 0, 1, 1, 2])),
        'roles_known': roles_known,
    }
    focus = draw(st.sampled_from(FOCUS))
    if focus is not None:
        FOCUSED[focus](draw, scenario)
    return scenario


# Half the scenarios are drawn as above; the other half each put one kind
# of trouble in front of the engine, where the bugs of that kind are: the
# rate at which a scenario finds each mutant (tools/model_mutants.py
# --rate) is then well above 1 in 100, not a lucky draw.
# (hypothesis draws the first entry more often than the others.)
FOCUS = ['acting'] * 3 + ['forms', 'forms', 'bodies', 'bodies', 'hidden',
                          'hidden', 'pages', 'pages', 'dry', 'dry'] + [
                              None] * 3


def quiet(scenario):
    """No faults, stops or malformed answers: only what the focus adds."""
    scenario.update(faults={}, malformed={}, stop_at=None, pagination=None)


def more_docs(draw, docs, count, name=None):
    """At least ``count`` images (new ones with unused IDs)."""
    free = [i for i in UUIDS[:5] if i not in {d['id'] for d in docs}]
    for image_id in free[:max(0, count - len(docs))]:
        doc = fakes.image(name if name is not None else draw(
            st.sampled_from(NAMES[:3])))
        doc['id'] = image_id
        docs.append(doc)


# The first fault of focus_acting's DELETE: each ends a try after the
# service may have acted (or ends the task, or the run).
LOST = [('body', 'nested-json', 502, True), ('tls_after',),
        ('answer', '200-login'), ('acted_status', 502, None),
        ('drop_after',), ('timeout_after',), ('acted_status', 504, '1'),
        ('body', 'nested-text', 504, True), ('body', 'angles', 502, True),
        ('body_drop',), ('hang',), ('crash',), ('tls_after',),
        ('status', 503, '9' * 400)]


def focus_acting(draw, scenario):
    """The path most of issue 21's bugs were on.

    An ID (an image's, or a UUID no image has), without options, deleted
    without a lookup, and its DELETE meets a fault after which the service
    may have acted, then its retries more (or none: a typo's "not found").
    """
    quiet(scenario)
    first = draw(st.sampled_from([scenario['docs'][0]['id']] * 3 +
                                 UUIDS[5:6]))
    scenario.update(
        arguments=[first] + scenario['arguments'][:3], delete_backup=None,
        dry_run=False, retries=draw(st.sampled_from([1, None, 2])))
    if draw(st.integers(0, 2)) == 0:
        # Alone: a first Ctrl-C during the lookup after a lost answer and
        # a 404 (requests 0 and 1 its DELETE's tries, 2 its lookup).
        scenario.update(arguments=[first], stop_at=draw(
            st.sampled_from([None, 2, 2, 3])))
    # (A status after a lost answer: two kinds of retries.)
    retried = st.one_of(st.tuples(
        st.just('status'), st.sampled_from([429, 503]),
        st.sampled_from(RETRY_AFTERS[:3])), faults(), st.just(('stop',)))
    burst = [draw(st.sampled_from(LOST))] + draw(
        st.lists(retried, max_size=2))
    # (hypothesis draws 0 more often than the others.)
    if draw(st.integers(0, 4)) >= 3:
        burst = []
    scenario['faults'] = {('DELETE', i): fault
                          for i, fault in enumerate(burst)}


def focus_forms(draw, scenario):
    """One image named by arguments in several forms, nothing else wrong.

    Its ID in other cases, and another image named like a UUID: a UUID no
    image has, or the first image's ID in another case (on a service that
    compares IDs with case, that names the other image). That name comes
    first: its DELETE by ID finds nothing, then its lookup by name finds an
    image a later argument deletes by ID.
    """
    docs = scenario['docs']
    quiet(scenario)
    more_docs(draw, docs, 2)
    first, other = docs[0], docs[-1]
    other['name'] = draw(st.sampled_from(
        UUIDS[5:] + [first['id'].upper(), mixed_case(first['id'])]))
    variants = [first['id'], first['id'].upper(), mixed_case(first['id']),
                other['id'], other['name'], UUIDS[7]]
    scenario.update(
        arguments=[other['name'], draw(st.sampled_from(
            [first['id'], other['id']]))] + draw(
            st.lists(st.sampled_from(variants), max_size=2)),
        ids_without_case=draw(st.booleans()),
        # One worker: the name's DELETE and lookup come before the ID's
        # DELETE, whatever the machine's load.
        workers=1, dry_run=False,
        delete_backup=draw(st.sampled_from([None] * 3 + [False])))


def focus_hidden(draw, scenario):
    """Images of one name, hidden or not; that name as an argument."""
    docs = scenario['docs']
    quiet(scenario)
    count = draw(st.integers(2, 3))
    more_docs(draw, docs, count)
    name = docs[0]['name']
    for doc in docs[:count]:
        # Deletable: a refused delete would hide a wrong choice.
        doc.update(name=name, protected=False, owner=fake_service.PROJECT,
                   os_hidden=draw(st.integers(0, 4)) < 4)
    scenario.update(arguments=[name] * draw(st.integers(1, 2)),
                    delete_backup=draw(st.sampled_from([None, True, False])))


def focus_dry(draw, scenario):
    """A dry run by a token whose roles the command knows."""
    docs = scenario['docs']
    for doc in docs:
        if draw(st.booleans()):
            doc['owner'] = 'theirs'
    scenario.update(dry_run=True, roles_known=True,
                    admin=draw(st.sampled_from([True, True, False])),
                    arguments=draw(st.lists(st.sampled_from(
                        [d['id'] for d in docs] + [d['name'] for d in docs]),
                        min_size=1, max_size=3)) + scenario['arguments'][:2])


# Answers that are trouble when their body or a header is read, or that
# end a task or the run: each as likely as the others.
HOSTILE = [('status', 429, '9' * 400), ('body', 'angles', 500, False),
           ('body', 'huge', 502, False), ('body', 'nested-huge', 504, True),
           ('status', 503, '9' * 400), ('body', 'angles', 502, True),
           ('body', 'huge', 400, False), ('body', 'nested-json', 400, False),
           ('body', 'nested-text', 504, True), ('hang',), ('crash',),
           ('body', 'invalid-utf8', 500, False),
           ('body', 'invalid-utf8-text', 502, True), ('answer', '302'),
           ('answer', '401'), ('answer', '409'), ('answer', '410'),
           ('answer', '200-login'), ('answer', '202-accepted'),
           ('tls_after',), ('body_drop',)]


def focus_bodies(draw, scenario):
    """A hostile answer on the first requests, or on the first DELETE."""
    scenario.update(
        faults={draw(st.sampled_from([0, 1, ('DELETE', 0), ('DELETE', 0)])):
                draw(st.sampled_from(HOSTILE))},
        stop_at=None, debug=draw(st.integers(0, 5)) == 0)


def focus_pages(draw, scenario):
    """Names looked up in a listing of pages of one image."""
    docs = scenario['docs']
    quiet(scenario)
    more_docs(draw, docs, 3)
    scenario.update(
        pagination=draw(st.sampled_from(fake_service.PAGINATION[1:] + (
            'repeat',) * 3)),
        page_size=1, name_filter=draw(st.sampled_from(['all', 'prefix'])),
        arguments=draw(st.lists(st.sampled_from([d['name'] for d in docs]),
                                min_size=1, max_size=3)),
        delete_backup=draw(st.sampled_from([True, False, None])))


FOCUSED = {'acting': focus_acting, 'forms': focus_forms,
           'hidden': focus_hidden, 'bodies': focus_bodies,
           'pages': focus_pages, 'dry': focus_dry}


def acting_faults():
    """Faults after which the service may have acted, or that end a task."""
    return st.one_of(
        st.tuples(st.just('acted_status'), st.sampled_from([502, 504]),
                  st.sampled_from(RETRY_AFTERS[:3])),
        st.sampled_from([('drop_after',), ('timeout_after',),
                         ('tls_after',), ('body_drop',), ('crash',),
                         ('hang',)]),
        st.sampled_from([('answer', '200-login'), ('answer', '202-accepted'),
                         ('answer', '302')]),
        st.tuples(st.just('body'), st.sampled_from(
            ['nested-json', 'nested-text', 'angles', 'huge']),
            st.sampled_from([502, 504]), st.just(True)),
        st.tuples(st.just('status'), st.sampled_from([429, 503]),
                  st.sampled_from(RETRY_AFTERS)))


def run_scenario(scenario):
    """Run the engine on the scenario; return (service, jobs, client)."""
    service = fake_service.FakeImageService(
        scenario['docs'], name_filter=scenario['name_filter'],
        page_size=scenario['page_size'], malformed=scenario['malformed'],
        faults=scenario['faults'], stop_at=scenario['stop_at'],
        admin=scenario['admin'],
        ids_without_case=scenario['ids_without_case'],
        pagination=scenario['pagination'])
    session = ks_session.Session(
        auth=token_endpoint.Token(fakes.IMAGE_URL_V2, fakes.TOKEN))
    session.session.mount('https://', service)
    ims = RecordingClient(client.ImageClient.from_session(session)._adapter)
    ims.retries = scenario['retries']
    may_delete_others = scenario['admin'] if scenario['roles_known'] else (
        None)
    deletion = engine.Deletion(
        ims, scenario['arguments'], delete_backup=scenario['delete_backup'],
        dry_run=scenario['dry_run'], workers=scenario['workers'],
        project_id=fake_service.PROJECT,
        may_delete_others=may_delete_others)
    service.deletion = deletion
    jobs, raised = [], []
    debug = DebugLines() if scenario['debug'] else None

    def consume():
        try:
            jobs.extend(deletion.run())
        except BaseException as e:  # noqa: B902 - anything is a failure
            raised.append(e)

    started = time.monotonic()
    runner = threading.Thread(target=consume, daemon=True)
    runner.start()
    runner.join(RUN_TIMEOUT)
    ended = not runner.is_alive()
    ims.took = time.monotonic() - started
    # An abandoned request may still be running: let it end before the
    # service's record is read.
    service.release.set()
    deletion.join(RUN_TIMEOUT)
    if debug is not None:
        debug.close()
        ims.debug_lines = debug.lines
    return service, jobs, ims, ended, raised, deletion


class DebugLines(logging.Handler):
    """``--debug``: what keystoneauth logs of each request and answer."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []
        self._logger = client.HTTP_LOG
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)

    def emit(self, record):
        self.lines.append(record.getMessage())

    def close(self):
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        super().close()


def id_matches(scenario, arg, image_id):
    """Whether the service finds image ``image_id`` by ID ``arg``."""
    if not images.is_image_id(arg):
        return False
    if scenario['ids_without_case']:
        return arg.lower() == image_id.lower()
    return arg == image_id


def names(scenario, arg, doc):
    """Whether ``arg`` names ``doc``.

    By its ID as the service compares IDs, or by its exact name.
    """
    return id_matches(scenario, arg, doc['id']) or doc['name'] == arg


def invisible(char):
    category = unicodedata.category(char)
    return char in INVISIBLE or category in (
        'Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp') or (
        category == 'Zs' and char != ' ')


def names_uniquely(scenario, arg, docs):
    """The image ``arg`` names among ``docs``, as core OSC finds one.

    By ID, else by exact name (listed images before hidden ones); None if
    none or more than one.
    """
    by_id = [d for d in docs if id_matches(scenario, arg, d['id'])]
    if by_id:
        return by_id[0]
    for hidden in (False, True):
        named = [d for d in docs if d['name'] == arg and
                 bool(d.get('os_hidden')) == hidden]
        if len(named) > 1:
            return None
        if named:
            return named[0]
    return None


def check(scenario, service, jobs, ims, ended, raised):
    """Every property of the module's docstring; a list of violations."""
    docs = scenario['docs']
    args = scenario['arguments']
    problems = []

    def problem(text, *values):
        problems.append(text % values)

    if not ended:
        problem('the run did not end within %d s', RUN_TIMEOUT)
    if raised:
        problem('raised out of the run: %r', raised[0])
    if [j.arg for j in jobs] != args and ended and not raised:
        problem('jobs %r are not the arguments in order', jobs)
    deleted = {i.lower() for i in service.deleted}
    named_ids = {a.lower() for a in args if images.is_image_id(a)} | {
        d['id'].lower() for d in docs if d['name'] in args}
    for image_id in deleted - named_ids:
        problem('deleted image %s, which no argument named', image_id)
    # As core OSC finds them: an ID match wins; a name two images have
    # names none, unless the others of that name were deleted first by
    # this run (as core OSC, deleting one argument after the other, would).
    found = set()
    while True:
        left = [d for d in docs if d['id'].lower() not in found & deleted]
        more = {names_uniquely(scenario, a, view)['id'].lower()
                for a in args for view in (docs, left)
                if names_uniquely(scenario, a, view)}
        if more <= found:
            break
        found |= more
    for image_id in deleted - found:
        problem('deleted image %s, which no argument names as core OSC '
                'finds images', image_id)
    for method, url in service.requests:
        path = url.split('?')[0]
        if not path.startswith(fakes.IMAGE_URL_V2 + '/images') or (
                method == 'DELETE' and path.count('/') != 5):
            problem('sent %s %s, off the image API', method, url)
    deletes = [url for method, url in service.requests if method == 'DELETE']
    if scenario['dry_run'] and deletes:
        problem('a dry run sent DELETE %s', deletes[0])
    for url in deletes:
        target = url.rsplit('/', 1)[-1].lower()
        if target not in named_ids:
            problem('sent DELETE %s, which no argument named', url)
    for seconds in ims.waits:
        if not 0 <= seconds <= client.MAX_RETRY_WAIT:
            problem('waited %r s', seconds)
    retries = scenario['retries']
    if retries is None:
        # Connection and status retries, counted apart.
        retries = 2 * client.DEFAULT_RETRIES
    tries = {}
    for request in service.requests:
        tries[request] = tries.get(request, 0) + 1
    for request, count in tries.items():
        if count > retries + 1:
            problem('%s %s tried %d times with --retries %s',
                    request[0], request[1], count, scenario['retries'])
    for status, body in service.bodies:
        if status >= 300 and not scenario['debug'] and (
                body.read_bytes > answers.MAX_BODY + 64 * 1024):
            problem('read %d bytes of a %d answer\'s body', body.read_bytes,
                    status)
    if ims.took > SLOW and ended:
        problem('the run took %.1f s: an answer was read in unbounded '
                'time', ims.took)
    for line in getattr(ims, 'debug_lines', []):
        if any(invisible(c) for c in line.replace('\n', '')):
            problem('--debug logged %r', line[:300])
    for arg in args:
        check_printed(arg, problem)
    shown = {}
    for arg in args:
        whole = answers.printable(arg, None)
        if len(whole) <= 200:
            shown.setdefault(answers.printable(arg), set()).add(arg)
    for printed, same in shown.items():
        if len(same) > 1:
            problem('arguments %r all print as %r', sorted(same), printed)
    backups = set(service.backups_deleted)
    for backup in backups:
        owners = [d for d in docs if d.get('__backup_id') == backup and
                  d['id'].lower() in deleted]
        if not owners or scenario['delete_backup'] is not True:
            problem('backup %r deleted without its image and the flag',
                    backup)
    for job in jobs:
        check_job(scenario, job, deleted, backups, problem)
    # (A next link to another host or path, or without the filter, is
    # harmless: only its query is followed, with the filter.)
    clean = not (scenario['faults'] or scenario['malformed'] or
                 scenario['pagination'] == 'repeat' or
                 scenario['stop_at'] is not None)
    if clean and ended and not raised:
        check_clean(scenario, jobs, deleted, problem)
    for image_id in deleted:
        reporters = [j for j in jobs if j.image_id and
                     images.same_id(j.image_id, image_id)]
        if ended and not raised and not any(
                j.kind in (outcomes.DELETED, outcomes.UNKNOWN)
                for j in reporters):
            problem('image %s was deleted, and no argument says so or says '
                    'it may have been', image_id)
    return problems


# What printable() writes of a text it does not cut: characters other than
# a backslash, and escapes (an independent reading of its contract).
_UNCUT = re.compile(r'(?:[^\\]|\\\\|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|'
                    r'\\U[0-9a-f]{8}|\\[tnr])*\Z')


def check_printed(arg, problem):
    """An argument's print undoes to it, or is marked as cut."""
    printed = answers.printable(arg)
    if printed == answers.printable(arg, None):
        undone = printed.encode('latin-1', 'backslashreplace').decode(
            'unicode_escape')
        if undone != arg:
            problem('%r prints as %r, which reads as %r', arg, printed,
                    undone)
    elif _UNCUT.match(printed):
        problem('%r is cut to %r, which reads as a whole name', arg, printed)


def check_clean(scenario, jobs, deleted, problem):
    """Without faults: each argument gets what core OSC would do.

    But for the case the troubleshooting page explains: a UUID-shaped name
    of an image another argument deleted by its ID, without a lookup, may
    be "not found" (or name several hidden images then).
    """
    docs = scenario['docs']
    for job in jobs:
        named = names_uniquely(scenario, job.arg, docs)
        if named is not None and images.is_image_id(job.arg) and not (
                id_matches(scenario, job.arg, named['id'])) and (
                named['id'].lower() in deleted) and isinstance(
                    job.error, (client.ImageNotFound, client.AmbiguousImage)):
            # Its lookup came after that delete: what it found of the
            # name then is reported.
            continue
        if named is None:
            if images.is_image_id(job.arg) and not any(
                    names(scenario, job.arg, d) for d in docs) and (
                    job.kind != outcomes.FAILED or not isinstance(
                        job.error, client.ImageNotFound)):
                problem('%r, a UUID no image has, reported %s (%s), not '
                        '"not found"', job.arg, job.kind, job.reason)
            continue
        refused = named.get('protected') or (
            named.get('owner', fake_service.PROJECT) != fake_service.PROJECT
            and not scenario['admin'])
        if not scenario['dry_run'] and not refused and (
                job.kind != outcomes.DELETED):
            problem('%r names image %s, which was not refused, and was '
                    'reported %s (%s: %s)', job.arg, named['id'], job.kind,
                    job.reason, job.error)


def check_job(scenario, job, deleted, backups, problem):
    docs = scenario['docs']
    for _level, line in messages.result_lines(
            job, scenario['delete_backup'], None, scenario['dry_run'],
            fake_service.PROJECT):
        if not line.isprintable() or any(invisible(c) for c in line):
            problem('unprintable line %r', line)
    if job.kind is None:
        problem('job %r has no outcome', job)
        return
    resolved = job.image_id.lower() if job.image_id else None
    if job.kind == outcomes.DELETED:
        if resolved not in deleted:
            problem('%r reported deleted, but the service did not delete '
                    '%s', job.arg, job.image_id)
        if not any(names(scenario, job.arg, d) and d['id'].lower() ==
                   resolved for d in docs):
            problem('%r reported deleted as image %s, which it does not '
                    'name', job.arg, job.image_id)
        backup = job.backup
        if (scenario['delete_backup'] and backup and
                job.reason is None and backup not in backups):
            problem('%r: backup %r reported deleted, but was not',
                    job.arg, backup)
    if job.kind in (outcomes.FAILED, outcomes.NOT_ATTEMPTED) and (
            resolved in deleted):
        problem('%r reported %s, but the service deleted its image %s',
                job.arg, job.kind, job.image_id)
    named = names_uniquely(scenario, job.arg, docs)
    if isinstance(job.error, client.ImageNotFound) and named is not None and (
            named['id'].lower() not in deleted):
        problem('%r reported "not found", but it names image %s',
                job.arg, named['id'])
    if isinstance(job.error, client.AmbiguousImage) and len(
            [d for d in docs if d['name'] == job.arg]) < 2:
        problem('%r reported ambiguous, but fewer than two images have '
                'that name', job.arg)
    # A dry run's verdict on a name two images have: it names neither.
    # (A run's deletes are checked in check(): one may make a name unique.)
    same_name = [d['id'].lower() for d in docs if d['name'] == job.arg]
    if named is None and len(same_name) > 1 and job.kind in (
            outcomes.WOULD_DELETE, outcomes.WOULD_REFUSE) and (
            resolved in same_name) and not any(
                id_matches(scenario, arg, resolved)
                for arg in scenario['arguments']):
        problem('%r, the name of %d images, reported %s', job.arg,
                len(same_name), job.kind)
    if job.kind == outcomes.WOULD_REFUSE and (
            job.reason == outcomes.OTHER_PROJECT and scenario['admin'] and
            scenario['roles_known']):
        problem('%r: the dry run promised a refusal an admin does not '
                'meet', job.arg)


def pinned(docs, arguments, **changes):
    """A scenario written out: one of the bugs the model test finds."""
    scenario = {
        'docs': [dict(fakes.image(name), id=UUIDS[i], **extra)
                 for i, name, extra in docs],
        'arguments': arguments, 'name_filter': 'exact', 'page_size': 3,
        'malformed': {}, 'faults': {}, 'stop_at': None, 'admin': False,
        'ids_without_case': True, 'delete_backup': None, 'dry_run': False,
        'workers': 1, 'retries': None, 'roles_known': False,
        'pagination': None, 'debug': False}
    scenario.update(changes)
    return scenario


WHOLE = {'__whole_image': 'true', '__backup_id': 'bk\x1b]0;title\x07'}
# Each bug of issue 15, and those the model test found since.
PINNED = [
    # Glance's in: operator reached image "a".
    pinned([(0, 'a', {})], ['in:a,zzz'], name_filter='in'),
    # MySQL's collation: "prod-golden" reached "Prod-Golden".
    pinned([(0, 'Prod-Golden', {})], ['prod-golden'], name_filter='nocase'),
    # Hidden images were never found by name.
    pinned([(0, 'h', {'os_hidden': True})], ['h']),
    # A never-existing ID, 502 then 404: reported deleted.
    pinned([(0, 'a', {})], [UUIDS[5]], faults={0: ('status', 502, None)}),
    # A UUID-shaped name and the ID of the same image: one reported failed.
    pinned([(0, UUIDS[5], {})], [UUIDS[5], UUIDS[0]]),
    # A lookup answer with a numeric id aborted the run.
    pinned([(0, 'bad', {}), (1, 'good', {})], ['bad', 'good'],
           malformed={UUIDS[0]: 'int id'}),
    # A Retry-After of 400 digits crashed the run.
    pinned([(0, 'x', {}), (1, 'y', {})], ['x', 'y'],
           faults={2: ('status', 429, '9' * 400)}),
    # A second Ctrl-C waited for the DELETE in flight.
    pinned([(0, 'x', {}), (1, 'y', {})], [UUIDS[0], UUIDS[1]],
           faults={0: ('hang',)}, workers=3),
    # --retries 1 allowed a connection retry and a status retry.
    pinned([(0, 'x', {})], [UUIDS[0]], retries=1,
           faults={0: ('refused',), 1: ('status', 503, None)}),
    # Names and backup IDs reached the terminal raw.
    pinned([(0, '\x1b[31mred', WHOLE)], ['\x1b[31mred'],
           delete_backup=False),
    # The dry run promised refusals an admin's run does not meet.
    pinned([(0, 'o', {'owner': 'theirs'})], ['o'], dry_run=True,
           admin=True, roles_known=True),
    # Found by this test: an image named "in:a,b" was "not found".
    pinned([(0, 'a', {}), (2, 'in:a,b', {})], ['in:a,b'], name_filter='in'),
    # Issue 21. A gateway's 502 after the delete acted, a 404 on the retry:
    # the image named like the ID was deleted too.
    pinned([(0, 'u', {}), (1, UUIDS[0], {})], [UUIDS[0]],
           faults={0: ('acted_status', 502, None)}),
    # The same, the answer lost (connection dropped after the delete).
    pinned([(0, 'u', {}), (1, UUIDS[0], {})], [UUIDS[0]],
           faults={0: ('drop_after',)}),
    # The same with a Ctrl-C after the lookup: "not attempted".
    pinned([(0, 'u', {}), (1, UUIDS[0], {})], [UUIDS[0]],
           faults={0: ('acted_status', 504, None)}, stop_at=3),
    # A nested JSON body as text/plain escaped the command.
    pinned([(0, 'x', {}), (1, 'y', {})], [UUIDS[0], UUIDS[1]],
           faults={0: ('body', 'nested-text', 500, False)}),
    pinned([(0, 'x', {})], ['x'],
           faults={0: ('body', 'nested-json', 400, False)}),
    # The same, from a gateway after the delete acted: its tries were lost.
    pinned([(0, 'x', {})], [UUIDS[0]],
           faults={0: ('body', 'nested-json', 502, True)}),
    # 200 KB of '<' took 20 s to strip, in the reporting thread.
    pinned([(0, 'x', {})], [UUIDS[0]],
           faults={0: ('body', 'angles', 500, False)}),
    # A body of 2 MB was read whole; invalid UTF-8.
    pinned([(0, 'x', {})], [UUIDS[0]],
           faults={0: ('body', 'huge', 500, False)}),
    pinned([(0, 'x', {})], [UUIDS[0]],
           faults={0: ('body', 'invalid-utf8-text', 500, False)}),
    # A task that raised killed its worker: the run waited forever.
    pinned([(0, 'x', {}), (1, 'y', {})], ['x', 'y'], faults={0: ('crash',)}),
    # A TLS error while the answer was read was "never connected".
    pinned([(0, 'x', {})], [UUIDS[0]], faults={0: ('tls_after',)}),
    pinned([(0, 'x', WHOLE)], ['x'], faults={1: ('tls_after',)},
           delete_backup=True),
    # A proxy's 200 login page, a 202: "deleted".
    pinned([(0, 'x', {})], [UUIDS[0]], faults={0: ('answer', '200-login')}),
    # IDs differing in case merged before lookup, where the service
    # compares IDs with case and the other is an image's name.
    pinned([(0, 'a', {}), (1, UUIDS[0].upper(), {})],
           [UUIDS[0], UUIDS[0].upper()], ids_without_case=False),
    # A UUID no image ever had, among deletes by ID: "may or may not".
    pinned([(0, 'a', {}), (1, 'b', {})], [UUIDS[0], UUIDS[6], UUIDS[1]]),
    # printable(): U+202E and the six characters "\u202e" printed alike;
    # a filler printed as is.
    pinned([(0, 'a\u202eb', {}), (1, 'a\\u202eb', {})],
           ['a\u202eb', 'a\\u202eb']),
    pinned([(0, '\u3164', {})], ['\u3164']),
    # A cut was marked with '...', which a name can hold.
    pinned([(0, 'x' * 195 + '...', {})],
           ['x' * 195 + '\U000e0001', 'x' * 195 + '...']),
    # --debug logged the service's text raw.
    pinned([(0, 'x', {})], [UUIDS[0]], debug=True,
           faults={0: ('answer', '409')}),
    # A next link repeating a page was followed; hidden duplicates were
    # not ambiguous.
    pinned([(0, 'a', {}), (1, 'b', {}), (2, 'c', {})], ['a'],
           name_filter='all', page_size=1, pagination='repeat'),
    pinned([(0, 'h', {'os_hidden': True}), (1, 'h', {'os_hidden': True})],
           ['h']),
]


def with_pinned(test):
    for scenario in reversed(PINNED):
        test = hypothesis.example(scenario)(test)
    return test


class TestModel(testtools.TestCase):
    """The engine, scenario after scenario, against the fake service."""

    @with_pinned
    @hypothesis.settings(max_examples=EXAMPLES, derandomize=True,
                         deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(scenarios())
    def test_what_must_hold(self, scenario):
        service, jobs, ims, ended, raised, _ = run_scenario(scenario)
        problems = check(scenario, service, jobs, ims, ended, raised)
        self.assertEqual([], problems, scenario)


class TestMutantsApply(testtools.TestCase):
    """Each bug of tools/model_mutants.py still fits the code it breaks.

    A mutant whose text the code no longer holds would be measured as
    nothing: this fails as soon as a change to the plugin makes one stale.
    """

    def test_each_mutant_matches_once(self):
        top = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))))
        tool = os.path.join(top, 'tools', 'model_mutants.py')
        if not os.path.exists(tool):
            self.skipTest('no tools/ beside the package (installed copy)')
        spec = importlib.util.spec_from_file_location('model_mutants', tool)
        mutants = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mutants)
        for name, (path, code, bug) in mutants.MUTANTS.items():
            with open(os.path.join(top, path)) as f:
                text = f.read()
            self.assertEqual(1, text.count(code),
                             '%s: its code is not once in %s' % (name, path))
            self.assertNotEqual(code, bug, name)
