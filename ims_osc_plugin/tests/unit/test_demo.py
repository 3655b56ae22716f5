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

"""The demo's parts that need no servers (the rest: functional/test_demo).

Its transcript check, the transcript in the docs, ``--stop`` on processes
of the test's own, its bad input, and the progress line of the servers'
venv build.
"""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

import testtools

from ims_osc_plugin.tests.functional import demo
from ims_osc_plugin.tests.functional import stack

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TRANSCRIPT = os.path.join(TOP, 'doc', 'source', 'demo-transcript.txt')

ID_A = '0b9d2c5e-3f4a-4f1e-9b0d-6a2f1c7e8d90'
ID_B = '6f1e2d3c-4b5a-4c9d-8e7f-0a1b2c3d4e5f'
ID_C = '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d'
ID_D = 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f'

SAMPLE = [
    '# OS_CLIENT_CONFIG_FILE=/tmp/ims-demo-ab12cd/clouds.yaml',
    '#   ecs-web-server  a full-ECS image, made from backup %s' % ID_A,
    '$ openstack -v image delete --delete-backup ecs-web-server',
    'Image API at http://127.0.0.1:41939/v2 (from http://127.0.0.1:41939)',
    "Deleted image 'ecs-web-server': %s and its backup %s" % (ID_B, ID_A),
    'retrying in 0.5 s',
]


