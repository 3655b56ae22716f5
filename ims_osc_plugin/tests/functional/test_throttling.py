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

"""A bulk delete through an API gateway's rate limit (gateway_layer)."""

import collections

from ims_osc_plugin.tests.functional import base
from ims_osc_plugin.tests.functional import gateway_layer

# 5 requests per 4 s: 12 images take three windows. The window is longer
# than the first retries' backoff (0.5, 1, 2 s), as a real gateway's is.
LIMIT = 5
WINDOW = 4.0
IMAGES = 12
WORKERS = 4
# The time a 429 takes from the gateway to the client's gate; a request
# that arrives later than this after a 429 was sent by a worker that knew
# the gate was closed.
SLACK = 0.5


class TestThrottledBulkDelete(base.FunctionalTestCase):

    def run_throttled(self, retry_after):
        images = self.create_images(IMAGES)
        gateway_layer.configure(self.state, images, LIMIT, WINDOW,
                                retry_after=retry_after)
        self.addCleanup(gateway_layer.unconfigure, self.state)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', '--workers',
                                str(WORKERS), *images)

        self.assertSucceeded(result)
        self.assertNotIn('Failed', result.stderr)
        self.assertEqual(set(), set(images) & self.image_ids())
        events = self.deletes(since)
        statuses = collections.defaultdict(list)
        for event in events:
            statuses[event['image_id']].append(event['status'])
        for image in images:
            # Throttled, then deleted once.
            *before, last = statuses[image]
            self.assertEqual(204, last, statuses[image])
            self.assertEqual({429}, set(before) | {429}, statuses[image])
        throttled = [e for e in events if e['status'] == 429]
        # The gateway did throttle this run; a retry storm of 4 workers
        # backing off alone sends many more into closed windows.
        self.assertTrue(throttled)
        self.assertLessEqual(len(throttled), 3 * WORKERS, statuses)
        self.assertIn("retrying when the service's limit allows",
                      result.stderr)
        return events

    def late_in_closed_windows(self, events):
        """Per closed window: the requests sent once a 429 was known.

        Windows start with the first request, as the gateway's do.
        """
        start = events[0]['arrived']
        windows = collections.defaultdict(list)
        for event in events:
            windows[int((event['arrived'] - start) // WINDOW)].append(event)
        late = []
        for index, window in sorted(windows.items()):
            end = start + (index + 1) * WINDOW
            refused = [e['answered'] for e in window if e['status'] == 429]
            if refused:
                known = min(refused) + SLACK
                late.append([e for e in window
                             if known < e['arrived'] < end - 0.2])
        return late

    def test_with_retry_after(self):
        events = self.run_throttled(retry_after=True)
        # Every worker waited for the Retry-After: nothing was sent into
        # a window known to be closed.
        self.assertEqual([], sum(self.late_in_closed_windows(events), []))

    def test_without_retry_after(self):
        events = self.run_throttled(retry_after=False)
        for late in self.late_in_closed_windows(events):
            # Only probes, one at a time, after a growing wait.
            self.assertLessEqual(len(late), 3, late)
            for first, then in zip(late, late[1:]):
                self.assertGreaterEqual(then['arrived'], first['answered'],
                                        late)
