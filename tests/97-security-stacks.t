#!/usr/bin/env bash
# Issue 17, the stack and state points, attacked as a user or a local
# attacker would: two stacks whose names join alike (va + b_c, va_b + c),
# a replica named like someone else's container, an unprivileged user
# reading the state root, containers printing 200 MB as fast as they can,
# a full disk under restart and down, an interrupted down. Every stack,
# container and mount is removed at the end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
STACKS="va va_b nx na na-b hn pw pws mig lgc lgk dn"
FULL=$TMP/full
cleanup() {
    for st in $STACKS; do "$S" down -v -t 0 -p "$st" >/dev/null 2>&1; done
    remove_containers
    if mountpoint -q "$FULL"; then
        rm -f "$FULL/filler"
        SERVOS_ROOT=$FULL/root "$S" down -v -t 0 -p df >/dev/null 2>&1
        for id in $(SERVOS_ROOT=$FULL/root "$S" ls -q 2>/dev/null); do
            SERVOS_ROOT=$FULL/root "$S" rm -f "$id" >/dev/null 2>&1
        done
        SERVOS_ROOT=$FULL/root remove_cgroup_parent # the second root's parent too
        umount "$FULL"
    fi
    [ -n "${reader:-}" ] && kill "$reader" 2>/dev/null
}
D=$TMP/work
mkdir -p "$D"
cd "$D" || exit 1
ps_json() { "$S" ps --format json -p "$1"; }
pid_of() { ps_json "$1" | jq -r ".[] | select(.service==\"$2\" and .replica==1) | .pid"; }
state_of() { ps_json "$1" | jq -r ".[] | select(.service==\"$2\" and .replica==1) | .state"; }
nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
# Bytes in the regular files under a directory (the log files themselves).
bytes() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
# 200,000 numbered lines of 1,000 bytes: 200 MB, as fast as awk writes.
AWKPROG='BEGIN { p = sprintf("%990s", ""); for (i = 0; i < 200000; i++) printf "%d %s\n", i, p }'
SPEW="awk '$AWKPROG'"
# Sample the bytes under DIR every 50 ms until FILE's end shows the last
# line (at most 60 s); print the largest.
watch_bytes() { # DIR FILE
    local max=0 b
    for _ in $(seq 1200); do
        b=$(bytes "$1")
        [ "$b" -gt "$max" ] && max=$b
        tail -c 2000 "$2" 2>/dev/null | grep -q '^199999 ' && break
        sleep 0.05
    done
    echo "$max"
}
# The line numbers a log shows: consecutive, ending at the last one written.
in_order() { awk '{ if (NR > 1 && $1 != p + 1) g++; p = $1 } END { print g + 0, p }'; }

# ---- 6. names joined with a separator the names may contain ------------------------------
mkdir -p va vab
cat >va/Envirofile.lua <<'LUA'
stack "va"
volume "b_c"
service "w" { command = "echo va > /d/owner; exec sleep 1000", volumes = { "b_c:/d" },
              stop_grace_period = "1s" }
LUA
cat >vab/Envirofile.lua <<'LUA'
stack "va_b"
volume "c"
service "w" { command = "echo va_b > /d/owner; exec sleep 1000", volumes = { "c:/d" },
              stop_grace_period = "1s" }
LUA
(cd vab && "$S" up -d >/dev/null 2>&1)
(cd va && "$S" up -d >/dev/null 2>&1)
is "$("$S" exec -p va_b w cat /d/owner)" va_b "va_b's volume c is its own (va's b_c is not the same directory)"
is "$("$S" exec -p va w cat /d/owner)" va "and va's b_c is va's"
vab_pid=$(pid_of va_b w)
run "$S" down -v -t 0 -p va
is "$rc" 0 "down -v -p va"
is "$(state_of va_b w)/$(pid_of va_b w)" "running/$vab_pid" "another stack, va_b, still runs"
is "$("$S" exec -p va_b w cat /d/owner)" va_b "and keeps its volume's data"
[ ! -e "$SERVOS_ROOT/volumes/stacks/va" ]
ok $? "va's volumes are gone"
! ls "$SERVOS_ROOT/volumes" | grep -q _
ok $? "no volume directory is a joined name" || diag "$(ls "$SERVOS_ROOT/volumes")"
"$S" down -v -t 0 -p va_b >/dev/null 2>&1

