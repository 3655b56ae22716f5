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

"""The documentation keeps one home per topic and one set of words.

Like ``TestMessagesDocumented`` (the troubleshooting page explains every
message), these tests read the pages from the source tree: a topic stated
on a second page, prose copied from page to page, a retired term or a
synopsis that no longer matches ``--help`` fails here, not in review.
"""

import collections
import glob
import os
import re

import testtools

from ims_osc_plugin import client
from ims_osc_plugin.v2 import image
from ims_osc_plugin.v2 import messages

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
USAGE = 'doc/source/usage.rst'
TROUBLESHOOTING = 'doc/source/troubleshooting.rst'
DELETE_BACKUP = 'doc/source/delete-backup.rst'
CONFIGURATION = 'doc/source/configuration.rst'
INSTALL = 'doc/source/install.rst'
CONTRIBUTOR = 'doc/source/contributor.rst'
EXIT_STATUS = 'doc/source/exit-status.inc'


def _read(path):
    with open(os.path.join(TOP, path), encoding='utf-8') as f:
        return f.read()


def _pages():
    """README.rst and every page of doc/source, by path from the top.

    The text that pages include (``*.inc``) counts as a page of its own.
    """
    paths = ['README.rst'] + sorted(
        os.path.relpath(p, TOP) for ext in ('rst', 'inc')
        for p in glob.glob(
            os.path.join(TOP, 'doc', 'source', '**', '*.' + ext),
            recursive=True))
    return {p: _read(p) for p in paths}


def _flat(text):
    """Text with markup quotes dropped and whitespace collapsed."""
    return ' '.join(text.replace('``', '').replace('**', '').split())


def _either(codes):
    """``(429, 502, 503, 504)`` as prose says it: "429, 502, 503 or 504"."""
    words = [str(c) for c in codes]
    return r'%s,? (or|and) %s' % (', '.join(words[:-1]), words[-1])


# Each topic: its home page and the facts that state it. A fact is a
# regular expression on the flattened page; where the code holds the
# fact, it is built from the code. The home must state every fact; no
# other page may state any: it links to the home instead.
TOPICS = {
    'the retry rules': (USAGE, [
        # What is retried, and the backoff.
        _either(client.RETRIABLE_STATUS_CODES),
        r'\b%g s before the first retry' % client._FIRST_DELAY,
    ]),
    'the outcome rules': (TROUBLESHOOTING, [
        r'What the tries of one DELETE got',
        r'404 answered a retry whose earlier try may have reached',
    ]),
    # Included by the troubleshooting page and the manual page.
    'the exit status table': (EXIT_STATUS, [
        r'(?m)^\s*(\* - )?130\s*$',
        r'(?m)^\s*(\* - )?143\s*$',
    ]),
    'the table of status meanings': (TROUBLESHOOTING, [
        re.escape(meaning) for meaning in messages.STATUS_MEANINGS.values()
        # The short ones ("not found") are ordinary words elsewhere.
        if len(meaning) >= 20
    ]),
    'the command synopsis': (USAGE, [
        re.escape('[--workers <count>] [--retries <count>]'),
    ]),
    'what the backup options send and do': (DELETE_BACKUP, [
        re.escape('Sends {"delete_backup": false}'),
        r'IMS deletes a backup only when delete_backup is true',
    ]),
    'why --store does not combine with the backup options': (
        DELETE_BACKUP, [r'so the plugin refuses the combination']),
    "plain Glance's refusal of a body": (TROUBLESHOOTING, [
        r'which rejects any request body on DELETE']),
    'the openstacksdk version that reads fixed retry delays': (
        CONFIGURATION, [r'openstacksdk 4\.11']),
    'the Python and client floors': (INSTALL, [
        r'Python 3\.9 or newer',
        r'python-openstackclient 6\.0\.0 or newer']),
    'how the Debian build checks the packages': (CONTRIBUTOR, [
        r'must be byte-identical', r'debootstrap --variant=minbase']),
    "pbr's version in Debian": (CONTRIBUTOR, [
        r'0\.1\.0~devN-1~deb12']),
    "IMS's error codes": (TROUBLESHOOTING, [
        r'the request exceeds IMS.s flow-control limit']),
}


