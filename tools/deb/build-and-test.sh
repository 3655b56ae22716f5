#!/bin/bash
# Build and check python3-ims-osc-plugin and python-ims-osc-plugin-doc on
# the Debian release they are for.
# tools/build-deb.sh prepares the source and runs this script, as root, in
# the testbed: the host itself when the host is that release, else a
# chroot of the release.
#
# Usage: build-and-test.sh SOURCE CLONE OUT
#   SOURCE holds the orig tarball (the upstream sdist) and the unpacked
#          source tree ims-osc-plugin-<version>/ with debian/;
#   CLONE  is the git clone the sdist was made from;
#   OUT    receives the results (created).
#
# 1. Three builds, each right after apt-get installs the build
#    dependencies that kind of build declares (in a fresh chroot nothing
#    else is there, so a missing one fails the build):
#    - the -B build's debian/rules targets with Build-Depends alone (they
#      must build nothing: the one package is Architecture: all);
#    - "dpkg-buildpackage -A" with the nocheck profile and option (no test
#      tools installed; the tests must be skipped);
#    - a full build (source and binary) with the unit tests; it gives the
#      .changes that lintian checks.
# 2. Each .deb of the two builds must be byte-identical although they differ in
#    folder, umask, time zone, locale, parallelism and nocheck; if they are
#    not, diffoscope shows where.
# 3. lintian on the .changes (the source package and the .deb): any error
#    or warning fails.
# 4. apt-get installs the .debs beside the release's python3-openstackclient
#    (the HTML guides must be where the manual page says they are);
#    the version its Python metadata gives (importlib, pip show) must be
#    the package's.
# 5. autopkgtest (the null runner: this testbed) runs debian/tests and
#    autodep8's import test against the installed package.
# 6. The documentation and the release notes build with the release's
#    Sphinx and reno (warnings are errors), from the git clone.
#
# OUT gets the .changes and what it names, the build logs, lintian.txt,
# autopkgtest/ and summary.txt (key=value lines for the report).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 TZ=UTC
umask 022

src=$(cd "$1" && pwd)
clone=$(cd "$2" && pwd)
mkdir -p "$3"
out=$(cd "$3" && pwd)
tree=$(echo "$src"/ims-osc-plugin-*/)
tree=${tree%/}
orig=$(echo "$src"/ims-osc-plugin_*.orig.tar.*)
for f in "$tree/debian/control" "$orig"; do
    [ -e "$f" ] || { echo "build-and-test.sh: $f is missing" >&2; exit 2; }
done
work=$(mktemp -d /tmp/ims-deb-build.XXXXXX)
# autopkgtest's null runner gives this system an apt source and a pin for
# the .debs it tests, and takes them away at the end; an interrupted run
# would leave them, and apt-get broken: they go then.
autopkgtest_apt=(/etc/apt/sources.list.d/autopkgtest.list
                 /etc/apt/preferences.d/90autopkgtest)
