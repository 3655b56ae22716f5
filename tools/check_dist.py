#!/usr/bin/env python3
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

"""Check the sdist and the wheel that ``python -m build`` left in a folder.

Run by ``tox -e dist`` after the build. It fails (exit 1) unless:

* there is exactly one sdist and one wheel, of the same version, and that
  version is the git tag when the checkout is at a tag;
* ``twine check --strict`` passes on both;
* the sdist holds what a packager needs (license, README, docs and release
  note sources, the rendered release notes and reno's cache so that they
  build without git, tests, every file git tracks) and no build or editor
  junk;
* the wheel holds the package, its entry points and its license, and its
  metadata (``Requires-Python``, the ``Python :: 3.x`` classifiers) matches
  the ``py3xx`` environments in ``tox.ini``;
* the wheel installs with pip in a new virtual environment, ``pip check``
  is happy, and ``openstack image delete --help`` there shows the plugin's
  options and nothing on standard error;
* with ``--sdist-docs``: the manual page and the release notes build from
  the unpacked sdist without git, as a packager builds them.

Then it prints the artefacts and their sizes.
"""

import argparse
import configparser
import email.parser
import fnmatch
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Relative to the sdist's top folder.
SDIST_REQUIRED = (
    'PKG-INFO',
    'LICENSE',
    'README.rst',
    'AUTHORS',
    'ChangeLog',
    'setup.cfg',
    'setup.py',
    'pyproject.toml',
    'requirements.txt',
    'test-requirements.txt',
    'tox.ini',
    '.stestr.conf',
    'doc/requirements.txt',
    'doc/source/conf.py',
    'doc/source/index.rst',
    'doc/source/cli.rst',
    'doc/source/man/openstack-image-delete.rst',
    'releasenotes/source/conf.py',
    'releasenotes/source/index.rst',
    'releasenotes/source/unreleased.rst',
    'releasenotes/notes/reno.cache',
    'RELEASENOTES.rst',
    'ims_osc_plugin/__init__.py',
    'ims_osc_plugin/client.py',
    'ims_osc_plugin/plugin.py',
    'ims_osc_plugin/v2/image.py',
    'ims_osc_plugin/tests/unit/__init__.py',
    'tools/no-constraints.txt',
)
SDIST_REQUIRED_GLOBS = (
    'releasenotes/notes/*.yaml',
)
# Build output, caches and editor leftovers; matched against each path and
# each of its parent folders.
JUNK = (
    '*.pyc', '*.pyo', '__pycache__', '*.so', '*.o',
    '.tox', '.eggs', '.venv', 'venv', '.git', '.stestr', '.pytest_cache',
    '.mypy_cache', '.coverage', '.coverage.*', 'cover', 'htmlcov',
    'build', 'dist', 'doc/build', 'releasenotes/build',
    '*.orig', '*.rej', '*~', '*.swp', '.#*', '.DS_Store',
    '*.whl', '*.tar.gz',
)
# pbr generates this one egg-info folder; any other is junk.
EGG_INFO = 'ims_osc_plugin.egg-info'
# Tracked files that pbr leaves out of the sdist on purpose.
NOT_IN_SDIST = ('.gitignore', '.gitreview')

WHEEL_REQUIRED = (
    'ims_osc_plugin/__init__.py',
    'ims_osc_plugin/client.py',
    'ims_osc_plugin/plugin.py',
    'ims_osc_plugin/v2/__init__.py',
    'ims_osc_plugin/v2/image.py',
    '{dist_info}/METADATA',
    '{dist_info}/entry_points.txt',
    '{dist_info}/licenses/LICENSE',
)
WHEEL_FORBIDDEN_TOP = ('doc', 'releasenotes', 'tools', 'tests')
ENTRY_POINTS = {
    'openstack.cli.extension': {'ims': 'ims_osc_plugin.plugin'},
    'openstack.ims.v2': {
        'image_delete': 'ims_osc_plugin.v2.image:DeleteImage',
    },
}
HELP_COMMAND = ('image', 'delete', '--help')
HELP_MUST_SHOW = (
    '--delete-backup', '--no-delete-backup', '--workers', '--retries',
)


class Checks:
    def __init__(self):
        self.failures = []

    def ok(self, condition, message, *args):
        if not condition:
            self.failures.append(message % args if args else message)
        return condition


