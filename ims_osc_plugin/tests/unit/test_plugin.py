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

"""The plugin module, its entry points, and the whole OSC shell."""

import argparse
import importlib.metadata
import io
import json
import logging
import os
import subprocess
import sys
from unittest import mock

import fixtures
from openstack.config import loader
from openstackclient import shell
from osc_lib import exceptions
from requests_mock.contrib import fixture as rm_fixture
import testtools

from ims_osc_plugin import client
from ims_osc_plugin import plugin
from ims_osc_plugin.tests.unit import fakes
from ims_osc_plugin.v2 import image

CORE_API_NAMES = {'compute', 'identity', 'image', 'network', 'object_store',
                  'volume', 'common'}


CLOUD = 'ims-unit'
CLOUDS = {CLOUD: {
    'auth': {'auth_url': fakes.AUTH_URL, 'username': 'u', 'password': 'p',
             'project_name': 'p', 'user_domain_name': 'Default',
             'project_domain_name': 'Default'},
    'region_name': 'region-1',
}}


def undo_osc_logging(test):
    """Each OSC run configures the root logger: undo it after ``test``."""
    root = logging.getLogger()
    test.addCleanup(setattr, root, 'handlers', root.handlers[:])
    test.addCleanup(root.setLevel, root.level)


class IsolatedConfig(fixtures.Fixture):
    """Keep the developer's cloud configuration away from the OSC shell.

    As the functional tests do: no OS_* variable from the environment, a
    temporary HOME and XDG_CONFIG_HOME, and OS_CLIENT_CONFIG_FILE and
    OS_CLIENT_SECURE_FILE naming files written here. openstacksdk reads the
    first of its files that exists, so the clouds.yaml and secure.yaml of
    the working directory, of ~/.config/openstack and of /etc/openstack are
    not read.
    """

    def __init__(self, clouds):
        super().__init__()
        self.clouds = clouds

    def _setUp(self):
        for name in list(os.environ):
            if name.startswith('OS_'):
                self.useFixture(fixtures.EnvironmentVariable(name))
        home = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable('HOME', home))
        self.useFixture(fixtures.EnvironmentVariable(
            'XDG_CONFIG_HOME', os.path.join(home, '.config')))
        self.clouds_yaml = os.path.join(home, 'clouds.yaml')
        secure_yaml = os.path.join(home, 'secure.yaml')
        # JSON is YAML.
        for path, clouds in ((self.clouds_yaml, self.clouds),
                             (secure_yaml, {})):
            with open(path, 'w') as f:
                json.dump({'clouds': clouds}, f)
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_CLIENT_CONFIG_FILE', self.clouds_yaml))
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_CLIENT_SECURE_FILE', secure_yaml))


