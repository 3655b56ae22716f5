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

"""The progress line says when the run waits for the service's limit."""

import io
import threading
import time

import testtools

from ims_osc_plugin import throttle
from ims_osc_plugin.v2 import messages
from ims_osc_plugin.v2 import terminal


class Terminal(io.StringIO):

    def isatty(self):
        return True


class TestThrottleNote(testtools.TestCase):

    def test_words(self):
        self.assertEqual('', messages.throttle_note(None))
        self.assertEqual("waiting 13 s for the image service's request "
                         "limit", messages.throttle_note(12.2))
        self.assertEqual(messages.PROGRESS_PROBING,
                         messages.throttle_note(0))

    def test_from_a_closed_gate(self):
        gate = throttle.Gate()
        self.assertEqual('', messages.throttle_note(gate.waiting()))
        gate.leave(gate.enter(threading.Event()), throttled=True, wait=30)
        self.assertEqual("waiting 30 s for the image service's request "
                         "limit", messages.throttle_note(gate.waiting()))


class TestTicking(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.note = ''
        self.stream = Terminal()
        self.line = terminal.ProgressLine(self.stream,
                                          note=lambda: self.note)
        self.addCleanup(self.line.close)

    def wait_for(self, text):
        deadline = time.monotonic() + 5
        while text not in self.stream.getvalue():
            self.assertLess(time.monotonic(), deadline,
                            self.stream.getvalue())
            time.sleep(0.01)

    def test_note_drawn_while_waiting_then_gone(self):
        self.line.start_ticking(0.02)
        self.note = 'waiting 5 s'
        # Before any image is done, the note alone.
        self.wait_for('\rwaiting 5 s\x1b[K')
        self.line.show('3/10 done')
        self.assertTrue(self.stream.getvalue().endswith(
            '\r3/10 done; waiting 5 s\x1b[K'))
        self.note = ''
        self.wait_for('\r3/10 done\x1b[K')
        self.line.close()
        self.assertTrue(self.stream.getvalue().endswith('\r\x1b[K'))

    def test_nothing_drawn_between_clear_and_show(self):
        self.line.show('1/10 done')
        self.line.start_ticking(0.01)
        self.line.clear()
        self.note = 'waiting 5 s'
        written = self.stream.getvalue()
        time.sleep(0.1)
        # The caller is writing its lines now.
        self.assertEqual(written, self.stream.getvalue())

    def test_nothing_on_a_pipe(self):
        stream = io.StringIO()
        line = terminal.ProgressLine(stream, note=lambda: 'waiting 5 s')
        line.start_ticking(0.01)
        time.sleep(0.05)
        line.show('1/10 done')
        line.close()
        self.assertEqual('', stream.getvalue())
