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

"""Results as they happen, and the progress line on a terminal (issue 10).

Ordering is shown with the server holding one image's DELETE: what the
CLI printed is compared with what the server's record says at that
moment, never with a stopwatch.
"""

import fcntl
import os
import queue
import re
import select
import struct
import termios
import threading
import time

from ims_osc_plugin.tests.functional import base

PROGRESS = re.compile(
    r'Deleting images: (\d+)/(\d+) done, (\d+) deleted, (\d+) failed')


def _lines_into(stream, sink):
    for raw in iter(stream.readline, b''):
        sink.put((time.monotonic(), raw.decode('utf-8', 'replace')))
    sink.put(None)


def render(raw):
    """What a terminal shows for ``raw``: its rows, as text.

    Understands what the progress line may use (carriage return, erase
    to the end of the line, newline); any other escape sequence is kept
    as text, so that it shows up as garbage in an assertion.
    """
    rows = [[]]
    col = 0
    for token in re.findall(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b|[\s\S]', raw):
        row = rows[-1]
        if token == '\r':
            col = 0
        elif token == '\n':
            rows.append([])
            col = 0
        elif token == '\x1b[K':
            del row[col:]
        else:
            for char in token:
                if col < len(row):
                    row[col] = char
                else:
                    row.extend(' ' * (col - len(row)))
                    row.append(char)
                col += 1
    return [''.join(row) for row in rows]


class TestStreamedResults(base.FunctionalTestCase):

    def start_reading(self, *args):
        proc = self.start_openstack(*args)
        lines = queue.Queue()
        reader = threading.Thread(target=_lines_into,
                                  args=(proc.stderr, lines), daemon=True)
        reader.start()
        return proc, lines

    def wait_for_line(self, lines, wanted, seen, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, 'no line %r in %r' % (wanted, seen))
            try:
                item = lines.get(timeout=left)
            except queue.Empty:
                continue
            self.assertIsNotNone(item, 'stderr closed before %r: %r' % (
                wanted, seen))
            seen.append(item[1].rstrip('\n'))
            if seen[-1] == wanted:
                return

    def finish(self, proc, lines, seen):
        proc.wait(timeout=120)
        while True:
            item = lines.get(timeout=60)
            if item is None:
                break
            seen.append(item[1].rstrip('\n'))
        self.addDetail('stderr', base._text('\n'.join(seen)))
        return [line for line in seen if line.startswith('Deleted image')]

    def test_first_line_before_the_last_delete_is_sent(self):
        images = self.create_images(6)
        # The second image's DELETE is held: with one worker, the last
        # image's DELETE cannot be sent before it is answered.
        self.state.set_fault(images[1], 'delay', delay=8)
        since = self.state.last_seq()
        proc, lines = self.start_reading('-v', 'image', 'delete', *images)
        seen = []

        self.wait_for_line(lines, "Deleted image '%s': %s" % (
            images[0], images[0]), seen)

        sent = [e['image_id'] for e in self.deletes(since)]
        self.assertNotIn(images[-1], sent)
        deleted = self.finish(proc, lines, seen)
        self.assertEqual(0, proc.returncode, seen)
        self.assertEqual(["Deleted image '%s': %s" % (i, i) for i in images],
                         deleted)

    def test_streamed_in_argument_order_with_workers(self):
        images = self.create_images(6)
        self.state.set_fault(images[1], 'delay', delay=8)
        since = self.state.last_seq()
        proc, lines = self.start_reading('-v', 'image', 'delete',
                                         '--workers', '3', *images)
        seen = []

        self.wait_for_line(lines, "Deleted image '%s': %s" % (
            images[0], images[0]), seen)

        # Shown before the second image's DELETE was answered (it may not
        # even have arrived yet on a loaded machine)...
        self.assertEqual([], [e for e in self.deletes(since, images[1])
                              if e['status'] is not None])
        # ...and nothing of a later image before the second's line (OSC's
        # own "START with options" line at -v lists them all).
        self.assertEqual([], [line for line in seen
                              if any(i in line for i in images[1:]) and
                              not line.startswith('START with options')])
        deleted = self.finish(proc, lines, seen)
        self.assertEqual(0, proc.returncode, seen)
        self.assertEqual(["Deleted image '%s': %s" % (i, i) for i in images],
                         deleted)


class TestProgress(base.FunctionalTestCase):

    def run_on_terminal(self, *args, timeout=180):
        """Run the CLI with stderr on a pseudo-terminal; (rc, out, raw)."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack('HHHH', 40, 160, 0, 0))
        try:
            proc = self.start_openstack(*args, stderr=slave)
        finally:
            os.close(slave)
        chunks = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.assertLess(time.monotonic(), deadline, 'CLI hung')
                ready, _, _ = select.select([master], [], [], 1)
                if not ready:
                    continue
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer left
                    break
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(master)
        proc.wait(timeout=60)
        out = proc.stdout.read().decode('utf-8', 'replace')
        raw = b''.join(chunks).decode('utf-8', 'replace')
        self.addDetail('terminal', base._text(repr(raw)))
        return proc.returncode, out, raw

    def test_progress_line_on_a_terminal(self):
        images = self.create_images(12)
        failing = images[7]
        self.state.set_faults(images, 'delay', delay=0.3)
        self.state.set_fault(failing, 'status', status=500)

        rc, out, raw = self.run_on_terminal(
            '-v', 'image', 'delete', *images)

        self.assertEqual(1, rc, raw)
        self.assertNotIn('Traceback', raw)
        progress = PROGRESS.findall(raw)
        self.assertTrue(progress, 'no progress line')
        for done, total, deleted, failed in progress:
            self.assertEqual('12', total)
            self.assertEqual(int(done), int(deleted) + int(failed))
        # What the terminal shows at the end: every result on a row of
        # its own, intact; the progress line erased.
        # OSC's own "START with options" row at -v lists every image.
        screen = [row for row in render(raw) if row.strip() and
                  not row.startswith('START with options')]
        self.assertEqual([], [row for row in screen
                              if 'Deleting images' in row])
        for image in images:
            if image == failing:
                [row] = [r for r in screen if image in r]
                self.assertTrue(row.startswith(
                    "Failed to delete image '%s': 500" % image), row)
            else:
                self.assertEqual(
                    1, screen.count("Deleted image '%s': %s" % (image,
                                                                image)),
                    screen)
                self.assertEqual(1, len([r for r in screen if image in r]))
        self.assertEqual('Failed to delete 1 of 12 images.', screen[-1])
        self.assertNotIn('Deleting images', out)

    def test_no_progress_for_a_few_images(self):
        images = self.create_images(3)

        rc, out, raw = self.run_on_terminal('-v', 'image', 'delete',
                                            *images)

        self.assertEqual(0, rc, raw)
        self.assertNotIn('Deleting images', raw)
        self.assertNotIn('\x1b[K', raw)
        screen = render(raw)
        for image in images:
            self.assertIn("Deleted image '%s': %s" % (image, image), screen)

    def test_no_progress_when_stderr_is_not_a_terminal(self):
        images = self.create_images(12)
        self.state.set_faults(images, 'delay', delay=0.3)

        result = self.openstack('-v', 'image', 'delete', *images)

        self.assertSucceeded(result)
        for text in ('Deleting images', '\r', '\x1b'):
            self.assertNotIn(text, result.stderr)
            self.assertNotIn(text, result.stdout)
        self.assertEqual(12, len([line for line in base.stderr_lines(result)
                                  if line.startswith('Deleted image')]))
