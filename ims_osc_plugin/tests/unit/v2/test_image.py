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

import io
import logging
import os
import signal
import threading
import time
from unittest import mock

import fixtures
from openstackclient.image.v2 import image as osc_image
from osc_lib import exceptions
from requests_mock.contrib import fixture as rm_fixture
import testtools

from ims_osc_plugin import client
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin import throttle
from ims_osc_plugin.v2 import image
from ims_osc_plugin.v2 import messages

GONE = (404, '{"message": "No image found"}')


def parse(cmd, arglist):
    return cmd.get_parser('openstack image delete').parse_args(arglist)


class TestDeleteImageParser(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.cmd = image.DeleteImage(fakes.FakeApp(), None)
        # argparse prints its usage errors to sys.stderr.
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))

    def assertRefused(self, arglist):
        self.assertRaises(SystemExit, parse, self.cmd, arglist)

    def test_defaults(self):
        parsed = parse(self.cmd, ['a'])
        self.assertEqual(
            (['a'], None, None, False, 1, None),
            (parsed.images, parsed.delete_backup, parsed.store,
             parsed.dry_run, parsed.workers, parsed.retries))

    def test_delete_backup(self):
        parsed = parse(self.cmd, ['--delete-backup', 'a', 'b'])
        self.assertEqual((['a', 'b'], True),
                         (parsed.images, parsed.delete_backup))

    def test_no_delete_backup(self):
        self.assertFalse(parse(self.cmd, ['--no-delete-backup', 'a'])
                         .delete_backup)

    def test_flags_are_exclusive(self):
        self.assertRefused(['--delete-backup', '--no-delete-backup', 'a'])

    def test_image_required(self):
        # Optional for argparse (not with --plan); refused before any
        # request.
        parsed = parse(self.cmd, ['--delete-backup'])
        e = self.assertRaises(exceptions.CommandError,
                              self.cmd.take_action, parsed)
        self.assertEqual('Give the images to delete, or --plan FILE.',
                         str(e))

    def test_store(self):
        # Core's --store where core has it (OSC >= 6.3), the plugin's own
        # where it does not: the same option on every stack.
        self.assertEqual('s1', parse(self.cmd, ['--store', 's1', 'a']).store)

    def test_workers_and_retries(self):
        parsed = parse(self.cmd, ['--workers', '8', '--retries', '0', 'a'])
        self.assertEqual((8, 0), (parsed.workers, parsed.retries))
        for bad in (['--workers', '0'], ['--workers', '65'],
                    ['--workers', 'x'], ['--retries', '-1'],
                    ['--retries', '11']):
            self.assertRefused(bad + ['a'])

    def test_core_parser_still_has_what_we_inherit(self):
        # Drift guard: if core renames this, our subclass must follow.
        parser = osc_image.DeleteImage(fakes.FakeApp(), None).get_parser('x')
        self.assertIn('images', {a.dest for a in parser._actions})
        self.assertTrue(issubclass(image.DeleteImage, osc_image.DeleteImage))

    def test_parser_does_not_need_app(self):
        # cliff's sphinx extension builds the parser with app=None.
        image.DeleteImage(None, None).get_parser('openstack image delete')


class SignalDispositions(fixtures.Fixture):
    """SIGINT and SIGTERM as a shell's foreground command gets them.

    The tests must not depend on what they inherit: run as a background
    job of a script (``tox -e py3 &``), a process starts with SIGINT
    ignored. ``ignore`` sets the signals ignored instead.
    """

    def __init__(self, ignore=()):
        super().__init__()
        self.ignore = ignore

    def _setUp(self):
        wanted = {signal.SIGINT: signal.default_int_handler,
                  signal.SIGTERM: signal.SIG_DFL}
        for signum, handler in wanted.items():
            old = signal.signal(
                signum,
                signal.SIG_IGN if signum in self.ignore else handler)
            self.addCleanup(signal.signal, signum, old)


class CommandTestCase(testtools.TestCase):
    """The command on a real client and Session, with requests-mock."""

    workers = 1

    def setUp(self):
        super().setUp()
        # Whatever this process inherited (tox run in the background of a
        # script ignores SIGINT), the command meets a foreground shell's.
        self.useFixture(SignalDispositions())
        self.requests = self.useFixture(rm_fixture.Fixture())
        self.waits = []
        self.useFixture(fixtures.MockPatchObject(
            client.ImageClient, '_wait', side_effect=self.waits.append,
            autospec=False))
        # The shared throttle gate's waits too.
        self.useFixture(fixtures.MockPatchObject(
            throttle, 'Gate', lambda: fakes.InstantGate(self.waits)))
        self.cloud = fakes.Cloud(self.requests)
        self.ims = client.ImageClient.from_session(fakes.token_session())
        self.app = fakes.FakeApp(self.ims)
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.INFO, format='%(levelname)s %(message)s'))
        self.cmd = image.DeleteImage(self.app, None)

    def run_cmd(self, arglist):
        if self.workers > 1:
            arglist = ['--workers', str(self.workers)] + arglist
        return self.cmd.take_action(parse(self.cmd, arglist))

    def assertFails(self, arglist, summary):
        e = self.assertRaises(exceptions.CommandError, self.run_cmd, arglist)
        self.assertEqual(summary, str(e))

    def lines(self, level='ERROR'):
        prefix = level + ' '
        return [line[len(prefix):] for line in self.log.output.splitlines()
                if line.startswith(prefix)]

    def deleted_lines(self):
        return [line for line in self.lines('INFO')
                if line.startswith('Deleted image')]

    def deletes(self):
        return [(r.path.rsplit('/', 1)[-1], r.json() if r.body else None)
                for r in self.requests.request_history
                if r.method == 'DELETE']

    def fail_delete(self, name, *faults, **image_kwargs):
        """An image named ``name`` whose DELETEs get ``faults`` first."""
        img = self.cloud.add(fakes.image(name, **image_kwargs))
        self.cloud.faults['DELETE', img['id']] = list(faults)
        return img


