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

"""Delete many images: look each argument up, delete (or judge), report.

Driven without cliff::

    deletion = engine.Deletion(ims, ['img-1', 'img-2'], delete_backup=True)
    for job in deletion.run():      # finished jobs, in argument order
        print(job.arg, job.kind)

All requests go out from worker threads (``workers`` of them, at least
one); the thread that iterates :meth:`Deletion.run` only waits, in short
steps, so it can take signals. :meth:`Deletion.stop` (a first Ctrl-C)
sends nothing new and lets what is in flight finish; :meth:`Deletion.
abandon` (a second) ends :meth:`~Deletion.run` at once, each delete still
in flight reported unknown. Both only set flags: they are safe in a signal
handler.

Every argument needing a lookup (a name; any argument with an option or in
a dry run) is looked up before the first delete, so that a name given after
the ID of the same image still finds it. An image named by several
arguments is deleted once, by the first; the others report its outcome.
"""

import logging
import queue
import threading
import time

from keystoneauth1 import exceptions as ks_exceptions

from ims_osc_plugin import answers
from ims_osc_plugin import client
from ims_osc_plugin import images
from ims_osc_plugin import outcomes
from ims_osc_plugin import threads

LOG = logging.getLogger(__name__)

# How long the reporting thread waits at a time: the longest a signal's
# handler waits to run, and an abandoned run to end.
POLL = 0.2


class Job:
    """One image argument on its way through lookup, delete and report.

    ``kind`` is its outcome (see :mod:`~ims_osc_plugin.outcomes`), ``None``
    until it is final; ``reason`` an outcome reason, ``error`` the error
    behind a failure. ``image`` is the image document when it was looked
    up; ``same_as`` the job of an earlier argument naming the same image,
    whose outcome this one reports.
    """

    def __init__(self, index, arg):
        self.index = index
        self.arg = arg
        # A DELETE was sent: it may have acted, whatever else is known.
        self.delete_sent = False
        self.image = None
        self.image_id = None
        self.same_as = None
        self.kind = None
        self.reason = None
        self.error = None
        # The service's ID of the request that decided the outcome.
        self.request_id = None
        # When the outcome was decided (time.monotonic()); for --wait.
        self.finished_at = None

    @property
    def backup(self):
        """The image's backup, if it was looked up and is full-ECS."""
        return images.backup_of(self.image) if self.image else None

    @property
    def origin(self):
        """The job that decided this one's outcome (itself, if no other)."""
        job = self
        while job.kind is None and job.same_as is not None:
            job = job.same_as
        return job

    def __repr__(self):
        return 'Job(%d, %r, %s)' % (self.index, self.arg, self.kind)


class _Workers:
    """Daemon threads running tasks from a queue.

    Daemon threads, so that an abandoned run is not held up at exit by a
    request still waiting for its answer (concurrent.futures' threads are
    joined when the interpreter exits).
    """

    def __init__(self, count):
        self._tasks = queue.Queue()
        self._threads = [
            threading.Thread(target=self._work, name='ims-worker-%d' % i,
                             daemon=True)
            for i in range(count)]
        for thread in self._threads:
            thread.start()

    def submit(self, task, job, on_error):
        """Run ``task(job)``; if it raises, ``on_error(job, error)``.

        A task must end its job with an outcome: one that raises would
        leave the run waiting for it, and the thread would die with it.
        """
        self._tasks.put((task, job, on_error))

    def close(self):
        for _thread in self._threads:
            self._tasks.put(None)

    def join(self, timeout):
        """Wait up to ``timeout`` seconds for each thread; for tests."""
        for thread in self._threads:
            thread.join(timeout)

    def _work(self):
        threads.block_signals()
        while True:
            item = self._tasks.get()
            if item is None:
                return
            task, job, on_error = item
            try:
                task(job)
            except BaseException as e:  # noqa: B902 - anything: see submit
                on_error(job, e)


