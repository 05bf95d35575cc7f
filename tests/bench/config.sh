#!/usr/bin/env bash
# Benchmark: `servos config` on a generated 10,000-service Envirofile and a
# 1,000-service Compose file. Prints the median wall time of several runs
# and the peak RSS, against the goals (150 ms and 100 MB for the 10,000).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
T=${BENCH_DIR:-$(mktemp -d /tmp/servos-bench.XXXXXX)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$T"' EXIT

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

# median wall ms and max peak RSS (KB) of N runs
measure() {
    local n=$1
    shift
    local times=() rss=0
    for _ in $(seq 1 "$n"); do
        /usr/bin/time -f '%e %M' -o "$T/t" "$@" >/dev/null
        read -r secs kb <"$T/t"
        times+=("$(awk -v s="$secs" 'BEGIN{printf "%d", s*1000}')")
        [ "$kb" -gt "$rss" ] && rss=$kb
    done
    local med
    med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    echo "$med $rss"
}

read -r ms kb < <(measure 7 "$SERVOS" config "$T/big")
printf '%-44s %6s ms  %6.1f MB   goal 150 ms / 100 MB: %.2fx / %.2fx\n' \
    "servos config, 10,000-service Envirofile" "$ms" "$(echo "$kb/1024" | bc -l)" \
    "$(echo "$ms/150" | bc -l)" "$(echo "$kb/1024/100" | bc -l)"
read -r ms kb < <(measure 7 "$SERVOS" config "$T/compose")
printf '%-44s %6s ms  %6.1f MB\n' "servos config, 1,000-service Compose file" "$ms" \
    "$(echo "$kb/1024" | bc -l)"
