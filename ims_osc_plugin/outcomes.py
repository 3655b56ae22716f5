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

"""The outcome rules: what a request's fate says became of an image.

Pure functions of what the client recorded (:class:`~ims_osc_plugin.client.
Attempt` lists) and of the image document; no I/O, no wording (that is
``v2/messages.py``). An image is "deleted" only when an answer says so;
where no answer does, its fate is "unknown".
"""

from keystoneauth1 import exceptions as ks_exceptions

from ims_osc_plugin import client
from ims_osc_plugin import ims_codes

# What became of one image argument.
DELETED = 'deleted'
FAILED = 'failed'
UNKNOWN = 'unknown'              # a try may have deleted it; no answer says
NOT_ATTEMPTED = 'not attempted'  # stopped before its delete was sent
WOULD_DELETE = 'would delete'    # --dry-run
WOULD_REFUSE = 'would refuse'    # --dry-run

# Why, where the error alone does not say it.
EMPTY = 'empty'                  # the argument is empty or blank
GONE_ON_RETRY = 'gone on retry'  # a retry found it gone: an earlier try did
SAME_IMAGE = 'same image'        # an earlier argument named the same image
IN_FLIGHT = 'in flight'          # the run was abandoned during its delete
LOST_NOT_FOUND = 'lost, not found'      # no image left with this ID or name
LOST_NAME_LEFT = 'lost, name left'      # ... but one named like the ID is
GONE_BACKUP_KEPT = 'gone, backup kept'  # gone before our first delete
ID_NOT_FOUND_INTERRUPTED = 'id not found, interrupted'
PROTECTED = 'protected'
OTHER_PROJECT = 'other project'


def earlier_attempt_may_have_acted(error):
    """Whether an earlier try of a failed request may have been acted on.

    That is a try before the last one whose answer was lost, timed out or
    came from a proxy (502/504).
    """
    attempts = getattr(error, 'attempts', None) or []
    return any(a.may_have_reached for a in attempts[:-1])


def judge_failed_delete(error):
    """The outcome of a DELETE that raised ``error``.

    - A 404 means deleted only if an earlier try of this DELETE may have
      reached the service (its answer lost, a read timeout, a 502/504 from
      a proxy). After tries answered 429/503 or never connected, it is a
      plain "not found".
    - Any other error after a try that may have reached the service, or a
      last try whose answer never came (lost after it was sent, 502/504
      from a proxy) or was a 2xx other than the 204 expected, leaves the
      image's fate unknown.
    - IMS's IMG.0176 (its backup could not be deleted) does not say
      whether the image itself was deleted: unknown.
    - Stopped before the first try: not attempted.
    """
    attempts = getattr(error, 'attempts', None) or []
    if isinstance(error, client.Interrupted):
        if not attempts:
            return NOT_ATTEMPTED
        return UNKNOWN if any(a.may_have_reached for a in attempts) else (
            FAILED)
    earlier = earlier_attempt_may_have_acted(error)
    if isinstance(error, ks_exceptions.NotFound):
        return DELETED if earlier else FAILED
    if ims_codes.code_of(error) in ims_codes.IMAGE_FATE_UNKNOWN:
        # IMS failed on the backup, a step of the image's delete: the
        # answer does not say whether the image went.
        return UNKNOWN
    last = attempts[-1] if attempts else None
    unanswered = last is not None and last.may_have_reached and (
        last.status in (None, 502, 504) or 200 <= last.status < 300)
    return UNKNOWN if earlier or unanswered else FAILED


def judge_dry_run(image, project_id, may_delete_others):
    """(outcome, reason): what a real run would meet, from the document.

    A protected image is refused. Another project's image is refused
    unless ``may_delete_others`` (the token has the admin role); ``None``
    means the roles are unknown, and the reason then says so.
    """
    if image.get('protected') is True:
        return WOULD_REFUSE, PROTECTED
    owner = image.get('owner')
    if owner and project_id and owner != project_id and (
            not may_delete_others):
        return WOULD_REFUSE, OTHER_PROJECT
    return WOULD_DELETE, None


# Why a reviewed plan's image is refused (raised by its finder, see
# ims_osc_plugin.v2.plan): the engine takes them as lookup failures.

class Changed(client.ImsError):
    """The image is not as reviewed; ``changes``: (field, planned, now).

    ``image`` is its document now.
    """

    def __init__(self, changes, image):
        self.changes = changes
        self.image = image
        super().__init__(changes)


class Vanished(client.ImsError):
    """No image has the planned ID any more."""