class Deletion:
    """The images named by ``arguments``, deleted (or judged) and reported.

    :param image_client: an :class:`~ims_osc_plugin.client.ImageClient`.
    :param delete_backup: ``None`` (no request body), ``True`` or ``False``.
    :param store: delete from this store only.
    :param dry_run: look up and judge; send no DELETE.
    :param workers: requests in flight at once, at least 1.
    :param project_id: the token's project, for a dry run's judgement.
    :param may_delete_others: for a dry run, whether the token's roles let
        it delete other projects' images; ``None`` if not known.
    :param find: look each argument up with this instead of the client's
        ``find_image`` (a reviewed plan checks each image with it); every
        argument is then looked up.
    :param wait: seconds to wait, in all, for the deleted images to be
        gone (see :mod:`~ims_osc_plugin.waiting`); ``None``: no waiting.
    """

    def __init__(self, image_client, arguments, delete_backup=None,
                 store=None, dry_run=False, workers=1, project_id=None,
                 may_delete_others=None, find=None, wait=None):
        self.client = image_client
        self._find = find
        self.wait = wait
        # Called as on_wait(job, seconds) while waiting for job's image
        # to go (the command draws its progress line).
        self.on_wait = None
        self.delete_backup = delete_backup
        self.store = store
        self.dry_run = dry_run
        self.jobs = [Job(i, arg) for i, arg in enumerate(arguments)]
        self._workers = None
        self._worker_count = max(1, min(workers, len(self.jobs)))
        # Guards, and is notified on each change of, every job's outcome
        # (kind, reason, error), image, image_id, same_as and delete_sent,
        # and _claims. The reporting thread reads them under it; a job's
        # delete_sent is set under it before its DELETE goes out, so that
        # an abandoned run never calls a sent delete "not attempted".
        self._changed = threading.Condition()
        # The job deleting each image, by the image ID in lower case (the
        # IDs the service gives are canonical lower-case UUIDs; an argument
        # is deleted without a lookup only if it is in lower case). A
        # claim's owner always runs its delete to an outcome, so a job that
        # reports another's outcome never waits forever.
        self._claims = {}
        self._abandoned = False
        self.project_id = project_id
        self.may_delete_others = may_delete_others

    # -- control, safe in a signal handler -------------------------------

    def stop(self):
        """Send nothing new; what is in flight finishes and is reported."""
        self.client.cancel.set()

    def abandon(self):
        """End :meth:`run` at once: what is in flight is reported unknown.

        Only sets flags (a signal handler may call it while the reporting
        thread holds a lock); :meth:`run` sees them within :data:`POLL`.
        """
        self._abandoned = True
        self.client.cancel.set()

    def join(self, timeout):
        """Wait for the worker threads to end; for tests.

        An abandoned run leaves them running.
        """
        if self._workers is not None:
            self._workers.join(timeout)

    # -- the run -----------------------------------------------------------

    def run(self):
        """Yield every job, final, in argument order.

        Nothing raises out of it for one image's sake: each failure is that
        job's outcome.
        """
        firsts = self._group_same_arguments()
        self._workers = _Workers(self._worker_count)
        waiter = None
        if self.wait is not None:
            from ims_osc_plugin import waiting
            waiter = waiting.Waiter(self, self.wait)
        try:
            lookups = [job for job in firsts if self._needs_lookup(job)]
            for job in lookups:
                self._workers.submit(self._look_up, job, self._crashed)
            if self._wait_until(lambda: all(j.kind is not None or j.image
                                            for j in lookups)):
                for job in firsts:
                    if job.kind is None:
                        if job.image is None:
                            job.image_id = job.arg
                        if self._claim(job, job.image_id):
                            self._workers.submit(self._delete_or_judge, job,
                                                 self._crashed)
            for job in self.jobs:
                if self._wait_until(lambda: job.origin.kind is not None):
                    self._settle(job)
                else:
                    self._give_up(job)
                if waiter is not None:
                    waiter.wait_for(job)
                yield job
        finally:
            self._workers.close()

    def _wait_until(self, done):
        """Wait for ``done()`` in short steps; whether it came true.

        Once the run is abandoned, it does not wait any more.
        """
        with self._changed:
            while not done():
                if self._abandoned:
                    return False
                self._changed.wait(POLL)
        return not self._abandoned or done()

    def _group_same_arguments(self):
        """The first job of each argument; later repeats report its outcome.

        Only equal arguments are merged here: two IDs differing in case can
        name two images (an ID and another image's name) where the service
        compares IDs with case. Lookups merge the rest (:meth:`_claim`).
        """
        firsts = {}
        for job in self.jobs:
            first = firsts.setdefault(job.arg, job)
            if first is not job:
                job.same_as = first
        return list(firsts.values())

    def _needs_lookup(self, job):
        # Without options, an ID's DELETE tells whether it exists: one
        # request instead of two. Only for an ID in lower case, as the
        # service writes IDs: whether another case names the same image or
        # another image's name, only a lookup tells (see _claims).
        return (self.dry_run or self.delete_backup is not None or
                self.store is not None or self._find is not None or
                not images.is_image_id(job.arg) or
                job.arg != job.arg.lower())

    def _claim(self, job, image_id):
        """Make ``job`` the one deleting ``image_id``, unless one already is.

        If one is, ``job`` reports that one's outcome. Returns whether
        ``job`` is to delete it.
        """
        with self._changed:
            owner = self._claims.setdefault(image_id.lower(), job)
            if owner is job:
                return True
            # same_as never makes a cycle (each job would wait on the
            # other): if the owner already reports this job's outcome, the
            # two found each other's image under their own names (an
            # inconsistent service), and this one deletes too.
            chain = owner
            while chain is not None:
                if chain is job:
                    return True
                chain = chain.same_as
            job.same_as = owner
            self._changed.notify_all()
            return False

    def _finish(self, job, kind, reason=None, error=None, answered=True):
        """Record ``job``'s outcome, unless it was already given up.

        ``answered``: this task's last request decided it, so its request
        ID is the job's (else the job keeps the one it has).
        """
        with self._changed:
            if job.kind is None:
                job.kind, job.reason, job.error = kind, reason, error
                job.finished_at = time.monotonic()
                if answered:
                    # Read on the worker thread that made the request.
                    job.request_id = self._request_id()
            self._changed.notify_all()

    def _request_id(self):
        return getattr(self.client, 'last_request_id', None)

    def _settle(self, job):
        """A job reporting another's outcome takes it on.

        A repeat of the same argument that failed repeats the reason; any
        other says it is the same image as the earlier argument.
        """
        origin = job.origin
        if origin is not job:
            job.kind = origin.kind
            job.image = job.image or origin.image
            job.image_id = origin.image_id
            job.error = origin.error
            job.request_id = origin.request_id
            job.finished_at = origin.finished_at
            repeat = job.arg == origin.arg
            job.reason = origin.reason if repeat and origin.kind in (
                outcomes.FAILED, outcomes.UNKNOWN) else outcomes.SAME_IMAGE

    def _give_up(self, job):
        """After :meth:`abandon`: its outcome from what is known now."""
        with self._changed:
            origin = job.origin
            if origin.kind is None:
                if origin.delete_sent:
                    origin.kind, origin.reason = (outcomes.UNKNOWN,
                                                  outcomes.IN_FLIGHT)
                else:
                    origin.kind = outcomes.NOT_ATTEMPTED
            self._settle(job)

    # -- the workers' tasks -----------------------------------------------

    def _look_up(self, job):
        try:
            if not job.arg.strip():
                return self._finish(job, outcomes.FAILED, outcomes.EMPTY,
                                    answered=False)
            image = (self._find or self.client.find_image)(job.arg)
        except Exception as e:
            self._log_unexpected(job, e)
            return self._finish(job, outcomes.NOT_ATTEMPTED if isinstance(
                e, client.Interrupted) else outcomes.FAILED, error=e)
        with self._changed:
            job.image, job.image_id = image, image['id']
            job.request_id = self._request_id()
            self._changed.notify_all()

    def _crashed(self, job, error):
        """A task raised: its job's outcome, from what was sent."""
        LOG.debug("Deleting '%s' failed", answers.printable(job.arg),
                  exc_info=True)
        with self._changed:
            sent = job.delete_sent
        self._finish(job, outcomes.UNKNOWN if sent else outcomes.FAILED,
                     error=error)

    def _sending(self, job):
        with self._changed:
            job.delete_sent = True

    def _delete_or_judge(self, job):
        try:
            if self.dry_run:
                kind, reason = outcomes.judge_dry_run(
                    job.image, self.project_id, self.may_delete_others)
                # Its lookup decided it.
                self._finish(job, kind, reason, answered=False)
            elif job.image is None:
                self._delete_unseen(job)
            else:
                self._delete_seen(job)
        except Exception as e:
            self._fail(job, e)

    def _fail(self, job, error):
        """Record a failed DELETE's outcome, by the rules; return it."""
        self._log_unexpected(job, error)
        kind = outcomes.judge_failed_delete(error)
        self._finish(job, kind, error=error)
        return kind

    def _delete_seen(self, job):
        """Delete a looked-up image."""
        self._sending(job)
        try:
            self.client.delete_image(job.image_id,
                                     delete_backup=self.delete_backup,
                                     store=self.store)
        except ks_exceptions.NotFound as e:
            if outcomes.judge_failed_delete(e) != outcomes.DELETED:
                self._finish(job, outcomes.FAILED, outcomes.GONE_BACKUP_KEPT
                             if self.delete_backup and job.backup else None,
                             error=e)
            elif self.store is None:
                self._finish(job, outcomes.DELETED, outcomes.GONE_ON_RETRY)
            else:
                # Gone from that store by an earlier try of ours, or never
                # in it: more than a 404 tells.
                self._finish(job, outcomes.UNKNOWN, error=e)
        else:
            self._finish(job, outcomes.DELETED)

    def _delete_unseen(self, job):
        """Delete by ID without a lookup; on 404, look for it by name."""
        self._sending(job)
        try:
            self.client.delete_image(job.image_id)
        except ks_exceptions.NotFound as e:
            if outcomes.earlier_attempt_may_have_acted(e):
                self._judge_lost(job, e)
            else:
                self._fall_back_to_name(job, e)
        except Exception as e:
            self._fail(job, e)
        else:
            self._finish(job, outcomes.DELETED)

    def _judge_lost(self, job, not_found):
        """404 after a try that may have deleted the image with this ID.

        An image named like this ID is not deleted: it may be a second
        image, and core OSC would have deleted the one with the ID. A
        lookup only tells whether one exists, to say it was left alone.
        """
        try:
            self.client.find_image_by_name(job.arg)
        except client.ImageNotFound:
            reason = outcomes.LOST_NOT_FOUND
        except client.AmbiguousImage:
            reason = outcomes.LOST_NAME_LEFT
        except Exception as e:
            # Interrupted, or the lookup failed: the 404 and the lost
            # answer are all that is known.
            self._log_unexpected(job, e)
            reason = None
        else:
            reason = outcomes.LOST_NAME_LEFT
        self._finish(job, outcomes.UNKNOWN, reason, error=not_found)

    def _fall_back_to_name(self, job, not_found):
        """No image has this ID: perhaps one has it as its name.

        The DELETE's tries did not act (see _judge_lost otherwise), so a
        name lookup may delete, as core OSC's lookup by ID then by name.
        """
        try:
            image = self.client.find_image_by_name(job.arg)
        except client.ImageNotFound as missing:
            return self._finish(job, outcomes.FAILED, error=missing)
        except Exception as e:
            self._log_unexpected(job, e)
            if isinstance(e, client.Interrupted):
                return self._finish(job, outcomes.FAILED,
                                    outcomes.ID_NOT_FOUND_INTERRUPTED,
                                    not_found)
            return self._finish(job, outcomes.FAILED, error=e)
        with self._changed:
            job.image, job.image_id = image, image['id']
        if self._claim(job, image['id']):
            self._delete_seen(job)

    @staticmethod
    def _log_unexpected(job, error):
        if not isinstance(error, (client.ImsError, ValueError,
                                  ks_exceptions.ClientException)):
            # Still go on with the other images; --debug shows it.
            LOG.debug("Deleting '%s' failed", answers.printable(job.arg),
                      exc_info=True)