class TestPluginModule(testtools.TestCase):

    def test_api_name_is_not_core(self):
        self.assertEqual('ims', plugin.API_NAME)
        self.assertNotIn(plugin.API_NAME, CORE_API_NAMES)
        self.assertIn(plugin.DEFAULT_API_VERSION, plugin.API_VERSIONS)

    def test_option_parser(self):
        self.useFixture(fixtures.EnvironmentVariable('OS_IMS_API_VERSION'))
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertEqual('2', parser.parse_args([]).os_ims_api_version)
        self.assertEqual('2', parser.parse_args(
            ['--os-ims-api-version', '2']).os_ims_api_version)

    def test_option_from_environment(self):
        self.useFixture(fixtures.EnvironmentVariable('OS_IMS_API_VERSION',
                                                     '2.1'))
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertEqual('2.1', parser.parse_args([]).os_ims_api_version)

    def test_check_api_version(self):
        for good in ('2', '2.0', '2.1'):
            self.assertTrue(plugin.check_api_version(good))
        for bad in ('3', '1', 'x', ''):
            e = self.assertRaises(exceptions.UnsupportedVersion,
                                  plugin.check_api_version, bad)
            self.assertIn('IMS API version %s is not supported' % bad,
                          str(e))

    def make_client(self, **config):
        from openstack.config import cloud_region

        instance = mock.Mock(spec=['sdk_connection', 'session'])
        instance.sdk_connection.config = cloud_region.CloudRegion(
            name='c', region_name='region-1', config=dict(config))
        instance.session = fakes.token_session()
        return plugin.make_client(instance)

    def test_make_client_reads_the_cloud_config(self):
        ims = self.make_client(
            interface='internal', image_endpoint_override='https://o.test',
            image_status_code_retries=1, connect_retries=2)
        self.assertIsInstance(ims, client.ImageClient)
        adapter = ims._adapter
        self.assertEqual(
            ('image', 'internal', 'region-1', 'https://o.test', 2, 1),
            (adapter.service_type, adapter.interface, adapter.region_name,
             adapter.endpoint_override, adapter.connect_retries,
             adapter.status_code_retries))
        self.assertEqual('https://o.test/v2', ims.base_url)

    def test_make_client_without_settings(self):
        adapter = self.make_client()._adapter
        self.assertEqual((None, None, None),
                         (adapter.endpoint_override, adapter.connect_retries,
                          adapter.status_code_retries))

    def test_import_is_cheap(self):
        # OSC imports the plugin and command modules on every run: they
        # must not pull in anything OSC does not already load.
        code = (
            'import sys; import openstackclient.shell, '
            'openstackclient.image.v2.image; before = set(sys.modules); '
            'import ims_osc_plugin.plugin, ims_osc_plugin.v2.image; '
            'new = sorted(set(sys.modules) - before); '
            'import json; print(json.dumps(new))')
        out = subprocess.run([sys.executable, '-c', code], check=True,
                             capture_output=True, text=True).stdout
        new = json.loads(out)
        self.assertIn('ims_osc_plugin.v2.image', new)
        self.assertEqual([], [m for m in new
                              if not m.startswith('ims_osc_plugin')])


def entry_points(group):
    """The entry points in ``group``, on Python 3.9 as on 3.10+."""
    found = importlib.metadata.entry_points()
    found = (found.select(group=group) if hasattr(found, 'select')
             else found.get(group, ()))
    # Python 3.9 lists a package once per place it is found on sys.path
    # (the checkout's egg-info and the installed one): count each once.
    return list({(e.name, e.value): e for e in found}.values())


class TestEntryPoints(testtools.TestCase):

    def entry_point(self, group, name):
        [ep] = [e for e in entry_points(group) if e.name == name]
        return ep

    def test_registered(self):
        self.assertIs(plugin, self.entry_point(
            'openstack.cli.extension', 'ims').load())
        self.assertIs(image.DeleteImage, self.entry_point(
            'openstack.ims.v2', 'image_delete').load())

    def test_not_in_core_group(self):
        eps = entry_points('openstack.image.v2')
        self.assertFalse([e for e in eps if e.value.startswith(
            'ims_osc_plugin')])

    def test_wins_over_core_image_delete(self):
        self.useFixture(IsolatedConfig({}))
        undo_osc_logging(self)
        stdout = self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', io.StringIO())).new_value
        app = shell.OpenStackShell()
        self.assertEqual(0, app.run(['image', 'delete', '--help']))
        self.assertIn('provided by the ims-osc-plugin plugin',
                      stdout.getvalue())
        for words in (['image', 'delete', 'x'], ['image', 'del', 'x']):
            factory, name, args = app.command_manager.find_command(words)
            self.assertIs(image.DeleteImage, factory, words)
            self.assertEqual(['x'], args)


