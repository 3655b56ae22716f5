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

"""Head the release notes with pbr's version until the first tag.

reno takes its versions from git tags only: before the first tag its
scanner names the current version "0.0.0" (reno.scanner's
_get_current_version), and no reno option changes that
(unreleased_version_title applies after a tag, earliest_version must name
one). pbr meanwhile gives the version of what is built, 0.1.0.devN, the
version of the sdist, its PKG-INFO and (as 0.1.0~devN) the Debian package.
So the notes are headed with that version, which a packager finds in the
tarball's name. Once a tag exists, reno names the versions and nothing here
changes them.

Used by setup.cfg's ``[global] commands`` (pbr's sdist runs build_reno,
which writes the sdist's RELEASENOTES.rst and reno.cache) and by
releasenotes/source/conf.py (the HTML release notes from git). Imported at
every setup.py run, so reno is imported only when the command runs.
"""

try:
    from setuptools import Command
except ImportError:  # conf.py's import, where setuptools may be absent
    Command = object

# What reno's scanner names the current version when no tag is found.
UNTAGGED = '0.0.0'


def current_title(reno_versions, pbr_version):
    """The title for reno's current (first) version, or None to keep it."""
    if (reno_versions and reno_versions[0] == UNTAGGED
            and pbr_version and pbr_version != UNTAGGED):
        return pbr_version
    return None


class BuildReno(Command):
    """reno's build_reno, with the untagged notes under pbr's version.

    reno's command writes reno.cache (from which the sdist's HTML release
    notes build without git) and RELEASENOTES.rst. Before the first tag,
    this renames the version "0.0.0" in the cache and renders
    RELEASENOTES.rst again from it, with reno's own formatter.
    """

    command_name = 'build_reno'
    description = 'Build reno release notes, headed with pbr\'s version'
    # reno's options (setup_command.BuildReno.user_options).
    user_options = [
        ('repo-root=', None, 'the root directory of the Git repository'),
        ('rel-notes-dir=', None, 'the parent directory of the notes'),
        ('output-file=', None, 'the filename of the release notes file'),
    ]

    def initialize_options(self):
        self.repo_root = None
        self.rel_notes_dir = None
        self.output_file = None

    def finalize_options(self):
        pass

    def run(self):
        # pbr's sdist runs this command only where reno can be imported.
        import yaml
        from reno import config, formatter, loader, setup_command

        reno_command = setup_command.BuildReno(self.distribution)
        for option in ('repo_root', 'rel_notes_dir', 'output_file'):
            setattr(reno_command, option, getattr(self, option))
        reno_command.ensure_finalized()
        reno_command.run()

        conf = config.Config(reno_command.repo_root,
                             reno_command.rel_notes_dir)
        cache_file = loader.get_cache_filename(conf)
        with open(cache_file, encoding='utf-8') as f:
            cache = yaml.safe_load(f)
        title = current_title([n['version'] for n in cache['notes']],
                              self.distribution.get_version())
        if title is None:
            return
        # Debian 12's reno (2.11) writes no 'dates'.
        for entry in cache['notes'] + cache.get('dates', []):
            if entry['version'] == UNTAGGED:
                entry['version'] = title
        with open(cache_file, 'w', encoding='utf-8') as f:
            yaml.safe_dump(cache, f, allow_unicode=True, explicit_start=True)
        ldr = loader.Loader(conf)  # reads the cache just written
        text = formatter.format_report(ldr, conf, ldr.versions,
                                       title=self.distribution.metadata.name)
        with open(reno_command.output_file, 'w', encoding='utf-8') as f:
            f.write(text)
