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

"""Records (-f), --wait and --plan on a real client and requests-mock."""

import csv
import io
import json
import signal
import uuid

from osc_lib import exceptions

from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin.tests.unit.v2 import test_image
from ims_osc_plugin.v2 import plan
from ims_osc_plugin import waiting

COLUMNS = ['Argument', 'ID', 'Name', 'Outcome', 'Backup', 'Reason',
           'Request ID']


class RecordsTestCase(test_image.CommandTestCase):

    def setUp(self):
        super().setUp()
        # Every answer of the image API carries a request ID.
        self.request_ids = []
        real = self.cloud._image

        def with_id(request, context):
            text = real(request, context)
            rid = 'req-%s' % uuid.uuid4()
            if 'X-Request-Id' not in context.headers:
                context.headers['X-Openstack-Request-Id'] = rid
            self.request_ids.append((request.method, rid))
            return text
        self.cloud._image = with_id
        for method in ('GET', 'DELETE'):
            self.requests.register_uri(
                method, fakes.requests_mock.ANY,
                additional_matcher=self.cloud._is_image, text=with_id)

    def run_f(self, arglist, fmt='json'):
        """run() as cliff calls it: (status or CommandError, stdout)."""
        if self.workers > 1:
            arglist = ['--workers', str(self.workers)] + arglist
        parsed = test_image.parse(self.cmd, ['-f', fmt] + arglist)
        try:
            status = self.cmd.run(parsed)
        except exceptions.CommandError as e:
            status = e
        return status, self.app.stdout.getvalue()


class TestRecords(RecordsTestCase):

    def test_without_f_nothing_on_stdout(self):
        img = self.cloud.add(fakes.image('a'))
        self.assertIsNone(self.run_cmd([img['id']]))
        self.assertEqual('', self.app.stdout.getvalue())

    def test_json_mixed_in_argument_order(self):
        ok = self.cloud.add(fakes.image('ok', whole=True, backup='bk1'))
        bad = self.fail_delete(
            'bad', (500, '{"message": "boom"}',
                    {'X-Request-Id': 'ims-req-1'}))
        status, out = self.run_f(
            ['--delete-backup', 'missing', 'ok', bad['id']])
        self.assertIsInstance(status, exceptions.CommandError)
        self.assertEqual('Failed to delete 2 of 3 images.', str(status))
        records = json.loads(out)
        self.assertEqual([COLUMNS] * 3, [list(r) for r in records])
        self.assertEqual(
            [('missing', '', 'failed', '', 'no image with this name or ID'),
             ('ok', ok['id'], 'deleted', 'bk1', ''),
             (bad['id'], bad['id'], 'failed', '',
              '500 Internal Server Error, internal error in the image '
              'service: boom')],
            [(r['Argument'], r['ID'], r['Outcome'], r['Backup'],
              r['Reason']) for r in records])
        delete_id = [rid for method, rid in self.request_ids
                     if method == 'DELETE'][0]
        self.assertEqual(delete_id, records[1]['Request ID'])
        # IMS's header, where there is no OpenStack one; and in the line.
        self.assertEqual('ims-req-1', records[2]['Request ID'])
        self.assertIn(
            "Failed to delete image '%s': 500 Internal Server Error, "
            "internal error in the image service: boom (request ID: "
            "ims-req-1)" % bad['id'], self.lines())

    def test_value_and_columns(self):
        a, b = self.cloud.add(fakes.image('a'), fakes.image('b'))
        status, out = self.run_f(['-c', 'Argument', '-c', 'Outcome',
                                  a['id'], 'b'], fmt='value')
        self.assertEqual(0, status)
        self.assertEqual('%s deleted\nb deleted\n' % a['id'], out)

    def test_csv(self):
        self.cloud.add(fakes.image('a'))
        status, out = self.run_f(['a'], fmt='csv')
        rows = list(csv.reader(io.StringIO(out)))
        self.assertEqual(COLUMNS, rows[0])
        self.assertEqual(['a', 'deleted'], [rows[1][0], rows[1][3]])

    def test_dry_run_records_only_on_stdout(self):
        img = self.cloud.add(fakes.image(
            'p', whole=True, backup='bk', protected=True, owner='o',
            updated_at='2026-01-01T00:00:00Z'))
        status, out = self.run_f(['--dry-run', '--delete-backup',
                                  img['id']])
        self.assertEqual(0, status)
        [record] = json.loads(out)
        self.assertEqual(
            {'Argument': img['id'], 'ID': img['id'], 'Name': 'p',
             'Outcome': 'would-refuse', 'Backup': '',
             'Reason': 'the image is protected',
             'Updated At': '2026-01-01T00:00:00Z', 'Protected': True,
             'Owner': 'o', 'Image Backup': 'bk',
             'Backup Option': '--delete-backup', 'Store': ''},
            {k: v for k, v in record.items() if k != 'Request ID'})
        # The lookup's request ID decided it.
        self.assertEqual(self.request_ids[-1][1], record['Request ID'])
        self.assertIn('Would not delete image', self.app.stderr.getvalue())
        self.assertIn('Dry run: would delete 0 images',
                      self.app.stderr.getvalue())
        self.assertEqual([], self.cloud.deleted)

    def test_dry_run_request_id_is_each_lookup_s(self):
        images = self.cloud.add(fakes.image('a'), fakes.image('b'),
                                fakes.image('c'))
        status, out = self.run_f(['--dry-run'] + [i['id'] for i in images])
        self.assertEqual(0, status)
        self.assertEqual([rid for method, rid in self.request_ids],
                         [r['Request ID'] for r in json.loads(out)])

    def test_unknown_column_sends_nothing(self):
        self.cloud.add(fakes.image('a'))
        parsed = test_image.parse(self.cmd, ['-f', 'json', '-c', 'Nope',
                                             'a'])
        self.assertRaises(ValueError, self.cmd.run, parsed)
        self.assertEqual([], self.cloud.deleted)


