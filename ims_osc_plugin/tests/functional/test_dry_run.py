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

"""``image delete --dry-run`` (issue 10) through the real CLI.

Every argument is resolved as a real run would, no DELETE reaches the
server, and stdout says what a real run would do.
"""

import uuid

from ims_osc_plugin.tests.functional import base


def backup_id():
    return 'backup-' + uuid.uuid4().hex[:12]


def stdout_lines(result):
    return [line for line in result.stdout.splitlines() if line.strip()]


def would(result):
    return [line for line in stdout_lines(result)
            if line.startswith(('Would delete image ',
                                'Would not delete image '))]


def failures(result):
    return [line for line in base.stderr_lines(result)
            if line.startswith('Failed to delete image ')]


def summary(images, backups):
    return ('Dry run: would delete %d image%s and %d backup%s; nothing was '
            'deleted.' % (images, '' if images == 1 else 's',
                          backups, '' if backups == 1 else 's'))


class TestDryRun(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.before = self.image_ids()
        self.admin_before = self.image_ids('admin')

    def assertNothingDeleted(self, since):
        self.assertEqual([], self.deletes(since))
        self.assertEqual(self.before, self.image_ids())
        self.assertEqual(self.admin_before, self.image_ids('admin'))

    def full_ecs(self):
        backup = backup_id()
        name = self.unique_name()
        image = self.create_image(name, backup=backup)
        self.before.add(image)
        return name, image, backup

    def plain(self, **fields):
        name = self.unique_name()
        image = self.create_image(name, **fields)
        self.before.add(image)
        return name, image

    def test_delete_backup_every_kind_of_image(self):
        full_name, full, backup = self.full_ecs()
        plain_name, plain = self.plain()
        protected_name, protected = self.plain(protected=True)
        foreign_name = self.unique_name()
        foreign = self.create_image(foreign_name, cloud='admin',
                                    visibility='public')
        self.admin_before.add(foreign)
        owner = self.images_api('admin').get_project_id()
        project = self.images_api('demo').get_project_id()
        since = self.state.last_seq()

        # Names and IDs mixed; the full-ECS image also a second time by
        # ID: one line for it, as a real run deletes it once.
        result = self.delete('--dry-run', '--delete-backup', full_name,
                             plain, protected_name, foreign, full)

        self.assertSucceeded(result)
        self.assertEqual([
            "Would delete image '%s' (%s): full-ECS image, its backup %s "
            "would also be deleted" % (full_name, full, backup),
            "Would delete image '%s' (%s): no backup" % (plain_name, plain),
            "Would not delete image '%s' (%s): the service would refuse: "
            "the image is protected" % (protected_name, protected),
            "Would not delete image '%s' (%s): the service would refuse: "
            "it belongs to project %s, not to your project %s (unless your "
            "role lets you delete other projects' images)"
            % (foreign_name, foreign, owner, project),
        ], would(result))
        self.assertEqual(summary(2, 1), stdout_lines(result)[-1])
        self.assertNothingDeleted(since)
        self.assertEqual('available', self.state.backup_status(backup))

    def test_backup_kept_without_flag_and_with_no_delete_backup(self):
        full_name, full, backup = self.full_ecs()
        plain_name, plain = self.plain()
        since = self.state.last_seq()

        for flags in ((), ('--no-delete-backup',)):
            result = self.delete('--dry-run', *(flags + (full, plain_name)))

            self.assertSucceeded(result)
            self.assertEqual([
                "Would delete image '%s' (%s): full-ECS image, its backup "
                "%s would be kept" % (full_name, full, backup),
                "Would delete image '%s' (%s): no backup"
                % (plain_name, plain),
            ], would(result))
            self.assertEqual(summary(2, 0), stdout_lines(result)[-1])
        self.assertNothingDeleted(since)

    def test_one_image_one_backup(self):
        full_name, full, backup = self.full_ecs()
        since = self.state.last_seq()

        result = self.delete('--dry-run', '--delete-backup', full_name)

        self.assertSucceeded(result)
        self.assertEqual(summary(1, 1), stdout_lines(result)[-1])
        self.assertEqual(
            'Dry run: would delete 1 image and 1 backup; nothing was '
            'deleted.', stdout_lines(result)[-1])
        self.assertNothingDeleted(since)

    def test_store(self):
        plain_name, plain = self.plain()
        since = self.state.last_seq()

        result = self.delete('--dry-run', '--store', 'fs', plain_name)

        self.assertSucceeded(result)
        [line] = would(result)
        self.assertTrue(line.startswith(
            "Would delete image '%s' (%s)" % (plain_name, plain)), line)
        self.assertIn(" from store 'fs'", line)
        self.assertEqual(summary(1, 0), stdout_lines(result)[-1])
        self.assertNothingDeleted(since)

    def test_unresolvable_arguments_fail_as_in_a_real_run(self):
        plain_name, plain = self.plain()
        ambiguous = self.unique_name()
        self.before.update([self.create_image(ambiguous),
                            self.create_image(ambiguous)])
        private = self.create_image(cloud='admin')  # hidden from demo
        self.admin_before.add(private)
        unresolvable = [self.unique_name(), str(uuid.uuid4()), ambiguous,
                        private]

        for flags in ((), ('--delete-backup',)):
            since = self.state.last_seq()
            result = self.delete('--dry-run', *(flags + (plain_name,) +
                                                tuple(unresolvable)))

            self.assertEqual(1, result.rc, result.stderr)
            self.assertNotIn('Traceback', result.stderr)
            self.assertEqual('Dry run: 4 of 5 images could not be '
                             'looked up.', base.stderr_lines(result)[-1])
            dry_failures = failures(result)
            self.assertEqual(
                ["Failed to delete image '%s': " % arg
                 for arg in unresolvable],
                [line[:line.index(': ') + 2] for line in dry_failures])
            self.assertEqual([
                "Would delete image '%s' (%s): no backup"
                % (plain_name, plain)], would(result))
            self.assertNothingDeleted(since)

            # A real run of the same unresolvable arguments (none of them
            # can be deleted) fails them with the same lines.
            real = self.delete(*(flags + tuple(unresolvable)))
            self.assertEqual(dry_failures,
                             self.assertFailedLines(real, 4, 4))
            self.assertEqual(self.before, self.image_ids())

    def test_duplicates_handled_as_in_a_real_run(self):
        name, image = self.plain()
        since = self.state.last_seq()
        args = (name, name, image)

        result = self.delete('--dry-run', *args)

        self.assertSucceeded(result)
        self.assertEqual(["Would delete image '%s' (%s): no backup"
                          % (name, image)], would(result))
        self.assertEqual(summary(1, 0), stdout_lines(result)[-1])
        self.assertNothingDeleted(since)
        self.assertEqual(
            ["Image '%s' is the same image as '%s': handled once"
             % (arg, name) for arg in args[1:]],
            [line for line in base.stderr_lines(result)
             if 'handled once' in line])

        real = self.delete('-v', *args)

        # Deleted once; every argument is reported deleted.
        self.assertSucceeded(real)
        self.assertGone(image)
        self.assertEqual(
            ["Deleted image '%s': %s" % (name, image)] +
            ["Deleted image '%s': %s, the same image as '%s'"
             % (arg, image, name) for arg in args[1:]],
            [line for line in base.stderr_lines(real)
             if line.startswith('Deleted image')])
        self.assertEqual(1, len(self.deletes(since)))

    def test_an_admin_is_not_promised_a_refusal(self):
        # The token's roles decide: an admin's dry run says it would delete
        # another project's image, and the admin's real run does.
        name, image = self.plain()
        since = self.state.last_seq()

        dry = self.delete('--dry-run', name, cloud='admin')

        self.assertSucceeded(dry)
        self.assertEqual(["Would delete image '%s' (%s): no backup"
                          % (name, image)], would(dry))
        self.assertNothingDeleted(since)
        real = self.delete(image, cloud='admin')
        self.assertSucceeded(real)
        self.assertGone(image)
        self.before.discard(image)

    def test_upper_case_id_duplicate_as_in_a_real_run(self):
        # The same ID in capitals: whatever a real run makes of it, the dry
        # run must say the same. Only a lookup tells whether it names the
        # same image; this Glance (SQLite) compares IDs with case, as
        # Glance on PostgreSQL does, so it names no image here.
        name, image = self.plain()
        since = self.state.last_seq()
        args = (image, image.upper())
        not_found = ["Failed to delete image '%s': no image with this name "
                     "or ID" % image.upper()]

        dry = self.delete('--dry-run', *args)

        self.assertNothingDeleted(since)
        real = self.delete('-v', *args)
        self.assertEqual(1, dry.rc, dry.stderr)
        self.assertEqual(real.rc, dry.rc, real.stderr)
        self.assertEqual(
            not_found,
            [line for line in base.stderr_lines(dry)
             if 'handled once' in line or line.startswith('Failed')])
        self.assertEqual(
            ["Deleted image '%s': %s" % (image, image)] + not_found,
            [line for line in base.stderr_lines(real)
             if line.startswith(('Deleted image', 'Failed to delete image'))])

    def test_bad_input_refused_as_in_a_real_run(self):
        name, image = self.plain()
        since = self.state.last_seq()

        dry = self.delete('--dry-run', '--store', 'fs', '--delete-backup',
                          name)
        real = self.delete('--store', 'fs', '--delete-backup', name)

        self.assertEqual(1, dry.rc)
        self.assertEqual(base.stderr_lines(real)[-1],
                         base.stderr_lines(dry)[-1])
        self.assertEqual('', dry.stdout.strip())
        self.assertNothingDeleted(since)
