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

import configparser
import os
import sys

from docutils import nodes
from reno import sphinxext
from sphinx.util import logging

_TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, _TOP)
from releasenotes import heading  # noqa: E402

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


def _pbr_version():
    """pbr's version of this tree: from PKG-INFO in an sdist, else git."""
    import pbr.packaging  # reno requires pbr

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(_TOP, 'setup.cfg'))
    cwd = os.getcwd()
    os.chdir(_TOP)  # where pbr looks for PKG-INFO and runs git
    try:
        return pbr.packaging.get_version(cfg.get('metadata', 'name'),
                                         cfg.get('metadata', 'version'))
    finally:
        os.chdir(cwd)


class ReleaseNotes(sphinxext.ReleaseNotesDirective):
    """reno's release-notes directive, headed with pbr's version untagged.

    Before the first tag reno heads the current notes "0.0.0" (see
    releasenotes/heading.py, which does the same for the sdist's
    RELEASENOTES.rst and reno.cache); this retitles that first section
    with pbr's version. Once a tag exists reno's titles stay.
    """

    def run(self):
        result = super().run()
        sections = [n for n in result if isinstance(n, nodes.section)]
        versions = [s[0].astext() for s in sections]
        if versions and versions[0] == heading.UNTAGGED:
            try:
                version = _pbr_version()
            except Exception as e:  # pbr says why: no git, no PKG-INFO
                logging.getLogger(__name__).warning(
                    'release notes headed %s: no version from pbr: %s',
                    heading.UNTAGGED, e)
                return result
            title = heading.current_title(versions, version)
            if title:
                sections[0][0].clear()
                sections[0][0] += nodes.Text(title)
        return result


def setup(app):
    # Registered after reno.sphinxext's setup: this directive wins.
    app.add_directive('release-notes', ReleaseNotes, override=True)
