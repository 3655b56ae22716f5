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

"""Check that the release notes are headed with the version, not "0.0.0".

``python tools/check_notes_heading.py FILE [VERSION]`` exits 1 if the
first version heading of FILE (reno's RELEASENOTES.rst, or a page of the
HTML release notes) is missing, is reno's "0.0.0" for an untagged tree, or
names a development version other than VERSION (by default pbr's version
of this tree). After a tag reno's own headings pass: the tag ("0.1.0",
which heads its notes until a newer note is committed) or "0.1.0-3".
tox -e releasenotes runs it on the HTML built from git; tools/smoke_dist.py
on the sdist's RELEASENOTES.rst and on the HTML built from the unpacked
sdist. See releasenotes/heading.py.
"""

import configparser
import html.parser
import os
import re
import sys

# reno's name for the current version when no tag is found.
UNTAGGED = '0.0.0'
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _FirstH2(html.parser.HTMLParser):
    # The page's title is its h1; reno's version headings are its h2.
    def __init__(self):
        super().__init__()
        self.inside = False
        self.text = None

    def handle_starttag(self, tag, attrs):
        if tag == 'h2' and self.text is None:
            self.inside, self.text = True, ''

    def handle_endtag(self, tag):
        if tag == 'h2':
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.text += data


def first_heading(path):
    """The first version heading of an HTML page or of reno's rst."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if path.endswith('.html'):
        parser = _FirstH2()
        parser.feed(text)
        # Sphinx appends a pilcrow link to headings.
        return parser.text and parser.text.strip().rstrip('\xb6').strip()
    # reno's rst: the document title in "=" over and under, then one
    # heading per version underlined with "=".
    lines = text.splitlines()
    for above, line, below in zip(lines, lines[1:], lines[2:]):
        if (line.strip() and re.fullmatch(r'=+', below)
                and not re.fullmatch(r'=+', above)):
            return line.strip()
    return None


def problem(heading, version):
    """None if heading names the version (or a tag), else what is wrong."""
    if heading == version or (heading and heading != UNTAGGED
                              and '.dev' not in heading):
        return None
    return ('the release notes are headed %r, not with the version %s'
            % (heading, version))


def pbr_version():
    """pbr's version of this tree, as setup.py gives it (git, PBR_VERSION)."""
    import pbr.packaging

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(TOP, 'setup.cfg'))
    os.chdir(TOP)
    return pbr.packaging.get_version(cfg.get('metadata', 'name'),
                                     cfg.get('metadata', 'version'))


def main(argv):
    if len(argv) not in (1, 2):
        sys.exit('usage: check_notes_heading.py FILE [VERSION]')
    path = os.path.abspath(argv[0])
    version = argv[1] if len(argv) == 2 else pbr_version()
    heading = first_heading(path)
    error = problem(heading, version)
    if error:
        sys.exit('check_notes_heading: %s: %s' % (path, error))
    print('check_notes_heading: %s headed %s (version %s)'
          % (path, heading, version))


if __name__ == '__main__':
    main(sys.argv[1:])
