#!/bin/sh
# The guest for `make check-vm`: Debian 12 with its own kernel (6.1), built
# once by mmdebstrap from the apt sources this machine uses and cached under
# $VM_CACHE (/var/cache/servos-vm), in a directory named after a hash of
# everything that goes into it (this script, its package list, the files
# of tests/vm/rootfs, the apt sources): change one and the next run builds
# anew. Prints that directory, which holds
#   root.img     the root file system (ext4, made with mke2fs -d)
#   vmlinuz      the kernel and
#   initrd.img   its initramfs, taken out of the image for qemu's -kernel/-initrd
#   packages     what is installed, with versions
# Progress goes to stderr. VM_REBUILD=1 builds even when the image exists
# (for a mirror that has moved on: the hash does not see new versions).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${VM_CACHE:-/var/cache/servos-vm}
SUITE=bookworm
# The Debian entries of this machine's apt sources (deb822, or the one-line
# format): the mirror that is reachable from here.
SOURCES=${VM_SOURCES:-}
if [ -z "$SOURCES" ]; then
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [ -s "$f" ] && grep -q "$SUITE" "$f" && SOURCES=$f && break
    done
fi
[ -n "$SOURCES" ] || {
    echo "servos-vm: no apt source for $SUITE in /etc/apt (set VM_SOURCES)" >&2
    exit 1
}

# The kernel and its initramfs; tini as the tests' reaper (rootfs/usr/local/sbin/
# servos-vm-init); what build/servos loads (linked: libgit2, libmnl; with
# dlopen: libarchive, libcurl, libcrypto, libmicrohttpd, libbpf); what the
# end-to-end tests call (prove is perl's; busybox-static as on the host,
# see .ci/deps; gcc for the security tests' probes, ab and tmux for the
# ProServe and terminal tests, so that VM_TESTS can name those too), and
# crun and column for the runtime bench (run.sh's VM_BENCH). The host's
# -dev packages in .ci/deps name the same libraries.
PACKAGES="linux-image-amd64 initramfs-tools zstd kmod udev tini
libgit2-1.5 libmnl0 libarchive13 libcurl4 libssl3 libmicrohttpd12 libbpf1
bash busybox-static coreutils findutils grep sed gawk util-linux procps iproute2
curl wget perl python3 jq keyutils git ca-certificates e2fsprogs
gcc libc6-dev apache2-utils tmux crun bsdextrautils"

key=$({
    cat "$0" "$SOURCES"
    (cd "$here/rootfs" && find . -type f | LC_ALL=C sort | xargs sha256sum)
} | sha256sum | cut -c1-16)
dir=$CACHE/bookworm-$key

if [ -s "$dir/root.img" ] && [ "${VM_REBUILD:-0}" != 1 ]; then
    echo "$dir"
    exit 0
fi

mkdir -p "$CACHE"
# Two runs at once would build twice into the same place: one builds,
# the other waits and then finds it built.
exec 9>"$CACHE/.build.lock"
flock 9
if [ -s "$dir/root.img" ] && [ "${VM_REBUILD:-0}" != 1 ]; then
    echo "$dir"
    exit 0
fi

tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
# --one-file-system: should mmdebstrap die holding its mounts of /dev,
# /proc or /sys in the root it builds, they are not emptied with it.
trap 'rm -rf --one-file-system "$tmp"' EXIT
t0=$(date +%s)
echo "servos-vm: building the guest image ($SUITE, from $SOURCES) in $dir" >&2
# rootfs/ goes in before the kernel is installed, so that its initramfs
# is made once, with the configuration there (MODULES=list: only virtio
# and ext4). (rootfs/ must hold no directory that merged /usr makes a
# link, /sbin or /lib: tar would put a directory in the link's place.)
# Documentation and translations are left out: nobody reads
# them in the guest, and every byte is copied into the image.
# (The hooks' "$1", the root being built, is mmdebstrap's to expand.)
# shellcheck disable=SC2086,SC2016
mmdebstrap --mode=root --format=directory --variant=minbase \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --include="$(echo $PACKAGES | tr ' ' ',')" \
    --essential-hook="sync-in $here/rootfs /" \
    --customize-hook='mkdir -p "$1/work" && echo servos-vm >"$1/etc/hostname"' \
    --customize-hook='chroot "$1" dpkg-query -W >"$1/.packages"' \
    "$SUITE" "$tmp/root" "$SOURCES" >&2
t1=$(date +%s)

mkdir -p "$tmp/out"
mv "$tmp/root/.packages" "$tmp/out/packages"
# The kernel and initramfs boot from outside (-kernel, -initrd): no boot
# loader, no partition table.
# (One kernel: the glob's last match is it.)
for f in "$tmp"/root/boot/vmlinuz-*; do cp "$f" "$tmp/out/vmlinuz"; done
for f in "$tmp"/root/boot/initrd.img-*; do cp "$f" "$tmp/out/initrd.img"; done
# Room for the tests' containers and state beside the system (sparse: the
# file takes only what is written). Each run boots it with snapshot=on, so
# the image stays as built.
used=$(du -sm "$tmp/root" | cut -f1)
mke2fs -q -t ext4 -L servos-vm -d "$tmp/root" "$tmp/out/root.img" "$((used + 3072))M" >&2
rm -rf "$tmp/root"

rm -rf "$dir"
mv "$tmp/out" "$dir"
# Older images (other hashes) are of no more use.
for old in "$CACHE"/bookworm-*; do
    [ "$old" = "$dir" ] || rm -rf "$old"
done
kernel=$(awk '/^linux-image-[0-9]/ {print $2; exit}' "$dir/packages")
echo "servos-vm: image built in $((t1 - t0)) s (mmdebstrap) + $(($(date +%s) - t1)) s (ext4)," \
    "$(du -sm "$dir" | cut -f1) MB on disk, kernel $kernel" >&2
echo "$dir"
