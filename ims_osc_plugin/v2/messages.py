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

"""Every line ``image delete`` prints, and how it phrases each outcome.

The one source of the command's wording: the troubleshooting page must
explain each template here and each status meaning (a unit test checks).
Every value that comes from the service or the user goes through
:func:`printable` on its way into a line.
"""

import logging
import math

from keystoneauth1 import exceptions as ks_exceptions

from ims_osc_plugin import answers
from ims_osc_plugin import client
from ims_osc_plugin import ims_codes
from ims_osc_plugin import outcomes

printable = answers.printable

# What the IMS API reference says each failure status means.
STATUS_MEANINGS = {
    400: 'request error',
    401: 'authentication failed',
    403: ('no rights to delete it (it is protected, or not your own '
          'private image)'),
    404: 'not found',
    409: 'conflict with the image state',
    429: 'too many requests',
    500: 'internal error in the image service',
    503: 'the image service is unavailable',
}

# What IMS's own error codes for a delete mean (see ims_codes); said instead
# of the status's meaning when the answer carries one.
IMS_CODE_MEANINGS = {
    ims_codes.PROTECTED: 'the image is protected',
    ims_codes.FLOW_CONTROL: ("the request exceeds IMS's flow-control limit "
                             '(throttled)'),
    ims_codes.BEING_CREATED: ('the image is still being created and cannot '
                              'be deleted yet'),
    ims_codes.OWNER_ONLY: 'only the project that owns the image can delete it',
    ims_codes.PUBLIC: 'a public image cannot be deleted',
    ims_codes.BACKUP_NOT_DELETED: ('IMS could not delete the CBR backup of '
                                   'this full-ECS image'),
}

# What to do about each code: whether to try again, and when.
IMS_CODE_ADVICE = {
    ims_codes.PROTECTED: ("Not worth retrying as it is: if the image is to "
                          "go, unprotect it with 'openstack image set "
                          "--unprotected %(id)s', then delete it again."),
    ims_codes.FLOW_CONTROL: ('Every try was throttled: run the command '
                             'again later, with fewer --workers.'),
    ims_codes.BEING_CREATED: ("Try again once 'openstack image show %(id)s' "
                              "shows status active (or the creation "
                              "failed)."),
    ims_codes.OWNER_ONLY: ("Not worth retrying: delete it as the project "
                           "that owns it (owner in 'openstack image show "
                           "%(id)s')."),
    ims_codes.PUBLIC: ("Not worth retrying: public images are the cloud's "
                       "own; only the cloud's operator can remove them."),
    ims_codes.BACKUP_NOT_DELETED: (
        "Check with 'openstack image show %(id)s': if the image is still "
        "there, run the delete again; if it is gone, its backup %(backup)s "
        "is left in CBR and still billed: delete it there (CBR console, "
        "Backups, or CBR's API: DELETE /v3/{project_id}/backups/"
        "%(backup)s)."),
}
# The backup's ID when the command did not look the image up.
UNKNOWN_BACKUP = "(the image's __backup_id)"

FLAGS = '--delete-backup/--no-delete-backup'

# Result lines, one per image argument, in argument order (stderr).
DELETED = "Deleted image '%(image)s': %(detail)s"
FAILED = "Failed to delete image '%(image)s': %(reason)s"
UNKNOWN = "Image '%(image)s' may or may not have been deleted: %(reason)s"
NOT_ATTEMPTED = ("Image '%(image)s' was not deleted: interrupted before its "
                 "delete was sent")
NO_BACKUP = ("Image '%(image)s': image %(id)s is not a full-ECS image with a "
             "backup: there is no backup to delete")
SAME_IMAGE_DRY_RUN = ("Image '%(image)s' is the same image as '%(first)s': "
                      "handled once")

# What follows the image ID in a DELETED line.
WITH_BACKUP = ' and its backup %(backup)s'
BACKUP_KEPT = ' (backup %(backup)s kept)'
GONE_ON_RETRY = ' (it was already gone when the delete was retried)'
GONE_ON_RETRY_BACKUP = ('; its backup %(backup)s was in the earlier try '
                        'whose answer was lost: check that it is gone')
SAME_AS = ", the same image as '%(first)s'"

