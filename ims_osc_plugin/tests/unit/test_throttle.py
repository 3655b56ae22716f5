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

"""The shared throttle gate, and what counts as throttling."""

import json
import math
import threading
import time

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import requests
import testtools

from ims_osc_plugin import answers
from ims_osc_plugin import throttle


def response(status, body=None, headers=None, raw=None):
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    r._content = raw if raw is not None else (
        b'' if body is None else json.dumps(body).encode())
    return r


class TestImsErrorCode(testtools.TestCase):

    def test_codes_read(self):
        for body, code in (
                ({'error': {'code': 'IMG.0060', 'message': 'busy'}},
                 'IMG.0060'),
                ({'error_code': 'APIGW.0308', 'error_msg': 'over'},
                 'APIGW.0308'),
                ({'code': 'IMG.0028'}, 'IMG.0028'),
                # Glance's own: a status, not a service code.
                ({'code': '404 Not Found', 'message': 'x'}, None),
                ({'code': 404}, None),
                ({'error': 'IMG.0060'}, None),
                ([{'code': 'IMG.0060'}], None),
                ('IMG.0060', None)):
            self.assertEqual(code, answers.ims_error_code(
                response(400, body)), body)

    def test_never_raises(self):
        padded = json.dumps({'error': {'code': 'IMG.0060'},
                             'pad': 'x' * 100000}).encode()
        for raw in (b'', b'<html>', b'\xff\xfe', b'{"error": {"code"',
                    padded, b'[' * 100000):
            self.assertIsNone(answers.ims_error_code(response(400, raw=raw)))
        self.assertIsNone(answers.ims_error_code(object()))


class TestThrottling(testtools.TestCase):

    def test_what_is_throttling(self):
        flow = {'error': {'code': 'IMG.0060', 'message': 'flow control'}}
        for answer, judged in (
                (response(429), (True, None)),
                (response(429, headers={'Retry-After': '5'}), (True, 5)),
                (response(503, headers={'Retry-After': '2'}), (True, 2)),
                (response(503), (False, None)),
                (response(400, flow), (True, None)),
                (response(500, flow, {'Retry-After': '3'}), (True, 3)),
                (response(400, {'error': {'code': 'IMG.0028'}}),
                 (False, None)),
                (response(404), (False, None)),
                (response(502, headers={'Retry-After': '5'}), (False, None)),
                (response(204, flow), (False, None))):
            self.assertEqual(judged, throttle.throttling(answer),
                             (answer.status_code, answer.content))


