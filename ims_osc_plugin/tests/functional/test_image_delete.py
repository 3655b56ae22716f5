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

"""``openstack image delete`` end to end: real CLI, Keystone and Glance."""

import json
import re
import uuid

from ims_osc_plugin.tests.functional import base


def backup_id():
    return 'backup-' + uuid.uuid4().hex[:12]


class TestDeleteBackup(base.FunctionalTestCase):
    """IMS's delete_backup, through the IMS layer on real Glance."""

    def test_delete_backup_by_id(self):
        backup = backup_id()
        image = self.create_image(backup=backup)
        since = self.state.last_seq()

        result = self.delete('--delete-backup', image)

        self.assertSucceeded(result)
        # Nothing of the plugin's at the default verbosity (what the
        # libraries may print, a deprecation warning say, is not ours).
        for text in (image, backup, 'Failed', 'Deleted'):
            self.assertNotIn(text, result.stderr)
        self.assertGone(image)
        self.assertEqual('deleted', self.state.backup_status(backup))
        [event] = self.deletes(since)
        self.assertEqual({'delete_backup': True}, json.loads(event['body']))
        self.assertEqual(204, event['status'])

    def test_delete_backup_by_name_verbose(self):
        backup = backup_id()
        name = self.unique_name()
        image = self.create_image(name, backup=backup)

        result = self.openstack('-v', 'image', 'delete', '--delete-backup',
                                name)

        self.assertSucceeded(result)
        self.assertIn("Deleted image '%s': %s" % (name, image),
                      result.stderr)
        self.assertIn(backup, result.stderr)
        self.assertGone(image)
        self.assertEqual('deleted', self.state.backup_status(backup))

    def test_no_delete_backup_keeps_backup(self):
        backup = backup_id()
        name = self.unique_name()
        image = self.create_image(name, backup=backup)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete',
                                '--no-delete-backup', name)

        self.assertSucceeded(result)
        self.assertIn("Deleted image '%s': %s" % (name, image),
                      result.stderr)
        self.assertIn('kept', result.stderr)
        self.assertGone(image)
        self.assertEqual('available', self.state.backup_status(backup))
        [event] = self.deletes(since)
        self.assertEqual({'delete_backup': False},
                         json.loads(event['body']))
        self.assertEqual('kept', event['backup_action'])

    def test_no_flag_sends_no_body_and_keeps_backup(self):
        backup = backup_id()
        image = self.create_image(backup=backup)
        since = self.state.last_seq()

        result = self.delete(image)

        self.assertSucceeded(result)
        self.assertGone(image)
        self.assertEqual('available', self.state.backup_status(backup))
        [event] = self.deletes(since)
        self.assertIsNone(event['body'])

    def test_delete_backup_on_image_without_backup_warns(self):
        image = self.create_image()

        result = self.delete('--delete-backup', image)

        self.assertSucceeded(result)
        self.assertGone(image)
        self.assertIn('there is no backup to delete', result.stderr)

    def test_ims_layer_keeps_glance_400_for_other_bodies(self):
        # The layer itself must be faithful: any body but IMS's is refused.
        image = self.create_image()
        api = self.images_api(url=self.stack['ims_url'])
        for body in ({}, {'delete_backup': 'yes'},
                     {'delete_backup': True, 'x': 1}):
            resp = api.delete('/images/%s' % image, json=body,
                              raise_exc=False)
            self.assertEqual(400, resp.status_code, body)
            self.assertIn('A body is not expected', resp.text)
        self.assertExists(image)


class TestPlainGlance(base.FunctionalTestCase):
    """The same CLI against unmodified Glance (image_endpoint_override)."""

    def test_no_flag_works_on_plain_glance(self):
        name = self.unique_name()
        image = self.create_image(name)
        since = self.state.last_seq()

        result = self.delete(name, cloud='demo-plain')

        self.assertSucceeded(result)
        self.assertGone(image)
        [event] = self.deletes(since)
        self.assertEqual('plain', event['mode'])
        self.assertEqual(204, event['status'])

    def test_delete_backup_not_supported_on_plain_glance(self):
        backup = backup_id()
        image = self.create_image(backup=backup)

        result = self.delete('--delete-backup', image, cloud='demo-plain')

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertIn("Failed to delete image '%s'" % image, line)
        self.assertIn('does not support delete_backup', line)
        self.assertIn('not deleted', line)
        self.assertExists(image)
        self.assertEqual('available', self.state.backup_status(backup))

    def test_no_delete_backup_not_supported_on_plain_glance(self):
        image = self.create_image()

        result = self.delete('--no-delete-backup', image,
                             cloud='demo-plain')

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertIn('does not support delete_backup', line)
        self.assertExists(image)


