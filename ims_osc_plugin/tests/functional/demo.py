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

"""A local cloud for trying the plugin: what ``tox -e demo`` runs.

Test code, not part of the plugin. It starts the functional tests' stack
(:mod:`stack`: real Keystone and Glance on 127.0.0.1, Glance behind the
test-only IMS layer of :mod:`ims_layer`), creates five images in the
``demo`` project (a full-ECS image with a backup, a plain image, a
protected image, and two images whose delete the layer finishes "in the
background"), then runs what a user would with this environment's real
``openstack`` CLI, the plugin installed, each command echoed before its
output. It checks the outcome (the full-ECS and plain images and the backup
gone, the protected image refused and still there, the two others gone
after ``--wait``) and stops every server it started, also on an error,
Ctrl-C, SIGTERM or SIGHUP::

    python -m ims_osc_plugin.tests.functional.demo [--keep] [--port PORT]
        [--write FILE | --check FILE]
    python -m ims_osc_plugin.tests.functional.demo --stop DIR

``--keep`` leaves the cloud running and prints how to use it from another
shell and how to stop it (``--stop DIR``). ``--write`` saves the
transcript (the lines from the first ``#`` comment to the backup
registry's record, without other libraries' Python warnings, which vary
with the versions installed); ``--check`` compares it with a saved one,
IDs, ports, paths and times aside (``doc/source/demo-transcript.txt``).
"""

import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from ims_osc_plugin.tests.functional import ims_layer
from ims_osc_plugin.tests.functional import stack as stack_mod

MODULE = 'ims_osc_plugin.tests.functional.demo'
CLOUD = 'demo'
ECS_IMAGE = 'ecs-web-server'
PLAIN_IMAGE = 'scratch-image'
PROTECTED_IMAGE = 'golden-image'
IMAGES = (ECS_IMAGE, PLAIN_IMAGE, PROTECTED_IMAGE)
# Images whose delete the layer finishes "in the background": they still
# show, pending_delete, for LINGER seconds after the 204.
LINGERING = ('build-cache-1', 'build-cache-2')
LINGER = 3

# What the demo runs: (comment, openstack's arguments, expected exit
# status). The delete fails for the protected image, hence 1.
STEPS = (
    ('The images of the demo project:',
     ('image', 'list'), 0),
    ('What --delete-backup would delete; --dry-run deletes nothing:',
     ('image', 'delete', '--dry-run', '--delete-backup') + IMAGES, 0),
    ('Delete the three images, with their backups; -v reports each one:',
     ('-v', 'image', 'delete', '--delete-backup') + IMAGES, 1),
    ('IMS may finish a delete in the background: the two build-cache '
     'images stay\npending_delete for %d s. --wait reports each deleted '
     'once it is gone; -f json\nprints one record per image for a script '
     "(the request ID is Glance's):" % LINGER,
     ('image', 'delete', '--wait', '-f', 'json') + LINGERING, 0),
    ('What is left:',
     ('image', 'list'), 0),
)

STATE_FILE = 'demo-cloud.json'
# The first line of a Python warning: "<file>:<line>: <category>: ...".
_WARNING = re.compile(r'\A(\S+\.py):\d+: \w*Warning: ')
CHILD_STOP_TIMEOUT = 10
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal stops the demo (BaseException, as KeyboardInterrupt)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class DemoFailed(Exception):
    """The demo cannot go on, or did not do what it shows."""


def _signal_name(signum):
    return signal.Signals(signum).name


def _emit(stream, line):
    # The demo must still stop its servers when its output is gone (a
    # closed pipe, a terminal that went away).
    try:
        stream.write(line + '\n')
        stream.flush()
    except (OSError, ValueError):
        pass


def say(line=''):
    _emit(sys.stdout, line)


def error(line):
    _emit(sys.stderr, 'demo: error: ' + line)


class _Signals:
    """The first signal raises Interrupted; later ones are only noted.

    So that a second Ctrl-C (tox sends one too) cannot cut short the
    stopping of the servers. An inherited ignored SIGINT (a background
    job of a script) stays ignored.
    """

    def __init__(self):
        self.received = None

    def install(self):
        for signum in SIGNALS:
            if (signum == signal.SIGINT and
                    signal.getsignal(signum) is signal.SIG_IGN):
                continue
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
            raise Interrupted(signum)


