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

"""IMS's own error codes for an image delete, and what each one means.

IMS answers a refused delete with ``{"error": {"code": "IMG.xxxx",
"message": ...}}`` (its API reference lists the codes; most come with a
400). The code says more than the status does: these are the delete's
codes, by what they tell the command. Pure data; the words are in
``v2/messages.py``.
"""

PROTECTED = 'IMG.0028'        # the image is protected
FLOW_CONTROL = 'IMG.0060'     # the request exceeds the flow-control limit
BEING_CREATED = 'IMG.0090'    # the image is still being created
OWNER_ONLY = 'IMG.0092'       # only the image's owner may delete it
PUBLIC = 'IMG.0094'           # a public image cannot be deleted
BACKUP_NOT_DELETED = 'IMG.0176'  # the full-ECS image's backup was not deleted

DELETE_CODES = (PROTECTED, FLOW_CONTROL, BEING_CREATED, OWNER_ONLY, PUBLIC,
                BACKUP_NOT_DELETED)

# Throttling, whatever HTTP status carries it: retried as a 429 is, within
# the same bounds (the client's retry loop).
THROTTLING = frozenset([FLOW_CONTROL])

# The service did not delete the image, and the same request will fail the
# same way until the user changes something.
REFUSED = frozenset([PROTECTED, OWNER_ONLY, PUBLIC])

# Worth sending again later, unchanged.
TRY_LATER = frozenset([FLOW_CONTROL, BEING_CREATED])

# The answer does not say whether the image itself was deleted: IMS failed
# on the backup, a step of the same delete.
IMAGE_FATE_UNKNOWN = frozenset([BACKUP_NOT_DELETED])


def code_of(error):
    """The IMS error code of a keystoneauth HttpError, or ``None``."""
    # Imported here: answers imports keystoneauth, and this module stays
    # pure data for the rest.
    from ims_osc_plugin import answers

    return answers.ims_error_code(getattr(error, 'response', None))
