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

"""Every line ``image delete`` prints, and how it phrases each failure.

The one source of the command's wording: the troubleshooting page must
explain each template here and each status meaning (a unit test checks).
"""

import http

from keystoneauth1 import exceptions as ks_exceptions

from ims_osc_plugin import client

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

FLAGS = '--delete-backup/--no-delete-backup'

# Result lines, one per image argument, in argument order (stderr).
DELETED = "Deleted image '%(image)s': %(detail)s"
FAILED = "Failed to delete image '%(image)s': %(reason)s"
UNKNOWN = "Image '%(image)s' may or may not have been deleted: %(reason)s"
NOT_ATTEMPTED = ("Image '%(image)s' was not deleted: interrupted before its "
                 "delete was sent")
GIVEN_TWICE = "Image '%(image)s' was given more than once: handled once"
SAME_IMAGE = ("Image '%(image)s' is the same image as '%(first)s': handled "
              "once")
NO_BACKUP = ("Image '%(image)s': image %(id)s is not a full-ECS image with a "
             "backup: there is no backup to delete")

# What follows the image ID in a DELETED line.
WITH_BACKUP = ' and its backup %(backup)s'
BACKUP_KEPT = ' (backup %(backup)s kept)'
GONE_ON_RETRY = ' (it was already gone when the delete was retried)'
GONE_ON_RETRY_BACKUP = ('; its backup %(backup)s was in the earlier try '
                        'whose answer was lost: check that it is gone')

# Reasons in a FAILED or UNKNOWN line.
NOT_FOUND = 'no image with this name or ID'
AMBIGUOUS = 'more than one image has this name; use the image ID'
EMPTY = 'an image name or ID cannot be empty'
GONE_BACKUP_KEPT = ('%(error)s: it was already gone before this command '
                    'could delete it, so its backup %(backup)s was not '
                    'deleted by this command')
RETRY_AFTER = ('%(error)s: the service asked to wait %(wait)d s before '
               'trying again, longer than the %(cap)d s this command waits')
BODY_REJECTED = ("this cloud's image service does not support delete_backup "
                 "(%(error)s); the image was not deleted. Run again without "
                 "%(flags)s.")
UNEXPECTED = 'unexpected reply %(status)s %(reason)s'
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

# The command's last line.
SUMMARY_FAILED = 'Failed to delete %(failed)s of %(total)s images.'
SUMMARY_UNKNOWN = (' %(unknown)s of them may have been deleted: check with '
                   "'openstack image show'.")
SUMMARY_INTERRUPTED = ('Interrupted by %(signal)s: deleted %(deleted)s of '
                       '%(total)s images, %(failed)s failed, %(skipped)s not '
                       'attempted.')

# --dry-run (stdout, but for what could not be resolved).
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
                '%(project)s')
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

# Refusals before any request.
STORE_WITH_FLAG = ('--store cannot be combined with %(flags)s: IMS deletes '
                   'a backup only with an image deleted from all stores.')
V1_WITH_FLAG = ('%(flags)s needs the image API v2; it cannot be used with '
                '--os-image-api-version %(version)s.')
NO_ENDPOINT = 'Cannot reach the image service: %(error)s'
BAD_API_VERSION = ('IMS API version %(version)s is not supported: the IMS '
                   'image API is version 2 (--os-ims-api-version, '
                   'OS_IMS_API_VERSION)')

_MAX_SHOWN = 200


def printable(text, limit=_MAX_SHOWN):
    """``text`` safe for one terminal line: escaped, trimmed."""
    shown = ''.join(
        c if c.isprintable() else c.encode('unicode_escape').decode('ascii')
        for c in text[:limit + 1])
    if len(shown) > limit:
        shown = shown[:limit] + '...'
    return shown


def plural(count, noun):
    return '%d %s%s' % (count, noun, '' if count == 1 else 's')


def _reason_phrase(status, response):
    phrase = getattr(response, 'reason', None)
    if not phrase:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ''
    return phrase


def explain(error):
    """One line for a keystoneauth HttpError.

    The status, what the IMS reference says it means, and the server's own
    text, escaped.
    """
    status = error.http_status
    line = ('%s %s' % (status, _reason_phrase(status, error.response)))
    line = line.strip()
    meaning = STATUS_MEANINGS.get(status)
    if meaning:
        line += ', ' + meaning
    message = client.server_message(error.response)
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
    message = client.server_message(error.response) or ''
    return 'a body is not expected' in message.lower()


def reason(error, delete_backup=None):
    """One line that says why an image was not deleted."""
    if isinstance(error, client.ImageNotFound):
        return NOT_FOUND
    if isinstance(error, client.AmbiguousImage):
        return AMBIGUOUS
    if isinstance(error, client.RetryAfterTooLong):
        return RETRY_AFTER % {'error': explain(error.error),
                              'wait': error.wait,
                              'cap': client.MAX_RETRY_WAIT}
    if isinstance(error, client.UnexpectedResponse):
        response = error.response
        line = UNEXPECTED % {
            'status': response.status_code,
            'reason': _reason_phrase(response.status_code, response)}
        location = response.headers.get('Location')
        if location:
            line += REDIRECTED % {'location': printable(location)}
        return line.strip()
    if isinstance(error, ks_exceptions.HttpError):
        if delete_backup is not None and is_body_rejected(error):
            return BODY_REJECTED % {'error': explain(error), 'flags': FLAGS}
        return explain(error)
    return printable(str(error)) or type(error).__name__
