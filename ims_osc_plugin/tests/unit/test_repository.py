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

    def test_ci_runs_the_readme_test_command(self):
        command = self.literal_after('Run the unit tests')
        self.assertIn('tox -e py3', command)
        ci = [line.strip() for line in _read('.ci', 'run').splitlines()]
        self.assertIn(command, ci)

    def test_install_command_runs_the_plugin(self):
        command = self.literal_after('From a clone, install the plugin')
        self.assertIn('pip install .', command)
        self.assertTrue(command.endswith('openstack image delete --help'))