class TestFailures(base.FunctionalTestCase):

    def test_several_images_one_missing(self):
        names = [self.unique_name() for _ in range(3)]
        images = [self.create_image(n) for n in names]
        missing = self.unique_name()

        result = self.delete(names[0], missing, images[1], names[2])

        [line] = self.assertFailedLines(result, 1, 4)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': " % missing), line)
        for image in images:
            self.assertGone(image)

    def test_protected_image(self):
        image = self.create_image(protected=True)
        other = self.create_image()

        result = self.delete('--delete-backup', image, other)

        [line] = self.assertFailedLines(result, 1, 2)
        self.assertIn("'%s'" % image, line)
        self.assertIn('403', line)
        self.assertIn('protected', line)
        self.assertExists(image)
        self.assertGone(other)

    def test_other_projects_images(self):
        public = self.create_image(cloud='admin', visibility='public')
        private = self.create_image(cloud='admin')
        since = self.state.last_seq()

        result = self.delete(public, private)

        lines = self.assertFailedLines(result, 2, 2)
        self.assertIn("'%s'" % public, lines[0])
        self.assertIn('403', lines[0])
        # Glance hides another project's private image: not found.
        self.assertIn("'%s'" % private, lines[1])
        self.assertIn('no image', lines[1])
        self.assertExists(public)
        self.assertExists(private)
        # By ID without a flag there is no lookup: each ID gets its DELETE,
        # which Glance refuses (403) or answers as unknown (404).
        self.assertEqual([403, 404],
                         [e['status'] for e in self.deletes(since)])

    def test_ambiguous_name(self):
        name = self.unique_name()
        first = self.create_image(name)
        second = self.create_image(name)
        since = self.state.last_seq()

        result = self.delete('--delete-backup', name)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertIn('more than one image', line)
        self.assertExists(first)
        self.assertExists(second)
        self.assertEqual([], self.deletes(since))

    def test_bad_credentials(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.delete('--delete-backup', image, cloud='demo-badpass')

        self.assertEqual(1, result.rc)
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn('401', result.stderr)
        self.assertNotIn('functional-secret', result.stderr)
        self.assertNotIn('not-the-password', result.stderr)
        self.assertExists(image)
        self.assertEqual([], self.deletes(since))

    def test_bad_token_reaching_glance(self):
        # A token Keystone never issued, sent straight to the image
        # endpoint: Glance's own 401, reported on the image's line.
        image = self.create_image()

        result = self.openstack(
            '--os-auth-type', 'admin_token', '--os-token', 'not-a-token',
            '--os-endpoint', self.stack['ims_url'],
            'image', 'delete', '--retries', '0', image, cloud=None)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertIn('401', line)
        self.assertExists(image)


class TestUnreachable(base.FunctionalTestCase):
    """A service that cannot be reached: a clean failure, nothing deleted.

    What the libraries print about the connection (and how many lines)
    differs between keystoneauth/openstacksdk versions: only the plugin's
    side is checked.
    """

    def assertFailedCleanly(self, result, images, since):
        self.assertEqual(1, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertTrue(base.stderr_lines(result), 'no error shown')
        if 'Failed to delete image' in result.stderr:
            # If the plugin got as far as the images: one line for each.
            self.assertFailedLines(result, len(images), len(images))
        for image in images:
            self.assertExists(image)
        self.assertEqual([], self.deletes(since))

    def test_image_service_down(self):
        images = [self.create_image(), self.create_image()]
        since = self.state.last_seq()

        result = self.delete('--delete-backup', *images,
                             cloud='demo-image-down')

        self.assertFailedCleanly(result, images, since)

    def test_identity_service_down(self):
        images = [self.create_image(), self.create_image()]
        since = self.state.last_seq()

        result = self.delete(*images, cloud='demo-keystone-down')

        self.assertFailedCleanly(result, images, since)


class TestStore(base.FunctionalTestCase):

    def test_store_with_backup_flag_refused(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.delete('--store', 'fs', '--delete-backup', image)

        self.assertEqual(1, result.rc)
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn('--store', base.stderr_lines(result)[-1])
        self.assertNotIn('Failed to delete image', result.stderr)
        self.assertExists(image)
        self.assertEqual([], self.deletes(since))

    def test_unknown_store(self):
        image = self.create_image()

        result = self.delete('--store', 'no-such-store', image)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertIn('no-such-store', line)
        self.assertExists(image)


class TestEndpoints(base.FunctionalTestCase):

    def test_internal_interface(self):
        backup = backup_id()
        image = self.create_image(backup=backup)
        since = self.state.last_seq()

        result = self.delete('--delete-backup', image,
                             cloud='demo-internal')

        self.assertSucceeded(result)
        self.assertGone(image)
        self.assertEqual('deleted', self.state.backup_status(backup))
        self.assertEqual({self.port_of('internal_url')},
                         self.cli_ports(since))

    def test_os_interface_option(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.delete('--os-interface', 'internal', image)

        self.assertSucceeded(result)
        self.assertGone(image)
        [event] = self.deletes(since)
        self.assertEqual(self.port_of('internal_url'), event['port'])

    def test_image_endpoint_override(self):
        backup = backup_id()
        image = self.create_image(backup=backup)
        since = self.state.last_seq()

        result = self.delete('--delete-backup', image,
                             cloud='demo-override')

        self.assertSucceeded(result)
        self.assertGone(image)
        self.assertEqual('deleted', self.state.backup_status(backup))
        self.assertEqual({self.port_of('internal_url')},
                         self.cli_ports(since))


class TestDebugOutput(base.FunctionalTestCase):

    def test_debug_output_has_no_token(self):
        issued = self.openstack('token', 'issue', '-f', 'value', '-c', 'id')
        self.assertSucceeded(issued)
        token = issued.stdout.strip()
        self.assertGreater(len(token), 20)
        backup = backup_id()
        image = self.create_image(backup=backup)
        missing = self.unique_name()
        # Authenticate with that very token (from the environment, as
        # OSC's own "START with options" line would echo an argument).
        env = {
            'OS_AUTH_TYPE': 'v3token',
            'OS_TOKEN': token,
            'OS_AUTH_URL': self.stack['keystone_url'] + '/v3',
            'OS_PROJECT_NAME': 'demo',
            'OS_PROJECT_DOMAIN_NAME': 'Default',
            'OS_REGION_NAME': self.stack['region'],
            'OS_IDENTITY_API_VERSION': '3',
        }

        result = self.openstack('--debug', 'image', 'delete',
                                '--delete-backup', image, missing,
                                cloud=None, env=env)

        # --debug shows the CommandError's traceback on purpose.
        self.assertEqual(1, result.rc)
        self.assertIn("Failed to delete image '%s'" % missing, result.stderr)
        self.assertIn('Failed to delete 1 of 2 images.', result.stderr)
        self.assertIn('"delete_backup": true', result.stderr)
        self.assertIn('X-Auth-Token', result.stderr)
        for text in (result.stdout, result.stderr):
            self.assertNotIn(token, text)
            self.assertNotIn(token[-40:], text)
            # keystoneauth shows the token only as a SHA256 digest.
            for header in re.findall(r'X-Auth-Token: (\S+)', text):
                self.assertTrue(header.startswith('{SHA256}'), header)
        self.assertGone(image)
        self.assertEqual('deleted', self.state.backup_status(backup))

    def test_debug_output_has_no_password(self):
        image = self.create_image()

        result = self.openstack('--debug', 'image', 'delete', image)

        self.assertSucceeded(result)
        self.assertIn('DELETE', result.stderr)
        self.assertNotIn(self.stack['password'], result.stderr)
        self.assertNotIn(self.stack['password'], result.stdout)
        self.assertGone(image)
