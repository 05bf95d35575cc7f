#!/usr/bin/env bash
# Benchmark: `servos config` (read, evaluate and print the service graph)
# on a generated 10,000-service Envirofile and a 1,000-service Compose file,
# the two alternating run by run (lib.sh): median wall time with its
# quartiles, and peak RSS. Goals: 150 ms and 100 MB for the 10,000.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-11}
T=$(mktemp -d /tmp/servos-bench-config.XXXXXX)
trap 'rm -rf "$T"' EXIT

mkdir -p "$T/big" "$T/compose"
{
    echo 'stack "big"'
    echo 'volume "data"'
    echo 'local prod = env("ENV", "dev") == "production"'
    echo 'for i = 1, 10000 do'
    echo '  service("svc-" .. i) {'
    echo '    command = { "sleep", tostring(i) }, env = { INDEX = tostring(i), ROLE = "worker" },'
    echo '    memory = "64M", cpus = 0.25, pids = 64, replicas = prod and 2 or 1,'
    echo '    ports = { (10000 + i) .. ":80" }, volumes = { "data:/data", "./cfg:/cfg:ro" },'
    echo '    depends_on = i > 1 and { ["svc-" .. (i - 1)] = "started" } or nil,'
    echo '    restart = "on-failure:3",'
    echo '    healthcheck = { test = "true", interval = "5s", retries = 3 },'
    echo '  }'
    echo 'end'
} >"$T/big/Envirofile.lua"
{
    echo 'services:'
    for i in $(seq 1 1000); do
        cat <<YAML
  svc-$i:
    image: host
    command: sleep $i
    environment: { INDEX: "$i", ROLE: worker }
    deploy: { replicas: 1, resources: { limits: { cpus: "0.25", memory: 64M, pids: 64 } } }
    ports: [ "$((20000 + i)):80" ]
    volumes: [ "data:/data" ]
    restart: on-failure
    healthcheck: { test: ["CMD", "true"], interval: 5s }
YAML
        [ "$i" -gt 1 ] && printf '    depends_on: [ svc-%d ]\n' $((i - 1))
    done
    echo 'volumes: { data: }'
} >"$T/compose/compose.yaml"

alternate_run "$T/times" "$RUNS" envirofile="$SERVOS" config "$T/big" -- compose="$SERVOS" config "$T/compose"
cat "$T/times" >&2
mb() { awk -v k="$(field "$T/times" "$1" 7)" 'BEGIN{printf "%.1f", k / 1024}'; }
ok() { # NAME MAX_MS MAX_MB
    if [ "$(field "$T/times" "$1" 8)" = 0 ] && le "$(field "$T/times" "$1" 2)" "$2" && le "$(mb "$1")" "$3"; then
        echo 0
    else
        echo 1
    fi
}
bench_row "config, 10,000-service Envirofile" "$(spread "$T/times" envirofile), $(mb envirofile) MB" - - \
    "<= 150 ms, 100 MB" "$(ok envirofile 150 100)"
bench_row "config, 1,000-service Compose file" "$(spread "$T/times" compose), $(mb compose) MB" - - - \
    "$(ok compose 1e9 1e9)"
bench_done
