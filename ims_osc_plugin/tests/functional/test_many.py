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

"""Many images in one call, with transient faults.

``IMS_FUNCTIONAL_MANY`` sets how many (default 1000; 0 skips the test),
``IMS_FUNCTIONAL_MANY_WORKERS`` the ``--workers`` count (default 8).
"""

import collections
import os
import time

from ims_osc_plugin.tests.functional import base


def _env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class TestManyImages(base.FunctionalTestCase):

    def test_many_images_with_transient_503s(self):
        count = _env_int('IMS_FUNCTIONAL_MANY', 1000)
        workers = _env_int('IMS_FUNCTIONAL_MANY_WORKERS', 8)
        if count <= 0:
            self.skipTest('IMS_FUNCTIONAL_MANY=%d' % count)
        prefix = self.unique_name()
        started = time.monotonic()
        images = self.create_images(count, prefix=prefix)
        created = time.monotonic() - started
        self.assertEqual(count, len(set(images)))
        # 5% of the DELETEs fail once with a transient 503.
        flaky = images[::20]
        self.state.set_faults(flaky, 'status', status=503, count=1)
        before = self.image_ids()
        since = self.state.last_seq()

        result = self.delete('--workers', str(workers), *images,
                             timeout=900)
        self.addDetail('timing', base._text(
            '%d images: created in %.1f s; %d workers: deleted in %.1f s' % (
                count, created, workers, result.elapsed)))

        self.assertSucceeded(result)
        self.assertNotIn('Failed', result.stderr)
        statuses = collections.defaultdict(list)
        for event in self.deletes(since):
            statuses[event['image_id']].append(event['status'])
        self.assertEqual(set(images), set(statuses))
        flaky = set(flaky)
        for image in images:
            expected = [503, 204] if image in flaky else [204]
            self.assertEqual(expected, statuses[image], image)
        self.assertEqual(before - set(images), self.image_ids())
