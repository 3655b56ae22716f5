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

"""Promises the repository makes to a newcomer and to CI."""

import os

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _read(*path):
    with open(os.path.join(TOP, *path), encoding='utf-8') as f:
        return f.read()


class TestReadmeCommands(testtools.TestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(os.path.join(TOP, '.ci', 'run')):
            self.skipTest('not a git checkout (no .ci/run)')
        self.readme = _read('README.rst')

    def literal_after(self, heading):
        """The first ``::`` block's line after ``heading``'s paragraph."""
        rest = self.readme[self.readme.index(heading):]
        block = rest[rest.index('::\n\n') + 4:]
        return block.splitlines()[0].strip()

    def ci_lines(self):
        return [line.strip() for line in _read('.ci', 'run').splitlines()]

    def test_first_command_is_the_demo(self):
        command = self.literal_after('Quick start\n')
        self.assertEqual(
            "python3 -m venv .venv && .venv/bin/pip install 'tox>=4' && "
            ".venv/bin/tox -e demo", command)

    def test_ci_runs_the_readme_demo_command(self):
        command = self.literal_after('Quick start\n')
        self.assertIn(command, self.ci_lines())

    def test_ci_checks_the_docs_transcript(self):
        self.assertIn(
            '.venv/bin/tox -e demo -- --check doc/source/demo-transcript.txt',
            self.ci_lines())

    def test_ci_runs_the_readme_test_command(self):
        command = self.literal_after('Run the unit tests')
        self.assertIn('tox -e py3', command)
        self.assertIn(command, self.ci_lines())

    def test_install_command_runs_the_plugin(self):
        command = self.literal_after('For a quick look')
        self.assertIn('pip install .', command)
        self.assertTrue(command.endswith('openstack image delete --help'))
