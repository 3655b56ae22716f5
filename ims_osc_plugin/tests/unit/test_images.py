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

"""Image documents: their checks, and which one an argument names."""

import testtools

from ims_osc_plugin import images

IMAGE_ID = '4ca46bf1-5c61-48ff-b4f3-0ad4e5e3ba90'


class TestImages(testtools.TestCase):

    def test_backup_of(self):
        self.assertEqual('b', images.backup_of(
            {'__whole_image': 'true', '__backup_id': 'b'}))
        self.assertEqual('b', images.backup_of(
            {'__whole_image': 'True', '__backup_id': 'b'}))
        self.assertIsNone(images.backup_of({'__backup_id': 'b'}))
        self.assertIsNone(images.backup_of({'__whole_image': 'true'}))
        self.assertIsNone(images.backup_of({'__whole_image': None}))
        self.assertIsNone(images.backup_of({}))

    def test_is_image_id(self):
        self.assertTrue(images.is_image_id(IMAGE_ID))
        self.assertTrue(images.is_image_id(IMAGE_ID.upper()))
        for bad in ('', IMAGE_ID + '\n', IMAGE_ID.replace('-', ''),
                    '{%s}' % IMAGE_ID, 'urn:uuid:' + IMAGE_ID, None, 42,
                    [IMAGE_ID]):
            self.assertFalse(images.is_image_id(bad), bad)

    def test_named_is_exact(self):
        docs = [{'id': IMAGE_ID, 'name': n}
                for n in ('a', 'A', 'a ', 'in:a', None)]
        self.assertEqual([docs[0]], images.named('a', docs))
        self.assertEqual([], images.named('b', docs))

    def test_check_image(self):
        good = {'id': IMAGE_ID, 'name': None, 'protected': False,
                'owner': 'p', '__whole_image': 'true', '__backup_id': 'b',
                'extra': {'any': 'thing'}}
        self.assertIs(good, images.check_image(good))
        for bad in ({'id': IMAGE_ID, 'protected': 'false'},
                    {'id': IMAGE_ID, 'os_hidden': 1},
                    {'id': IMAGE_ID.replace('-', '')},
                    {'id': 1}, 'x', None):
            self.assertRaises(images.MalformedImage, images.check_image, bad)
