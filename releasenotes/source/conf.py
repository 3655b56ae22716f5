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

"""Sphinx configuration of the ims-osc-plugin release notes.

reno reads the notes from the git history: build from a clone, and commit
a note before expecting to see it.
"""

extensions = [
    'reno.sphinxext',
]

source_suffix = {'.rst': 'restructuredtext'}
master_doc = 'index'

project = 'ims-osc-plugin Release Notes'
copyright = 'ims-osc-plugin developers'

# Release notes are not versioned: one page covers every release.
version = ''
release = ''

exclude_patterns = []

# As the documentation: Sphinx's own theme, nothing from the network.
html_theme = 'alabaster'
html_theme_options = {
    'show_powered_by': False,
}
html_static_path = []
html_title = project