# A volume from an older version (volumes/STACK_NAME) is taken over by its
# stack when no other stack could own it, and refused when one could.
mkdir -p "$SERVOS_ROOT/volumes/mig_data"
echo "from before" >"$SERVOS_ROOT/volumes/mig_data/kept"
cat >mig.lua <<'LUA'
stack "mig"
volume "data"
service "s" { command = "exec sleep 1000", volumes = { "data:/d" }, stop_grace_period = "1s" }
LUA
run "$S" up -d mig.lua
is "$("$S" exec -p mig s cat /d/kept)" "from before" "an old-layout volume keeps its data under the new layout"
[ ! -e "$SERVOS_ROOT/volumes/mig_data" ] && [ -e "$SERVOS_ROOT/volumes/stacks/mig/data/kept" ]
ok $? "and was moved to volumes/stacks/mig/data"
"$S" down -v -t 0 -p mig >/dev/null 2>&1
mkdir -p "$SERVOS_ROOT/volumes/va_b_c"
echo "whose?" >"$SERVOS_ROOT/volumes/va_b_c/kept"
cat >vab/Envirofile.lua <<'LUA'
stack "va_b"
service "other" { command = "exec sleep 1000", stop_grace_period = "1s" }
LUA
(cd vab && "$S" up -d >/dev/null 2>&1)
run sh -c "cd va && '$S' up -d"
[ "$rc" -ne 0 ] && matches "$err" 'volumes/va_b_c .*stack "va" or for stack "va_b".*move it'
ok $? "an old volume two stacks could own is refused, saying where to move it" "$rc $err"
is "$(cat "$SERVOS_ROOT/volumes/va_b_c/kept")" "whose?" "and left as it was"
"$S" down -v -t 0 -p va_b >/dev/null 2>&1
"$S" down -v -t 0 -p va >/dev/null 2>&1

# ---- 7. a replica named like someone else's container -------------------------------------
run "$S" run -d --name nx-web-1 host sh -c 'echo mine; exec sleep 1000'
mine=$("$S" ls | awk '$2 == "nx-web-1" {print $1}')
cat >nx.lua <<'LUA'
stack "nx"
service "web" { command = "exec sleep 1000", stop_grace_period = "1s" }
LUA
run "$S" up -d nx.lua
[ "$rc" -ne 0 ] && matches "$err" 'container "nx-web-1".*servos run'
ok $? "up refuses to take a run container's name, and says why" "$rc $err"
like "$("$S" ls | awk '$2 == "nx-web-1"')" "^$mine .*running" "the user's container nx-web-1 still runs, untouched"
is "$("$S" logs nx-web-1)" mine "with its own output"
"$S" down -t 0 -p nx >/dev/null 2>&1
"$S" rm -f nx-web-1 >/dev/null 2>&1

cat >na.lua <<'LUA'
stack "na"
service "b-c" { command = "echo I am na; exec sleep 1000", stop_grace_period = "1s" }
LUA
cat >nab.lua <<'LUA'
stack "na-b"
service "c" { command = "exec sleep 1000", stop_grace_period = "1s" }
LUA
"$S" up -d na.lua >/dev/null 2>&1
na_pid=$(pid_of na b-c)
run "$S" up -d nab.lua
[ "$rc" -ne 0 ] && matches "$err" '"na-b-c-1".*service "b-c" in stack "na"'
ok $? "stack na-b's c cannot take stack na's b-c's name" "$rc $err"
is "$(state_of na b-c)/$(pid_of na b-c)" "running/$na_pid" "na's replica still runs (same pid)"
"$S" down -t 0 -p na-b >/dev/null 2>&1
"$S" down -t 0 -p na >/dev/null 2>&1

# The same join inside a stack: replica 1 of "web" and a service "web-1" would
# share the name web-1 in every /etc/hosts.
cat >hn.lua <<'LUA'
stack "hn"
service "web" { command = "exec sleep 1000", stop_grace_period = "1s" }
service "web-1" { command = "exec sleep 1000", stop_grace_period = "1s" }
LUA
run "$S" up -d hn.lua
[ "$rc" -ne 0 ] && matches "$err" 'services "web" and "web-1" would both be called "web-1"'
ok $? "a service named like another's replica is refused on the stack network" "$rc $err"
"$S" down -t 0 -p hn >/dev/null 2>&1

