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

"""Records (-f), --wait and --plan: the real CLI on the real stack."""

import json
import os
import queue
import signal
import subprocess
import threading
import time

from ims_osc_plugin.tests.functional import base
from ims_osc_plugin.tests.functional import test_output

PATCH = {'Content-Type': 'application/openstack-images-v2.1-json-patch'}


class TestRecords(base.FunctionalTestCase):

    def test_json_mixed_run(self):
        deleted = self.create_image(backup='bk-records')
        failed = self.create_image()
        unknown = self.create_image()
        missing = self.unique_name()
        self.state.set_fault(failed, 'status', status=500)
        self.state.set_fault(unknown, 'lost')

        result = self.delete('-f', 'json', '--retries', '0',
                             '--delete-backup', deleted, failed, unknown,
                             missing)

        self.assertEqual(1, result.rc, result.stderr)
        records = json.loads(result.stdout)
        self.assertEqual(
            [(deleted, deleted, 'deleted', 'bk-records'),
             (failed, failed, 'failed', ''),
             (unknown, unknown, 'unknown', ''),
             (missing, '', 'failed', '')],
            [(r['Argument'], r['ID'], r['Outcome'], r['Backup'])
             for r in records])
        # Glance's request ID of the DELETE that deleted it.
        self.assertTrue(records[0]['Request ID'].startswith('req-'),
                        records[0])
        self.assertEqual('no image with this name or ID',
                         records[3]['Reason'])
        # The human lines stay on stderr.
        self.assertIn("Failed to delete image '%s': 500" % failed,
                      result.stderr)
        self.assertIn('Failed to delete 3 of 4 images.', result.stderr)
        self.assertGone(deleted)

    def test_value_and_csv_stream_as_each_image_finishes(self):
        for fmt, first_row in (('value', 0), ('csv', 1)):
            images = self.create_images(4)
            # With one worker, the last DELETE waits for the held one.
            self.state.set_fault(images[1], 'delay', delay=8)
            since = self.state.last_seq()
            proc = self.start_openstack('image', 'delete', '-f', fmt, '-c',
                                        'ID', '-c', 'Outcome', *images)
            rows = queue.Queue()
            threading.Thread(target=test_output._lines_into,
                             args=(proc.stdout, rows), daemon=True).start()
            seen = []
            for _ in range(first_row + 1):
                item = rows.get(timeout=60)
                self.assertIsNotNone(item, fmt)
                seen.append(item[1])
            # The first record is out while a later DELETE is not sent.
            self.assertIn(images[0], seen[-1])
            sent = [e['image_id'] for e in self.deletes(since)]
            self.assertNotIn(images[-1], sent, fmt)
            self.assertEqual(0, proc.wait(timeout=120), fmt)

    def test_value_without_f_is_silent(self):
        image = self.create_image()
        result = self.delete(image)
        self.assertSucceeded(result)
        self.assertEqual('', result.stdout)

    def test_dry_run_json_has_only_records_on_stdout(self):
        image = self.create_image()
        result = self.delete('--dry-run', '-f', 'json', image)
        self.assertSucceeded(result)
        [record] = json.loads(result.stdout)
        self.assertEqual('would-delete', record['Outcome'])
        self.assertIn('Would delete image', result.stderr)
        self.assertExists(image)