class FakeClock:

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class TestGateAlone(testtools.TestCase):
    """One thread, a fake clock: what the gate lets through when."""

    def setUp(self):
        super().setUp()
        self.clock = FakeClock()
        self.gate = throttle.Gate(clock=self.clock)

    def admit(self, arrival=None):
        """The gate's answer to a worker arriving now (None: wait)."""
        arrival = len(self.gate._waiting) if arrival is None else arrival
        self.gate._waiting.add(arrival)
        try:
            return self.gate._try(arrival, self.clock(), None)
        finally:
            self.gate._waiting.discard(arrival)

    def test_open_gate_has_no_limit(self):
        tickets = [self.admit() for _ in range(100)]
        self.assertTrue(all(t is not None and not t.probe for t in tickets))
        self.assertIsNone(self.gate.waiting())

    def test_retry_after_closes_it_for_every_worker(self):
        first, second = self.admit(), self.admit()
        self.gate.leave(first, throttled=True, wait=7)
        self.assertEqual(7, self.gate.waiting())
        self.assertIsNone(self.admit())
        self.clock.now += 6.9
        self.assertIsNone(self.admit())
        # An answer sent before the closing does not close it again.
        self.gate.leave(second, throttled=True)
        self.assertEqual(1, self.gate.closings)
        self.clock.now += 0.1
        probe = self.admit()
        self.assertTrue(probe.probe)
        # One probe at a time.
        self.assertIsNone(self.admit())
        self.gate.leave(probe, success=True)
        self.assertIsNone(self.gate.waiting())
        self.assertIsNotNone(self.admit())

    def test_retry_after_beyond_the_cap_leaves_it_open(self):
        self.gate.leave(self.admit(), throttled=True, wait=86400)
        self.assertIsNone(self.gate.waiting())
        self.assertEqual((1, 0), (self.gate.throttled, self.gate.closings))

    def test_in_flight_halved_and_recovered(self):
        tickets = [self.admit() for _ in range(8)]
        self.gate.leave(tickets.pop(), throttled=True, wait=1)
        self.assertEqual(4, self.gate.limit)
        for ticket in tickets:
            self.gate.leave(ticket, throttled=True)
        self.assertEqual(4, self.gate.limit)
        self.clock.now += 1
        self.gate.leave(self.admit(), success=True)
        held = [self.admit() for _ in range(5)]
        self.assertEqual([False] * 4 + [True], [t is None for t in held])
        for ticket in held[:4]:
            self.gate.leave(ticket, success=True)
        successes = 0
        while self.gate.limit < 8:
            self.gate.leave(self.admit(), success=True)
            successes += 1
        # Additive: one more in flight per `limit` successes.
        self.assertTrue(10 <= successes <= 30, successes)

    def test_growing_wait_without_retry_after(self):
        self.gate.leave(self.admit(), throttled=True)
        waits = []
        for _ in range(8):
            waits.append(self.gate.waiting())
            self.clock.now += waits[-1]
            self.gate.leave(self.admit(), throttled=True)
        self.assertEqual([1, 2, 4, 8, 16, 32, 60, 60], waits)

    def test_learns_the_window(self):
        # The service's window: closed for 30 s after each closing.
        def run_closing():
            self.gate.leave(self.admit(), throttled=True)
            start = self.clock.now
            failed = 0
            while True:
                self.clock.now += self.gate.waiting()
                probe = self.admit()
                if self.clock.now - start >= 30:
                    self.gate.leave(probe, success=True)
                    return failed, self.clock.now - start
                self.gate.leave(probe, throttled=True)
                failed += 1

        self.assertEqual((4, 31), run_closing())
        later = [run_closing() for _ in range(6)]
        # Each later closing costs at most one throttled probe, and ends
        # within a second of the window; then exactly on it, for none.
        self.assertTrue(all(failed <= 1 for failed, _ in later), later)
        self.assertTrue(all(30 <= took <= 31 for _, took in later), later)
        self.assertEqual((0, 30), later[-1])

    def test_longest_waiting_worker_probes(self):
        self.gate.leave(self.admit(), throttled=True, wait=1)
        self.clock.now += 1
        self.gate._waiting.update([3, 5])
        self.assertIsNone(self.gate._try(5, self.clock(), None))
        probe = self.gate._try(3, self.clock(), None)
        self.assertTrue(probe.probe)

    def test_patience(self):
        self.gate.leave(self.admit(), throttled=True, wait=30)
        self.gate._waiting.add(0)
        self.assertIsNone(self.gate._try(0, self.clock(), self.clock() + 5))
        self.clock.now += 5
        ticket = self.gate._try(0, self.clock(), self.clock())
        self.assertFalse(ticket.probe)
        # Its success does not open the gate: only a probe does.
        self.gate.leave(ticket, success=True)
        self.assertEqual(25, self.gate.waiting())

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(
        st.sampled_from(['enter', 'ok', 'throttled', 'other', 'tick']),
        st.integers(0, 7), st.one_of(st.none(), st.integers(0, 100))),
        max_size=80))
    def test_invariants(self, steps):
        clock = FakeClock()
        gate = throttle.Gate(clock=clock)
        held = []
        for op, pick, wait in steps:
            now = clock()
            if op == 'enter':
                closed = gate.waiting() is not None
                gate._waiting.add(pick)
                probing = gate._probing
                ticket = gate._try(pick, now, None)
                gate._waiting.discard(pick)
                if ticket is None:
                    continue
                if closed:
                    # Through a closed gate only as the one probe, after
                    # the wait.
                    self.assertTrue(ticket.probe)
                    self.assertFalse(probing)
                    self.assertEqual(0, gate.waiting())
                else:
                    self.assertLessEqual(len(held) + 1, gate.limit)
                held.append(ticket)
            elif op == 'tick':
                clock.now += pick
            elif held:
                ticket = held.pop(pick % len(held))
                gate.leave(ticket, throttled=op == 'throttled', wait=wait,
                           success=op == 'ok')
            self.assertGreaterEqual(gate.limit, 1)
            self.assertLessEqual(sum(t.probe for t in held), 1)
            waiting = gate.waiting()
            if waiting is not None:
                self.assertLessEqual(waiting, throttle.MAX_WAIT)
            self.assertEqual(len(held), gate._in_flight)


class TestGateThreads(testtools.TestCase):
    """Real threads and the real clock, at a small scale."""

    def test_workers_wait_together_and_one_probe_reopens(self):
        gate = throttle.Gate()
        cancel = threading.Event()
        sent = []
        lock = threading.Lock()

        first = gate.enter(cancel)
        gate.leave(first, throttled=True, wait=0.5)
        closed_at = time.monotonic()

        def worker(name):
            ticket = gate.enter(cancel)
            with lock:
                sent.append((name, time.monotonic() - closed_at,
                             ticket.probe))
            time.sleep(0.1)
            gate.leave(ticket, success=True)

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        # At the closed gate, nothing is sent.
        self.assertEqual([], sent)
        for thread in threads:
            thread.join(5)
        self.assertEqual(4, len(sent))
        self.assertTrue(all(after >= 0.45 for _, after, _ in sent), sent)
        probe = sent[0]
        self.assertTrue(probe[2])
        self.assertFalse(any(p for _, _, p in sent[1:]))
        # The others went only once the probe's answer came.
        self.assertTrue(all(after >= probe[1] + 0.09
                            for _, after, _ in sent[1:]), sent)

    def test_cancel_ends_the_wait_at_once(self):
        gate = throttle.Gate()
        cancel = threading.Event()
        gate.leave(gate.enter(cancel), throttled=True, wait=60)
        got = []
        thread = threading.Thread(target=lambda: got.append(
            gate.enter(cancel)))
        thread.start()
        time.sleep(0.2)
        start = time.monotonic()
        cancel.set()
        thread.join(5)
        self.assertLess(time.monotonic() - start, 0.5)
        self.assertEqual([None], got)
        self.assertEqual(0, gate._in_flight)

    def test_limit_starts_unbounded(self):
        self.assertEqual(math.inf, throttle.Gate().limit)
