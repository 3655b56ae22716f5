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

"""What a long command needs from the terminal: signals and a progress line.
"""

import contextlib
import signal
import threading

from ims_osc_plugin import threads

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_signals(first, second):
    """Call ``first()`` on the first SIGINT or SIGTERM, ``second()`` next.

    A third acts as it would have without this. Yields the list of
    signals caught. A signal ignored when this starts (a background job of
    a script, nohup) stays ignored, as a shell user expects. The handlers
    must only set flags: they run in the main thread between two of its
    bytecodes, whatever it holds.
    """
    caught = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {}

    def handler(signum, frame):
        caught.append(signum)
        if len(caught) == 1:
            first()
        else:
            second()
            restore()

    def restore():
        for signum, old in previous.items():
            # None: a handler not set from Python; SIG_DFL is its nearest.
            signal.signal(signum, signal.SIG_DFL if old is None else old)
        previous.clear()

    for signum in STOP_SIGNALS:
        old = signal.getsignal(signum)
        if old != signal.SIG_IGN:
            previous[signum] = old
            signal.signal(signum, handler)
    try:
        yield caught
    finally:
        restore()


class ProgressLine:
    """One line redrawn in place on a terminal, erased before other output.

    Drawn only when ``stream`` is a terminal and ``on`` is true; elsewhere
    every call does nothing, so a redirected log never holds it.

    ``note``, if given, is called for text to add to the line (``''`` for
    none); :meth:`start_ticking` redraws the line with it every second,
    so a run that waits says so while it waits. Between
    :meth:`clear` and the next :meth:`show` nothing is drawn: the caller
    writes its own lines then.
    """

    def __init__(self, stream, on=True, note=None):
        isatty = getattr(stream, 'isatty', None)
        self.stream = stream
        self.on = on and bool(isatty and isatty())
        self.drawn = False
        self._note = note
        self._text = ''
        self._hidden = False
        self._lock = threading.Lock()
        self._ticker = None

    def show(self, text):
        with self._lock:
            self._text = text
            self._hidden = False
            self._draw()

    def _draw(self):
        if not self.on:
            return
        text = '; '.join(t for t in (
            self._text, self._note() if self._note else '') if t)
        if text or self.drawn:
            self.stream.write('\r' + text + '\x1b[K')
            self.stream.flush()
            self.drawn = bool(text)

    def clear(self):
        with self._lock:
            self._hidden = True
            if self.drawn:
                self.stream.write('\r\x1b[K')
                self.stream.flush()
                self.drawn = False

    def start_ticking(self, interval=1.0):
        """Redraw every ``interval`` seconds, with the note, until closed."""
        if not (self.on and self._note) or self._ticker is not None:
            return
        done = threading.Event()

        def tick():
            threads.block_signals()
            shown = ''
            while not done.wait(interval):
                with self._lock:
                    note = self._note()
                    if not self._hidden and (note or shown):
                        self._draw()
                    shown = note

        self._ticker = (done, threading.Thread(
            target=tick, name='ims-progress', daemon=True))
        self._ticker[1].start()

    def close(self):
        """Stop ticking and erase the line."""
        if self._ticker is not None:
            done, thread = self._ticker
            done.set()
            thread.join()
            self._ticker = None
        self.clear()
