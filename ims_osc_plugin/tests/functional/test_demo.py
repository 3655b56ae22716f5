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

"""The demo (``tox -e demo``) on faults: it stops what it started.

Each test runs ``python -m ims_osc_plugin.tests.functional.demo`` as a
process with its own TMPDIR, so that every process of its stack works in a
folder the test owns (the servers' working directory is there): what
outlives the demo is found by that, and not confused with another stack on
the machine.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import testtools
from testtools import content

from ims_osc_plugin.tests.functional import demo as demo_mod
from ims_osc_plugin.tests.functional import stack as stack_mod

TIMEOUT = 300
STOPPED = re.compile(r'^Stopped the servers the demo started: (.*)\.$',
                     re.MULTILINE)


def _default_signals():
    # Started from a test runner that may run in the background, where
    # SIGINT is ignored and the child would inherit that.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return b''


def _alive(pid):
    return demo_mod._start_time(pid) is not None


class TestDemoFaults(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='ims-demo-test-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.token = uuid.uuid4().hex
        # Runs before the folder goes: nothing of ours may stay behind,
        # also when an assertion failed.
        self.addCleanup(self._kill_leftovers)

    # -- running the demo -------------------------------------------------

    def env(self):
        env = dict(os.environ)
        env['TMPDIR'] = self.tmp
        env['IMS_DEMO_TEST_TOKEN'] = self.token
        return env

    def start_demo(self, *args):
        """The demo as a Popen; its stderr goes to a file (see stderr())."""
        self.stderr_path = os.path.join(self.tmp, 'demo.stderr')
        stderr = open(self.stderr_path, 'wb')
        self.addCleanup(stderr.close)
        proc = subprocess.Popen(
            [sys.executable, '-m', demo_mod.MODULE] + list(args),
            env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr,
            preexec_fn=_default_signals)
        self.addCleanup(self._reap, proc)
        return proc

    def _reap(self, proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        proc.stdout.close()

    def finish(self, proc, head=b''):
        """Exit status and whole standard output; stderr is attached."""
        out, _ = proc.communicate(timeout=TIMEOUT)
        out = (head + out).decode('utf-8', 'replace')
        err = self.stderr()
        self.addDetail('demo-output', content.text_content(
            'exit %s\n--- stdout\n%s--- stderr\n%s' % (
                proc.returncode, out, err)))
        return proc.returncode, out, err

    def stderr(self):
        return _read(self.stderr_path).decode('utf-8', 'replace')

    def read_until(self, proc, marker):
        """stdout up to and including the line that starts with marker."""
        seen = b''
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                self.fail('the demo ended (%s) before printing %r:\n%s\n%s'
                          % (proc.wait(), marker, seen.decode(),
                             self.stderr()))
            seen += line
            if line.decode('utf-8', 'replace').startswith(marker):
                return seen
        self.fail('no %r within %d s' % (marker, TIMEOUT))

    # -- what the demo started --------------------------------------------

    def ours(self):
        """{pid: command line} of the processes this test's demo made.

        Those working under its TMPDIR (the servers, keystone-manage ...)
        or carrying its token in their environment (the demo itself, the
        openstack CLI).
        """
        found = {}
        for entry in os.listdir('/proc'):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            pid = int(entry)
            try:
                cwd = os.readlink('/proc/%d/cwd' % pid)
            except OSError:
                cwd = ''
            environ = _read('/proc/%d/environ' % pid)
            if (cwd == self.tmp or cwd.startswith(self.tmp + '/') or
                    self.token.encode() in environ):
                if _alive(pid):
                    found[pid] = _read('/proc/%d/cmdline' % pid).replace(
                        b'\0', b' ').decode('utf-8', 'replace')
        return found

    def _kill_leftovers(self):
        for pid in self.ours():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_for_server(self, name, parent):
        """PID of server ``name`` (its gunicorn master) once it runs."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for pid, cmdline in self.ours().items():
                if name in cmdline and self._ppid(pid) == parent.pid:
                    return pid
            if parent.poll() is not None:
                self.fail('the demo ended (%s) before %s started:\n%s'
                          % (parent.returncode, name, self.stderr()))
            time.sleep(0.05)
        self.fail('%s did not start within %d s' % (name, TIMEOUT))

    @staticmethod
    def _ppid(pid):
        stat = _read('/proc/%d/stat' % pid).decode()
        return int(stat[stat.rindex(')') + 2:].split()[1]) if stat else None

    def assertStoppedEverything(self, out, names):
        """The demo says it stopped ``names``; nothing of it is left."""
        match = STOPPED.search(out)
        self.assertIsNotNone(match, 'no "Stopped the servers" line')
        stopped = re.findall(r'(ims-functional-\w+) \(pid (\d+)\)',
                             match.group(1))
        self.assertEqual(names, [name for name, pid in stopped])
        for name, pid in stopped:
            self.assertFalse(_alive(int(pid)), '%s still runs' % name)
        self.assertEqual({}, self.ours())
        self.assertEqual([], [d for d in os.listdir(self.tmp)
                              if d.startswith('ims-demo-')])

    # -- the tests --------------------------------------------------------

    def test_sigint_while_a_command_runs(self):
        proc = self.start_demo()
        head = self.read_until(proc, '$ openstack image list')
        proc.send_signal(signal.SIGINT)
        rc, out, err = self.finish(proc, head)
        self.assertEqual(130, rc)
        self.assertIn("demo: error: interrupted by SIGINT while running "
                      "'openstack image list'; stopping what the demo "
                      "started", err)
        self.assertNotIn('Traceback', err + out)
        self.assertStoppedEverything(
            out, ['ims-functional-keystone', 'ims-functional-glance'])

    def test_sigterm_while_the_servers_start(self):
        proc = self.start_demo()
        self.wait_for_server('ims-functional-keystone', proc)
        proc.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.assertEqual(143, rc)
        self.assertIn('demo: error: interrupted by SIGTERM while starting '
                      'the servers; stopping what the demo started', err)
        self.assertNotIn('Traceback', err + out)
        stopped = STOPPED.search(out)
        self.assertIsNotNone(stopped)
        self.assertTrue(stopped.group(1).startswith(
            'ims-functional-keystone (pid '), stopped.group(1))
        self.assertStoppedEverything(
            out, re.findall(r'ims-functional-\w+', stopped.group(1)))

    def test_server_that_dies_while_starting(self):
        proc = self.start_demo()
        glance = self.wait_for_server('ims-functional-glance', proc)
        os.kill(glance, signal.SIGKILL)
        rc, out, err = self.finish(proc)
        self.assertEqual(1, rc)
        self.assertIn('demo: error: ims-functional-glance exited with '
                      'status -9 while starting', err)
        self.assertNotIn('Traceback', err + out)
        self.assertStoppedEverything(
            out, ['ims-functional-keystone', 'ims-functional-glance'])

    def test_taken_port(self):
        keystone_port = self._free_ports(4)
        taken = keystone_port + 1
        with socket.socket() as holder:
            holder.bind(('127.0.0.1', taken))
            holder.listen()
            proc = self.start_demo('--port', str(keystone_port))
            rc, out, err = self.finish(proc)
        self.assertEqual(1, rc)
        self.assertIn(
            'demo: error: port %d on 127.0.0.1 is already in use: '
            'ims-functional-glance cannot listen there (free it, or give '
            'other ports with --port)' % taken, err)
        self.assertNotIn('Traceback', err + out)
        # Keystone had started on the port before it: stopped, and the
        # port free again.
        self.assertStoppedEverything(out, ['ims-functional-keystone'])
        self.assertFalse(stack_mod.port_in_use(keystone_port))

    def test_keep_then_stop(self):
        proc = self.start_demo('--keep')
        rc, out, err = self.finish(proc)
        self.assertEqual(0, rc, err)
        self.assertIsNone(STOPPED.search(out))
        servers = self.ours()
        self.assertEqual(
            ['ims-functional-glance', 'ims-functional-keystone'],
            sorted(set(re.findall(r'ims-functional-\w+',
                                  ' '.join(servers.values())))))

        # From another shell, as printed.
        exports = dict(re.findall(r'^    export (\w+)=(.*?)(?:  #.*)?$',
                                  out, re.MULTILINE))
        self.assertEqual(['OS_CLIENT_CONFIG_FILE', 'OS_CLOUD', 'PATH'],
                         sorted(exports))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        for key, value in exports.items():
            value = shlex.split(value.replace('"$PATH"',
                                              shlex.quote(env['PATH'])))[0]
            env[key] = value
        listed = subprocess.run(
            ['openstack', 'image', 'list', '-f', 'value', '-c', 'Name'],
            env=env, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=TIMEOUT)
        self.assertEqual(0, listed.returncode, listed.stderr)
        self.assertEqual(b'golden-image\n', listed.stdout)
        with open(env['OS_CLIENT_CONFIG_FILE']) as f:
            auth_url = json.load(f)['clouds']['demo']['auth']['auth_url']

        stop_line = [line for line in out.splitlines()
                     if ' --stop ' in line]
        self.assertEqual(1, len(stop_line), out)
        # From a folder where "python -m" would find another plugin.
        elsewhere = os.path.join(self.tmp, 'elsewhere')
        os.makedirs(os.path.join(elsewhere, 'ims_osc_plugin'))
        open(os.path.join(elsewhere, 'ims_osc_plugin', '__init__.py'),
             'w').close()
        stopped = subprocess.run(
            shlex.split(stop_line[0]), stdin=subprocess.DEVNULL,
            capture_output=True, timeout=TIMEOUT, cwd=elsewhere)
        self.assertEqual(0, stopped.returncode, stopped.stderr)
        self.assertRegex(
            stopped.stdout.decode(),
            r'^Stopped ims-functional-keystone \(pid \d+\), '
            r'ims-functional-glance \(pid \d+\); removed ')
        self.assertEqual({}, self.ours())
        self.assertFalse(os.path.exists(os.path.dirname(
            env['OS_CLIENT_CONFIG_FILE'])))
        self.assertRaises(OSError, urllib.request.urlopen, auth_url,
                          timeout=5)

    @staticmethod
    def _free_ports(count):
        """A port whose ``count - 1`` successors are free too."""
        for _ in range(100):
            first = stack_mod.free_port()
            if first + count <= 65536 and not any(
                    stack_mod.port_in_use(p)
                    for p in range(first, first + count)):
                return first
        raise AssertionError('no %d free ports in a row' % count)