def log(message, *args):
    print('check_dist: ' + (message % args if args else message), flush=True)


def human(size):
    for unit in ('B', 'KiB', 'MiB'):
        if size < 1024 or unit == 'MiB':
            return ('%d %s' % (size, unit) if unit == 'B'
                    else '%.1f %s' % (size, unit))
        size /= 1024.0


def find_artefacts(checks, dist_dir):
    names = sorted(os.listdir(dist_dir))
    sdists = [n for n in names if n.endswith('.tar.gz')]
    wheels = [n for n in names if n.endswith('.whl')]
    checks.ok(len(sdists) == 1, 'expected one sdist in %s, found %s',
              dist_dir, sdists)
    checks.ok(len(wheels) == 1, 'expected one wheel in %s, found %s',
              dist_dir, wheels)
    others = [n for n in names if n not in sdists + wheels]
    checks.ok(not others, 'unexpected files in %s: %s', dist_dir, others)
    if len(sdists) != 1 or len(wheels) != 1:
        return None, None
    return (os.path.join(dist_dir, sdists[0]),
            os.path.join(dist_dir, wheels[0]))


def git(*args):
    try:
        return subprocess.run(
            ('git',) + args, cwd=TOP, check=True, capture_output=True,
            text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def check_version(checks, sdist, wheel):
    sdist_version = os.path.basename(sdist)[:-len('.tar.gz')].split('-')[-1]
    wheel_version = os.path.basename(wheel).split('-')[1]
    checks.ok(sdist_version == wheel_version,
              'sdist version %s is not the wheel version %s',
              sdist_version, wheel_version)
    checks.ok(not sdist_version.startswith('0.0.0'),
              'version %s: pbr found no git history', sdist_version)
    tag = git('describe', '--tags', '--exact-match', 'HEAD')
    if tag:
        tag = tag.strip()
        checks.ok(sdist_version == tag,
                  'HEAD is tagged %s but the version built is %s',
                  tag, sdist_version)
    log('version %s%s', sdist_version,
        ' (tag %s)' % tag if tag else ' (HEAD is not tagged)')
    return wheel_version


def check_twine(checks, paths):
    result = subprocess.run(
        [sys.executable, '-m', 'twine', 'check', '--strict'] + list(paths),
        capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    checks.ok(result.returncode == 0, 'twine check --strict failed')


def is_junk(path):
    parts = path.split('/')
    prefixes = ['/'.join(parts[:i + 1]) for i in range(len(parts))]
    for candidate in prefixes + parts:
        if any(fnmatch.fnmatchcase(candidate, p) for p in JUNK):
            return True
    if parts[0].endswith('.egg-info') and parts[0] != EGG_INFO:
        return True
    return any(p.endswith('.egg-info') for p in parts[1:])


def check_sdist(checks, sdist):
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
    top = os.path.basename(sdist)[:-len('.tar.gz')]
    files = set()
    for m in members:
        checks.ok(m.name == top or m.name.startswith(top + '/'),
                  'sdist member outside %s/: %s', top, m.name)
        checks.ok(m.isfile() or m.isdir(),
                  'sdist member is not a plain file or folder: %s', m.name)
        if m.isfile():
            files.add(m.name[len(top) + 1:])
    for path in SDIST_REQUIRED:
        checks.ok(path in files, 'sdist lacks %s', path)
    for pattern in SDIST_REQUIRED_GLOBS:
        checks.ok(any(fnmatch.fnmatchcase(f, pattern) for f in files),
                  'sdist has nothing matching %s', pattern)
    checks.ok(any(re.match(r'ims_osc_plugin/tests/.*test_.*\.py\Z', f)
                  for f in files) or not git_tests(),
              'sdist lacks the tests (ims_osc_plugin/tests/**/test_*.py)')
    for path in sorted(files):
        checks.ok(not is_junk(path), 'sdist contains junk: %s', path)
    tracked = git('ls-files', '-z')
    if tracked is not None:
        for path in sorted(p for p in tracked.split('\0') if p):
            if path not in NOT_IN_SDIST:
                checks.ok(path in files,
                          'sdist lacks %s, which git tracks', path)
    log('sdist: %d files', len(files))


def git_tests():
    tracked = git('ls-files', 'ims_osc_plugin/tests')
    return bool(tracked and re.search(r'(^|/)test_[^/]*\.py$', tracked,
                                      re.MULTILINE))


def tested_pythons():
    """The 3.x versions that tox.ini has a ``py3xx`` environment for."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(TOP, 'tox.ini'))
    names = set()
    if config.has_option('tox', 'envlist'):
        names.update(re.split(r'[\s,]+', config.get('tox', 'envlist')))
    names.update(s.split(':', 1)[1] for s in config.sections()
                 if s.startswith('testenv:'))
    versions = set()
    for name in names:
        match = re.fullmatch(r'py3(\d+)', name)
        if match:
            versions.add('3.%s' % match.group(1))
    return versions


def check_wheel(checks, wheel, version):
    dist_info = 'ims_osc_plugin-%s.dist-info' % version
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        metadata = email.parser.Parser().parsestr(
            whl.read(dist_info + '/METADATA').decode('utf-8')
            if dist_info + '/METADATA' in names else '')
        entry_points = configparser.ConfigParser(interpolation=None)
        entry_points.optionxform = str
        if dist_info + '/entry_points.txt' in names:
            entry_points.read_string(
                whl.read(dist_info + '/entry_points.txt').decode('utf-8'))
    checks.ok(os.path.basename(wheel).endswith('-py3-none-any.whl'),
              'the wheel is not pure Python 3: %s', wheel)
    for path in WHEEL_REQUIRED:
        path = path.format(dist_info=dist_info)
        checks.ok(path in names, 'wheel lacks %s', path)
    for path in sorted(names):
        checks.ok(path.split('/')[0] not in WHEEL_FORBIDDEN_TOP,
                  'wheel contains %s', path)
        checks.ok(not is_junk(path), 'wheel contains junk: %s', path)
    for group, wanted in ENTRY_POINTS.items():
        for name, target in wanted.items():
            found = (entry_points.get(group, name)
                     if entry_points.has_option(group, name) else None)
            checks.ok(found == target,
                      'entry point %s %s is %r, expected %r',
                      group, name, found, target)

    checks.ok(metadata.get('License-Expression') == 'Apache-2.0',
              'License-Expression is %r', metadata.get('License-Expression'))
    classified = {
        c.rsplit(' :: ', 1)[1] for c in metadata.get_all('Classifier', [])
        if re.fullmatch(r'Programming Language :: Python :: 3\.\d+', c)}
    tested = tested_pythons()
    checks.ok(classified == tested,
              'the classifiers claim Python %s, tox.ini tests %s',
              sorted(classified), sorted(tested))
    oldest = min(tested, key=lambda v: int(v.split('.')[1]), default=None)
    checks.ok(metadata.get('Requires-Python') == '>=%s' % oldest,
              'Requires-Python is %r, the oldest Python tested is %s',
              metadata.get('Requires-Python'), oldest)
    log('wheel: %d files, Python %s, Requires-Python %s', len(names),
        ', '.join(sorted(classified)), metadata.get('Requires-Python'))


def check_install(checks, wheel, version, venv_dir, constraints):
    log('creating a clean virtual environment in %s', venv_dir)
    venv.EnvBuilder(clear=True, with_pip=True).create(venv_dir)
    python = os.path.join(venv_dir, 'bin', 'python')
    command = [python, '-m', 'pip', 'install', '--quiet',
               '--disable-pip-version-check']
    if constraints:
        command += ['-c', constraints]
    log('installing %s and its requirements', os.path.basename(wheel))
    result = subprocess.run(command + [wheel])
    if not checks.ok(result.returncode == 0, 'pip install of the wheel '
                     'failed'):
        return
    result = subprocess.run([python, '-m', 'pip', 'check'],
                            capture_output=True, text=True)
    checks.ok(result.returncode == 0, 'pip check failed: %s',
              result.stdout.strip())
    installed = subprocess.run(
        [python, '-c', 'import importlib.metadata as m; '
         'print(m.version("ims-osc-plugin"))'],
        capture_output=True, text=True).stdout.strip()
    checks.ok(installed == version, 'installed version %r, expected %r',
              installed, version)

    # No cloud configuration and an empty home: --help must need none.
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('OS_', 'PYTHON', 'VIRTUAL_ENV'))}
        env.update(HOME=home, PATH=os.path.join(venv_dir, 'bin') +
                   os.pathsep + env.get('PATH', ''))
        result = subprocess.run(
            [os.path.join(venv_dir, 'bin', 'openstack')] + list(HELP_COMMAND),
            capture_output=True, text=True, cwd=home, env=env)
    shown = 'openstack ' + ' '.join(HELP_COMMAND)
    checks.ok(result.returncode == 0, '%s exited %d', shown,
              result.returncode)
    checks.ok(not result.stderr.strip(), '%s wrote to stderr:\n%s', shown,
              result.stderr)
    for flag in HELP_MUST_SHOW:
        checks.ok(re.search(r'(^|\s)%s\b' % re.escape(flag), result.stdout),
                  '%s does not show %s', shown, flag)
    if result.returncode == 0:
        log('%s in the clean environment:', shown)
        sys.stdout.write(result.stdout)


def check_sdist_docs(checks, sdist, work_dir):
    """Build the man page and the release notes as a packager would.

    From the unpacked sdist, without git and without installing it: the
    sdist's egg-info provides the entry points and the version, and reno
    reads its cache.
    """
    with tarfile.open(sdist) as tar:
        tar.extractall(work_dir, filter='data')
    top = os.path.join(work_dir, os.path.basename(sdist)[:-len('.tar.gz')])
    env = dict(os.environ, PYTHONPATH='.')
    env.pop('GIT_DIR', None)
    for builder, source, out in (
            ('man', 'doc/source', 'man'),
            ('html', 'releasenotes/source', 'releasenotes')):
        out = os.path.join(work_dir, out)
        result = subprocess.run(
            [sys.executable, '-m', 'sphinx', '-W', '-q', '-b', builder,
             source, out], cwd=top, env=env, capture_output=True, text=True)
        if not checks.ok(result.returncode == 0, 'sphinx-build -b %s %s '
                         'failed in the unpacked sdist:\n%s', builder,
                         source, result.stdout + result.stderr):
            continue
        log('built %s from the unpacked sdist, without git: %s', source,
            ', '.join(sorted(os.listdir(out)))[:200])
    page = os.path.join(work_dir, 'man', 'openstack-image-delete.1')
    if checks.ok(os.path.exists(page), 'no manual page %s', page):
        with open(page, encoding='utf-8') as f:
            text = f.read().replace('\\-', '-')
        for flag in HELP_MUST_SHOW:
            checks.ok(flag in text, 'the manual page does not show %s',
                      flag)


def print_sizes(paths):
    log('artefacts:')
    for path in paths:
        size = os.path.getsize(path)
        print('  %-50s %9d bytes  %9s'
              % (os.path.basename(path), size, human(size)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dist_dir', help='folder with the sdist and wheel')
    parser.add_argument('--constraints', metavar='<file>',
                        help='pip constraints for the clean install')
    parser.add_argument('--venv', metavar='<dir>',
                        help='where to create the clean virtual '
                             'environment (default: a temporary folder)')
    parser.add_argument('--no-install', action='store_true',
                        help='skip the clean install and the CLI check')
    parser.add_argument('--sdist-docs', action='store_true',
                        help='build the manual page and the release notes '
                             'from the unpacked sdist (needs Sphinx, reno, '
                             'cliff and OSC where this script runs)')
    args = parser.parse_args(argv)

    checks = Checks()
    sdist, wheel = find_artefacts(checks, args.dist_dir)
    if sdist and wheel:
        version = check_version(checks, sdist, wheel)
        check_twine(checks, [sdist, wheel])
        check_sdist(checks, sdist)
        check_wheel(checks, wheel, version)
        if not args.no_install:
            if args.venv:
                check_install(checks, wheel, version, args.venv,
                              args.constraints)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    check_install(checks, wheel, version,
                                  os.path.join(tmp, 'venv'),
                                  args.constraints)
        if args.sdist_docs:
            with tempfile.TemporaryDirectory() as tmp:
                check_sdist_docs(checks, sdist, tmp)
        print_sizes([sdist, wheel])
    for failure in checks.failures:
        print('check_dist: FAIL: ' + failure, file=sys.stderr)
    if checks.failures:
        return 1
    log('all checks passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