# And the host link of a stack's published ports: its name was a 40-bit
# hash of the stack's directory, so a stack name can be chosen to meet
# another stack's; the second stack then took the first one's link over
# (and deleted it at its down), and the first stack's port went dead.
cc -O1 -o "$TMP/linkname_collide" "$ROOT/tests/probes/linkname_collide.c"
read -r LA LB < <("$TMP/linkname_collide" "$SERVOS_ROOT")
STACKS="$STACKS $LA $LB"
fetch() { timeout 3 busybox wget -q -O - "$1" 2>/dev/null; }
answer() { # URL WANT: what URL answers, waiting up to 5 s for WANT (a replica may still start)
    local got=
    for _ in $(seq 50); do
        got=$(fetch "$1")
        [ "$got" = "$2" ] && break
        sleep 0.1
    done
    echo "$got"
}
PA=$(free_port) PB=$(free_port)
for st in "$LA:$PA" "$LB:$PB"; do
    mkdir -p "${st%%:*}"
    cat >"${st%%:*}/Envirofile.lua" <<LUA
stack "${st%%:*}"
service "web" {
  command = "mkdir -p /tmp/www && echo ${st%%:*} > /tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www",
  ports = { "${st##*:}:80" },
  healthcheck = { test = "busybox wget -q -O /dev/null http://127.0.0.1/", interval = "200ms", retries = 50 },
  stop_grace_period = "1s",
}
LUA
done
(cd "$LA" && "$S" up -d >/dev/null 2>&1)
(cd "$LB" && "$S" up -d >/dev/null 2>&1)
is "$(answer "http://127.0.0.1:$PA/" "$LA")/$(answer "http://127.0.0.1:$PB/" "$LB")" "$LA/$LB" \
    "two stacks whose old link names meet ($LA, $LB) both answer on their ports"
"$S" down -t 0 -p "$LB" >/dev/null 2>&1
is "$(answer "http://127.0.0.1:$PA/" "$LA")" "$LA" "and the first still answers after the second's down"
"$S" down -t 0 -p "$LA" >/dev/null 2>&1

# ---- 11. the state root is root's -----------------------------------------------------------
cat >pw.lua <<'LUA'
stack "pw"
service "db" { command = "echo started; exec sleep 1000", env = { DB_PASSWORD = "pw-s3cret-97" },
               stop_grace_period = "1s" }
LUA
PORT=$((20000 + RANDOM % 12000))
mkdir -p pws
cat >pws/manifest.yaml <<YAML
name: pws
port: $PORT
host: 127.0.0.1
environment:
  API_TOKEN: "tok-s3cret-97"
endpoints:
  - path: /ok
    method: GET
    response:
      ok: true
YAML
"$S" up -d pw.lua >/dev/null 2>&1
run "$S" apply -p pws pws/manifest.yaml
for _ in $(seq 100); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT/ok" && break; sleep 0.05; done
is "$(curl -s -m 5 "http://127.0.0.1:$PORT/ok")" '{"ok":true}' "a ProServe service still reads its manifest"
is "$("$S" exec -p pw db cat /etc/hosts | grep -c db-1)" 1 "a replica still reads the stack's hosts file"
[ -n "$(grep -rlsa -e pw-s3cret-97 "$SERVOS_ROOT")" ] && [ -n "$(grep -rlsa -e tok-s3cret-97 "$SERVOS_ROOT")" ]
ok $? "both secrets are in the state root (root finds them)"
for f in state.db state.db-wal state.db-shm stacks/pw/request stacks/pw/logs/db-1.log; do
    ! nobody cat "$SERVOS_ROOT/$f" >/dev/null 2>&1
    ok $? "an unprivileged user cannot read $f"
done
# The attacker knows the layout (it is documented): every path there is,
# as root lists them, tried as nobody.
found=$(find "$SERVOS_ROOT" -type f -print0 | nobody xargs -0 grep -lsa -e pw-s3cret-97 -e tok-s3cret-97 2>/dev/null)
is "$found" "" "an unprivileged user who tries every file of the state root finds neither secret"
! nobody ls "$SERVOS_ROOT/stacks" >/dev/null 2>&1
ok $? "nor lists the stacks"
# A root made by an older version: tightened by the next command.
chmod 644 "$SERVOS_ROOT"/state.db*
chmod 711 "$SERVOS_ROOT/stacks" "$SERVOS_ROOT/stacks/pw"
"$S" ls >/dev/null
is "$(stat -c %a "$SERVOS_ROOT"/state.db* | sort -u | tr '\n' ' ')" "600 " "an old root's state.db* are made 0600 on open"
is "$(stat -c %a "$SERVOS_ROOT/stacks")" 700 "and its stacks directory 0700"
"$S" ps -p pw >/dev/null
"$S" up -d pw.lua >/dev/null 2>&1
is "$(stat -c %a "$SERVOS_ROOT/stacks/pw")" 700 "and a stack's directory at its next up"
"$S" down -t 0 -p pws >/dev/null 2>&1
"$S" down -t 0 -p pw >/dev/null 2>&1

