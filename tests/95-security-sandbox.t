#!/usr/bin/env bash
# The sandbox, attacked: escape attempts from inside containers (and a few a
# careless user outside makes possible), run as an attacker would run them,
# with the safe outcome asserted. The attempts that hold stay here so they
# keep holding; a hole found and not yet closed is a `# TODO` check, so the
# suite stays green and the hole stays visible (it passes as "unexpectedly
# succeeded" once fixed).
#
# The probes: tests/probes/escape.c (one line per attempt: NAME held|open
# DETAIL) and tests/probes/execwatch.c (a container lying in wait for the
# processes `servos exec` and health checks send into it).
. "$(dirname "$0")/lib.sh"
use_containers
STACKS="t95a t95b t95c"
cleanup() {
    for st in $STACKS; do "$S" down -v -t 1 -p "$st" >/dev/null 2>&1; done
    remove_containers
}

mkdir -p "$TMP/bin"
for p in escape execwatch; do
    cc -O1 -o "$TMP/bin/$p" "$ROOT/tests/probes/$p.c" || bail_out "cannot build the $p probe"
done
chmod -R 755 "$TMP/bin"
echo "only the host has this file" >"$TMP/host-marker"
MARKER=$TMP/host-marker

# probe LABEL [RUN-OPTS...]: every attempt, in one container with a read-write
# volume at /v; its lines in $TMP/LABEL
probe() {
    local label=$1
    shift
    mkdir -p "$TMP/vol-$label" && chmod 1777 "$TMP/vol-$label"
    "$S" run --rm "$@" -v "$TMP/bin:/p:ro" -v "$TMP/vol-$label:/v" host \
        /p/escape -m "$MARKER" -p $$ all >"$TMP/$label" 2>&1
    grep -q '^status info' "$TMP/$label" || diag "probe $label: $(cat "$TMP/$label")"
}
# held LABEL CHECK DESCRIPTION [TODO-REASON]
held() {
    local line
    line=$(grep "^$2 " "$TMP/$1" | head -1)
    if [ -n "${4:-}" ]; then
        case "$line" in "$2 held "*) todo 0 "$1: $3" "$4" ;; *) todo 1 "$1: $3" "$4" && diag "${line:-no verdict for $2}" ;; esac
        return 0
    fi
    case "$line" in
    "$2 held "*) pass "$1: $3" ;;
    *) fail "$1: $3" "${line:-no verdict for $2}" ;;
    esac
}

