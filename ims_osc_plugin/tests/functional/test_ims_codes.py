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


def _code_blocks(page, title):
    """The code blocks of one section of a doc page, in order."""
    import os
    import re

    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    with open(os.path.join(top, 'doc', 'source', page),
              encoding='utf-8') as f:
        text = f.read()
    section = text[text.index(title + '\n'):]
    section = re.split(r'\n[^\n]+\n-{3,}\n', section[len(title) + 1:])[0]
    blocks = re.findall(r'\.\. code-block:: \w+\n\n((?:   .*\n|\n)+)',
                        section)
    return [''.join(line[3:] + '\n' for line in b.rstrip().splitlines())
            for b in blocks]


class TestListingRecipe(base.FunctionalTestCase):
    """The guide's recipe lists the full-ECS images and their backups."""

    TITLE = 'Full-ECS images of a project and their backups'

    def setUp(self):
        super().setUp()
        # IMS's own images are private (Glance's default is "shared").
        self.whole = self.create_image(backup='backup-listed',
                                       visibility='private')
        self.plain = self.create_image(visibility='private')

    def test_shell_recipe(self):
        import os
        import subprocess

        [shell, _] = _code_blocks('delete-backup.rst', self.TITLE)
        env = self.cli_env({'OS_CLOUD': 'demo'})
        # The recipe's openstack and python3: this environment's.
        env['PATH'] = os.path.dirname(base._openstack_executable()) + (
            os.pathsep + env['PATH'])
        proc = subprocess.run(['bash', '-c', shell], env=env,
                              capture_output=True, timeout=300, text=True)
        self.assertEqual(0, proc.returncode, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertIn('backup backup-listed', ' '.join(
            line for line in lines if line.startswith(self.whole)))
        self.assertFalse(any(self.plain in line for line in lines), lines)

    def test_sdk_recipe_sends_the_filter(self):
        import os
        import subprocess
        import sys

        [_, sdk] = _code_blocks('delete-backup.rst', self.TITLE)
        since = self.state.last_seq()
        env = self.cli_env({'OS_CLOUD': 'demo'})
        proc = subprocess.run([sys.executable, '-c', sdk], env=env,
                              capture_output=True, timeout=300, text=True,
                              cwd=os.path.dirname(self.stack['clouds_yaml']))
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('%s ' % self.whole, proc.stdout)
        self.assertIn('backup-listed', proc.stdout)
        self.assertNotIn(self.plain, proc.stdout)
        lists = [e for e in self.state.events(since, method='GET')
                 if e['path'] == '/v2/images']
        self.assertTrue(lists)
        for event in lists:
            self.assertIn('__whole_image=true', event['query'])