class TestWait(base.FunctionalTestCase):

    def test_waits_until_gone(self):
        images = [self.create_image() for _ in range(3)]
        self.state.set_faults(images, 'linger', delay=3)
        since = self.state.last_seq()

        result = self.delete('--wait', '-f', 'value', '-c', 'Outcome',
                             *images)

        self.assertSucceeded(result)
        self.assertEqual('deleted\n' * 3, result.stdout)
        self.assertGreater(result.elapsed, 2.5)
        polls = [e for e in self.state.events(since, method='GET')
                 if e['path'].rsplit('/', 1)[-1] in images and
                 e['mode'] == 'ims']
        # Growing intervals: a few polls per image, not one per step.
        self.assertLessEqual(len(polls), 4 * len(images))
        self.assertIn('linger', [e['fault'] for e in polls])

    def test_timeout_reports_accepted_not_finished(self):
        image = self.create_image()
        self.state.set_fault(image, 'linger', delay=30)

        result = self.delete('--wait', '--wait-timeout', '2', '-f', 'json',
                             image)

        [line] = self.assertUnknownLines(result, 1, 1)
        self.assertIn('the service accepted its delete, but the image is '
                      'still there (status pending_delete) after waiting',
                      line)
        self.assertEqual('unknown', json.loads(result.stdout)[0]['Outcome'])
        self.assertLess(result.elapsed, 20)

    def test_ctrl_c_ends_the_waiting_at_once(self):
        images = [self.create_image() for _ in range(2)]
        self.state.set_faults(images, 'linger', delay=60)
        since = self.state.last_seq()
        started = time.monotonic()
        proc = self.start_openstack('image', 'delete', '--wait', '-f',
                                    'json', *images)
        self.wait_for('both deletes answered', lambda: len(
            [e for e in self.deletes(since) if e['status']]) == 2)
        time.sleep(1.5)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        result = self.finish(proc, started, timeout=30)

        self.assertLess(time.monotonic() - stopped, 5)
        self.assertEqual(130, result.rc, result.stderr)
        records = json.loads(result.stdout)
        self.assertEqual(['unknown', 'unknown'],
                         [r['Outcome'] for r in records])
        self.assertEqual(
            'the service accepted its delete; the command was interrupted '
            'before it saw the image gone', records[0]['Reason'])

    def test_wait_with_dry_run_refused(self):
        result = self.delete('--wait', '--dry-run', 'x')
        self.assertEqual(1, result.rc)
        self.assertIn('--wait cannot be combined with --dry-run.',
                      result.stderr)


class TestPlan(base.FunctionalTestCase):

    def test_plan_with_changes_in_between(self):
        name = self.unique_name()
        same = self.create_image(name, backup='bk-plan')
        changed = self.create_image()
        vanished = self.create_image()
        plan = self.delete('--dry-run', '--delete-backup', '-f', 'json',
                           name, changed, vanished)
        self.assertSucceeded(plan)
        path = os.path.join(self.home, 'plan.json')
        with open(path, 'w') as f:
            f.write(plan.stdout)

        api = self.images_api()
        api.patch('/images/%s' % changed, headers=PATCH, json=[
            {'op': 'replace', 'path': '/protected', 'value': True}])
        self.addCleanup(api.patch, '/images/%s' % changed, headers=PATCH,
                        json=[{'op': 'replace', 'path': '/protected',
                               'value': False}])
        self.assertSucceeded(self.delete(vanished))
        # A new image under the reviewed name is not touched.
        newcomer = self.create_image(name)
        since = self.state.last_seq()

        result = self.delete('--plan', path, '-f', 'json', '--workers', '2')

        self.assertEqual(1, result.rc, result.stderr)
        records = json.loads(result.stdout)
        self.assertEqual(['deleted', 'failed', 'failed'],
                         [r['Outcome'] for r in records])
        self.assertEqual('bk-plan', records[0]['Backup'])
        self.assertIn('protected was False, now True', records[1]['Reason'])
        self.assertIn('gone since the plan was made', records[2]['Reason'])
        self.assertGone(same)
        self.assertExists(changed)
        self.assertExists(newcomer)
        self.assertEqual('deleted', self.state.backup_status('bk-plan'))
        # The CLI's requests (the tests' own go to the plain port).
        requests = [(e['method'], e['path'].rsplit('/', 1)[-1])
                    for e in self.state.events(since) if e['mode'] == 'ims']
        self.assertEqual(
            sorted([('GET', same), ('GET', changed), ('GET', vanished),
                    ('DELETE', same)]), sorted(requests))

    def test_plan_from_standard_input(self):
        image = self.create_image()
        plan = self.delete('--dry-run', '-f', 'json', image)
        self.assertSucceeded(plan)
        started = time.monotonic()
        proc = self.start_openstack('image', 'delete', '--plan', '-',
                                    stdin=subprocess.PIPE)
        # communicate() (in finish) flushes and closes it.
        proc.stdin.write(plan.stdout.encode())
        result = self.finish(proc, started)
        self.assertSucceeded(result)
        self.assertGone(image)

    def test_malformed_plan_refused_before_any_request(self):
        path = os.path.join(self.home, 'plan.json')
        with open(path, 'w') as f:
            f.write('[\n{"Argument": "x"}\n]\n')
        since = self.state.last_seq()
        result = self.delete('--plan', path)
        self.assertEqual(1, result.rc)
        self.assertIn("line 2: the record has no 'ID'", result.stderr)
        self.assertEqual([], self.state.events(since))
