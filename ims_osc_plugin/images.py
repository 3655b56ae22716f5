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

"""Image documents: what a usable one looks like, and which one is named.

Pure functions, no I/O. The image service's filters are loose (Glance
reads ``name=in:a,b`` as "a or b", MySQL compares names without case, a
gateway may match prefixes), so, as openstacksdk's ``_get_one_match`` does,
the client decides on its own which of the images a service returned the
user named: an ID equal to the argument, or a name equal to it exactly.
"""

import re

# Glance and IMS image IDs are canonical UUIDs. Only an argument of this
# shape is ever put into a URL path; names travel as a query parameter.
_IMAGE_ID = re.compile(
    r'\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z',
    re.IGNORECASE,
)

# The fields the command reads, and the JSON types each may have (None:
# null or absent). Extra properties such as IMS's are strings in Glance.
_FIELD_TYPES = {
    'name': (str,),
    'owner': (str,),
    'protected': (bool,),
    'os_hidden': (bool,),
    '__whole_image': (str,),
    '__backup_id': (str,),
}


class MalformedImage(ValueError):
    """An image document the command cannot trust; ``str()`` says why."""


def is_image_id(text):
    """Whether ``text`` has the shape of an image ID (a canonical UUID)."""
    return isinstance(text, str) and bool(_IMAGE_ID.match(text))


def same_id(a, b):
    """Whether two image IDs are the same (the service ignores case)."""
    return a.lower() == b.lower()


def check_listed(doc):
    """Check what matching reads of a listed image: its ``id`` and ``name``.

    :raises MalformedImage: not an object, no UUID-shaped string ``id``, or
        a ``name`` that is neither a string nor null.
    """
    if not isinstance(doc, dict):
        raise MalformedImage('an image that is not a JSON object')
    if not is_image_id(doc.get('id')):
        raise MalformedImage('an image without a UUID-shaped string "id"')
    name = doc.get('name')
    if name is not None and not isinstance(name, str):
        raise MalformedImage('image %s has a "name" that is not a string'
                             % doc['id'])
    return doc


def check_image(doc):
    """Check every field the command reads; return ``doc``.

    :raises MalformedImage: as :func:`check_listed`, or a field of the
        wrong JSON type.
    """
    check_listed(doc)
    for field, types in _FIELD_TYPES.items():
        value = doc.get(field)
        if value is not None and not isinstance(value, types):
            raise MalformedImage('image %s has a %r of the wrong type (%s)'
                                 % (doc['id'], field, type(value).__name__))
    return doc


def named(arg, docs):
    """The documents among ``docs`` whose name is exactly ``arg``."""
    return [d for d in docs if d.get('name') == arg]


def backup_of(image):
    """The backup a full-ECS image was made from, or ``None``."""
    if (image.get('__whole_image') or '').lower() != 'true':
        return None
    return image.get('__backup_id') or None
