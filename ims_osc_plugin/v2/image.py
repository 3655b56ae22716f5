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

"""``openstack image delete`` with IMS's ``delete_backup``.

The command parses and prints; :mod:`ims_osc_plugin.engine` looks the
images up, deletes (or judges) them and hands back each outcome in argument
order. stevedore imports this module on every ``openstack`` run: the engine
is imported only when the command runs.
"""

import argparse
import logging
import signal
import threading

from keystoneauth1 import exceptions as ks_exceptions
from openstackclient.image.v2 import image as osc_image
from osc_lib import exceptions

from ims_osc_plugin import client
from ims_osc_plugin import outcomes
from ims_osc_plugin.v2 import messages as msg
from ims_osc_plugin.v2 import terminal

LOG = logging.getLogger(__name__)

MAX_WORKERS = 64
MAX_RETRIES = 10
# A progress line is worth drawing from this many images on.
PROGRESS_MIN_IMAGES = 10
# The options of core's parser this command handles. Any other that a
# newer python-openstackclient adds is refused when given (see
# _refuse_unhandled), and a unit test fails until it is decided on.
HANDLED_CORE_OPTIONS = frozenset(['images', 'store'])


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


def core_options(parser):
    """The options core's parser has that are not argparse's own."""
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction)]


class DeleteImage(osc_image.DeleteImage):
    _description = ('Delete image(s), optionally with the CBR backups of '
                    'full-ECS images')

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self._unhandled = [a for a in core_options(parser)
                           if a.dest not in HANDLED_CORE_OPTIONS]
        if not any(a.dest == 'store' for a in parser._actions):
            # python-openstackclient < 6.3 has no --store; the plugin's own
            # client can still send the store delete.
            parser.add_argument(
                '--store',
                metavar='<STORE>',
                help='Store to delete image(s) from.')
        backup = parser.add_mutually_exclusive_group()
        backup.add_argument(
            '--delete-backup',
            action='store_true',
            dest='delete_backup',
            help='Also delete the CBR backup that a full-ECS image was '
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
            '--dry-run',
            action='store_true',
            help='List the images (and backups) that would be deleted, '
                 'and what the service would refuse, but do not delete '
                 'them.',
        )
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
            type=_count(0, MAX_RETRIES),
            default=None,
            help='Retry each request up to <count> times in all (0-%d), '
                 'with growing delays, after connection failures, '
                 'timeouts and 429/502/503/504 answers. Default: as core '
                 'OSC, the cloud\'s image_connect_retries for connection '
                 'failures and timeouts and image_status_code_retries for '
                 'those answers (openstacksdk\'s defaults included), else '
                 '%d each.' % (MAX_RETRIES, client.DEFAULT_RETRIES),
        )
        return parser

    def take_action(self, parsed_args):
        self._check_options(parsed_args)
        ims = self._prepare_client(parsed_args)
        project_id = may_delete_others = None
        if parsed_args.dry_run:
            project_id = ims.project_id
            roles = ims.role_names()
            may_delete_others = None if roles is None else 'admin' in roles
        from ims_osc_plugin import engine

        deletion = engine.Deletion(
            ims, parsed_args.images, delete_backup=parsed_args.delete_backup,
            store=parsed_args.store, dry_run=parsed_args.dry_run,
            workers=parsed_args.workers, project_id=project_id,
            may_delete_others=may_delete_others)
        with terminal.on_signals(deletion.stop, deletion.abandon) as caught:
            counts = self._report(deletion, parsed_args, project_id)
        return self._summary(counts, deletion.jobs, caught, parsed_args)

    def _check_options(self, args):
        self._refuse_unhandled(args)
        if args.delete_backup is None:
            return
        if args.store:
            raise exceptions.CommandError(
                msg.STORE_WITH_FLAG % {'flags': msg.FLAGS})
        version = self.app.client_manager._api_version.get('image')
        if version and str(version).split('.')[0] == '1':
            raise exceptions.CommandError(
                msg.V1_WITH_FLAG % {'flags': msg.FLAGS, 'version': version})

    def _refuse_unhandled(self, args):
        """Refuse an option of core's parser this command does not handle.

        Accepting it and ignoring it would mislead the user.
        """
        for action in getattr(self, '_unhandled', ()):
            if getattr(args, action.dest, action.default) != action.default:
                option = (action.option_strings or [action.dest])[0]
                raise exceptions.CommandError(
                    msg.UNSUPPORTED_OPTION % {'option': option})

    def _prepare_client(self, args):
        ims = self.app.client_manager.ims
        # A new one per run: OSC's interactive shell reuses the client.
        ims.cancel = threading.Event()
        # None: the cloud's settings (also after a run with --retries in
        # OSC's interactive shell).
        ims.retries = args.retries
        if args.workers > 1:
            # Before the first request, so no connection is thrown away.
            ims.allow_concurrency(args.workers)
        try:
            ims.base_url
        except client.EndpointError as e:
            raise exceptions.CommandError(msg.BAD_ENDPOINT % {
                'url': msg.printable(e.url), 'why': msg.printable(e.why)})
        except ks_exceptions.ClientException as e:
            # No image endpoint: one line, not one per image.
            raise exceptions.CommandError(msg.NO_ENDPOINT % {
                'error': msg.printable(str(e))})
        return ims

    def _report(self, deletion, args, project_id):
        """Print each job's lines as the engine hands it back."""
        total = len(deletion.jobs)
        gate = deletion.client.gate
        progress = terminal.ProgressLine(
            self.app.stderr, total >= PROGRESS_MIN_IMAGES,
            note=lambda: msg.throttle_note(gate.waiting()))
        template = msg.PROGRESS_DRY_RUN if args.dry_run else msg.PROGRESS
        counts = dict.fromkeys(
            (outcomes.DELETED, outcomes.FAILED, outcomes.UNKNOWN,
             outcomes.NOT_ATTEMPTED, outcomes.WOULD_DELETE,
             outcomes.WOULD_REFUSE), 0)
        progress.start_ticking()
        try:
            for job in deletion.run():
                progress.clear()
                for level, line in msg.result_lines(
                        job, args.delete_backup, args.store, args.dry_run,
                        project_id):
                    if level is None:
                        self.app.stdout.write(line + '\n')
                        self.app.stdout.flush()
                    else:
                        LOG.log(level, line)
                counts[job.kind] += 1
                progress.show(template % {
                    'done': sum(counts.values()), 'total': total,
                    'deleted': counts[outcomes.DELETED],
                    'would': counts[outcomes.WOULD_DELETE],
                    'failed': counts[outcomes.FAILED] +
                    counts[outcomes.UNKNOWN]})
        finally:
            progress.close()
        return counts

    def _summary(self, counts, jobs, caught, args):
        """The last line, and the exit status when it is not 0 or 1.

        An interrupted run ends with 128 + the signal's number, as a shell
        reports a command killed by it.
        """
        total = len(jobs)
        failed = counts[outcomes.FAILED] + counts[outcomes.UNKNOWN]
        unknown = ''
        if counts[outcomes.UNKNOWN]:
            unknown = msg.SUMMARY_UNKNOWN % {
                'unknown': counts[outcomes.UNKNOWN]}
        if caught:
            name = signal.Signals(caught[0]).name
            if args.dry_run:
                LOG.error(msg.DRY_RUN_INTERRUPTED % {
                    'signal': name,
                    'done': total - counts[outcomes.NOT_ATTEMPTED],
                    'total': total})
            else:
                LOG.error(msg.SUMMARY_INTERRUPTED % {
                    'signal': name, 'deleted': counts[outcomes.DELETED],
                    'total': total, 'failed': failed,
                    'skipped': counts[outcomes.NOT_ATTEMPTED]} + unknown)
            return 128 + caught[0]
        if args.dry_run:
            if failed:
                raise exceptions.CommandError(msg.DRY_RUN_UNRESOLVED % {
                    'failed': failed, 'total': total})
            # Each image once: a repeat reports the same image again.
            images = [job for job in jobs
                      if job.kind == outcomes.WOULD_DELETE and
                      job.reason != outcomes.SAME_IMAGE]
            self.app.stdout.write(msg.DRY_RUN_SUMMARY % {
                'images': msg.plural(len(images), 'image'),
                'backups': msg.plural(sum(
                    1 for job in images
                    if job.backup and args.delete_backup), 'backup')} + '\n')
            return None
        if failed:
            raise exceptions.CommandError(msg.SUMMARY_FAILED % {
                'failed': failed, 'total': total} + unknown)
        return None
