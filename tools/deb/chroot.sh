# Chroots of Debian releases for tools/build-deb.sh (sourced by it).
#
# A release's chroot is made once per machine, with "debootstrap
# --variant=minbase" from Debian's archive plus the tools the caller names
# (dpkg-dev, lintian, autopkgtest...), and kept in
# $IMS_DEB_CACHE/<release>/base, with apt's package cache beside it
# (<release>/archives: debootstrap and every later apt-get in the chroot
# download there, so each package is fetched once). Each build uses an
# overlay over the base: what the build installs goes away with the
# overlay, so every build starts from the release and those tools only,
# and the build dependencies it declares are checked for real.
#
# Before each use the base is checked: its stamp names the release, the
# mirror and the tools, its os-release names the release, "dpkg --audit"
# finds nothing half-installed, the tools are installed and apt-get runs.
# A base that fails is made anew. Once a day its package lists are
# updated and its packages upgraded. A lock file keeps the base from
# changing while an overlay uses it (overlayfs forbids that), so several
# builds can share it.
#
# Environment: IMS_DEB_CACHE (default /var/cache/ims-osc-plugin-deb),
# IMS_DEB_MIRROR (default http://deb.debian.org/debian) and
# IMS_DEB_SECURITY_MIRROR (default http://deb.debian.org/debian-security).

IMS_DEB_CACHE=${IMS_DEB_CACHE:-/var/cache/ims-osc-plugin-deb}
IMS_DEB_MIRROR=${IMS_DEB_MIRROR:-http://deb.debian.org/debian}
IMS_DEB_SECURITY_MIRROR=${IMS_DEB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CHROOT_ENV=(/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
            LC_ALL=C.UTF-8 TZ=UTC DEBIAN_FRONTEND=noninteractive)
_chroot_mounts=()
_chroot_tools=()

# Mounts, remembered for chroot_down (unmounted in reverse order).
_mount() {
    mount "$@"
    _chroot_mounts+=("${!#}")
}

_unmount_all() {
    local i
    for ((i = ${#_chroot_mounts[@]} - 1; i >= 0; i--)); do
        umount "${_chroot_mounts[i]}" 2>/dev/null ||
            umount --lazy "${_chroot_mounts[i]}"
    done
    _chroot_mounts=()
}

# /proc, the host's /dev/pts (apt and dpkg log through a pty) and apt's
# package cache inside ROOT.
_mount_basics() {
    _mount -t proc proc "$1/proc"
    _mount --bind /dev/pts "$1/dev/pts"
    _mount --bind "$_chroot_archives" "$1/var/cache/apt/archives"
    cp -L /etc/resolv.conf "$1/etc/resolv.conf"
}

_in_chroot() {
    local root=$1
    shift
    chroot "$root" "${CHROOT_ENV[@]}" "$@"
}

_base_ok() {
    local base=$1 release=$2
    [ -f "$base.stamp" ] &&
        [ "$(head -n 1 "$base.stamp")" = "$_chroot_stamp" ] &&
        grep -qx "VERSION_CODENAME=$release" "$base/etc/os-release" &&
        [ -z "$(_in_chroot "$base" dpkg --audit 2>&1)" ] &&
        _in_chroot "$base" dpkg-query -W "${_chroot_tools[@]}" >/dev/null 2>&1 &&
        _in_chroot "$base" apt-get --version >/dev/null 2>&1
}

# The release with its -updates and -security suites; a throwaway system:
# no services start, dpkg does not sync each file, man-db does not index
# manual pages, apt fetches no translations.
_configure() {
    local root=$1 release=$2
    rm -f "$root/etc/apt/sources.list"
    case $release in
        sid|unstable|experimental)
            printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' \
                "$IMS_DEB_MIRROR" "$release" ;;
        *)
            printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n\n' \
                "$IMS_DEB_MIRROR" "$release" "$release"
            printf 'Types: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$IMS_DEB_SECURITY_MIRROR" "$release" ;;
    esac >"$root/etc/apt/sources.list.d/debian.sources"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/ims-unsafe-io"
    echo 'Acquire::Languages "none";' \
        >"$root/etc/apt/apt.conf.d/ims-no-translations"
    echo 'man-db man-db/auto-update boolean false' |
        _in_chroot "$root" debconf-set-selections
}

_make_base() {
    local base=$1 release=$2
    echo "chroot: making $base (debootstrap --variant=minbase $release)"
    rm -rf "$base" "$base.stamp"
    debootstrap --variant=minbase --cache-dir="$_chroot_archives" \
        "$release" "$base" "$IMS_DEB_MIRROR" >"$base.debootstrap.log" 2>&1 || {
        tail -n 30 "$base.debootstrap.log" >&2
        return 1
    }
    _configure "$base" "$release"
    _refresh_base "$base"
}

# Updates the package lists, upgrades, and installs the tools.
_refresh_base() {
    local base=$1
    echo "chroot: apt-get update, upgrade, install ${_chroot_tools[*]}"
    _mount_basics "$base"
    if ! { _in_chroot "$base" apt-get update &&
           _in_chroot "$base" apt-get -y dist-upgrade &&
           _in_chroot "$base" apt-get install -y --no-install-recommends \
               "${_chroot_tools[@]}" &&
           _in_chroot "$base" apt-get autoclean; } >"$base.apt.log" 2>&1
    then
        tail -n 30 "$base.apt.log" >&2
        _unmount_all
        return 1
    fi
    _unmount_all
    printf '%s\n' "$_chroot_stamp" >"$base.stamp"
}

# chroot_up RELEASE WORKDIR [TOOL...]: a chroot of RELEASE with the TOOL
# packages: an overlay over the cached base, its upper layer in WORKDIR.
# Sets CHROOT_ROOT.
chroot_up() {
    local release=$1 work=$2 cache=$IMS_DEB_CACHE/$1
    local base=$cache/base
    shift 2
    _chroot_tools=("$@")
    _chroot_archives=$cache/archives
    _chroot_stamp="release=$release variant=minbase mirror=$IMS_DEB_MIRROR"
    _chroot_stamp+=" tools=${_chroot_tools[*]}"
    mkdir -p "$_chroot_archives"
    exec {_chroot_lock}>"$IMS_DEB_CACHE/$release.lock"
    flock -x "$_chroot_lock"
    if ! _base_ok "$base" "$release"; then
        _make_base "$base" "$release"
    elif [ -n "$(find "$base.stamp" -mmin +1440)" ]; then
        _refresh_base "$base"
    else
        echo "chroot: reusing $base (checked)"
    fi
    flock -s "$_chroot_lock"
    CHROOT_ROOT=$work/root
    mkdir -p "$work/upper" "$work/ovl-work" "$CHROOT_ROOT"
    _mount -t overlay overlay \
        -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl-work" \
        "$CHROOT_ROOT"
    _mount_basics "$CHROOT_ROOT"
}

# chroot_run COMMAND...: runs COMMAND in the chroot with a clean
# environment (Debian's PATH).
chroot_run() {
    _in_chroot "$CHROOT_ROOT" "$@"
}

# chroot_down: unmounts the overlay and what is mounted in it, and lets
# the base go.
chroot_down() {
    _unmount_all
    if [ -n "${_chroot_lock:-}" ]; then
        exec {_chroot_lock}>&-
        _chroot_lock=
    fi
}
