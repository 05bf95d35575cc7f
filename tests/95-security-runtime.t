#!/usr/bin/env bash
# Issue 17, the runtime's points, attacked as an attacker would: descriptors
# and the terminal of `servos exec`'s caller, the signals and sessions a
# container's processes start with, health checks, ids out of range, host
# names that add lines, the host's device nodes, and the size of what a
# container may write into RAM. Each check asserts what the host sees.
# Everything is removed at the end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
TM="tmux -S $TMP/tmux.sock"
# The host's nodes as they were, to prove them unchanged (and to put them
# back should a broken build change them).
dev_before=$(stat -c '%a %u:%g' /dev/null /dev/zero | tr '\n' ' ')
cleanup() {
    $TM kill-server >/dev/null 2>&1
    (cd "$TMP/stack" 2>/dev/null && "$S" down -v -t 0 -p t95 >/dev/null 2>&1)
    remove_containers
    for n in null zero; do
        [ "$(stat -c '%a %u:%g' /dev/$n)" = "666 0:0" ] || { chown 0:0 /dev/$n; chmod 666 /dev/$n; }
    done
}

# The probes, built here, reach containers through a read-only volume.
P=$TMP/p
mkdir -p "$P" && chmod 755 "$P"
for probe in fdescape tiocsti; do
    cc -O1 -o "$P/$probe" "$ROOT/tests/probes/$probe.c" || bail_out "cannot build $probe"
done

# --- 1. descriptors: exec, run, a stack's exec and health checks ------------
mkdir -p "$TMP/hostdir"
for mode in auto host; do
    "$S" run -d --userns $mode --name "fd-$mode" -v "$P:/p:ro" host sleep 1000 >/dev/null
    rm -f /tmp/servos-escape.$$
    # An open directory and the host's root, as a careless caller has them.
    run bash -c "exec 7<'$TMP/hostdir' 9</; '$S' exec fd-$mode /p/fdescape tmp/servos-escape.$$"
    is "$out" "no leaked descriptors" "exec --userns $mode: the command gets no descriptor of its caller's"
    [ ! -e /tmp/servos-escape.$$ ]
    ok $? "exec --userns $mode: nothing written on the host through one" || diag "$(ls -l /tmp/servos-escape.$$)"
    run bash -c "exec 7<'$TMP/hostdir' 9</; '$S' run --rm --userns $mode -v '$P:/p:ro' host /p/fdescape tmp/servos-escape.$$"
    is "$out" "no leaked descriptors" "run --userns $mode: nor does a container's init"
    rm -f /tmp/servos-escape.$$
done

# --- 2. signals a container's processes start with ---------------------------
sigs() { grep -E '^Sig(Blk|Ign)' | tr -s '\t ' ' ' | tr '\n' ' '; }
clean="SigBlk: 0000000000000000 SigIgn: 0000000000000000 "
is "$("$S" run --rm host cat /proc/self/status | sigs)" "$clean" \
    "run: nothing blocked or ignored (the CLI ignores SIGPIPE)"
is "$("$S" exec fd-auto cat /proc/self/status | sigs)" "$clean" "exec: the same"
id=$("$S" run -d host sleep 1000)
is "$("$S" exec "$id" cat /proc/1/status | sigs)" "$clean" \
    "run -d: the same (its monitor ignores SIGINT and SIGHUP)"
is "$("$S" exec "$id" cat /proc/1/status | awk '/^CapInh/{print $2}')" 0000000000000000 \
    "no capability is inheritable"
"$S" rm -f "$id" >/dev/null

# --- 3. a stack: exec, replicas and health checks ----------------------------
D=$TMP/stack
mkdir -p "$D" && cd "$D" || exit 1
cat >Envirofile.lua <<LUA
stack "t95"
service "hc" {
  command = "exec sleep 1000",
  volumes = { "$P:/p:ro" },
  tmpfs = { "/scratch" },
  stop_grace_period = "1s",
  -- Records what it was given, then hangs past its timeout, every 300 ms.
  healthcheck = { test = { "sh", "-c",
    "grep -E '^Sig(Blk|Ign)' /proc/self/status > /tmp/hc.sig; /p/fdescape tmp/servos-escape.$$ > /tmp/hc.fd; exec sleep 1000" },
    interval = "300ms", timeout = "500ms", retries = 1000 },
}
LUA
run "$S" up -d
is "$rc" 0 "up -d of a stack with a health check" || diag "$err"
sleep 4
run bash -c "exec 7<'$TMP/hostdir'; '$S' exec hc /p/fdescape tmp/servos-escape.$$"
is "$out" "no leaked descriptors" "a stack's exec: no descriptor of the caller's"
is "$("$S" exec hc cat /tmp/hc.fd)" "no leaked descriptors" "a health check: none of the supervisor's"
is "$("$S" exec hc cat /tmp/hc.sig | sigs)" "$clean" "a health check: nothing blocked or ignored"
is "$("$S" exec hc cat /proc/1/status | sigs)" "$clean" \
    "a replica: nothing blocked (its supervisor blocks SIGTERM and SIGINT for a signalfd)"
