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

"""IMS's own error codes, as the real openstack CLI reports them."""

from ims_osc_plugin.tests.functional import base


class TestImsErrorCodes(base.FunctionalTestCase):

    def refused(self, code, meaning, advice, status=400):
        image = self.create_image(backup='backup-' + code)
        self.state.set_ims_error(image, code, status=status)
        since = self.state.last_seq()

        result = self.delete('--retries', '1', '--delete-backup', image)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': %d " % (image, status)), line)
        self.assertIn('%s: %s: ' % (code, meaning), line)
        self.assertIn(advice % {'id': image}, line)
        self.assertExists(image)
        self.assertEqual('available',
                         self.state.backup_status('backup-' + code))
        return [e['status'] for e in self.deletes(since, image)]

    def test_protected(self):
        statuses = self.refused(
            'IMG.0028', 'the image is protected',
            "unprotect it with 'openstack image set --unprotected %(id)s', "
            "then delete it again.")
        # Not worth retrying: one try.
        self.assertEqual([400], statuses)

    def test_still_being_created(self):
        self.refused(
            'IMG.0090',
            'the image is still being created and cannot be deleted yet',
            "Try again once 'openstack image show %(id)s' shows status "
            "active")

    def test_only_the_owner(self):
        self.refused(
            'IMG.0092', 'only the project that owns the image can delete it',
            "Not worth retrying: delete it as the project that owns it")

    def test_public(self):
        self.refused(
            'IMG.0094', 'a public image cannot be deleted',
            "Not worth retrying: public images are the cloud's own")

    def test_flow_control(self):
        # Throttled on every try: retried as a 429 is, then reported.
        statuses = self.refused(
            'IMG.0060',
            "the request exceeds IMS's flow-control limit (throttled)",
            'Every try was throttled: run the command again later, with '
            'fewer --workers.', status=429)
        self.assertEqual([429, 429], statuses)

    def test_backup_not_deleted(self):
        image = self.create_image(backup='backup-0176')
        self.state.set_ims_error(image, 'IMG.0176')

        result = self.delete('--delete-backup', image)

        [line] = self.assertUnknownLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Image '%s' may or may not have been deleted: 400 Bad Request, "
            "IMG.0176: IMS could not delete the CBR backup of this "
            "full-ECS image: Failed to delete the backup of the full-ECS "
            "image." % image), line)
        self.assertIn("Check with 'openstack image show %s'" % image, line)
        self.assertIn('its backup backup-0176 is left in CBR', line)
        # As the layer's IMS did: the image went, its backup stayed.
        self.assertGone(image)
        self.assertEqual('available', self.state.backup_status('backup-0176'))


class TestEmptyStore(base.FunctionalTestCase):

    def test_refused_before_any_request(self):
        image = self.create_image(backup='backup-empty-store')
        since = self.state.last_seq()

        for flags in ([], ['--delete-backup']):
            result = self.delete('--store', '', *(flags + [image]))

            self.assertEqual(1, result.rc, result.stderr)
            self.assertEqual(
                ["--store '' is not a store's name: give one that "
                 "'openstack image stores list' shows."],
                base.stderr_lines(result))
        self.assertEqual([], self.state.events(since))
        self.assertExists(image)
