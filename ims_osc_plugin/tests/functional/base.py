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

"""Base class of the functional tests.

They run the real ``openstack`` executable against the real Keystone and
Glance that :mod:`stack` runs.

The stack is shared: the one named by ``IMS_FUNCTIONAL_STACK`` (``tox -e
functional`` starts it around the whole run), or else one that this test
process starts on first use and stops when it exits.
"""

import atexit
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
import testtools

from ims_osc_plugin.tests.functional import ims_layer
from ims_osc_plugin.tests.functional import stack as stack_mod

CLI_TIMEOUT = 300

_lock = threading.Lock()
_shared = {}

Result = collections.namedtuple(
    'Result', ['rc', 'stdout', 'stderr', 'elapsed', 'argv'])


def shared_stack():
    """The description of the stack the tests run against."""
    with _lock:
        if 'info' not in _shared:
            path = os.environ.get(stack_mod.STACK_ENV)
            if path:
                with open(path) as f:
                    _shared['info'] = json.load(f)
            else:
                stack = stack_mod.Stack().start()
                atexit.register(stack.stop)
                _shared['info'] = stack.describe()
            _shared['state'] = ims_layer.State(_shared['info']['state_db'])
        return _shared['info']


def _openstack_executable():
    here = os.path.dirname(sys.executable)
    return shutil.which('openstack', path=here) or shutil.which('openstack')


