#!/bin/bash
# Build, check, install and try the Debian package python3-ims-osc-plugin
# (packaging in debian/), from a clone of this repository, as root on
# Debian 12 (bookworm):
#
#   1. apt-get installs the build dependencies (debian/control), lintian
#      and dpkg-dev;
#   2. the checkout's files (tracked and untracked, not ignored ones) are
#      copied to a temporary build folder, so the checkout stays clean;
#   3. dpkg-buildpackage -us -uc -b builds the .deb with dh-python/pybuild;
#      the unit tests run at build time on Debian's own libraries and a
#      failure fails the build;
#   4. lintian checks the result and fails on any error;
#   5. apt-get installs the .deb beside Debian's python3-openstackclient;
#   6. Debian's /usr/bin/openstack must show the plugin's options in
#      "image delete --help";
#   7. the documentation, and the release notes (from a git clone), build
#      with Debian's Sphinx 5.3 and reno 2.11.2, warnings as errors;
#   8. with --functional: /usr/bin/openstack creates an image on the
#      functional test stack (real Keystone and Glance with the IMS layer
#      on 127.0.0.1, see ims_osc_plugin/tests/functional/stack.py) and
#      deletes it with "image delete --delete-backup".
#
# Usage: tools/build-deb.sh [--functional] [--out DIR]
# The .deb, .buildinfo and .changes are copied to DIR (default:
# dist-deb/ in the checkout, which git ignores). The package is left
# installed. Environment: IMS_FUNCTIONAL_SERVERS_VENV, as for the
# functional tests (default: the checkout's .tox/functional-servers).
set -euo pipefail

functional=no
src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/dist-deb
while [ $# -gt 0 ]; do
    case $1 in
        --functional) functional=yes ;;
        --out) out=$2; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$(id -u)" != 0 ]; then
    echo 'build-deb.sh: run as root (it installs packages with apt-get)' >&2
    exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
    echo "build-deb.sh: made for Debian 12 (bookworm), this is" \
         "${PRETTY_NAME:-unknown}; going on anyway" >&2
fi

# Debian's own tools only: a Python first on PATH (pyenv, a venv) would
# make pybuild pick the wrong python3.11 and try to download pbr.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PIP_REQUIRE_VIRTUALENV
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

step() { printf '\n=== build-deb: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
started=$(date +%s)

step 'apt-get update and the build dependencies'
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential dpkg-dev lintian python3-venv python3-reno git >/dev/null
apt-get build-dep -y -qq "$src" >/dev/null

work=$(mktemp -d /tmp/ims-osc-plugin-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/ims-osc-plugin
mkdir "$tree"
step "copy the checkout to $tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf -) | tar -C "$tree" -xf -
else
    (cd "$src" && tar --exclude=.tox --exclude=.git -cf - .) | tar -C "$tree" -xf -
fi

step 'dpkg-buildpackage -us -uc -b (unit tests included)'
(cd "$tree" && dpkg-buildpackage -us -uc -b)
changes=$(ls "$work"/ims-osc-plugin_*.changes)
deb=$(ls "$work"/python3-ims-osc-plugin_*_all.deb)

step 'lintian'
lintian --info --display-info --fail-on error "$changes"

mkdir -p "$out"
cp "$deb" "$work"/ims-osc-plugin_*.buildinfo "$changes" "$out"/
deb=$out/$(basename "$deb")

step "apt-get install $deb"
apt-get install -y -qq "$deb" >/dev/null
dpkg -s python3-ims-osc-plugin python3-openstackclient |
    grep -E '^(Package|Version):'

step "/usr/bin/openstack image delete --help"
help=$(/usr/bin/openstack image delete --help)
for option in --delete-backup --no-delete-backup; do
    if ! grep -q -e "$option" <<<"$help"; then
        echo "build-deb.sh: 'openstack image delete --help' lacks $option:" >&2
        echo "$help" >&2
        exit 1
    fi
done
echo "$help" | head -5

step "docs and release notes with Debian's Sphinx and reno (doc/requirements.txt's floors)"
# The installed package provides the entry points and the version. The
# release notes need the git history, so they build only from a clone.
(cd "$tree" && python3 -m sphinx -q -W --keep-going -b html \
    -d "$work/doctrees" doc/source "$work/html")
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    python3 -m sphinx -q -W --keep-going -b html -d "$work/rn-doctrees" \
        "$src/releasenotes/source" "$work/releasenotes"
fi
dpkg-query -W -f '${Package} ${Version}\n' python3-sphinx python3-reno

if [ $functional = yes ]; then
    step 'functional smoke: /usr/bin/openstack against Keystone and Glance'
    export IMS_FUNCTIONAL_SERVERS_VENV=${IMS_FUNCTIONAL_SERVERS_VENV:-$src/.tox/functional-servers}
    # The harness (stdlib only) runs from the build tree with Debian's
    # Python; tools/deb-smoke.sh calls Debian's openstack.
    (cd "$tree" && /usr/bin/python3 -m ims_osc_plugin.tests.functional.stack \
        -- /bin/sh tools/deb-smoke.sh)
fi

step "done in $(( $(date +%s) - started )) s: $deb ($(stat -c %s "$deb") bytes)"
