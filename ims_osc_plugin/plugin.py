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

"""OpenStackClient plugin hooks for Huawei Cloud IMS.

OSC imports this module on every run: keep it to cheap imports.
"""

import logging

from osc_lib import utils

LOG = logging.getLogger(__name__)

# Not a core API name: OSC silently drops plugins that reuse one, and the
# group 'openstack.ims.v2' loads after core, so its 'image delete' wins.
API_NAME = 'ims'
API_VERSION_OPTION = 'os_ims_api_version'
DEFAULT_API_VERSION = '2'
API_VERSIONS = {
    '2': 'ims_osc_plugin.client.ImageClient',
}


def check_api_version(check_version):
    """Refuse an IMS API version other than 2, before any command runs.

    OSC would otherwise warn and go on without the plugin, so a plain
    ``image delete`` would silently become core's. Returning True tells OSC
    the version is checked.
    """
    if str(check_version).split('.')[0] != DEFAULT_API_VERSION:
        from osc_lib import exceptions

        from ims_osc_plugin.v2 import messages

        raise exceptions.UnsupportedVersion(
            messages.BAD_API_VERSION % {
                'version': messages.printable(str(check_version))})
    return True


def make_client(instance):
    """Return the IMS image client on OSC's session and cloud config.

    The client's Adapter takes the image service's region, interface,
    ``image_endpoint_override`` and retry settings from the cloud's
    configuration, as openstacksdk's image proxy does, and OSC's session
    brings TLS options and timeouts. It is not the proxy itself: making the
    proxy sends a version discovery request the IMS v2 URL does not need.
    """
    from ims_osc_plugin import client

    LOG.debug('IMS client initialized on the image service configuration')
    return client.ImageClient.from_cloud_region(
        instance.sdk_connection.config, session=instance.session)


def build_option_parser(parser):
    """Hook to add global options."""
    parser.add_argument(
        '--os-ims-api-version',
        metavar='<ims-api-version>',
        default=utils.env('OS_IMS_API_VERSION', default=DEFAULT_API_VERSION),
        help='IMS API version, default=%s (Env: OS_IMS_API_VERSION)'
        % DEFAULT_API_VERSION,
    )
    return parser