n=$("$S" exec hc ps -eo args | grep -c '^sleep 1000')
[ "$n" -le 2 ]
ok $? "timed-out health checks leave nothing behind ($n sleeps: init and the current check)" || diag "$("$S" exec hc ps -eo pid,args)"
[ ! -e /tmp/servos-escape.$$ ]
ok $? "and nothing was written on the host"
is "$("$S" exec hc df -k /scratch | awk 'NR==2{print $2}')" 1048576 \
    "a service's tmpfs without size= is bounded (1G, not half of RAM)"
"$S" down -t 0 >/dev/null 2>&1
cd "$TMP" || exit 1

# --- 4. the caller's terminal: TIOCSTI, in a real one ------------------------
if command -v tmux >/dev/null; then
    diag "dev.tty.legacy_tiocsti: $(cat /proc/sys/dev/tty/legacy_tiocsti 2>/dev/null || echo absent)"
    $TM new-session -d -s t95 -x 200 -y 50 \
        "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=$TMP SERVOS_ROOT=$SERVOS_ROOT bash --norc --noprofile"
    pane() { $TM capture-pane -p -J -S -1000 -t t95; }
    typed() { # COMMAND TAG: type it in the pane, wait for "TAG rc=N"
        $TM send-keys -t t95 "$1; echo $2 rc=\$?" Enter
        for _ in $(seq 100); do
            pane | grep -q "^$2 rc=" && break
            sleep 0.1
        done
        sleep 1 # what a probe pushed is read by the shell now
    }
    i=0
    for how in "exec fd-auto" "exec fd-host" "run --rm -v $P:/p:ro host" "run --rm --userns host -v $P:/p:ro host"; do
        i=$((i + 1))
        marker=$TMP/injected-$i
        typed "$S $how /p/tiocsti 'touch $marker'" "done-$i"
        [ ! -e "$marker" ]
        ok $? "$how on a terminal: TIOCSTI typed no command into the host shell" || diag "$(pane | tail -30)"
        # The probe's own lines for this round: none says INJECTED.
        out=$(pane | sed -n "/tiocsti 'touch $(printf '%s' "$marker" | sed 's/[\/.]/\\&/g')'/,/^done-$i rc=/p")
        like "$out" "refused via fd 0" "$how: the probe ran and was refused"
        unlike "$out" "INJECTED" "$how: no push worked (fds 0-2, /dev/tty, after TIOCSCTTY)"
    done
    # A child left behind by exec cannot read what the user types next
    # through the stdout or stderr servos handed it (write-only now).
    sid=$("$S" run -d host sleep 600)
    $TM send-keys -t t95 "$S exec $sid sh -c 'for f in 1 2; do (sleep 1; dd bs=1 count=8 <&\$f > /tmp/stolen\$f 2>/dev/null) & done; echo started'" Enter
    for _ in $(seq 50); do pane | grep -q '^started' && break; sleep 0.1; done
    $TM send-keys -t t95 "echo typed-by-user" Enter
    sleep 2
    like "$(pane)" "^typed-by-user" "the user's next line reaches the user's shell whole"
    is "$("$S" exec "$sid" sh -c 'cat /tmp/stolen1 /tmp/stolen2 2>/dev/null')" "" \
        "a child left by exec reads nothing of it through stdout or stderr"
    "$S" rm -f "$sid" >/dev/null
    # A Ctrl-C still reaches the command (it is no longer in the terminal's
    # process group), and its exit code comes back.
    $TM send-keys -t t95 "$S exec fd-auto sh -c 'trap \"echo got-int; exit 7\" INT; echo waiting; sleep 100 & wait'; echo int-done rc=\$?" Enter
    for _ in $(seq 50); do pane | grep -q '^waiting' && break; sleep 0.1; done
    $TM send-keys -t t95 C-c
    for _ in $(seq 50); do pane | grep -q '^int-done' && break; sleep 0.1; done
    like "$(pane)" "got-int" "Ctrl-C on servos exec reaches the command"
    like "$(pane)" "int-done rc=7" "and its exit code is servos exec's"
    $TM kill-server >/dev/null 2>&1
