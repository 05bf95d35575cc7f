#!/usr/bin/env bash
# Benchmark: bringing stacks up and down.
#  - 10 services whose command exits at SIGTERM (a shell that traps it):
#    `servos up -d` (until all run) and `servos down`;
#  - 10 services whose command ignores SIGTERM: `servos down -t 2`, which
#    waits out the grace period once, not once a replica;
#  - 100 `sleep` services: `up -d`, a no-op re-apply, `down`, and the
#    supervisor's RSS with the 100 running.
# Peers, when installed, on the same 10-service stacks (a busybox image):
# podman-compose (up -d, down, down -t 2) and a loop of `podman run -d`
# ended by one `podman rm -f -t N`. Each measure is an up or down followed
# by its counterpart, so sides alternate round by round, A B C then B C A
# (lib-series.sh), never one block after the other.
# Goals (issue 20): 10 up < 100 ms; 10 down < 150 ms; 10 down -t 2 of
# services that ignore SIGTERM < 3 s; 100 up < 1 s; and, kept from before,
# a no-op re-apply of the 100 < 100 ms and the supervisor < 8 MB RSS.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
ROUNDS=${ROUNDS:-5}
T=$(mktemp -d /tmp/servos-bench-stack.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
PA="--root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none"
P="podman $PA"
cleanup() {
    for s in bterm bign b100; do "$SERVOS" down -t 0 -p "$s" >/dev/null 2>&1 || true; done
    if [ -d "$T/podman" ]; then
        $P rm -af -t 0 >/dev/null 2>&1 || true
        $P system reset -f >/dev/null 2>&1 || true
        findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

# The two service commands, for servos (the host's sh) and the peers
# (busybox sh) alike. `sleep & wait`: wait returns as soon as the trapped
# SIGTERM arrives, where a foreground sleep would finish its second first.
EXITS='trap "exit 0" TERM; while :; do sleep 1 & wait; done'
IGNORES='trap "" TERM; while :; do sleep 1; done'
envirofile() { # STACK N COMMAND [EXTRA]
    mkdir -p "$T/$1"
    cat >"$T/$1/Envirofile.lua" <<EOF
stack "$1"
for i = 1, $2 do
  service("svc" .. i) { command = { "sh", "-c", [[$3]] }, ${4:-} }
end
EOF
}
envirofile bterm 10 "$EXITS"
envirofile bign 10 "$IGNORES"
mkdir -p "$T/b100"
cat >"$T/b100/Envirofile.lua" <<'EOF'
stack "b100"
for i = 1, 100 do
  service("svc" .. i) { command = { "sleep", "100000" }, stop_signal = "SIGKILL" }
end
EOF

"$SERVOS" run --rm host true # warm the state root and the host image

# Check that the commands do what the measures assume, on servos' first
# replica (pid 1 of its container: the kernel drops a signal it has no
# handler for, so only the trap makes it exit).
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null; }
first_pid() { "$SERVOS" ps -p "$1" --format json | jq -r '[.[] | select(.service == "svc1")][0].pid'; }
cd "$T/bterm"
"$SERVOS" up -d >/dev/null
pid=$(first_pid bterm)
kill -TERM "$pid"
for _ in $(seq 40); do alive "$pid" || break; sleep 0.05; done
if alive "$pid"; then
    echo "stack: the SIGTERM-exiting command did not exit at SIGTERM" >&2
    exit 1
fi
"$SERVOS" down -t 0 >/dev/null
cd "$T/bign"
"$SERVOS" up -d >/dev/null
pid=$(first_pid bign)
kill -TERM "$pid"
sleep 0.3
if ! alive "$pid"; then
    echo "stack: the SIGTERM-ignoring command exited at SIGTERM" >&2
    exit 1
fi
"$SERVOS" down -t 0 >/dev/null

# The sides. Each takes a verb: up (the SIGTERM-exiting stack), down (it),
# upign (the ignoring stack, not timed), downign (it, with -t 2).
sides=(servos)
servos_side() {
    case $1 in
    up) cd "$T/bterm" && timed "$T/servos.up" "$SERVOS" up -d ;;
    down) cd "$T/bterm" && timed "$T/servos.down" "$SERVOS" down ;;
    upign) cd "$T/bign" && "$SERVOS" up -d >/dev/null ;;
    downign) cd "$T/bign" && timed "$T/servos.downign" "$SERVOS" down -t 2 ;;
    esac
}

if command -v podman >/dev/null; then
    mkdir -p "$T/bb/bin" && cp "$(command -v busybox)" "$T/bb/bin/"
    for app in sh sleep; do ln -s busybox "$T/bb/bin/$app"; done
    # podman asks for rlimits above the hard limit, which root here cannot
    # raise (no CAP_SYS_RESOURCE): ask for what the host allows.
    U="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"
    if tar -C "$T/bb" -c . | $P import - localhost/bb >/dev/null 2>&1 &&
        $P run --rm --network none $U localhost/bb sleep 0 >/dev/null 2>&1; then
        sides+=(podman)
    else
        echo "stack: podman cannot run here" >&2
    fi
