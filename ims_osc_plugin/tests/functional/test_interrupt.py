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

"""SIGINT and SIGTERM in the middle of a many-image run (issue 10).

The server holds every DELETE for a while; the signal is sent once the
record shows that some DELETEs arrived. What was in flight is read from
the server's record, not guessed from timing: a DELETE that arrives after
the signal can only be one the CLI had already sent, at most one per
worker; any more would be a DELETE sent after the signal.
"""

import os
import signal
import time

from ims_osc_plugin.tests.functional import base

COUNT = 12
DELAY = 1.0


class TestInterrupt(base.FunctionalTestCase):

    def interrupted_run(self, signum, workers, after, *flags):
        images = self.create_images(COUNT)
        self.state.set_faults(images, 'delay', delay=DELAY)
        since = self.state.last_seq()
        started = time.monotonic()
        proc = self.start_openstack('-v', 'image', 'delete', '--workers',
                                    str(workers), *(flags + tuple(images)))

        self.wait_for('DELETE number %d' % after,
                      lambda: len(self.deletes(since)) >= after or
                      proc.poll() is not None, timeout=120)
        self.assertIsNone(proc.poll(), 'the run ended before the signal')
        at_signal = self.state.last_seq()
        os.kill(proc.pid, signum)
        return images, since, at_signal, self.finish(proc, started)

    def check(self, signum, workers, after, *flags):
        images, since, at_signal, result = self.interrupted_run(
            signum, workers, after, *flags)
        name = signal.Signals(signum).name

        self.assertEqual(128 + signum, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertNotIn('KeyboardInterrupt', result.stderr)
        events = self.deletes(since)
        late = [e for e in events if e['seq'] > at_signal]
        self.assertLessEqual(len(late), workers,
                             'DELETEs sent after the signal: %r' % late)
        # Requests in flight were allowed to finish.
        self.assertEqual([204] * len(events), [e['status'] for e in events])
        attempted = [e['image_id'] for e in events]
        self.assertEqual(len(attempted), len(set(attempted)))
        not_attempted = [i for i in images if i not in attempted]
        self.assertTrue(not_attempted, 'the whole run finished')
        lines = base.stderr_lines(result)
        for image in images:
            if image in attempted:
                self.assertGone(image)
                self.assertIn("Deleted image '%s': %s" % (image, image),
                              lines)
            else:
                self.assertExists(image)
                self.assertIn("Image '%s' was not deleted: interrupted "
                              "before its delete was sent" % image, lines)
                self.assertNotIn("Deleted image '%s'" % image,
                                 result.stderr)
        self.assertEqual(
            'Interrupted by %s: deleted %d of %d images, 0 failed, %d not '
            'attempted.' % (name, len(attempted), COUNT, len(not_attempted)),
            lines[-1])
        # Nothing happens once the CLI has gone.
        self.assertEqual(events, self.deletes(since))

    def test_sigint_one_worker(self):
        self.check(signal.SIGINT, 1, 4)

    def test_sigint_four_workers(self):
        self.check(signal.SIGINT, 4, 5)

    def test_sigterm_one_worker(self):
        self.check(signal.SIGTERM, 1, 4)

    def test_sigint_with_delete_backup_by_name(self):
        # Names: each image is looked up first; the lookups are not
        # DELETEs, and the not-attempted images are named as given.
        names = [self.unique_name() for _ in range(COUNT)]
        backups = ['backup-%s' % n for n in names]
        images = [self.create_image(n, backup=b)
                  for n, b in zip(names, backups)]
        self.state.set_faults(images, 'delay', delay=DELAY)
        since = self.state.last_seq()
        proc = self.start_openstack('-v', 'image', 'delete',
                                    '--delete-backup', *names)
        self.wait_for('DELETE number 3', lambda: len(self.deletes(
            since)) >= 3 or proc.poll() is not None, timeout=120)
        self.assertIsNone(proc.poll(), 'the run ended before the signal')
        at_signal = self.state.last_seq()
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        stderr = stderr.decode('utf-8', 'replace')
        self.addDetail('stderr', base._text(stderr))

        self.assertEqual(130, proc.returncode, stderr)
        events = self.deletes(since)
        self.assertLessEqual(len([e for e in events
                                  if e['seq'] > at_signal]), 1)
        attempted = set(e['image_id'] for e in events)
        for name, image, backup in zip(names, images, backups):
            if image in attempted:
                self.assertEqual('deleted', self.state.backup_status(backup))
                self.assertIn("Deleted image '%s': %s and its backup %s"
                              % (name, image, backup), stderr)
            else:
                self.assertExists(image)
                self.assertEqual('available',
                                 self.state.backup_status(backup))
                self.assertIn("Image '%s' was not deleted: interrupted "
                              "before its delete was sent" % name, stderr)
