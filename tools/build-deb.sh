#!/bin/bash
# Build, check, install and try the Debian packages python3-ims-osc-plugin
# and python-ims-osc-plugin-doc (packaging in debian/) for one Debian
# release, as root, from a git clone of this repository:
#
#   tools/build-deb.sh [--functional] [--chroot] [--dirty] [--out DIR] [RELEASE]
#
# RELEASE is a Debian codename: bookworm (Debian 12) or trixie (Debian 13);
# the host's by default.
# The package is built, checked and installed on the host when the host is
# that release, else in a chroot of it (debootstrap --variant=minbase, made
# once per machine and reused, see tools/deb/chroot.sh); --chroot uses a
# chroot even then. The host must be Debian (any release) with network
# access to Debian's archive.
#
#   1. The upstream sdist of HEAD is built with Debian's pbr from a clone
#      of the checkout (pbr's version, 0.1.0.devN, from the git history);
#      it is the orig tarball, and debian/changelog's top entry (the next
#      release, UNRELEASED) becomes a snapshot of the commit, as "gbp dch
#      --snapshot" does: version 0.1.0~devN-1~deb12 (on Debian 12), the
#      commit's date. The sdist has no debian/: as a packager does, the
#      commit's debian/ is laid on the unpacked sdist.
#   2. tools/deb/build-and-test.sh, in the host or the chroot, builds the
#      package three ways (-B, -A with nocheck, full with the unit tests),
#      checks that two builds give the same bytes, runs lintian on the
#      source and binary packages, installs the .deb beside the release's
#      python3-openstackclient and runs autopkgtest (see that script).
#   3. With --functional, the release's /usr/bin/openstack deletes a
#      full-ECS image and its backup with "image delete --delete-backup" on
#      the functional test stack (real Keystone and Glance with the IMS
#      layer, started on the host's 127.0.0.1, which a chroot shares; see
#      ims_osc_plugin/tests/functional/stack.py and tools/deb/smoke.sh).
#
# The results (.changes and the files it names, logs, lintian.txt,
# autopkgtest/, summary.txt) go to DIR/RELEASE (default: dist-deb/ in the
# checkout, which git ignores). The build is of HEAD: changes to tracked
# files are refused, since the version names a commit (untracked files are
# left out); --dirty builds the working tree anyway (tracked and untracked
# files) under HEAD's version.
# Environment: IMS_FUNCTIONAL_SERVERS_VENV, as for the functional tests
# (default: the checkout's .tox/functional-servers); IMS_DEB_CACHE,
# IMS_DEB_MIRROR (see tools/deb/chroot.sh).
set -euo pipefail

functional=no
force_chroot=no
dirty=no
src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/dist-deb
release=
usage() { sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --functional) functional=yes ;;
        --chroot) force_chroot=yes ;;
        --dirty) dirty=yes ;;
        --out) out=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
        *) [ -z "$release" ] || { usage >&2; exit 2; }; release=$1 ;;
    esac
    shift
done
if [ "$(id -u)" != 0 ]; then
    echo 'build-deb.sh: run as root (apt-get, debootstrap, chroot)' >&2
    exit 1
fi

# Debian's own tools only: a Python first on PATH (pyenv, a venv) would
# make pybuild pick the wrong python3 and pbr the wrong setuptools.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PIP_REQUIRE_VIRTUALENV
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 TZ=UTC
. /etc/os-release
host_release=${VERSION_CODENAME:-}
release=${release:-$host_release}
if [ -z "$release" ]; then
    echo 'build-deb.sh: name a Debian release (bookworm, trixie)' >&2
    exit 2
fi
if [ "$release" = "$host_release" ] && [ $force_chroot = no ]; then
    testbed=host
else
    testbed=chroot
fi

step() { printf '\n=== build-deb %s: %s (%s)\n' "$release" "$*" "$(date -u +%T)"; }
started=$(date +%s)
timing=()
lap() {
    local now
    now=$(date +%s)
    timing+=("$1: $((now - ${lap_start:-$started})) s")
    lap_start=$now
}

