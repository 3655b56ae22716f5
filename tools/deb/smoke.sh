#!/bin/sh
# Run by tools/build-deb.sh --functional inside the functional test stack
# (python -m ims_osc_plugin.tests.functional.stack -- sh tools/deb/smoke.sh,
# from the source tree, on the host): the testbed's /usr/bin/openstack,
# with the package installed, deletes a full-ECS image and its backup with
# --delete-backup. The backup lives in the IMS layer's registry (see
# ims_osc_plugin/tests/functional/ims_layer.py).
#
# Environment: IMS_FUNCTIONAL_STACK (set by the stack), IMS_DEB_ROOT (the
# testbed: / for the host, else the chroot whose openstack runs; it shares
# the host's 127.0.0.1), IMS_DEB_STACK_PYTHON (a Python that imports the
# harness, default python3).
set -eu
root=${IMS_DEB_ROOT:-/}
python=${IMS_DEB_STACK_PYTHON:-python3}

state() {
    "$python" - "$@" <<'PY'
import json, os, sys
from ims_osc_plugin.tests.functional import ims_layer
info = json.load(open(os.environ['IMS_FUNCTIONAL_STACK']))
if sys.argv[1] == 'clouds':
    print(info['clouds_yaml'])
elif sys.argv[1] == 'add':
    ims_layer.State(info['state_db']).add_backup(sys.argv[2])
else:
    print(ims_layer.State(info['state_db']).backup_status(sys.argv[2]))
PY
}

openstack() {
    if [ "$root" = / ]; then
        /usr/bin/openstack "$@"
    else
        chroot "$root" /usr/bin/openstack "$@"
    fi
}

OS_CLIENT_CONFIG_FILE=$(state clouds)
OS_CLOUD=demo
export OS_CLIENT_CONFIG_FILE OS_CLOUD
if [ "$root" != / ]; then
    # The same path inside the chroot (whose /tmp is its own).
    mkdir -p "$root$(dirname "$OS_CLIENT_CONFIG_FILE")"
    cp "$OS_CLIENT_CONFIG_FILE" "$root$OS_CLIENT_CONFIG_FILE"
fi
openstack --version
backup=$(cat /proc/sys/kernel/random/uuid)
state add "$backup"
id=$(openstack image create --private -f value -c id \
    --property __whole_image=true --property __backup_id="$backup" \
    ims-deb-smoke)
echo "created full-ECS image $id with backup $backup"

openstack image delete --delete-backup "$id"

if openstack image show "$id" >/dev/null 2>&1; then
    echo "image $id is still there after image delete" >&2
    exit 1
fi
status=$(state status "$backup")
if [ "$status" != deleted ]; then
    echo "backup $backup is $status after image delete --delete-backup" >&2
    exit 1
fi
echo "/usr/bin/openstack (testbed $root): image delete --delete-backup deleted" \
     "image $id and its backup $backup"
