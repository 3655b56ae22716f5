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

"""Faults injected by the IMS layer, seen through the real CLI."""

from ims_osc_plugin.tests.functional import base


class TestFaults(base.FunctionalTestCase):

    def statuses(self, since, image_id):
        return [e['status'] for e in self.deletes(since, image_id)]

    def test_transient_503_is_retried_and_reported_once(self):
        image = self.create_image(backup='backup-transient')
        self.state.set_fault(image, 'status', status=503, count=2)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', '--delete-backup',
                                image)

        self.assertSucceeded(result)
        self.assertEqual([503, 503, 204], self.statuses(since, image))
        self.assertGone(image)
        self.assertEqual('deleted',
                         self.state.backup_status('backup-transient'))
        self.assertEqual(1, result.stderr.count('Deleted image'))
        self.assertNotIn('Failed', result.stderr)

    def test_persistent_503_one_line_per_image(self):
        failing = [self.create_image(), self.create_image()]
        fine = self.create_image()
        for image in failing:
            self.state.set_fault(image, 'status', status=503)
        since = self.state.last_seq()

        result = self.delete('--retries', '1', failing[0], fine, failing[1])

        lines = self.assertFailedLines(result, 2, 3)
        for image, line in zip(failing, lines):
            self.assertTrue(line.startswith(
                "Failed to delete image '%s': 503" % image), line)
            # One attempt and one retry, one line.
            self.assertEqual([503, 503], self.statuses(since, image))
            self.assertExists(image)
        self.assertNotIn('Retrying', result.stderr)
        self.assertGone(fine)

    def test_persistent_500_not_retried(self):
        image = self.create_image()
        self.state.set_fault(image, 'status', status=500)
        since = self.state.last_seq()

        result = self.delete('--delete-backup', image)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': 500" % image), line)
        self.assertIn('Injected fault', line)
        self.assertEqual([500], self.statuses(since, image))
        self.assertExists(image)

    def test_html_error_page(self):
        image = self.create_image()
        self.state.set_fault(image, 'html', status=500)

        result = self.delete(image)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': 500" % image), line)
        self.assertIn('nginx', line)
        for char in '<>':
            self.assertNotIn(char, result.stderr)
        self.assertExists(image)

    def test_html_bad_gateway_retried_then_reported(self):
        image = self.create_image()
        self.state.set_fault(image, 'html', status=502)
        since = self.state.last_seq()

        result = self.delete('--retries', '1', image)

        # A 502 comes from a proxy: the service behind it may have acted
        # on the request, so the image's fate is unknown (issue 12).
        [line] = self.assertUnknownLines(result, 1, 1)
        self.assertIn('502', line)
        self.assertNotIn('<', result.stderr)
        self.assertEqual([502, 502], self.statuses(since, image))

    def test_dropped_connection_once_is_retried(self):
        image = self.create_image()
        self.state.set_fault(image, 'drop', count=1)
        since = self.state.last_seq()

        result = self.delete(image)

        self.assertSucceeded(result)
        self.assertEqual([0, 204], self.statuses(since, image))
        self.assertGone(image)

    def test_dropped_connection(self):
        image = self.create_image()
        other = self.create_image()
        self.state.set_fault(image, 'drop')

        result = self.delete('--retries', '1', image, other)

        # Each connection closed after the request was sent: the client
        # cannot tell whether the service acted on it (issue 12), so the
        # image is neither deleted nor plainly failed.
        [line] = self.assertUnknownLines(result, 1, 2)
        self.assertTrue(line.startswith(
            "Image '%s' may or may not have been deleted: " % image), line)
        self.assertExists(image)
        self.assertGone(other)

    def test_hung_server_client_timeout(self):
        # The 'demo-timeout' cloud has api_timeout: 3 in clouds.yaml; the
        # server holds the DELETE far longer. What shows that the CLI gave
        # up on its own timeout is the server's side, not a stopwatch: the
        # CLI has exited while the server still holds the request.
        delay = 20
        image = self.create_image()
        self.state.set_fault(image, 'delay', delay=delay)
        since = self.state.last_seq()

        result = self.delete('--retries', '0', image, cloud='demo-timeout')

        held = self.deletes(since, image)
        # The request was sent and never answered: the service may act on
        # it, so the image's fate is unknown (issue 12).
        [line] = self.assertUnknownLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Image '%s' may or may not have been deleted: " % image), line)
        self.assertIn('time', line.lower())
        self.assertEqual([None], [e['status'] for e in held])
        self.assertExists(image)
        # The server finishes the delete it was given, late: wait for it
        # so it does not land in another test.
        self.wait_for('the held DELETE to finish', lambda: all(
            e['status'] is not None for e in self.deletes(since, image)),
            timeout=delay + 30, interval=0.5)


class TestWorkers(base.FunctionalTestCase):
    """--workers: same lines and summary, in argument order."""

    def test_order_summary_partial_failure_and_retries(self):
        images = [self.create_image() for _ in range(8)]
        # images[1] fails for good, images[5] twice then works, and one
        # argument names nothing.
        self.state.set_fault(images[1], 'status', status=403)
        self.state.set_fault(images[5], 'status', status=503, count=2)
        missing = self.unique_name()
        args = images[:4] + [missing] + images[4:]
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', '--workers', '4',
                                *args)

        lines = self.assertFailedLines(result, 2, 9)
        self.assertTrue(lines[0].startswith(
            "Failed to delete image '%s': 403" % images[1]), lines[0])
        self.assertEqual("Failed to delete image '%s': no image with this "
                         "name or ID" % missing, lines[1])
        deleted = [line.split("'")[1] for line in result.stderr.splitlines()
                   if line.startswith('Deleted image')]
        expected = [i for i in images if i != images[1]]
        self.assertEqual(expected, deleted)  # argument order
        for image in expected:
            self.assertGone(image)
        self.assertExists(images[1])
        self.assertEqual([503, 503, 204], [
            e['status'] for e in self.deletes(since, images[5])])