def _run_demo(*args):
    return subprocess.run(
        [sys.executable, '-m', demo.MODULE] + list(args),
        stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()


class TestCompare(testtools.TestCase):

    def test_ids_ports_paths_and_times_aside(self):
        other = [line.replace(ID_A, ID_C).replace(ID_B, ID_D)
                 .replace('41939', '5000')
                 .replace('/tmp/ims-demo-ab12cd', '/var/tmp/ims-demo-x_9')
                 .replace('0.5 s', '12 s')
                 for line in SAMPLE]
        self.assertNotEqual(SAMPLE, other)
        self.assertEqual([], demo.compare(SAMPLE, other))

    def test_changed_wording_fails(self):
        other = list(SAMPLE)
        other[4] = other[4].replace('Deleted image', 'Removed image')
        diff = demo.compare(SAMPLE, other, 'doc.txt')
        self.assertIn("-Deleted image 'ecs-web-server': <id2> and its "
                      "backup <id1>", diff)
        self.assertIn("+Removed image 'ecs-web-server': <id2> and its "
                      "backup <id1>", diff)

    def test_an_id_in_another_place_fails(self):
        # The image's ID where the backup's was: same IDs, other places.
        other = list(SAMPLE)
        other[4] = "Deleted image 'ecs-web-server': %s and its backup %s" % (
            ID_A, ID_B)
        self.assertNotEqual([], demo.compare(SAMPLE, other))

    def test_missing_line_fails(self):
        self.assertNotEqual([], demo.compare(SAMPLE, SAMPLE[:-1]))


class TestDocsTranscript(testtools.TestCase):
    """doc/source/demo-transcript.txt: what the demo runs, in the docs.

    Whether its output lines are still true is checked by running the
    demo (``tox -e demo -- --check doc/source/demo-transcript.txt``, in
    .ci/run).
    """

    def setUp(self):
        super().setUp()
        if not os.path.exists(TRANSCRIPT):
            self.skipTest('no doc/ here (not a source tree)')
        with open(TRANSCRIPT, encoding='utf-8') as f:
            self.lines = f.read().splitlines()

    def test_commands_are_the_demos(self):
        commands = [line for line in self.lines if line.startswith('$ ')]
        self.assertEqual(
            ['$ ' + demo._command_line(args) for _, args, _ in demo.STEPS],
            commands)

    def test_shows_the_backup_deleted_and_the_refusal(self):
        self.assertRegex(self.lines[-1], r'^#   backup [0-9a-f-]{36}: '
                                         r'deleted$')
        text = '\n'.join(self.lines)
        self.assertIn("Failed to delete image '%s': 403" %
                      demo.PROTECTED_IMAGE, text)

    def test_included_by_the_usage_page(self):
        with open(os.path.join(TOP, 'doc', 'source', 'usage.rst'),
                  encoding='utf-8') as f:
            self.assertIn('.. literalinclude:: demo-transcript.txt', f.read())


class TestStop(testtools.TestCase):
    """``--stop`` stops exactly what the state file names."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='ims-demo-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start_server_stand_in(self):
        """A process in its own session, as the demo's servers are."""
        proc = subprocess.Popen(
            ['sleep', '120'], start_new_session=True,
            stdin=subprocess.DEVNULL)
        self.addCleanup(proc.wait)
        self.addCleanup(_kill, proc)
        return proc

    def write_state(self, pid, start_time):
        with open(os.path.join(self.dir, demo.STATE_FILE), 'w') as f:
            json.dump({'servers': [{'name': 'ims-functional-keystone',
                                    'pid': pid,
                                    'start_time': start_time}]}, f)

    def test_stops_the_recorded_process(self):
        proc = self.start_server_stand_in()
        self.write_state(proc.pid, demo._start_time(proc.pid))
        result = _run_demo('--stop', self.dir)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual(
            'Stopped ims-functional-keystone (pid %d); removed %s.\n'
            % (proc.pid, self.dir), result.stdout.decode())
        self.assertEqual(-signal.SIGTERM, proc.wait(10))
        self.assertFalse(os.path.exists(self.dir))

    def test_leaves_a_process_that_reused_the_pid(self):
        proc = self.start_server_stand_in()
        self.write_state(proc.pid, demo._start_time(proc.pid) - 1)
        result = _run_demo('--stop', self.dir)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('No server of %s was running' % self.dir,
                      result.stdout.decode())
        time.sleep(0.2)
        self.assertIsNone(proc.poll())

    def test_not_a_demo_cloud(self):
        result = _run_demo('--stop', self.dir)
        self.assertEqual(1, result.returncode)
        self.assertEqual(
            'demo: error: %s is not a demo cloud left by --keep (it has no '
            'demo-cloud.json)\n' % self.dir, result.stderr.decode())
        self.assertTrue(os.path.isdir(self.dir))

    def test_no_such_folder(self):
        missing = os.path.join(self.dir, 'gone')
        result = _run_demo('--stop', missing)
        self.assertEqual(1, result.returncode)
        self.assertEqual(
            'demo: error: no such folder: %s (a cloud that --stop stopped '
            'is removed)\n' % missing, result.stderr.decode())


class TestBadInput(testtools.TestCase):

    def assertUsageError(self, result, message):
        self.assertEqual(2, result.returncode)
        self.assertEqual(message, result.stderr.decode().splitlines()[-1])
        self.assertNotIn(b'Traceback', result.stderr)

    def test_port_out_of_range(self):
        self.assertUsageError(
            _run_demo('--port', '65533'),
            'python -m %s: error: argument --port: a port from 1 to 65532 '
            '(it and the three after it are used)' % demo.MODULE)

    def test_check_without_the_file(self):
        self.assertUsageError(
            _run_demo('--check', '/nonexistent/transcript.txt'),
            'python -m %s: error: --check: no such file: '
            '/nonexistent/transcript.txt' % demo.MODULE)

    def test_stop_with_other_options(self):
        self.assertUsageError(
            _run_demo('--stop', '/tmp', '--keep'),
            'python -m %s: error: --stop cannot be combined with other '
            'options' % demo.MODULE)


class TestServersVenvProgress(testtools.TestCase):
    """The line that says how far the servers' venv build is."""

    def run_logged(self, script):
        log = tempfile.NamedTemporaryFile(suffix='.log')
        self.addCleanup(log.close)
        err = io.StringIO()
        with mock.patch.object(stack, 'PROGRESS_EVERY', 0.2), \
                mock.patch('sys.stderr', err):
            try:
                stack._run_logged([sys.executable, '-c', script], log,
                                  'pip install', time.monotonic())
            finally:
                log.flush()
        return err.getvalue(), open(log.name).read()

    def test_progress_while_it_runs(self):
        err, log = self.run_logged(
            'import time\n'
            'print("Collecting keystone==1", flush=True)\n'
            'print("Collecting glance==2", flush=True)\n'
            'time.sleep(1)\n'
            'print("Installing collected packages: a, b, c", flush=True)\n'
            'time.sleep(1)\n')
        self.assertRegex(err, r'\[stack\] building the servers venv: 2 '
                              r'packages downloaded, \d+ s so far\n')
        self.assertRegex(err, r'\[stack\] building the servers venv: '
                              r'installing 3 packages, \d+ s so far\n')
        self.assertIn('Collecting glance==2\n', log)

    def test_failure_names_the_log(self):
        error = self.assertRaises(
            stack.StackError, self.run_logged,
            'import sys\nprint("ERROR: no matching distribution")\n'
            'sys.exit(1)\n')
        self.assertIn('pip install failed (exit status 1) while building '
                      'the servers venv; its output is in ', str(error))
        self.assertIn('ERROR: no matching distribution', str(error))