# A read verb creates nothing.
"$S" ps -p nosuch >/dev/null 2>&1
"$S" logs -p nosuch >/dev/null 2>&1
[ ! -e "$SERVOS_ROOT/stacks/nosuch" ]
ok $? "ps -p and logs -p of an unknown stack create no stack directory"

# ---- 14. logs are capped while they are written -------------------------------------------
t0=$(date +%s.%N)
id=$("$S" run -d --log-opt max-size=2m --log-opt max-file=3 host sh -c "$SPEW")
dir=$SERVOS_ROOT/containers/$id
max=$(watch_bytes "$dir" "$dir/log")
for _ in $(seq 200); do "$S" ls | grep "^${id:0:12}" | grep -q exited && break; sleep 0.1; done
t1=$(date +%s.%N)
diag "run -d: 200 MB written in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s; largest log directory seen: $max bytes"
[ "$max" -le $((6 * 1048576)) ]
ok $? "run -d with max-size=2m max-file=3: the log stays within 6 MB while 200 MB are written ($max)" "$max"
[ "$(bytes "$dir")" -le $((6 * 1048576)) ]
ok $? "and after" || diag "$(bytes "$dir")"
is "$(ls "$dir" | grep -c '^log\.[0-9]$')" 2 "two rotated files are kept besides log"
is "$("$S" logs --tail 1 "$id" | cut -d' ' -f1)" 199999 "servos logs shows the newest line"
is "$("$S" logs "$id" | in_order)" "0 199999" "and the kept lines in order, oldest file first"
"$S" rm "$id" >/dev/null

id=$("$S" run -d host sh -c "$SPEW")
for _ in $(seq 300); do "$S" ls | grep "^${id:0:12}" | grep -q exited && break; sleep 0.1; done
b=$(bytes "$SERVOS_ROOT/containers/$id")
[ "$b" -le $((30 * 1048576)) ] && [ "$b" -ge $((20 * 1048576)) ]
ok $? "run -d by default keeps 10 MB x 3 of 200 MB ($b)" "$b"
"$S" rm "$id" >/dev/null

# A stack service, with Compose's logging options.
mkdir -p lgc
cat >lgc/compose.yaml <<YAML
name: lgc
services:
  spew:
    image: host
    command:
      - sh
      - -c
      - |
        $SPEW; exec sleep 1000
    stop_grace_period: 1s
    logging:
      driver: json-file
      options:
        max-size: 2m
        max-file: "3"
YAML
run "$S" up -d lgc/compose.yaml
is "$rc" 0 "a compose service with logging.options comes up" || diag "$err"
logs=$SERVOS_ROOT/stacks/lgc/logs
max=$(watch_bytes "$logs" "$logs/spew-1.log")
diag "stack: largest log directory seen: $max bytes"
[ "$max" -le $((6 * 1048576 + 3 * 524288)) ]
ok $? "a replica's logs stay within max-size x max-file (+ their time index) while 200 MB are written ($max)" "$max"
like "$("$S" logs -p lgc --tail 1 spew)" '^spew-1 +\| 199999 ' "servos logs shows the newest line"
is "$("$S" logs -p lgc spew | sed 's/^spew-1 *| //' | in_order)" "0 199999" "and the kept lines in order across the rotated files"
like "$("$S" logs -t -p lgc --tail 1 spew)" '^spew-1 +\| 20[0-9-]+T[0-9:.]+ 199999 ' "logs -t still knows when the newest line arrived"
"$S" down -t 0 -p lgc >/dev/null 2>&1

