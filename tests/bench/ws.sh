#!/usr/bin/env bash
# Benchmark: ProServe WebSockets and TLS (issue 25's goals).
#  - Echo round trip on loopback, one connection, RTTS round trips of a
#    16-byte text message (wsload.c, a C client, so the figure is the
#    server's): the built-in echo handler, a Lua handler kept running per
#    connection (each message through its pipes and back), and for scale
#    Debian's python3-websockets echo server; the three alternate round by
#    round over ROUNDS rounds. Goal: p50 < 0.5 ms for the built-in and Lua.
#  - IDLE idle connections held by the service host (its RSS once all are
#    open, above its RSS before). Goal: 5,000 in < 100 MB.
#  - An inline endpoint over TLS (tls_provider: selfsigned) against the
#    same endpoint over plain HTTP: `ab -k`, CONC clients, SECS seconds a
#    run, alternating. Goal: TLS >= 50% of plain requests/s.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
ROUNDS=${ROUNDS:-5} RTTS=${RTTS:-2000} IDLE=${IDLE:-5000} SECS=${SECS:-3} CONC=${CONC:-8}
T=$(mktemp -d /tmp/servos-bench-ws.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
PYWS=
cleanup() {
    [ -z "$PYWS" ] || { kill "$PYWS" 2>/dev/null && wait "$PYWS" 2>/dev/null; } || true
    "$SERVOS" down -v -t 0 -p bws >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 12000))
TPORT=$((PORT + 1)) PPORT=$((PORT + 2))

mkdir -p "$T/svc" "$T/bin"
cc -O2 -o "$T/bin/wsload" "$BENCH_DIR/wsload.c"
echo 'return function(msg) return msg end' >"$T/svc/echo.lua"
cat >"$T/svc/plain.yaml" <<YAML
name: plain
port: $PORT
host: 127.0.0.1
endpoints:
  - path: /inline
    response: {ok: true}
websockets:
  - path: /echo
    handler: echo
  - path: /lua
    script: echo.lua
YAML
cat >"$T/svc/tls.yaml" <<YAML
name: secure
port: $TPORT
host: 127.0.0.1
enable_tls: true
tls_provider: selfsigned
endpoints:
  - path: /inline
    response: {ok: true}
YAML
"$SERVOS" apply -p bws "$T/svc" >/dev/null
PY=/usr/bin/python3
if "$PY" -c 'import websockets' 2>/dev/null; then
    "$PY" -c '
import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None):
        await asyncio.Future()
asyncio.run(main())' "$PPORT" >"$T/pyws.log" 2>&1 &
    PYWS=$!
else
    echo "ws: python3-websockets is not installed (make deps)" >&2
fi
up() { for _ in $(seq 200); do curl -sk -m 1 -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
up "http://127.0.0.1:$PORT/health" && up "https://127.0.0.1:$TPORT/health" ||
    { echo "ws: servos does not answer" >&2; exit 1; }
sides=(builtin lua)
declare -A where=([builtin]="$PORT /echo" [lua]="$PORT /lua" [python]="$PPORT /")
if [ -n "$PYWS" ]; then
    for _ in $(seq 100); do "$T/bin/wsload" rtt "$PPORT" / 10 >/dev/null 2>&1 && break; sleep 0.05; done
    sides+=(python)
fi

# ---- round trips ---------------------------------------------------------------------------------
n=${#sides[@]}
for r in $(seq "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
        s=${sides[$(((k + r) % n))]}
        rc=0
        # shellcheck disable=SC2086 # "PORT PATH"
        out=$("$T/bin/wsload" rtt ${where[$s]} "$RTTS") || rc=1
        sample "$T/rtt.$s.p50" "${out%% *}" "$rc"
        sample "$T/rtt.$s.p99" "${out##* }" "$rc"
    done
done

# ---- TLS against plain HTTP -------------------------------------------------------------------------
load() { # SIDE URL
    local out rc=0 rps
    out=$(ab -q -k -c "$CONC" -t "$SECS" -n 500000 "$2" 2>&1) || rc=1
    rps=$(awk '/^Requests per second/ {print $4}' <<<"$out")
    awk '/^Non-2xx responses:/ && $NF > 0 {bad = 1} /^Failed requests:/ && $3 > 0 {bad = 1} END {exit bad}' \
        <<<"$out" || rc=1
    sample "$T/http.$1.rps" "${rps:-0}" "$rc"
}
load plain "http://127.0.0.1:$PORT/inline" && load tls "https://127.0.0.1:$TPORT/inline" # warm up
rm -f "$T"/http.*
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        load plain "http://127.0.0.1:$PORT/inline"
        load tls "https://127.0.0.1:$TPORT/inline"
    else
        load tls "https://127.0.0.1:$TPORT/inline"
        load plain "http://127.0.0.1:$PORT/inline"
    fi
done

# ---- idle connections ---------------------------------------------------------------------------
pid=$("$SERVOS" ps -p bws | awk '$1 == "plain" {print $5}')
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
"$T/bin/wsload" idle "$PORT" /echo "$IDLE" 30 >"$T/idle.out" 2>&1 &
holder=$!
for _ in $(seq 1200); do grep -q '^open' "$T/idle.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
held=$(awk '/^open/ {print $2}' "$T/idle.out")
after=$(rss)
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
echo "ws: $held of $IDLE idle connections open; service host RSS $before kB before, $after kB with them" >&2

summarize_all "$T/times" ws "$T"/rtt.* "$T"/http.*
ms() { spread_in "$T/times" "$1" ms 1 3; }
ok_if() { # the check holds and the side had no failed runs
    local ok
    ok=$(check "$@")
    [ "$(failures "$T/times" "$SIDE")" = 0 ] || ok=1
    echo "$ok"
}
py50=$(field "$T/times" rtt.python.p50 2)
for s in builtin lua; do
    label="ws echo round trip, built-in echo" && [ $s = builtin ] || label="ws echo round trip, Lua handler kept running"
    SIDE=rtt.$s.p50
    p50=$(field "$T/times" "rtt.$s.p50" 2)
    bench_row "$label: p50" "$(ms "rtt.$s.p50")" "${py50:+python3-websockets $(ms rtt.python.p50)}" \
        "${py50:+$(ratio "$p50" "$py50")}" "< 0.5 ms" "$(ok_if lt "$p50" 0.5)"
    bench_row "  p99, same runs" "$(ms "rtt.$s.p99")" "${py50:+python3-websockets $(ms rtt.python.p99)}" - - 0
done
mb=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", (a - b) / 1024 }')
ok=$(check lt "$mb" 100)
[ "${held:-0}" = "$IDLE" ] || ok=1
bench_row "ws: $IDLE idle connections held (service host RSS added)" "$mb MB (${held:-0} open)" - - "< 100 MB" "$ok"
p=$(field "$T/times" http.plain.rps 2) t=$(field "$T/times" http.tls.rps 2)
SIDE=http.tls.rps
bench_row "proserve inline endpoint over TLS: requests/s" "$(spread_in "$T/times" http.tls.rps req/s 1 0)" \
    "plain HTTP $(spread_in "$T/times" http.plain.rps req/s 1 0)" "$(ratio "$t" "$p")" ">= 0.5x plain" \
    "$(ok_if ge "$t" "$(mul "$p" 0.5)")"
bench_done