class TestRecordsInterrupted(RecordsTestCase):

    delete_time = 0
    interrupt_after = test_image.TestInterrupt.interrupt_after

    def test_sigint_record_for_every_argument(self):
        images = self.cloud.add(*[fakes.image('i%d' % i) for i in range(5)])
        with self.interrupt_after(2, signal.SIGINT):
            status, out = self.run_f([i['id'] for i in images])
        self.assertEqual(130, status)
        self.assertEqual(
            ['deleted'] * 2 + ['not-attempted'] * 3,
            [r['Outcome'] for r in json.loads(out)])


class TestWait(RecordsTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(test_image.fixtures.MonkeyPatch(
            'ims_osc_plugin.waiting.FIRST_POLL', 0.01))
        self.useFixture(test_image.fixtures.MonkeyPatch(
            'ims_osc_plugin.waiting.MAX_INTERVAL', 0.02))

    def linger(self, img, polls):
        """GETs of ``img`` after its delete show it for ``polls`` polls."""
        doc = dict(img, status='pending_delete')
        self.cloud.faults['GET', img['id']] = []
        real = self.cloud._image

        def after_delete(request, context):
            if request.method == 'DELETE':
                self.cloud.faults['GET', img['id']] = [
                    (200, json.dumps(doc),
                     {'Content-Type': 'application/json'})] * polls
            return real(request, context)
        return after_delete

    def test_gone_after_polls(self):
        img = self.cloud.add(fakes.image('a'))
        self.cloud.faults['DELETE', img['id']] = []
        status, out = self._run_lingering(img, 2, ['--wait', 'a'])
        self.assertEqual(0, status)
        self.assertEqual('deleted', json.loads(out)[0]['Outcome'])
        gets = [r for r in self.requests.request_history
                if r.method == 'GET' and r.path.endswith(img['id'])]
        self.assertEqual(3, len(gets))

    def _run_lingering(self, img, polls, args, timeout=None):
        handler = self.linger(img, polls)
        self.requests.register_uri(
            'DELETE', fakes.requests_mock.ANY,
            additional_matcher=self.cloud._is_image, text=handler)
        if timeout:
            args = ['--wait-timeout', str(timeout)] + args
        return self.run_f(args)

    def test_still_there_at_timeout(self):
        self.useFixture(test_image.fixtures.MonkeyPatch(
            'ims_osc_plugin.waiting.MAX_INTERVAL', 0.3))
        img = self.cloud.add(fakes.image('a'))
        status, out = self._run_lingering(img, 1000, ['--wait', 'a'],
                                          timeout=1)
        self.assertEqual('Failed to delete 1 of 1 images. 1 of them may '
                         "have been deleted: check with 'openstack image "
                         "show'.", str(status))
        [record] = json.loads(out)
        self.assertEqual('unknown', record['Outcome'])
        self.assertEqual('the service accepted its delete, but the image '
                         'is still there (status pending_delete) after '
                         'waiting 1 s', record['Reason'])
        polls = [r for r in self.requests.request_history
                 if r.method == 'GET' and r.path.endswith(img['id'])]
        # The growing schedule's polls in 1 s (and one at the deadline),
        # not one per step of the waiting.
        due, interval, schedule = 0.01, 0.01, 0
        while due < 1:
            schedule += 1
            interval = min(interval * waiting.GROWTH, 0.3)
            due += interval
        self.assertLessEqual(len(polls), schedule + 1)
        self.assertGreater(len(polls), 3)

    def test_accepted_2xx_then_404_is_deleted(self):
        # A 2xx other than 204 leaves the fate unknown (issue 21's rule);
        # a poll's 404 then says it is deleted. A refused delete is not
        # polled.
        from ims_osc_plugin import client
        from ims_osc_plugin import engine

        gone, refused = str(uuid.uuid4()), self.cloud.add(fakes.image('r'))
        deletion = engine.Deletion(self.ims, [gone, refused['id']])
        accepted, failed = deletion.jobs
        response = type('Response', (), {'status_code': 202,
                                         'headers': {}})()
        accepted.kind, accepted.image_id = 'unknown', gone
        accepted.error = client.UnexpectedResponse(response)
        failed.kind, failed.image_id = 'failed', refused['id']
        waiter = waiting.Waiter(deletion, 5)
        waiter.wait_for(accepted)
        waiter.wait_for(failed)
        self.assertEqual(('deleted', None, None),
                         (accepted.kind, accepted.reason, accepted.error))
        self.assertEqual('failed', failed.kind)
        self.assertEqual(1, waiter.polls)

    def test_wait_with_dry_run_refused(self):
        e = self.assertRaises(exceptions.CommandError, self.run_cmd,
                              ['--wait', '--dry-run', 'a'])
        self.assertEqual('--wait cannot be combined with --dry-run.', str(e))
        self.assertFalse(self.requests.called)

    def test_wait_timeout_without_wait_refused(self):
        e = self.assertRaises(exceptions.CommandError, self.run_cmd,
                              ['--wait-timeout', '30', 'a'])
        self.assertEqual('--wait-timeout needs --wait.', str(e))
        self.assertFalse(self.requests.called)

    def test_without_wait_no_poll(self):
        img = self.cloud.add(fakes.image('a'))
        self.run_cmd([img['id']])
        self.assertEqual(['DELETE'],
                         [r.method for r in self.requests.request_history
                          if r.path.endswith(img['id'])])


class TestPlan(RecordsTestCase):

    def make_plan(self, args):
        status, out = self.run_f(['--dry-run'] + args)
        self.app.stdout = io.StringIO()
        self.app.stderr = io.StringIO()
        self.cmd = test_image.image.DeleteImage(self.app, None)
        return out

    def run_plan(self, text, extra=()):
        path = self.useFixture(test_image.fixtures.TempDir()).join('p.json')
        with open(path, 'w') as f:
            f.write(text)
        return self.run_f(['--plan', path] + list(extra))

    def test_unchanged_deleted_changed_refused(self):
        a, b, c = self.cloud.add(
            fakes.image('a', whole=True, backup='bk',
                        updated_at='2026-01-01T00:00:00Z'),
            fakes.image('b', updated_at='2026-01-01T00:00:00Z'),
            fakes.image('c', updated_at='2026-01-01T00:00:00Z'))
        text = self.make_plan(['--delete-backup', 'a', 'b', 'c'])
        b['protected'] = True
        b['updated_at'] = '2026-01-02T00:00:00Z'
        del self.cloud.images[c['id']]
        # A new image takes the reviewed name: it is not touched.
        new = self.cloud.add(fakes.image('a'))
        before = len(self.requests.request_history)
        status, out = self.run_plan(text)
        self.assertEqual('Failed to delete 2 of 3 images.', str(status))
        records = json.loads(out)
        self.assertEqual(['deleted', 'failed', 'failed'],
                         [r['Outcome'] for r in records])
        self.assertEqual('bk', records[0]['Backup'])
        self.assertEqual(
            "it changed since the plan was made (updated_at was "
            "'2026-01-01T00:00:00Z', now '2026-01-02T00:00:00Z', protected "
            "was False, now True)", records[1]['Reason'])
        self.assertIn('gone since the plan', records[2]['Reason'])
        # Refused, each record still names the plan's image.
        self.assertEqual([a['id'], b['id'], c['id']],
                         [r['ID'] for r in records])
        self.assertEqual(['a', 'b', ''], [r['Name'] for r in records])
        self.assertEqual([a['id']], self.cloud.deleted)
        self.assertIn(new['id'], self.cloud.images)
        sent = [(r.method, r.path.rsplit('/', 1)[-1]) for r in
                self.requests.request_history[before:]
                if '/images' in r.path]
        # One lookup by ID each, one DELETE for the unchanged one.
        self.assertEqual(
            sorted([('get', a['id']), ('get', b['id']), ('get', c['id']),
                    ('delete', a['id'])]),
            sorted((m.lower(), i) for m, i in sent))
        self.assertEqual({'delete_backup': True}, [
            r.json() for r in self.requests.request_history
            if r.method == 'DELETE'][0])

    def test_refused_beside_images_and_options(self):
        for extra in (['x'], ['--delete-backup'], ['--no-delete-backup'],
                      ['--dry-run'], ['--store', 's']):
            status, out = self.run_plan('[]', extra)
            self.assertIsInstance(status, exceptions.CommandError)
            self.assertIn('--plan cannot be combined with', str(status))
        self.assertFalse(self.requests.called)

    def test_malformed_refused_whole_with_line(self):
        img = self.cloud.add(fakes.image('a', updated_at='t'))
        text = self.make_plan(['a', 'a'])
        bad = {
            'Outcome": "would-delete': 'Outcome": "deleted',
            img['id']: 'not-a-uuid',
            '"Protected": false': '"Protected": "no"',
        }
        for old, new in bad.items():
            edited = text.replace(old, new, 1)
            self.assertNotEqual(text, edited)
            status, out = self.run_plan(edited)
            self.assertIsInstance(status, exceptions.CommandError, old)
            self.assertRegex(str(status), r'^Cannot use the plan .*: line '
                             r'\d+: .*; nothing was deleted\.$')
        status, _ = self.run_plan('{"x": 1}')
        self.assertIn('line 1: a plan is a JSON list', str(status))
        status, _ = self.run_plan('[\n{}\n]')
        self.assertIn("line 2: the record has no 'Argument'", str(status))
        self.assertFalse([r for r in self.requests.request_history
                          if r.method == 'DELETE'])

    def test_load_reports_line_of_field(self):
        text = ('[\n  {"Argument": "a", "ID": "x", "Name": "", "Outcome": '
                '"would-refuse",\n   "Backup": "", "Reason": "", '
                '"Request ID": "", "Updated At": "", "Protected": null,\n'
                '   "Owner": "", "Image Backup": "", "Backup Option": '
                '"--bad", "Store": ""}\n]')
        e = self.assertRaises(plan.Malformed, plan.load, text)
        self.assertEqual(4, e.line)


class TestPlanLoad(test_image.testtools.TestCase):

    def record(self, **fields):
        base = {'Argument': 'a', 'ID': str(uuid.uuid4()), 'Name': 'a',
                'Outcome': 'would-delete', 'Backup': '', 'Reason': '',
                'Request ID': '', 'Updated At': 't', 'Protected': False,
                'Owner': 'o', 'Image Backup': '', 'Backup Option': '',
                'Store': ''}
        base.update(fields)
        return base

    def load(self, *records):
        return plan.load(json.dumps(list(records), indent=2))

    def assertMalformed(self, why, *records):
        e = self.assertRaises(plan.Malformed, self.load, *records)
        self.assertIn(why, e.why)
        return e

    def test_ids_once_in_order_and_options(self):
        a, b = self.record(), self.record(Outcome='would-refuse')
        c = self.record(**{'Backup Option': '--no-delete-backup'})
        a['Backup Option'] = b['Backup Option'] = '--no-delete-backup'
        loaded = self.load(a, b, c, dict(a, Argument='again'))
        self.assertEqual([a['ID'], c['ID']], loaded.ids)
        self.assertIs(False, loaded.delete_backup)
        self.assertIsNone(loaded.store)

    def test_refusals(self):
        self.assertMalformed("'Outcome' has the wrong type",
                             self.record(Outcome=1))
        self.assertMalformed("'deleted' is not the outcome of a dry run",
                             self.record(Outcome='deleted'))
        self.assertMalformed('is not an image ID', self.record(ID='x'))
        self.assertMalformed("unknown column 'Extra'",
                             self.record(Extra=''))
        self.assertMalformed('different options', self.record(), self.record(
            **{'Backup Option': '--delete-backup'}))
        self.assertMalformed('needs its Protected',
                             self.record(Protected=None))
        e = self.assertRaises(plan.Malformed, plan.load, '[\n{,')
        self.assertIn('not JSON', e.why)
        self.assertEqual(2, e.line)
        e = self.assertRaises(plan.Malformed, plan.load, '[\n{"ID": "a')
        self.assertEqual(
            ('not JSON: Unterminated string starting at (column 8)', 2),
            (e.why, e.line))

    def test_line_of_the_bad_record(self):
        good, bad = self.record(), self.record(ID='nope')
        e = self.assertMalformed('is not an image ID', good, bad)
        text = json.dumps([good, bad], indent=2).splitlines()
        self.assertIn('"ID": "nope"', text[e.line - 1])

    def test_changes_of(self):
        entry = self.record(**{'Image Backup': 'bk'})
        image = {'updated_at': 't', 'protected': False, 'owner': 'o2',
                 '__whole_image': 'true', '__backup_id': 'bk'}
        self.assertEqual([('owner', 'o', 'o2')],
                         plan.changes_of(entry, image))
