#!/usr/bin/env bash
# The runtime, end to end, with real containers: what a user of `servos run`
# would see. Every container lives under a private state root and is
# removed at the end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
CGP=$(cgroup_parent)
cleanup() {
    remove_containers
    umount "$TMP/tmpfsvol" 2>/dev/null
}

cgroup_dirs() { # every servos cgroup directory of container id $1
    [ -n "$1" ] || return 0
    find /sys/fs/cgroup -maxdepth 4 -type d -path "*/$CGP/$1*" 2>/dev/null
}

# --- namespaces ------------------------------------------------------------
run "$S" run host sh -c 'echo $$; ls /proc | grep -E "^[0-9]+$" | sort -n | tail -1'
is "$rc" 0 "run host sh exits 0"
is "$(echo "$out" | sed -n 1p)" 1 "the command is pid 1 in its pid namespace"
[ "$(echo "$out" | sed -n 2p)" -lt 10 ]
ok $? "no host pid is visible (highest: $(echo "$out" | sed -n 2p))" "$out"

[ -e "$SERVOS_ROOT/state.db-wal" ]
ok $? "the state store is in WAL mode"
run "$S" run --hostname box1 host hostname
is "$out" box1 "--hostname sets the hostname"
run "$S" run host cat /etc/hostname
like "$out" '^[0-9a-f]{12}$' "the default hostname is the short id"

touch /tmp/servos-host-marker.$$
run "$S" run host sh -c "ls /tmp; grep -c ' / ' /proc/self/mountinfo; cat /proc/self/mountinfo"
rm -f /tmp/servos-host-marker.$$
unlike "$out" "servos-host-marker" "the host's /tmp is not visible"
unlike "$out" " /work | /var/lib " "no host mount (like /var/lib) is visible"

run "$S" run host cat /proc/self/uid_map
like "$out" '^ *0 +[1-9][0-9]+ +65536$' "container root maps to an unprivileged host range"
run "$S" run --userns host host cat /proc/self/uid_map
like "$out" '^ *0 +0 +4294967295$' "--userns host keeps the host's ids"

run "$S" run host sh -c 'ls /sys/class/net | tr "\n" " "; cat /sys/class/net/lo/operstate'
like "$out" "^lo " "--network none (the default): only loopback"
like "$out" "unknown|up" "and loopback is up"
run "$S" run --network host host ls /sys/class/net
is "$(echo "$out" | sort | tr '\n' ' ')" "$(ls /sys/class/net | sort | tr '\n' ' ')" "--network host shares the host's interfaces"

# --- limits ------------------------------------------------------------------
run "$S" run --memory 64m host sh -c 'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived'
is "$rc" 137 "a 200 MB allocation under --memory 64m is killed (137)"
like "$err" "out of memory \(limit 64 MB\)" "the OOM kill is reported as such"
unlike "$out" survived "the allocation did not survive"
run "$S" ls
like "$out" "exited \(137, OOM killed\)" "ls shows the OOM kill"

id=$("$S" run -d --pids 20 host sh -c 'bomb() { bomb | bomb & }; bomb; sleep 30')
sleep 1.5
cg=$(cgroup_dirs "$id" | grep pids | head -1)
[ -z "$cg" ] && cg=$(cgroup_dirs "$id" | head -1)
n=$(cat "$cg/pids.current" 2>/dev/null || echo none)
[ "$n" != none ] && [ "$n" -le 20 ]
ok $? "a fork bomb under --pids 20 is held at $n processes" "pids.current: $n"
sh -c 'true'
ok $? "the host can still fork"
run "$S" rm -f "$id"
is "$rc" 0 "rm -f ends the fork bomb"
is "$(cgroup_dirs "$id")" "" "and removes its cgroups"