class TestShell(testtools.TestCase):
    """The real OSC shell, in process, against a requests-mock cloud."""

    def setUp(self):
        super().setUp()
        self.requests = self.useFixture(rm_fixture.Fixture())
        fakes.register_identity(self.requests)
        fakes.register_image_discovery(self.requests)
        self.cloud = fakes.Cloud(self.requests)
        self.config = self.useFixture(IsolatedConfig(CLOUDS))
        undo_osc_logging(self)
        self.stdout = self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', io.StringIO())).new_value
        self.stderr = self.useFixture(fixtures.MonkeyPatch(
            'sys.stderr', io.StringIO())).new_value

    def openstack(self, *args):
        return shell.OpenStackShell().run(['--os-cloud', CLOUD] + list(args))

    def test_reads_only_its_own_config(self):
        config = loader.OpenStackConfig()
        self.assertEqual(self.config.clouds_yaml, config.config_filename)
        # An OS_* variable left in the environment would add 'envvars'.
        self.assertEqual([CLOUD], sorted(config.get_cloud_names()))
        self.assertEqual(fakes.AUTH_URL, config.get_one(CLOUD).auth[
            'auth_url'])

    def test_delete_backup(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.assertEqual(0, self.openstack('image', 'delete',
                                           '--delete-backup', 'ecs'))
        self.assertEqual([img['id']], self.cloud.deleted)
        request = self.requests.last_request
        self.assertEqual('DELETE', request.method)
        self.assertEqual(fakes.IMAGE_URL + '/v2/images/' + img['id'],
                         request.url)
        self.assertEqual({'delete_backup': True}, request.json())
        self.assertEqual('', self.stdout.getvalue())
        self.assertEqual('', self.stderr.getvalue())
        # No version discovery of the image service: core would GET its
        # root before the first image request.
        self.assertEqual([], [r.url for r in self.requests.request_history
                              if r.url.rstrip('/') == fakes.IMAGE_URL])

    def test_failure_output(self):
        self.cloud.add(fakes.image('a'))
        self.assertEqual(1, self.openstack('image', 'del', 'a', 'missing'))
        self.assertEqual(
            "Failed to delete image 'missing': no image with this name or "
            "ID\nFailed to delete 1 of 2 images.\n",
            self.stderr.getvalue())

    def test_verbose_success_line(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.assertEqual(0, self.openstack('-v', 'image', 'delete',
                                           '--no-delete-backup', 'ecs'))
        self.assertIn("Deleted image 'ecs': %s (backup bk kept)\n"
                      % img['id'], self.stderr.getvalue())

    def test_debug_never_shows_token(self):
        self.cloud.add(fakes.image('x'))
        self.assertEqual(0, self.openstack('--debug', 'image', 'delete',
                                           '--delete-backup', 'x'))
        err = self.stderr.getvalue()
        self.assertIn('DELETE', err)
        self.assertNotIn(fakes.TOKEN, err)

    def test_help_shows_flags(self):
        self.assertEqual(0, self.openstack('image', 'delete', '--help'))
        out = self.stdout.getvalue()
        for flag in ('--delete-backup', '--no-delete-backup', '--store',
                     '--workers', '--retries'):
            self.assertIn(flag, out)
        self.assertIn('--dry-run', out)

    def test_unsupported_ims_api_version_stops(self):
        self.cloud.add(fakes.image('a'))
        self.assertEqual(1, self.openstack('--os-ims-api-version', '3',
                                           'image', 'delete', 'a'))
        self.assertEqual(
            'IMS API version 3 is not supported: the IMS image API is '
            'version 2 (--os-ims-api-version, OS_IMS_API_VERSION)\n',
            self.stderr.getvalue())
        self.assertEqual([], self.cloud.deleted)
        self.assertFalse(any(r.method == 'DELETE'
                             for r in self.requests.request_history))

    def test_dry_run_on_stdout(self):
        img = self.cloud.add(fakes.image('ecs', whole=True, backup='bk'))
        self.assertEqual(0, self.openstack('image', 'delete', '--dry-run',
                                           '--delete-backup', 'ecs'))
        self.assertEqual(
            "Would delete image 'ecs' (%s): full-ECS image, its backup bk "
            "would also be deleted\nDry run: would delete 1 image and 1 "
            "backup; nothing was deleted.\n" % img['id'],
            self.stdout.getvalue())
        self.assertEqual('', self.stderr.getvalue())
        self.assertEqual([], self.cloud.deleted)
