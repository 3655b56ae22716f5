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

"""Trust (issue 15), through the real CLI against real Glance.

Only what was named is deleted, "deleted" only when the servers' record
says so, every wait ends, and signals act as a shell user expects. Each
case was a bug of the released command.
"""

import os
import signal
import subprocess
import time
import uuid

from ims_osc_plugin.tests.functional import base

SLOW = 20.0


def _ignore_sigint():
    # A background job of a script, or nohup: SIGINT ignored from the
    # start.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class TestOnlyWhatWasNamed(base.FunctionalTestCase):

    def test_in_operator_reaches_no_other_image(self):
        # Glance answers name=in:<a>,zzz with the image named <a>.
        name = self.unique_name()
        image = self.create_image(name)
        since = self.state.last_seq()

        result = self.delete('in:%s,zzz' % name)

        self.assertFailedLines(result, 1, 1)
        self.assertIn("Failed to delete image 'in:%s,zzz': no image with "
                      "this name or ID" % name, result.stderr)
        self.assertExists(image)
        self.assertEqual([], self.deletes(since))

    def test_a_name_that_glance_reads_as_a_list(self):
        # Only Glance's quoted form lists the image named "in:<a>,<b>".
        a, b = self.unique_name(), self.unique_name()
        decoy = self.create_image(a)
        listed = self.create_image('in:%s,%s' % (a, b))

        result = self.delete('in:%s,%s' % (a, b))

        self.assertSucceeded(result)
        self.assertGone(listed)
        self.assertExists(decoy)

    def test_hidden_image_found_by_name(self):
        name = self.unique_name()
        image = self.create_image(name, os_hidden=True)

        result = self.openstack('-v', 'image', 'delete', name)

        self.assertSucceeded(result)
        self.assertIn("Deleted image '%s': %s" % (name, image),
                      result.stderr)
        self.assertGone(image)

    def test_uuid_shaped_name_and_the_id_of_the_same_image(self):
        name = str(uuid.uuid4())
        image = self.create_image(name)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', name, image)

        self.assertSucceeded(result)
        self.assertGone(image)
        self.assertEqual(
            ["Deleted image '%s': %s, the same image as '%s'"
             % (name, image, image), "Deleted image '%s': %s"
             % (image, image)],
            [line for line in base.stderr_lines(result)
             if line.startswith('Deleted image')])
        self.assertEqual([204], [e['status'] for e in self.deletes(
            since, image)])


class TestOutcomesFromFacts(base.FunctionalTestCase):

    def test_never_existing_id_502_then_404_is_unknown(self):
        missing = str(uuid.uuid4())
        self.state.set_fault(missing, 'status', status=502, count=1)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', missing)

        self.assertEqual(1, result.rc, result.stderr)
        self.assertNotIn('Deleted image', result.stderr)
        self.assertIn(
            "Image '%s' may or may not have been deleted: a delete of this "
            "ID may have reached the service before its answer was lost, "
            "and no image has this ID or name now" % missing, result.stderr)
        self.assertEqual([502, 404], [e['status'] for e in self.deletes(
            since, missing)])

    def test_retry_after_of_any_length(self):
        stuck, later = self.unique_name(), self.unique_name()
        stuck_id = self.create_image(stuck)
        later_id = self.create_image(later)
        self.state.set_fault(stuck_id, 'status', status=429,
                             retry_after='9' * 400)

        result = self.delete(stuck, later)

        self.assertFailedLines(result, 1, 2)
        self.assertIn(
            "Failed to delete image '%s': 429 Too Many Requests, too many "
            "requests" % stuck, result.stderr)
        self.assertIn('the service asked to wait 999999999999\\... s before '
                      'trying again', result.stderr)
        self.assertExists(stuck_id)
        self.assertGone(later_id)

    def test_service_text_is_escaped(self):
        name = self.unique_name() + '\x1b[2J\x1b]0;pwned\x07'
        image = self.create_image(name, backup='bk-\x1b[31mred')

        dry = self.delete('--dry-run', '--delete-backup', image)
        real = self.openstack('-v', 'image', 'delete', '--delete-backup',
                              image)

        self.assertSucceeded(dry)
        self.assertSucceeded(real)
        for output in (dry.stdout, dry.stderr, real.stdout, real.stderr):
            self.assertNotIn('\x1b', output)
            self.assertNotIn('\x07', output)
        self.assertIn('\\x1b[2J\\x1b]0;pwned\\x07', dry.stdout)
        self.assertIn("and its backup bk-\\x1b[31mred", real.stderr)

    def test_endpoint_override_with_project_id(self):
        # keystoneauth fills %(project_id)s in request(); the plugin builds
        # its URLs itself and must do the same.
        image = self.create_image()
        env = self.clouds_env(
            image_endpoint_override=self.stack['ims_url'] +
            '/v2/%(project_id)s')

        result = self.openstack('-v', 'image', 'delete', image, env=env)

        self.assertSucceeded(result)
        self.assertIn('Image API at %s/v2 (from %s/v2/%%(project_id)s'
                      % (self.stack['ims_url'], self.stack['ims_url']),
                      result.stderr)
        self.assertGone(image)


class TestSignalsAsAShellUserExpects(base.FunctionalTestCase):

    def test_second_ctrl_c_abandons_the_deletes_in_flight(self):
        images = self.create_images(6)
        self.state.set_faults(images, 'delay', delay=SLOW)
        since = self.state.last_seq()
        started = time.monotonic()
        proc = self.start_openstack('image', 'delete', '--workers', '3',
                                    *images)
        self.wait_for('3 DELETEs in flight',
                      lambda: len(self.deletes(since)) >= 3 or
                      proc.poll() is not None, timeout=60)
        os.kill(proc.pid, signal.SIGINT)
        # The first is handled within 0.2 s; two pending at once would
        # run the handler once.
        time.sleep(1)
        os.kill(proc.pid, signal.SIGINT)
        result = self.finish(proc, started)
        in_flight = [e['image_id'] for e in self.deletes(since)
                     if e['status'] is None]

        self.assertEqual(130, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        # The CLI ended while its DELETEs were still held by the server.
        self.assertEqual(sorted(images[:3]), sorted(in_flight))
        self.assertEqual(
            ["Image '%s' may or may not have been deleted: the command was "
             "stopped while its delete was in flight: no answer says what "
             "the service did" % i for i in images[:3]] +
            ["Image '%s' was not deleted: interrupted before its delete was "
             "sent" % i for i in images[3:]] +
            ["Interrupted by SIGINT: deleted 0 of 6 images, 3 failed, 3 not "
             "attempted. 3 of them may have been deleted: check with "
             "'openstack image show'."], base.stderr_lines(result))

    def test_ignored_sigint_stays_ignored(self):
        images = self.create_images(4)
        self.state.set_faults(images, 'delay', delay=1.0)
        since = self.state.last_seq()
        started = time.monotonic()
        proc = subprocess.Popen(
            self.cli_argv('image', 'delete', *images), env=self.cli_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=_ignore_sigint)
        self.addCleanup(base._reap, proc)
        self.wait_for('the first DELETE', lambda: self.deletes(since) or
                      proc.poll() is not None, timeout=60)
        os.kill(proc.pid, signal.SIGINT)
        result = self.finish(proc, started)

        self.assertSucceeded(result)
        for image in images:
            self.assertGone(image)