class DemoStack(stack_mod.Stack):
    """The stack, recording what it stopped and which servers had died."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stopped = []
        self.died = []

    def stop(self):
        # Whole: a signal handler that raised halfway would leave servers
        # running. The signal is handled when the servers are stopped.
        with stack_mod.signals_held():
            for server in self.servers:
                if not server.alive():
                    self.died.append((server.name, server.pid,
                                      server.proc.returncode,
                                      server.log_tail(15)))
                self.stopped.append((server.name, server.pid))
            super().stop()


def _start_time(pid):
    """The start time of process ``pid`` (clock ticks), or None if none.

    With the PID, it tells a server apart from a later process that got
    the same PID. A zombie counts as gone.
    """
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(')') + 2:].split()
    if fields[0] == 'Z':
        return None
    return int(fields[19])


def _child_preexec():
    # The openstack CLI gets its own process group, so that the demo
    # alone decides what it gets when the terminal's Ctrl-C reaches the
    # demo (see Demo._stop_child). Default dispositions: it may have
    # inherited an ignored SIGINT.
    stack_mod.unblock_held_signals()
    os.setpgid(0, 0)
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


def _command_line(args):
    return ' '.join(['openstack'] + [shlex.quote(a) for a in args])


class Demo:

    def __init__(self, keep=False, port=None, write=None, check=None):
        self.keep = keep
        self.port = port
        self.write = write
        self.check = check
        self.transcript = []
        self.doing = 'starting'
        self.signals = _Signals()
        self.stack = None
        self.workdir = None
        self._api = None
        self._stopped = False

    # -- output -----------------------------------------------------------

    def show(self, line):
        """A line of the transcript: printed and recorded."""
        self.transcript.append(line)
        say(line)

    def comment(self, text):
        for line in text.split('\n'):
            self.show('# ' + line)

    # -- the run ----------------------------------------------------------

    def run(self):
        started = time.monotonic()
        self.signals.install()
        kept = False
        try:
            openstack = shutil.which(
                'openstack', path=os.path.dirname(sys.executable))
            if not openstack:
                raise DemoFailed(
                    'no openstack command beside %s: install '
                    'python-openstackclient and this plugin there (tox -e '
                    'demo does)' % sys.executable)
            self.workdir = tempfile.mkdtemp(prefix='ims-demo-')
            ports = None
            if self.port:
                ports = dict(zip(stack_mod.PORTS, range(self.port,
                                                        self.port + 4)))
            self.stack = DemoStack(workdir=self.workdir, ports=ports,
                                   detach=self.keep)
            self.doing = 'starting the servers'
            say('Starting a local cloud on 127.0.0.1: Keystone, and Glance '
                "behind the functional tests' IMS layer (%s) ..."
                % self.workdir)
            self.stack.start()
            self._save_state()
            self.doing = 'creating the demo images'
            backup, ids = self._create_images()
            self._introduce(backup)
            statuses = [self._step(openstack, *step) for step in STEPS]
            self.doing = 'checking the outcome'
            self._check_outcome(STEPS, statuses, backup, ids)
            rc = self._write_or_check()
            if rc == 0 and self.keep:
                self._print_keep_instructions(openstack)
                kept = True
            return rc
        except Interrupted as e:
            error('interrupted by %s while %s; stopping what the demo '
                  'started' % (_signal_name(e.signum), self.doing))
            return 128 + e.signum
        except stack_mod.PortInUse as e:
            error('%s (free it, or give other ports with --port)' % e)
            return 1
        except stack_mod.StackError as e:
            first, _, rest = str(e).partition('\n')
            error(first)
            self._show_lines(rest)
            return 1
        except DemoFailed as e:
            first, _, rest = str(e).partition('\n')
            error(first)
            self._show_lines(rest)
            return 1
        except Exception as e:
            # A server that died explains the client's error better.
            if not self._report_dead_servers():
                error('%s while %s: %s' % (type(e).__name__, self.doing, e))
            return 1
        finally:
            if not kept:
                self.stop()
            say('The demo ran for %.0f s.' % (time.monotonic() - started))

    @staticmethod
    def _show_lines(text):
        for line in text.splitlines():
            _emit(sys.stderr, '    ' + line)

    def _report_dead_servers(self):
        servers = self.stack.servers if self.stack else []
        died = [(s.name, s.pid, s.proc.returncode, s.log_tail(15))
                for s in servers if not s.alive()]
        if self.stack:
            died += self.stack.died
        for name, pid, status, tail in died:
            error('%s (pid %d) exited with status %s while the demo was %s; '
                  'the last lines of its log:' % (name, pid, status,
                                                  self.doing))
            self._show_lines(tail)
        return bool(died)

    def stop(self):
        """Stop what the demo started and remove its folder; once."""
        with stack_mod.signals_held():
            # A signal from now on is only noted (see _Signals): the
            # servers must be stopped.
            if self.signals.received is None:
                self.signals.received = 0
            if self._stopped:
                return
            self._stopped = True
        if self.stack is not None:
            try:
                self.stack.stop()
            finally:
                if self.stack.stopped:
                    say('Stopped the servers the demo started: %s.'
                        % ', '.join('%s (pid %d)' % s
                                    for s in self.stack.stopped))
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _save_state(self):
        """What --stop needs, in the work directory."""
        servers = [{'name': s.name, 'pid': s.pid,
                    'start_time': _start_time(s.pid)}
                   for s in self.stack.servers]
        with open(os.path.join(self.workdir, STATE_FILE), 'w') as f:
            json.dump({'servers': servers,
                       'clouds_yaml': self.stack.clouds_yaml}, f, indent=2)

    # -- the images -------------------------------------------------------

    def _images_api(self):
        """The demo user's image API, on one session (one token)."""
        if self._api is not None:
            return self._api
        from keystoneauth1 import adapter
        from keystoneauth1.identity import v3
        from keystoneauth1 import session

        sess = session.Session(auth=v3.Password(
            auth_url=self.stack.keystone_url + '/v3', username='demo',
            password=stack_mod.PASSWORD, project_name='demo',
            user_domain_id='default', project_domain_id='default'))
        # The plain Glance port: the demo's own calls stay out of the
        # IMS layer.
        self._api = adapter.Adapter(
            sess, service_type='image',
            endpoint_override=self.stack.plain_url + '/v2')
        return self._api

    def _create_images(self):
        api = self._images_api()
        backup = str(uuid.uuid4())
        ims_layer.State(self.stack.state_db).add_backup(backup)
        extra = {
            ECS_IMAGE: {'__whole_image': 'true', '__backup_id': backup},
            PLAIN_IMAGE: {},
            PROTECTED_IMAGE: {'protected': True},
        }
        ids = {}
        for name in IMAGES + LINGERING:
            body = {'name': name, 'disk_format': 'raw',
                    'container_format': 'bare', 'visibility': 'private'}
            body.update(extra.get(name, {}))
            ids[name] = api.post('/images', json=body).json()['id']
        ims_layer.State(self.stack.state_db).set_faults(
            [ids[name] for name in LINGERING], 'linger', delay=LINGER)
        return backup, ids

    def _introduce(self, backup):
        self.comment('A local cloud on 127.0.0.1: Keystone, and Glance '
                     'behind a test-only layer')
        self.comment("that answers IMS's delete_backup. openstack uses it "
                     'through')
        self.comment('OS_CLIENT_CONFIG_FILE=%s and OS_CLOUD=%s.'
                     % (self.stack.clouds_yaml, CLOUD))
        self.comment('The demo project has five images:')
        width = max(len(n) for n in IMAGES + LINGERING)
        what = {
            ECS_IMAGE: 'a full-ECS image, made from backup %s' % backup,
            PLAIN_IMAGE: 'a plain image',
            PROTECTED_IMAGE: 'a protected image',
        }
        what.update(dict.fromkeys(LINGERING, 'plain images'))
        for name in IMAGES + LINGERING:
            self.comment('  %-*s  %s' % (width, name, what[name]))

    # -- the commands -----------------------------------------------------

    def _env(self):
        # The demo cloud only: an openrc's OS_* variables would override
        # the clouds.yaml entry.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update({
            'OS_CLIENT_CONFIG_FILE': self.stack.clouds_yaml,
            'OS_CLOUD': CLOUD,
            # Standard output and error in the order they were written.
            'PYTHONUNBUFFERED': '1',
        })
        return env

    def _step(self, openstack, comment, args, expected):
        line = _command_line(args)
        # Before the echo: a signal that comes once the command is shown
        # must name it.
        self.doing = "running '%s'" % line
        self.comment(comment)
        self.show('$ ' + line)
        with stack_mod.signals_held():
            child = subprocess.Popen(
                [openstack] + list(args), env=self._env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, preexec_fn=_child_preexec)
        try:
            in_warning = False
            for raw in child.stdout:
                line = raw.decode('utf-8', 'replace').rstrip('\r\n')
                # Other libraries' Python warnings (osc-lib shows them at
                # -v) vary with the versions installed: shown, but left
                # out of the transcript.
                warning = _WARNING.match(line)
                if warning and 'ims_osc_plugin' not in warning.group(1):
                    in_warning = True
                elif not (in_warning and line.startswith('  ')):
                    in_warning = False
                if in_warning:
                    say(line)
                else:
                    self.show(line)
            status = child.wait()
        except BaseException:
            self._stop_child(child)
            raise
        finally:
            child.stdout.close()
        if status:
            self.comment('exit status %d' % status)
        dead = [s for s in self.stack.servers if not s.alive()]
        if dead:
            raise DemoFailed('%s (pid %d) exited with status %s while the '
                             'demo was %s; the last lines of its log:\n%s'
                             % (dead[0].name, dead[0].pid,
                                dead[0].proc.returncode, self.doing,
                                dead[0].log_tail(15)))
        return status

    def _stop_child(self, child):
        """Stop the CLI; show what it says as it stops.

        With SIGTERM, whatever stopped the demo: during an image delete the
        plugin reports each image, as on Ctrl-C; while ``openstack`` is
        still importing, SIGINT would print a KeyboardInterrupt traceback.
        """
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            rest, _ = child.communicate(timeout=CHILD_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            rest, _ = child.communicate()
        for line in rest.decode('utf-8', 'replace').splitlines():
            say(line)

    def _check_outcome(self, steps, statuses, backup, ids):
        problems = []
        for (comment, args, expected), status in zip(steps, statuses):
            if status != expected:
                problems.append('%s exited with status %d, not %d' % (
                    _command_line(args), status, expected))
        from keystoneauth1 import exceptions

        api = self._images_api()
        for name in IMAGES + LINGERING:
            try:
                api.get('/images/%s' % ids[name])
                there = True
            except exceptions.NotFound:
                there = False
            if there != (name == PROTECTED_IMAGE):
                problems.append('image %s (%s) is %s' % (
                    name, ids[name], 'still there' if there else 'gone'))
        status = ims_layer.State(self.stack.state_db).backup_status(backup)
        self.comment("The fake cloud's backup registry (the test-only IMS "
                     "layer's own record,")
        self.comment('read directly; on Huawei Cloud, CBR or CSBS lists the '
                     'backups):')
        self.comment('  backup %s: %s' % (backup, status))
        if status != 'deleted':
            problems.append('backup %s is %s' % (backup, status))
        if problems:
            raise DemoFailed('the demo did not go as it should:\n' +
                             '\n'.join(problems))

    # -- transcript -------------------------------------------------------

    def _write_or_check(self):
        if self.write:
            with open(self.write, 'w', encoding='utf-8') as f:
                f.write('\n'.join(self.transcript) + '\n')
            say('Wrote the transcript to %s.' % self.write)
        if self.check:
            with open(self.check, encoding='utf-8') as f:
                expected = f.read().splitlines()
            diff = compare(expected, self.transcript, self.check)
            if diff:
                error('%s no longer matches what the demo prints (IDs, '
                      'ports, paths and times aside); if the change is '
                      'meant, regenerate it: tox -e demo -- --write %s'
                      % (self.check, self.check))
                for line in diff:
                    _emit(sys.stderr, line)
                return 1
            say('%s matches what the demo printed.' % self.check)
        return 0

    # -- --keep -----------------------------------------------------------

    def _print_keep_instructions(self, openstack):
        q = shlex.quote
        say()
        say('The local cloud is still running (--keep). To use it from '
            'another shell, without')
        say("an openrc's OS_* variables:")
        say()
        say('    export OS_CLIENT_CONFIG_FILE=%s' % q(self.stack.clouds_yaml))
        say('    export OS_CLOUD=%s' % CLOUD)
        say('    export PATH=%s:"$PATH"  # its openstack has the plugin'
            % q(os.path.dirname(openstack)))
        say('    openstack image list')
        say('    openstack image set --unprotected %s && openstack image '
            'delete %s' % (PROTECTED_IMAGE, PROTECTED_IMAGE))
        say()
        say('To stop it (%s) and remove %s:' % (', '.join(
            '%s, pid %d' % (s.name, s.pid) for s in self.stack.servers),
            self.workdir))
        say()
        # -I: from a folder that holds another checkout of the plugin,
        # "python -m" would import that one first.
        say('    %s -I -m %s --stop %s' % (q(sys.executable), MODULE,
                                           q(self.workdir)))
        say()


# -- --stop ----------------------------------------------------------------

def stop_kept(workdir):
    """Stop the servers of a cloud that --keep left; remove its folder."""
    if not os.path.isdir(workdir):
        error('no such folder: %s (a cloud that --stop stopped is removed)'
              % workdir)
        return 1
    path = os.path.join(workdir, STATE_FILE)
    try:
        with open(path) as f:
            servers = json.load(f)['servers']
    except FileNotFoundError:
        error('%s is not a demo cloud left by --keep (it has no %s)'
              % (workdir, STATE_FILE))
        return 1
    except (OSError, ValueError, KeyError, TypeError) as e:
        error('cannot read %s: %s' % (path, e))
        return 1
    stopped = []
    for server in servers:
        pid, started = server['pid'], server['start_time']
        if started is None or _start_time(pid) != started:
            continue
        _stop_group(pid, started)
        stopped.append('%s (pid %d)' % (server['name'], pid))
    shutil.rmtree(workdir, ignore_errors=True)
    if stopped:
        say('Stopped %s; removed %s.' % (', '.join(stopped), workdir))
    else:
        say('No server of %s was running; removed it.' % workdir)
    return 0


def _stop_group(pid, started):
    """SIGTERM the server's process group; SIGKILL what outlives it."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + stack_mod.STOP_TIMEOUT
    while _start_time(pid) == started and time.monotonic() < deadline:
        time.sleep(0.1)
    # The group's workers, and the server itself if it ignored SIGTERM.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- the transcript check --------------------------------------------------

_VARYING = (
    ('id', re.compile(
        r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')),
    ('project', re.compile(r'\b[0-9a-f]{32}\b')),
    ('port', re.compile(r'(?<=127\.0\.0\.1:)\d+')),
    ('dir', re.compile(r'/[^\s\'"]*/ims-demo-[^/\s\'"]+')),
    ('time', re.compile(r'\b\d+(?:\.\d+)? ?(?:ms|s|seconds)\b')),
)


def normalize(lines):
    """The lines with IDs, ports, paths and times named by first use.

    ``<id1>`` is the first ID met, wherever it recurs: a transcript where
    the same ID shows up in other places does not match.
    """
    names = {}
    counts = {}

    def name_of(kind, match):
        key = (kind, match.group(0))
        if key not in names:
            counts[kind] = counts.get(kind, 0) + 1
            names[key] = '<%s%d>' % (kind, counts[kind])
        return names[key]

    result = []
    for line in lines:
        for kind, pattern in _VARYING:
            line = pattern.sub(lambda m, k=kind: name_of(k, m), line)
        result.append(line.rstrip())
    return result


def compare(expected, actual, label='expected'):
    """A unified diff of the normalized transcripts; empty if they match."""
    return list(difflib.unified_diff(
        normalize(expected), normalize(actual), label, 'the demo',
        lineterm=''))


# -- command line ----------------------------------------------------------

def _port(text):
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65532:
        raise argparse.ArgumentTypeError(
            'a port from 1 to 65532 (it and the three after it are used)')
    return port


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m ' + MODULE,
        description='Try the plugin on a local cloud: start Keystone and '
                    'Glance (behind a test-only IMS layer) on 127.0.0.1, '
                    'run openstack image list and openstack image delete '
                    '--delete-backup on three demo images, and stop the '
                    'servers.')
    parser.add_argument(
        '--keep', action='store_true',
        help='Leave the cloud running at the end, and print how to use it '
             'from another shell and how to stop it.')
    parser.add_argument(
        '--stop', metavar='<dir>',
        help='Stop the cloud that --keep left in <dir>, and remove <dir>.')
    parser.add_argument(
        '--port', metavar='<port>', type=_port,
        help="Keystone's port; Glance listens on the three ports after it. "
             'Default: free ports.')
    transcript = parser.add_mutually_exclusive_group()
    transcript.add_argument(
        '--write', metavar='<file>',
        help="Write the demo's transcript to <file>.")
    transcript.add_argument(
        '--check', metavar='<file>',
        help="Fail unless the demo's transcript matches <file>, IDs, ports "
             'and paths aside.')
    args = parser.parse_args(argv)
    if args.stop and (args.keep or args.port or args.write or args.check):
        parser.error('--stop cannot be combined with other options')
    if args.check and not os.path.isfile(args.check):
        parser.error('--check: no such file: %s' % args.check)
    if args.write and not os.path.isdir(
            os.path.dirname(os.path.abspath(args.write))):
        parser.error('--write: no such folder: %s' % os.path.dirname(
            args.write))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.stop:
        return stop_kept(args.stop)
    demo = Demo(keep=args.keep, port=args.port, write=args.write,
                check=args.check)
    try:
        return demo.run()
    except Interrupted as e:
        # A first signal between run()'s last step and its clean-up, or
        # while it reported an error.
        error('interrupted by %s; stopping what the demo started'
              % _signal_name(e.signum))
        demo.stop()
        return 128 + e.signum


if __name__ == '__main__':
    sys.exit(main())