class FunctionalTestCase(testtools.TestCase):
    """Drives ``openstack`` as a subprocess; reads the servers' state."""

    def setUp(self):
        super().setUp()
        self.stack = shared_stack()
        self.state = _shared['state']
        self.home = tempfile.mkdtemp(prefix='ims-functional-home-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self._created = []
        self.addCleanup(self._delete_created)

    # -- the CLI ----------------------------------------------------------

    def openstack(self, *args, cloud='demo', timeout=CLI_TIMEOUT, env=None):
        """Run ``openstack --os-cloud <cloud> <args>``; return a Result.

        The environment is made from scratch: ``env`` adds to it.
        """
        argv = [_openstack_executable()]
        if cloud:
            argv += ['--os-cloud', cloud]
        argv += list(args)
        extra_env = env or {}
        env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': self.home,
            'LANG': 'C.UTF-8',
            'OS_CLIENT_CONFIG_FILE': self.stack['clouds_yaml'],
            # openstacksdk's own deprecation warnings are not ours.
            'PYTHONWARNINGS': 'ignore',
        }
        env.update(extra_env)
        started = time.monotonic()
        proc = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=timeout)
        result = Result(
            proc.returncode, proc.stdout.decode('utf-8', 'replace'),
            proc.stderr.decode('utf-8', 'replace'),
            time.monotonic() - started, argv)
        self.addDetail('cli-%d' % len(self.getDetails()), _text(
            '$ %s\nexit %d after %.1f s\n--- stdout\n%s--- stderr\n%s' % (
                ' '.join(repr(a) if ' ' in a or not a else a
                         for a in argv[1:])[:2000],
                result.rc, result.elapsed, result.stdout[-5000:],
                result.stderr[-20000:])))
        return result

    def delete(self, *args, cloud='demo', **kwargs):
        return self.openstack('image', 'delete', *args, cloud=cloud,
                              **kwargs)

    # -- assertions -------------------------------------------------------

    def assertSucceeded(self, result):
        self.assertEqual(0, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    def assertFailedLines(self, result, failed, total):
        """Exit 1, the exact summary, one line per failed image.

        Returns the per-image failure lines.
        """
        self.assertEqual(1, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        lines = stderr_lines(result)
        self.assertEqual(
            'Failed to delete %d of %d images.' % (failed, total), lines[-1])
        per_image = [line for line in lines
                     if line.startswith('Failed to delete image ')]
        self.assertEqual(failed, len(per_image), result.stderr)
        return per_image

    def assertExists(self, image_id):
        self.assertIsNotNone(self.get_image(image_id),
                             'image %s is gone' % image_id)

    def assertGone(self, image_id):
        self.assertIsNone(self.get_image(image_id),
                          'image %s still exists' % image_id)

    # -- the image API, beside the CLI ------------------------------------

    def session(self, cloud='demo'):
        key = 'session-' + cloud
        with _lock:
            if key not in _shared:
                project = cloud
                _shared[key] = ks_session.Session(auth=v3.Password(
                    auth_url=self.stack['keystone_url'] + '/v3',
                    username=cloud, password=self.stack['password'],
                    project_name=project, user_domain_id='default',
                    project_domain_id='default'))
            return _shared[key]

    def images_api(self, cloud='demo', url=None):
        """A keystoneauth Adapter on Glance, the plain port by default.

        So the IMS layer's faults never touch the tests' own calls.
        """
        return adapter.Adapter(
            self.session(cloud), service_type='image',
            endpoint_override=(url or self.stack['plain_url']) + '/v2')

    def create_image(self, name=None, backup=None, cloud='demo',
                     cleanup=True, **fields):
        body = {'name': name or self.unique_name(),
                'disk_format': 'raw', 'container_format': 'bare'}
        if backup:
            body['__whole_image'] = 'true'
            body['__backup_id'] = backup
            self.state.add_backup(backup)
        body.update(fields)
        image = self.images_api(cloud).post('/images', json=body).json()
        if cleanup:
            self._created.append(image['id'])
        return image['id']

    def create_images(self, count, prefix=None, threads=8):
        prefix = prefix or self.unique_name()
        names = ['%s-%04d' % (prefix, i) for i in range(count)]
        if threads <= 1 or count <= 1:
            return [self.create_image(n) for n in names]
        from concurrent import futures

        with futures.ThreadPoolExecutor(threads) as pool:
            return list(pool.map(self.create_image, names))

    def get_image(self, image_id):
        """The image document as the admin sees it, or None."""
        try:
            return self.images_api('admin').get(
                '/images/%s' % image_id).json()
        except ks_exceptions.NotFound:
            return None

    def image_ids(self, cloud='demo'):
        """IDs of every image the project owns."""
        api = self.images_api(cloud)
        project = api.get_project_id()
        ids = set()
        url = '/images?limit=1000&owner=%s' % project
        for _ in range(100):
            page = api.get(url).json()
            ids.update(i['id'] for i in page['images'])
            nxt = page.get('next')
            if not nxt:
                return ids
            url = nxt[len('/v2'):] if nxt.startswith('/v2') else nxt
        raise AssertionError('too many pages of images')

    def unique_name(self):
        return 'ft-' + uuid.uuid4().hex[:12]

    def deletes(self, since, image_id=None):
        """The DELETE requests that reached the servers since ``since``."""
        return [e for e in self.state.events(since, method='DELETE')
                if image_id is None or e['image_id'] == image_id]

    def cli_ports(self, since):
        """The ports the CLI's image requests reached since ``since``.

        The tests' own calls use the plain port: they are left out unless
        the CLI used that port too.
        """
        return set(e['port'] for e in self.state.events(since)
                   if e['mode'] == 'ims')

    def port_of(self, url_key):
        return int(self.stack[url_key].rsplit(':', 1)[1])

    def _delete_created(self):
        if not self._created:
            return
        api = self.images_api('admin')
        existing = self.image_ids('demo') | self.image_ids('admin')
        for image_id in existing.intersection(self._created):
            try:
                api.patch('/images/%s' % image_id,
                          json=[{'op': 'replace', 'path': '/protected',
                                 'value': False}],
                          headers={'Content-Type':
                                   'application/openstack-images-v2.1-'
                                   'json-patch'})
                api.delete('/images/%s' % image_id)
            except ks_exceptions.NotFound:
                pass


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


def _text(value):
    from testtools import content

    return content.text_content(value)