# Reasons in a FAILED or UNKNOWN line.
NOT_FOUND = 'no image with this name or ID'
AMBIGUOUS = 'more than one image has this name; use the image ID'
EMPTY = 'an image name or ID cannot be empty'
MALFORMED = "the image service's answer cannot be used: %(why)s"
GONE_BACKUP_KEPT = ('%(error)s: it was already gone before this command '
                    'could delete it, so its backup %(backup)s was not '
                    'deleted by this command')
RETRY_AFTER = ('%(error)s: the service asked to wait %(wait)s s before '
               'trying again, longer than the %(cap)d s this command waits')
BODY_REJECTED = ("this cloud's image service does not support delete_backup "
                 "(%(error)s); the image was not deleted. Run again without "
                 "%(flags)s.")
UNEXPECTED = 'unexpected reply %(status)s'
REDIRECTED = ' (to %(location)s)'
INTERRUPTED_RETRY = '%(error)s (not retried: interrupted)'
ANSWER_LOST = ('%(error)s; an earlier try may have reached the service '
               'before its answer was lost')
ID_NOT_FOUND_INTERRUPTED = ('no image has this ID, and the command was '
                            'interrupted before looking for an image of '
                            'this name')
INTERRUPTED_LOST = ('a try may have reached the service before its answer '
                    'was lost, and the command was interrupted before '
                    'retrying')
IN_FLIGHT = ('the command was stopped while its delete was in flight: no '
             'answer says what the service did')
LOST_NOT_FOUND = ('a delete of this ID may have reached the service before '
                  'its answer was lost, and no image has this ID or name '
                  'now')
LOST_NAME_LEFT = ('a delete of this ID may have reached the service before '
                  'its answer was lost; an image named like this ID exists '
                  'and was left alone')
SAME_IMAGE = "the same image as '%(first)s'"

# The command's last line.
SUMMARY_FAILED = 'Failed to delete %(failed)s of %(total)s images.'
SUMMARY_UNKNOWN = (' %(unknown)s of them may have been deleted: check with '
                   "'openstack image show'.")
SUMMARY_INTERRUPTED = ('Interrupted by %(signal)s: deleted %(deleted)s of '
                       '%(total)s images, %(failed)s failed, %(skipped)s not '
                       'attempted.')

# --dry-run (stdout, but for what could not be looked up).
WOULD_DELETE = "Would delete image '%(name)s' (%(id)s)%(store)s: %(what)s"
FROM_STORE = " from store '%(store)s'"
WOULD_REFUSE = ("Would not delete image '%(name)s' (%(id)s): the service "
                "would refuse: %(why)s")
DRY_NO_BACKUP = 'no backup'
DRY_BACKUP_DELETED = ('full-ECS image, its backup %(backup)s would also be '
                      'deleted')
DRY_BACKUP_KEPT = 'full-ECS image, its backup %(backup)s would be kept'
REFUSE_PROTECTED = 'the image is protected'
REFUSE_OWNER = ('it belongs to project %(owner)s, not to your project '
                "%(project)s (unless your role lets you delete other "
                "projects' images)")
DRY_RUN_SUMMARY = ('Dry run: would delete %(images)s and %(backups)s; '
                   'nothing was deleted.')
DRY_RUN_INTERRUPTED = ('Interrupted by %(signal)s: dry run of %(done)s of '
                       '%(total)s images; nothing was deleted.')
DRY_RUN_UNRESOLVED = ('Dry run: %(failed)s of %(total)s images could not be '
                      'looked up.')

# On a terminal, redrawn in place as images are done.
PROGRESS = ('Deleting images: %(done)d/%(total)d done, %(deleted)d deleted, '
            '%(failed)d failed')
PROGRESS_DRY_RUN = ('Dry run: %(done)d/%(total)d done, %(would)d would be '
                    'deleted, %(failed)d failed')
# Added to the progress line while the image service throttles the run.
PROGRESS_THROTTLED = ("waiting %(seconds)d s for the image service's "
                      "request limit")
PROGRESS_PROBING = ("waiting for the image service's request limit: "
                    "trying one request")