class TestOneHomePerTopic(testtools.TestCase):

    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(TOP, 'doc', 'source')):
            self.skipTest('no doc/source here (an installed package)')
        self.pages = _pages()

    def _states(self, text, fact):
        # Line-anchored facts (tables) read the page as written.
        return re.search(fact, text if '(?m)' in fact else _flat(text))

    def test_each_topic_is_stated_on_its_home(self):
        missing = ['%s: %s lacks %r' % (topic, home, fact)
                   for topic, (home, facts) in sorted(TOPICS.items())
                   for fact in facts
                   if not self._states(self.pages[home], fact)]
        self.assertEqual([], missing)

    def test_no_topic_is_restated_elsewhere(self):
        restated = [
            '%s restates %s (%r): link to %s instead' % (
                path, topic, fact, home)
            for topic, (home, facts) in sorted(TOPICS.items())
            for path, text in sorted(self.pages.items()) if path != home
            for fact in facts if self._states(text, fact)]
        self.assertEqual([], restated)


# How many words in a row two pages may share. Shorter runs are the
# ordinary phrases of the subject ("the image may or may not have been").
SHARED_WORDS = 12
_LITERAL_DIRECTIVES = ('code-block', 'literalinclude', 'autoprogram-cliff',
                       'glossary', 'list-table', 'automodule', 'autoclass',
                       'autofunction', 'autoexception', 'autodata',
                       'toctree')
_BREAK = '\x00'


def _prose(text):
    """The page's running text, with literal blocks and markup removed.

    Code blocks, literal blocks and generated lists are left out, and
    inline literals (commands, messages, options) become breaks: quoting
    the same message on two pages is fine, copying a paragraph is not.
    Glossary and tables are left out, too: a term's definition and a
    table have their own tests above.
    """
    kept = []
    skip_deeper_than = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not line.strip() or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        stripped = line.strip()
        directive = re.match(r'\.\. ([\w-]+)::', stripped)
        if directive and directive.group(1) in _LITERAL_DIRECTIVES:
            skip_deeper_than = indent
            continue
        if stripped.endswith('::') and not stripped.startswith('..'):
            # A literal block follows, indented deeper than this line.
            skip_deeper_than = indent
            line = line[:-1]
        if re.fullmatch(r'[=\-~^"]{3,}', stripped):
            continue
        kept.append(line)
    text = '\n'.join(kept)
    text = re.sub(r'``.+?``', _BREAK, text, flags=re.S)
    text = re.sub(r':\w+:`([^`<]*)(<[^>]*>)?`', r'\1', text)
    return text


def _words(text):
    return re.findall(r"[\w']+|%s" % _BREAK, text.lower())


class TestNoRepeatedProse(testtools.TestCase):
    """No paragraph is copied from one page to another."""

    def test_no_run_of_words_on_two_pages(self):
        if not os.path.isdir(os.path.join(TOP, 'doc', 'source')):
            self.skipTest('no doc/source here (an installed package)')
        seen = collections.defaultdict(set)
        for path, text in _pages().items():
            words = _words(_prose(text))
            for i in range(len(words) - SHARED_WORDS + 1):
                run = tuple(words[i:i + SHARED_WORDS])
                if _BREAK not in run:
                    seen[run].add(path)
        shared = sorted('%s: %s' % (', '.join(sorted(paths)), ' '.join(run))
                        for run, paths in seen.items() if len(paths) > 1)
        self.assertEqual([], shared)


# Words retired for one term each (see the glossary in index.rst).
RETIRED_TERMS = {
    r'CSBS ?/ ?CBR|CBR ?/ ?CSBS|CBR \(or CSBS\)':
        '"CBR backup" (CSBS is named as the older service only)',
    r'IMS (full-ECS )?backups?|full-ECS backups?':
        '"CBR backup" (the backups are CBR\'s, not IMS\'s)',
    r'whole image':
        '"all stores" (IMS\'s __whole_image means full-ECS)',
    r'\bresolv(e|es|ed|ing)\b|\bunresolv':
        '"look up" for finding the image an argument names',
}
# Case matters: the metavar is the one --help shows.
RETIRED_CASE_SENSITIVE = {
    r'--store <store>': '"--store <STORE>", as --help shows it',
}


