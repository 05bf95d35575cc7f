#!/usr/bin/env bash
# Benchmark: servos serve (issue 23's goals).
#  - GET /v1/stacks/NAME of a stack with REPLICAS (100) replicas, N_GET
#    (500) times on one kept-alive connection of the unix socket: p50;
#    `servos ps -p NAME --format json` (the same answer from a new process)
#    beside it for scale;
#  - a replica that logs LINES (50,000) lines at RATE (10,000) lines/s,
#    with FOLLOWERS (1,000) clients following its log and without any,
#    alternating round by round (ROUNDS, 3): every follower must get every
#    line, and the logger must take no more than 5% longer with them;
#  - the daemon's RSS idle, and at its highest while they follow.
# apiload.c (built here) is the client: one thread, epoll.
# Goals: p50 < 2 ms; every line to every follower; the logger slowed < 5%;
# RSS < 10 MB idle, < 30 MB with 1,000 followers.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
ROUNDS=${ROUNDS:-3}
REPLICAS=${REPLICAS:-100}
N_GET=${N_GET:-500}
LINES=${LINES:-50000}
RATE=${RATE:-10000}
FOLLOWERS=${FOLLOWERS:-1000}
T=$(mktemp -d /tmp/servos-bench-api.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
SOCK=$SERVOS_ROOT/servos.sock
LOAD=$ROOT/build/bench/apiload
if [ ! -x "$LOAD" ] || [ "$BENCH_DIR/apiload.c" -nt "$LOAD" ]; then
    mkdir -p "$ROOT/build/bench"
    cc -O2 -o "$LOAD" "$BENCH_DIR/apiload.c"
fi
cleanup() {
    [ -f "$SERVOS_ROOT/serve.pid" ] && kill "$(cat "$SERVOS_ROOT/serve.pid")" 2>/dev/null
    "$SERVOS" down -t 0 -p bapi >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

# The logger: each /tmp/go it finds, LINES lines at RATE a second (in
# batches each millisecond), then its time in /tmp/took.
mkdir -p "$T/bapi"
cat >"$T/bapi/logger.py" <<EOF
import os, sys, time
out = sys.stdout
while True:
    while not os.path.exists("/tmp/go"):
        time.sleep(0.01)
    os.unlink("/tmp/go")
    t0 = time.monotonic()
    for i in range($LINES):
        out.write("line %d of $LINES, some text to make it an ordinary log line\n" % i)
        if i % 10 == 9:
            out.flush()
            due = t0 + (i + 1) / $RATE
            while time.monotonic() < due:
                time.sleep(max(0, min(0.001, due - time.monotonic())))
    out.flush()
    with open("/tmp/took.new", "w") as f:
        f.write("%.3f" % ((time.monotonic() - t0) * 1000))
    os.rename("/tmp/took.new", "/tmp/took")
EOF
cat >"$T/bapi/Envirofile.lua" <<EOF
stack "bapi"
service "idle" { command = { "sleep", "100000" }, replicas = $REPLICAS, stop_signal = "SIGKILL" }
service "logger" {
  command = { "python3", "/bench/logger.py" },
  volumes = { "./logger.py:/bench/logger.py:ro" },
  logging = { options = { ["max-size"] = "200m" } },
  stop_signal = "SIGKILL",
}
EOF
(cd "$T/bapi" && "$SERVOS" up -d >/dev/null)
"$SERVOS" serve -d >/dev/null
PID=$(cat "$SERVOS_ROOT/serve.pid")
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }

# ---- GET of a stack with 100 replicas -----------------------------------------------
"$LOAD" get "$SOCK" /v1/stacks/bapi 20 >/dev/null # warm
"$LOAD" get "$SOCK" /v1/stacks/bapi "$N_GET" | while read -r ms; do sample "$T/get" "$ms"; done
for _ in $(seq 20); do timed "$T/ps" "$SERVOS" ps -p bapi --format json; done
sleep 1
IDLE_RSS=$(rss_kb)

# ---- the logger, followed and not ----------------------------------------------------
run_logger() { # FILE: one run of the logger; its own time in FILE
    "$SERVOS" exec -p bapi logger sh -c 'rm -f /tmp/took; touch /tmp/go'
    for _ in $(seq 6000); do
        took=$("$SERVOS" exec -p bapi logger cat /tmp/took 2>/dev/null) && break
        sleep 0.05
    done
    sample "$1" "${took:-0}" "$([ -n "${took:-}" ] && echo 0 || echo 1)"
}
PEAK_RSS=0
for r in $(seq "$ROUNDS"); do
    for side in $( ((r % 2)) && echo "alone followed" || echo "followed alone"); do
        if [ "$side" = alone ]; then
            run_logger "$T/alone"
            continue
        fi
        "$LOAD" follow "$SOCK" "/v1/stacks/bapi/logs?service=logger&follow=1&tail=0" "$FOLLOWERS" \
            "$LINES" $((LINES / RATE + 30)) >"$T/follow.out" &
        lp=$!
        for _ in $(seq 600); do grep -q ready "$T/follow.out" && break; sleep 0.05; done
        run_logger "$T/followed" &
        rl=$!
        while kill -0 "$lp" 2>/dev/null; do
            r_kb=$(rss_kb)
            [ "$r_kb" -gt "$PEAK_RSS" ] && PEAK_RSS=$r_kb
            sleep 0.2
        done
        wait "$rl"
        read -r min max secs < <(tail -1 "$T/follow.out")
        echo "followers: fewest $min, most $max events of $LINES, $secs s" >&2
        sample "$T/fewest" "$min" "$([ "$min" -ge "$LINES" ] && echo 0 || echo 1)"
    done
done

summarize_all "$T/times" api "$T/get" "$T/ps" "$T/alone" "$T/followed" "$T/fewest"
p50=$(field "$T/times" get 2)
bench_row "GET /v1/stacks/NAME, $REPLICAS replicas" "$(spread_time "$T/times" get)" \
    "servos ps --format json $(spread_time "$T/times" ps)" "$(ratio "$p50" "$(field "$T/times" ps 2)")" \
    "p50 < 2 ms" "$(check le "$p50" 2)"
fewest=$(awk '$1 == "fewest" {print $5}' "$T/times")
bench_row "$FOLLOWERS followers of $LINES lines at $RATE/s: fewest lines a follower got" "${fewest:-0}" - - \
    "all ($LINES)" "$(check le "$LINES" "${fewest:-0}")"
a=$(field "$T/times" alone 2) f=$(field "$T/times" followed 2)
bench_row "the logger's $LINES lines: followed / alone" "$(spread_time "$T/times" followed)" \
    "alone $(spread_time "$T/times" alone)" "$(ratio "$f" "$a")" "< 1.05x" \
    "$(check awk -v a="$a" -v f="$f" 'BEGIN { exit !(a > 0 && f / a < 1.05) }')"
bench_row "daemon RSS, idle" "$((IDLE_RSS / 1024)) MB ($IDLE_RSS kB)" - - "< 10 MB" \
    "$(check test "$IDLE_RSS" -lt 10240)"
bench_row "daemon RSS, $FOLLOWERS followers (peak)" "$((PEAK_RSS / 1024)) MB ($PEAK_RSS kB)" - - \
    "< 30 MB" "$(check test "$PEAK_RSS" -lt 30720)"
bench_done
