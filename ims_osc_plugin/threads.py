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

"""What every helper thread of a run does first."""

import signal


def block_signals():
    """Leave SIGINT and SIGTERM to the main thread.

    Python runs signal handlers in the main thread only. When the kernel
    hands a signal to another thread, the main thread notices it only once
    it wakes for something else. Blocked here, it goes there at once.
    Called first by each worker, poll and progress thread.
    """
    if hasattr(signal, 'pthread_sigmask'):
        signal.pthread_sigmask(signal.SIG_BLOCK,
                               {signal.SIGINT, signal.SIGTERM})
