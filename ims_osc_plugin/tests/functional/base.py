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
import signal
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

    def cli_argv(self, *args, cloud='demo'):
        argv = [_openstack_executable()]
        if cloud:
            argv += ['--os-cloud', cloud]
        return argv + list(args)

    def cli_env(self, env=None):
        """The CLI's environment, made from scratch: ``env`` adds to it."""
        full = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': self.home,
            'LANG': 'C.UTF-8',
            'OS_CLIENT_CONFIG_FILE': self.stack['clouds_yaml'],
            # openstacksdk's own deprecation warnings are not ours.
            'PYTHONWARNINGS': 'ignore',
        }
        full.update(env or {})
        return full

    def openstack(self, *args, cloud='demo', timeout=CLI_TIMEOUT, env=None):
        """Run ``openstack --os-cloud <cloud> <args>``; return a Result.

        The environment is made from scratch: ``env`` adds to it.
        """
        argv = self.cli_argv(*args, cloud=cloud)
        started = time.monotonic()
        proc = subprocess.run(
            argv, env=self.cli_env(env), stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout)
        result = Result(
            proc.returncode, proc.stdout.decode('utf-8', 'replace'),
            proc.stderr.decode('utf-8', 'replace'),
            time.monotonic() - started, argv)
        self.add_cli_detail(result)
        return result

    def add_cli_detail(self, result):
        self.addDetail('cli-%d' % len(self.getDetails()), _text(
            '$ %s\nexit %s after %.1f s\n--- stdout\n%s--- stderr\n%s' % (
                ' '.join(repr(a) if ' ' in a or not a else a
                         for a in result.argv[1:])[:2000],
                result.rc, result.elapsed, result.stdout[-5000:],
                result.stderr[-20000:])))

    def start_openstack(self, *args, cloud='demo', env=None, **popen):
        """Start ``openstack`` without waiting: a Popen, killed at cleanup.

        SIGINT and SIGTERM are reset to their defaults in the child: a
        runner started in the background by a shell without job control
        ignores SIGINT, and the child would inherit that.
        """
        popen.setdefault('stdin', subprocess.DEVNULL)
        popen.setdefault('stdout', subprocess.PIPE)
        popen.setdefault('stderr', subprocess.PIPE)
        proc = subprocess.Popen(
            self.cli_argv(*args, cloud=cloud), env=self.cli_env(env),
            preexec_fn=_default_signals, **popen)
        self.addCleanup(_reap, proc)
        return proc

    def finish(self, proc, started, timeout=120):
        """Wait for a started ``openstack`` to end; return its Result."""
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail('the CLI did not end within %d s' % timeout)
        result = Result(
            proc.returncode, stdout.decode('utf-8', 'replace'),
            stderr.decode('utf-8', 'replace'), time.monotonic() - started,
            proc.args)
        self.add_cli_detail(result)
        return result

    def clouds_env(self, **settings):
        """An env whose clouds.yaml has the ``demo`` cloud plus ``settings``.

        Written under this test's HOME; pass it as ``env=``.
        """
        with open(self.stack['clouds_yaml']) as f:
            clouds = json.load(f)
        clouds['clouds']['demo'].update(settings)
        path = os.path.join(self.home, 'clouds-%s.yaml' % uuid.uuid4().hex)
        with open(path, 'w') as f:
            json.dump(clouds, f, indent=2)
        return {'OS_CLIENT_CONFIG_FILE': path}

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

    def assertUnknownLines(self, result, unknown, total):
        """Exit 1; images whose fate is unknown, counted in the summary.

        A request that was sent but never answered (lost connection, read
        timeout, a proxy's 502/504) may have been acted on. Returns their
        per-image lines.
        """
        self.assertEqual(1, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        lines = stderr_lines(result)
        self.assertEqual(
            'Failed to delete %d of %d images. %d of them may have been '
            "deleted: check with 'openstack image show'."
            % (unknown, total, unknown), lines[-1])
        per_image = [line for line in lines
                     if ' may or may not have been deleted: ' in line]
        self.assertEqual(unknown, len(per_image), result.stderr)
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
        """The DELETE requests that reached the servers since ``since``.

        In arrival order, on any path (``/v2/stores/...`` too); one still
        in flight has ``status`` None.
        """
        events = self.state.events(since, method='DELETE', everything=True)
        return [e for e in events
                if image_id is None or e['image_id'] == image_id or
                (e['image_id'] is None and image_id in e['path'])]

    def setup_requests(self, since):
        """The CLI's requests outside ``/v2/images`` since ``since``.

        The version document at the image endpoint's root and the like:
        what a run sends before its first image request.
        """
        return [e for e in self.state.events(since, everything=True)
                if e['mode'] == 'ims' and
                not e['path'].startswith('/v2/images')]

    def wait_for(self, what, predicate, timeout=60, interval=0.05):
        """Poll ``predicate`` until it returns something true; return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %d s waiting for %s'
                                     % (timeout, what))
            time.sleep(interval)

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


def _default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _reap(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


def _text(value):
    from testtools import content

    return content.text_content(value)