declare -A WHAT=(
    [fsopen]="new mount API: fsopen (then fsconfig, fsmount, move_mount over /etc) is refused"
    [fsmount]="fsconfig, fsmount and fspick are refused by the filter itself (EPERM)"
    [open_tree]="open_tree cannot clone /proc out from under its masks"
    [move_mount]="move_mount cannot carry the masks off /proc/keys and /proc/sys"
    [mount_setattr]="mount_setattr cannot make /usr or /proc/sys writable"
    [mount]="mount(2): no proc, tmpfs or sysfs, no read-write remount of / or /usr, no bind of /proc/sys"
    [umount]="umount2 cannot take the masks off /proc/keys, /proc/sys, /proc/acpi, /sys/firmware, /sys"
    [usr_readonly]="the host's /usr stays read-only"
    [cgroupfs]="no cgroup file system is mounted, and none can be (cgroup v1, v2, mount or fsopen)"
    [unshare_user]="unshare(CLONE_NEWUSER), alone or with other namespaces, is refused"
    [unshare_other]="unshare of every other namespace is refused (no CAP_SYS_ADMIN)"
    [clone_user]="clone(CLONE_NEWUSER) is refused"
    [clone3]="clone3 answers ENOSYS (with or without CLONE_NEWUSER), so libc falls back to clone"
    [libc_fallback]="threads, fork and posix_spawn still work without clone3"
    [setns]="setns is refused, and no host pid's namespaces are visible"
    [pivot_root]="pivot_root is refused"
    [chroot]="climbing out of a chroot ends at the container's root, never the host's"
    [x32]="x32 system calls (nr | 0x40000000: unshare, keyctl, mount) are refused"
    [i386]="i386 system calls through int 0x80 are refused, also under personality(PER_LINUX32)"
    [personality]="personality() cannot set ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC (Docker's profile refuses both)"
    [keyring]="keyctl, add_key and request_key are refused (keyrings are not namespaced)"
    [bpf]="bpf() is refused"
    [perf]="perf_event_open is refused"
    [userfaultfd]="userfaultfd is refused, and /dev/userfaultfd is not there"
    [shocker]="open_by_handle_at (shocker: a forged handle of the host's root) and name_to_handle_at are refused"
    [kexec_modules]="kexec_load, kexec_file_load, init_module, finit_module, delete_module are refused"
    [reboot]="reboot is refused"
    [swap]="swapon and swapoff are refused"
    [clock]="the clock cannot be set (clock_settime, settimeofday, adjtimex)"
    [blockdev]="no node for the host's disk (or a loop device) can be made and opened"
    [chardev]="no node for mem, port, kmsg, console, tty1, vcs, kvm, loop-control, fuse, userfaultfd can be made and opened"
    [proc_sys_write]="/proc/sys (core_pattern, hostname, drop_caches, ip_forward) and /proc/sysrq-trigger cannot be written"
    [sys_write]="/sys cannot be written, no cgroup can be made under it"
    [masked]="/proc/kcore, keys, timer_list, sched_debug read as nothing; /proc/acpi, /proc/scsi, /sys/firmware are empty"
    [host_pid]="a host process cannot be seen, signalled, traced, opened or read (pid $$)"
    [root_readonly]="--read-only: the container's own / refuses writes"
    [io_uring]="io_uring is refused (its operations run past the seccomp filter)"
    [tiocsti_wall]="TIOCSTI and TIOCLINUX are refused by the filter, even on a terminal of the container's own"
    [listmount]="listmount and statmount are refused"
    [devnode_chmod]="the host's device nodes bound into /dev cannot be chmod-ed or chown-ed"
)
# What the filter holds whatever the capabilities; what the file systems hold.
FILTER="fsopen fsmount open_tree move_mount mount_setattr mount umount usr_readonly cgroupfs
        unshare_user clone_user clone3 libc_fallback setns pivot_root x32 i386 keyring bpf perf
        userfaultfd shocker kexec_modules reboot swap clock"
FILES="chroot proc_sys_write sys_write masked host_pid"
DEVICES="blockdev chardev devnode_chmod"

# --- default: a user-namespaced container with Docker's 14 capabilities --------
probe default
for c in $FILTER $FILES $DEVICES unshare_other; do held default "$c" "${WHAT[$c]}"; done
held default personality "${WHAT[personality]}" "new: personality() is not filtered as in Docker's profile"
for c in io_uring tiocsti_wall listmount; do held default "$c" "${WHAT[$c]}"; done

status=$(grep '^status info' "$TMP/default")
capdef=00000000a80425fb
for set in CapEff CapPrm CapBnd; do
    like "$status" "$set=$capdef " "default: $set is Docker's 14 ($capdef)"
done
like "$status" "CapAmb=0000000000000000 " "default: no ambient capabilities"
like "$status" "CapInh=0000000000000000 " "default: CapInh is empty (CVE-2022-24769)"
like "$status" "NoNewPrivs=1 " "default: no_new_privs is set"
like "$status" "Seccomp=2 " "default: seccomp is in filter mode (2)"
like "$(grep '^raw_socket' "$TMP/default")" "raw=ok.*interfaces=lo,$" \
    "default: a raw socket works (CAP_NET_RAW is in the default set), on the container's loopback only"
run "$S" run --rm --cap-drop NET_RAW -v "$TMP/bin:/p:ro" host /p/escape raw_socket
like "$out" "raw=EPERM" "--cap-drop NET_RAW takes raw sockets away"