work=$(mktemp -d /tmp/ims-osc-plugin-deb.XXXXXX)
results=
# The results, logs included (also when a step failed), to DIR/RELEASE.
save_results() {
    if [ -n "$results" ] && [ -d "$results" ]; then
        rm -rf "${out:?}/$release"
        mkdir -p "$out/$release"
        cp -a "$results/." "$out/$release/"
        results=
    fi
}
# Runs a command in its own process group and waits for it: an
# interrupted run stops the whole group instead of leaving it running.
child=
in_group() {
    set -m
    "$@" &
    child=$!
    set +m
    wait "$child"
    child=
}
cleanup() {
    local rc=$?
    if [ -n "$child" ]; then
        kill -TERM -- "-$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [ $rc != 0 ] && [ -n "$results" ] && [ -d "$results" ]; then
        echo "build-deb.sh: failed; logs in $out/$release" >&2
    fi
    save_results
    if declare -F chroot_down >/dev/null; then
        chroot_down || true
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "host tools (testbed: $testbed; host: ${PRETTY_NAME:-unknown})"
host_packages=(git python3-pbr python3-setuptools python3-reno)
[ $testbed = host ] || host_packages+=(debootstrap)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${host_packages[@]}" >/dev/null

step 'the upstream sdist (the orig tarball)'
if [ $dirty = no ]; then
    if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
        git -C "$src" status --short --untracked-files=no >&2
        echo 'build-deb.sh: uncommitted changes: commit them, or pass' \
             '--dirty (the version names a commit)' >&2
        exit 1
    fi
    untracked=$(git -C "$src" ls-files --others --exclude-standard)
    if [ -n "$untracked" ]; then
        echo "build-deb.sh: not in the build (untracked):" \
            "$(tr '\n' ' ' <<<"$untracked")" >&2
    fi
fi
clone=$work/build/clone
git clone -q --no-hardlinks "$src" "$clone"
if [ $dirty = yes ]; then
    # The working tree's tracked and untracked (not ignored) files, staged
    # in the clone so that pbr lists them; the version stays HEAD's.
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf -) | tar -C "$clone" -xf -
    git -C "$clone" add -A
fi
commit=$(git -C "$clone" rev-parse HEAD)
commit_time=$(git -C "$clone" log -1 --format=%ct HEAD)
(cd "$clone" && python3 setup.py -q sdist -d "$work/sdist") >"$work/sdist.log" 2>&1 || {
    cat "$work/sdist.log" >&2
    exit 1
}
# What pbr and reno wrote (egg-info, AUTHORS, ChangeLog, the release notes
# and reno's cache, made by this host's reno) goes; the clone is the
# commit again.
git -C "$clone" clean -fdxq
sdist=$(echo "$work"/sdist/ims?osc?plugin-*.tar.gz)
if tar -tzf "$sdist" | grep -q '^[^/]*/debian/'; then
    echo 'build-deb.sh: the sdist carries debian/ (see MANIFEST.in)' >&2
    exit 1
fi
pbr_version=$(tar -xzOf "$sdist" --wildcards '*/PKG-INFO' |
    sed -n 's/^Version: //p' | head -n 1)
# pbr's pre-releases and development versions sort before the release in
# Debian with "~" (debian/watch mangles the same way).
upstream=$(sed -E 's/\.?(a|b|rc|dev)([0-9]+)$/~\1\2/' <<<"$pbr_version")

lap 'sdist'

if [ $testbed = chroot ]; then
    step "the $release chroot"
    . "$src/tools/deb/chroot.sh"
    # The tools tools/deb/build-and-test.sh installs first, kept in the
    # cached chroot.
    chroot_up "$release" "$work/chroot" build-essential dpkg-dev lintian \
        autopkgtest autodep8 git
    root=$CHROOT_ROOT
    lap "chroot ($release)"
else
    root=/
fi
release_number=$(. "$root/etc/os-release" && echo "${VERSION_ID:-}")
release_name="Debian${release_number:+ $release_number} ($release)"

# The source tree: the sdist, with debian/ from the commit.
step 'the source tree'
source_dir=$work/build/source
tree=$source_dir/ims-osc-plugin-$upstream
mkdir -p "$tree"
cp "$sdist" "$source_dir/ims-osc-plugin_$upstream.orig.tar.gz"
tar -C "$tree" --strip-components=1 -xzf "$sdist"
cp -a "$clone/debian" "$tree/"
cp "$clone/tools/deb/build-and-test.sh" "$work/build/"

