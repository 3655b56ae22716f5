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

"""A reviewed plan: a dry run's JSON records, executed later by image ID.

Between a reviewed dry run and its execution, names move: a new image can
take the name of one that was reviewed. A plan names each image by its ID
and carries what the reviewer saw of it (:data:`CHECKED`); the engine's
``find`` (:meth:`Plan.finder`) looks each up once by ID and refuses it
(:class:`~ims_osc_plugin.outcomes.Changed`, :class:`~ims_osc_plugin.
outcomes.Vanished`) unless it is unchanged. The plan is checked as a whole
before any request: :class:`Malformed` says the line it failed on.
"""

import json

from ims_osc_plugin import answers
from ims_osc_plugin import client
from ims_osc_plugin import images
from ims_osc_plugin import outcomes
from ims_osc_plugin.v2 import records


def _text(value):
    # As a record writes it.
    return '' if value is None else answers.printable(str(value))


# What is compared: record column, field, the value the document gives.
CHECKED = (
    ('Updated At', 'updated_at', lambda image: _text(image.get(
        'updated_at'))),
    ('Protected', 'protected', lambda image: image.get('protected')),
    ('Owner', 'owner', lambda image: _text(image.get('owner'))),
    ('Image Backup', 'backup', lambda image: _text(images.backup_of(image))),
)
# The Outcome values a dry run writes.
DRY_RUN_OUTCOMES = ('would-delete', 'would-refuse', 'failed',
                    'not-attempted')


class Malformed(Exception):
    """The plan cannot be used; ``line`` is where it failed (from 1)."""

    def __init__(self, line, why):
        self.line = line
        self.why = why
        super().__init__('line %d: %s' % (line, why))


class Plan:
    """The images a plan deletes, and what each must still be.

    ``ids`` are the would-delete images' IDs, each once, in the plan's
    order; ``delete_backup`` (None, True, False) and ``store`` are the
    options the dry run was given.
    """

    def __init__(self, entries, delete_backup, store):
        self.expected = {}
        self.ids = []
        for entry in entries:
            key = entry['ID'].lower()
            if key not in self.expected:
                self.expected[key] = entry
                self.ids.append(entry['ID'])
        self.delete_backup = delete_backup
        self.store = store

    def finder(self, image_client):
        """The ``find`` for the engine: one lookup by ID, then the check."""
        def find(image_id):
            try:
                image = image_client.get_image(image_id)
            except client.ImageNotFound:
                raise outcomes.Vanished(image_id)
            except Exception as e:
                if getattr(e, 'http_status', None) == 404:
                    raise outcomes.Vanished(image_id)
                raise
            changes = changes_of(self.expected[image_id.lower()], image)
            if changes:
                raise outcomes.Changed(changes, image)
            return image
        return find


def changes_of(entry, image):
    """(field, planned, now) for each checked field that differs."""
    return [(field, entry[column], now(image))
            for column, field, now in CHECKED
            if entry[column] != now(image)]


def _lines(text):
    """Line number (from 1) of each character offset's line start."""
    return lambda offset: text.count('\n', 0, offset) + 1


def load(text):
    """The :class:`Plan` in ``text``, a dry run's ``-f json`` output.

    :raises Malformed: not such a plan, or hand-edited into something
        else (a missing column, a wrong type, an unknown outcome, an ID
        that is not a UUID, records of runs with different options).
    """
    line_of = _lines(text)
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except ValueError as e:
        # json's msg leaves the place out ("Unterminated string starting
        # at"): the line is Malformed's, the column is added here.
        raise Malformed(getattr(e, 'lineno', 1), 'not JSON: %s (column %s)'
                        % (getattr(e, 'msg', e), getattr(e, 'colno', '?')))
    if not isinstance(doc, list):
        raise Malformed(line_of(len(text) - len(text.lstrip())),
                        'a plan is a JSON list of records (openstack image '
                        'delete --dry-run -f json)')
    # Where each record starts, to say which line a bad one is on.
    starts = []
    offset = text.index('[') + 1
    for _record in doc:
        while text[offset] in ' \t\r\n,':
            offset += 1
        starts.append(offset)
        _value, offset = decoder.raw_decode(text, offset)

    columns = records.COLUMNS + records.PLAN_COLUMNS
    options = {value: option for option, value in
               records.BACKUP_OPTIONS.items()}
    entries = []
    seen_options = None
    for record, start in zip(doc, starts):
        def bad(why, column=None):
            at = start
            if column is not None:
                found = text.find(json.dumps(column), start)
                at = found if found >= 0 else start
            return Malformed(line_of(at), why)

        if not isinstance(record, dict):
            raise bad('a record is a JSON object')
        for column in columns:
            if column not in record:
                raise bad('the record has no %r' % column)
        for column in set(record) - set(columns):
            raise bad('unknown column %r' % column, column)
        for column in columns:
            value = record[column]
            if column == 'Protected':
                ok = value is None or isinstance(value, bool)
            else:
                ok = isinstance(value, str)
            if not ok:
                raise bad('%r has the wrong type' % column, column)
        outcome = record['Outcome']
        if outcome not in DRY_RUN_OUTCOMES:
            raise bad('%r is not the outcome of a dry run' % outcome,
                      'Outcome')
        if record['Backup Option'] not in options:
            raise bad('unknown Backup Option %r' % record['Backup Option'],
                      'Backup Option')
        these = (record['Backup Option'], record['Store'])
        if seen_options is None:
            seen_options = these
        elif these != seen_options:
            raise bad('the records come from runs with different options',
                      'Backup Option')
        if outcome != 'would-delete':
            continue
        if not images.is_image_id(record['ID']):
            raise bad('the ID %r is not an image ID' % record['ID'], 'ID')
        if not isinstance(record['Protected'], bool) or not record[
                'Updated At']:
            raise bad('a would-delete record needs its Protected and '
                      'Updated At', 'Protected')
        entries.append(record)
    option, store = seen_options or ('', '')
    return Plan(entries, options[option], store or None)
