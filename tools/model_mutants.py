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

"""Can the model-based test still find the bugs it was written for?

Each mutant puts one bug of issue 15 or 21 back into a copy of the package; the
model-based test (ims_osc_plugin/tests/unit/test_model.py) then runs on
the copy with its pinned examples left out and without shrinking, and this
prints after how many generated scenarios it first failed. CI runs
IMS_MODEL_EXAMPLES (1000) scenarios: each mutant must be found well within
that. Run it with the unit tests' Python after changing the scenarios'
strategies or the engine:

    .tox/py3/bin/python tools/model_mutants.py [--examples N] [MUTANT ...]

A mutant whose text no longer matches the code is reported as stale: fix
its lines here. Exit status 1 if a mutant is stale or not found.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (file, text in the code, the text that puts the bug back).
# Issue 15's "malformed-answer-aborts" (a lookup's except narrowed to
# ImsError) is gone: since issue 21 any exception of a task ends its job
# in the worker (see "worker-dies-on-a-crash"), so it is no bug any more.
MUTANTS = {
    'in-operator-or-case': (
        'ims_osc_plugin/client.py',
        'images.named(\n                        name, '
        'self.list_images(name=query, **filters))',
        'self.list_images(name=query, **filters)[:1]'),
    'hidden-images-not-found': (
        'ims_osc_plugin/client.py',
        "for filters in ({}, {'os_hidden': 'true'}):",
        'for filters in ({},):'),
    'lost-answer-404-deleted': (
        'ims_osc_plugin/engine.py',
        '            if outcomes.earlier_attempt_may_have_acted(e):\n'
        '                self._judge_lost(job, e)',
        '            if outcomes.earlier_attempt_may_have_acted(e):\n'
        '                self._finish(job, outcomes.DELETED,\n'
        '                             outcomes.GONE_ON_RETRY)'),
    'repeat-in-another-form-failed': (
        'ims_osc_plugin/engine.py',
        "        if self._claim(job, image['id']):\n"
        '            self._delete_seen(job)',
        '        self._delete_seen(job)'),
    'retry-after-as-a-float': (
        'ims_osc_plugin/v2/messages.py',
        "'wait': printable(str(error.wait), 12),",
        "'wait': '%d' % float(error.wait),"),
    'second-signal-waits': (
        'ims_osc_plugin/engine.py',
        '                if self._abandoned:\n'
        '                    return False',
        '                pass'),
    'retries-per-kind': (
        'ims_osc_plugin/client.py',
        '                used, allowed = sum(tries.values()), self.retries',
        '                used, allowed = tries[kind], self.retries'),
    'backup-unescaped': (
        'ims_osc_plugin/v2/messages.py',
        "            'backup': printable(backup)}\n    return detail",
        "            'backup': backup}\n    return detail"),
    'reason-phrase-unescaped': (
        'ims_osc_plugin/answers.py',
        "return ('%s %s' % (status, printable(phrase, 60))).strip()",
        "return ('%s %s' % (status, phrase)).strip()"),
    # Issue 21: each bug it names, and the four mutants that survived.
    'lost-404-name-lookup-deletes': (
        'ims_osc_plugin/engine.py',
        '            if outcomes.earlier_attempt_may_have_acted(e):\n'
        '                self._judge_lost(job, e)',
        '            if False:\n'
        '                self._judge_lost(job, e)'),
    'stopped-after-lost-not-attempted': (
        'ims_osc_plugin/engine.py',
        '        self._finish(job, outcomes.UNKNOWN, reason, error=not_found)',
        '        self._finish(job, outcomes.NOT_ATTEMPTED if self.client.'
        'cancel.is_set()\n'
        '                     else outcomes.UNKNOWN, reason, '
        'error=not_found)'),
    'nested-json-recursion': (
        'ims_osc_plugin/answers.py',
        '    if not _json_depth_ok(text):\n'
        '        return None\n'
        '    try:\n'
        '        return json.loads(text)\n'
        '    except (ValueError, RecursionError):',
        '    try:\n'
        '        return json.loads(text)\n'
        '    except ValueError:'),
    'quadratic-markup-strip': (
        'ims_osc_plugin/answers.py',
        "_TAG = re.compile(r'<[^<>]*>')",
        "_TAG = re.compile(r'<[^>]*>')"),
    'error-body-read-whole': (
        'ims_osc_plugin/client.py',
        '                if size > limit:\n'
        '                    break',
        '                pass'),
    'worker-dies-on-a-crash': (
        'ims_osc_plugin/engine.py',
        '            except BaseException as e:  # noqa: B902 - anything: '
        'see submit',
        '            except Exception as e:'),
    'tls-read-error-never-sent': (
        'ims_osc_plugin/answers.py',
        '                              ssl.SSLCertVerificationError)):',
        '                              ssl.SSLError)):'),
    'any-2xx-deleted': (
        'ims_osc_plugin/client.py',
        "self._request('DELETE', url, expect=(204,), **kwargs)",
        "self._request('DELETE', url, **kwargs)"),
    'ids-merged-by-case-before-lookup': (
        'ims_osc_plugin/engine.py',
        '            first = firsts.setdefault(job.arg, job)',
        '            first = firsts.setdefault(job.arg.lower(), job)'),
    'typo-uuid-reported-unknown': (
        'ims_osc_plugin/engine.py',
        '            return self._finish(job, outcomes.FAILED, '
        'error=missing)',
        '            return self._finish(job, outcomes.UNKNOWN, '
        'error=missing)'),
    'backslash-unescaped': (
        'ims_osc_plugin/answers.py',
        "    if char == '\\\\':\n"
        "        return '\\\\\\\\'\n",
        ''),
    'invisible-unescaped': (
        'ims_osc_plugin/answers.py',
        '    if char.isprintable() and ord(char) not in _INVISIBLE:',
        '    if char.isprintable():'),
    'cut-marked-with-dots': (
        'ims_osc_plugin/answers.py',
        "CUT = '\\\\...'",
        "CUT = '...'"),
    'debug-log-unescaped': (
        'ims_osc_plugin/client.py',
        'HTTP_LOG.addFilter(_EscapeServiceText())',
        'pass'),
    'gateway-502-504-not-acted': (
        'ims_osc_plugin/client.py',
        '_NOT_ACTED_ON = (429, 503)',
        '_NOT_ACTED_ON = (429, 502, 503, 504)'),
    'ids-compared-with-case': (
        'ims_osc_plugin/images.py',
        '    return a.lower() == b.lower()',
        '    return a == b'),
    'repeated-next-followed': (
        'ims_osc_plugin/client.py',
        '            if key in requested:\n'
        '                raise MalformedAnswer(',
        '            if False:\n'
        '                raise MalformedAnswer('),
    'hidden-duplicates-not-ambiguous': (
        'ims_osc_plugin/client.py',
        '            if len(matches) > 1:\n'
        '                raise AmbiguousImage(name)',
        '            if len(matches) > 1 and not filters:\n'
        '                raise AmbiguousImage(name)'),
    'dry-run-ignores-roles': (
        'ims_osc_plugin/outcomes.py',
        '    if owner and project_id and owner != project_id and (\n'
        '            not may_delete_others):',
        '    if owner and project_id and owner != project_id:'),
}

# No bug: the model test must pass on the code as it is.
BASELINE = ('ims_osc_plugin/engine.py', 'class Job:', 'class Job:')

# Runs in the copy: the model test, counting scenarios to the first failure.
RUNNER = '''
import json, sys, unittest
sys.path.insert(0, sys.argv[1])
import hypothesis
hypothesis.settings.register_profile(
    'find', phases=[hypothesis.Phase.generate])
hypothesis.settings.load_profile('find')
from ims_osc_plugin.tests.unit import test_model
test_model.RUN_TIMEOUT = 3
seen = {'scenarios': 0, 'first': None, 'found': 0}
check = test_model.check
RATE = sys.argv[2] == 'rate'
def counting_check(*args):
    seen['scenarios'] += 1
    try:
        problems = check(*args)
    except Exception as e:
        # Printing a line raised: a finding too.
        problems = ['raised %s: %s' % (type(e).__name__, e)]
        if seen['first'] is None:
            seen['first'] = [seen['scenarios'], problems[0]]
        seen['found'] += 1
        if RATE:
            return []
        raise
    if problems and seen['first'] is None:
        seen['first'] = [seen['scenarios'], problems[0]]
    seen['found'] += bool(problems)
    # --rate: go on through every scenario, counting those that find it.
    return [] if RATE else problems
test_model.check = counting_check
test_model.TestModel('test_what_must_hold').run(unittest.TestResult())
print(json.dumps(seen))
'''


def run(name, examples, rate=False):
    path, code, bug = MUTANTS.get(name, BASELINE)
    with tempfile.TemporaryDirectory(prefix='ims-mutant-') as copy:
        shutil.copytree(os.path.join(TOP, 'ims_osc_plugin'),
                        os.path.join(copy, 'ims_osc_plugin'),
                        ignore=shutil.ignore_patterns('__pycache__'))
        target = os.path.join(copy, path)
        with open(target) as f:
            text = f.read()
        if text.count(code) != 1:
            return None
        with open(target, 'w') as f:
            f.write(text.replace(code, bug))
        env = dict(os.environ, IMS_MODEL_EXAMPLES=str(examples))
        done = subprocess.run([sys.executable, '-c', RUNNER, copy,
                               'rate' if rate else 'first'], env=env,
                              capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        if not lines:
            sys.exit('%s: the runner failed:\n%s' % (name, done.stderr))
        return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--examples', type=int, default=1000)
    parser.add_argument('--rate', action='store_true',
                        help='run every scenario and count those that find '
                        'each mutant (slower)')
    parser.add_argument('mutants', nargs='*',
                        choices=[[]] + ['baseline'] + list(MUTANTS),
                        metavar='MUTANT',
                        help='"baseline": the code as it is, no bug')
    args = parser.parse_args()
    bad = 0
    for name in args.mutants or MUTANTS:
        seen = run(name, args.examples, args.rate)
        if seen is None:
            print('%-30s STALE: its code is not in %s' % (name,
                                                          MUTANTS[name][0]))
            bad += 1
        elif seen['first'] is None:
            print('%-30s NOT FOUND in %d scenarios' % (name,
                                                       seen['scenarios']))
            bad += name != 'baseline'
        elif name == 'baseline':
            print('%-30s FAILS at scenario %4d: %s' % (
                name, seen['first'][0], seen['first'][1][:100]))
            bad += 1
        elif args.rate:
            print('%-32s found by %4d of %d scenarios, first at %d' % (
                name, seen['found'], seen['scenarios'], seen['first'][0]))
        else:
            print('%-30s found at scenario %4d: %s' % (
                name, seen['first'][0], seen['first'][1][:100]))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