# Refusals before any request.
BAD_STORE = ("--store '%(store)s' is not a store's name: give one that "
             "'openstack image stores list' shows.")
STORE_WITH_FLAG = ('--store cannot be combined with %(flags)s: IMS deletes '
                   'a backup only with an image deleted from all stores.')
V1_WITH_FLAG = ('%(flags)s needs the image API v2; it cannot be used with '
                '--os-image-api-version %(version)s.')
UNSUPPORTED_OPTION = ("%(option)s is not supported by ims-osc-plugin's "
                      "image delete; run without it.")
NO_ENDPOINT = 'Cannot reach the image service: %(error)s'
BAD_ENDPOINT = 'Cannot use the image endpoint %(url)s: %(why)s'
BAD_API_VERSION = ('IMS API version %(version)s is not supported: the IMS '
                   'image API is version 2 (--os-ims-api-version, '
                   'OS_IMS_API_VERSION)')


def plural(count, noun):
    return '%d %s%s' % (count, noun, '' if count == 1 else 's')


def explain(error):
    """One line for a keystoneauth HttpError.

    The status, what the IMS reference says it means, and the server's own
    text, escaped.
    """
    status = error.http_status
    line = answers.status_line(status, error.response)
    code = answers.ims_error_code(error.response)
    if code in IMS_CODE_MEANINGS:
        line += ', %s: %s' % (code, IMS_CODE_MEANINGS[code])
    else:
        if code:
            line += ', ' + printable(code, 20)
        meaning = STATUS_MEANINGS.get(status)
        if meaning:
            line += ', ' + meaning
    message = answers.server_message(error.response)
    if message:
        line += ': ' + printable(message)
    return line


def is_body_rejected(error):
    """Whether a plain Glance refused the ``delete_backup`` body.

    Glance's router rejects any DELETE body with "A body is not expected
    with this request", before it looks at the image.
    """
    if getattr(error, 'http_status', None) != 400:
        return False
    message = answers.server_message(error.response) or ''
    return 'a body is not expected' in message.lower()


def reason(error, delete_backup=None):
    """One line that says why an image was not deleted."""
    if isinstance(error, outcomes.Changed):
        return PLAN_CHANGED % {'changes': ', '.join(
            PLAN_CHANGE % {'field': field, 'planned': printable(repr(old)),
                           'now': printable(repr(new))}
            for field, old, new in error.changes)}
    if isinstance(error, outcomes.Vanished):
        return PLAN_VANISHED
    if isinstance(error, client.ImageNotFound):
        return NOT_FOUND
    if isinstance(error, client.AmbiguousImage):
        return AMBIGUOUS
    if isinstance(error, client.MalformedAnswer):
        return MALFORMED % {'why': printable(str(error))}
    if isinstance(error, client.RetryAfterTooLong):
        return RETRY_AFTER % {'error': explain(error.error),
                              'wait': printable(str(error.wait), 12),
                              'cap': client.MAX_RETRY_WAIT}
    if isinstance(error, client.UnexpectedResponse):
        response = error.response
        line = UNEXPECTED % {'status': answers.status_line(
            response.status_code, response)}
        location = response.headers.get('Location')
        if location:
            line += REDIRECTED % {'location': printable(location)}
        return line
    if isinstance(error, ks_exceptions.HttpError):
        if delete_backup is not None and is_body_rejected(error):
            return BODY_REJECTED % {'error': explain(error), 'flags': FLAGS}
        return explain(error)
    return printable(str(error)) or type(error).__name__