def _help_texts():
    """The command's description and every option's help, as --help."""
    command = image.DeleteImage(None, None)
    parser = command.get_parser('openstack image delete')
    texts = {'the command description': command.get_description()}
    for action in parser._actions:
        if action.help:
            texts['--help of %s' % '/'.join(action.option_strings or
                                            [action.dest])] = action.help
    return texts


class TestTerms(testtools.TestCase):
    """The docs, --help and the messages use one set of terms."""

    def _texts(self):
        texts = {'messages.%s' % name: value
                 for name, value in vars(messages).items()
                 if name.isupper() and isinstance(value, str)}
        texts.update(_help_texts())
        if os.path.isdir(os.path.join(TOP, 'doc', 'source')):
            texts.update((path, _flat(text))
                         for path, text in _pages().items())
            for path in glob.glob(os.path.join(
                    TOP, 'releasenotes', 'notes', '*.yaml')):
                texts[os.path.relpath(path, TOP)] = _flat(_read(path))
        return texts

    def test_no_retired_term(self):
        found = []
        for where, text in sorted(self._texts().items()):
            for rules, flags in ((RETIRED_TERMS, re.I),
                                 (RETIRED_CASE_SENSITIVE, 0)):
                for pattern, instead in rules.items():
                    match = re.search(pattern, text, flags)
                    if match:
                        found.append('%s: %r, say %s' % (
                            where, match.group(0), instead))
        self.assertEqual([], found)

    def test_retired_terms_are_recognised(self):
        # The patterns must catch what they retire.
        for text in ('the CSBS/CBR backup', 'IMS full-ECS backups',
                     'when the whole image is deleted',
                     'could not be resolved'):
            self.assertTrue(any(re.search(p, text, re.I)
                                for p in RETIRED_TERMS), text)
        self.assertFalse(any(re.search(p, text, re.I)
                             for p in RETIRED_TERMS
                             for text in ('__whole_image', 'CBR backup',
                                          'all stores', 'looked up')))


class TestSynopsis(testtools.TestCase):
    """The usage page's synopsis shows the options as --help does."""

    def test_synopsis_matches_the_parser(self):
        path = os.path.join(TOP, *USAGE.split('/'))
        if not os.path.exists(path):
            self.skipTest('no doc/source here (an installed package)')
        text = _read(USAGE)
        block = text[text.index('openstack image delete ['):]
        synopsis = _flat(block[:block.index('\n\n')])
        parser = image.DeleteImage(None, None).get_parser(
            'openstack image delete')
        ours = ('--delete-backup', '--no-delete-backup', '--store',
                '--dry-run', '--workers', '--retries')
        wrong = []
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ours:
                    continue
                shown = option + (' ' + action.metavar
                                  if action.metavar else '')
                if not re.search(re.escape(shown) + r'[\]| ]', synopsis):
                    wrong.append(shown)
        self.assertEqual([], wrong, synopsis)

    def test_the_check_can_fail(self):
        self.assertIsNone(re.search(re.escape('--store <STORE>') + r'[\]| ]',
                                    '[--store <store>]'))


def _titles(text):
    """The section titles of a reStructuredText page."""
    lines = text.splitlines()
    return {lines[i].strip() for i in range(len(lines) - 1)
            if lines[i].strip() and re.fullmatch(r'([=\-~^"])\1{2,}',
                                                 lines[i + 1].strip())
            and len(lines[i + 1].strip()) >= len(lines[i].strip())}


def _title_words(title):
    return _flat(title).replace('``', '')


# Files that a build makes: pointers to them are not checked.
_MADE = ('doc/build', 'releasenotes/build', 'dist', 'dist-deb', '.tox',
         '.venv', 'releasenotes/notes/reno.cache', 'debian/man',
         'debian/doctrees', 'RELEASENOTES.rst', 'ChangeLog', 'AUTHORS')