# debian/changelog for this build. Its top entry is either the next
# release, UNRELEASED, which becomes a snapshot of the commit (as "gbp dch
# --snapshot" makes one): the sdist's version (0.1.0~devN-1) and the
# commit's date, so that SOURCE_DATE_EPOCH, and so the .deb, depend on the
# commit only; or a release, which must be the sdist's version and gets a
# rebuild entry on top. A build for a numbered Debian release ends its
# version in ~deb<number>: the builds for two releases differ (their
# Sphinx, their dh-python), so they must not share a file name; "~" sorts
# them before the plain version (a build for unstable), the newer
# release's after the older's, so upgrading Debian upgrades the package.
changelog=$tree/debian/changelog
suffix=${release_number:+~deb$release_number}
date=$(date -u -R -d "@$commit_time")
top=$(head -n 1 "$changelog")
top_version=$(sed -E 's/^[^ ]+ \(([^)]+)\).*/\1/' <<<"$top")
top_dist=$(sed -E 's/^[^)]+\) ([^;]+);.*/\1/' <<<"$top")
top_upstream=${top_version#*:}
top_upstream=${top_upstream%-*}
if [ "$top_dist" = UNRELEASED ]; then
    if [ "$top_upstream" != "${upstream%~*}" ]; then
        echo "build-deb.sh: debian/changelog prepares $top_upstream but" \
             "pbr builds $pbr_version (setup.cfg's version)" >&2
        exit 1
    fi
    version=$upstream-${top_version##*-}$suffix
    notes="  ** SNAPSHOT build @${commit:0:12} for $release_name **"
    if [ $dirty = yes ]; then
        notes+=$'\n  ** with uncommitted changes **'
    fi
    awk -v version="$version" -v date="$date" -v notes="$notes" '
        NR == 1 { sub(/\([^)]*\)/, "(" version ")") }
        NR == 3 { print notes; print "" }
        /^ -- / && !done { sub(/  .*$/, "  " date); done = 1 }
        { print }' "$changelog" >"$changelog.new"
elif [ "$top_upstream" != "$upstream" ]; then
    echo "build-deb.sh: debian/changelog releases $top_version but pbr" \
         "builds $pbr_version" >&2
    exit 1
elif [ -n "$suffix" ]; then
    version=$top_version$suffix
    maintainer=$(sed -n '/^ -- /{s/^ -- \(.*\)  .*$/\1/p;q}' "$changelog")
    {
        printf '%s (%s) %s; urgency=medium\n\n' "${top%% *}" "$version" "$release"
        printf '  * Rebuild for %s.\n\n -- %s  %s\n\n' \
            "$release_name" "$maintainer" "$date"
        cat "$changelog"
    } >"$changelog.new"
else
    version=$top_version
    cp "$changelog" "$changelog.new"
fi
mv "$changelog.new" "$changelog"
echo "commit $commit: pbr $pbr_version, Debian $version"
head -n 5 "$changelog"

if [ $testbed = chroot ]; then
    cp -a "$work/build" "$root/build"
    step "tools/deb/build-and-test.sh in the $release chroot"
    results=$root/build/out
    in_group chroot_run /bin/bash /build/build-and-test.sh /build/source \
        /build/clone /build/out
else
    step 'tools/deb/build-and-test.sh on the host'
    results=$work/build/out
    in_group bash "$work/build/build-and-test.sh" "$work/build/source" \
        "$clone" "$results"
fi
lap 'build and test'
summary="$(cat "$results/summary.txt")"
save_results

if [ $functional = yes ]; then
    step "functional smoke: $release's /usr/bin/openstack against Keystone and Glance"
    venv=${IMS_FUNCTIONAL_SERVERS_VENV:-$src/.tox/functional-servers}
    export IMS_FUNCTIONAL_SERVERS_VENV=$venv
    if [ ! -x "$venv/bin/python" ]; then
        apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        (cd "$clone" && python3 -c \
            'from ims_osc_plugin.tests.functional import stack; stack.ensure_servers_venv()')
    fi
    # The stack runs on the host with the servers' Python (it has
    # keystoneauth1); tools/deb/smoke.sh runs the testbed's openstack.
    cd "$clone"
    IMS_DEB_ROOT=$root IMS_DEB_STACK_PYTHON=$venv/bin/python \
        in_group "$venv/bin/python" -m ims_osc_plugin.tests.functional.stack \
        -- /bin/sh tools/deb/smoke.sh
    cd "$src"
    lap 'functional smoke'
fi

step "done: $release in $(( $(date +%s) - started )) s"
printf '%s\n' "$summary" "testbed=$testbed"
printf 'time %s\n' "${timing[@]}"
ls -l "$out/$release"/*.deb
