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

- no DELETE reaches an image whose ID or exact name was not given, and a
  dry run sends none;
- every "deleted" names an image the service deleted in this run, and a
  backup said deleted was deleted;
- every image the service deleted is reported deleted or unknown by each
  argument resolved to it, never failed or not attempted;
- "no image with this name or ID" and "more than one image has this name"
  are true of the images as they were;
- the run ends, nothing raises out of it, every wait is bounded, each
  request is tried at most ``--retries`` + 1 times, and every line is
  printable;
- a dry run promises no refusal the real run would not meet.

``IMS_MODEL_EXAMPLES`` sets how many scenarios run (the CI default below);
the seed is fixed (derandomize), so a run is repeatable.
"""

import os
import threading

import hypothesis
from hypothesis import strategies as st
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import testtools

from ims_osc_plugin import client
from ims_osc_plugin import engine
from ims_osc_plugin import images
from ims_osc_plugin import outcomes
from ims_osc_plugin.tests.unit import fake_service
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin.v2 import messages

EXAMPLES = int(os.environ.get('IMS_MODEL_EXAMPLES', '1000'))
RUN_TIMEOUT = 20

# A small pool, so that IDs, UUID-shaped names and arguments collide. The
# first five can be images' IDs; the last three never are: as an argument
# one of them names nothing by ID.
UUIDS = ['%08x-0000-4000-8000-%012x' % (i, i) for i in range(1, 9)]
NAMES = ['a', 'A', 'b', 'in:a,b', 'a,b', 'in:a,zzz', 'web', 'web-1',
         '\x1b[31mred\x1b[0m']
UUID_NAMES = UUIDS[3:] + [UUIDS[1].upper()]
OTHER_ARGUMENTS = UUIDS + ['', ' ', 'we', 'zzz', 'in:a,zzz']
RETRY_AFTERS = [None, '0', '1', '61', '-5', '9' * 400, 'soon', '1.5',
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
        doc = fakes.image(draw(st.one_of(st.sampled_from(NAMES),
                                         st.sampled_from(UUID_NAMES))))
        doc['id'] = image_id
        if draw(st.booleans()):
            doc['owner'] = fake_service.PROJECT
        if draw(st.integers(0, 3)) == 0:
            doc['owner'] = 'theirs'
        if draw(st.integers(0, 5)) == 0:
            doc['protected'] = True
        if draw(st.integers(0, 4)) == 0:
            doc['os_hidden'] = True
        if draw(st.booleans()):
            doc['__whole_image'] = 'true'
            doc['__backup_id'] = draw(st.sampled_from(
                ['bk-%s' % image_id[:8], 'bk\x1b]0;title\x07']))
        docs.append(doc)
    return docs


@st.composite
def faults(draw):
    kind = draw(st.sampled_from(sorted(fake_service.FAULTS)))
    if kind == 'status':
        return (kind, draw(st.sampled_from([429, 502, 503, 504])),
                draw(st.sampled_from(RETRY_AFTERS)))
    return (kind,)


@st.composite
def scenarios(draw):
    docs = draw(image_docs())
    # Mostly what names the images (an ID in either case, a name, or an
    # image's name and ID one after the other), else anything of the pools.
    forms = [[d['id']] for d in docs] + [[d['id'].upper()] for d in docs] + [
        [d['name']] for d in docs] + [[d['name'], d['id']] for d in docs] * 2
    picks = draw(st.lists(
        st.one_of(st.sampled_from(forms),
                  st.sampled_from(OTHER_ARGUMENTS + NAMES).map(
                      lambda arg: [arg])),
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
    return {
        'docs': docs,
        'arguments': arguments,
        'name_filter': draw(st.sampled_from(
            ['exact', 'nocase', 'in', 'prefix', 'all'])),
        'page_size': draw(st.integers(1, 4)),
        'malformed': malformed,
        'faults': draw(st.dictionaries(st.integers(0, 7), faults(),
                                       max_size=5)),
        'stop_at': draw(st.one_of(st.none(), st.integers(0, 14))),
        # The token's roles, and whether the command is told them.
        'admin': admin,
        'ids_without_case': draw(st.booleans()),
        'delete_backup': draw(st.sampled_from([None, None, True, False])),
        'dry_run': draw(st.integers(0, 2)) == 0,
        'workers': draw(st.sampled_from([1, 1, 3])),
        'retries': draw(st.sampled_from([None, 0, 1, 2])),
        'roles_known': roles_known,
    }


def run_scenario(scenario):
    """Run the engine on the scenario; return (service, jobs, client)."""
    service = fake_service.FakeImageService(
        scenario['docs'], name_filter=scenario['name_filter'],
        page_size=scenario['page_size'], malformed=scenario['malformed'],
        faults=scenario['faults'], stop_at=scenario['stop_at'],
        admin=scenario['admin'],
        ids_without_case=scenario['ids_without_case'])
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

    def consume():
        try:
            jobs.extend(deletion.run())
        except BaseException as e:  # noqa: B902 - anything is a failure
            raised.append(e)

    runner = threading.Thread(target=consume, daemon=True)
    runner.start()
    runner.join(RUN_TIMEOUT)
    ended = not runner.is_alive()
    # An abandoned request may still be running: let it end before the
    # service's record is read.
    service.release.set()
    deletion.join(RUN_TIMEOUT)
    return service, jobs, ims, ended, raised, deletion


def names_uniquely(arg, docs):
    """The image ``arg`` names among ``docs``, as core OSC finds one.

    By ID, else by exact name (listed images before hidden ones); None if
    none or more than one.
    """
    by_id = [d for d in docs if images.is_image_id(arg) and
             images.same_id(d['id'], arg)]
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
    if scenario['retries'] is not None:
        tries = {}
        for request in service.requests:
            tries[request] = tries.get(request, 0) + 1
        for request, count in tries.items():
            if count > scenario['retries'] + 1:
                problem('%s %s tried %d times with --retries %d',
                        request[0], request[1], count, scenario['retries'])
    backups = set(service.backups_deleted)
    for backup in backups:
        owners = [d for d in docs if d.get('__backup_id') == backup and
                  d['id'].lower() in deleted]
        if not owners or scenario['delete_backup'] is not True:
            problem('backup %r deleted without its image and the flag',
                    backup)
    for job in jobs:
        check_job(scenario, job, deleted, backups, problem)
    for image_id in deleted:
        reporters = [j for j in jobs if j.image_id and
                     images.same_id(j.image_id, image_id)]
        if ended and not raised and not any(
                j.kind in (outcomes.DELETED, outcomes.UNKNOWN)
                for j in reporters):
            problem('image %s was deleted, and no argument says so or says '
                    'it may have been', image_id)
    return problems


def check_job(scenario, job, deleted, backups, problem):
    docs = scenario['docs']
    for _level, line in messages.result_lines(
            job, scenario['delete_backup'], None, scenario['dry_run'],
            fake_service.PROJECT):
        if not line.isprintable():
            problem('unprintable line %r', line)
    if job.kind is None:
        problem('job %r has no outcome', job)
        return
    resolved = job.image_id.lower() if job.image_id else None
    if job.kind == outcomes.DELETED:
        if resolved not in deleted:
            problem('%r reported deleted, but the service did not delete '
                    '%s', job.arg, job.image_id)
        backup = job.backup
        if (scenario['delete_backup'] and backup and
                job.reason is None and backup not in backups):
            problem('%r: backup %r reported deleted, but was not',
                    job.arg, backup)
    if job.kind in (outcomes.FAILED, outcomes.NOT_ATTEMPTED) and (
            resolved in deleted):
        problem('%r reported %s, but the service deleted its image %s',
                job.arg, job.kind, job.image_id)
    named = names_uniquely(job.arg, docs)
    if isinstance(job.error, client.ImageNotFound) and named is not None and (
            named['id'].lower() not in deleted):
        problem('%r reported "not found", but it names image %s',
                job.arg, named['id'])
    if isinstance(job.error, client.AmbiguousImage) and len(
            [d for d in docs if d['name'] == job.arg]) < 2:
        problem('%r reported ambiguous, but fewer than two images have '
                'that name', job.arg)
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
        'workers': 1, 'retries': None, 'roles_known': False}
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
