#!/usr/bin/env bash
# Temporary probe (not committed): where a start's time goes in the guest.
. "$(dirname "$0")/lib.sh"
use_containers
cleanup() { remove_containers; }
ROOTFS=$TMP/rootfs
mkdir -p "$ROOTFS/bin"
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
ln -s busybox "$ROOTFS/bin/true"
chmod 755 "$TMP"
"$S" run --rm "$ROOTFS" /bin/true
for i in 1 2 3 4; do
    SERVOS_TRACE=1 "$S" run --rm "$ROOTFS" /bin/true 2>&1 | awk '{ms=substr($3,2); $1=$2=$3=$4=""; printf "%s=%s ", substr($0,5,18), ms} END {print ""}' | sed 's/^/# /' >&2
done
pass "traced"
done_testing
