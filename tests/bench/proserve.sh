#!/usr/bin/env bash
# Benchmark: the ProServe service host.
#  - requests/s for an inline endpoint and for an isolated shell handler
#    (ab, 4000 requests from 8 kept-alive clients on 127.0.0.1);
#  - the median extra latency of running the handler isolated (fresh
#    process as nobody, private TMPDIR, rlimits, time limit, RSS watch,
#    seccomp network filter) versus running the same script bare:
#    median(handler request) - median(inline request) - median(bare run);
#    and the same for isolation.mode container, for comparison.
# Goal: isolation adds under 10 ms per request at the median.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
T=$(mktemp -d /tmp/servos-bench-proserve.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
cleanup() {
    "$SERVOS" down -t 0 -p bproserve >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$T/svc"
cat >"$T/svc/echo.sh" <<'SH'
read -r req
printf '{"ok":true,"bytes":%d}' "${#req}"
SH
cat >"$T/svc/manifest.yaml" <<YAML
name: bench
port: $PORT
host: 127.0.0.1
endpoints:
  - path: /inline
    response: {ok: true}
  - path: /shell
    script: echo.sh
isolation:
  mode: process
  timeout: 10
  memory_limit: 256M
  network_isolation: true
YAML
CPORT=$((PORT + 1))
cat >"$T/svc/container.yaml" <<YAML
name: bench-container
port: $CPORT
host: 127.0.0.1
endpoints:
  - path: /shell
    script: echo.sh
isolation:
  mode: container
  timeout: 10
  memory_limit: 256M
  network_isolation: true
YAML
"$SERVOS" apply -p bproserve "$T/svc"
for p in $PORT $CPORT; do
    for _ in $(seq 100); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/health" && break; sleep 0.05; done
done

rps() { ab -q -k -n 4000 -c 8 "http://127.0.0.1:$PORT$1" 2>&1 | awk '/Requests per second/ {print $4}'; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
# Per-request times (ms) of 300 sequential requests on one connection.
times() { # PATH [PORT [N]]
    local urls=()
    for _ in $(seq "${3:-300}"); do urls+=(-o /dev/null "http://127.0.0.1:${2:-$PORT}$1"); done
    curl -s -w '%{time_total}\n' "${urls[@]}" | awk '{printf "%.3f\n", $1 * 1000}'
}
printf '%s\n' '{"method":"GET","path":"/shell","path_params":{},"query":{},"headers":{},"body":"","json":null}' >"$T/req.json"
# The bare run: one fork and exec of sh on the script, stdin from a file,
# as the handler gets it (no extra shell in between).
bare=$(perl -MTime::HiRes=time -e '
    open(STDOUT, ">", "/dev/null");
    my @ms;
    for (1..300) {
        open(STDIN, "<", $ARGV[1]);
        my $t = time; system {"/bin/sh"} "/bin/sh", $ARGV[0]; push @ms, (time - $t) * 1000;
    }
    print STDERR map { sprintf "%.3f\n", $_ } @ms' "$T/svc/echo.sh" "$T/req.json" 2>&1 >/dev/null | median)
inline=$(times /inline | median)
shell=$(times /shell | median)
extra=$(awk -v s="$shell" -v i="$inline" -v b="$bare" 'BEGIN {printf "%.2f", s - i - b}')
printf 'requests/s: inline %s, isolated shell handler %s (ab -k -c 8, 4000 requests)\n' "$(rps /inline)" "$(rps /shell)"
printf 'median ms: inline request %s, shell handler request %s, bare script run %s\n' "$inline" "$shell" "$bare"
printf 'isolation adds %s ms per request at the median (goal: < 10 ms): %s\n' "$extra" \
    "$(awk -v e="$extra" 'BEGIN {print (e < 10) ? "met" : "MISSED"}')"
container=$(times /shell "$CPORT" 50 | median)
printf 'for comparison, isolation.mode container (a servos container per request): %s ms median\n' \
    "$(awk -v c="$container" -v i="$inline" -v b="$bare" 'BEGIN {printf "%.1f", c - i - b}')"
