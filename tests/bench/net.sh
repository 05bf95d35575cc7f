#!/usr/bin/env bash
# Benchmark: what stack networking costs.
#  - up -d and down -t 0 of a 10-service stack with network = "none" and on
#    the stack network (own netns, veth, bridge, /etc/hosts per container),
#    the two stacks alternating round by round; the networking a start adds
#    is (up on the network - up without) / 10, taken round by round.
#  - tcpload through a published port from the host (127.0.0.1: the kernel's
#    path, engine/net/pubnat.h; 127.0.0.2: the supervisor's userspace relay)
#    against a direct connection to the replica (from inside the stack's
#    network namespace), the three alternating run by run: request/response
#    on 1 and 16 kept-alive connections, a new connection per request, and
#    one bulk stream.
# Every figure is a median with its quartiles (lib-series.sh).
# Goals: networking adds < 2 ms per container start; the published port
# (the kernel's path) carries >= 70% of direct throughput. The relay is
# shown for scale.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
T=$(mktemp -d /tmp/servos-bench-net.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
cleanup() {
    for s in bnnone bnnet bnload; do "$SERVOS" down -t 0 -p "$s" >/dev/null 2>&1 || true; done
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bin" "$T/none" "$T/net" "$T/load"
cc -O2 -o "$T/bin/tcpload" "$BENCH_DIR/tcpload.c"
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

"$SERVOS" run --rm host true # warm the state root and the host image
# Rounds alternate the two stacks (which goes first alternates too), and
# each `up` waits out the kernel's teardown of the namespaces the previous
# `down` released (it runs on a kernel worker, a veth costing ~16 ms):
# otherwise that work lands on whichever start follows it and is counted
# as start cost.
ROUNDS=${ROUNDS:-11}
for r in $(seq "$ROUNDS"); do
    order="none net" && [ $((r % 2)) = 1 ] || order="net none"
    for d in $order; do
        cd "$T/$d"
        sleep 0.5
        timed "$T/up.$d" "$SERVOS" up -d
        timed "$T/down.$d" "$SERVOS" down -t 0
    done
done
# Per round: what the network added to each of the ten starts.
paste -d' ' "$T/up.net" "$T/up.none" |
    awk '{printf "%.3f %d\n", ($1 - $3) / 10, ($2 || $4) ? 1 : 0}' >"$T/added"

cd "$T/load"
"$SERVOS" up -d >/dev/null
addr=$("$SERVOS" ps --format json | jq -r '.[0].address')
netns=$SERVOS_ROOT/stacks/bnload/netns
for _ in $(seq 50); do # the server is up when a direct request answers
    nsenter --net="$netns" "$T/bin/tcpload" rr "$addr" 7000 1 0.05 2>/dev/null | grep -qv '^0$' && break
    sleep 0.1
done
SECS=${SECS:-2}
TRIES=${TRIES:-5}
sleep 0.3 # the replica has accepted the supervisor's probe: the kernel's path is open
# load FILE CMD...: one tcpload run, its figure added to FILE.
load() {
    local file=$1 v rc=0
    shift
    v=$("$@" 2>>"$T/tcpload.err") || rc=$?
    sample "$file" "${v:-0}" "$rc"
}
for r in $(seq "$TRIES"); do
    for mode in "rr 1" "rr 16" "cr 8" bulk; do
        set -- $mode
        name=${mode/ /}
        sides="d p r" && [ $((r % 2)) = 1 ] || sides="r p d"
        for side in $sides; do
            case $side in
            d) load "$T/d.$name" nsenter --net="$netns" "$T/bin/tcpload" "$1" "$addr" 7000 "${@:2}" "$SECS" ;;
            p) load "$T/p.$name" "$T/bin/tcpload" "$1" 127.0.0.1 17000 "${@:2}" "$SECS" ;;
            r) load "$T/r.$name" "$T/bin/tcpload" "$1" 127.0.0.2 17001 "${@:2}" "$SECS" ;;
            esac
        done
    done
done

for f in "$T"/up.* "$T"/down.* "$T/added" "$T"/[dpr].*; do
    summarize "$T/times" "$(basename "$f")" "$f"
done
cat "$T/times" >&2
[ ! -s "$T/tcpload.err" ] || sort "$T/tcpload.err" | uniq -c >&2
while read -r name _ _ _ _ _ _ failed; do
    [ "$failed" = 0 ] || echo "net: $name: $failed failed runs" >&2
done <"$T/times"

nofail() { [ "$(failures "$T/times" "$1")" = 0 ]; }
ok=$(check lt "$(field "$T/times" added 2)" 2)
nofail added || ok=1
bench_row "10 services: up -d on the stack network" "$(spread "$T/times" up.net)" \
    "network none $(spread "$T/times" up.none)" \
    "$(ratio "$(field "$T/times" up.net 2)" "$(field "$T/times" up.none 2)")" - 0
bench_row "  networking added per container start" "$(spread "$T/times" added)" - - "< 2 ms" "$ok"
bench_row "10 services: down -t 0 on the stack network" "$(spread "$T/times" down.net)" \
    "network none $(spread "$T/times" down.none)" \
    "$(ratio "$(field "$T/times" down.net 2)" "$(field "$T/times" down.none 2)")" - 0
for name in rr1 rr16 cr8 bulk; do
    case $name in
    rr1) label="request/response, 1 conn" unit=req/s ;;
    rr16) label="request/response, 16 conns" unit=req/s ;;
    cr8) label="new connection per request" unit=conn/s ;;
    bulk) label="bulk stream" unit=MB/s ;;
    esac
    d=$(field "$T/times" "d.$name" 2) p=$(field "$T/times" "p.$name" 2) r=$(field "$T/times" "r.$name" 2)
    ok=$(check ge "$(awk -v p="$p" -v d="$d" 'BEGIN{ if (d > 0) print p / d }')" 0.70)
    nofail "p.$name" && nofail "d.$name" || ok=1
    bench_row "published port (kernel path): $label" "$(spread_in "$T/times" "p.$name" "$unit" 1 0)" \
        "direct $(spread_in "$T/times" "d.$name" "$unit" 1 0)" "$(ratio "$p" "$d")" ">= 0.70x direct" "$ok"
    bench_row "  relay (127.0.0.2), same runs" "$(spread_in "$T/times" "r.$name" "$unit" 1 0)" \
        "direct, as above" "$(ratio "$r" "$d")" - 0
done
bench_done
