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

"""``--wait``: a deleted image counts as deleted once the service says 404.

IMS answers a delete with 204 and may finish it in the background (the
image shows ``pending_delete`` or ``deleted`` for a while), so a script
that re-creates an image under the same name must wait for it to go.

The engine hands each final job, in argument order, to :meth:`Waiter.
wait_for` before it yields it. Each image is polled on its own schedule,
counted from when its delete was answered: 1 s, then intervals growing by
half (:data:`GROWTH`) up to :data:`MAX_INTERVAL`: an image gone after
8 s is seen gone within about 8 s, one never gone is polled about 27 times
in 600 s. By the time the reporting thread reaches a later
image, its first polls' times have passed, so a run of N images sends a
few polls per image, not N per interval. The whole run waits at most
``timeout`` seconds; an image is polled once even after that, so that its
report is up to date. Each poll runs on a daemon thread while the
reporting thread waits in short steps: a Ctrl-C (which sets the client's
``cancel``) ends the waiting at once.
"""

import threading
import time

from keystoneauth1 import exceptions as ks_exceptions

from ims_osc_plugin import client
from ims_osc_plugin import outcomes
from ims_osc_plugin import threads

FIRST_POLL = 1.0
GROWTH = 1.5
MAX_INTERVAL = 30.0
# How often the reporting thread wakes while a poll is in flight.
STEP = 0.2

# Why a deleted image is reported unknown after waiting.
WAIT_TIMEOUT = 'wait timeout'          # still there at the deadline
WAIT_INTERRUPTED = 'wait interrupted'  # Ctrl-C before it was seen gone
WAIT_CHECK_FAILED = 'wait check failed'  # the last poll had no answer


def accepted(job):
    """Whether ``job``'s delete was accepted, so that waiting can tell.

    A 204 (deleted), or another 2xx answer, which does not say the image
    was deleted (unknown) until a poll finds it gone.
    """
    if job.kind == outcomes.DELETED:
        return True
    error = job.error
    if job.kind == outcomes.UNKNOWN and isinstance(
            error, client.UnexpectedResponse):
        return 200 <= error.response.status_code < 300
    return False


class Waiter:
    """Waits for each accepted delete of ``deletion`` to be gone."""

    def __init__(self, deletion, timeout):
        self.deletion = deletion
        self.client = deletion.client
        self.deadline = time.monotonic() + timeout
        self.polls = 0
        # Lower-case image ID -> (kind, reason, status, error) once known.
        self._seen = {}

    def wait_for(self, job):
        """Poll until ``job``'s image is gone; update the job's outcome."""
        if not accepted(job) or job.image_id is None:
            return
        key = job.image_id.lower()
        if key not in self._seen:
            self._seen[key] = self._wait(job)
        kind, reason, status, error, waited = self._seen[key]
        job.wait_status, job.waited = status, waited
        if kind == outcomes.DELETED:
            if job.kind != outcomes.DELETED:
                job.kind, job.reason, job.error = kind, None, None
        else:
            job.kind, job.reason = kind, reason
            if error is not None:
                job.error = error

    def _wait(self, job):
        started = job.finished_at or time.monotonic()
        interval = FIRST_POLL
        due = started + FIRST_POLL
        status = error = None
        while True:
            if not self._sleep_until(job, started, min(due, max(
                    self.deadline, time.monotonic()))):
                return self._result(WAIT_INTERRUPTED, status, None, started)
            result = self._poll(job, started)
            if result is None:
                return self._result(WAIT_INTERRUPTED, status, None, started)
            gone, status, error = result
            if gone:
                return (outcomes.DELETED, None, None, None,
                        round(time.monotonic() - started))
            if time.monotonic() >= self.deadline:
                return self._result(
                    WAIT_CHECK_FAILED if error is not None else WAIT_TIMEOUT,
                    status, error, started)
            interval = min(interval * GROWTH, MAX_INTERVAL)
            due = max(due + interval, time.monotonic())

    @staticmethod
    def _result(reason, status, error, started):
        return (outcomes.UNKNOWN, reason, status, error,
                round(time.monotonic() - started))

    def _cancelled(self):
        return self.client.cancel.is_set()

    def _sleep_until(self, job, started, when):
        """Wait until ``when``; False if cancelled first."""
        while True:
            if self._cancelled():
                return False
            now = time.monotonic()
            if now >= when:
                return True
            self._tell(job, now - started)
            self.client.cancel.wait(min(STEP, when - now))

    def _poll(self, job, started):
        """(gone, status, error) of one GET, or None if cancelled."""
        answer = {}

        def poll():
            threads.block_signals()
            try:
                doc = self.client.get_image(job.image_id)
            except ks_exceptions.NotFound:
                answer['result'] = (True, None, None)
            except Exception as e:
                answer['result'] = (False, None, e)
            else:
                answer['result'] = (False, doc.get('status'), None)
            finally:
                done.set()

        done = threading.Event()
        self.polls += 1
        threading.Thread(target=poll, name='ims-wait', daemon=True).start()
        while not done.wait(STEP):
            if self._cancelled():
                return None
            self._tell(job, time.monotonic() - started)
        result = answer['result']
        if isinstance(result[2], client.Interrupted):
            return None
        return result

    def _tell(self, job, seconds):
        on_wait = self.deletion.on_wait
        if on_wait is not None:
            on_wait(job, seconds)
