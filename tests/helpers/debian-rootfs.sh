#!/bin/sh
# A real Debian root file system for the tests: bookworm minbase made by
# mmdebstrap as root (so every file is host root's, as with debootstrap or
# an unpacked docker export), with its package lists kept so apt can plan
# an install offline. Made once (~40 s) into a cached tarball, then
# extracted into the directory given.
#
#   tests/helpers/debian-rootfs.sh DIR
#   tests/helpers/debian-rootfs.sh --tarball   (prints the cached tarball's path)
#
# Exit 0: DIR holds the root (or the tarball's path was printed). Exit 77 with the reason on stdout: no cache
# and the mirror cannot be reached (the caller skips). Anything else: a
# real failure.
set -eu
dir=${1:?usage: debian-rootfs.sh DIR}
cache_dir=${SERVOS_TEST_CACHE:-/var/cache/servos-test}
cache=$cache_dir/debian-minbase.tar
mirror=${SERVOS_TEST_MIRROR:-http://deb.debian.org/debian}

# A cache made without --skip=cleanup/apt/lists has no package lists: apt
# then knows no package, and the tarball is made anew.
has_lists() {
    tar -tf "$cache" 2>/dev/null | grep -q '^\./var/lib/apt/lists/.*_Packages$'
}

reachable() {
    python3 - "$mirror" <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/dists/bookworm/Release", timeout=15).close()
except Exception as e:
    sys.exit(1)
EOF
}

mkdir -p "$cache_dir"
# One builder at a time; the others wait for its result.
exec 9>"$cache_dir/.debian-minbase.lock"
flock 9
if ! [ -s "$cache" ] || ! has_lists; then
    if ! command -v mmdebstrap >/dev/null; then
        echo "mmdebstrap is not installed (.ci/deps installs it)" >&2
        exit 1
    fi
    if ! reachable; then
        echo "the Debian mirror $mirror cannot be reached, and $cache is missing or has no package lists"
        exit 77
    fi
    tmp=$cache_dir/.debian-minbase.$$.tar # mmdebstrap picks the format by the suffix
    trap 'rm -f "$tmp"' EXIT
    if ! mmdebstrap --quiet --variant=minbase --skip=cleanup/apt/lists bookworm "$tmp" \
        "$mirror" >&2; then
        if ! reachable; then
            echo "the Debian mirror $mirror stopped answering while mmdebstrap ran"
            exit 77
        fi
        echo "mmdebstrap failed" >&2
        exit 1
    fi
    mv "$tmp" "$cache"
    trap - EXIT
fi
exec 9>&-
if [ "$dir" = --tarball ]; then
    echo "$cache"
    exit 0
fi
mkdir -p "$dir"
tar -C "$dir" -xf "$cache"
