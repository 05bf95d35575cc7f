#!/usr/bin/env bash
# Stacks end to end: up, reconcile, dependencies, health, restarts, scale,
# volumes, supervisor crash and re-adoption, down. Real containers; every
# stack is brought down at the end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
CGP=$(cgroup_parent)
cleanup() {
    for st in t70 t70b t70c t70d; do "$S" down -v -t 0 -p "$st" >/dev/null 2>&1; done
    remove_containers
}
cgroups() { find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$CGP/*" | wc -l; }
CG0=$(cgroups)
D=$TMP/stack
mkdir -p "$D"
cd "$D" || exit 1
ps_json() { "$S" ps --format json ${P:+-p "$P"}; }
pid_of() { ps_json | jq -r ".[] | select(.service==\"$1\" and .replica==${2:-1}) | .pid"; }
count_running() { ps_json | jq "[.[] | select(.state==\"running\")] | length"; }

cat >Envirofile.lua <<'LUA'
stack "t70"
volume "data"
service "db" {
  command = "sleep 1; date +%s.%N > /data/ready_at; echo db-ready; exec sleep 1000",
  volumes = { "data:/data" },
  healthcheck = { test = { "sh", "-c", "test -e /data/ready_at" }, interval = "200ms", retries = 50 },
  stop_grace_period = "1s",
}
service "web" {
  command = "date +%s.%N > /tmp/started_at; echo web-up; exec sleep 1000",
  depends_on = { db = "healthy" },
  replicas = 2,
  stop_grace_period = "1s",
}
service "counter" {
  command = "i=0; while true; do i=$((i+1)); echo n=$i; sleep 0.1; done",
  stop_grace_period = "1s",
}
LUA

run "$S" up -d
is "$rc" 0 "up -d converges the stack" || diag "$err"
is "$(count_running)" 4 "every replica runs (db, web x2, counter)"
ready=$("$S" exec db cat /data/ready_at)
started=$("$S" exec web-1 cat /tmp/started_at)
awk -v r="$ready" -v s="$started" 'BEGIN{exit !(s >= r)}'
ok $? "web started after db was healthy ($started >= $ready)" "ready $ready started $started"
is "$(ps_json | jq -r '.[] | select(.service=="db") | .health')" healthy "ps shows db healthy"
run "$S" ps
like "$out" "web +2 +running" "ps lists replicas"
for k in service replica state health pid uptime restarts exit_code ports; do
    is "$(ps_json | jq "[.[] | has(\"$k\")] | all")" true "ps --format json has \"$k\""
done

pids=$(ps_json | jq -c '[.[] | .pid]')
run "$S" up -d
is "$rc" 0 "up again"
is "$(ps_json | jq -c '[.[] | .pid]')" "$pids" "up on an unchanged file keeps every pid"

db_pid=$(pid_of db) counter_pid=$(pid_of counter)
sed -i 's/echo web-up/echo web-v2/' Envirofile.lua
run "$S" up -d
is "$rc" 0 "up after changing web"
is "$(pid_of db)/$(pid_of counter)" "$db_pid/$counter_pid" "only the changed service is recreated"
[ "$(pid_of web 1)" != "$(echo "$pids" | jq '.[1]')" ]
ok $? "web's replicas are new"
run "$S" logs web-1
like "$out" "web-1 +\| web-v2" "logs SERVICE-N shows the new replica's output"

sleep 0.3
run "$S" logs -t counter
like "$(echo "$out" | head -1)" '^counter-1 +\| 20[0-9-]+T[0-9:.]+ n=1$' "logs -t shows when each line arrived"

# A changed dependency is recreated; its dependant is left alone.
web_pid=$(pid_of web)
sed -i 's/echo db-ready/echo db-ready-v2/' Envirofile.lua
run "$S" up -d
[ "$(pid_of db)" != "$db_pid" ]
ok $? "db changed: recreated"
is "$(pid_of web)" "$web_pid" "web, which depends on db, is left alone"
db_pid=$(pid_of db)
run "$S" restart counter
[ "$(pid_of counter)" != "$counter_pid" ]
ok $? "restart SERVICE starts it anew"
counter_pid=$(pid_of counter)

run "$S" scale web=3
is "$(ps_json | jq '[.[] | select(.service=="web")] | length')" 3 "scale web=3"
run "$S" scale web=1
is "$(ps_json | jq '[.[] | select(.service=="web")] | length')" 1 "scale web=1"
run "$S" exec web sh -c 'hostname'
is "$out" web-1 "exec SERVICE runs in replica 1"

# Supervisor crash: replicas keep running, the next command re-adopts them.
sup=$(cat "$SERVOS_ROOT/stacks/t70/supervisor.log" | grep -o 'supervisor of stack t70 (pid [0-9]*)' | tail -1 | grep -o '[0-9]*)' | tr -d ')')
before=$(pid_of counter)
kill -9 "$sup"
sleep 0.5
kill -0 "$before"
ok $? "kill -9 of the supervisor leaves the replicas running"
is "$(pid_of counter)" "$before" "the next command re-adopts them (same pid)"
grep -q "adopted t70-counter-1" "$SERVOS_ROOT/stacks/t70/supervisor.log"
ok $? "a new supervisor adopted them"
ns=$("$S" logs counter | sed 's/.*n=//' | tr '\n' ' ')
# (the log holds the incarnation before `restart` too: count from its last n=1)
gaps=$(echo "$ns" | awk '{s=1; for(i=1;i<=NF;i++) if ($i==1) s=i; for(i=s+1;i<=NF;i++) if ($i != $(i-1)+1) g++; print g+0}')
is "$gaps" 0 "logs lost no line across the crash"
run "$S" up -d
is "$(pid_of counter)" "$before" "up after re-adoption changes nothing"

# Volumes survive down/up, and go with down -v.
run "$S" exec db sh -c 'echo keep > /data/kept && cat /data/kept'
is "$rc:$out" "0:keep" "a file written into the named volume" || diag "$err"
run "$S" down -t 1
is "$rc" 0 "down"
is "$("$S" ls -q | wc -l)" 0 "after down no state row remains"
is "$(cgroups)" "$CG0" "after down no cgroup remains"
gone "$before"
ok $? "after down no replica process remains"
[ ! -e "$SERVOS_ROOT/stacks/t70" ]
ok $? "after down no stack directory remains"
run "$S" up -d
is "$("$S" exec db cat /data/kept)" keep "named volume data survives down and up"
vol=$SERVOS_ROOT/volumes/stacks/t70/data
[ -e "$vol/kept" ] && had=yes || had=no
run "$S" down -v -t 1
[ "$had" = yes ] && [ ! -e "$vol" ]
ok $? "down -v removes the named volume" "before: $had"

# A service removed from the file is stopped and removed.
cat >Envirofile.lua <<'LUA'
stack "t70b"
service "keep" { command = "exec sleep 1000", stop_grace_period = "1s", tmpfs = { "/scratch" } }
service "drop" { command = "exec sleep 1000", stop_grace_period = "1s" }
LUA
"$S" up -d >/dev/null 2>&1
run "$S" exec keep sh -c 'grep " /scratch " /proc/mounts | cut -d" " -f3'
is "$out" tmpfs "tmpfs mounts"
sed -i '/"drop"/d' Envirofile.lua
run "$S" up -d
is "$(ps_json | jq -r '[.[] | .service] | join(",")')" keep "a service removed from the file is removed"
# An unhealthy dependency fails up with a clear message instead of hanging.
cat >>Envirofile.lua <<'LUA'
service "sick" { command = "exec sleep 1000", stop_grace_period = "1s",
                 healthcheck = { test = { "false" }, interval = "100ms", retries = 2 } }
service "needs" { command = "exec sleep 1000", depends_on = { sick = "healthy" } }
LUA
t0=$(date +%s)
run "$S" up -d
[ "$rc" -ne 0 ] && matches "$err" 'service "needs": dependency "sick" did not become healthy'
ok $? "an unhealthy dependency fails up clearly" "exit code $rc" "$err"
[ $(($(date +%s) - t0)) -lt 10 ]
ok $? "and promptly"
"$S" down -t 0 >/dev/null 2>&1

# Restart policies.
cat >Envirofile.lua <<'LUA'
stack "t70b"
service "flaky" { command = "echo try; exit 3", restart = "on-failure:2" }
service "once" { command = "exit 4" }
service "always" { command = "sleep 0.2; exit 0", restart = "always" }
LUA
run "$S" up -d
sleep 3
is "$(ps_json | jq -r '.[] | select(.service=="flaky") | "\(.restarts) \(.exit_code)"')" "2 3" "on-failure:2 restarts twice, then stays exited (3)"
is "$(ps_json | jq -r '.[] | select(.service=="once") | "\(.restarts) \(.exit_code)"')" "0 4" "restart no: exited once (4)"
r=$(ps_json | jq -r '.[] | select(.service=="always") | .restarts')
[ "$r" -ge 3 ]
ok $? "restart always keeps restarting ($r)" "$r"
[ "$r" -le 12 ]
ok $? "with back-off ($r restarts in 3 s, not hundreds)" "$r"
run "$S" down -t 0
is "$rc" 0 "down of a restarting stack"

# Bad input leaves the running stack as it was.
cat >Envirofile.lua <<'LUA'
stack "t70c"
service "good" { command = "exec sleep 1000", stop_grace_period = "1s" }
LUA
"$S" up -d >/dev/null 2>&1
good=$(pid_of good)
cat >>Envirofile.lua <<'LUA'
service "bad" { command = { "no-such-command" } }
LUA
run "$S" up -d
[ "$rc" -ne 0 ] && matches "$err" 'service "bad".*no-such-command: command not found'
ok $? "a missing command fails up with a clear error" "exit code $rc" "$err"
is "$(pid_of good)" "$good" "and leaves the rest of the stack as it was"
sed -i 's/{ "no-such-command" }/"true", image = "\/no\/such\/rootfs"/' Envirofile.lua
run "$S" up -d
like "$err" '/no/such/rootfs' "a missing image fails up with a clear error"
printf 'service "a" { command = "true", depends_on = { "b" } }\nservice "b" { command = "true", depends_on = { "a" } }\n' >>Envirofile.lua
run "$S" up -d
like "$err" 'cycle' "a dependency cycle fails up with a clear error"
is "$(P=t70c pid_of good)" "$good" "the stack is still as it was"

# kill -9 of `servos up` halfway: the next up converges.
"$S" down -t 0 >/dev/null 2>&1
cat >Envirofile.lua <<'LUA'
stack "t70c"
service "slow" { command = "sleep 1; touch /tmp/ok; exec sleep 1000", stop_grace_period = "1s",
                 healthcheck = { test = { "test", "-e", "/tmp/ok" }, interval = "100ms", retries = 30 } }
service "after" { command = "exec sleep 1000", depends_on = { slow = "healthy" }, replicas = 2 }
LUA
"$S" up -d >/dev/null 2>&1 &
upid=$!
sleep 0.4
kill -9 "$upid"
wait "$upid" 2>/dev/null
run "$S" up -d
is "$rc" 0 "after kill -9 of up halfway, the next up succeeds"
is "$(count_running)" 3 "and the stack converged (no duplicate, nothing missing)"
"$S" down -t 0 >/dev/null 2>&1

# Two ups at the same moment: one waits; one supervisor, no duplicates.
cat >Envirofile.lua <<'LUA'
stack "t70c"
service "good" { command = "exec sleep 1000", stop_grace_period = "1s" }
service "more" { command = "exec sleep 1000", replicas = 3, stop_grace_period = "1s" }
LUA
"$S" up -d >"$TMP/u1" 2>&1 &
u1=$!
"$S" up -d >"$TMP/u2" 2>&1 &
u2=$!
wait "$u1" && wait "$u2"
ok $? "two concurrent ups both succeed" || diag "$(cat "$TMP/u1" "$TMP/u2")"
is "$(ps_json | jq 'length')" 4 "two concurrent ups: no duplicate replicas"
is "$(grep -c 'supervisor of stack t70c' "$SERVOS_ROOT/stacks/t70c/supervisor.log")" 1 "one supervisor"

# Attached up: Ctrl-C stops the stack.
"$S" down -t 0 >/dev/null 2>&1
"$S" up >"$TMP/attached" 2>&1 &
upid=$!
for _ in $(seq 50); do [ "$(count_running 2>/dev/null)" = 4 ] && break; sleep 0.1; done
kill -INT "$upid"
for _ in $(seq 100); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$upid" 2>/dev/null
ok $? "Ctrl-C ends an attached up" || kill -9 "$upid"
is "$("$S" ls -q | wc -l)" 0 "and stops the stack"

# ps --format json escapes what it prints: an image path with a quote and
# a backslash (a busybox root file system) comes out as valid JSON.
q=$TMP/'bb"q"\b'
mkdir -p "$q/bin" && cp "$(command -v busybox)" "$q/bin/busybox"
cat >Envirofile.lua <<LUA
stack "t70d"
service "quoted" { image = [[$q]], command = { "/bin/busybox", "sleep", "1000" }, stop_grace_period = "1s" }
LUA
run "$S" up -d
is "$rc" 0 "up with an image path holding a quote and a backslash" || diag "$err"
is "$(ps_json | jq -r '.[0].image')" "$q" "ps --format json writes it as valid JSON, escaped"
"$S" down -t 0 >/dev/null 2>&1

# A file whose real path is longer than the system allows: up says why
# it cannot go on (it said "unknown error").
mkdir "$TMP/deep" && cd "$TMP/deep" || exit 1
long=$(printf 'd%.0s' $(seq 250))
for _ in $(seq 20); do mkdir "$long" && cd "$long" || break; done
printf 'stack "t70d"\nservice "a" { command = "exec sleep 1000" }\n' >Envirofile.lua
run "$S" up -d Envirofile.lua
[ "$rc" -ne 0 ] && like "$err" '^servos: cannot find the real path of Envirofile.lua: File name too long$' \
    "up of a file with too long a real path says why it fails" ||
    fail "up of a file with too long a real path says why it fails" "$err"
cd "$D" || exit 1
done_testing
