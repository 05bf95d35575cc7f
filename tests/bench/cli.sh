#!/usr/bin/env bash
# Benchmark: what the CLI costs before it does anything. `servos version`,
# `servos ls` and `servos ps` (in the stack's directory, as one types it:
# the Envirofile is read to know the stack) on an idle stack, up with one
# sleeping service; `servos ps -p STACK` for scale; each against /bin/true
# (fork + exec + exit, the floor) in the same interleaved run (lib.sh).
# Goal: <= 1.5 ms median each.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-200}
T=$(mktemp -d /tmp/servos-bench-cli.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
cleanup() {
    "$SERVOS" down -t 0 -p bcli >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/idle"
cat >"$T/idle/Envirofile.lua" <<'EOF'
stack "bcli"
service "idle" { command = { "sleep", "100000" }, stop_signal = "SIGKILL" }
EOF
cd "$T/idle"
"$SERVOS" up -d >/dev/null
"$SERVOS" ps | grep -q ' running ' || { echo "cli: the idle stack is not running" >&2; exit 1; }

alternate_run "$T/times" "$RUNS" version="$SERVOS" version -- ls="$SERVOS" ls -- \
    ps="$SERVOS" ps -- ps-p="$SERVOS" ps -p bcli -- true=/bin/true
cat "$T/times" >&2
t_med=$(field "$T/times" true 2)
for verb in version ls ps ps-p; do
    med=$(field "$T/times" "$verb" 2) failed=$(field "$T/times" "$verb" 8)
    [ "$failed" = 0 ] || echo "cli: servos $verb failed $failed of $RUNS runs" >&2
    label="servos ${verb/-p/ -p STACK}"
    [ "$verb" = version ] || label="$label (idle stack)"
    if [ "$verb" = ps-p ]; then # for scale: the goal is on `ps` as typed
        bench_row "  $label" "$(spread "$T/times" "$verb")" "/bin/true $(spread "$T/times" true)" \
            "$(ratio "$med" "$t_med")" - 0
        continue
    fi
    ok=$(check le "$med" 1.5)
    [ "$failed" = 0 ] || ok=1
    bench_row "$label" "$(spread "$T/times" "$verb")" "/bin/true $(spread "$T/times" true)" \
        "$(ratio "$med" "$t_med")" "<= 1.50 ms" "$ok"
done
bench_done