class TestDeleteImage(CommandTestCase):

    def test_by_id_with_backup(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.assertIsNone(self.run_cmd(['--delete-backup', img['id']]))
        self.assertEqual([(img['id'], {'delete_backup': True})],
                         self.deletes())
        self.assertEqual(
            ["Deleted image '%s': %s and its backup bk" % (img['id'],
                                                           img['id'])],
            self.deleted_lines())
        self.assertEqual([], self.lines('WARNING') + self.lines())

    def test_by_name_keep_backup(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.run_cmd(['--no-delete-backup', 'ecs'])
        self.assertEqual([(img['id'], {'delete_backup': False})],
                         self.deletes())
        self.assertEqual(["Deleted image 'ecs': %s (backup bk kept)"
                          % img['id']], self.deleted_lines())

    def test_no_flag_sends_no_body(self):
        img = self.cloud.add(fakes.image('plain'))
        self.run_cmd(['plain'])
        self.assertEqual([(img['id'], None)], self.deletes())
        self.assertEqual(2, self.requests.call_count)

    def test_by_id_without_flag_one_request(self):
        img = self.cloud.add(fakes.image('x'))
        self.assertIsNone(self.run_cmd([img['id']]))
        self.assertEqual(1, self.requests.call_count)
        self.assertEqual(["Deleted image '%s': %s" % (img['id'], img['id'])],
                         self.deleted_lines())

    def test_id_shaped_name(self):
        name = '00000000-0000-4000-8000-000000000001'
        img = self.cloud.add(fakes.image(name))
        self.assertIsNone(self.run_cmd([name]))
        # DELETE by ID (404), lookup by name, DELETE the image found.
        self.assertEqual([name, img['id']], [d[0] for d in self.deletes()])
        self.assertEqual({}, self.cloud.images)

    def test_missing_id_without_flag(self):
        missing = '00000000-0000-4000-8000-000000000002'
        self.assertFails([missing], 'Failed to delete 1 of 1 images.')
        self.assertEqual(["Failed to delete image '%s': no image with this "
                          "name or ID" % missing], self.lines())

    def test_same_id_different_case_deleted_once(self):
        img = self.cloud.add(fakes.image('x'))
        self.assertIsNone(self.run_cmd([img['id'], img['id'].upper()]))
        self.assertEqual([img['id']], [d[0] for d in self.deletes()])

    def test_same_image_twice(self):
        # Deleted once; every argument naming it is reported deleted.
        img = self.cloud.add(fakes.image('dup'))
        self.assertIsNone(self.run_cmd(['dup', img['id'], 'dup']))
        self.assertEqual([img['id']], [d[0] for d in self.deletes()])
        self.assertEqual(
            ["Deleted image 'dup': %s" % img['id'],
             "Deleted image '%s': %s, the same image as 'dup'"
             % (img['id'], img['id']),
             "Deleted image 'dup': %s, the same image as 'dup'" % img['id']],
            self.deleted_lines())

    def test_no_backup_warning_only_when_deleted(self):
        plain = self.cloud.add(fakes.image('plain'))
        self.fail_delete('protected', (403, '{"message": "m"}'))
        self.assertFails(['--delete-backup', 'plain', 'protected'],
                         'Failed to delete 1 of 2 images.')
        self.assertEqual(
            ["Image 'plain': image %s is not a full-ECS image with a "
             "backup: there is no backup to delete" % plain['id']],
            self.lines('WARNING'))

    def test_partial_failure_tries_every_image(self):
        a, b = self.cloud.add(fakes.image('a'), fakes.image('b'))
        self.assertFails(['a', 'missing', 'b'],
                         'Failed to delete 1 of 3 images.')
        self.assertEqual(sorted([a['id'], b['id']]),
                         sorted(d[0] for d in self.deletes()))

    def test_ambiguous_name_deletes_nothing_for_it(self):
        self.cloud.add(fakes.image('twin'), fakes.image('twin'))
        c = self.cloud.add(fakes.image('c'))
        self.assertFails(['twin', 'c'], 'Failed to delete 1 of 2 images.')
        self.assertEqual([c['id']], [d[0] for d in self.deletes()])
        self.assertEqual(
            ["Failed to delete image 'twin': more than one image has this "
             "name; use the image ID"], self.lines())

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

    def test_plain_glance_rejects_body(self):
        img = self.fail_delete('g', (400, (
            '{"message": "A body is not expected with this request."}')))
        self.assertFails(['--delete-backup', 'g'],
                         'Failed to delete 1 of 1 images.')
        self.assertIn(img['id'], self.cloud.images)
        self.assertEqual(
            ["Failed to delete image 'g': this cloud's image service does "
             "not support delete_backup (400 Bad Request, request error: A "
             "body is not expected with this request.); the image was not "
             "deleted. Run again without "
             "--delete-backup/--no-delete-backup."], self.lines())

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
        self.assertIsNone(self.run_cmd(['--store', 'fast', 's']))
        self.assertEqual('/v2/stores/fast/' + img['id'],
                         self.requests.last_request.path)

    def test_store_dot_segments_refused(self):
        self.cloud.add(fakes.image('s'))
        self.assertFails(['--store', '..', 's'],
                         "--store '..' is not a store's name: give one "
                         "that 'openstack image stores list' shows.")
        self.assertFalse(self.requests.called)

    def test_empty_store_refused_before_any_request(self):
        # Also with a backup option: the empty store is the first error.
        self.cloud.add(fakes.image('s'))
        for store in ('', ' ', '.'):
            for flags in ([], ['--delete-backup'], ['--no-delete-backup']):
                e = self.assertRaises(
                    exceptions.CommandError, self.run_cmd,
                    ['--store', store] + flags + ['s'])
                self.assertIn("is not a store's name", str(e))
                self.assertNotIn('\n', str(e))
        self.assertFalse(self.requests.called)

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

    def test_image_api_v1_refused_with_a_flag(self):
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

    def test_report_in_argument_order(self):
        images = self.cloud.add(*[fakes.image('w%02d' % i)
                                  for i in range(30)])
        self.cloud.faults['DELETE', images[7]['id']] = [(503, '')] * 5
        self.assertFails([i['name'] for i in images] + ['missing'],
                         'Failed to delete 2 of 31 images.')
        self.assertEqual(
            ["Failed to delete image 'w07': 503 Service Unavailable, the "
             "image service is unavailable",
             "Failed to delete image 'missing': no image with this name or "
             "ID"], self.lines())
        self.assertEqual(
            ["Deleted image '%s': %s" % (i['name'], i['id'])
             for i in images if i is not images[7]], self.deleted_lines())
        deletes = [d[0] for d in self.deletes()]
        # Each image once; the failing one once plus its 3 retries.
        self.assertEqual(33, len(deletes))
        self.assertEqual(4, deletes.count(images[7]['id']))

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
        self.assertEqual(1000, len(self.deleted_lines()))


class TestHonestOutcomes(CommandTestCase):
    """A 404 means deleted only after a try that may have reached it."""

    def test_never_existing_id_503_then_404_is_not_found(self):
        missing = '00000000-0000-4000-8000-000000000003'
        self.cloud.faults['DELETE', missing] = [(503, '')]
        self.assertFails([missing], 'Failed to delete 1 of 1 images.')
        self.assertEqual(["Failed to delete image '%s': no image with this "
                          "name or ID" % missing], self.lines())

    def test_found_then_404_after_429_is_not_found(self):
        self.fail_delete('x', (429, ''), GONE)
        self.assertFails(['--no-delete-backup', 'x'],
                         'Failed to delete 1 of 1 images.')
        self.assertTrue(self.lines()[0].startswith(
            "Failed to delete image 'x': 404 Not Found, not found"))

    def test_found_then_refused_connection_then_404_is_not_found(self):
        self.fail_delete('x', fakes.refused_connection(), GONE)
        self.assertFails(['x'], 'Failed to delete 1 of 1 images.')

    def test_lost_answer_then_404_is_deleted(self):
        img = self.fail_delete('x', fakes.LOST)
        self.assertIsNone(self.run_cmd(['x']))
        self.assertEqual(
            "Deleted image 'x': %s (it was already gone when the "
            "delete was retried)" % img['id'], self.deleted_lines()[-1])
        self.assertEqual([img['id']], self.cloud.deleted)

    def test_lost_answer_then_404_by_id_without_lookup_is_unknown(self):
        # Without a lookup nothing says an image with this ID existed: the
        # 404 may answer an ID that never was. No image has it as its name
        # either, so its fate is unknown.
        img = self.fail_delete('x', fakes.LOST)
        self.assertFails(
            [img['id']], "Failed to delete 1 of 1 images. 1 of them may "
            "have been deleted: check with 'openstack image show'.")
        self.assertEqual(
            ["Image '%s' may or may not have been deleted: a delete of this "
             "ID may have reached the service before its answer was lost, "
             "and no image has this ID or name now" % img['id']],
            self.lines())

    def test_read_timeout_then_404_is_deleted(self):
        import requests

        self.fail_delete('x', requests.exceptions.ReadTimeout(), GONE)
        self.assertIsNone(self.run_cmd(['x']))

    def test_connect_timeout_then_404_is_not_found(self):
        import requests

        self.fail_delete('x', requests.exceptions.ConnectTimeout(), GONE)
        self.assertFails(['x'], 'Failed to delete 1 of 1 images.')

    def test_proxy_504_then_404_is_deleted(self):
        self.fail_delete('x', (504, ''), GONE)
        self.assertIsNone(self.run_cmd(['x']))

    def test_lost_answer_with_backup(self):
        img = self.fail_delete('ecs', fakes.LOST, whole=True, backup='bk')
        self.assertIsNone(self.run_cmd(['--delete-backup', 'ecs']))
        self.assertEqual(
            ["Deleted image 'ecs': %s (it was already gone when the delete "
             "was retried); its backup bk was in the earlier try whose "
             "answer was lost: check that it is gone" % img['id']],
            self.deleted_lines())

    def test_gone_before_our_delete_keeps_backup_and_fails(self):
        img = self.fail_delete('ecs', GONE, whole=True, backup='bk')
        self.assertFails(['--delete-backup', 'ecs'],
                         'Failed to delete 1 of 1 images.')
        self.assertEqual(
            ["Failed to delete image 'ecs': 404 Not Found, not found: No "
             "image found: it was already gone before this command could "
             "delete it, so its backup bk was not deleted by this command"],
            self.lines())
        self.assertEqual([], self.deleted_lines())
        self.assertIn(img['id'], self.cloud.images)

    def test_lost_answer_and_no_retries_is_unknown(self):
        img = self.fail_delete('x', fakes.LOST)
        self.assertFails(
            ['--retries', '0', 'x'], "Failed to delete 1 of 1 images. 1 of "
            "them may have been deleted: check with 'openstack image show'.")
        [line] = self.lines()
        self.assertTrue(line.startswith(
            "Image 'x' may or may not have been deleted: "), line)
        self.assertEqual([img['id']], self.cloud.deleted)

    def test_lost_answer_then_500_is_unknown(self):
        img = self.fail_delete('y', fakes.dropped_connection(),
                               (500, '{"message": "m"}'))
        self.assertFails(['y'], "Failed to delete 1 of 1 images. 1 of them "
                         "may have been deleted: check with 'openstack "
                         "image show'.")
        self.assertEqual(
            ["Image 'y' may or may not have been deleted: 500 Internal "
             "Server Error, internal error in the image service: m; an "
             "earlier "
             "try may have reached the service before its answer was lost"],
            self.lines())
        self.assertIn(img['id'], self.cloud.images)


class TestRetrySettings(CommandTestCase):
    """The cloud's retry settings win over the plugin's default."""

    def tries(self, arglist, **adapter_settings):
        for name, value in adapter_settings.items():
            setattr(self.ims._adapter, name, value)
        img = self.fail_delete('x', *[(503, '')] * 20)
        self.assertFails(arglist + [img['id']],
                         'Failed to delete 1 of 1 images.')
        return len(self.deletes())

    def test_default(self):
        self.assertEqual(1 + client.DEFAULT_RETRIES, self.tries([]))

    def test_cloud_setting(self):
        self.assertEqual(2, self.tries([], status_code_retries=1))

    def test_cloud_setting_zero(self):
        self.assertEqual(1, self.tries([], status_code_retries=0))

    def test_option_beats_cloud_setting(self):
        self.assertEqual(6, self.tries(['--retries', '5'],
                                       status_code_retries=1))

    def test_cloud_connect_setting(self):
        self.ims._adapter.connect_retries = 1
        img = self.fail_delete('x', *[fakes.refused_connection()] * 5)
        self.assertFails([img['id']], 'Failed to delete 1 of 1 images.')
        self.assertEqual(2, len(self.deletes()))

    def test_retry_after_within_cap_is_waited(self):
        self.fail_delete('x', (429, '', {'Retry-After': '7'}))
        self.assertIsNone(self.run_cmd(['x']))
        # At the shared gate; the retry's own backoff is not added.
        self.assertEqual([7.0], self.waits)

    def test_retry_after_beyond_cap_ends_the_image(self):
        self.fail_delete('x', *[(429, '', {'Retry-After': '86400'})] * 2)
        self.assertFails(['x'], 'Failed to delete 1 of 1 images.')
        self.assertEqual(
            ["Failed to delete image 'x': 429 Too Many Requests, too many "
             "requests: the service asked to wait 86400 s before trying "
             "again, longer than the 60 s this command waits"],
            self.lines())
        self.assertEqual([], self.waits)
        self.assertEqual(1, len(self.deletes()))

    def test_retry_after_beyond_cap_holds_no_other_image(self):
        for name in ('x', 'y', 'z'):
            self.fail_delete(name, *[(429, '', {'Retry-After': '86400'})])
        self.assertFails(['x', 'y', 'z'], 'Failed to delete 3 of 3 images.')
        # Each learns it from its own answer, at once.
        self.assertEqual([], self.waits)
        self.assertEqual(3, len(self.deletes()))


class TestDryRun(CommandTestCase):

    def setUp(self):
        super().setUp()
        self.ims._adapter.get_project_id = mock.Mock(return_value='mine')

    def stdout(self):
        return self.app.stdout.getvalue().splitlines()

    def test_lines_and_summary_and_no_delete(self):
        ecs = self.cloud.add(fakes.image('ecs', whole=True, backup='bk',
                                         owner='mine'))
        plain = self.cloud.add(fakes.image('plain', owner='mine'))
        prot = self.cloud.add(fakes.image('prot', protected=True,
                                          owner='mine'))
        other = self.cloud.add(fakes.image('other', owner='theirs'))
        self.assertIsNone(self.run_cmd(
            ['--dry-run', '--delete-backup', ecs['id'], 'plain', 'prot',
             'other', 'ecs']))
        self.assertEqual([], self.deletes())
        self.assertEqual([
            "Would delete image 'ecs' (%s): full-ECS image, its backup bk "
            "would also be deleted" % ecs['id'],
            "Would delete image 'plain' (%s): no backup" % plain['id'],
            "Would not delete image 'prot' (%s): the service would refuse: "
            "the image is protected" % prot['id'],
            "Would not delete image 'other' (%s): the service would "
            "refuse: it belongs to project theirs, not to your project "
            "mine (unless your role lets you delete other projects' "
            "images)" % other['id'],
            'Dry run: would delete 2 images and 1 backup; nothing was '
            'deleted.'], self.stdout())
        self.assertEqual(["Image 'ecs' is the same image as '%s': handled "
                          "once" % ecs['id']], self.lines('WARNING'))

    def test_admin_may_delete_other_projects_images(self):
        # The dry run does not promise a refusal a real run would not meet.
        other = self.cloud.add(fakes.image('other', owner='theirs'))
        self.ims.role_names = mock.Mock(return_value=frozenset(
            ['admin', 'member']))
        self.assertIsNone(self.run_cmd(['--dry-run', 'other']))
        self.assertEqual("Would delete image 'other' (%s): no backup"
                         % other['id'], self.stdout()[0])

    def test_backup_kept(self):
        ecs = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.run_cmd(['--dry-run', 'ecs'])
        self.assertEqual([
            "Would delete image 'ecs' (%s): full-ECS image, its backup bk "
            "would be kept" % ecs['id'],
            'Dry run: would delete 1 image and 0 backups; nothing was '
            'deleted.'], self.stdout())

    def test_store(self):
        img = self.cloud.add(fakes.image('s'))
        self.run_cmd(['--dry-run', '--store', 'fast', 's'])
        self.assertEqual("Would delete image 's' (%s) from store 'fast': no "
                         "backup" % img['id'], self.stdout()[0])

    def test_unresolved_same_errors_as_a_real_run(self):
        self.cloud.add(fakes.image('twin'), fakes.image('twin'))
        missing = '00000000-0000-4000-8000-000000000004'
        arglist = ['missing', 'twin', missing, '']
        self.assertFails(['--dry-run'] + arglist,
                         'Dry run: 4 of 4 images could not be looked up.')
        dry = self.lines()
        self.assertEqual(4, len(dry))
        self.assertEqual([], self.deletes())
        self.assertFails(arglist, 'Failed to delete 4 of 4 images.')
        self.assertEqual(dry, self.lines()[len(dry):])


class TestStreaming(CommandTestCase):
    """Each result is reported as soon as it and those before it are done."""

    workers = 4

    def test_first_result_before_last_delete(self):
        images = self.cloud.add(*[fakes.image('s%d' % i) for i in range(6)])
        gate = threading.Event()
        seen = []
        real = messages.result_lines

        def report(job, *args):
            seen.append((job.arg, len(self.cloud.deleted)))
            if len(seen) == 1:
                gate.set()
            return real(job, *args)

        last = images[-1]['id']
        real_delete = self.ims.delete_image

        def delete(image_id, **kwargs):
            if image_id == last:
                # The last image is deleted only after the first report.
                self.assertTrue(gate.wait(10))
            return real_delete(image_id, **kwargs)

        with mock.patch.object(messages, 'result_lines', side_effect=report), \
                mock.patch.object(self.ims, 'delete_image',
                                  side_effect=delete):
            self.assertIsNone(self.run_cmd([i['id'] for i in images]))
        self.assertEqual([i['id'] for i in images], [s[0] for s in seen])
        self.assertLess(seen[0][1], 6)


class TestInterrupt(CommandTestCase):
    """SIGINT/SIGTERM: no new DELETE, all reported, 128 + signal."""

    # Seconds each DELETE takes: a real one waits on the network, letting
    # the main thread run the signal handler meanwhile.
    delete_time = 0

    def interrupt_after(self, count, signum):
        """Send ``signum`` to this process while DELETE ``count`` is in.

        That DELETE ends once the signal's handler has run (or after 5 s
        if it never does, as when the signal is ignored).
        """
        real_delete = self.ims.delete_image
        sent = []
        lock = threading.Lock()
        self.after_signal = []

        def delete(image_id, **kwargs):
            with lock:
                sent.append(image_id)
                signal_now = len(sent) == count
                # Which deletes began once the first signal's handler had
                # run (it sets cancel): none of them may reach the cloud.
                self.after_signal.append(
                    (image_id, self.ims.cancel.is_set()))
            try:
                time.sleep(self.delete_time)
                return real_delete(image_id, **kwargs)
            finally:
                if signal_now:
                    os.kill(os.getpid(), signum)
                    self.ims.cancel.wait(5)

        return mock.patch.object(self.ims, 'delete_image', side_effect=delete)

    def test_sigint(self):
        images = self.cloud.add(*[fakes.image('i%d' % i) for i in range(6)])
        with self.interrupt_after(2, signal.SIGINT):
            status = self.run_cmd([i['id'] for i in images])
        self.assertEqual(130, status)
        self.assertEqual([i['id'] for i in images[:2]], self.cloud.deleted)
        self.assertEqual(
            ["Image '%s' was not deleted: interrupted before its delete was "
             "sent" % i['id'] for i in images[2:]] +
            ['Interrupted by SIGINT: deleted 2 of 6 images, 0 failed, 4 not '
             'attempted.'], self.lines())
        # The handler is gone again.
        self.assertIs(signal.default_int_handler,
                      signal.getsignal(signal.SIGINT))

    def test_sigterm_during_retry_wait(self):
        img = self.fail_delete('x', (503, ''), (503, ''))
        later = self.cloud.add(fakes.image('y'))

        def wait(seconds):
            # Once: a second SIGTERM would end the process, as it should.
            if not self.ims.cancel.is_set():
                os.kill(os.getpid(), signal.SIGTERM)
                self.assertTrue(self.ims.cancel.wait(10))

        client.ImageClient._wait.side_effect = wait
        status = self.run_cmd(['x', 'y'])
        self.assertEqual(143, status)
        self.assertEqual(1, len(self.deletes()))
        self.assertIn(img['id'], self.cloud.images)
        self.assertIn(later['id'], self.cloud.images)
        self.assertEqual(
            ["Failed to delete image 'x': 503 Service Unavailable, the "
             "image service is unavailable (not retried: interrupted)",
             "Image 'y' was not deleted: interrupted before its delete was "
             "sent",
             'Interrupted by SIGTERM: deleted 0 of 2 images, 1 failed, 1 not '
             'attempted.'], self.lines())


class TestSignalsAsAShellUserExpects(CommandTestCase):
    """Signals as a shell user expects them.

    A signal ignored at the start stays ignored; a second Ctrl-C ends the
    run at once, whatever is in flight.
    """

    workers = 1

    def test_ignored_sigint_stays_ignored(self):
        # Started in the background of a script or under nohup.
        self.useFixture(SignalDispositions(ignore=(signal.SIGINT,)))
        images = self.cloud.add(*[fakes.image('i%d' % i) for i in range(4)])
        real_delete = self.ims.delete_image

        def delete(image_id, **kwargs):
            real_delete(image_id, **kwargs)
            if image_id == images[1]['id']:
                os.kill(os.getpid(), signal.SIGINT)

        with mock.patch.object(self.ims, 'delete_image', side_effect=delete):
            self.assertIsNone(self.run_cmd([i['id'] for i in images]))
        self.assertEqual({}, self.cloud.images)
        self.assertIs(signal.SIG_IGN, signal.getsignal(signal.SIGINT))

    def test_second_sigint_ends_the_run_at_once(self):
        self.useFixture(SignalDispositions())
        images = self.cloud.add(*[fakes.image('h%d' % i) for i in range(6)])
        in_flight = threading.Semaphore(0)
        release = threading.Event()
        self.addCleanup(release.set)
        real_delete = self.ims.delete_image

        def delete(image_id, **kwargs):
            # A service that does not answer: the DELETE stays in flight
            # until the test ends (30 s at most).
            in_flight.release()
            release.wait(30)
            return real_delete(image_id, **kwargs)

        def press_ctrl_c_twice():
            for _worker in range(self.workers):
                self.assertTrue(in_flight.acquire(timeout=10))
            os.kill(os.getpid(), signal.SIGINT)
            # The second only once the first was handled: two signals
            # pending at once run the handler once.
            self.assertTrue(self.ims.cancel.wait(10))
            os.kill(os.getpid(), signal.SIGINT)

        presser = threading.Thread(target=press_ctrl_c_twice)
        with mock.patch.object(self.ims, 'delete_image', side_effect=delete):
            presser.start()
            # Were in-flight DELETEs awaited, this would wait for release:
            # 30 s, and the deleted images would not be reported unknown.
            status = self.run_cmd([i['id'] for i in images])
            stopped_before_release = not release.is_set()
        presser.join(10)
        self.assertEqual(130, status)
        self.assertTrue(stopped_before_release)
        n = self.workers
        self.assertEqual(
            ["Image '%s' may or may not have been deleted: the command was "
             "stopped while its delete was in flight: no answer says what "
             "the service did" % i['id'] for i in images[:n]] +
            ["Image '%s' was not deleted: interrupted before its delete was "
             "sent" % i['id'] for i in images[n:]] +
            ['Interrupted by SIGINT: deleted 0 of 6 images, %d failed, %d '
             "not attempted. %d of them may have been deleted: check with "
             "'openstack image show'." % (n, 6 - n, n)], self.lines())
        # A third Ctrl-C would act as without the command.
        self.assertIs(signal.default_int_handler,
                      signal.getsignal(signal.SIGINT))


class TestSignalsAsAShellUserExpectsWorkers(TestSignalsAsAShellUserExpects):
    workers = 3


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


class TestProgress(CommandTestCase):

    def test_on_a_terminal(self):
        self.app.stderr = Terminal()
        images = self.cloud.add(*[fakes.image('p%d' % i) for i in range(10)])
        self.run_cmd([i['id'] for i in images])
        shown = self.app.stderr.getvalue()
        self.assertIn('\rDeleting images: 1/10 done, 1 deleted, 0 failed'
                      '\x1b[K', shown)
        self.assertIn('10/10 done, 10 deleted, 0 failed', shown)
        self.assertTrue(shown.endswith('\r\x1b[K'), repr(shown[-30:]))

    def test_not_on_a_pipe_or_few_images(self):
        images = self.cloud.add(*[fakes.image('p%d' % i) for i in range(12)])
        self.run_cmd([i['id'] for i in images[:10]])
        self.assertEqual('', self.app.stderr.getvalue())
        self.app.stderr = Terminal()
        self.run_cmd([i['id'] for i in images[10:]])
        self.assertEqual('', self.app.stderr.getvalue())


class TestDeleteImageWorkers(TestDeleteImage):
    """Everything above with many workers, on many images at once."""

    workers = 8

    def test_deletes_run_in_parallel(self):
        images = self.cloud.add(*[fakes.image('par%d' % i)
                                  for i in range(16)])
        # Each DELETE waits for 3 others to be in flight too: sequential
        # deletes would break the barrier (a 10 s timeout) and fail.
        barrier = threading.Barrier(4, timeout=10)
        real_delete = self.ims.delete_image

        def delete(image_id, **kwargs):
            barrier.wait()
            return real_delete(image_id, **kwargs)

        with mock.patch.object(self.ims, 'delete_image', side_effect=delete):
            self.assertIsNone(self.run_cmd([i['id'] for i in images]))
        self.assertEqual({}, self.cloud.images)
        self.assertEqual([i['id'] for i in images],
                         [line.split("'")[1] for line in
                          self.deleted_lines()])


class TestHonestOutcomesWorkers(TestHonestOutcomes):
    workers = 8


class TestDryRunWorkers(TestDryRun):
    workers = 8


class TestInterruptWorkers(TestInterrupt):
    """With workers, DELETEs already sent finish; no new one starts."""

    workers = 4
    delete_time = 0.05

    def test_sigint(self):
        images = self.cloud.add(*[fakes.image('i%d' % i) for i in range(12)])
        with self.interrupt_after(2, signal.SIGINT):
            status = self.run_cmd([i['id'] for i in images])
        self.assertEqual(130, status)
        summary = self.lines()[-1]
        deleted = [i for i in images if i['id'] in self.cloud.deleted]
        skipped = [i for i in images if i['id'] in self.cloud.images]
        self.assertEqual(12, len(deleted) + len(skipped))
        # Those in flight when the signal came finished; none started
        # after its handler ran. (How many were in flight by then depends
        # on the machine's load: a count would be a timing assumption.)
        begun_after = [image_id for image_id, cancelled in self.after_signal
                       if cancelled]
        self.assertEqual([], [i for i in begun_after
                              if i in self.cloud.deleted])
        self.assertEqual(
            ["Image '%s' was not deleted: interrupted before its delete was "
             "sent" % i['id'] for i in skipped], self.lines()[:-1])
        self.assertEqual(
            'Interrupted by SIGINT: deleted %d of 12 images, 0 failed, %d '
            'not attempted.' % (len(deleted), len(skipped)), summary)

    def test_workers_leave_signals_to_the_main_thread(self):
        # Otherwise the kernel may hand a Ctrl-C to a worker, and the
        # main thread would run the handler only once it wakes up.
        images = self.cloud.add(*[fakes.image('m%d' % i) for i in range(4)])
        masks = []
        real_delete = self.ims.delete_image

        def delete(image_id, **kwargs):
            masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
            return real_delete(image_id, **kwargs)

        with mock.patch.object(self.ims, 'delete_image', side_effect=delete):
            self.assertIsNone(self.run_cmd([i['id'] for i in images]))
        self.assertEqual(4, len(masks))
        for mask in masks:
            self.assertLessEqual({signal.SIGINT, signal.SIGTERM}, mask)
        self.assertNotIn(signal.SIGINT,
                         signal.pthread_sigmask(signal.SIG_BLOCK, []))

    def test_sigterm_during_retry_wait(self):
        self.fail_delete('x', (503, ''), (503, ''))
        gate = threading.Event()

        def wait(seconds):
            if not self.ims.cancel.is_set():
                os.kill(os.getpid(), signal.SIGTERM)
                self.assertTrue(self.ims.cancel.wait(10))
                gate.set()

        client.ImageClient._wait.side_effect = wait
        later = self.cloud.add(fakes.image('y'))
        real_delete = self.ims.delete_image

        def delete(image_id, **kwargs):
            if image_id == later['id']:
                # y's turn comes after the signal: its DELETE is not sent.
                self.assertTrue(gate.wait(10))
            return real_delete(image_id, **kwargs)

        with mock.patch.object(self.ims, 'delete_image', side_effect=delete):
            self.assertEqual(143, self.run_cmd(['x', 'y']))
        self.assertIn(later['id'], self.cloud.images)
        self.assertEqual(
            "Image 'y' was not deleted: interrupted before its delete was "
            "sent", self.lines()[1])


class TestMessagesDocumented(testtools.TestCase):
    """The troubleshooting page explains every line the command prints."""

    def test_every_template_and_status_meaning(self):
        top = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
        page = os.path.join(top, 'doc', 'source', 'troubleshooting.rst')
        if not os.path.exists(page):
            self.skipTest('no doc/source here (an installed package)')
        with open(page, encoding='utf-8') as f:
            text = ' '.join(f.read().split())
        import re

        missing = []
        for name, value in sorted(vars(messages).items()):
            if not name.isupper() or not isinstance(value, str):
                continue
            for part in re.split(r'%\(\w+\)[sd]', value):
                part = ' '.join(part.split()).strip(" :;,.()'")
                if len(part) >= 4 and part not in text:
                    missing.append('%s: %r' % (name, part))
        for meaning in messages.STATUS_MEANINGS.values():
            if meaning not in text:
                missing.append('status meaning %r' % meaning)
        self.assertEqual([], missing)


class TestEdgeCases(CommandTestCase):

    def test_retries_reset_between_runs(self):
        # OSC's interactive shell reuses the client: --retries of one
        # command must not stick to the next.
        self.ims._adapter.status_code_retries = 1
        img = self.fail_delete('x', *[(503, '')] * 20)
        self.assertFails(['--retries', '0', 'x'],
                         'Failed to delete 1 of 1 images.')
        self.assertEqual(1, len(self.deletes()))
        self.assertFails([img['id']], 'Failed to delete 1 of 1 images.')
        self.assertEqual(1 + 2, len(self.deletes()))

    def test_store_404_after_lost_answer_is_unknown(self):
        img = self.cloud.add(fakes.image('s'))
        self.requests.delete(
            fakes.IMAGE_URL_V2 + '/stores/fast/' + img['id'],
            [{'exc': fakes.dropped_connection()},
             {'status_code': 404, 'json': {'message': 'not in store'}}])
        self.assertFails(['--store', 'fast', 's'],
                         "Failed to delete 1 of 1 images. 1 of them may "
                         "have been deleted: check with 'openstack image "
                         "show'.")

    def test_interrupted_between_delete_and_name_lookup(self):
        missing = '00000000-0000-4000-8000-000000000005'
        real = self.ims.find_image_by_name

        def find(name):
            os.kill(os.getpid(), signal.SIGINT)
            self.assertTrue(self.ims.cancel.wait(10))
            return real(name)

        with mock.patch.object(self.ims, 'find_image_by_name',
                               side_effect=find):
            self.assertEqual(130, self.run_cmd([missing]))
        self.assertEqual(
            ["Failed to delete image '%s': no image has this ID, and the "
             "command was interrupted before looking for an image of this "
             "name" % missing,
             'Interrupted by SIGINT: deleted 0 of 1 images, 1 failed, 0 not '
             'attempted.'], self.lines())

    def test_dry_run_interrupted_and_progress(self):
        self.app.stderr = Terminal()
        images = self.cloud.add(*[fakes.image('d%d' % i) for i in range(12)])
        real = self.ims.find_image
        looked_up = []

        def find(name):
            looked_up.append(name)
            if len(looked_up) == 11:
                os.kill(os.getpid(), signal.SIGINT)
                self.assertTrue(self.ims.cancel.wait(10))
            return real(name)

        with mock.patch.object(self.ims, 'find_image', side_effect=find):
            self.assertEqual(130, self.run_cmd(
                ['--dry-run'] + [i['name'] for i in images]))
        self.assertIn('Dry run: 10/12 done, 10 would be deleted, 0 failed',
                      self.app.stderr.getvalue())
        self.assertEqual('Interrupted by SIGINT: dry run of 10 of 12 images; '
                         'nothing was deleted.', self.lines()[-1])
        self.assertEqual([], self.deletes())

    def test_name_after_id_of_the_same_image(self):
        # The name is looked up before the ID's image is deleted.
        img = self.cloud.add(fakes.image('same', whole=True, backup='bk'))
        for flags in ([], ['--delete-backup']):
            self.cloud.add(img)
            self.assertIsNone(self.run_cmd(flags + [img['id'], 'same']))
            self.assertEqual([img['id']], [d[0] for d in self.deletes()][-1:])
        self.assertEqual(2, len(self.deletes()))

    def test_id_case_is_one_image_in_dry_run_and_real_run(self):
        img = self.cloud.add(fakes.image('x'))
        arglist = [img['id'], img['id'].upper()]
        self.assertIsNone(self.run_cmd(['--dry-run'] + arglist))
        self.assertIsNone(self.run_cmd(arglist))
        self.assertEqual(["Image '%s' is the same image as '%s': handled "
                          "once" % (img['id'].upper(), img['id'])],
                         self.lines('WARNING'))
        self.assertEqual("Deleted image '%s': %s, the same image as '%s'"
                         % (img['id'].upper(), img['id'], img['id']),
                         self.deleted_lines()[-1])
        self.assertEqual(1, len(self.deletes()))


class TestTrust(CommandTestCase):
    """Each case of issue 15, as an example.

    Only what was named is deleted, and "deleted" only when it was.
    """

    def test_in_operator_reaches_no_other_image(self):
        a = self.cloud.add(fakes.image('a'))
        self.assertFails(['in:a,zzz'], 'Failed to delete 1 of 1 images.')
        self.assertIn(a['id'], self.cloud.images)
        self.assertEqual([], self.deletes())
        self.assertEqual(["Failed to delete image 'in:a,zzz': no image with "
                          "this name or ID"], self.lines())

    def test_name_compared_with_its_case(self):
        golden = self.cloud.add(fakes.image('Prod-Golden'))
        self.assertFails(['prod-golden'], 'Failed to delete 1 of 1 images.')
        self.assertIn(golden['id'], self.cloud.images)

    def test_hidden_image_found_by_name(self):
        hidden = self.cloud.add(fakes.image('h', os_hidden=True))
        self.assertIsNone(self.run_cmd(['h']))
        self.assertEqual([hidden['id']], self.cloud.deleted)

    def test_never_existing_id_502_then_404_is_unknown(self):
        missing = '00000000-0000-4000-8000-0000000000aa'
        self.cloud.faults['DELETE', missing] = [(502, '')]
        self.assertFails(
            [missing], "Failed to delete 1 of 1 images. 1 of them may have "
            "been deleted: check with 'openstack image show'.")
        self.assertEqual([], self.deleted_lines())

    def test_uuid_shaped_name_is_deleted_as_a_name(self):
        name = '00000000-0000-4000-8000-0000000000bb'
        img = self.cloud.add(fakes.image(name))
        self.assertIsNone(self.run_cmd([name]))
        self.assertEqual([img['id']], self.cloud.deleted)
        self.assertEqual(["Deleted image '%s': %s" % (name, img['id'])],
                         self.deleted_lines())

    def test_uuid_shaped_name_left_alone_after_a_lost_delete(self):
        # The 502 may have deleted an image with this ID: the image named
        # like it may be a second one, and is not deleted (issue 21).
        name = '00000000-0000-4000-8000-0000000000bb'
        self.cloud.add(fakes.image(name))
        self.cloud.faults['DELETE', name] = [(502, '')]
        self.assertFails(
            [name], "Failed to delete 1 of 1 images. 1 of them may have "
            "been deleted: check with 'openstack image show'.")
        self.assertEqual([], self.cloud.deleted)
        self.assertEqual(
            ["Image '%s' may or may not have been deleted: a delete of this "
             "ID may have reached the service before its answer was lost; "
             "an image named like this ID exists and was left alone"
             % name], self.lines())

    def test_uuid_shaped_name_then_the_id_of_the_same_image(self):
        name = '00000000-0000-4000-8000-0000000000cc'
        img = self.cloud.add(fakes.image(name))
        self.assertIsNone(self.run_cmd([name, img['id']]))
        self.assertEqual([img['id']], self.cloud.deleted)
        # The ID, known before any request, is the one deleting it.
        self.assertEqual(
            ["Deleted image '%s': %s, the same image as '%s'"
             % (name, img['id'], img['id']),
             "Deleted image '%s': %s" % (img['id'], img['id'])],
            self.deleted_lines())

    def test_id_then_uuid_shaped_name_of_the_same_image(self):
        # Deleted by ID without a lookup, its name was never learnt: the
        # name is "not found", the rare case the troubleshooting page
        # explains (issue 21: a typo's line must not read like a possible
        # deletion).
        name = '00000000-0000-4000-8000-0000000000dd'
        img = self.cloud.add(fakes.image(name))
        self.assertFails([img['id'], name],
                         'Failed to delete 1 of 2 images.')
        self.assertEqual([img['id']], self.cloud.deleted)
        self.assertEqual(
            ["Failed to delete image '%s': no image with this name or ID"
             % name], self.lines())

    def test_malformed_lookup_answer_is_one_error_line(self):
        bad = fakes.image('bad')
        bad['id'] = 12345
        self.cloud.images['00000000-0000-4000-8000-0000000000ee'] = bad
        good = self.cloud.add(fakes.image('good'))
        self.assertFails(['bad', 'good'], 'Failed to delete 1 of 2 images.')
        self.assertEqual([good['id']], self.cloud.deleted)
        self.assertEqual(
            ["Failed to delete image 'bad': the image service's answer "
             'cannot be used: an image without a UUID-shaped string "id"'],
            self.lines())

    def test_retry_after_of_any_length(self):
        huge = self.fail_delete(
            'huge', (429, '', {'Retry-After': '9' * 400}))
        later = self.cloud.add(fakes.image('later'))
        self.assertFails(['huge', 'later'], 'Failed to delete 1 of 2 images.')
        self.assertEqual([later['id']], self.cloud.deleted)
        self.assertIn(huge['id'], self.cloud.images)
        [line] = self.lines()
        self.assertTrue(line.startswith(
            "Failed to delete image 'huge': 429 Too Many Requests, too many "
            "requests: the service asked to wait 999999999999\\... s"), line)

    def test_retries_in_all(self):
        self.fail_delete('x', fakes.refused_connection(), (503, ''),
                         (503, ''))
        self.assertFails(['--retries', '1', 'x'],
                         'Failed to delete 1 of 1 images.')
        self.assertEqual(2, len(self.deletes()))

    def test_service_text_is_escaped_everywhere(self):
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, format='%(levelname)s %(message)s'))
        evil = '\x1b[2J\x1b]0;pwned\x07'
        ecs = self.cloud.add(fakes.image('ecs' + evil, whole=True,
                                         backup='bk' + evil))
        self.cloud.faults['DELETE', ecs['id']] = [
            (503, '{"message": "busy%s"}' % evil.replace('\x1b', '\\u001b'))]
        self.run_cmd(['--dry-run', '--delete-backup', 'ecs' + evil])
        self.run_cmd(['--delete-backup', 'ecs' + evil])
        shown = self.log.output + self.app.stdout.getvalue()
        self.assertNotIn('\x1b', shown)
        self.assertNotIn('\x07', shown)
        self.assertIn("Deleted image 'ecs\\x1b[2J\\x1b]0;pwned\\x07'",
                      shown)
        self.assertIn('its backup bk\\x1b[2J', shown)

    def test_unusable_endpoint_is_one_line(self):
        self.ims._adapter.endpoint_override = (
            'https://ims.test/v2/%(project_id)s')
        e = self.assertRaises(exceptions.CommandError, self.run_cmd, ['x'])
        self.assertEqual(
            'Cannot use the image endpoint https://ims.test/v2/%(project_id)s'
            ': it has %(project_id)s, and the token gives no project_id',
            str(e))
        self.assertFalse(self.requests.called)


