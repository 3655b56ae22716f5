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

"""Benchmark ``openstack image delete``: core OSC against this plugin.

It makes (or reuses) two virtualenvs, one with python-openstackclient only
and one with the same package versions plus this plugin built from the
repository, starts the IMS-like server of ``server.py`` on 127.0.0.1 with a
per-request delay, and runs the real ``openstack`` CLI of each venv:

* bulk: delete N images by ID and by name, core sequentially and the plugin
  with ``--workers``; wall time, requests per image (set-up requests apart),
  connections opened and peak RSS of the ``openstack`` process;
* start-up: the wall (and CPU) time of ``openstack image delete --help``
  and of an unrelated command (``flavor list --help``) in each venv, in
  rounds of core, plugin, core again. The target is checked by default
  (``--startup-stat paired``) on the median over the rounds of each round's
  plugin time divided by the mean of its two core times: pairing cancels
  the drift of other work on the machine, and the median its bursts. The
  minimum and the median of each series are printed too, and "core again"
  against core (A/A) shows how far each statistic moves when nothing
  differs: the noise floor the ratio is to be read against. On a busy
  machine that floor is well above 2%. So where valgrind is installed, the
  instructions of one run of each are also counted under callgrind (with
  ``PYTHONHASHSEED=0``; the count repeats to within 0.01% whatever else the
  machine does), and the start-up target is checked on their ratio instead;
  ``--no-instructions`` skips that.

* throttled: delete ``--throttle-images`` images by ID through an API
  gateway that lets ``--throttle`` (LIMIT/WINDOW) image requests through
  and answers the others 429, without and with ``Retry-After``: images
  deleted and left, requests sent, 429s received, and the wall time as a
  ratio of the gateway's floor (the time the gateway needs to let one
  request per image through), for core and the plugin (issue 24).

It prints the targets of issues 5 and 24 with PASS or FAIL and exits 1 if
one fails (unless ``--no-check``), 2 if a run itself went wrong. Run it
with ``tox -e bench`` or ``python tools/bench/run.py --help``.
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as bench_server  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]

# Issue 5's targets.
BULK_RATIO_MIN = 6.0
# Issue 24's: the wall time of a throttled bulk delete over the floor.
THROTTLED_RATIO_MAX = 1.5
STARTUP_RATIO_MAX = 1.02
RSS_RATIO_MAX = 1.05

STARTUP_COMMANDS = (
    ('image delete --help', ['image', 'delete', '--help']),
    ('flavor list --help', ['flavor', 'list', '--help']),
)

POOL_FULL = 'Connection pool is full'


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--images', '-n', type=int, default=200,
                        help='Images to delete per run.')
    parser.add_argument('--delay', type=float, default=40.0,
                        help='Milliseconds the server waits per request.')
    parser.add_argument('--connect-delay', type=float, default=0.0,
                        help='Milliseconds the server waits per new '
                             'connection (TCP and TLS handshakes on a WAN).')
    parser.add_argument('--workers', type=int, default=16,
                        help='The plugin\'s --workers.')
    parser.add_argument('--sweep', metavar='<list>', default='',
                        help='Also time the plugin by ID at these '
                             'comma-separated worker counts.')
    parser.add_argument('--sequential', action='store_true',
                        help='Also time the plugin with --workers 1.')
    parser.add_argument('--bulk-repeats', type=int, default=3,
                        help='Runs of each plugin bulk case (the median '
                             'counts).')
    parser.add_argument('--core-repeats', type=int, default=1,
                        help='Runs of each core bulk case (long, so less '
                             'noisy).')
    parser.add_argument('--startup-repeats', type=int, default=15,
                        help='Rounds of start-up runs; each round runs '
                             'core, the plugin and core again.')
    parser.add_argument('--startup-stat',
                        choices=('paired', 'min', 'median'),
                        default='paired',
                        help='Which statistic of the start-up runs the '
                             'target is checked on.')
    parser.add_argument('--instructions', action='store_true',
                        default=None,
                        help='Count start-up instructions with valgrind '
                             '--tool=callgrind (about a minute per run) and '
                             'check the start-up target on their ratio '
                             '(default: if valgrind is installed).')
    parser.add_argument('--no-instructions', action='store_false',
                        dest='instructions')
    parser.add_argument('--skip-startup', action='store_true')
    parser.add_argument('--skip-bulk', action='store_true')
    parser.add_argument('--skip-throttled', action='store_true')
    parser.add_argument('--throttle', metavar='LIMIT/WINDOW',
                        default='20/30',
                        help='The throttled case\'s gateway: LIMIT image '
                             'requests per WINDOW seconds.')
    parser.add_argument('--throttle-images', type=int, default=50,
                        help='Images to delete in the throttled case.')
    parser.add_argument('--throttle-workers', type=int, default=8,
                        help='The plugin\'s --workers in the throttled '
                             'case.')
    parser.add_argument('--fail-rate', type=float, default=0.0,
                        help='Share of image requests refused (503, or '
                             '--fail-status) in the plugin\'s runs (core '
                             'has no retries).')
    parser.add_argument('--fail-status', type=int, default=503,
                        choices=(429, 502, 503, 504),
                        help='The status of refused requests.')
    parser.add_argument('--retries', type=int, default=None,
                        help='The plugin\'s --retries (default: 3 when '
                             '--fail-rate is set, else not given).')
    parser.add_argument('--retry-after', type=int, default=0,
                        help='Retry-After seconds sent with each refusal '
                             '(-1: no Retry-After header).')
    parser.add_argument('--cache-dir', type=pathlib.Path,
                        default=REPO / '.tox' / 'bench-venvs',
                        help='Where the two venvs are made and kept.')
    parser.add_argument('--core-venv', type=pathlib.Path,
                        help='Use this venv (without the plugin) as core.')
    parser.add_argument('--plugin-venv', type=pathlib.Path,
                        help='Use this venv (with the plugin) as is.')
    parser.add_argument('--osc', default='python-openstackclient',
                        help='The requirement core is installed from.')
    parser.add_argument('--no-check', action='store_true',
                        help='Exit 0 even if a target fails.')
    return parser.parse_args(argv)


def say(text=''):
    print(text, flush=True)


# Virtualenvs

def _pip(venv, args, log):
    cmd = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q',
           '--disable-pip-version-check'] + args
    with open(log, 'a') as out:
        out.write('$ %s\n' % ' '.join(cmd))
        out.flush()
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    if rc:
        sys.exit('pip failed (rc %s), see %s' % (rc, log))


def _make_venv(venv, requirements, log, constraints=None):
    """Make ``venv`` with ``requirements`` unless it has them already."""
    marker = venv / 'bench-requirements.txt'
    want = '\n'.join(requirements)
    if constraints:
        want += '\n# constraints %s' % hashlib.sha256(
            constraints.read_bytes()).hexdigest()
    if (marker.exists() and marker.read_text() == want and
            (venv / 'bin' / 'openstack').exists()):
        return
    say('making %s (log: %s)' % (venv, log))
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.check_call([sys.executable, '-m', 'venv', str(venv)])
    args = list(requirements)
    if constraints:
        args = ['-c', str(constraints)] + args
    _pip(venv, args, log)
    marker.write_text(want)


def ensure_venvs(args):
    cache = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / 'pip.log'
    core = args.core_venv
    if core is None:
        core = cache / 'core'
        _make_venv(core, [args.osc], log)
    plugin = args.plugin_venv
    if plugin is None:
        plugin = cache / 'plugin'
        # The same versions as core, so that only the plugin differs.
        frozen = subprocess.check_output(
            [str(core / 'bin' / 'python'), '-m', 'pip', 'freeze',
             '--disable-pip-version-check', '--exclude-editable'],
            text=True, stderr=subprocess.DEVNULL)
        constraints = cache / 'constraints.txt'
        lines = [line for line in frozen.splitlines()
                 if not line.lower().startswith('ims-osc-plugin')]
        constraints.write_text('\n'.join(lines) + '\n')
        _make_venv(plugin, [args.osc], log, constraints)
        say('installing the plugin from %s into %s' % (REPO, plugin))
        _pip(plugin, ['--no-deps', '--force-reinstall', str(REPO)], log)
    return core.resolve(), plugin.resolve()


def versions(venv, cwd):
    code = ('import importlib.metadata as m\n'
            'for d in ("python-openstackclient", "openstacksdk", '
            '"keystoneauth1", "requests", "ims-osc-plugin"):\n'
            '    try:\n'
            '        print(d, m.version(d))\n'
            '    except m.PackageNotFoundError:\n'
            '        pass\n')
    out = subprocess.check_output(
        [str(venv / 'bin' / 'python'), '-c', code], text=True, cwd=cwd)
    return dict(line.split(' ', 1) for line in out.splitlines())


# Running the CLI

class Run:
    def __init__(self, rc, wall, cpu, maxrss_kib, stdout, stderr):
        self.rc = rc
        self.wall = wall
        self.cpu = cpu
        self.maxrss_kib = maxrss_kib
        self.stdout = stdout
        self.stderr = stderr
        self.stats = None


def child_env(home):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('OS_', 'PYTHON', 'VIRTUAL_ENV'))}
    env['HOME'] = home
    env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost'
    env['PYTHONWARNINGS'] = 'ignore'
    return env


def run_cli(venv, argv, env):
    """Run ``openstack argv``: its wall and CPU time and peak RSS."""
    cmd = [str(venv / 'bin' / 'openstack')] + argv
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, env=env, cwd=env['HOME'])
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, wall, usage.ru_utime + usage.ru_stime,
                   usage.ru_maxrss, out.read().decode(errors='replace'),
                   err.read().decode(errors='replace'))


def control(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def auth_args(url):
    return [
        '--os-auth-type', 'password',
        '--os-auth-url', url + '/identity/v3',
        '--os-identity-api-version', '3',
        '--os-username', 'bench', '--os-password', 'bench',
        '--os-project-name', 'bench',
        '--os-user-domain-name', 'Default',
        '--os-project-domain-name', 'Default',
        '--os-region-name', bench_server.REGION,
        '--os-interface', 'public',
    ]


class Case:
    def __init__(self, label, venv, by, extra=(), fail_rate=0.0):
        self.label = label
        self.venv = venv
        self.by = by
        self.extra = list(extra)
        self.fail_rate = fail_rate
        self.runs = []

    def run(self, url, count, env):
        images = control(url, '/_bench/reset', {
            'images': count, 'seed': len(self.runs),
            'fail_rate': self.fail_rate})['images']
        names = [i[self.by] for i in images]
        result = run_cli(self.venv, auth_args(url) + [
            'image', 'delete'] + self.extra + names, env)
        result.stats = control(url, '/_bench/stats')
        self.runs.append(result)
        return result

    def ok(self):
        return all(r.rc == 0 and r.stats['images_left'] == 0
                   for r in self.runs)

    def wall(self):
        return statistics.median(r.wall for r in self.runs)

    def rss_mib(self):
        return statistics.median(r.maxrss_kib for r in self.runs) / 1024.0

    def _kinds(self, kinds):
        kinds = list(kinds)
        return sum(r.stats['counts'].get(k, 0)
                   for r in self.runs for k in kinds) / len(self.runs)

    def per_image(self, count):
        return self._kinds(bench_server.IMAGE_KINDS) / count

    def refused(self):
        """Requests per run that the server refused (--fail-rate)."""
        return self._kinds(k + ':refused' for k in bench_server.IMAGE_KINDS)

    def answered_per_image(self, count):
        """Requests per image, the ones refused apart."""
        return self.per_image(count) - self.refused() / count

    def cpu(self):
        return statistics.median(r.cpu for r in self.runs)

    def setup(self):
        return self._kinds(bench_server.SETUP_KINDS)

    def other(self):
        return self._kinds(['other'])

    def breakdown(self, count):
        return ' '.join(
            '%s=%.2f' % (k.split('-', 1)[1], self._kinds([k]) / count)
            for k in bench_server.IMAGE_KINDS if self._kinds([k]))

    def connections(self):
        return statistics.median(r.stats['connections'] for r in self.runs)

    def pool_full(self):
        return sum(r.stderr.count(POOL_FULL) for r in self.runs)

    def describe_failure(self):
        for r in self.runs:
            if r.rc or r.stats['images_left']:
                tail = '\n'.join(r.stderr.strip().splitlines()[-5:])
                return 'rc %s, %s images left: %s' % (
                    r.rc, r.stats['images_left'], tail)
        return ''


def bulk(args, core, plugin, url, env, has_workers, has_retries):
    plugin_extra = []
    label = 'plugin (sequential)'
    if has_workers:
        plugin_extra = ['--workers', str(args.workers)]
        label = 'plugin --workers %d' % args.workers
    retries = args.retries
    if retries is None and args.fail_rate:
        retries = 3
    if retries is not None and has_retries:
        plugin_extra += ['--retries', str(retries)]
        label += ' --retries %d' % retries
    cases = {}
    for by in ('id', 'name'):
        cases['core', by] = Case('core', core, by)
        cases['plugin', by] = Case(label, plugin, by, plugin_extra,
                                   args.fail_rate)
        if args.sequential and has_workers:
            cases['sequential', by] = Case(
                'plugin --workers 1', plugin, by, ['--workers', '1'])
    for i in range(max(args.bulk_repeats, args.core_repeats)):
        for (who, _), case in cases.items():
            repeats = args.core_repeats if who == 'core' else (
                args.bulk_repeats)
            if i < repeats:
                case.run(url, args.images, env)
    sweep = []
    if args.sweep and has_workers:
        for workers in [int(w) for w in args.sweep.split(',') if w]:
            case = Case('plugin --workers %d' % workers, plugin, 'id',
                        ['--workers', str(workers)])
            for _ in range(args.bulk_repeats):
                case.run(url, args.images, env)
            sweep.append(case)
    return cases, sweep


def throttle_floor(images, limit, window):
    """Seconds a LIMIT/WINDOW gateway needs to pass one request per image.

    The first window starts with the first request.
    """
    return max(0, -(-images // limit) - 1) * window


def throttled(args, core, plugin, url, env, has_workers):
    """The throttled case: rows of (client, Retry-After, Run)."""
    limit, window = args.throttle.split('/')
    limit, window = int(limit), float(window)
    extra = []
    label = 'plugin'
    if has_workers:
        extra = ['--workers', str(args.throttle_workers)]
        label = 'plugin --workers %d' % args.throttle_workers
    rows = []
    for retry_after in (False, True):
        for who, venv, argv in (('core', core, []), (label, plugin, extra)):
            images = control(url, '/_bench/reset', {
                'images': args.throttle_images, 'seed': 0, 'fail_rate': 0.0,
                'throttle': [limit, window],
                'throttle_retry_after': retry_after})['images']
            result = run_cli(venv, auth_args(url) + [
                'image', 'delete'] + argv + [i['id'] for i in images], env)
            result.stats = control(url, '/_bench/stats')
            rows.append((who, retry_after, result))
    control(url, '/_bench/reset', {'throttle': None})
    return (limit, window), rows


def startup(args, core, plugin, env):
    """Interleaved runs: core, plugin, core again (an A/A noise check)."""
    results = {}
    order = (('core', core), ('plugin', plugin), ('core again', core))
    for title, argv in STARTUP_COMMANDS:
        runs = {name: [] for name, _ in order}
        for venv in (core, plugin):
            for _ in range(2):
                run_cli(venv, argv, env)  # warm the page cache
        for _ in range(args.startup_repeats):
            for name, venv in order:
                result = run_cli(venv, argv, env)
                if result.rc:
                    sys.exit('%s: openstack %s failed: %s' % (
                        name, ' '.join(argv), result.stderr))
                runs[name].append(result)
        results[title] = runs
    return results


def median(runs, attr):
    return statistics.median(getattr(r, attr) for r in runs)


def _paired(rounds, attr):
    """Median over rounds of plugin / mean(core, core again)."""
    return statistics.median(
        2 * getattr(p, attr) / (getattr(c, attr) + getattr(a, attr))
        for c, p, a in rounds)


def instructions(venvs, argv, env):
    """Instructions each venv's ``openstack argv`` runs, under callgrind.

    The runs go two at a time; each is single-threaded.
    """
    env = dict(env, PYTHONHASHSEED='0')
    procs = []
    for venv in venvs:
        out = tempfile.NamedTemporaryFile(suffix='.callgrind', delete=False)
        out.close()
        cmd = ['valgrind', '--tool=callgrind',
               '--callgrind-out-file=' + out.name,
               str(venv / 'bin' / 'python'), str(venv / 'bin' / 'openstack')
               ] + argv
        procs.append((out.name, subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=env, cwd=env['HOME'], text=True)))
    counts = []
    for name, proc in procs:
        _, err = proc.communicate()
        os.unlink(name)
        refs = [line for line in err.splitlines() if 'I   refs:' in line]
        if proc.returncode or not refs:
            sys.exit('valgrind failed (rc %s): %s' % (
                proc.returncode, err[-500:]))
        counts.append(int(refs[-1].split(':')[1].replace(',', '')))
    return counts


def import_cost(plugin, env, repeats=7):
    """Milliseconds to import the plugin's modules once core's are loaded.

    ``-X importtime`` does not see them: stevedore loads entry points with
    importlib.import_module, which bypasses the interpreter's import timer.
    """
    code = (
        'import logging, time\n'
        'import osc_lib.utils\n'
        't0 = time.perf_counter()\n'
        'import ims_osc_plugin.plugin\n'
        't1 = time.perf_counter()\n'
        'import keystoneauth1.exceptions\n'
        'import openstackclient.image.v2.image\n'
        't2 = time.perf_counter()\n'
        'import ims_osc_plugin.v2.image\n'
        't3 = time.perf_counter()\n'
        'print(1000 * (t1 - t0 + t3 - t2))\n')
    times = [float(subprocess.check_output(
        [str(plugin / 'bin' / 'python'), '-c', code], env=env,
        cwd=env['HOME'], text=True)) for _ in range(repeats)]
    return statistics.median(times)


def verdict(ok):
    return 'PASS' if ok else 'FAIL'


def main(argv=None):
    args = parse_args(argv)
    if args.instructions is None:
        args.instructions = bool(shutil.which('valgrind'))
    elif args.instructions and not shutil.which('valgrind'):
        sys.exit('--instructions needs valgrind (apt-get install valgrind)')
    core, plugin = ensure_venvs(args)
    home = tempfile.mkdtemp(prefix='ims-bench-')
    env = child_env(home)
    # Not in the repository, whose build leaves an .egg-info there.
    core_versions = versions(core, home)
    plugin_versions = versions(plugin, home)
    if 'ims-osc-plugin' in core_versions:
        sys.exit('the core venv %s has ims-osc-plugin installed' % core)
    if 'ims-osc-plugin' not in plugin_versions:
        sys.exit('the plugin venv %s lacks ims-osc-plugin' % plugin)
    helptext = run_cli(plugin, ['image', 'delete', '--help'], env).stdout
    if '--delete-backup' not in helptext:
        sys.exit('the plugin venv does not run the plugin\'s image delete')
    for venv in (core, plugin):
        for _ in range(2):
            run_cli(venv, ['--version'], env)  # warm the page cache
    has_workers = '--workers' in helptext
    has_retries = '--retries' in helptext

    say('ims-osc-plugin benchmark: %d images, %g ms per request, '
        '%g ms per new connection, %d CPUs, load average %.2f' % (
            args.images, args.delay, args.connect_delay, os.cpu_count(),
            os.getloadavg()[0]))
    say('core:   %s' % core)
    say('        %s' % ', '.join(
        '%s %s' % kv for kv in sorted(core_versions.items())))
    say('plugin: %s' % plugin)
    say('        %s' % ', '.join(
        '%s %s' % kv for kv in sorted(plugin_versions.items())))
    if not has_workers:
        say('NOTE: this plugin has no --workers option: it runs '
            'sequentially.')
    if args.fail_rate:
        say('NOTE: %.0f%% of the plugin\'s image requests get a %d (%s); '
            'core runs get none.' % (
                100 * args.fail_rate, args.fail_status,
                'no Retry-After' if args.retry_after < 0 else
                'Retry-After: %d' % args.retry_after))
    say()

    checks = []
    failed_runs = []
    srv = bench_server.start(delay=args.delay / 1000.0,
                             fail_status=args.fail_status,
                             retry_after=(None if args.retry_after < 0
                                          else args.retry_after),
                             connect_delay=args.connect_delay / 1000.0)
    try:
        if not args.skip_bulk:
            cases, sweep = bulk(args, core, plugin, srv.url, env,
                                has_workers, has_retries)
            say('Bulk: openstack image delete <%d images>, median of %d '
                'run(s)' % (args.images, args.bulk_repeats))
            header = '%-5s %-32s %6s %6s %7s %-30s %5s %5s %7s' % (
                'by', 'client', 'wall s', 'cpu s', 'req/img',
                '(per image, by kind)', 'setup', 'conns', 'RSS MiB')
            say(header)
            say('-' * len(header))
            rows = [c for c in cases.values()] + sweep
            for case in rows:
                say('%-5s %-32s %6.2f %6.2f %7.2f %-30s %5g %5g %7.1f%s' % (
                    case.by, case.label, case.wall(), case.cpu(),
                    case.per_image(args.images),
                    case.breakdown(args.images), case.setup(),
                    case.connections(), case.rss_mib(),
                    '' if case.ok() else '  RUN FAILED'))
                if not case.ok():
                    failed_runs.append('%s by %s: %s' % (
                        case.label, case.by, case.describe_failure()))
                if case.refused():
                    say('      (%.1f requests per run refused, so %.2f '
                        'requests per image answered)' % (
                            case.refused(),
                            case.answered_per_image(args.images)))
                if case.other():
                    say('       (%g other requests per run)' % case.other())
                lines = max(len(r.stderr.splitlines()) for r in case.runs)
                if lines:
                    say('      (stderr: up to %d lines, such as: %s)' % (
                        lines, case.runs[-1].stderr.strip().splitlines()[
                            0][:60] if case.runs[-1].stderr.strip() else ''))
                if case.pool_full():
                    say('       (urllib3 "%s" warnings: %d)' % (
                        POOL_FULL, case.pool_full()))
            say()
            for by in ('id', 'name'):
                c, p = cases['core', by], cases['plugin', by]
                ratio = c.wall() / p.wall()
                checks.append((
                    'bulk wall core/plugin by %s >= %g' % (
                        by, BULK_RATIO_MIN),
                    '%.2f (%.2f s / %.2f s)' % (ratio, c.wall(), p.wall()),
                    ratio >= BULK_RATIO_MIN))
            for by in ('id', 'name'):
                c, p = cases['core', by], cases['plugin', by]
                # Requests refused (--fail-rate) and retried
                # are not the client's choice: they are not counted.
                cr = c.answered_per_image(args.images)
                pr = p.answered_per_image(args.images)
                checks.append((
                    'requests/image plugin <= core by %s' % by,
                    '%.2f <= %.2f' % (pr, cr), pr <= cr))
                cs, ps = c.setup(), p.setup()
                checks.append((
                    'set-up requests plugin <= core by %s' % by,
                    '%g <= %g' % (ps, cs), ps <= cs))
            for by in ('id', 'name'):
                c, p = cases['core', by], cases['plugin', by]
                ratio = p.rss_mib() / c.rss_mib()
                checks.append((
                    'peak RSS plugin/core by %s <= %g' % (
                        by, RSS_RATIO_MAX),
                    '%.3f (%.1f / %.1f MiB)' % (
                        ratio, p.rss_mib(), c.rss_mib()),
                    ratio <= RSS_RATIO_MAX))
        if not args.skip_throttled:
            (limit, window), rows = throttled(args, core, plugin, srv.url,
                                              env, has_workers)
            floor = throttle_floor(args.throttle_images, limit, window)
            say('Throttled: openstack image delete <%d image IDs> through a '
                'gateway letting %d image requests through per %g s, 429 '
                'past that; floor %g s' % (
                    args.throttle_images, limit, window, floor))
            header = '%-22s %-11s %4s %7s %4s %8s %5s %7s %6s' % (
                'client', 'Retry-After', 'rc', 'deleted', 'left',
                'requests', '429s', 'wall s', '/floor')
            say(header)
            say('-' * len(header))
            for who, retry_after, run in rows:
                counts = run.stats['counts']
                sent = sum(counts.get(k, 0) for k in
                           bench_server.IMAGE_KINDS + ('other',))
                left = run.stats['images_left']
                ratio = run.wall / floor if floor else float('nan')
                say('%-22s %-11s %4d %7d %4d %8d %5d %7.1f %6.2f' % (
                    who, 'yes' if retry_after else 'no', run.rc,
                    args.throttle_images - left, left, sent,
                    run.stats['throttled'], run.wall, ratio))
                if who != 'core':
                    checks.append((
                        'throttled, %s Retry-After: 0 left, wall/floor '
                        '<= %g' % ('with' if retry_after else 'without',
                                   THROTTLED_RATIO_MAX),
                        '%d left, %.2f' % (left, ratio),
                        left == 0 and run.rc == 0 and
                        ratio <= THROTTLED_RATIO_MAX))
            say('(requests: image service requests, image discovery '
                'apart; the floor is for one request per image)')
            say()
    finally:
        srv.shutdown()
        srv.server_close()

    if not args.skip_startup:
        results = startup(args, core, plugin, env)
        say('Start-up: %d rounds of interleaved runs (core, plugin, core '
            'again); wall seconds%s' % (
                args.startup_repeats,
                '; the target is checked on instructions below'
                if args.instructions else ''))
        header = '%-20s %-6s %7s %7s %7s %7s %7s %8s' % (
            'command', 'stat', 'core', 'plugin', 'again', 'ratio',
            'A/A', 'cpu ratio')
        say(header)
        say('-' * len(header))
        for title, runs in results.items():
            rounds = list(zip(*(runs[name] for name in (
                'core', 'plugin', 'core again'))))
            rows = []
            for stat, pick in (('min', min), ('median', statistics.median)):
                core_s, plugin_s, again_s = (
                    pick(r.wall for r in runs[name])
                    for name in ('core', 'plugin', 'core again'))
                rows.append((stat, '%7.3f %7.3f %7.3f' % (
                    core_s, plugin_s, again_s),
                    plugin_s / core_s, again_s / core_s))
            rows.append(('paired', '%7s %7s %7s' % ('', '', ''),
                         _paired(rounds, 'wall'),
                         statistics.median(a.wall / c.wall
                                           for c, _, a in rounds)))
            cpu = _paired(rounds, 'cpu')
            for stat, seconds, ratio, aa in rows:
                say('%-20s %-6s %s %7.3f %7.3f %8s' % (
                    title if stat == 'min' else '', stat, seconds, ratio,
                    aa, '%.3f' % cpu if stat == 'paired' else ''))
                if stat == args.startup_stat and not args.instructions:
                    checks.append((
                        'start-up plugin/core (%s), %s <= %g' % (
                            stat, title, STARTUP_RATIO_MAX),
                        '%.3f (A/A %.3f)' % (ratio, aa),
                        ratio <= STARTUP_RATIO_MAX))
        say('Importing the plugin\'s modules after core\'s: %.2f ms '
            '(median of 7)' % import_cost(plugin, env))
        if args.instructions:
            say('Start-up instructions (callgrind, PYTHONHASHSEED=0):')
            for title, argv in STARTUP_COMMANDS:
                c, p = instructions((core, plugin), argv, env)
                say('  %-20s core %d, plugin %d (+%d), ratio %.4f' % (
                    title, c, p, p - c, p / c))
                checks.append((
                    'start-up instructions plugin/core, %s <= %g' % (
                        title, STARTUP_RATIO_MAX),
                    '%.4f' % (p / c), p / c <= STARTUP_RATIO_MAX))
        say()

    shutil.rmtree(home, ignore_errors=True)
    say('Load average at the end: %.2f' % os.getloadavg()[0])
    if checks:
        say('Targets')
        width = max(len(c[0]) for c in checks)
        for name, value, ok in checks:
            say('  %-*s  %-30s %s' % (width, name, value, verdict(ok)))
    for failure in failed_runs:
        say('RUN FAILED: %s' % failure)
    if failed_runs:
        return 2
    if not args.no_check and not all(ok for _, _, ok in checks):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
