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

"""One record per image argument: what ``-f json|yaml|csv|value`` prints.

A record is a :class:`Record` (a named tuple), in the order of
:data:`COLUMNS`; a dry run's records also carry :data:`PLAN_COLUMNS`, what
``--plan`` needs to check that a reviewed image did not change. Every
string that comes from the service or the user is escaped as in the
human lines.
"""

import collections

from ims_osc_plugin import images
from ims_osc_plugin import outcomes
from ims_osc_plugin.v2 import messages

COLUMNS = ('Argument', 'ID', 'Name', 'Outcome', 'Backup', 'Reason',
           'Request ID')
PLAN_COLUMNS = ('Updated At', 'Protected', 'Owner', 'Image Backup',
                'Backup Option', 'Store')

# The Outcome column's words.
OUTCOMES = {
    outcomes.DELETED: 'deleted',
    outcomes.FAILED: 'failed',
    outcomes.UNKNOWN: 'unknown',
    outcomes.NOT_ATTEMPTED: 'not-attempted',
    outcomes.WOULD_DELETE: 'would-delete',
    outcomes.WOULD_REFUSE: 'would-refuse',
}

# The Backup Option column: which of the options the run was given.
BACKUP_OPTIONS = {None: '', True: '--delete-backup',
                  False: '--no-delete-backup'}


def _fields(names):
    return [name.lower().replace(' ', '_') for name in names]


Record = collections.namedtuple('Record', _fields(COLUMNS))
PlanRecord = collections.namedtuple('PlanRecord',
                                    _fields(COLUMNS + PLAN_COLUMNS))


def columns(dry_run):
    """The column names of a run's records."""
    return COLUMNS + PLAN_COLUMNS if dry_run else COLUMNS


def _text(value):
    return '' if value is None else messages.printable(str(value))


def _sent_by_id(job):
    """Whether its DELETE went out: the ID is then the image's."""
    return job.kind in (outcomes.DELETED, outcomes.UNKNOWN)


def record(job, deletion):
    """The record of a final ``job`` of ``deletion`` (an engine Deletion).

    ``Backup`` is the backup deleted (in a dry run: that would be) with
    the image: only with ``delete_backup``, without a store.
    """
    delete_backup = deletion.delete_backup
    image = job.image or {}
    image_id = None
    if job.image is not None or _sent_by_id(job):
        image_id = job.image_id
    elif isinstance(job.error, (outcomes.Changed, outcomes.Vanished)):
        # A plan's image, refused: the plan gave its ID.
        image = getattr(job.error, 'image', None) or {}
        image_id = job.arg
    backup = job.backup
    kind = job.kind
    deleted_with = ''
    if backup and delete_backup and deletion.store is None and kind in (
            outcomes.DELETED, outcomes.WOULD_DELETE):
        deleted_with = backup
    values = [
        _text(job.arg),
        _text(image_id),
        _text(image.get('name')),
        OUTCOMES[kind],
        _text(deleted_with),
        messages.record_reason(job, delete_backup, deletion.store,
                               deletion.project_id),
        _text(job.request_id),
    ]
    if not deletion.dry_run:
        return Record(*values)
    protected = image.get('protected') if job.image is not None else None
    return PlanRecord(*values + [
        _text(image.get('updated_at')),
        protected if isinstance(protected, bool) else None,
        _text(image.get('owner')),
        _text(images.backup_of(job.image) if job.image else None),
        BACKUP_OPTIONS[delete_backup],
        _text(deletion.store),
    ])