class TestNoSilentOptions(testtools.TestCase):
    """Every option of core's parser is handled or refused."""

    def test_every_core_option_is_decided_on(self):
        # Fails on a stack whose python-openstackclient adds an option to
        # "image delete": decide, then add it to HANDLED_CORE_OPTIONS (and
        # handle it) or leave it refused and list it here.
        core = osc_image.DeleteImage(None, None).get_parser('x')
        self.assertLessEqual(
            {a.dest for a in image.core_options(core)},
            image.HANDLED_CORE_OPTIONS)

    def test_an_unhandled_core_option_is_refused(self):
        real = osc_image.DeleteImage.get_parser

        def newer_core(cmd, prog_name):
            parser = real(cmd, prog_name)
            parser.add_argument('--force', action='store_true')
            return parser

        self.useFixture(fixtures.MockPatchObject(
            osc_image.DeleteImage, 'get_parser', newer_core))
        requests = self.useFixture(rm_fixture.Fixture())
        ims = client.ImageClient.from_session(fakes.token_session())
        cmd = image.DeleteImage(fakes.FakeApp(ims), None)
        e = self.assertRaises(exceptions.CommandError, cmd.take_action,
                              parse(cmd, ['--force', 'x']))
        self.assertEqual("--force is not supported by ims-osc-plugin's "
                         "image delete; run without it.", str(e))
        self.assertFalse(requests.called)
