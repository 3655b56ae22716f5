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

"""Use the built sdist and wheel as a user and a packager would.

Run by ``tox -e dist`` after twine, check-wheel-contents and check-manifest,
for what those do not check. It fails (exit 1) unless:

* the wheel's ``Python :: 3.x`` classifiers are the ``py3xx`` environments
  of tox.ini and ``Requires-Python`` is the oldest of them;
* the wheel installs in a new virtual environment, ``pip check`` passes, and
  ``openstack image delete --help`` there, with an empty HOME and no OS_*
  variables, shows the plugin's options and writes nothing to stderr;
* the manual page and the release notes build from the unpacked sdist,
  without git and without installing it, as a packager builds them;
* the sdist's RELEASENOTES.rst and the release notes built from it are
  headed with the sdist's version, not reno's "0.0.0" for an untagged
  tree (tools/check_notes_heading.py);
* the sdist has no ``debian/`` (a packager lays the packaging on it).
"""

import argparse
import configparser
import email.parser
import glob
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile

import check_notes_heading

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ('--delete-backup', '--no-delete-backup')
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print('smoke_dist: FAIL: ' + message, file=sys.stderr)
    return condition


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def check_pythons(wheel):
    with zipfile.ZipFile(wheel) as whl:
        [name] = [n for n in whl.namelist()
                  if n.endswith('.dist-info/METADATA')]
        meta = email.parser.Parser().parsestr(whl.read(name).decode())
    claimed = {c.rsplit(' :: ', 1)[1] for c in meta.get_all('Classifier', [])
               if re.fullmatch(r'Programming Language :: Python :: 3\.\d+', c)}
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(os.path.join(TOP, 'tox.ini'))
    tested = {'3.' + m.group(1) for m in (
        re.fullmatch(r'testenv:py3(\d+)', s) for s in tox.sections()) if m}
    check(claimed == tested, 'classifiers claim Python %s, tox.ini tests %s'
          % (sorted(claimed), sorted(tested)))
    oldest = min(tested, key=lambda v: int(v[2:]), default=None)
    check(meta['Requires-Python'] == '>=%s' % oldest,
          'Requires-Python is %s, the oldest Python tested is %s'
          % (meta['Requires-Python'], oldest))


def check_install(wheel, venv_dir, constraints):
    venv.EnvBuilder(clear=True, with_pip=True).create(venv_dir)
    bin_dir = os.path.join(venv_dir, 'bin')
    pip = [os.path.join(bin_dir, 'python'), '-m', 'pip',
           '--disable-pip-version-check']
    if not check(subprocess.run(pip + ['install', '--quiet', '-c',
                                       constraints, wheel]).returncode == 0,
                 'pip install of the wheel failed'):
        return
    result = run(*pip, 'check')
    check(result.returncode == 0, 'pip check: ' + result.stdout)
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('OS_', 'PYTHON', 'VIRTUAL_ENV'))}
        env.update(HOME=home, PATH=bin_dir + os.pathsep + env.get('PATH', ''))
        env.pop('XDG_CONFIG_HOME', None)
        result = run(os.path.join(bin_dir, 'openstack'), 'image', 'delete',
                     '--help', cwd=home, env=env)
    print(result.stdout)
    what = 'openstack image delete --help in the clean environment'
    check(result.returncode == 0, '%s exited %d' % (what, result.returncode))
    check(not result.stderr, '%s wrote to stderr:\n%s' % (what, result.stderr))
    for flag in FLAGS:
        check(re.search(r'(^|\s)%s\b' % re.escape(flag), result.stdout),
              '%s does not show %s' % (what, flag))


def check_sdist_contents(sdist):
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        top = names[0].split('/')[0]
        check(not any(n.startswith(top + '/debian/') or n == top + '/debian'
                      for n in names),
              'the sdist carries debian/ (see MANIFEST.in)')


def check_sdist_docs(sdist, work_dir):
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, 'data_filter'):
            tar.extractall(work_dir, filter='data')
        else:
            tar.extractall(work_dir)
    top = os.path.join(work_dir, os.path.basename(sdist)[:-len('.tar.gz')])
    # The sdist's egg-info gives the entry points and the version; reno
    # reads releasenotes/notes/reno.cache. No git: work_dir is not in a repo.
    env = dict(os.environ, PYTHONPATH='.')
    env.pop('GIT_DIR', None)
    for builder, source in (('man', 'doc/source'),
                            ('html', 'releasenotes/source')):
        out = os.path.join(work_dir, builder)
        result = run(sys.executable, '-m', 'sphinx', '-W', '-q', '-b',
                     builder, source, out, cwd=top, env=env)
        if check(result.returncode == 0, 'sphinx-build -b %s %s failed in '
                 'the unpacked sdist:\n%s%s' % (builder, source,
                                                result.stdout, result.stderr)):
            print('smoke_dist: built %s from the unpacked sdist: %s'
                  % (source, ', '.join(sorted(os.listdir(out)))[:200]))
    with open(os.path.join(top, 'PKG-INFO'), encoding='utf-8') as f:
        version = email.parser.Parser().parse(f)['Version']
    for notes in (os.path.join(top, 'RELEASENOTES.rst'),
                  os.path.join(work_dir, 'html', 'unreleased.html')):
        if check(os.path.exists(notes), 'no release notes %s' % notes):
            error = check_notes_heading.problem(
                check_notes_heading.first_heading(notes), version)
            check(error is None, '%s: %s' % (notes, error))
    page = os.path.join(work_dir, 'man', 'openstack-image-delete.1')
    if check(os.path.exists(page), 'no manual page %s' % page):
        with open(page, encoding='utf-8') as f:
            text = f.read().replace('\\-', '-')
        for flag in FLAGS:
            check(flag in text, 'the manual page does not show %s' % flag)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dist_dir', help='folder with the sdist and wheel')
    parser.add_argument('--constraints', default=os.devnull,
                        help='pip constraints for the clean install')
    parser.add_argument('--venv', help='where to make the clean virtual '
                        'environment (default: a temporary folder)')
    args = parser.parse_args()

    sdists = glob.glob(os.path.join(args.dist_dir, '*.tar.gz'))
    wheels = glob.glob(os.path.join(args.dist_dir, '*.whl'))
    if not check(len(sdists) == len(wheels) == 1, 'expected one sdist and '
                 'one wheel, found %s' % (sdists + wheels)):
        return 1
    check_pythons(wheels[0])
    with tempfile.TemporaryDirectory() as tmp:
        check_install(wheels[0], args.venv or os.path.join(tmp, 'venv'),
                      args.constraints)
        check_sdist_contents(sdists[0])
        check_sdist_docs(sdists[0], os.path.join(tmp, 'sdist'))
    for path in sdists + wheels:
        print('smoke_dist: %-50s %8d bytes'
              % (os.path.basename(path), os.path.getsize(path)))
    print('smoke_dist: %s' % ('FAILED' if failures else 'all checks passed'))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