autopkgtest_running=no
cleanup() {
    if [ $autopkgtest_running = yes ]; then
        rm -f "${autopkgtest_apt[@]}"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A neutral folder: Python puts the current one first on sys.path, and the
# caller's (a checkout) would shadow the installed package.
cd "$work"
. /etc/os-release

step() { printf '\n=== %s: %s (%s)\n' "$VERSION_CODENAME" "$*" "$(date -u +%T)"; }
summary() { printf '%s=%s\n' "$1" "$2" >>"$out/summary.txt"; }
: >"$out/summary.txt"

# Runs a command with its output in a log file; on failure shows the end.
logged() {
    local log=$1
    shift
    if ! "$@" >>"$log" 2>&1; then
        echo "failed: $* (last lines of $log):" >&2
        tail -n 60 "$log" >&2
        return 1
    fi
}

apt_install() {
    logged "$out/apt.log" apt-get install -y --no-install-recommends "$@"
}

build_dep() {
    logged "$out/apt.log" apt-get build-dep -y "$@" "$tree"
}

# A fresh copy of the source for one build, in its own folder.
copy_source() {
    mkdir -p "$1"
    cp "$orig" "$1/"
    cp -a "$tree" "$1/"
    echo "$1/$(basename "$tree")"
}

step 'apt-get update, dpkg-dev, lintian, autopkgtest'
logged "$out/apt.log" apt-get update
apt_install build-essential dpkg-dev lintian autopkgtest autodep8 git
summary release "$VERSION_CODENAME"
summary debian "$(cat /etc/debian_version)"

step 'the -B build (build-arch, binary-arch), with Build-Depends only'
# What "dpkg-buildpackage -B" runs, up to its dpkg-genbuildinfo, which
# refuses a build without artifacts ("binary build with no binary artifacts
# found"), as it is for every source with only Architecture: all packages
# (Debian never schedules a -B build of one): the debian/rules targets must
# work with Build-Depends alone, and build nothing.
build_dep --arch-only
dir=$(copy_source "$work/arch")
(cd "$dir" && logged "$out/build-arch.log" sh -exc \
    'dpkg-checkbuilddeps -B; debian/rules clean; debian/rules build-arch;
     debian/rules binary-arch')
if ls "$work"/arch/*.deb >/dev/null 2>&1; then
    echo 'the -B build made a .deb: the package is Architecture: all only' >&2
    exit 1
fi
echo 'build-arch and binary-arch: done, nothing to build'

step 'dpkg-buildpackage -A, nocheck (no test tools installed)'
build_dep --indep-only -P nocheck
# Another folder, umask, time zone, locale and parallelism than the full
# build below: none may change the .deb.
dir=$(copy_source "$work/second-build-somewhere-else/indep")
(cd "$dir" && umask 002 && \
    TZ=XYZ-14 LC_ALL=C DEB_BUILD_PROFILES=nocheck \
    DEB_BUILD_OPTIONS='nocheck parallel=1' \
    logged "$out/build-indep-nocheck.log" dpkg-buildpackage -us -uc -A)
if grep -q 'stestr run' "$out/build-indep-nocheck.log"; then
    echo 'the nocheck build ran the tests' >&2
    exit 1
fi
indep_dir=$work/second-build-somewhere-else/indep

step 'dpkg-buildpackage (source and binary), with the unit tests'
build_dep
dir=$(copy_source "$work/full")
(cd "$dir" && DEB_BUILD_OPTIONS=parallel=2 \
    logged "$out/build-full.log" dpkg-buildpackage -us -uc)
sed -n '/^Totals/,/Sum of/p' "$out/build-full.log"
summary unit_tests_at_build "$(grep -E '^Ran: [0-9]+ tests' "$out/build-full.log" |
    sed -E 's/^Ran: ([0-9]+) tests.*/\1/' | paste -sd+)"
changes=$(echo "$work"/full/*.changes)
# The plugin and its documentation (python-ims-osc-plugin-doc).
debs=("$work"/full/*.deb)
deb=$(echo "$work"/full/python3-ims-osc-plugin_*.deb)
doc_deb=$(echo "$work"/full/python-ims-osc-plugin-doc_*.deb)
for f in "$deb" "$doc_deb"; do
    [ -f "$f" ] || { echo "build-and-test.sh: $f was not built" >&2; exit 1; }
done
# The .changes and the files it names: .dsc, orig and debian tarballs,
# .deb, .buildinfo.
find "$work/full" -maxdepth 1 -type f -exec cp {} "$out/" \;

step "reproducibility: the two builds' .debs"
summary deb "$(basename "$deb")"
summary doc_deb "$(basename "$doc_deb")"
for built in "${debs[@]}"; do
    name=$(basename "$built")
    other=$indep_dir/$name
    if [ ! -f "$other" ]; then
        echo "the -A nocheck build did not make $name" >&2
        exit 1
    fi
    full_sum=$(sha256sum <"$built" | cut -d' ' -f1)
    indep_sum=$(sha256sum <"$other" | cut -d' ' -f1)
    echo "$full_sum  $name, full build"
    echo "$indep_sum  $name, -A nocheck build"
    key=${name%%_*}
    key=${key//-/_}
    summary "sha256_full_build_$key" "$full_sum"
    summary "sha256_second_build_$key" "$indep_sum"
    if [ "$full_sum" != "$indep_sum" ]; then
        apt_install diffoscope-minimal
        diffoscope --no-progress "$other" "$built" | head -n 200 || true
        echo "the two builds gave different $name" >&2
        exit 1
    fi
done

step 'lintian (source package and .deb)'
lintian --version
# As an ordinary user, as lintian wants, on a readable copy.
lint=$(mktemp -d /tmp/ims-deb-lintian.XXXXXX)
find "$work/full" -maxdepth 1 -type f -exec cp {} "$lint/" \;
chmod -R a+rX "$lint"
(cd "$lint" && runuser -u nobody -- lintian --display-info \
    --fail-on error,warning "$(basename "$changes")") \
    >"$out/lintian.txt" 2>&1 || lintian_rc=$?
rm -rf "$lint"
cat "$out/lintian.txt"
summary lintian "$(lintian --version | awk '{print $2}')"
if [ "${lintian_rc:-0}" != 0 ]; then
    echo 'lintian: errors or warnings' >&2
    exit 1
fi

step "apt-get install $(basename "$deb") $(basename "$doc_deb")"
# Whatever version was installed before (a build of another commit).
apt_install --allow-downgrades "$out/$(basename "$deb")" \
    "$out/$(basename "$doc_deb")"
# The guides, where the manual page says they are, with Sphinx's
# JavaScript from libjs-sphinxdoc (dh_sphinxdoc).
html=/usr/share/doc/python-ims-osc-plugin-doc/html
for page in index troubleshooting usage delete-backup; do
    [ -s "$html/$page.html" ] || {
        echo "python-ims-osc-plugin-doc lacks $html/$page.html" >&2
        exit 1
    }
done
if ! zcat /usr/share/man/man1/openstack-image-delete.1.gz |
        sed 's/\\-/-/g' | grep -qF "$html"; then
    echo 'the manual page does not point to the HTML guides' >&2
    exit 1
fi
summary doc_pages "$(find "$html" -name '*.html' | wc -l)"
dpkg-query -W -f '${Package} ${Version}\n' python3-ims-osc-plugin \
    python3-openstackclient python3-osc-lib python3-openstacksdk \
    python3-keystoneauth1 python3-cliff python3
summary python3_openstackclient "$(dpkg-query -W -f '${Version}' python3-openstackclient)"
summary python "$(python3 -c 'import platform; print(platform.python_version())')"
deb_version=$(dpkg-query -W -f '${Version}' python3-ims-osc-plugin)
upstream=${deb_version#*:}
upstream=${upstream%-*}
python_version=$(python3 -c \
    'import importlib.metadata as m; print(m.version("ims-osc-plugin"))')
echo "package $deb_version, Python metadata (pip show) $python_version"
summary version_deb "$deb_version"
summary version_python "$python_version"
if [ "${upstream//\~/.}" != "$python_version" ]; then
    echo "the package's version ($deb_version) is not the Python" \
         "metadata's ($python_version)" >&2
    exit 1
fi

step 'autopkgtest (null runner: this testbed)'
rm -rf "$out/autopkgtest"
for f in "${autopkgtest_apt[@]}"; do
    if [ -e "$f" ]; then
        echo "$f exists: is another autopkgtest running here?" >&2
        exit 1
    fi
done
autopkgtest_rc=0
autopkgtest_running=yes
autopkgtest --env=PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    --output-dir "$out/autopkgtest" "$out/$(basename "$changes")" \
    -- null >"$out/autopkgtest.log" 2>&1 || autopkgtest_rc=$?
autopkgtest_running=no
cat "$out/autopkgtest/summary" 2>/dev/null || true
summary autopkgtest "$(awk '{ printf "%s%s", sep, $0; sep = ", " }' \
    "$out/autopkgtest/summary" 2>/dev/null | tr -s ' ') (exit $autopkgtest_rc)"
summary unit_tests_autopkgtest "$(grep -hE '^Ran: [0-9]+ tests' \
    "$out/autopkgtest/unittests-stdout" 2>/dev/null |
    sed -E 's/^Ran: ([0-9]+) tests.*/\1/' | paste -sd+)"
# 0: every test ran and passed (2 would be a skipped test).
if [ "$autopkgtest_rc" != 0 ]; then
    tail -n 80 "$out/autopkgtest.log" >&2
    echo "autopkgtest failed (exit $autopkgtest_rc)" >&2
    exit 1
fi

step "documentation and release notes with the release's Sphinx and reno"
# From the git clone: Debian 12's reno (2.11) reads the notes from git
# even where the sdist carries its cache. The egg-info that the sdist left
# there gives Sphinx the entry points and the version.
apt_install python3-reno
(cd "$clone" && python3 -m sphinx -q -W --keep-going -b html \
    -d "$work/doctrees" doc/source "$work/html")
(cd "$clone" && python3 -m sphinx -q -W --keep-going -b html \
    -d "$work/rn-doctrees" releasenotes/source "$work/releasenotes")
dpkg-query -W -f '${Package} ${Version}\n' python3-sphinx python3-reno

logged "$out/apt.log" apt-get autoclean
step 'done'
