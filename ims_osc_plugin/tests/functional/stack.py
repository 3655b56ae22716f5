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

"""Real Keystone and Glance on loopback, for the functional tests.

Test code, not part of the plugin. The harness:

- creates the servers' own virtualenv if it is missing (pinned by
  ``servers-constraints.txt`` beside this file) and reuses it afterwards;
- writes Keystone's and Glance's configuration under a temporary directory,
  picks free ports on 127.0.0.1 and starts both with gunicorn;
- bootstraps an admin, a non-admin ``demo`` user and project and a
  ``glance`` service user, registers the image service and writes a
  ``clouds.yaml``;
- serves Glance through :mod:`ims_layer`, a WSGI layer that adds IMS's
  ``delete_backup`` body and fault injection (see that module), on two
  ports (public and internal endpoints) and the unmodified Glance on a third
  (``plain``, reached with ``image_endpoint_override``);
- stops what it started, by PID, and removes the temporary directory.

Run a command with a stack up for its whole life (how ``tox -e functional``
runs the suite)::

    python -m ims_osc_plugin.tests.functional.stack -- stestr run

The command sees ``IMS_FUNCTIONAL_STACK``, the path of a JSON file that
describes the stack (see :meth:`Stack.describe`). Without it, the test
fixtures start a stack of their own for the test process.

Environment: ``IMS_FUNCTIONAL_SERVERS_VENV`` (where the servers' venv
lives, default ``<repo>/.tox/functional-servers``; pip's output while it is
built goes to the same path plus ``.log``),
``IMS_FUNCTIONAL_PYTHON`` (the Python that creates it, default this one),
``IMS_FUNCTIONAL_KEEP=1`` (keep the temporary directory and its logs).
"""

import argparse
import contextlib
import ctypes
import errno
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CONSTRAINTS = os.path.join(HERE, 'servers-constraints.txt')
SERVER_PACKAGES = ('keystone', 'glance', 'gunicorn')
STACK_ENV = 'IMS_FUNCTIONAL_STACK'

PASSWORD = 'functional-secret'
REGION = 'RegionOne'
START_TIMEOUT = 180
STOP_TIMEOUT = 20
# Seconds between the progress lines while the servers' venv is built.
PROGRESS_EVERY = 10
_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_PR_SET_PDEATHSIG = 1


def log(msg, *args):
    sys.stderr.write('[stack] ' + (msg % args if args else msg) + '\n')
    sys.stderr.flush()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_in_use(port):
    """Whether something already listens on 127.0.0.1:``port``.

    Bound as gunicorn binds (SO_REUSEADDR), so a port that gunicorn could
    take is free here too.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends.

    Around starting a process and recording it: a handler that raises in
    between would lose track of a running process. The child unblocks
    them before exec (see unblock_held_signals).
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unblock_held_signals():
    """In a child started within signals_held(), before exec."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD_SIGNALS)


def _server_preexec():
    # Runs in the child before exec. Its own session: a Ctrl-C at the
    # terminal does not reach it, and it is stopped by process group.
    unblock_held_signals()
    os.setsid()


