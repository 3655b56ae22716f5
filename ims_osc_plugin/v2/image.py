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

"""``openstack image delete`` with IMS's ``delete_backup``."""

import logging

from keystoneauth1 import exceptions as ks_exceptions
from openstackclient.image.v2 import image as osc_image
from osc_lib import exceptions

from ims_osc_plugin import client

LOG = logging.getLogger(__name__)

_FLAGS = '--delete-backup/--no-delete-backup'


class _Result:
    """What happened to one image argument, reported in argument order."""

    def __init__(self, image):
        self.image = image
        self.deleted = False
        self.error = None
        self.warning = None
        self.detail = None


class DeleteImage(osc_image.DeleteImage):
    """Delete image(s), optionally with their IMS full-ECS backups"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        backup = parser.add_mutually_exclusive_group()
        backup.add_argument(
            '--delete-backup',
            action='store_true',
            dest='delete_backup',
            help='Also delete the CSBS/CBR backup that a full-ECS image was '
                 'created from (IMS only: sends {"delete_backup": true}).',
        )
        backup.add_argument(
            '--no-delete-backup',
            action='store_false',
            dest='delete_backup',
            help='Keep the backup of a full-ECS image (IMS only: sends '
                 '{"delete_backup": false}). Without either option no '
                 'request body is sent, as plain Glance expects.',
        )
        parser.set_defaults(delete_backup=None)
        return parser

    def take_action(self, parsed_args):
        delete_backup = parsed_args.delete_backup
        if delete_backup is not None:
            if parsed_args.store:
                raise exceptions.CommandError(
                    '--store cannot be combined with %s: IMS deletes '
                    'backups only when the whole image is deleted.' % _FLAGS)
            version = self.app.client_manager._api_version.get('image')
            if version and str(version).split('.')[0] == '1':
                raise exceptions.CommandError(
                    '%s needs the image API v2; it cannot be used with '
                    '--os-image-api-version %s.' % (_FLAGS, version))

        ims = self.app.client_manager.ims
        results = [
            self._delete_one(ims, image, delete_backup, parsed_args.store)
            for image in parsed_args.images
        ]
        failed = self._report(results)
        if failed:
            raise exceptions.CommandError(
                'Failed to delete %(result)s of %(total)s images.'
                % {'result': failed, 'total': len(results)})

    def _delete_one(self, ims, image, delete_backup, store):
        result = _Result(image)
        try:
            self._delete(ims, image, delete_backup, store, result)
        except (client.ImsError, ks_exceptions.ClientException) as e:
            result.error = self._describe(e, delete_backup)
        except Exception as e:
            # Still try the other images; --debug shows the traceback.
            LOG.debug('Deleting %r failed', image, exc_info=True)
            result.error = client.printable(str(e) or type(e).__name__)
        return result

    def _delete(self, ims, image, delete_backup, store, result):
        if not image.strip():
            raise client.ImageNotFound(image)
        if delete_backup is None and client.is_image_id(image):
            # Nothing to learn from the image document: one request when
            # the argument is an ID, and a name lookup only if it is not.
            try:
                ims.delete_image(image, store=store)
                result.deleted = True
                result.detail = image
                return
            except ks_exceptions.NotFound:
                pass
        found = ims.find_image(image)
        backup = client.backup_of(found)
        if delete_backup and not backup:
            result.warning = ('image %s is not a full-ECS image with a '
                              'backup: there is no backup to delete' %
                              found['id'])
        ims.delete_image(found['id'], delete_backup=delete_backup,
                         store=store)
        result.deleted = True
        result.detail = found['id']
        if backup:
            result.detail += (' and its backup %s' % backup
                              if delete_backup else
                              ' (backup %s kept)' % backup)

    @staticmethod
    def _describe(error, delete_backup):
        if (isinstance(error, ks_exceptions.HttpError) and
                delete_backup is not None and client.is_body_rejected(error)):
            return ("this cloud's image service does not support "
                    "delete_backup (%s); the image was not deleted. Run "
                    "again without %s." % (client.explain(error), _FLAGS))
        if isinstance(error, ks_exceptions.HttpError):
            return client.explain(error)
        return client.printable(str(error))

    @staticmethod
    def _report(results):
        failed = 0
        for r in results:
            shown = client.printable(r.image)
            if r.warning:
                LOG.warning("Image '%(image)s': %(warning)s",
                            {'image': shown, 'warning': r.warning})
            if r.deleted:
                LOG.info("Deleted image '%(image)s': %(detail)s",
                         {'image': shown, 'detail': r.detail})
            else:
                failed += 1
                LOG.error("Failed to delete image '%(image)s': %(error)s",
                          {'image': shown, 'error': r.error})
        return failed
