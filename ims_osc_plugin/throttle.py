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

"""All the workers hold back together while the image service throttles.

An API gateway's limit (so many requests per user per window) is shared by
every request of the run. Each worker backing off on its own spends its
retries into a window that is still closed; so one :class:`Gate` is shared
by every request of an :class:`~ims_osc_plugin.client.ImageClient`:

* A throttled answer (:func:`throttling`) closes it: for the
  ``Retry-After`` when the service gives one, else for a wait learnt from
  the earlier closings of the run (growing from :data:`FIRST_WAIT` to
  :data:`MAX_WAIT` while nothing is known). Requests in flight are halved.
* While it is closed, workers wait at it and send nothing. When the wait is
  over, ONE request goes out as a probe, sent by the worker that has waited
  longest. Throttled again, the gate stays closed for longer; any other
  answer opens it.
* While open, each success lets one more request in flight per
  ``limit`` successes (additive increase, multiplicative decrease, as TCP).

The gate never sends anything and never decides an image's outcome; the
client still counts each throttled answer as a retry of the image that got
it. Nothing here blocks longer than :data:`STEP` without looking at the
caller's ``cancel`` event.
"""

import itertools
import math
import threading
import time

from ims_osc_plugin import answers
from ims_osc_plugin import ims_codes

# The first wait after a throttled answer without Retry-After, with no
# earlier closing to learn from; it doubles on each throttled probe.
FIRST_WAIT = 1.0
# The longest one closing lasts, as the client's longest retry wait.
MAX_WAIT = 60.0
# How often a waiting worker looks at ``cancel`` and the clock.
STEP = 0.1
# Learnt waits closer than this are not split further.
_RESOLUTION = 1.0
_now = time.monotonic


def throttling(response):
    """``(True, Retry-After or None)`` if ``response`` says "slow down".

    A 429; a 503 that says when to come back (without ``Retry-After`` a 503
    is a fault, retried by each request's own backoff); IMS's IMG.0060
    with any status. Else ``(False, None)``.
    """
    status = response.status_code
    if status < 400:
        return False, None
    wait = answers.retry_after(response)
    if status == 429 or (status == 503 and wait is not None):
        return True, wait
    if answers.ims_error_code(response) in ims_codes.THROTTLING:
        return True, wait
    return False, None


class Ticket:
    """A request let through the gate; hand it back to :meth:`Gate.leave`.

    ``probe``: the one request sent to see whether the gate can open.
    """

    __slots__ = ('epoch', 'probe', 'sent')

    def __init__(self, epoch, probe, sent):
        self.epoch = epoch
        self.probe = probe
        self.sent = sent