def _die_with_parent():
    # Runs in the child before exec: if the process that started the
    # server dies without cleaning up, the kernel sends the server SIGTERM.
    _server_preexec()
    try:
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def _constraints_digest():
    with open(CONSTRAINTS, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def default_venv():
    return os.environ.get('IMS_FUNCTIONAL_SERVERS_VENV') or os.path.join(
        REPO, '.tox', 'functional-servers')


def ensure_servers_venv(path=None):
    """Create (or reuse) the servers' venv; return its path and seconds."""
    path = os.path.abspath(path or default_venv())
    marker = os.path.join(path, '.ims-functional-ready')
    digest = _constraints_digest()
    if os.path.exists(marker):
        with open(marker) as f:
            if f.read().strip() == digest:
                return path, 0.0
        log('servers venv %s is out of date: rebuilding', path)
    started = time.monotonic()
    if os.path.exists(path):
        shutil.rmtree(path)
    python = os.environ.get('IMS_FUNCTIONAL_PYTHON') or sys.executable
    log_path = path + '.log'
    log('creating the servers venv in %s (once; a few minutes): Keystone, '
        'Glance and gunicorn from PyPI; pip\'s output goes to %s',
        path, log_path)
    with open(log_path, 'wb') as out:
        _run_logged([python, '-m', 'venv', path], out, 'python -m venv')
        _run_logged(
            [os.path.join(path, 'bin', 'python'), '-m', 'pip', 'install',
             '-c', CONSTRAINTS] + list(SERVER_PACKAGES),
            out, 'pip install', started)
    with open(marker, 'w') as f:
        f.write(digest + '\n')
    elapsed = time.monotonic() - started
    log('servers venv ready in %.0f s', elapsed)
    return path, elapsed


def _run_logged(argv, out, what, started=None):
    """Run ``argv`` with its output to ``out``; log progress if timed.

    pip prints nothing for minutes with --quiet and hundreds of lines
    without: its output goes to the log file, and a line every
    PROGRESS_EVERY seconds says how far it is.
    """
    counts = {'collected': 0, 'installing': None}

    def read(stream):
        for line in stream:
            out.write(line)
            if line.startswith(b'Collecting '):
                counts['collected'] += 1
            elif line.startswith(b'Installing collected packages: '):
                counts['installing'] = line.count(b',') + 1
        out.flush()

    with signals_held():
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                preexec_fn=unblock_held_signals)
    reader = threading.Thread(target=read, args=(proc.stdout,),
                              daemon=True)
    reader.start()
    try:
        while True:
            try:
                proc.wait(PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                if started is None:
                    continue
                if counts['installing']:
                    doing = 'installing %d packages' % counts['installing']
                else:
                    doing = '%d packages downloaded' % counts['collected']
                log('building the servers venv: %s, %d s so far', doing,
                    time.monotonic() - started)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
        proc.stdout.close()
    if proc.returncode:
        out.flush()
        with open(out.name, 'rb') as f:
            tail = f.read().decode('utf-8', 'replace').splitlines()[-20:]
        raise StackError('%s failed (exit status %d) while building the '
                         'servers venv; its output is in %s:\n%s' % (
                             what, proc.returncode, out.name,
                             '\n'.join(tail)))


KEYSTONE_CONF = """\
[DEFAULT]
debug = false
use_stderr = true
[database]
# Concurrent requests wait for SQLite's lock instead of failing at once.
connection = sqlite:///{dir}/keystone.db?timeout=60
sqlite_synchronous = false
[identity]
# bcrypt's fewest rounds for the test passwords: the default 12 costs
# about 0.35 s here for each password check, and every CLI run makes one.
password_hash_rounds = 4
[token]
provider = fernet
expiration = 7200
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-keys
[credential]
key_repository = {dir}/credential-keys
[oslo_concurrency]
lock_path = {dir}/locks
"""

GLANCE_CONF = """\
[DEFAULT]
debug = false
use_stderr = true
enabled_backends = fs:file
worker_self_reference_url = http://127.0.0.1:{port}
[database]
connection = sqlite:///{dir}/glance.db?timeout=60
sqlite_synchronous = false
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {dir}/images
[os_glance_staging_store]
filesystem_store_datadir = {dir}/staging
[os_glance_tasks_store]
filesystem_store_datadir = {dir}/tasks
[paste_deploy]
flavor = keystone
[keystone_authtoken]
www_authenticate_uri = {keystone}/v3
auth_url = {keystone}/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = {password}
[oslo_concurrency]
lock_path = {dir}/locks
[oslo_policy]
enforce_scope = true
enforce_new_defaults = true
"""

# Keystone's config parser reads sys.argv: under gunicorn every worker
# would die on gunicorn's own arguments.
KEYSTONE_APP = """\
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi import api  # noqa: E402
application = api.application
"""

GLANCE_APP = """\
import sys
sys.argv = sys.argv[:1]
import gateway_layer  # noqa: E402
import ims_layer  # noqa: E402
from glance.wsgi import api  # noqa: E402
application = ims_layer.IMSLayer(gateway_layer.GatewayLayer(api.application))
"""


class StackError(Exception):
    pass


class PortInUse(StackError):
    """A port the stack was to listen on is taken."""

    def __init__(self, port, server):
        super().__init__('port %d on 127.0.0.1 is already in use: %s '
                         'cannot listen there' % (port, server))
        self.port = port
        self.server = server


class Server:
    """One gunicorn server we started, stopped by its PID."""

    def __init__(self, name, argv, env, log_path, cwd, detach=False):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, 'ab')
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_server_preexec if detach else _die_with_parent)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, 'rb') as f:
                text = f.read().decode('utf-8', 'replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])

    def stop(self):
        if self.alive():
            # The server leads its own process group (setsid): this reaches
            # its workers too, and nothing else.
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log('%s (pid %d) ignored SIGTERM: killing', self.name,
                    self.pid)
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(STOP_TIMEOUT)
        else:
            self.proc.wait()
        # Workers that outlived their master (they should not).
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


def _http_get(url, timeout=5):
    req = urllib.request.Request(url, headers={'Accept': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


PORTS = ('keystone_port', 'ims_port', 'internal_port', 'plain_port')


class Stack:
    """Keystone and Glance (with the IMS layer) on loopback.

    :param ports: ports to use, by attribute name (``keystone_port``,
        ``ims_port``, ``internal_port``, ``plain_port``); the others are
        free ports.
    :param detach: start the servers so that they outlive the process
        that started them (otherwise they get SIGTERM when it dies).
    """

    def __init__(self, venv=None, workdir=None, ports=None, detach=False):
        self.venv_arg = venv
        self.workdir = workdir
        self.servers = []
        self.timings = {}
        self.detach = detach
        self.keystone_port = None
        self.ims_port = None
        self.internal_port = None
        self.plain_port = None
        self._ports = dict(ports or {})
        unknown = set(self._ports) - set(PORTS)
        if unknown:
            raise ValueError('unknown ports %s' % sorted(unknown))

    # -- paths ------------------------------------------------------------

    def _bin(self, name):
        return os.path.join(self.venv, 'bin', name)

    @property
    def keystone_url(self):
        return 'http://127.0.0.1:%d' % self.keystone_port

    @property
    def ims_url(self):
        return 'http://127.0.0.1:%d' % self.ims_port

    @property
    def internal_url(self):
        return 'http://127.0.0.1:%d' % self.internal_port

    @property
    def plain_url(self):
        return 'http://127.0.0.1:%d' % self.plain_port

    @property
    def state_db(self):
        return os.path.join(self.workdir, 'ims-state.sqlite')

    @property
    def clouds_yaml(self):
        return os.path.join(self.workdir, 'clouds.yaml')

    # -- life cycle -------------------------------------------------------

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self.venv, self.timings['venv'] = ensure_servers_venv(self.venv_arg)
        started = time.monotonic()
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='ims-functional-')
            self._own_workdir = True
        else:
            os.makedirs(self.workdir, exist_ok=True)
            self._own_workdir = False
        for sub in ('keystone', 'glance', 'images', 'staging', 'tasks',
                    'locks', 'fernet-keys', 'credential-keys', 'app'):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        ports = set(self._ports.values())
        for attr in PORTS:
            port = self._ports.get(attr)
            while port is None or (attr not in self._ports and
                                   port in ports):
                port = free_port()
            ports.add(port)
            setattr(self, attr, port)

        self._setup_and_start()
        self._wait(self.keystone_url + '/v3', (200,), self.servers[0])
        self._bootstrap_identity()
        self._wait(self.ims_url + '/', (200, 300), self.servers[1])
        self._wait(self.plain_url + '/', (200, 300), self.servers[1])
        self._write_clouds_yaml()
        self.timings['start'] = time.monotonic() - started
        log('keystone %s, glance (IMS layer) %s, internal %s, plain %s: '
            'up in %.1f s', self.keystone_url, self.ims_url,
            self.internal_url, self.plain_url, self.timings['start'])

    def stop(self):
        for server in reversed(self.servers):
            server.stop()
        stopped = [s.pid for s in self.servers]
        self.servers = []
        if stopped:
            log('stopped server pids %s', stopped)
        if (self.workdir and getattr(self, '_own_workdir', False) and
                not os.environ.get('IMS_FUNCTIONAL_KEEP')):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- keystone ---------------------------------------------------------

    def _run(self, argv, **kwargs):
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=self.workdir, **kwargs)
        if result.returncode:
            raise StackError('%s failed (%d):\n%s' % (
                ' '.join(argv[:3]), result.returncode,
                result.stdout.decode('utf-8', 'replace')[-3000:]))
        return result

    def _spawn(self, commands):
        """Start commands together; a list for _finish.

        Each set-up command imports all of Keystone or Glance, seconds of
        CPU: together they take about half as long on two cores.
        """
        running = []
        try:
            for argv in commands:
                out = tempfile.TemporaryFile(dir=self.workdir)
                with signals_held():
                    running.append((argv, out, subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT, cwd=self.workdir,
                        preexec_fn=unblock_held_signals)))
        except BaseException:
            self._finish(running, wait=False)
            raise
        return running

    def _finish(self, running, wait=True):
        """Wait for spawned commands (or kill them); fail as _run does."""
        try:
            for argv, out, proc in running:
                if wait:
                    proc.wait()
            for argv, out, proc in running:
                if wait and proc.returncode:
                    out.seek(0)
                    raise StackError('%s failed (%d):\n%s' % (
                        ' '.join(argv[:3]), proc.returncode,
                        out.read().decode('utf-8', 'replace')[-3000:]))
        finally:
            for argv, out, proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                out.close()

    def _setup_and_start(self):
        keystone_manage = self._configure_keystone()
        glance_manage = self._configure_glance()
        # The keys belong to whoever runs the tests (root on CI).
        owner = ['--keystone-user', pwd.getpwuid(os.getuid()).pw_name,
                 '--keystone-group', grp.getgrgid(os.getgid()).gr_name]
        self._finish(self._spawn([
            keystone_manage + ['db_sync'],
            keystone_manage + ['fernet_setup'] + owner,
            keystone_manage + ['credential_setup'] + owner,
            glance_manage + ['db_sync'],
        ]))
        identity = self.keystone_url + '/v3/'
        # bootstrap only fills Keystone's database, which the servers
        # read per request: they boot meanwhile.
        bootstrap = self._spawn([keystone_manage + [
            'bootstrap', '--bootstrap-password', PASSWORD,
            '--bootstrap-region-id', REGION,
            '--bootstrap-admin-url', identity,
            '--bootstrap-internal-url', identity,
            '--bootstrap-public-url', identity]])
        try:
            self._start_keystone()
            self._start_glance()
        except BaseException:
            self._finish(bootstrap, wait=False)
            raise
        self._finish(bootstrap)

    def _configure_keystone(self):
        """Write Keystone's files; return its keystone-manage command."""
        conf = os.path.join(self.workdir, 'keystone', 'keystone.conf')
        with open(conf, 'w') as f:
            f.write(KEYSTONE_CONF.format(dir=self.workdir))
        with open(os.path.join(self.workdir, 'app',
                               'ims_functional_keystone.py'), 'w') as f:
            f.write(KEYSTONE_APP)
        return [self._bin('keystone-manage'), '--config-file', conf]

    def _gunicorn(self, name, module, ports, env, threads):
        argv = [self._bin('gunicorn'), '--no-control-socket',
                '--workers', '1', '--threads', str(threads),
                '--worker-class', 'gthread', '--timeout', '120',
                '--graceful-timeout', '5', '--name', name,
                '--chdir', os.path.join(self.workdir, 'app')]
        for port in ports:
            argv += ['--bind', '127.0.0.1:%d' % port]
        argv.append(module + ':application')
        full_env = {
            'PATH': os.path.join(self.venv, 'bin') + ':/usr/bin:/bin',
            'HOME': self.workdir,
            'LANG': 'C.UTF-8',
            'PYTHONPATH': os.path.join(self.workdir, 'app') + ':' + HERE,
        }
        full_env.update(env)
        # Checked just before the start: gunicorn would retry for seconds,
        # then exit with the reason in its log only.
        for port in ports:
            if port_in_use(port):
                raise PortInUse(port, name)
        with signals_held():
            server = Server(name, argv, full_env,
                            os.path.join(self.workdir, name + '.log'),
                            self.workdir, detach=self.detach)
            self.servers.append(server)
        return server

    def _start_keystone(self):
        self._gunicorn(
            'ims-functional-keystone', 'ims_functional_keystone',
            [self.keystone_port],
            {'OS_KEYSTONE_CONFIG_DIR': os.path.join(self.workdir,
                                                    'keystone')},
            threads=4)

    # -- glance -----------------------------------------------------------

    def _configure_glance(self):
        """Write Glance's files; return its glance-manage command."""
        confdir = os.path.join(self.workdir, 'glance')
        with open(os.path.join(confdir, 'glance-api.conf'), 'w') as f:
            f.write(GLANCE_CONF.format(
                dir=self.workdir, port=self.ims_port,
                keystone=self.keystone_url, password=PASSWORD))
        shutil.copy(
            os.path.join(self.venv, 'etc', 'glance', 'glance-api-paste.ini'),
            confdir)
        with open(os.path.join(self.workdir, 'app',
                               'ims_functional_glance.py'), 'w') as f:
            f.write(GLANCE_APP)
        return [self._bin('glance-manage'), '--config-dir', confdir]

    def _start_glance(self):
        self._gunicorn(
            'ims-functional-glance', 'ims_functional_glance',
            [self.ims_port, self.internal_port, self.plain_port],
            {'OS_GLANCE_CONFIG_DIR': os.path.join(self.workdir, 'glance'),
             'IMS_LAYER_STATE': self.state_db,
             'IMS_LAYER_PLAIN_PORTS': str(self.plain_port)},
            threads=8)

    def _wait(self, url, statuses, server):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not server.alive():
                raise StackError('%s exited with status %s while '
                                 'starting:\n%s' % (
                                     server.name, server.proc.returncode,
                                     server.log_tail()))
            try:
                if _http_get(url, timeout=5) in statuses:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        raise StackError('%s did not answer %s within %d s:\n%s' % (
            server.name, url, START_TIMEOUT, server.log_tail()))

    # -- identity data ----------------------------------------------------

    def _bootstrap_identity(self):
        from keystoneauth1.identity import v3
        from keystoneauth1 import session as ks_session

        sess = ks_session.Session(auth=v3.Password(
            auth_url=self.keystone_url + '/v3', username='admin',
            password=PASSWORD, project_name='admin',
            user_domain_id='default', project_domain_id='default'))
        kw = {'endpoint_filter': {'service_type': 'identity',
                                  'interface': 'public'}}

        def post(path, key, body):
            resp = sess.post(path, json={key: body}, **kw)
            return resp.json()[key]['id']

        roles = {r['name']: r['id'] for r in
                 sess.get('/roles', **kw).json()['roles']}
        service_project = post('/projects', 'project', {
            'name': 'service', 'domain_id': 'default'})
        demo_project = post('/projects', 'project', {
            'name': 'demo', 'domain_id': 'default'})
        glance_user = post('/users', 'user', {
            'name': 'glance', 'password': PASSWORD,
            'domain_id': 'default'})
        demo_user = post('/users', 'user', {
            'name': 'demo', 'password': PASSWORD, 'domain_id': 'default'})
        for project, user, role in (
                (service_project, glance_user, 'admin'),
                (service_project, glance_user, 'service'),
                (demo_project, demo_user, 'member')):
            if role not in roles:
                roles[role] = post('/roles', 'role', {'name': role})
            sess.put('/projects/%s/users/%s/roles/%s' % (
                project, user, roles[role]), **kw)
        service = post('/services', 'service', {
            'type': 'image', 'name': 'glance', 'enabled': True})
        for interface, url in (('public', self.ims_url),
                               ('internal', self.internal_url),
                               ('admin', self.ims_url)):
            post('/endpoints', 'endpoint', {
                'service_id': service, 'interface': interface,
                'region_id': REGION, 'url': url})
        self.projects = {'admin': None, 'demo': demo_project,
                         'service': service_project}

    def _write_clouds_yaml(self):
        dead = free_port()
        while dead in (self.keystone_port, self.ims_port,
                       self.internal_port, self.plain_port):
            dead = free_port()

        def cloud(user, project, **extra):
            entry = {
                'auth': {
                    'auth_url': self.keystone_url + '/v3',
                    'username': user, 'password': PASSWORD,
                    'project_name': project,
                    'user_domain_name': 'Default',
                    'project_domain_name': 'Default',
                },
                'region_name': REGION,
                'identity_api_version': 3,
                'interface': 'public',
            }
            entry.update(extra)
            return entry

        clouds = {
            'admin': cloud('admin', 'admin'),
            'demo': cloud('demo', 'demo'),
            'demo-internal': cloud('demo', 'demo', interface='internal'),
            'demo-plain': cloud('demo', 'demo',
                                image_endpoint_override=self.plain_url),
            'demo-override': cloud(
                'demo', 'demo', image_endpoint_override=self.internal_url),
            'demo-timeout': cloud('demo', 'demo', api_timeout=3),
            'demo-badpass': cloud('demo', 'demo'),
            # Nothing listens on these ports.
            'demo-image-down': cloud(
                'demo', 'demo',
                image_endpoint_override='http://127.0.0.1:%d' % dead),
            'demo-keystone-down': cloud('demo', 'demo'),
        }
        clouds['demo-badpass']['auth']['password'] = 'not-the-password'
        clouds['demo-keystone-down']['auth']['auth_url'] = (
            'http://127.0.0.1:%d/v3' % dead)
        # JSON is YAML: no PyYAML needed here.
        with open(self.clouds_yaml, 'w') as f:
            json.dump({'clouds': clouds}, f, indent=2)

    def describe(self):
        return {
            'workdir': self.workdir,
            'clouds_yaml': self.clouds_yaml,
            'state_db': self.state_db,
            'password': PASSWORD,
            'region': REGION,
            'keystone_url': self.keystone_url,
            'ims_url': self.ims_url,
            'internal_url': self.internal_url,
            'plain_url': self.plain_url,
            'pids': [s.pid for s in self.servers],
            'timings': self.timings,
        }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Run a command with Keystone and Glance (with the IMS '
                    'layer) up on loopback; stop them afterwards.')
    parser.add_argument('--venv', help='The servers venv (created if '
                        'missing).')
    parser.add_argument('command', nargs=argparse.REMAINDER,
                        help='The command to run (after --).')
    args = parser.parse_args(argv)
    command = args.command
    if command and command[0] == '--':
        command = command[1:]
    if not command:
        parser.error('no command given')

    stack = Stack(venv=args.venv)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    with stack:
        info = os.path.join(stack.workdir, 'stack.json')
        with open(info, 'w') as f:
            json.dump(stack.describe(), f, indent=2)
        env = dict(os.environ)
        env[STACK_ENV] = info
        started = time.monotonic()
        rc = subprocess.call(command, env=env)
        log('command finished in %.1f s with status %d',
            time.monotonic() - started, rc)
        if rc:
            # The temporary directory goes away: show the servers' side.
            for server in stack.servers:
                log('last lines of %s:\n%s', server.name,
                    server.log_tail(30))
    return rc


if __name__ == '__main__':
    sys.exit(main())
