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

"""Honest outcomes (issue 12), through the real CLI.

An image is reported deleted only when a DELETE was answered 2xx, or when
a 404 answered a retry whose earlier attempt may have reached the service
(its answer was lost). The cloud's own retry settings win over the
plugin's default; Retry-After is honoured only up to a cap; version
discovery of the image endpoint is not required.

Which case each IMS-layer fault expresses:

- ``status`` 503/429: the service did not act on that attempt;
- ``lost``: the service deleted the image, the answer never came back;
- ``vanish``: someone else deleted the image between our lookup and our
  first DELETE (no attempt of ours can have deleted it).
"""

import uuid

from ims_osc_plugin.tests.functional import base

# The plugin's retries where neither --retries nor the cloud sets any.
DEFAULT_RETRIES = 3
RETRIED_NOTE = ' (it was already gone when the delete was retried)'


def backup_id():
    return 'backup-' + uuid.uuid4().hex[:12]


def full_ecs_image(test, fault=None):
    """A new full-ECS image: its name, ID and backup.

    Its first DELETE gets ``fault``, if one is given.
    """
    backup = backup_id()
    name = test.unique_name()
    image = test.create_image(name, backup=backup)
    if fault:
        test.state.set_fault(image, fault, count=1)
    return name, image, backup


class TestNotFoundAfterRetry(base.FunctionalTestCase):

    def statuses(self, since, image_id):
        return [e['status'] for e in self.deletes(since, image_id)]

    def never_existing_id_fails(self, status, **fault):
        """A UUID no image has, whose first DELETE gets ``status``.

        The retry's 404 must be reported as a plain failure.
        """
        image = str(uuid.uuid4())
        self.state.set_fault(image, 'status', status=status, count=1,
                             **fault)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', image)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': " % image), line)
        self.assertNotIn('Deleted image', result.stderr)
        self.assertEqual([status, 404], self.statuses(since, image))
        return result

    def test_never_existing_id_503_then_404_is_a_failure(self):
        result = self.never_existing_id_fails(503)
        self.assertNotIn('already gone', result.stderr)

    def test_never_existing_id_429_then_404_is_a_failure(self):
        self.never_existing_id_fails(429, retry_after='1')

    def test_lost_answer_is_reported_deleted(self):
        # Looked up by name first: the image was there, and the retry's 404
        # says the lost try deleted it.
        name = self.unique_name()
        image = self.create_image(name)
        self.state.set_fault(image, 'lost', count=1)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', name)

        self.assertSucceeded(result)
        self.assertIn("Deleted image '%s': %s%s" % (name, image,
                                                    RETRIED_NOTE),
                      result.stderr)
        self.assertNotIn('Failed', result.stderr)
        events = self.deletes(since, image)
        # The first attempt was done (Glance answered 204) but its answer
        # lost; the retry found the image gone.
        self.assertEqual([(0, 204), (404, None)],
                         [(e['status'], e['served']) for e in events])
        self.assertGone(image)

    def test_lost_answer_by_id_without_lookup_is_unknown(self):
        # Given by ID without options, nothing was looked up: the 404 of
        # the retry may answer an ID that never existed, and no image has
        # it as its name. The image was deleted; the command cannot know.
        image = self.create_image()
        self.state.set_fault(image, 'lost', count=1)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', image)

        self.assertEqual(1, result.rc, result.stderr)
        self.assertIn(
            "Image '%s' may or may not have been deleted: a delete of this "
            "ID may have reached the service before its answer was lost, "
            "and no image has this ID or name now" % image, result.stderr)
        self.assertNotIn('Deleted image', result.stderr)
        self.assertEqual([(0, 204), (404, None)],
                         [(e['status'], e['served'])
                          for e in self.deletes(since, image)])
        self.assertGone(image)

    def test_lost_answer_with_delete_backup(self):
        name, image, backup = full_ecs_image(self, 'lost')
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', '--delete-backup',
                                name)

        self.assertSucceeded(result)
        [line] = [line for line in base.stderr_lines(result)
                  if line.startswith('Deleted image')]
        self.assertTrue(line.startswith(
            "Deleted image '%s': %s" % (name, image)), line)
        self.assertNotIn('Failed', result.stderr)
        self.assertNotIn('not deleted', result.stderr)
        self.assertEqual([0, 404], self.statuses(since, image))
        self.assertGone(image)
        # The attempt whose answer was lost deleted the backup too.
        self.assertEqual('deleted', self.state.backup_status(backup))

    def test_gone_before_our_delete_with_delete_backup(self):
        # Found by the lookup, deleted by someone else (without its
        # backup) before our first DELETE arrived: not "deleted with its
        # backup", and the user is told which backup is left.
        name, image, backup = full_ecs_image(self, 'vanish')
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', '--delete-backup',
                                name)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': " % name), line)
        self.assertIn('was already gone', line)
        self.assertIn('its backup %s was not deleted by this command'
                      % backup, line)
        self.assertNotIn('Deleted image', result.stderr)
        self.assertEqual([404], self.statuses(since, image))
        self.assertGone(image)
        self.assertEqual('available', self.state.backup_status(backup))

    def test_gone_before_our_first_delete_is_not_deleted(self):
        # The same race without --delete-backup: our only DELETE got 404
        # and no attempt of ours can have deleted the image, so it is not
        # reported deleted (issue 12's first outcome rule).
        name = self.unique_name()
        image = self.create_image(name)
        self.state.set_fault(image, 'vanish', count=1)
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', name)

        [line] = self.assertFailedLines(result, 1, 1)
        self.assertTrue(line.startswith(
            "Failed to delete image '%s': " % name), line)
        self.assertNotIn('Deleted image', result.stderr)
        self.assertEqual([404], self.statuses(since, image))


