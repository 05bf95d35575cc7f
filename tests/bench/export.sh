#!/usr/bin/env bash
# Benchmark: `servos export kubernetes` (evaluate, plan every object, write
# the YAML stream) of a generated 1,000-service Envirofile, alternated run
# by run with `servos config` of the same file (the evaluation alone, its
# floor) and `servos export compose`: median wall time with its quartiles,
# and peak RSS. Goal: the Kubernetes export under 200 ms.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-11}
T=$(mktemp -d /tmp/servos-bench-export.XXXXXX)
trap 'rm -rf "$T"' EXIT

mkdir -p "$T/big"
{
    echo 'stack "big"'
    echo 'volume "data"'
    echo 'network "back" { internal = true }'
    echo 'for i = 1, 1000 do'
    echo '  service("svc-" .. i) {'
    echo '    image = "registry.example/team/app:" .. i,'
    echo '    command = { "serve", "--index", tostring(i) }, env = { INDEX = tostring(i), ROLE = "worker" },'
    echo '    memory = "64M", cpus = 0.25, replicas = 1 + i % 2, labels = { team = "shop", note = "bench" },'
    echo '    ports = { (10000 + i) .. ":80" }, volumes = { "data:/data" }, tmpfs = { "/cache:size=8m" },'
    echo '    networks = i % 2 == 0 and { "back", "default" } or nil,'
    echo '    depends_on = i > 1 and { ["svc-" .. (i - 1)] = "healthy" } or nil,'
    echo '    restart = "always", stop_grace_period = "5s",'
    echo '    healthcheck = { test = "true", interval = "5s", retries = 3 },'
    echo '  }'
    echo 'end'
} >"$T/big/Envirofile.lua"
# Once, outside the timing: it must succeed.
"$SERVOS" export kubernetes "$T/big" >"$T/out.yaml"
[ "$(grep -cE '^kind: (Deployment|StatefulSet)$' "$T/out.yaml")" = 1000 ]

alternate_run "$T/times" "$RUNS" kube="$SERVOS" export kubernetes "$T/big" -- \
    compose="$SERVOS" export compose "$T/big" -- config="$SERVOS" config "$T/big"
cat "$T/times" >&2
mb() { awk -v k="$(field "$T/times" "$1" 7)" 'BEGIN{printf "%.1f", k / 1024}'; }
ok() { # NAME MAX_MS
    if [ "$(field "$T/times" "$1" 8)" = 0 ] && le "$(field "$T/times" "$1" 2)" "$2"; then echo 0; else echo 1; fi
}
bench_row "export kubernetes, 1,000-service Envirofile" "$(spread "$T/times" kube), $(mb kube) MB" \
    "config $(spread "$T/times" config)" \
    "$(ratio "$(field "$T/times" kube 2)" "$(field "$T/times" config 2)")" "<= 200 ms" "$(ok kube 200)"
bench_row "export compose, 1,000-service Envirofile" "$(spread "$T/times" compose), $(mb compose) MB" - - - \
    "$(ok compose 1e9)"
bench_done