def broken_pointers(pages, exists):
    """Plain-text pointers in ``pages`` that lead nowhere.

    Sphinx checks ``:ref:`` and ``:doc:`` targets; prose points on in ways
    it does not read: ``:doc:`install` (*Debian package*)``, "the README's
    *Quick start*", "the Troubleshooting guide", ``doc/source/usage.rst``.
    ``pages`` maps a path to its text; ``exists(path)`` tells whether a
    file or folder of the source tree exists.
    """
    titles = {path: {_title_words(t) for t in _titles(text)}
              for path, text in pages.items()}
    page_titles = {}
    for path, text in pages.items():
        found = _titles(text)
        if found and path.startswith('doc/source/'):
            first = text.strip().splitlines()
            # The page's own title is the first one (over- and underlined).
            name = first[1].strip() if re.fullmatch(
                r'=+', first[0].strip()) else first[0].strip()
            page_titles[_title_words(name).lower()] = path
    broken = []
    for path, text in sorted(pages.items()):
        flat = _flat(text)
        for page, section in re.findall(
                r':doc:`([^`<]+)`,? \(?\*([^*]+)\*', flat):
            target = 'doc/source/%s.rst' % page.strip()
            if target not in pages:
                broken.append('%s: no page %s' % (path, target))
            elif _title_words(section) not in titles[target]:
                broken.append('%s: %s has no section %r' % (
                    path, target, section))
        for section in re.findall(r"README's \*([^*]+)\*", flat):
            if _title_words(section) not in titles.get('README.rst', ()):
                broken.append('%s: README.rst has no section %r' % (
                    path, section))
        for name in re.findall(r'\bthe ([A-Z][\w-]*) guide\b', flat):
            if name.lower() not in page_titles:
                broken.append('%s: no page titled %r' % (path, name))
        # Paths from the top, and the top folder's own files (a bare
        # name elsewhere, such as a build's lintian.txt, is not checked).
        for target in re.findall(
                r'``((?:doc|tools|debian|releasenotes|ims_osc_plugin|\.ci)'
                r'/[\w./+-]*|[\w-]*requirements\.txt|README\.rst|'
                r'[\w-]+\.(?:cfg|ini|toml|in))``', text):
            target = target.rstrip('/')
            if not target.startswith(_MADE) and not exists(target):
                broken.append('%s: no file %s' % (path, target))
    return broken


class TestPointers(testtools.TestCase):
    """Plain-text pointers to pages, sections and files resolve."""

    def test_every_pointer_resolves(self):
        if not os.path.isdir(os.path.join(TOP, 'doc', 'source')):
            self.skipTest('no doc/source here (an installed package)')
        pages = _pages()
        self.assertEqual([], broken_pointers(
            pages, lambda p: os.path.exists(os.path.join(TOP, p))))

    def test_the_check_can_fail(self):
        pages = {
            'README.rst': 'Quick start\n-----------\n',
            'doc/source/install.rst': (
                '=======\nInstall\n=======\n\nDebian package\n'
                '--------------\n'),
            'doc/source/contributor.rst': (
                "See :doc:`install` (*Installing from your distribution*),"
                " :doc:`install` (*Debian package*), the README's *Quick"
                " start*, the Install guide, the"
                " Troubleshooting guide, ``doc/source/gone.rst`` and"
                " ``doc/source/install.rst``.\n"),
        }
        broken = broken_pointers(pages, lambda p: p in pages)
        self.assertEqual([
            "doc/source/contributor.rst: doc/source/install.rst has no "
            "section 'Installing from your distribution'",
            "doc/source/contributor.rst: no page titled 'Troubleshooting'",
            'doc/source/contributor.rst: no file doc/source/gone.rst',
        ], broken)


class TestEssentialsInHelp(testtools.TestCase):
    """--help says what most users never read elsewhere."""

    def test_help_warns_and_points_to_dry_run(self):
        texts = _help_texts()
        backup = texts['--help of --delete-backup']
        self.assertIn('cannot be restored', backup)
        self.assertIn('--dry-run first', backup)
        store = texts['--help of --store']
        self.assertIn('Cannot be combined with --delete-backup or '
                      '--no-delete-backup', store)

    def test_manual_page_has_the_exit_statuses(self):
        path = os.path.join(TOP, 'doc', 'source', 'man',
                            'openstack-image-delete.rst')
        if not os.path.exists(path):
            self.skipTest('no doc/source here (an installed package)')
        text = _read('doc/source/man/openstack-image-delete.rst')
        self.assertIn('.. include:: ../exit-status.inc', text)
        self.assertIn('/usr/share/doc/python-ims-osc-plugin-doc/html/',
                      _flat(text))
