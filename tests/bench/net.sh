#!/usr/bin/env bash
# Benchmark: what stack networking costs.
#  - up -d and down of a 10-service stack with network = "none" and on the
#    stack network (own netns, veth, bridge, /etc/hosts per container);
#    the difference per container is the cost of networking a start.
#  - tcpload through a published port from the host (127.0.0.1: the kernel's
#    path, engine/net/pubnat.h; 127.0.0.2: the supervisor's userspace relay)
#    against a direct connection to the replica (from inside the stack's
#    network namespace): request/response on 1 and 16 kept-alive
#    connections, a new connection per request, and one bulk stream.
# Goals: networking adds < 2 ms per container start; the published port
# carries >= 70% of direct throughput.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
T=$(mktemp -d /tmp/servos-bench-net.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
cleanup() {
    for d in none net load; do (cd "$T/$d" 2>/dev/null && "$SERVOS" down -t 0 >/dev/null 2>&1) || true; done
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bin" "$T/none" "$T/net" "$T/load"
cc -O2 -o "$T/bin/tcpload" "$ROOT/tests/bench/tcpload.c"
for d in none net; do
    {
        echo "stack \"bn$d\""
        echo "for i = 1, 10 do"
        echo "  service(\"svc\" .. i) { command = { \"sleep\", \"100000\" }, stop_signal = \"SIGKILL\","
        [ "$d" = none ] && echo "    network = \"none\","
        echo "  }"
        echo "end"
    } >"$T/$d/Envirofile.lua"
done
cat >"$T/load/Envirofile.lua" <<EOF
stack "bnload"
service "echo" {
  command = { "/bench/tcpload", "serve", "7000" },
  volumes = { "$T/bin:/bench:ro" },
  ports = { "17000:7000", "127.0.0.2:17001:7000" }, -- the kernel's path; the relay's
  stop_signal = "SIGKILL",
}
EOF

ms() { date +%s%N; }
elapsed() { echo $((($(date +%s%N) - $1) / 1000)); } # microseconds
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

"$SERVOS" run --rm host true # warm the state root and the host image
# Rounds alternate the two stacks, and each `up` waits out the kernel's
# teardown of the namespaces the previous `down` released (it runs on a
# kernel worker, a veth costing ~16 ms): otherwise that work lands on
# whichever start follows it and is counted as start cost.
ROUNDS=${ROUNDS:-11}
for _ in $(seq "$ROUNDS"); do
    for d in none net; do
        cd "$T/$d"
        sleep 0.5
        t=$(ms); "$SERVOS" up -d >/dev/null; elapsed "$t" >>"$T/up.$d"
        t=$(ms); "$SERVOS" down -t 0 >/dev/null; elapsed "$t" >>"$T/down.$d"
    done
done
up_none=$(median <"$T/up.none") up_net=$(median <"$T/up.net")
down_none=$(median <"$T/down.none") down_net=$(median <"$T/down.net")

printf '%-40s %9s %9s\n' "10 services (medians of $ROUNDS)" 'network none' 'stack net'
calc() { awk "BEGIN { print $* }"; }
printf '%-40s %9.1f ms %6.1f ms\n' "up -d" "$(calc "$up_none / 1000")" "$(calc "$up_net / 1000")"
printf '%-40s %9.1f ms %6.1f ms\n' "down" "$(calc "$down_none / 1000")" "$(calc "$down_net / 1000")"
printf '%-40s %9.2f ms   (goal < 2 ms)\n' "networking added per container start" \
    "$(calc "($up_net - $up_none) / 10 / 1000")"

cd "$T/load"
"$SERVOS" up -d >/dev/null
addr=$("$SERVOS" ps --format json | sed -n 's/.*"address": "\([0-9.]*\)".*/\1/p' | head -1)
netns=$SERVOS_ROOT/stacks/bnload/netns
for _ in $(seq 50); do # the server is up when a direct request answers
    nsenter --net="$netns" "$T/bin/tcpload" rr "$addr" 7000 1 0.05 2>/dev/null | grep -qv '^0$' && break
    sleep 0.1
done
SECS=${SECS:-2}
direct() { nsenter --net="$netns" "$T/bin/tcpload" "$@"; }
published() { "$T/bin/tcpload" "$@"; }
TRIES=${TRIES:-5}
sleep 0.3 # the replica has accepted the supervisor's probe: the kernel's path is open
row() { # label, mode args after HOST PORT; medians of TRIES alternating runs
    local label=$1; shift
    local mode=$1; shift
    local d p r
    : >"$T/d" && : >"$T/p" && : >"$T/r"
    for _ in $(seq "$TRIES"); do
        direct "$mode" "$addr" 7000 "$@" >>"$T/d"
        published "$mode" 127.0.0.1 17000 "$@" >>"$T/p"
        published "$mode" 127.0.0.2 17001 "$@" >>"$T/r"
    done
    d=$(median <"$T/d") p=$(median <"$T/p") r=$(median <"$T/r")
    printf '%-38s %9s %9s %5.0f%% %9s %5.0f%%\n' "$label" "$d" "$p" "$(calc "100 * $p / $d")" \
        "$r" "$(calc "100 * $r / $d")"
}
printf '\n%-38s %9s %16s %16s\n' "tcpload, ${SECS}s each, median of $TRIES" direct \
    "published" "relay (.0.2)"
row "request/response, 1 conn (req/s)" rr 1 "$SECS"
row "request/response, 16 conns (req/s)" rr 16 "$SECS"
row "new connection per request (conn/s)" cr 8 "$SECS"
row "bulk stream (MB/s)" bulk "$SECS"
echo "(goal: published >= 70% of direct)"