else
    skip "tmux is not installed: no terminal to attack"
fi

# A killed servos exec takes its command along.
"$S" exec fd-auto sleep 301 &
epid=$!
sleep 1
kill -9 $epid
wait $epid 2>/dev/null
sleep 0.3
is "$("$S" exec fd-auto ps -eo args | grep -c '^sleep 301')" 0 "kill -9 of servos exec ends its command"
"$S" exec fd-auto sleep 302 &
epid=$!
sleep 1
kill -TERM $epid
wait $epid
is "$?" 143 "servos exec passes SIGTERM on and returns 128+15"

# --- 5. ids out of range -----------------------------------------------------
for u in -1 4294967295 4294967296 99999999999 65536 0:4294967295 0:-1; do
    run "$S" run --rm -u "$u" host id -u
    [ "$rc" -eq 125 ] && [ -z "$out" ]
    ok $? "--user $u is refused" "rc $rc out $out err $err"
done
like "$err" 'group "-1": give a number' "and says what is wrong"
run "$S" run --rm -u 4294967295 host id -u
like "$err" 'ids go from 0 to 65535' "the error names the mapped range"
run "$S" run --rm --userns host -u 4294967295 host id -u
[ "$rc" -eq 125 ] && [ -z "$out" ]
ok $? "--userns host --user 4294967295 ((uid_t)-1) is refused" "$out $err"
is "$("$S" run --rm -u 65535:65534 host sh -c 'echo $(id -u):$(id -g)')" 65535:65534 "the highest mapped id works"
is "$("$S" run --rm --userns host -u 4294967294 host id -u)" 4294967294 "--userns host: the highest id works"
# An image whose /etc/passwd says what strtoul would wrap.
mkdir -p "$TMP/bb/bin" "$TMP/bb/etc"
cp "$(command -v busybox)" "$TMP/bb/bin/busybox"
for app in sh id; do ln -sf busybox "$TMP/bb/bin/$app"; done
printf '%s\n' 'root:x:0:0:root:/:/bin/sh' 'wrap:x:4294967296:0::/:/bin/sh' 'minus:x:-1:-1::/:/bin/sh' \
    'nopw::1000:1000::/:/bin/sh' >"$TMP/bb/etc/passwd"
# A tarball: its owners are shifted to container root, which must write /etc.
tar -C "$TMP/bb" -czf "$TMP/bb.tgz" .
for u in wrap minus; do
    run "$S" run --rm -u $u "$TMP/bb.tgz" id -u
    [ "$rc" -eq 125 ] && [ -z "$out" ] && matches "$err" "user \"$u\" has ids"
    ok $? "an image's user $u with an id out of range is refused" "rc $rc out $out err $err"
done
is "$("$S" run --rm -u nopw "$TMP/bb.tgz" sh -c 'echo $(id -u):$(id -g)')" 1000:1000 \
    "an empty password field does not shift the ids"
cd "$D" || exit 1
cat >Envirofile.lua <<'LUA'
stack "t95"
service "w" { command = "exec sleep 1000", user = "4294967296" }
LUA
run "$S" up -d
[ "$rc" -ne 0 ] && matches "$err" '4294967296'
ok $? "a service's user out of range fails up" "exit code $rc" "$err"
"$S" down -t 0 >/dev/null 2>&1
cd "$TMP" || exit 1

# --- 6. host names -----------------------------------------------------------
for h in $'box\n10.0.0.66 bank.example' 'a b' '-lead' 'trail-' 'a..b' "$(printf 'x%.0s' $(seq 64))"; do
    run "$S" run --rm --hostname "$h" host cat /etc/hosts
    [ "$rc" -eq 125 ] && matches "$err" 'invalid hostname'
    ok $? "--hostname $(printf '%q' "$h" | cut -c1-30) is refused" "exit code $rc" "stdout: $out" "stderr: $err"
done
is "$("$S" run --rm --hostname web_1.local host hostname)" web_1.local "a valid name with _ and . works"
cd "$D" || exit 1
printf 'stack "t95"\nservice "w" { command = "true", hostname = "a\\nb" }\n' >Envirofile.lua
run "$S" config Envirofile.lua
[ "$rc" -ne 0 ] && matches "$err" 'not a valid hostname'
ok $? "a service's hostname with a newline is refused" "exit code $rc" "stdout: $out" "stderr: $err"
cd "$TMP" || exit 1

