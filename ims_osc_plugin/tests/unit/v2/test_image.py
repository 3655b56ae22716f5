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

"""The image delete command on a real client, keystoneauth Session and
requests-mock cloud."""

import logging
from unittest import mock

import fixtures
from openstackclient.image.v2 import image as osc_image
from osc_lib import exceptions
from osc_lib.test import base
from requests_mock.contrib import fixture as rm_fixture

from ims_osc_plugin import client
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin.v2 import image


class TestDeleteImageParser(base.TestCommand):

    def setUp(self):
        super().setUp()
        self.cmd = image.DeleteImage(self.app, None)

    def test_defaults(self):
        parsed = self.check_parser(self.cmd, ['a'], [
            ('images', ['a']), ('delete_backup', None), ('store', None),
            ('workers', 1), ('retries', client.DEFAULT_RETRIES)])
        self.assertIsNotNone(parsed)

    def test_delete_backup(self):
        self.check_parser(self.cmd, ['--delete-backup', 'a', 'b'], [
            ('images', ['a', 'b']), ('delete_backup', True)])

    def test_no_delete_backup(self):
        self.check_parser(self.cmd, ['--no-delete-backup', 'a'], [
            ('images', ['a']), ('delete_backup', False)])

    def test_flags_are_exclusive(self):
        self.assertRaises(
            base.ParserException, self.check_parser, self.cmd,
            ['--delete-backup', '--no-delete-backup', 'a'], [])

    def test_image_required(self):
        self.assertRaises(base.ParserException, self.check_parser,
                          self.cmd, ['--delete-backup'], [])

    def test_inherited_store(self):
        self.check_parser(self.cmd, ['--store', 's1', 'a'], [
            ('store', 's1'), ('images', ['a'])])

    def test_workers_and_retries(self):
        self.check_parser(self.cmd, ['--workers', '8', '--retries', '0',
                                     'a'], [('workers', 8), ('retries', 0)])
        for bad in (['--workers', '0'], ['--workers', '65'],
                    ['--workers', 'x'], ['--retries', '-1'],
                    ['--retries', '11']):
            self.assertRaises(base.ParserException, self.check_parser,
                              self.cmd, bad + ['a'], [])

    def test_core_parser_still_has_what_we_inherit(self):
        # Drift guard: if core renames these, our subclass must follow.
        parser = osc_image.DeleteImage(self.app, None).get_parser('x')
        dests = {a.dest for a in parser._actions}
        self.assertLessEqual({'images', 'store'}, dests)
        self.assertTrue(issubclass(image.DeleteImage, osc_image.DeleteImage))

    def test_parser_does_not_need_app(self):
        # cliff's sphinx extension builds the parser with app=None.
        image.DeleteImage(None, None).get_parser('openstack image delete')