class TestRetryAfter(base.FunctionalTestCase):

    def test_retry_after_beyond_the_cap_ends_the_image(self):
        throttled = self.create_image()
        busy = self.create_image()
        fine = self.create_image()
        self.state.set_fault(throttled, 'status', status=429,
                             retry_after='86400')
        self.state.set_fault(busy, 'status', status=503,
                             retry_after='86400')
        since = self.state.last_seq()

        # Obeying the day ends in TimeoutExpired. The run needs a few
        # seconds; 60 s leaves a slow machine room: no tighter timing is
        # asserted.
        result = self.delete(throttled, busy, fine, timeout=60)

        lines = self.assertFailedLines(result, 2, 3)
        for image, status, line in zip((throttled, busy), (429, 503),
                                       lines):
            self.assertTrue(line.startswith(
                "Failed to delete image '%s': %d" % (image, status)), line)
            self.assertIn('asked to wait 86400 s', line)
            self.assertIn('60', line)  # the cap
            # Not retried: no retry would be allowed in time.
            self.assertEqual([status], [
                e['status'] for e in self.deletes(since, image)])
            self.assertExists(image)
        self.assertGone(fine)

    def test_retry_after_within_the_cap_is_waited(self):
        image = self.create_image()
        self.state.set_fault(image, 'status', status=429, count=1,
                             retry_after='2')
        since = self.state.last_seq()

        result = self.delete(image)

        self.assertSucceeded(result)
        first, second = self.deletes(since, image)
        self.assertEqual((429, 204), (first['status'], second['status']))
        # Server-side clock; a lower bound only (a slow machine only
        # makes the gap longer).
        self.assertGreaterEqual(second['arrived'] - first['answered'], 1.8)
        self.assertGone(image)