class Gate:
    """The shared gate; thread-safe. ``clock`` is for tests.

    :attr:`throttled` counts the throttled answers, :attr:`closings` the
    times the gate closed from open.
    """

    def __init__(self, clock=None):
        self._clock = clock or _now
        self._lock = threading.Condition()
        self._arrivals = itertools.count()
        self._waiting = set()
        self._in_flight = 0
        # Requests allowed in flight; infinite until the service throttles.
        self._limit = math.inf
        # While closed: when the probe may go (monotonic), else None.
        self._opens_at = None
        self._closed_since = None
        self._probing = False
        self._epoch = 0
        self._last_wait = None
        # What the probes of earlier closings taught: the longest closing
        # still throttled and the shortest that was enough (seconds).
        self._too_short = 0.0
        self._enough = None
        self.throttled = 0
        self.closings = 0

    # -- for the progress line -------------------------------------------

    def waiting(self):
        """Seconds until the gate lets a probe out; ``None`` when open.

        0 once the wait is over (a probe is out, or about to go).
        """
        with self._lock:
            if self._opens_at is None:
                return None
            return max(0.0, self._opens_at - self._clock())

    @property
    def limit(self):
        """Requests allowed in flight now (``math.inf``: no limit)."""
        with self._lock:
            return self._limit

    # -- the requests' side ----------------------------------------------

    def enter(self, cancel, patience=None):
        """Wait for the gate; a :class:`Ticket`, or ``None`` if cancelled.

        A worker waiting longer than ``patience`` seconds goes through
        anyway, so that no request waits without bound: its answer still
        counts against its own retries.
        """
        with self._lock:
            arrival = next(self._arrivals)
            self._waiting.add(arrival)
            give_up = None if patience is None else self._clock() + patience
            try:
                while not cancel.is_set():
                    now = self._clock()
                    ticket = self._try(arrival, now, give_up)
                    if ticket is not None:
                        return ticket
                    timeout = STEP
                    if self._opens_at is not None and now < self._opens_at:
                        timeout = min(STEP, self._opens_at - now)
                    self._pause(timeout)
                return None
            finally:
                self._waiting.discard(arrival)

    def _try(self, arrival, now, give_up):
        """A ticket for the worker that came ``arrival``-th, or None."""
        if self._opens_at is None:
            if self._in_flight + 1 <= self._limit:
                return self._admit(False, now)
        elif (now >= self._opens_at and not self._probing and
              arrival == min(self._waiting)):
            # The one that has waited longest probes.
            self._probing = True
            return self._admit(True, now)
        if give_up is not None and now >= give_up:
            return self._admit(False, now)
        return None

    def _pause(self, seconds):
        # Releases the lock while waiting; a leave() wakes it early.
        self._lock.wait(seconds)

    def _admit(self, probe, now):
        self._in_flight += 1
        return Ticket(self._epoch, probe, now)

    def leave(self, ticket, throttled=False, wait=None, success=False):
        """Hand back ``ticket`` with what its request's answer said.

        :param throttled: the answer was throttling (see :func:`throttling`).
        :param wait: its ``Retry-After`` in seconds, if any.
        :param success: the service did what was asked (a 2xx or a 404 are
            both answers a limit did not stop).
        """
        with self._lock:
            self._in_flight -= 1
            now = self._clock()
            if ticket.probe:
                self._probing = False
            if throttled:
                self.throttled += 1
                if wait is None or wait <= MAX_WAIT:
                    self._close(ticket, wait, now)
                # Else the client ends that request at once (see
                # client.RetryAfterTooLong): held at the gate, each other
                # image would wait a minute to learn the same.
            elif ticket.probe:
                # Through: the service takes requests again.
                self._learn(ticket.sent - self._closed_since, enough=True)
                self._opens_at = self._closed_since = None
            elif success and self._opens_at is None:
                self._limit += 1.0 / self._limit
            self._lock.notify_all()

    def _close(self, ticket, wait, now):
        if self._opens_at is None and ticket.epoch == self._epoch:
            # Open until now: a new closing.
            self.closings += 1
            self._epoch += 1
            self._closed_since = now
            self._limit = max(1.0, min(self._limit, self._in_flight + 1) / 2)
            if wait is None:
                wait = self._first_wait()
            self._open_in(wait, now)
        elif ticket.probe:
            self._epoch += 1
            if wait is None:
                self._learn(ticket.sent - self._closed_since, enough=False)
                wait = self._next_wait(now)
            self._open_in(wait, now)
        elif self._opens_at is not None and wait is not None:
            # Sent before this closing: the service may still say it ends
            # later than planned.
            self._opens_at = max(self._opens_at, now + wait)

    def _open_in(self, wait, now):
        self._last_wait = wait
        self._opens_at = now + wait

    def _learn(self, closed_for, enough):
        if enough:
            if self._enough is None or closed_for < self._enough:
                self._enough = closed_for
            self._too_short = min(self._too_short, self._enough)
        else:
            self._too_short = max(self._too_short, closed_for)
            if self._enough is not None and self._enough <= closed_for:
                # The limit's window is longer than learnt: learn anew.
                self._enough = None

    def _first_wait(self):
        if self._enough is None:
            return FIRST_WAIT
        if self._enough - self._too_short > _RESOLUTION:
            # Try the middle of what is known; a throttled probe costs one
            # retry of one image, a closing too long costs every worker.
            return (self._too_short + self._enough) / 2
        return self._enough

    def _next_wait(self, now):
        """After a throttled probe: when the next one goes."""
        closed_for = now - self._closed_since
        if self._enough is not None and self._enough > closed_for:
            return self._enough - closed_for
        return min(max(self._last_wait or FIRST_WAIT, FIRST_WAIT) * 2,
                   MAX_WAIT)