class TestDeleteImage(base.TestCommand):

    def setUp(self):
        super().setUp()
        self.requests = self.useFixture(rm_fixture.Fixture())
        self.useFixture(fixtures.MockPatch('keystoneauth1.session.time.sleep'))
        self.cloud = fakes.Cloud(self.requests)
        self.ims = client.ImageClient.from_session(fakes.token_session())
        self.app.client_manager.ims = self.ims
        self.app.client_manager._api_version = {'image': '2'}
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.INFO, format='%(levelname)s %(message)s'))
        self.cmd = image.DeleteImage(self.app, None)

    def run_cmd(self, arglist):
        parsed = self.check_parser(self.cmd, arglist, [])
        return self.cmd.take_action(parsed)

    def assertFails(self, arglist, summary):
        e = self.assertRaises(exceptions.CommandError, self.run_cmd, arglist)
        self.assertEqual(summary, str(e))

    def lines(self, level='ERROR'):
        prefix = level + ' '
        return [line[len(prefix):] for line in self.log.output.splitlines()
                if line.startswith(prefix)]

    def deletes(self):
        return [(r.path.rsplit('/', 1)[-1], r.json() if r.body else None)
                for r in self.requests.request_history
                if r.method == 'DELETE']

    def test_by_id_with_backup(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.assertIsNone(self.run_cmd(['--delete-backup', img['id']]))
        self.assertEqual([(img['id'], {'delete_backup': True})],
                         self.deletes())
        self.assertEqual(
            ["Deleted image '%s': %s and its backup bk" % (img['id'],
                                                           img['id'])],
            self.lines('INFO'))
        self.assertEqual([], self.lines('WARNING') + self.lines())

    def test_by_name_keep_backup(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.run_cmd(['--no-delete-backup', 'ecs'])
        self.assertEqual([(img['id'], {'delete_backup': False})],
                         self.deletes())
        self.assertEqual(["Deleted image 'ecs': %s (backup bk kept)"
                          % img['id']], self.lines('INFO'))

    def test_no_flag_sends_no_body(self):
        img = self.cloud.add(fakes.image('plain'))
        self.run_cmd(['plain'])
        self.assertEqual([(img['id'], None)], self.deletes())
        self.assertEqual(2, self.requests.call_count)

    def test_several_requests_per_image(self):
        images = self.cloud.add(*[fakes.image('n%d' % i) for i in range(4)])
        self.run_cmd([images[0]['id'], 'n1', images[2]['id'], 'n3'])
        self.assertEqual(sorted(i['id'] for i in images),
                         sorted(d[0] for d in self.deletes()))
        # A DELETE per ID; a lookup and a DELETE per name.
        self.assertEqual(6, self.requests.call_count)

    def test_by_id_without_flag_one_request(self):
        img = self.cloud.add(fakes.image('x', whole=True, backup='bk'))
        self.assertIsNone(self.run_cmd([img['id']]))
        self.assertEqual(1, self.requests.call_count)
        self.assertEqual([(img['id'], None)], self.deletes())
        self.assertEqual(["Deleted image '%s': %s" % (img['id'], img['id'])],
                         self.lines('INFO'))

    def test_id_shaped_name(self):
        name = '00000000-0000-4000-8000-000000000001'
        img = self.cloud.add(fakes.image(name))
        self.assertIsNone(self.run_cmd([name]))
        # DELETE by ID (404), lookup by name, DELETE the image found.
        self.assertEqual([name, img['id']], [d[0] for d in self.deletes()])
        self.assertEqual(3, self.requests.call_count)
        self.assertEqual({}, self.cloud.images)

    def test_missing_id_without_flag(self):
        missing = '00000000-0000-4000-8000-000000000002'
        self.assertFails([missing], 'Failed to delete 1 of 1 images.')
        self.assertEqual(["Failed to delete image '%s': no image with this "
                          "name or ID" % missing], self.lines())
        self.assertEqual(2, self.requests.call_count)

    def test_retried_delete_finding_image_gone_counts(self):
        # The first DELETE's answer was lost (503 stands in for it); the
        # retry finds the image already deleted.
        img = self.cloud.add(fakes.image('x'))
        self.cloud.faults['DELETE', img['id']] = [
            (503, ''), (404, '{"message": "No image found"}')]
        self.assertIsNone(self.run_cmd([img['id']]))
        self.assertEqual(
            ["Deleted image '%s': %s (it was already gone when the delete "
             "was retried)" % (img['id'], img['id'])],
            [line for line in self.lines('INFO')
             if line.startswith('Deleted')])
        self.assertEqual(2, self.requests.call_count)

    def test_same_id_different_case_deleted_once(self):
        img = self.cloud.add(fakes.image('x'))
        self.assertIsNone(self.run_cmd([img['id'], img['id'].upper()]))
        self.assertEqual([img['id']], [d[0] for d in self.deletes()])

    def test_no_backup_warning(self):
        img = self.cloud.add(fakes.image('plain'))
        self.run_cmd(['--delete-backup', 'plain'])
        self.assertEqual([(img['id'], {'delete_backup': True})],
                         self.deletes())
        self.assertEqual(
            ["Image 'plain': image %s is not a full-ECS image with a "
             "backup: there is no backup to delete" % img['id']],
            self.lines('WARNING'))

    def test_no_backup_warning_only_when_deleted(self):
        img = self.fail_delete('protected', (403, '{"message": "m"}'))
        self.assertFails(['--delete-backup', 'protected'],
                         'Failed to delete 1 of 1 images.')
        self.assertIn(img['id'], self.cloud.images)
        self.assertEqual([], self.lines('WARNING'))
        self.assertEqual(1, len(self.lines()))

    def test_partial_failure_tries_every_image(self):
        a, b = self.cloud.add(fakes.image('a'), fakes.image('b'))
        self.assertFails(['a', 'missing', 'b'],
                         'Failed to delete 1 of 3 images.')
        self.assertEqual(sorted([a['id'], b['id']]),
                         sorted(d[0] for d in self.deletes()))
        self.assertEqual(
            ["Failed to delete image 'missing': no image with this name "
             "or ID"], self.lines())

    def test_missing_id_does_not_stop_the_loop(self):
        # Core OSC stops here with "Multi Backend support not enabled."
        a = self.cloud.add(fakes.image('a'))
        missing = '00000000-0000-4000-8000-000000000000'
        for flags in ([], ['--delete-backup']):
            self.cloud.add(a)
            self.assertFails(flags + [missing, 'a'],
                             'Failed to delete 1 of 2 images.')
            self.assertNotIn(a['id'], self.cloud.images)

    def test_ambiguous_name_deletes_nothing_for_it(self):
        self.cloud.add(fakes.image('twin'), fakes.image('twin'))
        c = self.cloud.add(fakes.image('c'))
        self.assertFails(['twin', 'c'], 'Failed to delete 1 of 2 images.')
        self.assertEqual([c['id']], [d[0] for d in self.deletes()])
        self.assertEqual(
            ["Failed to delete image 'twin': more than one image has this "
             "name; use the image ID"], self.lines())

    def fail_delete(self, name, *faults, **image_kwargs):
        """An image, looked up by ``name``, whose DELETEs get ``faults``."""
        img = self.cloud.add(fakes.image(name, **image_kwargs))
        self.cloud.faults[img['id']] = list(faults)
        return img

    def test_each_seed_status(self):
        expected = {
            400: "400 Bad Request, request error: m",
            401: "401 Unauthorized, authentication failed: m",
            403: "403 Forbidden, no rights to delete it (it is protected, "
                 "or not your own private image): m",
            500: "500 Internal Server Error, internal error in the image "
                 "service: m",
            503: "503 Service Unavailable, the image service is "
                 "unavailable: m",
        }
        for status, line in expected.items():
            name = 's%d' % status
            img = self.fail_delete(name, *[(status, '{"message": "m"}')] * 4)
            self.assertFails([name], 'Failed to delete 1 of 1 images.')
            self.assertIn("Failed to delete image '%s': %s" % (name, line),
                          self.lines())
            self.assertIn(img['id'], self.cloud.images)

    def test_lookup_errors(self):
        img = self.cloud.add(fakes.image('x'))
        self.cloud.faults[img['id']] = [(401, '{"message": "m"}')]
        self.assertFails(['--delete-backup', img['id']],
                         'Failed to delete 1 of 1 images.')
        self.assertEqual(["Failed to delete image '%s': 401 Unauthorized, "
                          "authentication failed: m" % img['id']],
                         self.lines())
        self.assertEqual([], self.deletes())

    def test_plain_glance_rejects_body(self):
        img = self.fail_delete('g', (400, (
            '{"message": "A body is not expected with this request.", '
            '"code": "400 Bad Request"}')))
        self.assertFails(['--delete-backup', 'g'],
                         'Failed to delete 1 of 1 images.')
        self.assertIn(img['id'], self.cloud.images)
        self.assertEqual(
            ["Failed to delete image 'g': this cloud's image service does "
             "not support delete_backup (400 Bad Request, request error: A "
             "body is not expected with this request.); the image was not "
             "deleted. Run again without "
             "--delete-backup/--no-delete-backup."], self.lines())

    def test_body_rejected_without_flag_is_plain_400(self):
        self.fail_delete('g', (400, '{"message": "A body is not expected '
                                    'with this request."}'))
        self.assertFails(['g'], 'Failed to delete 1 of 1 images.')
        self.assertNotIn('does not support', self.lines()[0])

    def test_already_gone_counts_as_deleted(self):
        img = self.fail_delete('gone', (404, '{"message": "No image"}'))
        self.assertIsNone(self.run_cmd(['gone']))
        self.assertEqual(
            ["Deleted image 'gone': %s (it was already gone when the delete "
             "arrived)" % img['id']], self.lines('INFO'))

    def test_transient_503_retried_reported_once(self):
        img = self.fail_delete('flaky', (503, ''), (503, ''))
        self.assertIsNone(self.run_cmd(['flaky']))
        self.assertEqual([img['id']] * 3, [d[0] for d in self.deletes()])
        self.assertNotIn(img['id'], self.cloud.images)
        self.assertEqual([], self.lines() + self.lines('WARNING'))

    def test_same_image_twice(self):
        img = self.cloud.add(fakes.image('dup'))
        self.assertIsNone(self.run_cmd(['dup', img['id'], 'dup']))
        self.assertEqual([img['id']], [d[0] for d in self.deletes()])
        self.assertEqual(
            ["Image '%s' is the same image as 'dup': handled once"
             % img['id'],
             "Image 'dup' was given more than once: handled once"],
            self.lines('WARNING'))

    def test_hostile_arguments(self):
        victim = self.cloud.add(fakes.image('victim'))
        hostile = ['../../v3/auth/tokens', 'a/b', '%2e%2e%2f', '?x=1', '#f',
                   '', '   ', 'x' * 5000, 'a\x1b[2Jb', '\u200fabc',
                   victim['id'] + '/../' + victim['id']]
        self.assertFails(hostile, 'Failed to delete %d of %d images.'
                         % (len(hostile), len(hostile)))
        self.assertIn(victim['id'], self.cloud.images)
        self.assertEqual([], self.deletes())
        for r in self.requests.request_history:
            self.assertEqual('/v2/images', r.path)
        lines = self.lines()
        self.assertEqual(len(hostile), len(lines))
        for line in lines:
            self.assertTrue(line.isprintable(), line)
            self.assertLess(len(line), 300)

    def test_store_with_flag_refused_before_any_request(self):
        e = self.assertRaises(exceptions.CommandError, self.run_cmd,
                              ['--store', 's', '--delete-backup', 'a'])
        self.assertIn('--store cannot be combined', str(e))
        self.assertFalse(self.requests.called)

    def test_store_without_flag(self):
        img = self.cloud.add(fakes.image('s'))
        self.requests.delete(
            fakes.IMAGE_URL_V2 + '/stores/fast/' + img['id'],
            status_code=204)
        self.run_cmd(['--store', 'fast', 's'])
        self.assertEqual('/v2/stores/fast/' + img['id'],
                         self.requests.last_request.path)

    def test_store_404_is_a_failure(self):
        img = self.cloud.add(fakes.image('s'))
        self.requests.delete(
            fakes.IMAGE_URL_V2 + '/stores/fast/' + img['id'],
            status_code=404, json={'message': 'not in store fast'})
        self.assertFails(['--store', 'fast', 's'],
                         'Failed to delete 1 of 1 images.')
        self.assertEqual(1, len(self.lines()))
        self.assertIn('404 Not Found', self.lines()[0])

    def test_empty_argument(self):
        self.assertFails(['', ' \t'], 'Failed to delete 2 of 2 images.')
        self.assertEqual(
            ["Failed to delete image '': an image name or ID cannot be "
             "empty",
             "Failed to delete image ' \\t': an image name or ID cannot "
             "be empty"], self.lines())
        self.assertFalse(self.requests.called)

    def test_no_image_endpoint_one_line(self):
        self.ims._adapter.get_endpoint = mock.Mock(return_value=None)
        e = self.assertRaises(exceptions.CommandError, self.run_cmd,
                              ['a', 'b'])
        self.assertEqual('Cannot reach the image service: no image '
                         'endpoint in the service catalog', str(e))
        self.assertFalse(self.requests.called)

    def test_image_api_v1_refused(self):
        self.app.client_manager._api_version = {'image': '1'}
        e = self.assertRaises(exceptions.CommandError, self.run_cmd,
                              ['--no-delete-backup', 'a'])
        self.assertIn('needs the image API v2', str(e))
        self.assertFalse(self.requests.called)

    def test_unexpected_exception_does_not_stop_the_loop(self):
        a, b = self.cloud.add(fakes.image('a'), fakes.image('b'))
        real_find = self.ims.find_image

        def find(name):
            if name == 'a':
                raise RuntimeError('boom')
            return real_find(name)

        with mock.patch.object(self.ims, 'find_image', side_effect=find):
            self.assertFails(['a', 'b'], 'Failed to delete 1 of 2 images.')
        self.assertEqual(["Failed to delete image 'a': boom"], self.lines())
        self.assertEqual([b['id']], [d[0] for d in self.deletes()])

    def test_thousand_images_with_transient_503s(self):
        images = self.cloud.add(*[fakes.image('bulk%04d' % i)
                                  for i in range(1000)])
        flaky = images[::20]  # 5% answer 503 once, then delete
        for img in flaky:
            self.cloud.faults['DELETE', img['id']] = [(503, '')]
        self.assertIsNone(self.run_cmd([i['id'] for i in images]))
        self.assertEqual({}, self.cloud.images)
        self.assertEqual(sorted(i['id'] for i in images),
                         sorted(self.cloud.deleted))  # each exactly once
        self.assertEqual(1000 + len(flaky), len(self.deletes()))
        self.assertEqual([], self.lines() + self.lines('WARNING'))
        self.assertEqual(1000, len([line for line in self.lines('INFO')
                                    if line.startswith('Deleted image')]))


class TestDeleteImageWorkers(TestDeleteImage):
    """Everything above, and ordering, with many workers."""

    def run_cmd(self, arglist):
        return super().run_cmd(['--workers', '8'] + arglist)

    def test_report_in_argument_order(self):
        images = self.cloud.add(*[fakes.image('w%02d' % i)
                                  for i in range(30)])
        names = [i['name'] for i in images]
        self.cloud.faults[images[7]['id']] = [(503, '')] * 5
        self.assertFails(names[:] + ['missing'],
                         'Failed to delete 2 of 31 images.')
        self.assertEqual(
            ["Failed to delete image 'w07': 503 Service Unavailable, the "
             "image service is unavailable",
             "Failed to delete image 'missing': no image with this name or "
             "ID"], self.lines())
        self.assertEqual(
            ["Deleted image '%s': %s" % (i['name'], i['id'])
             for i in images if i is not images[7]],
            [line for line in self.lines('INFO')
             if not line.startswith('Retriable status code 503')])
        deletes = [d[0] for d in self.deletes()]
        # Each image once; the failing one once plus its 3 retries.
        self.assertEqual(33, len(deletes))
        self.assertEqual(4, deletes.count(images[7]['id']))
        self.assertEqual(30, len(set(deletes)))
