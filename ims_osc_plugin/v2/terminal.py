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


@contextlib.contextmanager
def stop_on_signals(cancel):
    """Turn the first SIGINT or SIGTERM into ``cancel`` being set.

    Yields the list of signals caught. Requests already sent finish;
    nothing new is sent. A second signal acts as it would have without
    this (SIGINT raises KeyboardInterrupt).
    """
    caught = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {}

    def handler(signum, frame):
        caught.append(signum)
        cancel.set()
        signal.signal(signum, previous[signum])

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield caught
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def leave_signals_to_the_main_thread():
    """Block SIGINT and SIGTERM in the calling (worker) thread.

    Python runs signal handlers in the main thread only. When the kernel
    hands a signal to a worker thread, the main thread notices it only once
    it wakes for something else, and until then the workers keep sending.
    Blocked here, the signal always goes to the main thread at once.
    """
    if hasattr(signal, 'pthread_sigmask'):
        signal.pthread_sigmask(signal.SIG_BLOCK,
                               {signal.SIGINT, signal.SIGTERM})


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
