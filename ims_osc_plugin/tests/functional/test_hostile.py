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

"""Hostile image arguments through the real CLI: nothing else is deleted."""

from ims_osc_plugin.tests.functional import base

HOSTILE = [
    '../../v3/auth/tokens',
    '..',
    'a/b',
    '%2e%2e%2f',
    '%2e%2e%2fv3%2fauth%2ftokens',
    '?x=1',
    '#f',
    '',
    ' ',
    '\t',
    'x' * 5000,
    'red\x1b[31mtext\x07',
    'new\nline',
    '\u202egnp.exe',
    '*',
]


class TestHostileArguments(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        # Canaries in both projects: none of them may disappear.
        self.canaries = [self.create_image() for _ in range(2)]
        self.admin_canary = self.create_image(cloud='admin')
        self.before = self.image_ids()
        self.admin_before = self.image_ids('admin')
        self.since = self.state.last_seq()

    def assertNothingDeleted(self):
        self.assertEqual(self.before, self.image_ids())
        self.assertEqual(self.admin_before, self.image_ids('admin'))
        self.assertEqual([], self.deletes(self.since))
        for image in self.canaries + [self.admin_canary]:
            self.assertExists(image)

    def test_all_hostile_arguments_in_one_call(self):
        for flags in ((), ('--delete-backup',)):
            result = self.delete(*(flags + tuple(HOSTILE)))

            lines = self.assertFailedLines(result, len(HOSTILE),
                                           len(HOSTILE))
            for line in lines:
                self.assertLess(len(line), 600)
            self.assertNotIn('\x1b', result.stderr)
            self.assertNotIn('\x07', result.stderr)
            self.assertNotIn('\u202e', result.stderr)
            self.assertNothingDeleted()

    def test_path_traversal_alone(self):
        result = self.delete('--delete-backup', '../../v3/auth/tokens')

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertEqual("Failed to delete image '../../v3/auth/tokens': "
                         "no image with this name or ID", line)
        self.assertNothingDeleted()
        # The names went to Glance as a query, never as a path.
        paths = set(e['path'] for e in self.state.events(self.since)
                    if e['mode'] == 'ims')
        self.assertEqual({'/v2/images'}, paths)

    def test_empty_argument_alone(self):
        result = self.delete('')

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith("Failed to delete image '': "),
                        line)
        self.assertNothingDeleted()

    def test_very_long_argument_alone(self):
        result = self.delete('y' * 5000)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertLess(len(line), 600)
        self.assertNothingDeleted()

    def test_hostile_arguments_beside_a_real_image(self):
        name = self.unique_name()
        image = self.create_image(name)
        before = self.image_ids()

        result = self.delete('../../v3/auth/tokens', name, '?x=1', '#f')

        lines = self.assertFailedLines(result, 3, 4)
        self.assertNotIn(name, ' '.join(lines))
        self.assertGone(image)
        self.assertEqual(before - {image}, self.image_ids())
        self.assertEqual([image],
                         [e['image_id'] for e in self.deletes(self.since)])

    def test_same_image_twice_deleted_once(self):
        name = self.unique_name()
        image = self.create_image(name)

        result = self.delete('--delete-backup', image, image, name)

        self.assertSucceeded(result)
        self.assertGone(image)
        [event] = self.deletes(self.since)
        self.assertEqual(image, event['image_id'])
        self.assertEqual(204, event['status'])
        self.assertEqual(self.before - {image}, self.image_ids())

    def test_unknown_uuid(self):
        result = self.delete('--delete-backup',
                             '00000000-0000-4000-8000-000000000000')

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertIn('no image', line)
        self.assertNothingDeleted()
