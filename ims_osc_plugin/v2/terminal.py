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
    """

    def __init__(self, stream, on=True):
        isatty = getattr(stream, 'isatty', None)
        self.stream = stream
        self.on = on and bool(isatty and isatty())
        self.drawn = False

    def show(self, text):
        if self.on:
            self.stream.write('\r' + text + '\x1b[K')
            self.stream.flush()
            self.drawn = True

    def clear(self):
        if self.drawn:
            self.stream.write('\r\x1b[K')
            self.stream.flush()
            self.drawn = False