id=$("$S" run -d --cpus 0.5 host sh -c 'while :; do :; done')
# The CPU time it used over a measured interval, not since it started:
# where starting is slow (an emulated guest: tests/vm), a fixed divisor
# counted the start-up as if it had run under the limit.
cg=$(cgroup_dirs "$id" | grep -E 'cpuacct|cpu,cpuacct' | head -1)
[ -n "$cg" ] || cg=$(cgroup_dirs "$id" | head -1)
usage_ns() {
    if [ -f "$cg/cpuacct.usage" ]; then cat "$cg/cpuacct.usage"; else
        echo $(($(awk '/usage_usec/{print $2}' "$cg/cpu.stat") * 1000)); fi
}
sleep 0.3
u1=$(usage_ns) t1=$(date +%s%N)
sleep 2
u2=$(usage_ns) t2=$(date +%s%N)
"$S" rm -f "$id" >/dev/null
pct=$(((u2 - u1) * 100 / (t2 - t1)))
[ "$pct" -le 62 ] && [ "$pct" -ge 30 ]
ok $? "--cpus 0.5 holds a busy loop to about half a core (${pct}%)" "used ${pct}% of a core"

# --- cgroup v2: where servos' groups go, and what a group that cannot hand
# a controller down does. Pure v2 hosts only (tests/vm runs them).
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    V2=/sys/fs/cgroup
    # A group with processes hands no controller down: a limit needs one.
    busy_root=$TMP/busy
    bp=$(SERVOS_ROOT=$busy_root "$S" detect --json | jq -r .cgroup_parent)
    mkdir -p "$V2/$bp"
    sleep 120 &
    holder=$!
    echo "$holder" >"$V2/$bp/cgroup.procs"
    run env SERVOS_ROOT="$busy_root" "$S" run --rm --memory 64m host true
    [ "$rc" -ne 0 ] && matches "$err" "the memory controller is not available to $V2/$bp/[0-9a-f]+: $V2/$bp holds processes"
    ok $? "a limit whose controller a group with processes cannot hand down says which, where and why" \
        "exit code $rc" "stderr: $err"
    run env SERVOS_ROOT="$busy_root" "$S" run --rm host echo fine
    is "$out" fine "without a limit the container runs all the same" || diag "exit code $rc" "$err"
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    rmdir "$V2/$bp"/* "$V2/$bp" 2>/dev/null

    # servos started from a sub-group (a systemd session or service, with
    # the controllers handed down on the way): its containers' groups are
    # under servos' parent as ever, servos' own processes stay where they are.
    echo "+memory +pids +cpu" >"$V2/cgroup.subtree_control"
    mkdir -p "$V2/user.slice/x"
    echo "+memory +pids +cpu" >"$V2/user.slice/cgroup.subtree_control"
    id=$(sh -c 'echo $$ > /sys/fs/cgroup/user.slice/x/cgroup.procs; exec "$@"' sh \
        "$S" run -d --memory 64m --pids 30 host sleep 60)
    is "$(cat "$V2/$CGP/$id/memory.max" "$V2/$CGP/$id/pids.max" 2>&1 | tr '\n' ' ')" "67108864 30 " \
        "run from a sub-group: the container's group and limits are under $CGP"
    like "$(cat "$V2/user.slice/x/cgroup.procs" | xargs -r -I{} ps -o args= -p {})" "servos: monitor" \
        "and servos' own monitor stays in the caller's group"
    "$S" rm -f "$id" >/dev/null
    is "$(cgroup_dirs "$id")" "" "rm removes its group"
    rmdir "$V2/user.slice/x" 2>/dev/null

    # servos in a container that has a cgroup namespace of its own: its root
    # group holds servos, and hands controllers down only once servos has
    # moved to a leaf (init) of it.
    y=$V2/user.slice/y
    mkdir -p "$y"
    # (a container has no cgroup file system: the shell beside servos reads the limits)
    run env S="$S" CGP="$CGP" sh -c 'echo $$ > "$1/cgroup.procs"; exec unshare -Cm sh -c "$2"' sh "$y" '
        umount /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup || exit 1
        id=$("$S" run -d --memory 64m --pids 30 host sleep 60) || exit 1
        cat /sys/fs/cgroup/$CGP/$id/memory.max /sys/fs/cgroup/$CGP/$id/pids.max
        "$S" rm -f "$id" >/dev/null'
    is "$(echo "$out" | tr '\n' ' ')" "67108864 30 " "in a container's own cgroup namespace the limits hold" ||
        diag "exit code $rc" "$err"
    like "$err" "moved the processes of /sys/fs/cgroup \(this container's group\) into /sys/fs/cgroup/init" \
        "servos says it moved the container's processes into a leaf"
    is "$(cat "$y/cgroup.procs" | wc -l)/$(cat "$y/init/cgroup.procs" | wc -l)" "0/0" \
        "and none is left in the container's group (nor in init, once servos exited)"
    is "$(find "$y/$CGP" -mindepth 1 -type d 2>/dev/null)" "" "rm -f left no group in the container's subtree"
    rmdir "$y/$CGP" "$y/init" "$y" 2>/dev/null
    rmdir "$V2/user.slice" 2>/dev/null
else
    skip "a pure cgroup v2 host (this one: $(stat -fc %T /sys/fs/cgroup); tests/vm runs them)" 9
fi

# --- privileges --------------------------------------------------------------
run "$S" run host sh -c 'mknod /tmp/n c 1 3 2>&1 || echo FAIL-mknod; mount -t tmpfs x /mnt 2>&1 || echo FAIL-mount; ip link add d0 type dummy 2>&1 || echo FAIL-ip'
like "$out" FAIL-mknod "mknod fails"
like "$out" FAIL-mount "mount fails"
like "$out" FAIL-ip "ip link add fails"
run "$S" run --cap-add all host sh -c 'mount -t tmpfs x /mnt 2>&1 || echo FAIL-mount; keyctl show 2>&1; unshare -U true 2>&1 || echo FAIL-userns'
like "$out" FAIL-mount "mount fails under seccomp even with every capability"
like "$out" FAIL-userns "a new user namespace fails under seccomp"
run "$S" run host sh -c 'python3 -c "import ctypes; print(ctypes.CDLL(None).syscall(248, b\"user\", b\"x\", b\"y\", 1, -2))" 2>/dev/null || perl -e "print syscall(248, 0, 0, 0, 0, -2)"'
is "$out" "-1" "add_key (a keyring call) fails under seccomp"
run "$S" run host grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
like "$out" 'NoNewPrivs:.1' "NoNewPrivs is 1"
like "$out" 'Seccomp:.2' "a seccomp filter is on"
run "$S" run --security-opt seccomp=unconfined host grep '^Seccomp:' /proc/self/status
like "$out" 'Seccomp:.0' "seccomp=unconfined turns the filter off"
run "$S" run host grep '^CapEff' /proc/self/status
is "$out" "CapEff:	00000000a80425fb" "the default capabilities are Docker's 14"
run "$S" run --cap-drop all host grep '^CapEff' /proc/self/status
is "$out" "CapEff:	0000000000000000" "--cap-drop all leaves none"
# CVE-2022-24769: an inheritable set would let a program with file
# capabilities, run by a non-root user inside, gain them.
for how in "" "--cap-add all" "--userns host"; do
    run "$S" run $how host grep '^CapInh' /proc/self/status
    is "$out" "CapInh:	0000000000000000" "run${how:+ $how}: no capability is inheritable"
done
run "$S" run host sh -c 'echo 1 > /proc/sys/kernel/hostname 2>&1 || echo FAIL-procsys; wc -c < /proc/kcore 2>/dev/null || echo 0; cat /proc/keys | wc -c'
like "$out" FAIL-procsys "/proc/sys is not writable"
is "$(echo "$out" | tail -2 | tr '\n' ' ')" "0 0 " "/proc/kcore and /proc/keys are masked"

run "$S" run -u nobody host sh -c 'id -u; grep ^CapEff /proc/self/status'
is "$(echo "$out" | tr '\n' ' ')" "65534 CapEff:	0000000000000000 " "-u nobody runs as nobody, with no capabilities"
run "$S" run -u 1000:1000 host id -u
is "$out" 1000 "-u UID:GID"
run "$S" run -u nosuchuser host true
like "$err" 'user "nosuchuser" is not in the container' "an unknown user is an error"

# --- device nodes: the default policy (runtime/devices.h) ----------------------
run "$S" run --rm host sh -c 'echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c'
is "$(echo "$out" | tr '\n' ' ')" "4 4 " "the standard nodes open (null, zero, urandom)"
if [ -c /dev/net/tun ]; then
    # Given a node it may not open (the tun device: harmless, and open to
    # root on the host), container root gets EPERM from the policy, not the
    # node's mode (EACCES) nor the driver.
    run "$S" run --rm --userns host -v /dev/net/tun:/dev/net/tun host sh -c 'cat /dev/net/tun; echo done'
    like "$out$err" "/dev/net/tun: Operation not permitted" \
        "a device node outside the policy, given by a volume, does not open (EPERM)"
else
    skip "no /dev/net/tun on this host"
fi
run "$S" run --rm --userns host --cap-add MKNOD host sh -c \
    'cd /tmp; mknod b b 7 0 && echo b-made; mknod t c 10 200 && echo t-made; mknod n c 1 3 && echo n-made'
is "$(echo "$out" | tr '\n' ' ')" "n-made " "with MKNOD, only the standard nodes can be made (not a block device, nor c 10:200)"
like "$err" "mknod: b: Operation not permitted" "and making another is refused by the policy (EPERM)"

# --- files -------------------------------------------------------------------
mkdir -p "$TMP/vol" && chmod 777 "$TMP/vol" && echo hi >"$TMP/vol/in"
run "$S" run -v "$TMP/vol:/v" -v "$TMP/vol:/r:ro" host sh -c 'cat /v/in; touch /v/made && echo made; touch /r/no 2>/dev/null || echo ro-refused'
like "$out" "hi" "a bind volume is readable"
like "$out" "made" "a rw volume is writable"
like "$out" "ro-refused" "a :ro volume refuses writes"
owner=$(stat -c %u "$TMP/vol/made" 2>/dev/null)
[ -n "$owner" ] && [ "$owner" -ne 0 ]
ok $? "a file container root made is not owned by host root (uid $owner)" "owner: $owner"
mkdir -p "$TMP/uvol" && echo hi >"$TMP/uvol/in" && chown -R 4321:4321 "$TMP/uvol" && chmod 755 "$TMP/uvol"
run "$S" run -v "$TMP/uvol:/v" host sh -c 'stat -c %u /v/in; echo x > /v/made && echo made'
is "$(echo "$out" | tr '\n' ' ')" "0 made " "a volume owned by a host user is container root's (idmapped) and writable"
is "$(stat -c %u "$TMP/uvol/made")" 4321 "and what container root writes there belongs to that user on the host"
run "$S" run -v "$TMP/uvol:/v:ro" host sh -c 'echo x > /v/no 2>/dev/null || echo refused'
is "$out" refused "an idmapped :ro volume refuses writes"
# tmpfs has idmapped mounts from Linux 6.3 on: before, such a volume is bound
# as it is, and servos says why (tests/vm: Debian 12's 6.1).
mkdir -p "$TMP/tmpfsvol" && mount -t tmpfs -o size=1m tmpfs "$TMP/tmpfsvol" && chown 4321:4321 "$TMP/tmpfsvol"
run "$S" run -v "$TMP/tmpfsvol:/v" host sh -c 'stat -c %u /v; echo x > /v/made && echo made'
if matches "$err" "cannot be idmapped"; then
    like "$err" "volume $TMP/tmpfsvol cannot be idmapped here .*6.3 on tmpfs.*: bound as it is" \
        "a tmpfs volume this kernel cannot idmap is bound as it is, and servos says why"
else
    is "$(echo "$out" | tr '\n' ' ')" "0 made " "a tmpfs volume owned by a host user is idmapped too"
fi
umount "$TMP/tmpfsvol"
run "$S" run --read-only host sh -c 'touch /etc/x 2>/dev/null || echo ro-root; touch /tmp/ok && echo tmp-ok'
like "$out" ro-root "--read-only refuses writes to /"
like "$out" tmp-ok "/tmp stays writable with --read-only"
run "$S" run -e FOO=bar -e EMPTY= -w /work/here host sh -c 'echo "$FOO|$EMPTY|$(pwd)"'
is "$out" "bar||/work/here" "-e and -w set the environment and working directory"

base=$SERVOS_ROOT/images
sum_before=$(find "$base" -xdev -printf '%p %s %T@ %u\n' | sort | md5sum)
run "$S" run host sh -c 'for d in / /etc /root /var /home /opt; do echo x > $d/scribble 2>/dev/null; done; rm -f /etc/passwd /etc/group; echo done'
sum_after=$(find "$base" -xdev -printf '%p %s %T@ %u\n' | sort | md5sum)
is "$sum_after" "$sum_before" "the image base is unchanged after a container wrote everywhere it could"

# A busybox root file system, as a directory and as a tarball.
mkdir -p "$TMP/bb/bin"
cp "$(command -v busybox)" "$TMP/bb/bin/busybox"
for app in sh ls id cat echo true; do ln -s busybox "$TMP/bb/bin/$app"; done
chmod 755 "$TMP/bb"
run "$S" run "$TMP/bb" sh -c 'echo $$; ls /bin | wc -l'
is "$(echo "$out" | tr '\n' ' ')" "1 7 " "a rootfs directory is an image"
tar -C "$TMP/bb" -czf "$TMP/bb.tgz" .
run "$S" run "$TMP/bb.tgz" sh -c 'mkdir -p /etc && echo ok > /etc/written && cat /etc/written; ls -ln /bin/busybox'
like "$out" "^ok" "a rootfs tarball is an image, writable through the overlay"
like "$out" " 0 +0 .*busybox" "its files belong to container root (owners shifted at unpack)"
is "$(ls -d "$SERVOS_ROOT"/images/tar-* | wc -l)" 1 "the tarball was unpacked once"
run "$S" run "$TMP/bb.tgz" true
is "$(ls -d "$SERVOS_ROOT"/images/tar-* | wc -l)" 1 "and is reused"
echo "not a tarball" >"$TMP/junk.tar"
run "$S" run "$TMP/junk.tar" true
is "$rc" 125 "a file that is no archive is refused"
like "$err" "junk.tar" "and the error names it"

# --- exit codes, exec, lifecycle -------------------------------------------
run "$S" run host sh -c 'exit 3'
is "$rc" 3 "the exit code is propagated"
run "$S" run host sh -c 'sh -c "kill -TERM \$\$"; echo $?'
is "$out" 143 "a process killed by SIGTERM exits 128+15"
run "$S" run host no-such-command
is "$rc" 127 "a missing command exits 127"
like "$err" "no-such-command: command not found" "and says so"

id=$("$S" run -d --name svc -e GREETING=hello host sh -c 'echo started; exec sleep 60')
like "$id" '^[0-9a-f]{64}$' "run -d prints the id"
sleep 0.3
run "$S" logs svc
is "$out" started "logs shows the output of a detached container"
run "$S" exec svc sh -c 'cat /proc/1/cmdline | tr "\0" " "; echo "$GREETING"; grep NoNewPrivs /proc/self/status'
like "$out" '^sleep 60' "exec sees the same pid 1"
like "$out" hello "exec has the container's environment"
like "$out" 'NoNewPrivs:.1' "exec has no_new_privs"
run "$S" exec svc grep '^CapInh' /proc/self/status /proc/1/status
is "$(echo "$out" | tr '\n' ' ')" "/proc/self/status:CapInh:	0000000000000000 /proc/1/status:CapInh:	0000000000000000 " \
    "exec: no capability is inheritable, in the exec'd command or in pid 1"
run "$S" exec svc sh -c 'exit 9'
is "$rc" 9 "exec propagates the exit code"
id2=$("$S" run -d host sh -c 'echo one; sleep 0.5; echo two')
run timeout 10 "$S" logs -f "$id2"
is "$(echo "$out" | tr '\n' ' ')" "one two " "logs -f follows until the container exits"
"$S" rm "$id2" >/dev/null
run "$S" run --name svc host true
is "$rc" 125 "a name in use is refused"
like "$err" 'name "svc" is in use' "and says so"
run "$S" rm svc
is "$rc" 1 "rm refuses a running container without -f"
run "$S" stop -t 1 svc
run "$S" ls
like "$out" "svc .*exited \((137|143)\)" "stop ends it (sleep as pid 1 ignores SIGTERM: SIGKILL after -t)"
run "$S" rm "${id:0:8}"
is "$rc" 0 "rm by id prefix"
is "$(cgroup_dirs "$id")" "" "after rm no cgroup directory is left"
[ ! -e "$SERVOS_ROOT/containers/$id" ]
ok $? "after rm no container directory is left"
run "$S" ls -q
unlike "$out" "${id:0:12}" "after rm no state row is left"
! grep -q "$id" /proc/self/mountinfo
ok $? "after rm no mount is left"

run "$S" ls -q
n_before=$(echo "$out" | grep -c .)
d_before=$(ls "$SERVOS_ROOT/containers" | wc -l)
run "$S" run --rm --memory 32m host true
is "$rc" 0 "run --rm"
run "$S" ls -q
is "$(echo "$out" | grep -c .)" "$n_before" "run --rm leaves no state row"
is "$(ls "$SERVOS_ROOT/containers" | wc -l)" "$d_before" "run --rm leaves no container directory"
id=$("$S" run -d --rm host true)
sleep 0.5
[ ! -e "$SERVOS_ROOT/containers/$id" ]
ok $? "run -d --rm leaves no directory (log) either"

# --- bad input -----------------------------------------------------------------
check_bad() { # NAME REGEX ARGS...
    local name=$1 re=$2
    shift 2
    local n_rows n_dirs
    n_rows=$("$S" ls -q | grep -c .)
    n_dirs=$(ls "$SERVOS_ROOT/containers" | wc -l)
    n_cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$CGP/*" | wc -l)
    run "$S" run "$@"
    [ "$rc" -ne 0 ] && matches "$err" "$re"
    ok $? "bad input: $name" "expected: an exit code other than 0, an error matching $re" \
        "got:      exit code $rc, stderr: $err"
    is "$("$S" ls -q | grep -c .)/$(ls "$SERVOS_ROOT/containers" | wc -l)/$(find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$CGP/*" | wc -l)" \
        "$n_rows/$n_dirs/$n_cg" "bad input leaves nothing behind: $name"
}
check_bad "unknown image" 'no image "nosuchimage" in the store' --pull never nosuchimage true
check_bad "missing image path" '/no/such/dir' /no/such/dir true
check_bad "memory 12XB" '--memory' --memory 12XB host true
check_bad "negative cpus" '--cpus' --cpus -1 host true
check_bad "missing volume source" '/no/such/src' -v /no/such/src:/x host true
check_bad "command not found" 'command not found' --rm host no-such-cmd
check_bad "relative workdir" 'must be absolute' -w rel host true
# --- the same paths under AddressSanitizer + UBSan ---------------------------
if [ -x "$SERVOS_ASAN" ]; then
    A=$SERVOS_ASAN
    all=""
    for args in "run --rm host sh -c true" "run --rm -v $TMP/vol:/v:ro -e X=1 -w /w host true" \
        "run --rm $TMP/bb.tgz true" "run nosuchimage true" "run --memory 12XB host true" \
        "run --rm host no-such-cmd" "ls" "rm no-such-container"; do
        # shellcheck disable=SC2086
        "$A" $args >/dev/null 2>"$TMP/asan.err"
        all="$all$(cat "$TMP/asan.err")"
    done
    aid=$("$A" run -d host sleep 30 2>>"$TMP/asan.err")
    for args in "exec $aid true" "logs $aid" "stop -t 0 $aid" "rm $aid"; do
        # shellcheck disable=SC2086
        "$A" $args >/dev/null 2>"$TMP/asan.err"
        all="$all$(cat "$TMP/asan.err")"
    done
    unlike "$all" "AddressSanitizer|LeakSanitizer|runtime error" "the runtime verbs are clean under ASan and UBSan"
fi
done_testing