# kill -9 of the supervisor while a replica writes fast loses nothing. The
# log is written at least once (engine/log/logfile.c peeks at the FIFO, writes,
# then consumes): a kill between the write and the consume leaves that chunk
# for the next supervisor, which writes it again. So: no line missing, and
# the order broken at most once, where the chunk starts over (a chunk that
# ended mid-line joins that partial line to the chunk's first one).
cat >lgk.lua <<'LUA'
stack "lgk"
service "count" { command = "seq 1 300000; echo END; exec sleep 1000", stop_grace_period = "1s" }
LUA
"$S" up -d lgk.lua >/dev/null 2>&1
sup=$(grep -o 'supervisor of stack lgk (pid [0-9]*)' "$SERVOS_ROOT/stacks/lgk/supervisor.log" | tail -1 | grep -o '[0-9]*)' | tr -d ')')
kill -9 "$sup"
sleep 1
"$S" ps -p lgk >/dev/null # a new supervisor re-adopts the replica
for _ in $(seq 100); do "$S" logs -p lgk --tail 1 count | grep -q END && break; sleep 0.1; done
is "$("$S" logs -p lgk count | sed 's/^count-1 *| //' | grep -v END | awk '
    { seen[$1] = 1; if (NR > 1 && $1 != prev + 1) { if ($1 <= prev) back++; else gap++ } prev = $1 }
    END { for (i = 1; i <= 300000; i++) if (!(i in seen)) lost++; print lost + 0, (gap <= 1), (back <= 1) }')" "0 1 1" \
    "kill -9 of the supervisor mid-output: all 300000 lines, in order but for one chunk written again"
"$S" down -t 0 -p lgk >/dev/null 2>&1

# ---- low: an interrupted down, then up ---------------------------------------------------------
cat >dn.lua <<'LUA'
stack "dn"
service "stubborn" { command = { "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done" },
                     stop_grace_period = "3s" }
LUA
"$S" up -d dn.lua >/dev/null 2>&1
"$S" down -p dn >/dev/null 2>&1 &
dpid=$!
sleep 0.5
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
run "$S" up -d dn.lua
is "$rc" 0 "up right after an interrupted down succeeds (it waits for the old supervisor)" || diag "$err"
is "$(state_of dn stubborn)" running "and the stack runs"
"$S" down -t 0 -p dn >/dev/null 2>&1

# ---- low: a full disk under restart and down -------------------------------------------------
mkdir -p "$FULL"
mount -t tmpfs -o size=16m tmpfs "$FULL"
chmod 711 "$FULL"
F() { SERVOS_ROOT=$FULL/root "$S" "$@"; }
cat >df.lua <<'LUA'
stack "df"
service "web" { command = "exec sleep 1000", replicas = 12, stop_grace_period = "1s" }
LUA
F up -d df.lua >/dev/null 2>&1
# A reader holding a snapshot (as a long `servos ps` would) keeps sqlite's
# log from starting over, so the writes below need new disk space. It
# writes a page first (the same user_version): a snapshot of a log whose
# every page is in the database already (the supervisor checkpoints after
# an up) holds nothing back.
hold_reader() {
    python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA user_version=%d" % c.execute("PRAGMA user_version").fetchone()[0])
c.execute("BEGIN"); c.execute("SELECT count(*) FROM containers").fetchone()
time.sleep(float(sys.argv[2]))' "$FULL/root/state.db" "$1" &
    reader=$!
    sleep 0.5
}
hold_reader 6
dd if=/dev/zero of="$FULL/filler" bs=1M count=64 2>/dev/null
run F restart -p df web
[ "$rc" -ne 0 ] && matches "$err" 'cannot start again.*(disk is full|No space left)'
ok $? "restart on a full disk fails, saying why" "$rc $err"
rm -f "$FULL/filler"
wait "$reader"
reader=
for _ in $(seq 100); do
    [ "$(F ps --format json -p df | jq '[.[] | select(.state=="running")] | length')" = 12 ] && break
    sleep 0.2
done
is "$(F ps --format json -p df | jq '[.[] | select(.state=="running")] | length')" 12 \
    "once there is room, the supervisor has them running again"
hold_reader 6
dd if=/dev/zero of="$FULL/filler" bs=1M count=64 2>/dev/null
run F down -t 0 -p df
[ "$rc" -ne 0 ] && matches "$err" '(disk is full|No space left)'
ok $? "down on a full disk fails, saying why (not 0 with rows left)" "$rc $err"
left=$(F ls -q | wc -l)
[ "$left" -gt 0 ] && [ -e "$FULL/root/stacks/df" ]
ok $? "what it could not remove is still recorded ($left rows)" "$left"
rm -f "$FULL/filler"
wait "$reader"
reader=
run F down -t 0 -p df
is "$rc" 0 "with room again, down finishes"
is "$(F ls -q | wc -l)" 0 "and nothing of the stack is left"
[ ! -e "$FULL/root/stacks/df" ]
ok $? "not even its directory"
umount "$FULL"

done_testing
