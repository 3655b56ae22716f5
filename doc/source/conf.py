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

"""Sphinx configuration of the ims-osc-plugin documentation.

The package must be installed (``tox -e docs`` does it): the CLI reference
and the manual page are generated from its ``openstack.ims.v2`` entry
points by ``cliff.sphinxext``, and the API page imports it.
"""

import importlib.metadata

# -- General configuration -------------------------------------------------

extensions = [
    'sphinx.ext.autodoc',
    'cliff.sphinxext',
]

# cliff.sphinxext: document the commands as "openstack image delete".
autoprogram_cliff_application = 'openstack'

autodoc_member_order = 'bysource'
autodoc_default_options = {
    'members': True,
    'show-inheritance': True,
}

source_suffix = {'.rst': 'restructuredtext'}
master_doc = 'index'

project = 'ims-osc-plugin'
copyright = 'ims-osc-plugin developers'

exclude_patterns = ['_build']

# Keep '--' and quotes as typed: they are command-line options and JSON.
smartquotes = False

# pbr's version of the installed package (from the git tags).
release = importlib.metadata.version('ims-osc-plugin')
version = '.'.join(release.split('.')[:2])

# -- Options for HTML output -----------------------------------------------

# Sphinx's own theme: the pages load nothing from the network and carry no
# third-party branding or tracking, so distributions can ship them as they
# are. (openstackdocstheme adds the OpenStack Foundation's site header and
# analytics, and warns, hence fails with -W, when built outside git.)
html_theme = 'alabaster'
html_theme_options = {
    'description': 'OpenStackClient plugin for Huawei Cloud IMS',
    'show_powered_by': False,
}
html_static_path = []
html_last_updated_fmt = None

# -- Options for manual page output ----------------------------------------

# (source start file, name, description, authors, manual section)
man_pages = [
    ('man/openstack-image-delete', 'openstack-image-delete',
     'delete images, and optionally the CBR backups of full-ECS images',
     ['ims-osc-plugin developers'], 1),
]
man_show_urls = True
