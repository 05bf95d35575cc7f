#!/usr/bin/env bash
# Benchmark: this build against another build of servos (SERVOS_BASE, e.g.
# an older commit built in a worktree), the same commands alternated run by
# run (lib.sh): `run --rm` of /bin/true on a busybox rootfs, `version`,
# `ls`, and `config` of a 10,000-service Envirofile. Goal: no slowdown, i.e.
# this build's median is within the baseline's upper quartile. Each build
# keeps a state root of its own (their formats may differ).
#   git worktree add /tmp/base COMMIT && make -C /tmp/base
#   SERVOS_BASE=/tmp/base/build/servos tests/bench/run baseline
# Without SERVOS_BASE it measures nothing and says so.
set -eu
. "$(dirname "$0")/lib.sh"
if [ -z "${SERVOS_BASE:-}" ]; then
    bench_row "baseline: SERVOS_BASE not set, nothing compared" - - - - 0
    bench_done
fi
RUNS=${RUNS:-30}
T=$(mktemp -d /tmp/servos-bench-base.XXXXXX)
chmod 711 "$T"
trap 'rm -rf "$T"' EXIT

mkdir -p "$T/rootfs/bin" "$T/big"
cp "$(command -v busybox)" "$T/rootfs/bin/busybox"
ln -s busybox "$T/rootfs/bin/true"
{
    echo 'stack "big"'
    echo 'for i = 1, 10000 do'
    echo '  service("svc-" .. i) { command = { "sleep", tostring(i) }, env = { INDEX = tostring(i) },'
    echo '    memory = "64M", cpus = 0.25, ports = { (10000 + i) .. ":80" }, restart = "on-failure:3",'
    echo '    depends_on = i > 1 and { ["svc-" .. (i - 1)] = "started" } or nil }'
    echo 'end'
} >"$T/big/Envirofile.lua"

new=(env "SERVOS_ROOT=$T/new" "$SERVOS") base=(env "SERVOS_ROOT=$T/base" "$SERVOS_BASE")
"${new[@]}" run --rm "$T/rootfs" /bin/true # warm both state roots
"${base[@]}" run --rm "$T/rootfs" /bin/true
alternate_run "$T/times" "$RUNS" \
    run="${new[@]}" run --rm "$T/rootfs" /bin/true -- run-base="${base[@]}" run --rm "$T/rootfs" /bin/true -- \
    version="${new[@]}" version -- version-base="${base[@]}" version -- \
    ls="${new[@]}" ls -- ls-base="${base[@]}" ls -- \
    config="${new[@]}" config "$T/big" -- config-base="${base[@]}" config "$T/big"
cat "$T/times" >&2
for m in run version ls config; do
    med=$(field "$T/times" "$m" 2) failed=$(field "$T/times" "$m" 8)
    ok=$(check le "$med" "$(field "$T/times" "$m-base" 4)")
    [ "$failed" = 0 ] && [ "$(field "$T/times" "$m-base" 8)" = 0 ] || ok=1
    bench_row "against SERVOS_BASE: $m" "$(spread "$T/times" "$m")" "base $(spread "$T/times" "$m-base")" \
        "$(ratio "$med" "$(field "$T/times" "$m-base" 2)")" "<= base p75" "$ok"
done
bench_done
