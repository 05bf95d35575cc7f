#!/bin/sh
# The README's two commands on a pristine Debian 12, on the first try.
#
#   tests/pristine/run.sh [COMMIT]      (as root; default: HEAD)
#
# Builds (once, cached) a Debian 12 root with mmdebstrap --variant=buildd,
# the smallest root that can build Debian packages: no -dev package servos
# needs, no busybox, no git. Each run unpacks a fresh copy, clones the
# repository into it, enters it with pivot_root in new mount and pid
# namespaces (the host's /dev, /sys and cgroups bound in, as on a machine),
# and runs `make quickstart`, then `make check` with CI=true, as CI does.
# apt inside reaches Debian's mirror through the host's network.
# Not part of `make check`: it takes minutes and needs the mirror.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COMMIT=${1:-HEAD}
CACHE=${SERVOS_PRISTINE_CACHE:-/var/cache/servos-pristine}
TARBALL=$CACHE/bookworm-buildd.tar
[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root" >&2; exit 1; }

if [ ! -s "$TARBALL" ]; then
    command -v mmdebstrap >/dev/null || apt-get install -y -qq mmdebstrap >/dev/null
    mkdir -p "$CACHE"
    echo "# building the pristine root (cached in $TARBALL)"
    mmdebstrap --quiet --variant=buildd --include=ca-certificates bookworm "$CACHE/partial.tar" \
        http://deb.debian.org/debian
    mv "$CACHE/partial.tar" "$TARBALL"
fi

WORK=$(mktemp -d /tmp/servos-pristine.XXXXXX)
cleanup() {
    # The namespaces die with their last process; only the files are left.
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir "$WORK/root"
tar -C "$WORK/root" -xf "$TARBALL"
cp /etc/resolv.conf "$WORK/root/etc/resolv.conf"
git clone -q --no-local "$ROOT" "$WORK/root/src/servos"
git -C "$WORK/root/src/servos" checkout -q "$(git -C "$ROOT" rev-parse "$COMMIT")"
echo "# commit $(git -C "$WORK/root/src/servos" log --oneline -1)"

cat >"$WORK/root/run-readme" <<'INNER'
#!/bin/sh
# Inside: the README's two commands, each once.
set -u
cd /src/servos
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
echo "# make quickstart"
make quickstart >/quickstart.log 2>&1; q=$?
tail -n 25 /quickstart.log
echo "# make quickstart: exit $q"
echo "# CI=true make check"
CI=true make check >/check.log 2>&1; c=$?
tail -n 20 /check.log
echo "# make check: exit $c"
[ $q -eq 0 ] && [ $c -eq 0 ]
INNER
chmod +x "$WORK/root/run-readme"

# New mount and pid namespaces; the fresh root becomes / by pivot_root,
# with the host's devices, sysfs (and its cgroups) and a new /proc.
unshare --mount --pid --fork --propagation private sh -eu -c '
    R=$1
    mount --bind "$R" "$R"
    mount --rbind /dev "$R/dev"
    mount --rbind /sys "$R/sys"
    mount -t proc proc "$R/proc"
    mount -t tmpfs tmpfs "$R/tmp"
    mount -t tmpfs tmpfs "$R/run"
    mkdir -p "$R/.old"
    cd "$R"
    pivot_root . .old
    umount -l /.old
    rmdir /.old
    exec /run-readme
' pristine "$WORK/root" && rc=0 || rc=$?
cp "$WORK/root/quickstart.log" "$WORK/root/check.log" "${TMPDIR:-/tmp}/" 2>/dev/null || true
echo "# logs: ${TMPDIR:-/tmp}/quickstart.log ${TMPDIR:-/tmp}/check.log"
exit $rc