class TestDiscoveryNotRequired(base.FunctionalTestCase):
    """The image endpoint's root answers 404 (a gateway serving /v2 only)."""

    def setUp(self):
        super().setUp()
        self.state.set_flag('root_status', 404)
        self.addCleanup(self.state.set_flag, 'root_status', None)

    def test_delete_by_id_without_version_document(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.openstack('-v', 'image', 'delete', image)

        self.assertSucceeded(result)
        self.assertIn("Deleted image '%s': %s" % (image, image),
                      result.stderr)
        self.assertEqual([204], [e['status']
                                 for e in self.deletes(since, image)])
        self.assertGone(image)
        self.addDetail('setup-requests', base._text(repr(
            self.setup_requests(since))))

    def test_delete_backup_by_name_without_version_document(self):
        name, image, backup = full_ecs_image(self)

        result = self.openstack('-v', 'image', 'delete', '--delete-backup',
                                name)

        self.assertSucceeded(result)
        self.assertIn("Deleted image '%s': %s and its backup %s"
                      % (name, image, backup), result.stderr)
        self.assertGone(image)
        self.assertEqual('deleted', self.state.backup_status(backup))

    def test_endpoint_override_without_version_document(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.delete(image, cloud='demo-override')

        self.assertSucceeded(result)
        self.assertGone(image)
        self.assertEqual({self.port_of('internal_url')},
                         self.cli_ports(since))


class TestSetupRequests(base.FunctionalTestCase):

    def test_at_most_one_version_request_before_the_delete(self):
        # Core sends one GET of the version document per run; the plugin
        # may save it (issue 12), never add to it.
        image = self.create_image()
        since = self.state.last_seq()

        result = self.delete(image)

        self.assertSucceeded(result)
        setup = self.setup_requests(since)
        self.addDetail('setup-requests', base._text('\n'.join(
            '%s %s -> %s' % (e['method'], e['path'], e['status'])
            for e in setup)))
        self.assertLessEqual(len(setup), 1, setup)
        [delete] = self.deletes(since)
        for event in setup:
            self.assertLess(event['seq'], delete['seq'])


class TestCloudRetrySettings(base.FunctionalTestCase):
    """Without --retries the cloud's settings count, as in core OSC."""

    def attempts(self, fault, *args, **settings):
        image = self.create_image()
        self.state.set_fault(image, fault, status=503)
        since = self.state.last_seq()

        result = self.delete(*(args + (image,)),
                             env=self.clouds_env(**settings))

        # Not deleted: a plain failure after 503s, an unknown fate after
        # dropped connections (the service may have acted on one).
        self.assertEqual(1, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertTrue(base.stderr_lines(result)[-1].startswith(
            'Failed to delete 1 of 1 images.'), result.stderr)
        self.assertNotIn('Deleted image', result.stderr)
        self.assertExists(image)
        return len(self.deletes(since, image))

    def core_retries(self, kind, **settings):
        """What openstacksdk, so core OSC, resolves for the image service.

        None when nothing sets it. openstacksdk's own defaults count as
        set: openstacksdk 4.x ships ``image_status_code_retries: 5``, which
        also wins over an unprefixed ``status_code_retries``.
        """
        from openstack import config

        path = self.clouds_env(**settings)['OS_CLIENT_CONFIG_FILE']
        region = config.OpenStackConfig(
            config_files=[path], load_envvars=False).get_one(cloud='demo')
        value = getattr(region, 'get_%s_retries' % kind)('image')
        self.addDetail('core-%s-retries' % kind, base._text(repr(value)))
        return value

    def expected_attempts(self, kind, **settings):
        configured = self.core_retries(kind, **settings)
        return 1 + (DEFAULT_RETRIES if configured is None
                    else int(configured))

    def test_image_status_code_retries(self):
        self.assertEqual(2, self.attempts(
            'status', image_status_code_retries=1))

    def test_unprefixed_status_code_retries(self):
        # As core OSC counts it (see core_retries).
        self.assertEqual(
            self.expected_attempts('status_code', status_code_retries=1),
            self.attempts('status', status_code_retries=1))

    def test_image_connect_retries(self):
        self.assertEqual(2, self.attempts('drop', image_connect_retries=1))

    def test_unprefixed_connect_retries(self):
        self.assertEqual(2, self.attempts('drop', connect_retries=1))

    def test_retries_option_overrides_the_cloud(self):
        self.assertEqual(1, self.attempts(
            'status', '--retries', '0', image_status_code_retries=1))

    def test_plugin_default_when_the_cloud_sets_nothing(self):
        # Nothing sets connect retries: the plugin's 3.
        self.assertIsNone(self.core_retries('connect'))
        self.assertEqual(1 + DEFAULT_RETRIES, self.attempts('drop'))

    def test_status_code_retries_as_core_when_the_cloud_sets_nothing(self):
        self.assertEqual(self.expected_attempts('status_code'),
                         self.attempts('status'))


class TestApiVersion(base.FunctionalTestCase):

    def assertRefused(self, result, image, since):
        self.assertEqual(1, result.rc, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        # Not core's command in the plugin's place.
        self.assertNotIn('unrecognized', result.stderr)
        mentions = [line for line in base.stderr_lines(result)
                    if '3' in line and 'version' in line.lower()]
        self.assertEqual(1, len(mentions), result.stderr)
        self.assertEqual([], [e for e in self.state.events(
            since, everything=True) if e['mode'] == 'ims'])
        self.assertExists(image)

    def test_unsupported_ims_api_version_option(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.openstack('--os-ims-api-version', '3', 'image',
                                'delete', '--delete-backup', image)

        self.assertRefused(result, image, since)

    def test_unsupported_ims_api_version_from_environment(self):
        image = self.create_image()
        since = self.state.last_seq()

        result = self.delete(image, env={'OS_IMS_API_VERSION': '3'})

        self.assertRefused(result, image, since)
