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

import argparse
import contextlib
import logging

from keystoneauth1 import exceptions as ks_exceptions
from openstackclient.image.v2 import image as osc_image
from osc_lib import exceptions

from ims_osc_plugin import client

LOG = logging.getLogger(__name__)

_FLAGS = '--delete-backup/--no-delete-backup'


MAX_WORKERS = 64


class _Result:
    """What happened to one image argument, reported in argument order."""

    def __init__(self, image):
        self.image = image
        self.found = None
        self.same_as = None
        self.deleted = False
        self.error = None
        self.warning = None
        self.detail = None


def _count(low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                'expected a whole number from %d to %d, got %r'
                % (low, high, text))
        return value
    return parse


@contextlib.contextmanager
def _recorded(result):
    """Record an image's failure in its result; never stop the others."""
    try:
        yield
    except (client.ImsError, ks_exceptions.ClientException) as e:
        result.error = e
    except Exception as e:
        # Still try the other images; --debug shows the traceback.
        LOG.debug('Deleting %r failed', result.image, exc_info=True)
        result.error = client.ImsError(str(e) or type(e).__name__)


def _map(function, items, workers):
    """``map`` on up to ``workers`` threads; results in ``items`` order."""
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    from concurrent import futures

    with futures.ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(function, items))


class DeleteImage(osc_image.DeleteImage):
    _description = 'Delete image(s), optionally with their IMS backups'

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
        parser.add_argument(
            '--workers',
            metavar='<count>',
            type=_count(1, MAX_WORKERS),
            default=1,
            help='Look up and delete up to <count> images at once '
                 '(1-%d, default 1: one after the other). Images are '
                 'still reported in the order given.' % MAX_WORKERS,
        )
        parser.add_argument(
            '--retries',
            metavar='<count>',
            type=_count(0, 10),
            default=client.DEFAULT_RETRIES,
            help='Retry each request up to <count> times, with growing '
                 'delays, after a connection failure, a timeout or a '
                 '429/502/503/504 answer (0-10, default %d).'
                 % client.DEFAULT_RETRIES,
        )
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
        ims.retries = parsed_args.retries
        workers = parsed_args.workers
        if workers > 1:
            # Before the first request, so no connection is thrown away.
            ims.allow_concurrency(workers)
        try:
            LOG.debug('Image API at %s', ims.base_url)
        except ks_exceptions.ClientException as e:
            # No image endpoint: one line, not one per image.
            raise exceptions.CommandError(
                'Cannot reach the image service: %s' % client.printable(
                    str(e)))

        # Look every image up first, so that an argument naming the same
        # image as an earlier one is deleted once, not reported as missing.
        # An ID needs no lookup when there is no body to decide on: its
        # DELETE tells whether it exists (one request instead of two).
        results = [_Result(image) for image in parsed_args.images]
        first = {}
        for r in results:
            r.same_as = first.setdefault(r.image, r)
        unique = [r for r in results if r.same_as is r]
        skip_lookup = delete_backup is None and parsed_args.store is None
        _map(lambda r: self._find(ims, r, skip_lookup), unique, workers)

        by_id = {}
        for r in unique:
            if r.error is None:
                image_id = r.found['id'] if r.found else r.image
                r.same_as = by_id.setdefault(image_id.lower(), r)
        deletes = [r for r in unique if r.error is None and r.same_as is r]
        _map(lambda r: self._delete(ims, r, delete_backup, parsed_args.store),
             deletes, workers)

        failed, total = self._report(results, delete_backup)
        if failed:
            raise exceptions.CommandError(
                'Failed to delete %(result)s of %(total)s images.'
                % {'result': failed, 'total': total})

    def _find(self, ims, result, skip_lookup):
        with _recorded(result):
            if not result.image.strip():
                raise client.ImsError('an image name or ID cannot be empty')
            if not (skip_lookup and client.is_image_id(result.image)):
                result.found = ims.find_image(result.image)

    def _delete(self, ims, result, delete_backup, store):
        with _recorded(result):
            if result.found is None:
                if self._delete_by_id(ims, result):
                    return
                # No image has this ID: perhaps one has it as its name.
                result.found = ims.find_image_by_name(result.image)
            self._delete_found(ims, result, delete_backup, store)

    @staticmethod
    def _delete_by_id(ims, result):
        """Delete an ID-shaped argument unlooked-up; False if no such ID."""
        result.detail = result.image
        try:
            ims.delete_image(result.image)
        except ks_exceptions.NotFound as e:
            if not getattr(e, 'retried', False):
                return False
            # An earlier try of this DELETE deleted it; its answer was lost.
            result.detail += (' (it was already gone when the delete was '
                              'retried)')
        result.deleted = True
        return True

    @staticmethod
    def _delete_found(ims, result, delete_backup, store):
        image = result.found
        backup = client.backup_of(image)
        if delete_backup and not backup:
            result.warning = ('image %s is not a full-ECS image with a '
                              'backup: there is no backup to delete' %
                              image['id'])
        result.detail = image['id']
        try:
            ims.delete_image(image['id'], delete_backup=delete_backup,
                             store=store)
        except ks_exceptions.NotFound:
            if store is not None:
                raise  # not in that store: nothing was deleted
            # It existed a moment ago: an earlier attempt of this
            # request (retried after a lost answer), or someone else,
            # deleted it. Either way it is gone, as asked.
            result.detail += (' (it was already gone when the delete '
                              'arrived)')
        else:
            if backup:
                result.detail += (' and its backup %s' % backup
                                  if delete_backup else
                                  ' (backup %s kept)' % backup)
        result.deleted = True

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

    @classmethod
    def _report(cls, results, delete_backup):
        failed = total = 0
        for r in results:
            shown = client.printable(r.image)
            if r.same_as is not r:
                if r.image == r.same_as.image:
                    LOG.warning("Image '%(image)s' was given more than "
                                "once: handled once", {'image': shown})
                else:
                    LOG.warning(
                        "Image '%(image)s' is the same image as "
                        "'%(first)s': handled once",
                        {'image': shown,
                         'first': client.printable(r.same_as.image)})
                continue
            total += 1
            if r.deleted and r.warning:
                LOG.warning("Image '%(image)s': %(warning)s",
                            {'image': shown, 'warning': r.warning})
            if r.deleted:
                LOG.info("Deleted image '%(image)s': %(detail)s",
                         {'image': shown, 'detail': r.detail})
            else:
                failed += 1
                LOG.error("Failed to delete image '%(image)s': %(error)s",
                          {'image': shown,
                           'error': cls._describe(r.error, delete_backup)})
        return failed, total
