#!/usr/bin/env bash
# The `servos run` options users type first, with real containers: -p
# publishes a busybox httpd on the host (through the stacks' relay and
# kernel path, on a network of the container's own), --tmpfs, --env-file,
# --label (servos ls --format json, --filter), --restart with its back-off,
# --stop-signal and --stop-timeout as servos stop uses them. Every bad value
# is one line that says what is wrong. All traffic stays on this host.
. "$(dirname "$0")/lib.sh"
use_containers
cleanup() {
    remove_containers
}
# busybox wget's own -T segfaults (Debian 1.35), so timeout(1) bounds it.
fetch() { timeout 3 busybox wget -q -O - "$1" 2>/dev/null; }
fetch_until() { # URL: the page, once it answers (up to 5 s)
    for _ in $(seq 50); do
        page=$(fetch "$1") && { printf %s "$page"; return 0; }
        sleep 0.1
    done
    return 1
}
ls_json() { "$S" ls --format json "$@"; }
field() { # NAME EXPR: python expression on the container's ls JSON object c
    ls_json | python3 -c "import json,sys
c=[x for x in json.load(sys.stdin) if x['name']=='$1'][0]
print($2)"
}
ms() { echo $(($(date +%s%N) / 1000000)); }
SERVOS_EXE=$(readlink -f "$S")
# The servos processes of this test (monitors, the processes that hold
# ports), by their binary and state root; NAME: only those of --name NAME.
servos_procs() {
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$SERVOS_EXE" ] || continue
        tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qx "SERVOS_ROOT=$SERVOS_ROOT" || continue
        [ $# -eq 0 ] || tr '\0' ' ' <"$p/cmdline" | grep -q -- "--name $1 " || continue
        echo "${p#/proc/}"
    done
}
run_networks() { ls "$SERVOS_ROOT/stacks" 2>/dev/null | grep -c '^_run-'; }
mounts_under_root() { grep -c " $SERVOS_ROOT/" /proc/self/mountinfo; }
# One line on stderr, and that it names what is wrong (the second line is
# the hint to run --help).
one_line() { # RC ERR REGEX NAME
    [ "$1" -ne 0 ] && [ "$(printf '%s\n' "$2" | grep -vc "^Run 'servos")" -eq 1 ] && matches "$2" "$3"
    ok $? "$4" "expected: an exit code other than 0, one line matching $3 (and the --help hint)" \
        "got:      exit code $1, stderr: $2"
}

# A CGI that answers with the address the program sees its client at.
WWW='mkdir -p /tmp/w/cgi-bin && echo "$HOSTNAME" > /tmp/w/index.html &&
printf "#!/bin/sh\necho Content-Type: text/plain\necho\necho \$REMOTE_ADDR\n" > /tmp/w/cgi-bin/peer &&
chmod +x /tmp/w/cgi-bin/peer'

# --- -p ------------------------------------------------------------------------
P1=$(free_port) P2=$(free_port)
run "$S" run -d --name web -p "$P1:80" -p "$P2:81" host sh -c "$WWW"'
busybox httpd -p 127.0.0.1:81 -h /tmp/w; exec busybox httpd -f -p 80 -h /tmp/w'
is "$rc" 0 "run -d -p starts a busybox httpd"
page=$(fetch_until "http://127.0.0.1:$P1/")
is "$page" "$(field web 'c["id"][:12]')" "-p $P1:80: the httpd answers from the host on 127.0.0.1:$P1"
like "$(ss -Hltn "sport = :$P1")" "127\.0\.0\.1:$P1" "the port is published on 127.0.0.1 by default, as a stack's"
unlike "$(ss -Hltn "sport = :$P1")" "0\.0\.0\.0:$P1|\*:$P1" "and on no other address"
is "$(field web 'c["ports"]')" "['127.0.0.1:$P1->80/tcp', '127.0.0.1:$P2->81/tcp']" \
    "ls --format json shows the published ports"
run "$S" exec web busybox ip -4 -o addr show dev eth0
like "$out" 'inet 10\.[0-9]+\.0\.2/16' "the container has an address of its own on eth0 ($(echo "$out" | grep -o 'inet [0-9./]*'))"
peer=$(fetch "http://127.0.0.1:$P1/cgi-bin/peer")
[ -n "$peer" ] && ! matches "$peer" '127\.0\.0\.1'
ok $? "the program sees its client at the relay's address ($peer), never 127.0.0.1" "peer: $peer"
! fetch "http://127.0.0.1:$P2/" >/dev/null
ok $? "a port the program bound to 127.0.0.1 inside stays private, though -p names it"
key=$(ls "$SERVOS_ROOT/stacks" | grep '^_run-')
link=$(cat "$SERVOS_ROOT/stacks/$key/portlink" 2>/dev/null)

# Ports in use, and bad values: one line each, nothing left behind.
before=$(ls_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
run "$S" run -d -p "$P1:80" host sleep 100
one_line "$rc" "$err" "-p: cannot publish port 127\.0\.0\.1:$P1: Address already in use" \
    "a port in use is one line naming it"
run "$S" run -p "$P1:80" host true
one_line "$rc" "$err" "Address already in use" "attached too"
is "$(ls_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$before" \
    "and no container is left of either"
is "$(run_networks)" 1 "nor a network"
run "$S" run -p 53:53/udp host true
one_line "$rc" "$err" "-p 53:53/udp: only TCP ports can be published" "a UDP port is a clear error, as in a stack"
run "$S" run -p 80:80 --network host host true
one_line "$rc" "$err" "-p with --network host" "-p with --network host is refused"
run "$S" run -p 80:80 --network none host true
one_line "$rc" "$err" "-p with --network none" "-p with --network none is refused"
run "$S" run -p 8o:80 host true
one_line "$rc" "$err" '"8o:80" is not a port mapping' "a mistyped port is refused"

# The fast path off: the userspace relay carries 127.0.0.1 too.
P3=$(free_port)
SERVOS_PORT_RELAY=1 "$S" run -d --name relayed -p "$P3:80" host sh -c "$WWW"'
exec busybox httpd -f -p 80 -h /tmp/w' >/dev/null 2>"$TMP/relay.err"
is "$(fetch_until "http://127.0.0.1:$P3/")" "$(field relayed 'c["id"][:12]')" "the userspace relay publishes it as well"
like "$(cat "$TMP/relay.err")" "relayed in userspace: SERVOS_PORT_RELAY is set" "and says so"
"$S" rm -f relayed >/dev/null

# 0.0.0.0 when asked: reachable at the host's other addresses.
P4=$(free_port)
"$S" run -d --name any -p "0.0.0.0:$P4:80" host sh -c "$WWW"'
exec busybox httpd -f -p 80 -h /tmp/w' >/dev/null
like "$(ss -Hltn "sport = :$P4")" "0\.0\.0\.0:$P4" "-p 0.0.0.0:PORT:80 listens on every address"
other=$(ip -4 -o addr | awk '$2 != "lo" {sub("/.*", "", $4); print $4; exit}')
if [ -n "$other" ]; then
    is "$(fetch_until "http://$other:$P4/")" "$(field any 'c["id"][:12]')" "and answers at the host's $other"
else
    skip "no non-loopback address on this host"
fi
"$S" rm -f any >/dev/null

# Attached: the ports live as long as the command.
P5=$(free_port)
"$S" run --rm -p "$P5:80" host sh -c "$WWW"'
exec timeout 3 busybox httpd -f -p 80 -h /tmp/w' >/dev/null 2>&1 &
att=$!
page=$(fetch_until "http://127.0.0.1:$P5/")
[ -n "$page" ]
ok $? "an attached run -p answers while it runs"
wait "$att"
! ss -Hltn "sport = :$P5" | grep -q .
ok $? "its port closes with it"
is "$(run_networks)" 1 "and its network goes (--rm)"

# stop: the port closes, the network and its link go.
run "$S" stop -t 0 web
! fetch "http://127.0.0.1:$P1/" >/dev/null
ok $? "after stop the port is closed"
is "$(run_networks)" 0 "the container's network is gone (its namespace, stacks/_run-...)"
is "$(mounts_under_root)" 0 "nothing stays mounted under the state root"
[ -n "$link" ] && ! ip link show "$link" >/dev/null 2>&1
ok $? "the fast path's host link $link is gone" "link: '$link'"
"$S" rm web >/dev/null

# --- --tmpfs -------------------------------------------------------------------
run "$S" run --tmpfs /scratch --tmpfs /small:size=4m --tmpfs /x:exec,mode=700 host sh -c '
stat -f -c %T /scratch; grep " /small " /proc/mounts | grep -o "size=[0-9]*k";
cp /bin/true /scratch/t && /scratch/t 2>/dev/null; echo noexec=$?;
cp /bin/true /x/t && /x/t; echo exec=$?; stat -c %a /x; echo hi > /scratch/f && cat /scratch/f'
is "$(echo "$out" | tr '\n' ' ')" "tmpfs size=4096k noexec=126 exec=0 700 hi " \
    "--tmpfs: a tmpfs, noexec by default (as Docker), size= and mode= kept, exec when asked, writable"
run "$S" run --tmpfs /scratch host sh -c 'grep " /scratch " /proc/mounts | grep -o "size=[0-9]*k"'
is "$out" "size=1048576k" "an unsized --tmpfs is bounded by the layer size (1G), not half of RAM"
run "$S" run --tmpfs /x:suid host true
one_line "$rc" "$err" 'tmpfs /x: "suid" is not allowed' "--tmpfs :suid is refused"
run "$S" run --tmpfs /x:sise=1m host true
one_line "$rc" "$err" 'tmpfs /x: unknown option "sise=1m"' "an unknown tmpfs option is one line"
run "$S" run --tmpfs x host true
one_line "$rc" "$err" '--tmpfs "x": the path must be absolute' "a relative tmpfs path is refused"

# --- --env-file -----------------------------------------------------------------
printf '# database settings\nDB_HOST=db.local\n\n  SPACED=a b  \nCALLER_VAR\nUNSET_VAR\nQUOTED="q"\nDB_PORT=1\r\nOVER=file\n   # indented comment\n' >"$TMP/env"
CALLER_VAR=from-caller run "$S" run --env-file "$TMP/env" -e OVER=cli host sh -c \
    'for v in DB_HOST SPACED CALLER_VAR QUOTED DB_PORT OVER; do printf "%s=[%s]\n" $v "$(printenv $v)"; done; env | grep -c "^UNSET_VAR=\|database"'
is "$(echo "$out" | tr '\n' ' ')" "DB_HOST=[db.local] SPACED=[a b  ] CALLER_VAR=[from-caller] QUOTED=[\"q\"] DB_PORT=[1] OVER=[cli] 0 " \
    "--env-file: NAME=VALUE as written, comments skipped, a bare name takes the caller's value (or nothing), -e wins"
printf 'GOOD=1\nBAD NAME=2\n' >"$TMP/env2"
run "$S" run --env-file "$TMP/env2" host true
one_line "$rc" "$err" "--env-file $TMP/env2:2: the name \"BAD NAME\" contains a blank" "a bad line is named by its number"
run "$S" run --env-file "$TMP/none" host true
one_line "$rc" "$err" "--env-file $TMP/none: No such file" "a missing file is one line"
run "$S" run --env-file <(echo PIPED=yes) host printenv PIPED
is "$out" yes "--env-file reads a pipe (<(...)) too"

# --- --label ------------------------------------------------------------------------
"$S" run -d --name lab1 -l team=core --label tier=web --label canary host sleep 100 >/dev/null
"$S" run -d --name lab2 -l team=edge host sleep 100 >/dev/null
is "$(field lab1 'sorted(c["labels"].items())')" "[('canary', ''), ('team', 'core'), ('tier', 'web')]" \
    "--label shows in ls --format json (KEY alone: an empty value)"
is "$(ls_json --filter label=team=core | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)])')" \
    "['lab1']" "--filter label=KEY=VALUE selects by value"
is "$("$S" ls --filter label=team --filter label=canary | tail -n +2 | awk '{print $2}')" lab1 \
    "--filter label=KEY selects by key; filters add up"
is "$("$S" ls -q --filter label=team | wc -l)" 2 "ls -q filters too"
run "$S" ls --filter name=lab1
one_line "$rc" "$err" "--filter: expected label=KEY or label=KEY=VALUE" "an unknown filter is one line"
run "$S" ls --format yaml
one_line "$rc" "$err" "--format: expected table or json" "an unknown format is one line"
run "$S" run -l =x host true
one_line "$rc" "$err" "--label \"=x\": expected KEY=VALUE" "a label without a key is refused"
"$S" rm -f lab1 lab2 >/dev/null

# --- --restart -------------------------------------------------------------------
"$S" run -d --name flaky --restart on-failure:2 host sh -c 'date +%s%3N; exit 3' >/dev/null
for _ in $(seq 100); do
    [ "$(field flaky 'c["state"]')" = exited ] && ! "$S" ls | grep -q "flaky.*restarting" && break
    sleep 0.1
done
sleep 1 # a third restart would have come by now
starts=$("$S" logs flaky)
is "$(echo "$starts" | wc -l)" 3 "--restart on-failure:2: the command ran 3 times (2 restarts)"
is "$(field flaky '(c["state"], c["exit_code"], c["restarts"], c["restart"])')" "('exited', 3, 2, 'on-failure:2')" \
    "then it stays exited with its code, 2 restarts counted"
set -- $starts
d1=$(($2 - $1)) d2=$(($3 - $2))
[ "$d1" -ge 100 ] && [ "$d2" -ge 200 ] && [ "$d2" -lt 2000 ]
ok $? "back-off as a stack's: 100 ms, then 200 ms (${d1} ms, ${d2} ms)" "gaps: $d1 ms, $d2 ms"
is "$(servos_procs flaky)" "" "its monitor is gone"

"$S" run -d --name ok0 --restart on-failure host true >/dev/null
sleep 1
is "$(field ok0 '(c["state"], c["exit_code"], c["restarts"])')" "('exited', 0, 0)" "on-failure does not restart a success"

"$S" run -d --name always --restart always host sh -c 'echo run; exit 0' >/dev/null
sleep 1.2
like "$(field always 'c["restarts"]')" '^[2-9]' "--restart always restarts a success too"
run "$S" rm always
one_line "$rc" "$err" "container always is (restarting|running); stop it first or use servos rm -f" \
    "rm of a restarting container asks for stop or -f"
t=$(ms)
run "$S" stop always
took=$(($(ms) - t))
is "$(servos_procs always)" "" "servos stop returns once the monitor is gone (${took} ms)"
n1=$("$S" logs always | wc -l)
sleep 1.5
is "$("$S" logs always | wc -l)" "$n1" "servos stop stops it for good: it runs no more"
like "$(field always 'c["state"]')" '^exited$' "and stays exited"

"$S" run -d --name again --restart always host sh -c 'exit 1' >/dev/null
sleep 0.5
run "$S" rm -f again
is "$rc" 0 "rm -f removes a restarting container"
sleep 0.8
is "$(servos_procs again)" "" "and nothing is left to start it again"
is "$(ls_json | grep -c '"name": "again"')" 0 "and its row is gone"

run "$S" run --restart always host true
one_line "$rc" "$err" "--restart needs -d" "--restart without -d is refused"
run "$S" run -d --rm --restart always host true
one_line "$rc" "$err" "--restart and --rm cannot go together" "--restart with --rm is refused"
run "$S" run -d --restart sometimes host true
one_line "$rc" "$err" '--restart: "sometimes" is not a restart policy' "an unknown policy is one line"

# --- --stop-signal, --stop-timeout ---------------------------------------------------
"$S" run -d --name trapper --stop-signal USR1 host sh -c \
    'trap "echo got USR1; exit 7" USR1; trap "echo got TERM; exit 8" TERM; echo ready; while :; do sleep 0.1; done' >/dev/null
for _ in $(seq 50); do "$S" logs trapper | grep -q ready && break; sleep 0.1; done
t=$(ms)
"$S" stop trapper >/dev/null
took=$(($(ms) - t))
like "$("$S" logs trapper)" "got USR1" "--stop-signal USR1: servos stop sends USR1, which the trap catches"
is "$(field trapper 'c["exit_code"]')" 7 "the trap's exit code is recorded"
[ "$took" -lt 2000 ]
ok $? "and stop returns at once (${took} ms)" "${took} ms"

"$S" run -d --name sleeper --stop-timeout 1 host sleep 1000 >/dev/null
sleep 0.3
t=$(ms)
"$S" stop sleeper >/dev/null
took=$(($(ms) - t))
[ "$took" -ge 900 ] && [ "$took" -lt 3000 ]
ok $? "--stop-timeout 1: a TERM-ignoring sleep (pid 1) is killed after ~1 s (${took} ms)" "${took} ms"
is "$(field sleeper 'c["exit_code"]')" 137 "by SIGKILL"
"$S" run -d --name sleeper2 --stop-timeout 30 host sleep 1000 >/dev/null
t=$(ms)
"$S" stop -t 0 sleeper2 >/dev/null
took=$(($(ms) - t))
[ "$took" -lt 2000 ]
ok $? "stop -t overrides --stop-timeout (${took} ms)" "${took} ms"

run "$S" run --stop-signal SIGFOO host true
one_line "$rc" "$err" '--stop-signal: "SIGFOO" is not a signal' "an unknown signal is one line"
run "$S" run --stop-timeout 1.5 host true
one_line "$rc" "$err" '--stop-timeout: expected whole seconds from 0 to 86400, got "1.5"' "a fractional timeout is one line"
run "$S" stop -t soon sleeper
one_line "$rc" "$err" 'servos stop: bad value "soon" for --time; usage: servos stop' "stop -t with a bad value is one line"

# --- clean up: nothing of these containers remains --------------------------------
for id in $("$S" ls -q); do "$S" rm -f "$id" >/dev/null; done
is "$("$S" ls -q | wc -l)" 0 "every container is removed"
is "$(run_networks)" 0 "no container network remains"
is "$(mounts_under_root)" 0 "nothing is mounted under the state root"
is "$(ls "$SERVOS_ROOT/containers" | wc -l)" 0 "no container directory remains"
is "$(servos_procs)" "" "no servos process of this test remains (monitors, port keepers)"

done_testing
