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
import sys
import threading

from cliff import command as cliff_command
from cliff import lister
from keystoneauth1 import exceptions as ks_exceptions
from openstackclient.image.v2 import image as osc_image
from osc_lib.command import command
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
DEFAULT_WAIT_TIMEOUT = 600
MAX_WAIT_TIMEOUT = 7 * 24 * 3600
STORE_CONFLICT_HELP = ('Cannot be combined with --delete-backup or '
                       '--no-delete-backup: IMS deletes a backup only with '
                       'an image deleted from all stores.')


def _count(low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                "expected a whole number from %d to %d, got '%s'"
                % (low, high, msg.printable(text)))
        return value
    return parse


def core_options(parser):
    """The options core's parser has that are not argparse's own."""
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction)]


class DeleteImage(command.Lister, osc_image.DeleteImage):
    """Core's image delete, with cliff's formatters for its records.

    A cliff Lister, so ``-f``/``-c`` are cliff's own; without ``-f`` it
    runs as the plain command core's is (nothing on stdout on success).
    """

    _description = ('Delete image(s), optionally with the CBR backups of '
                    'full-ECS images')

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        # cliff's own output options are handled by cliff.
        display = {a.dest for a in
                   lister.Lister.get_parser(self, prog_name)._actions}
        self._unhandled = [a for a in core_options(parser)
                           if a.dest not in HANDLED_CORE_OPTIONS and
                           a.dest not in display]
        for action in parser._actions:
            if action.dest == 'formatter':
                # No -f: the human lines only, as core.
                action.default = None
                action.help = ('print one record per image argument in '
                               'this format (default: none; see '
                               '"Scripting" in the docs)')
            elif action.dest == 'images':
                # Not with --plan; checked in take_action.
                action.nargs = '*'
        store = [a for a in parser._actions if a.dest == 'store']
        if not store:
            # python-openstackclient < 6.3 has no --store; the plugin's own
            # client can still send the store delete.
            store = [parser.add_argument(
                '--store',
                metavar='<STORE>',
                help='Store to delete image(s) from.')]
        # Core's words, and the conflict --help must show.
        store[0].help = '%s %s' % (
            (store[0].help or '').strip(), STORE_CONFLICT_HELP)
        backup = parser.add_mutually_exclusive_group()
        backup.add_argument(
            '--delete-backup',
            action='store_true',
            dest='delete_backup',
            help='Also delete the CBR backup that a full-ECS image was '
                 'created from (IMS only: sends {"delete_backup": true}). '
                 'A deleted backup cannot be restored: run with --dry-run '
                 'first to see which backups would go.',
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
                 'them. Run this first: nothing it lists can be restored '
                 'once deleted.',
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
        parser.add_argument(
            '--wait',
            action='store_true',
            help='Wait for each deleted image to be gone (the service '
                 'answers 404 for it), as IMS may finish a delete in the '
                 'background. An image still there at --wait-timeout is '
                 'reported, and the exit status is 1.',
        )
        parser.add_argument(
            '--wait-timeout',
            metavar='<seconds>',
            type=_count(1, MAX_WAIT_TIMEOUT),
            default=None,
            help='With --wait, wait at most <seconds> in all for the run '
                 '(default %d).' % DEFAULT_WAIT_TIMEOUT,
        )
        parser.add_argument(
            '--plan',
            metavar='<file>',
            help='Delete the images a reviewed plan would delete, by ID, '
                 'each only if it has not changed since. The plan is the '
                 'output of --dry-run -f json; "-" reads it from standard '
                 'input. Not with image arguments or backup options: the '
                 'plan says them.',
        )
        return parser

    def run(self, parsed_args):
        if getattr(parsed_args, 'formatter', None) is None:
            # As core: take_action returns the exit status.
            return cliff_command.Command.run(self, parsed_args)
        from ims_osc_plugin.v2 import records

        parsed_args = self._run_before_hooks(parsed_args)
        self.formatter = self._formatter_plugins[parsed_args.formatter].obj
        started = self._start(parsed_args)
        column_names, data = self._run_after_hooks(parsed_args, (
            records.columns(parsed_args.dry_run), self._records(*started)))
        self.produce_output(parsed_args, column_names, data)
        # After the last record is out: a failure still ends in its line
        # on stderr and exit status 1.
        return self._summary(*self._finished) or 0

    def take_action(self, parsed_args):
        started = self._start(parsed_args)
        for _job in self._run(*started):
            pass
        return self._summary(*self._finished)

    def _start(self, parsed_args):
        """Check the options, read the plan; the Deletion to run."""
        plan = self._check_options(parsed_args)
        ims = self._prepare_client(parsed_args)
        project_id = may_delete_others = None
        if parsed_args.dry_run:
            project_id = ims.project_id
            roles = ims.role_names()
            may_delete_others = None if roles is None else 'admin' in roles
        from ims_osc_plugin import engine

        arguments, find = parsed_args.images, None
        if plan is not None:
            arguments, find = plan.ids, plan.finder(ims)
            parsed_args.delete_backup = plan.delete_backup
            parsed_args.store = plan.store
        deletion = engine.Deletion(
            ims, arguments, delete_backup=parsed_args.delete_backup,
            store=parsed_args.store, dry_run=parsed_args.dry_run,
            workers=parsed_args.workers, project_id=project_id,
            may_delete_others=may_delete_others, find=find,
            wait=(parsed_args.wait_timeout or DEFAULT_WAIT_TIMEOUT)
            if parsed_args.wait else None)
        return deletion, parsed_args, project_id

    def _run(self, deletion, args, project_id):
        """Each final job, after its lines; signals taken meanwhile."""
        with terminal.on_signals(deletion.stop, deletion.abandon) as caught:
            counts = yield from self._report(deletion, args, project_id)
        self._finished = (counts, deletion.jobs, caught, args)

    def _records(self, deletion, args, project_id):
        """The records, each written out before the next job is awaited.

        cliff's value and csv formatters write a row as it is yielded;
        flushing makes it reach a pipe then, not at exit.
        """
        from ims_osc_plugin.v2 import records

        for job in self._run(deletion, args, project_id):
            yield records.record(job, deletion)
            self.app.stdout.flush()

    def _check_options(self, args):
        """Refuse what does not combine; the plan, if one is given."""
        self._refuse_unhandled(args)
        store = args.store
        if store is not None and store.strip().strip('.') == '':
            # Empty, blank or dots: no store has such a name, and "." or
            # ".." would point to another path of the image API.
            raise exceptions.CommandError(
                msg.BAD_STORE % {'store': msg.printable(store)})
        if args.wait and args.dry_run:
            raise exceptions.CommandError(msg.WAIT_WITH_DRY_RUN)
        if args.wait_timeout is not None and not args.wait:
            # Accepted and ignored, it would read as a promise to wait.
            raise exceptions.CommandError(msg.WAIT_TIMEOUT_WITHOUT_WAIT)
        if args.plan is not None:
            return self._read_plan(args)
        if not args.images:
            raise exceptions.CommandError(msg.NO_IMAGES)
        self._check_backup_option(args)
        return None

    def _read_plan(self, args):
        from ims_osc_plugin.v2 import plan

        given = [option for option, value in (
            ('image arguments', args.images),
            ('--delete-backup' if args.delete_backup else
             '--no-delete-backup', args.delete_backup is not None),
            ('--store', args.store), ('--dry-run', args.dry_run)) if value]
        if given:
            raise exceptions.CommandError(msg.PLAN_WITH % {
                'option': given[0]})
        name = args.plan
        try:
            if name == '-':
                text = (getattr(self.app, 'stdin', None) or sys.stdin).read()
            else:
                with open(name, encoding='utf-8') as f:
                    text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise exceptions.CommandError(msg.PLAN_UNREADABLE % {
                'file': msg.printable(name), 'error': msg.printable(str(e))})
        try:
            return plan.load(text)
        except plan.Malformed as e:
            raise exceptions.CommandError(msg.PLAN_MALFORMED % {
                'file': msg.printable(name), 'line': e.line,
                'why': msg.printable(e.why)})

    def _check_backup_option(self, args):
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
            # Before the first request, so no connection is thrown away;
            # --wait polls beside the workers.
            ims.allow_concurrency(args.workers + (1 if args.wait else 0))
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

    @property
    def _human_out(self):
        """Where a dry run's verdicts go: stdout, unless records do."""
        if getattr(self._parsed, 'formatter', None) is not None:
            return self.app.stderr
        return self.app.stdout

    def _report(self, deletion, args, project_id):
        """Print each job's lines as the engine hands it back; yield it.

        Returns the counts of each outcome.
        """
        self._parsed = args
        total = len(deletion.jobs)
        gate = deletion.client.gate
        progress = terminal.ProgressLine(
            self.app.stderr, total >= PROGRESS_MIN_IMAGES or args.wait,
            note=lambda: msg.throttle_note(gate.waiting()))
        template = msg.PROGRESS_DRY_RUN if args.dry_run else msg.PROGRESS
        counts = dict.fromkeys(
            (outcomes.DELETED, outcomes.FAILED, outcomes.UNKNOWN,
             outcomes.NOT_ATTEMPTED, outcomes.WOULD_DELETE,
             outcomes.WOULD_REFUSE), 0)
        out = self._human_out

        def line():
            return template % {
                'done': sum(counts.values()), 'total': total,
                'deleted': counts[outcomes.DELETED],
                'would': counts[outcomes.WOULD_DELETE],
                'failed': counts[outcomes.FAILED] +
                counts[outcomes.UNKNOWN]}

        def waiting(job, seconds):
            progress.show(line() + msg.PROGRESS_WAITING % {
                'image': msg.printable(job.arg, 40), 'seconds': seconds})

        deletion.on_wait = waiting
        progress.start_ticking()
        try:
            for job in deletion.run():
                progress.clear()
                for level, text in msg.result_lines(
                        job, args.delete_backup, args.store, args.dry_run,
                        project_id):
                    if level is None:
                        out.write(text + '\n')
                        out.flush()
                    else:
                        LOG.log(level, text)
                counts[job.kind] += 1
                progress.show(line())
                yield job
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
            self._human_out.write(msg.DRY_RUN_SUMMARY % {
                'images': msg.plural(len(images), 'image'),
                'backups': msg.plural(sum(
                    1 for job in images
                    if job.backup and args.delete_backup), 'backup')} + '\n')
            return None
        if failed:
            raise exceptions.CommandError(msg.SUMMARY_FAILED % {
                'failed': failed, 'total': total} + unknown)
        return None