def _why_not_deleted(job, delete_backup):
    """The reason part of a FAILED or UNKNOWN line."""
    from ims_osc_plugin import waiting

    error = job.error
    if job.reason == outcomes.SAME_IMAGE:
        return SAME_IMAGE % {'first': printable(job.same_as.arg)}
    if job.reason == outcomes.EMPTY:
        return EMPTY
    if job.reason == outcomes.IN_FLIGHT:
        return IN_FLIGHT
    if job.reason == waiting.WAIT_TIMEOUT:
        return WAIT_TIMEOUT % {'status': printable(job.wait_status or '?'),
                               'waited': job.waited or 0}
    if job.reason == waiting.WAIT_INTERRUPTED:
        return WAIT_INTERRUPTED
    if job.reason == waiting.WAIT_CHECK_FAILED:
        return WAIT_CHECK_FAILED % {'error': reason(error)}
    if job.reason == outcomes.LOST_NOT_FOUND:
        return LOST_NOT_FOUND
    if job.reason == outcomes.LOST_NAME_LEFT:
        return LOST_NAME_LEFT
    if job.reason == outcomes.ID_NOT_FOUND_INTERRUPTED:
        if job.kind == outcomes.UNKNOWN:
            return INTERRUPTED_LOST
        return ID_NOT_FOUND_INTERRUPTED
    if job.reason == outcomes.GONE_BACKUP_KEPT:
        return GONE_BACKUP_KEPT % {'error': explain(error),
                                   'backup': printable(job.backup)}
    if isinstance(error, client.Interrupted):
        if job.kind == outcomes.UNKNOWN:
            return INTERRUPTED_LOST
        return INTERRUPTED_RETRY % {
            'error': reason(error.error, delete_backup)}
    line = reason(error, delete_backup)
    if job.kind == outcomes.UNKNOWN and (
            outcomes.earlier_attempt_may_have_acted(error)):
        line = ANSWER_LOST % {'error': line}
    advice = ims_code_advice(job, error)
    if advice:
        line += (' ' if line.endswith('.') else '. ') + advice
    return line


def ims_code_advice(job, error):
    """What to do about an IMS error code the failed delete got, or None."""
    if not isinstance(error, ks_exceptions.HttpError):
        return None
    advice = IMS_CODE_ADVICE.get(answers.ims_error_code(error.response))
    if advice is None:
        return None
    return advice % {
        'id': printable(job.image_id or job.arg),
        'backup': printable(job.backup) if job.backup else UNKNOWN_BACKUP}


def _deleted_detail(job, delete_backup, store):
    detail = job.image_id
    backup = job.backup
    if job.reason == outcomes.SAME_IMAGE:
        return detail + SAME_AS % {'first': printable(job.same_as.arg)}
    if job.reason == outcomes.GONE_ON_RETRY:
        detail += GONE_ON_RETRY
        if backup and delete_backup:
            detail += GONE_ON_RETRY_BACKUP % {'backup': printable(backup)}
    elif backup and store is None:
        detail += (WITH_BACKUP if delete_backup else BACKUP_KEPT) % {
            'backup': printable(backup)}
    return detail


def _dry_run_line(job, delete_backup, store, project_id):
    image = job.image
    fields = {'name': printable(image.get('name') or ''),
              'id': job.image_id}
    if job.kind == outcomes.WOULD_REFUSE:
        if job.reason == outcomes.PROTECTED:
            why = REFUSE_PROTECTED
        else:
            why = REFUSE_OWNER % {'owner': printable(image['owner']),
                                  'project': printable(project_id)}
        return WOULD_REFUSE % dict(fields, why=why)
    backup = job.backup
    if not backup:
        what = DRY_NO_BACKUP
    elif delete_backup:
        what = DRY_BACKUP_DELETED % {'backup': printable(backup)}
    else:
        what = DRY_BACKUP_KEPT % {'backup': printable(backup)}
    return WOULD_DELETE % dict(
        fields, what=what,
        store=FROM_STORE % {'store': printable(store)} if store else '')


def result_lines(job, delete_backup=None, store=None, dry_run=False,
                 project_id=None):
    """The lines that report ``job``: ``(level, text)`` pairs.

    ``level`` is a :mod:`logging` level, or ``None`` for standard output
    (a dry run's verdicts).
    """
    image = printable(job.arg)
    kind = job.kind
    if dry_run and job.reason == outcomes.SAME_IMAGE and kind in (
            outcomes.WOULD_DELETE, outcomes.WOULD_REFUSE):
        return [(logging.WARNING, SAME_IMAGE_DRY_RUN % {
            'image': image, 'first': printable(job.same_as.arg)})]
    if kind in (outcomes.WOULD_DELETE, outcomes.WOULD_REFUSE):
        return [(None, _dry_run_line(job, delete_backup, store,
                                     project_id))]
    if kind == outcomes.DELETED:
        lines = []
        if delete_backup and job.image is not None and not job.backup and (
                job.reason != outcomes.SAME_IMAGE):
            lines.append((logging.WARNING, NO_BACKUP % {
                'image': image, 'id': job.image_id}))
        lines.append((logging.INFO, DELETED % {
            'image': image,
            'detail': _deleted_detail(job, delete_backup, store)}))
        return lines
    if kind == outcomes.NOT_ATTEMPTED:
        return [(logging.ERROR, NOT_ATTEMPTED % {'image': image})]
    template = UNKNOWN if kind == outcomes.UNKNOWN else FAILED
    return [(logging.ERROR, template % {
        'image': image, 'reason': _why_not_deleted(job, delete_backup)} +
        _request_id_suffix(job))]


