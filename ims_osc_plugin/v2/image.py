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

Every image argument is looked up first, then deleted (or judged, with
``--dry-run``) and reported: in argument order, each as soon as it and
every argument before it are done; with ``--workers`` on a thread pool.
"""

import argparse
import contextlib
import logging
import signal
import threading

from keystoneauth1 import exceptions as ks_exceptions
from openstackclient.image.v2 import image as osc_image
from osc_lib import exceptions

from ims_osc_plugin import client
from ims_osc_plugin.v2 import messages as msg
from ims_osc_plugin.v2 import terminal

LOG = logging.getLogger(__name__)

MAX_WORKERS = 64
# A progress line is worth drawing from this many images on.
PROGRESS_MIN_IMAGES = 10
# How long the main thread may wait on a worker before it looks at signals.
SIGNAL_CHECK = 0.2

# What became of one image argument.
DELETED = 'deleted'
FAILED = 'failed'
UNKNOWN = 'unknown'              # a try may have deleted it; no answer says
NOT_ATTEMPTED = 'not attempted'  # interrupted before its DELETE was sent
DUPLICATE = 'duplicate'          # the same image as an earlier argument
WOULD_DELETE = 'would delete'    # --dry-run
WOULD_REFUSE = 'would refuse'    # --dry-run


def judge_failed_delete(error):
    """The outcome of a DELETE that raised ``error``: the outcome rules.

    - A 404 means deleted only if an earlier try of this DELETE may have
      reached the service (its answer lost, a read timeout, a 502/504 from
      a proxy). After tries answered 429/503 or never connected, it is a
      plain "not found".
    - Any other error after a try that may have reached the service, or a
      last try whose answer never came, leaves the image's fate unknown.
    - Interrupted before the first try: not attempted.
    """
    attempts = getattr(error, 'attempts', None) or []
    if isinstance(error, client.Interrupted):
        if not attempts:
            return NOT_ATTEMPTED
        return UNKNOWN if any(a.may_have_reached for a in attempts) else (
            FAILED)
    earlier = client.earlier_attempt_may_have_acted(error)
    if isinstance(error, ks_exceptions.NotFound):
        return DELETED if earlier else FAILED
    last = attempts[-1] if attempts else None
    unanswered = last is not None and last.may_have_reached and (
        last.status in (None, 502, 504))
    return UNKNOWN if earlier or unanswered else FAILED


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


def _same_argument(arg):
    """Arguments with the same key name the same image without a lookup.

    IDs are compared without case, as the image service matches them.
    """
    return arg.lower() if client.is_image_id(arg) else arg


class _Target:
    """One image argument on its way through resolve, delete and report."""

    def __init__(self, index, arg):
        self.index = index
        self.arg = arg
        self.shown = msg.printable(arg)
        self.image = None        # the image document, when looked up
        self.image_id = None
        self.same_as = None      # an earlier target naming the same image
        self.outcome = None
        self.error = None
        self.detail = None

    @property
    def backup(self):
        return client.backup_of(self.image) if self.image else None

    def fail(self, error):
        """A failed DELETE: the outcome rules decide what it means."""
        self.error = error
        self.outcome = judge_failed_delete(error)

    def lookup_failed(self, error):
        """A failed lookup: nothing was deleted, whatever the answer."""
        self.error = error
        self.outcome = (NOT_ATTEMPTED if isinstance(error, client.Interrupted)
                        else FAILED)


class DeleteImage(osc_image.DeleteImage):
    _description = ('Delete image(s), optionally with the CBR backups of '
                    'full-ECS images')

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
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
            type=_count(0, 10),
            default=None,
            help='Retry each request up to <count> times, with growing '
                 'delays, after a connection failure, a timeout or a '
                 '429/502/503/504 answer (0-10). Default: the cloud\'s '
                 'image_connect_retries and image_status_code_retries, '
                 'as core OSC uses them (openstacksdk\'s defaults '
                 'included), else %d.' % client.DEFAULT_RETRIES,
        )
        return parser

    def take_action(self, parsed_args):
        self._check_options(parsed_args)
        ims = self.app.client_manager.ims
        # A new one per run: OSC's interactive shell reuses the client.
        ims.cancel = threading.Event()
        # None: the cloud's settings (also after a run with --retries in
        # OSC's interactive shell).
        ims.retries = parsed_args.retries
        if parsed_args.workers > 1:
            # Before the first request, so no connection is thrown away.
            ims.allow_concurrency(parsed_args.workers)
        try:
            ims.base_url
        except ks_exceptions.ClientException as e:
            # No image endpoint: one line, not one per image.
            raise exceptions.CommandError(msg.NO_ENDPOINT % {
                'error': msg.printable(str(e))})

        self._ims = ims
        self._args = parsed_args
        self._project_id = ims.project_id if parsed_args.dry_run else None
        firsts = {}
        entries = [(arg, firsts.setdefault(_same_argument(arg),
                                           _Target(i, arg)))
                   for i, arg in enumerate(parsed_args.images)]
        targets = self._targets = list(firsts.values())
        self._unresolved = len(targets)
        self._lock = threading.Lock()
        self._all_resolved = threading.Event()
        self._first_by_id = {}
        with terminal.stop_on_signals(ims.cancel) as caught, \
                self._runner(targets, parsed_args.workers) as finish:
            try:
                counts = self._report_in_order(entries, finish, len(targets))
            finally:
                # Also after a second Ctrl-C: the workers end at once.
                ims.cancel.set()
        return self._summary(counts, len(targets), caught)

    def _report_in_order(self, entries, finish, total):
        """Report each argument once it and all before it are done."""
        progress = terminal.ProgressLine(self.app.stderr,
                                         total >= PROGRESS_MIN_IMAGES)
        template = (msg.PROGRESS_DRY_RUN if self._args.dry_run
                    else msg.PROGRESS)
        counts = dict.fromkeys(
            (DELETED, FAILED, UNKNOWN, NOT_ATTEMPTED, DUPLICATE,
             WOULD_DELETE, WOULD_REFUSE), 0)
        try:
            for position, (arg, target) in enumerate(entries):
                if target.index != position:
                    progress.clear()
                    if arg == target.arg:
                        LOG.warning(msg.GIVEN_TWICE % {'image': target.shown})
                    else:
                        LOG.warning(msg.SAME_IMAGE % {
                            'image': msg.printable(arg),
                            'first': target.shown})
                    continue
                finish(target)
                progress.clear()
                self._report(target)
                counts[target.outcome] += 1
                progress.show(template % {
                    'done': sum(counts.values()), 'total': total,
                    'deleted': counts[DELETED], 'would': counts[WOULD_DELETE],
                    'failed': counts[FAILED] + counts[UNKNOWN]})
        finally:
            progress.clear()
        return counts

    def _check_options(self, args):
        if args.delete_backup is None:
            return
        if args.store:
            raise exceptions.CommandError(
                msg.STORE_WITH_FLAG % {'flags': msg.FLAGS})
        version = self.app.client_manager._api_version.get('image')
        if version and str(version).split('.')[0] == '1':
            raise exceptions.CommandError(
                msg.V1_WITH_FLAG % {'flags': msg.FLAGS, 'version': version})

    @contextlib.contextmanager
    def _runner(self, targets, workers):
        """Yield ``finish(target)``: it returns once ``target`` is done.

        Every argument is looked up before the first image is deleted, so
        that a name given after the ID of the same image still finds it
        (and it is deleted once). With workers the lookups are queued
        first, so a delete waiting for them never holds up one of them.
        """
        if workers <= 1:
            def finish(target):
                if not self._all_resolved.is_set():
                    for each in targets:
                        self._resolve_one(each)
                self._delete_one(target)

            yield finish
            return
        from concurrent import futures

        pool = futures.ThreadPoolExecutor(
            min(workers, len(targets)),
            initializer=terminal.leave_signals_to_the_main_thread)
        for target in targets:
            pool.submit(self._resolve_one, target)
        running = {t.index: pool.submit(self._delete_one, t)
                   for t in targets}

        def finish(target):
            # Python runs signal handlers in the main thread, between
            # bytecodes: a timed wait gives it that chance at least every
            # SIGNAL_CHECK seconds, even if the signal did not wake the
            # wait itself (seen on loaded machines).
            while True:
                try:
                    return running[target.index].result(SIGNAL_CHECK)
                except futures.TimeoutError:
                    pass

        try:
            yield finish
        except BaseException:
            # A second Ctrl-C: do not wait here for what is in flight.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    def _resolve_one(self, target):
        """Look one argument up (unless its DELETE will tell)."""
        try:
            self._resolve(target)
        except Exception as e:
            self._log_unexpected(target, e)
            target.lookup_failed(e)
        finally:
            with self._lock:
                self._unresolved -= 1
                if not self._unresolved:
                    self._index_images()
                    self._all_resolved.set()

    def _index_images(self):
        """Once all are looked up: the first argument naming each image."""
        for target in self._targets:
            if target.image_id:
                self._first_by_id.setdefault(target.image_id.lower(), target)

    def _delete_one(self, target):
        """Delete (or judge, with --dry-run) one looked-up image."""
        self._all_resolved.wait()
        if target.outcome is not None:
            return
        # The first argument naming an image is the one that deletes it.
        first = self._first_by_id[target.image_id.lower()]
        if first is not target:
            target.same_as = first
            target.outcome = DUPLICATE
            return
        try:
            if self._args.dry_run:
                self._judge(target)
            else:
                self._delete(target)
        except Exception as e:
            self._log_unexpected(target, e)
            target.fail(e)

    @staticmethod
    def _log_unexpected(target, error):
        if not isinstance(error, (client.ImsError, ValueError,
                                  ks_exceptions.ClientException)):
            # Still go on with the other images; --debug shows it.
            LOG.debug('Deleting %r failed', target.arg, exc_info=True)

    def _resolve(self, target):
        if not target.arg.strip():
            raise client.ImsError(msg.EMPTY)
        args = self._args
        if (not args.dry_run and args.delete_backup is None and
                args.store is None and client.is_image_id(target.arg)):
            # Nothing to decide on the image: its DELETE tells whether the
            # ID exists, one request instead of two.
            target.image_id = target.arg
        else:
            target.image = self._ims.find_image(target.arg)
            target.image_id = target.image['id']

    def _delete(self, target):
        ims, args = self._ims, self._args
        if target.image is None:
            try:
                ims.delete_image(target.image_id)
                return self._deleted(target)
            except ks_exceptions.NotFound as e:
                if judge_failed_delete(e) == DELETED:
                    return self._deleted(target, gone_on_retry=True)
            # No image has this ID: perhaps one has it as its name.
            try:
                target.image = ims.find_image_by_name(target.arg)
            except client.Interrupted:
                target.outcome = FAILED
                target.detail = msg.ID_NOT_FOUND_INTERRUPTED
                return
            except Exception as e:
                self._log_unexpected(target, e)
                return target.lookup_failed(e)
            target.image_id = target.image['id']
        try:
            ims.delete_image(target.image_id, delete_backup=args.delete_backup,
                             store=args.store)
        except ks_exceptions.NotFound as e:
            outcome = judge_failed_delete(e)
            if args.store is None and outcome == DELETED:
                return self._deleted(target, gone_on_retry=True)
            # Not in that store: gone from it by an earlier try of ours, or
            # never there, is more than a 404 tells.
            target.error = e
            target.outcome = UNKNOWN if outcome == DELETED else FAILED
            if args.delete_backup and target.backup:
                target.detail = msg.GONE_BACKUP_KEPT % {
                    'error': msg.explain(e), 'backup': target.backup}
        else:
            self._deleted(target)

    def _deleted(self, target, gone_on_retry=False):
        target.outcome = DELETED
        backup = target.backup
        detail = target.image_id
        if gone_on_retry:
            detail += msg.GONE_ON_RETRY
            if backup and self._args.delete_backup:
                detail += msg.GONE_ON_RETRY_BACKUP % {'backup': backup}
        elif backup and self._args.store is None:
            detail += (msg.WITH_BACKUP if self._args.delete_backup
                       else msg.BACKUP_KEPT) % {'backup': backup}
        target.detail = detail

    def _judge(self, target):
        """--dry-run: what a real run would do, from the image document."""
        image = target.image
        why = None
        owner = image.get('owner')
        if image.get('protected') is True:
            why = msg.REFUSE_PROTECTED
        elif owner and self._project_id and owner != self._project_id:
            why = msg.REFUSE_OWNER % {'owner': msg.printable(str(owner)),
                                      'project': self._project_id}
        fields = {'name': msg.printable(str(image.get('name') or '')),
                  'id': target.image_id}
        if why:
            target.outcome = WOULD_REFUSE
            target.detail = msg.WOULD_REFUSE % dict(fields, why=why)
            return
        store = self._args.store
        backup = target.backup
        if not backup:
            what = msg.DRY_NO_BACKUP
        elif self._args.delete_backup:
            what = msg.DRY_BACKUP_DELETED % {'backup': backup}
        else:
            what = msg.DRY_BACKUP_KEPT % {'backup': backup}
        target.outcome = WOULD_DELETE
        target.detail = msg.WOULD_DELETE % dict(
            fields, what=what,
            store=msg.FROM_STORE % {'store': msg.printable(store)}
            if store else '')

    def _report(self, target):
        image = target.shown
        outcome = target.outcome
        if outcome == DUPLICATE:
            LOG.warning(msg.SAME_IMAGE % {'image': image,
                                          'first': target.same_as.shown})
        elif outcome in (WOULD_DELETE, WOULD_REFUSE):
            self.app.stdout.write(target.detail + '\n')
            self.app.stdout.flush()
        elif outcome == DELETED:
            if self._args.delete_backup and not target.backup and (
                    target.image is not None):
                LOG.warning(msg.NO_BACKUP % {'image': image,
                                             'id': target.image_id})
            LOG.info(msg.DELETED % {'image': image, 'detail': target.detail})
        elif outcome == NOT_ATTEMPTED:
            LOG.error(msg.NOT_ATTEMPTED % {'image': image})
        elif outcome == UNKNOWN:
            LOG.error(msg.UNKNOWN % {'image': image,
                                     'reason': self._reason(target)})
        else:
            LOG.error(msg.FAILED % {'image': image,
                                    'reason': self._reason(target)})

    def _reason(self, target):
        if target.detail:
            return target.detail
        error = target.error
        if isinstance(error, client.Interrupted):
            if target.outcome == UNKNOWN:
                return msg.INTERRUPTED_LOST
            return msg.INTERRUPTED_RETRY % {
                'error': msg.reason(error.error, self._args.delete_backup)}
        line = msg.reason(error, self._args.delete_backup)
        if target.outcome == UNKNOWN and len(
                getattr(error, 'attempts', ())) > 1:
            return msg.ANSWER_LOST % {'error': line}
        return line

    def _summary(self, counts, total, caught):
        """The last line, and the exit status when it is not 0 or 1.

        An interrupted run ends with 128 + the signal's number, as a shell
        reports a command killed by it.
        """
        failed = counts[FAILED] + counts[UNKNOWN]
        total -= counts[DUPLICATE]
        if caught and self._args.dry_run:
            LOG.error(msg.DRY_RUN_INTERRUPTED % {
                'signal': signal.Signals(caught[0]).name,
                'done': total - counts[NOT_ATTEMPTED], 'total': total})
            return 128 + caught[0]
        if caught:
            LOG.error(msg.SUMMARY_INTERRUPTED % {
                'signal': signal.Signals(caught[0]).name,
                'deleted': counts[DELETED], 'total': total, 'failed': failed,
                'skipped': counts[NOT_ATTEMPTED]})
            return 128 + caught[0]
        if self._args.dry_run:
            if failed:
                raise exceptions.CommandError(msg.DRY_RUN_UNRESOLVED % {
                    'failed': failed, 'total': total})
            self.app.stdout.write(msg.DRY_RUN_SUMMARY % {
                'images': msg.plural(counts[WOULD_DELETE], 'image'),
                'backups': msg.plural(sum(
                    1 for t in self._targets if t.outcome == WOULD_DELETE and
                    t.backup and self._args.delete_backup), 'backup')} + '\n')
            return None
        if failed:
            line = msg.SUMMARY_FAILED % {'failed': failed, 'total': total}
            if counts[UNKNOWN]:
                line += msg.SUMMARY_UNKNOWN % {'unknown': counts[UNKNOWN]}
            raise exceptions.CommandError(line)
        return None