fi
podman_up() { # PREFIX COMMAND: ten `podman run -d`, one after the other
    local i
    for i in $(seq 10); do
        # shellcheck disable=SC2086
        $P run -d --network none $U --name "$1$i" localhost/bb sh -c "$2" || return
    done
}
podman_side() {
    case $1 in
    up) timed "$T/podman.up" podman_up t "$EXITS" ;;
    down) timed "$T/podman.down" $P rm -f -t 10 t{1..10} ;;
    upign) podman_up i "$IGNORES" >/dev/null ;;
    downign) timed "$T/podman.downign" $P rm -f -t 2 i{1..10} ;;
    esac
}

if [ "${sides[1]:-}" = podman ] && command -v podman-compose >/dev/null; then
    for s in term ign; do
        cmd=$EXITS && [ $s = term ] || cmd=$IGNORES
        mkdir -p "$T/pc-$s"
        {
            echo "services:"
            for i in $(seq 10); do
                printf '  s%d:\n    image: localhost/bb\n    network_mode: none\n' "$i"
                printf "    command: [\"sh\", \"-c\", '%s']\n" "$cmd"
                printf '    ulimits: { nofile: %s, nproc: 4096 }\n' "$(ulimit -Hn)"
            done
        } >"$T/pc-$s/compose.yaml"
    done
    pc() { (cd "$T/pc-$1" && shift && podman-compose --podman-args "$PA" "$@"); }
    sides+=(compose)
fi
compose_side() {
    case $1 in
    up) timed "$T/compose.up" pc term up -d ;;
    down) timed "$T/compose.down" pc term down ;;
    upign) pc ign up -d >/dev/null 2>&1 ;;
    downign) timed "$T/compose.downign" pc ign down -t 2 ;;
    esac
}

n=${#sides[@]}
for r in $(seq "$ROUNDS"); do
    for verb in up down upign downign; do
        for k in $(seq 0 $((n - 1))); do
            "${sides[$(((k + r) % n))]}_side" "$verb"
        done
    done
done

# 100 services: servos alone (a hundred `podman run` would take the
# bench's whole budget).
cd "$T/b100"
for r in $(seq "$ROUNDS"); do
    timed "$T/servos.up100" "$SERVOS" up -d
    timed "$T/servos.noop100" "$SERVOS" up -d
    if [ "$r" = "$ROUNDS" ]; then
        sup=$(grep -o 'supervisor of stack b100 (pid [0-9]*)' "$SERVOS_ROOT/stacks/b100/supervisor.log" |
            tail -1 | grep -o '[0-9]*)' | tr -d ')')
        rss=$(awk '/VmRSS/{print $2}' "/proc/${sup:-none}/status" 2>/dev/null || true)
    fi
    timed "$T/servos.down100" "$SERVOS" down
done

summarize_all "$T/times" stack "$T"/*.up* "$T"/*.down* "$T"/*.noop*

# row MEASURE VERB GOAL_MS GOAL_TEXT: servos against podman-compose (the
# peer in the row) and the podman loop (a row for scale).
row() {
    local med ok peer=- pr=-
    med=$(field "$T/times" "servos.$2" 2)
    ok=$(check lt "$med" "$3")
    [ "$(failures "$T/times" "servos.$2")" = 0 ] || ok=1
    if [ -n "$(field "$T/times" "compose.$2" 2)" ]; then
        peer="podman-compose $(spread_time "$T/times" "compose.$2")"
        pr=$(ratio "$med" "$(field "$T/times" "compose.$2" 2)")
    fi
    bench_row "$1" "$(spread_time "$T/times" "servos.$2")" "$peer" "$pr" "$4" "$ok"
    [ -n "$(field "$T/times" "podman.$2" 2)" ] || return 0
    bench_row "  podman run x10 / rm -f -t, same run" "" "podman $(spread_time "$T/times" "podman.$2")" \
        "$(ratio "$med" "$(field "$T/times" "podman.$2" 2)")" - 0
}
row "10 services: up -d" up 100 "< 100 ms"
row "10 services: down (exit at SIGTERM)" down 150 "< 150 ms"
row "10 services: down -t 2 (ignore SIGTERM)" downign 3000 "< 3 s"
bench_row "100 services: up -d" "$(spread_time "$T/times" servos.up100)" - - "< 1 s" \
    "$(check lt "$(field "$T/times" servos.up100 2)" 1000)"
bench_row "100 services: no-op re-apply" "$(spread_time "$T/times" servos.noop100)" - - "< 100 ms" \
    "$(check lt "$(field "$T/times" servos.noop100 2)" 100)"
bench_row "100 services: down (SIGKILL)" "$(spread_time "$T/times" servos.down100)" - - - 0
bench_row "supervisor RSS, 100 running" "$(awk -v k="${rss:-0}" 'BEGIN{printf "%.1f MB", k / 1024}')" \
    - - "< 8 MB" "$(check lt "${rss:-}" 8192)"
bench_done