# --- 7. the host's device nodes ------------------------------------------------
for mode in auto host; do
    run "$S" run --rm --userns $mode host sh -c \
        'chmod 600 /dev/null /dev/zero; chown 1000000000:1000000000 /dev/null; chmod 4755 /dev/zero
         echo x > /dev/null && echo null-writable; head -c 3 /dev/zero | od -An -tx1'
    is "$(stat -c '%a %u:%g' /dev/null /dev/zero | tr '\n' ' ')" "$dev_before" \
        "--userns $mode: container root cannot chmod or chown the host's /dev/null, /dev/zero"
    like "$out" "null-writable" "--userns $mode: /dev/null still takes writes"
    like "$out" "00 00 00" "--userns $mode: /dev/zero still reads"
done
run "$S" run --rm --userns host -v "$TMP/hostdir:/v" host sh -c 'mknod /v/n c 1 3 && echo made'
unlike "$out" made "--userns host: no mknod by default (a node in a volume opens the host's device)"
run "$S" run --rm --userns host --cap-add MKNOD host sh -c \
    'for p in /dev/n /n /tmp/n; do mknod $p c 1 3 && { echo x > $p && echo "$p opens" || echo "$p refused"; }; done'
is "$(echo "$out" | tr '\n' ' ')" "/dev/n refused /n refused /tmp/n refused " \
    "with MKNOD added, a node made in /dev, the root or /tmp opens nothing (nodev)"
run "$S" run --rm --userns host --cap-add MKNOD -v "$TMP/hostdir:/v" host sh -c \
    'mknod /v/n c 1 3 && { echo x > /v/n && echo opens || echo refused; }; rm -f /v/n'
is "$out" refused "with MKNOD added, a node made in a volume opens nothing either (nodev)"
run "$S" run --rm -v /dev/null:/dn host sh -c 'echo x > /dn && echo opens'
is "$out" opens "a device the user binds on purpose still opens"

# --- a -d container's monitor shows no secret of its command line ---------------
id=$("$S" run -d -e "DB_PASSWORD=hunter2-$$" host sleep 60)
sleep 0.2
is "$(pgrep -fc "hunter2-$$")" 0 "run -d: the monitor's command line (ps) holds no -e secret"
like "$(ps -eo args | grep "monitor of container ${id:0:12}")" "servos: monitor" "it says what it is instead"
"$S" rm -f "$id" >/dev/null

# --- /sys of a container that shares a network namespace not the host's --------
# (as a ProServe handler container does: --network joined, inside the service's)
if ip netns add t95sys 2>/dev/null; then
    run ip netns exec t95sys "$S" run --rm --network joined host sh -c 'ls /sys | wc -l; ls /sys/class/net 2>&1 | head -1'
    like "$out" "^0" "a container in a joined network namespace gets an empty /sys, not the host's"
    ip netns del t95sys
else
    skip "ip netns add failed"
fi
run "$S" run --rm --network host host ls /sys/class/net
like "$out" "lo" "--network host: the host's /sys, read-only, as asked"

# --- 8. what a container may write into RAM --------------------------------------
run "$S" run --rm host sh -c 'df -k / /tmp /run | awk "NR>1{print \$2}"'
is "$(echo "$out" | tr '\n' ' ')" "1048576 1048576 1048576 " \
    "without --memory the layer, /tmp and /run are bounded at 1G (not half of RAM each)"
run "$S" run --rm --memory 256m host df -k /
is "$(echo "$out" | awk 'NR==2{print $2}')" 262144 "with --memory 256m, at the memory limit"
run "$S" run --rm --layer-size 64m host sh -c \
    'head -c 40M /dev/zero > /tmp/a && echo tmp-ok; head -c 40M /dev/zero > /b || echo root-full; head -c 1M /dev/zero > /run/c || echo run-full; echo alive'
is "$(echo "$out" | tr '\n' ' ')" "tmp-ok root-full run-full alive " \
    "--layer-size 64m: /tmp, the layer and /run share 64M; past it writes fail, the container lives"
like "$err" "No space left on device" "with ENOSPC"
run "$S" run --rm --layer-size 12 host true
[ "$rc" -eq 125 ] && matches "$err" "at least 1 MB"
ok $? "a --layer-size under 1 MB is refused" "exit code $rc" "$err"

"$S" rm -f fd-auto fd-host >/dev/null 2>&1
done_testing
