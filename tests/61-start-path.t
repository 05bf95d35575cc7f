#!/usr/bin/env bash
# What a container start does on its way, seen from outside: which cgroups
# it gets (on a hybrid host: a group in the unified hierarchy, v1 groups
# only for the limits it has), a root file system directory owned by host
# root shown to the container as its own (idmapped through the container's
# own user namespace), and SERVOS_TRACE, which says where the time goes and
# must never change what the container sees or break a stack.
. "$(dirname "$0")/lib.sh"
use_containers
CGP=$(cgroup_parent)
cleanup() {
    "$S" down -t 0 -p tracestack >/dev/null 2>&1
    remove_containers
}

# A busybox root, made by root as mmdebstrap or tar would: host ids.
ROOTFS=$TMP/rootfs
mkdir -p "$ROOTFS/bin"
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for app in sh cat stat id touch ls sleep true; do ln -s busybox "$ROOTFS/bin/$app"; done
chmod 755 "$TMP"

groups_of() { # ID: the container's cgroup directories, as hierarchy names
    find /sys/fs/cgroup -maxdepth 4 -type d -path "*/$CGP/$1" 2>/dev/null |
        sed "s|^/sys/fs/cgroup/||; s|/$CGP/$1\$||" | sort | tr '\n' ' '
}

mode=$("$S" detect --json | jq -r .cgroup)
id=$("$S" run -d "$ROOTFS" sleep 30)
if [ "$mode" = hybrid ]; then
    is "$(groups_of "$id")" "unified " "hybrid host: a container without limits has only its unified group"
    grep -q "^0::/$CGP/$id\$" "/proc/$(jq -r '.[0].pid' <<<"$("$S" ls --format json)")/cgroup"
    ok $? "and its process is in it"
else
    skip "not a hybrid host ($mode)" 2
fi
"$S" rm -f "$id" >/dev/null
is "$(groups_of "$id")" "" "rm leaves none of its groups"

id=$("$S" run -d --memory 64m --pids 50 "$ROOTFS" sleep 30)
if [ "$mode" = hybrid ]; then
    is "$(groups_of "$id")" "memory pids unified " "with --memory and --pids: those two v1 groups beside the unified one"
    pid=$("$S" ls --format json | jq -r '.[0].pid')
    grep -q "^[0-9]*:memory:/$CGP/$id\$" "/proc/$pid/cgroup"
    ok $? "and its process is in the memory group"
    is "$(cat "/sys/fs/cgroup/pids/$CGP/$id/pids.max")" 50 "pids.max is set"
else
    skip "not a hybrid host ($mode)" 3
fi
"$S" rm -f "$id" >/dev/null
is "$(groups_of "$id")" "" "rm leaves none of them"

run "$S" run --rm "$ROOTFS" sh -c 'stat -c "%u:%g" /bin/busybox; touch /new && echo wrote'
is "$out" "0:0
wrote" "a host-root-owned root directory is the container root's, and writable (overlay)"
is "$(stat -c %u "$ROOTFS/bin/busybox")" 0 "and the host directory is unchanged"
[ ! -e "$ROOTFS/new" ]
ok $? "the write went to the container's upper layer"

run env SERVOS_TRACE=1 "$S" run --rm "$ROOTFS" sh -c 'echo out; echo err >&2'
is "$out" out "SERVOS_TRACE: the container's stdout is its own"
like "$err" "^err$" "the container's stderr is its own"
for step in "run: state open" "create: row recorded" "spawn: cloned" "child: root built" \
    "child: exec" "run: exited"; do
    like "$err" "^servos-trace: [0-9]+ \+[0-9.]+ ms $step\$" "the trace has \"$step\""
done
run "$S" run --rm "$ROOTFS" sh -c 'echo out; echo err >&2'
unlike "$err" "servos-trace" "without SERVOS_TRACE nothing is traced"

# :U never hands a device node over: not one given as the volume, not one
# found below a directory (a trial followed the old warning's advice).
mkdir -p "$TMP/devs"
mknod "$TMP/devs/null" c 1 3 && mknod -m 600 "$TMP/devs/disk" b 7 0
run "$S" run --rm -v "$TMP/devs/null:/x:U" "$ROOTFS" true
[ "$rc" = 125 ] && matches "$err" "it is a device node"
ok $? ":U on a device node is refused, saying why" "$rc $err"
run "$S" run --rm -v "$TMP/devs:/devs:U" "$ROOTFS" true
is "$rc $(stat -c %u "$TMP/devs") $(stat -c %u "$TMP/devs/null") $(stat -c %u "$TMP/devs/disk")" \
    "0 $("$S" run --rm "$ROOTFS" cat /proc/self/uid_map | awk '{print $2}') 0 0" \
    ":U on a directory hands it over, and leaves the device nodes in it the host's"
run "$S" run --rm -v "$TMP/devs/disk:/d" "$ROOTFS" true
like "$err" "device node .* pass it with --device" "an unwritable device volume's warning does not suggest :U, but --device"
unlike "$err" ":U" "(no :U in it)"

# A reader that goes away (| head) must not take the containers with it.
mkdir -p "$TMP/stack"
cat >"$TMP/stack/Envirofile.lua" <<'EOF'
stack "tracestack"
for i = 1, 3 do service("s" .. i) { command = { "sleep", "100000" }, stop_signal = "SIGKILL" } end
EOF
(cd "$TMP/stack" && SERVOS_TRACE=1 "$S" up -d 2>&1 | head -1 >/dev/null)
sleep 0.5
is "$("$S" ps -p tracestack | grep -c ' running ')" 3 "up -d with SERVOS_TRACE into a closed pipe: every replica runs"
"$S" down -t 0 -p tracestack >/dev/null
done_testing
