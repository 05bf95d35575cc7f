#!/usr/bin/env bash
# Benchmark: `servos run --rm` of /bin/true on a busybox rootfs against
# `crun run` and `runc run` on the same rootfs with the same namespaces
# (pid, mount, uts, ipc, net, cgroup and user, container root mapped to the
# same unprivileged range), and `podman run --rm --network none`. Prints
# medians, ratios to crun and peak RSS, all from one interleaved run
# (lib.sh). Goals: servos <= 0.5x crun; servos' peak RSS <= crun's. The
# floor, `unshare` + `chroot` of the same command in the same namespaces,
# is shown for scale.
#
# crun refuses a hybrid cgroup host until hugetlb has a v1 hierarchy of its
# own; this script mounts one for crun (and removes it after). servos needs
# no such preparation.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-60}
T=$(mktemp -d /tmp/servos-bench-run.XXXXXX)
chmod 711 "$T"
MOUNTED_HUGETLB=
cleanup() {
    if [ -d "$T/podman" ]; then
        podman --root "$T/podman" --runroot "$T/podman-run" system reset -f >/dev/null 2>&1 || true
        findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
    [ -n "$MOUNTED_HUGETLB" ] && umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb
    SERVOS_ROOT=$T/servos "$SERVOS" rm -f $(SERVOS_ROOT=$T/servos "$SERVOS" ls -q 2>/dev/null) >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

# A busybox root file system (links relative, so they work inside).
mkdir -p "$T/rootfs/bin"
cp "$(command -v busybox)" "$T/rootfs/bin/busybox"
for app in $("$T/rootfs/bin/busybox" --list); do
    [ "$app" = busybox ] || ln -s busybox "$T/rootfs/bin/$app"
done

BASE=1000000000 # servos' reserved range when /etc/subuid has none for root
grep -qE '^(servos|root):' /etc/subuid 2>/dev/null &&
    BASE=$(grep -E '^(servos|root):' /etc/subuid | head -1 | cut -d: -f2)

have() { command -v "$1" >/dev/null 2>&1; }
cmds=() names=()
export SERVOS_ROOT=$T/servos
"$SERVOS" run --rm "$T/rootfs" /bin/true # warm the state root
cmds+=("$SERVOS run --rm $T/rootfs /bin/true") names+=(servos)

oci_bundle() { # DIR: a bundle for crun/runc with servos' namespaces
    mkdir -p "$1"
    cp -a "$T/rootfs" "$1/rootfs"
    chown -R "$BASE:$BASE" "$1/rootfs"
    (cd "$1" && crun spec)
    jq --argjson b "$BASE" '.process.args=["/bin/true"] | .process.terminal=false
        | .root.readonly=false
        | .linux.namespaces += [{"type":"user"},{"type":"cgroup"}]
        | .linux.uidMappings=[{"containerID":0,"hostID":$b,"size":65536}]
        | .linux.gidMappings=[{"containerID":0,"hostID":$b,"size":65536}]' \
        "$1/config.json" >"$1/c" && mv "$1/c" "$1/config.json"
}
if have crun && have jq; then
    if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
        ! mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null; then
        mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb none /sys/fs/cgroup/hugetlb &&
            MOUNTED_HUGETLB=1
    fi
    oci_bundle "$T/oci"
    if crun --root "$T/crun" run -b "$T/oci" b0 >/dev/null 2>&1; then
        cmds+=("crun --root $T/crun run -b $T/oci b1") names+=(crun)
    else
        echo "crun: cannot run here: $(crun --root "$T/crun" run -b "$T/oci" b0 2>&1 | tail -1)"
    fi
    if have runc; then
        if runc --root "$T/runc" run -b "$T/oci" r0 >/dev/null 2>&1; then
            cmds+=("runc --root $T/runc run -b $T/oci r1") names+=(runc)
        else
            echo "runc: cannot run here: $(runc --root "$T/runc" run -b "$T/oci" r0 2>&1 | tail -1)"
        fi
    fi
fi
if have podman; then
    P="podman --root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none"
    # podman asks for rlimits above the hard limit, which root here cannot
    # raise (no CAP_SYS_RESOURCE): ask for what the host allows.
    U="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"
    if tar -C "$T/rootfs" -c . | $P import - localhost/bb >/dev/null 2>&1 &&
        $P run --rm --network none $U localhost/bb /bin/true >/dev/null 2>&1; then
        cmds+=("$P run --rm --network none $U localhost/bb /bin/true") names+=(podman)
    else
        echo "podman: cannot run here"
    fi
fi

if have unshare; then
    cmds+=("unshare -UCfpimnu --map-root-user --mount-proc=$T/rootfs/proc chroot $T/rootfs /bin/true")
    names+=(floor)
    mkdir -p "$T/rootfs/proc"
fi

args=()
for i in "${!cmds[@]}"; do
    # shellcheck disable=SC2206
    words=(${cmds[$i]})
    [ "$i" = 0 ] || args+=(--)
    args+=("${names[$i]}=${words[0]}" "${words[@]:1}")
done
# `crun run` and `runc run` remove their container when it exits, so one
# name serves every run.
alternate_run "$T/times" "$RUNS" "${args[@]}"
cat "$T/times" >&2
for n in "${names[@]}"; do
    f=$(field "$T/times" "$n" 8)
    [ "$f" = 0 ] || echo "$n: $f of $RUNS runs failed" >&2
done
s_med=$(field "$T/times" servos 2) s_rss=$(field "$T/times" servos 7)
if [ -n "$(field "$T/times" crun 2)" ]; then
    c_med=$(field "$T/times" crun 2) c_rss=$(field "$T/times" crun 7)
    bench_row "run --rm /bin/true (busybox)" "$(spread "$T/times" servos)" \
        "crun $(spread "$T/times" crun)" "$(ratio "$s_med" "$c_med")" "<= 0.50x crun" \
        "$(check le "$s_med" "$(awk -v c="$c_med" 'BEGIN{print c*0.5}')")"
    bench_row "run peak RSS" "$((s_rss / 1024)).$((s_rss % 1024 * 10 / 1024)) MB" \
        "crun $((c_rss / 1024)).$((c_rss % 1024 * 10 / 1024)) MB" "$(ratio "$s_rss" "$c_rss")" \
        "<= crun" "$(check le "$s_rss" "$c_rss")"
else
    bench_row "run --rm /bin/true (busybox)" "$(spread "$T/times" servos)" "crun: not here" - \
        "<= 0.50x crun" 1
fi
for peer in runc podman floor; do
    [ -n "$(field "$T/times" $peer 2)" ] || continue
    bench_row "  $peer, same run (for scale)" "" "$peer $(spread "$T/times" $peer)" \
        "$(ratio "$s_med" "$(field "$T/times" $peer 2)")" - 0
done
bench_done