def throttle_note(seconds):
    """The progress line's note for a gate opening in ``seconds``.

    ``None`` (the gate is open) gives ``''``.
    """
    if seconds is None:
        return ''
    if seconds <= 0:
        return PROGRESS_PROBING
    return PROGRESS_THROTTLED % {'seconds': math.ceil(seconds)}


# -- records (-f) and what the scripting options add ------------------------

# After the reason of a failure the service answered.
REQUEST_ID = ' (request ID: %(request_id)s)'
# The Reason of a record where the result line says more than the reason.
RECORD_DELETED_GONE_ON_RETRY = ('it was already gone when the delete was '
                                'retried')
RECORD_NO_BACKUP = 'not a full-ECS image: there was no backup to delete'

# --wait
WAIT_TIMEOUT = ('the service accepted its delete, but the image is still '
                'there (status %(status)s) after waiting %(waited)d s')
WAIT_INTERRUPTED = ('the service accepted its delete; the command was '
                    'interrupted before it saw the image gone')
WAIT_CHECK_FAILED = ('the service accepted its delete, but checking whether '
                     'the image is gone failed: %(error)s')
PROGRESS_WAITING = "; waiting for '%(image)s' to go (%(seconds)d s)"
WAIT_WITH_DRY_RUN = '--wait cannot be combined with --dry-run.'
WAIT_TIMEOUT_WITHOUT_WAIT = '--wait-timeout needs --wait.'

# --plan
PLAN_CHANGED = 'it changed since the plan was made (%(changes)s)'
PLAN_CHANGE = '%(field)s was %(planned)s, now %(now)s'
PLAN_VANISHED = 'no image has this ID any more: it is gone since the plan ' \
                'was made'
PLAN_WITH = '--plan cannot be combined with %(option)s: the plan says it.'
PLAN_UNREADABLE = 'Cannot read the plan %(file)s: %(error)s'
PLAN_MALFORMED = ('Cannot use the plan %(file)s: line %(line)d: %(why)s; '
                  'nothing was deleted.')
NO_IMAGES = 'Give the images to delete, or --plan FILE.'


def _request_id_suffix(job):
    """The request ID, for a failure the service answered itself."""
    if not job.request_id or isinstance(job.error, (
            client.ImageNotFound, client.AmbiguousImage)):
        return ''
    return REQUEST_ID % {'request_id': printable(job.request_id)}


def record_reason(job, delete_backup=None, store=None, project_id=None):
    """The Reason column of ``job``'s record: one escaped line, or ''."""
    kind = job.kind
    if kind in (outcomes.FAILED, outcomes.UNKNOWN):
        return _why_not_deleted(job, delete_backup)
    if job.reason == outcomes.SAME_IMAGE:
        return SAME_IMAGE % {'first': printable(job.same_as.arg)}
    if kind == outcomes.NOT_ATTEMPTED:
        return ('interrupted before its delete was sent')
    if kind == outcomes.WOULD_REFUSE:
        if job.reason == outcomes.PROTECTED:
            return REFUSE_PROTECTED
        return REFUSE_OWNER % {'owner': printable(job.image['owner']),
                               'project': printable(project_id)}
    if kind == outcomes.DELETED:
        if job.reason == outcomes.GONE_ON_RETRY:
            return RECORD_DELETED_GONE_ON_RETRY
        if delete_backup and job.image is not None and not job.backup:
            return RECORD_NO_BACKUP
    return ''