# --- every capability: the filter and the user namespace still hold ----------------
probe capall --cap-add all --read-only
for c in $FILTER $FILES $DEVICES root_readonly; do held capall "$c" "${WHAT[$c]}"; done
all=$(printf %016x $(((1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1)))
like "$(grep '^status info' "$TMP/capall")" "CapEff=$all " "capall: the container really had every capability ($all)"

# --- --userns host: weaker by design; what must still hold ---------------------
probe userns_host --userns host
for c in $FILTER $FILES unshare_other; do held userns_host "$c" "${WHAT[$c]}"; done
for c in blockdev chardev devnode_chmod; do held userns_host "$c" "${WHAT[$c]}"; done
status=$(grep '^status info' "$TMP/userns_host")
# No CAP_MKNOD in the host's user namespace: servos makes no devices cgroup.
caphost=00000000a00425fb
like "$status" "CapEff=$caphost .*NoNewPrivs=1 Seccomp=2 " "userns_host: Docker's 14 but MKNOD, no_new_privs and the filter"

# Host root's own CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN given to the container:
# shocker's and mount's preconditions; only the filter stands in the way.
probe userns_host_caps --userns host --cap-add DAC_READ_SEARCH --cap-add SYS_ADMIN
for c in $FILTER $FILES; do held userns_host_caps "$c" "${WHAT[$c]}"; done

# --- the terminal of a user who runs a container -----------------------------------
# In a pseudo-terminal of its own, as an interactive shell: the container gets
# the terminal as stdin (-i; without it stdin is /dev/null); what it types
# with TIOCSTI would be read by the shell once the container exits.
in_pty() { # in_pty SHELL-COMMAND: its output, run with a pty as controlling terminal
    python3 - "$1" <<'PY'
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/bash", ["bash", "-c", sys.argv[1]])
out = b""
while True:
    try:
        r, _, _ = select.select([fd], [], [], 10)
        if not r:
            break
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
PY
}
TYPED='read -t 1 line; echo "typed:$line"'
out=$(in_pty "'$S' run -i --rm -v '$TMP/bin:/p:ro' host /p/escape tty; $TYPED")
like "$out" "^tty held" "run: the user's terminal is not the container's (no /dev/tty, TIOCSCTTY, TIOCSTI)" || diag "$out"
unlike "$out" "typed:#servos-tiocsti" "run: nothing the container typed reaches the user's shell"
id=$("$S" run -d -v "$TMP/bin:/p:ro" host sleep 60)
out=$(in_pty "'$S' exec -i $id /p/escape tty; $TYPED")
like "$out" "^tty held" "exec: the user's terminal is not the container's (no /dev/tty, TIOCSCTTY, TIOCSTI)"
unlike "$out" "typed:#servos-tiocsti" "exec: nothing the container typed reaches the user's shell"

# --- files the user has open --------------------------------------------------------
# A host file only root may read, open in the user's shell as fd 7.
echo "host secret" >"$TMP/secret" && chmod 600 "$TMP/secret"
run "$S" run --rm host sh -c 'cat <&7 2>/dev/null || echo no-fd-7' 7<"$TMP/secret"
is "$out" no-fd-7 "run: the container gets none of the caller's open files"
run "$S" exec "$id" sh -c 'cat <&7 2>/dev/null || echo no-fd-7' 7<"$TMP/secret"
is "$out" no-fd-7 "exec: the container gets none of the caller's open files"
"$S" rm -f "$id" >/dev/null

# --- processes that join a container: exec ------------------------------------------
# A container lies in wait for what `servos exec` sends in, and tries to open
# its memory before it has loaded its filter (runc's CVE-2016-9962).
verdict() { # verdict ID-OR-"-p STACK SVC": the watcher's summary, once it is done
    for _ in $(seq 60); do
        v=$("$S" logs "$@" 2>/dev/null | grep -o 'execwatch .*')
        [ -n "$v" ] && break
        sleep 0.1
    done
    echo "$v"
}
# One watcher at a time: two spinning watchers would starve the processes
# they wait for on a two-core host.
lie_in_wait() { # lie_in_wait EXECS [RUN-OPTS...]: a watcher's id, after EXECS execs into it
    local n=$1 id
    shift
    id=$("$S" run -d "$@" -v "$TMP/bin:/p:ro" host /p/execwatch 2)
    sleep 0.2
    for _ in $(seq "$n"); do "$S" exec "$id" true; done
    echo "$id"
}
w_own=$(lie_in_wait 12)
v=$(verdict "$w_own")
like "$v" "^execwatch held [0-9]+ of [1-9]" "exec: the joining process is closed to the container until it runs the command ($v)"
w_host=$(lie_in_wait 20 --userns host)
v=$(verdict "$w_host")
like "$v" "^execwatch held " "exec, --userns host: the joining process is closed to the container before its filter" ||
    diag "$v" "$("$S" logs "$w_host" | grep -m1 'seccomp=0 .*mem=ok')"

# --- health checks: the supervisor's own children join the container ---------------
mkdir -p "$TMP/c"
cat >"$TMP/c/Envirofile.lua" <<LUA
stack "t95c"
-- one watcher after the other (see lie_in_wait)
for _, s in ipairs({ { "own", "auto", 0, 2 }, { "hostns", "host", 2.2, 3 } }) do
  service(s[1]) {
    command = "sleep " .. s[3] .. " && exec /p/execwatch " .. s[4],
    userns = s[2],
    volumes = { "$TMP/bin:/p:ro" },
    healthcheck = { test = { "true" }, interval = "100ms", retries = 100 },
    stop_grace_period = "1s",
  }
end
LUA
run "$S" up -d "$TMP/c/Envirofile.lua"
is "$rc" 0 "a stack whose health checks run every 100 ms" || diag "$err"
v=$(verdict -p t95c own)
like "$v" "^execwatch held [0-9]+ of [1-9].* read-write 0 times" "health checks: closed to the container they check ($v)"
v=$(verdict -p t95c hostns)
like "$v" "^execwatch held .* read-write 0 times" "health checks, userns = host: closed to the container, and so are the supervisor's files" ||
    diag "$v" "$("$S" logs -p t95c hostns | grep -m1 'rw:')"
"$S" down -t 1 -p t95c >/dev/null 2>&1

# --- stacks cannot reach each other ------------------------------------------------
mkdir -p "$TMP/a" "$TMP/b"
web() { echo "mkdir -p /tmp/www && echo $1 > /tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www"; }
cat >"$TMP/a/Envirofile.lua" <<LUA
stack "t95a"
service "aweb" { command = "$(web a)", stop_grace_period = "1s" }
service "client" { command = "exec sleep 1000", volumes = { "$TMP/bin:/p:ro" }, stop_grace_period = "1s" }
LUA
cat >"$TMP/b/Envirofile.lua" <<LUA
stack "t95b"
service "bweb" { command = "$(web b)", volumes = { "$TMP/bin:/p:ro" }, stop_grace_period = "1s" }
LUA
run "$S" up -d "$TMP/a/Envirofile.lua"
is "$rc" 0 "stack t95a comes up" || diag "$err"
run "$S" up -d "$TMP/b/Envirofile.lua"
is "$rc" 0 "stack t95b comes up" || diag "$err"
addr() { "$S" ps --format json -p "$1" | jq -r ".[] | select(.service==\"$2\") | .address"; }
a_web=$(addr t95a aweb) b_web=$(addr t95b bweb)
b_gw="${b_web%.*}.1"
reach() { # reach STACK SERVICE HOST: the probe's verdict
    "$S" exec -p "$1" "$2" /p/escape reach "$3" 80 2>&1
}
like "$(reach t95a client aweb)" "^aweb open" "client reaches its own stack's aweb (the probe can tell)"
like "$(reach t95a client "$b_web")" "held" "client cannot reach stack t95b's replica ($b_web), TCP or ICMP"
like "$(reach t95a client bweb)" "^bweb held resolve" "client cannot resolve stack t95b's service name"
like "$(reach t95a client bweb-1)" "^bweb-1 held resolve" "nor its replica's name"
like "$(reach t95a client "$b_gw")" "held" "client cannot reach stack t95b's gateway ($b_gw)"
like "$(reach t95b bweb "$a_web")" "held" "and t95b's replica cannot reach t95a's ($a_web)"
for st in t95a t95b; do "$S" down -t 1 -p "$st" >/dev/null 2>&1; done

done_testing
