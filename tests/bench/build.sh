#!/usr/bin/env bash
# Benchmark: servos build against `buildah bud` and `podman build`, on the
# same Containerfile (tests/81-build.t's multi-stage C build: apt-get
# install gcc from the Debian mirror, compile, copy the binary onto
# scratch) and the same base (the mmdebstrap tarball the tests cache,
# imported by each into its own store). Cold builds (--no-cache: every step
# runs; the base is in each store already) alternate round by round
# (lib-series.sh); then a rebuild with nothing changed, servos' against
# each peer's cached one. Medians with their quartiles.
# Goals: a cold build <= 0.7x the fastest peer's; a no-change rebuild < 100 ms.
# ROUNDS (3) cold builds per side, RUNS (20) no-change rebuilds.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
GOAL_COLD="<= 0.70x fastest peer"
GOAL_NOOP="< 100 ms"
if ! base=$("$ROOT/tests/helpers/debian-rootfs.sh" --tarball 2>/dev/null); then
    bench_row "build: cold" - "no Debian base (tests/helpers/debian-rootfs.sh)" - "$GOAL_COLD" 1
    bench_done
fi
T=$(mktemp -d /tmp/servos-bench-build.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/servos
STORE="--root $T/podman --runroot $T/podman-run --storage-driver overlay"
P="podman $STORE --cgroup-manager cgroupfs --events-backend none"
B="buildah $STORE"
cleanup() {
    if [ -d "$T/podman" ]; then
        $P system reset -f >/dev/null 2>&1 || true
        findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/ctx"
cat >"$T/ctx/Containerfile" <<'EOF'
FROM localhost/debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c

FROM scratch
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
EOF
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$T/ctx/hello.c"

"$SERVOS" image import "$base" debian:bookworm >/dev/null
sides=(servos)
if command -v podman >/dev/null && $P import -q "$base" localhost/debian:bookworm >/dev/null 2>&1; then
    sides+=(podman)
    command -v buildah >/dev/null && sides+=(buildah)
else
    echo "build: podman cannot run here: no peer" >&2
fi

servos_cold() { "$SERVOS" build -q --no-cache -t bench "$T/ctx"; }
podman_cold() { $P build -q --no-cache --network host -t bench "$T/ctx"; }
buildah_cold() { $B bud -q --no-cache --network host -t bench "$T/ctx"; }
# Between rounds, out of the timing: what the last build left goes, the
# base stays (each side's store keeps it unpacked, as a user's would).
tidy() {
    "$SERVOS" image prune >/dev/null 2>&1 || true
    [ "${#sides[@]}" -gt 1 ] && $P image prune -f >/dev/null 2>&1 || true
    sync
}
ROUNDS=${ROUNDS:-3}
n=${#sides[@]}
for r in $(seq "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
        s=${sides[$(((k + r) % n))]}
        tidy
        timed "$T/cold.$s" "${s}_cold"
    done
done
for s in "${sides[@]}"; do summarize "$T/times" "$s" "$T/cold.$s"; done

# A rebuild with nothing changed: each side's own cache (the timer's
# warm-up runs fill the peers').
cmds=(servos="$SERVOS" build -q -t bench "$T/ctx")
for s in "${sides[@]}"; do
    [ "$s" = podman ] && cmds+=(-- podman=$P build -q --network host -t bench "$T/ctx")
    [ "$s" = buildah ] && cmds+=(-- buildah=$B bud -q --layers --network host -t bench "$T/ctx")
done
alternate_run "$T/noop" "${RUNS:-20}" "${cmds[@]}"
cat "$T/times" "$T/noop" >&2
for f in times noop; do
    for s in "${sides[@]}"; do
        fl=$(field "$T/$f" "$s" 8)
        [ -z "$fl" ] || [ "$fl" = 0 ] || echo "build: $f: $s: $fl failed runs" >&2
    done
done

sv=$(field "$T/times" servos 2) best='' best_name=''
for s in podman buildah; do
    m=$(field "$T/times" "$s" 2)
    [ -n "$m" ] && [ "$(field "$T/times" "$s" 8)" = 0 ] || continue
    if [ -z "$best" ] || lt "$m" "$best"; then best=$m best_name=$s; fi
done
peer_name() { [ "$1" = podman ] && echo "podman build" || echo "buildah bud"; }
if [ -z "$best" ]; then
    bench_row "build: cold (apt gcc, multi-stage)" "$(spread_time "$T/times" servos)" "no peer ran" - "$GOAL_COLD" 1
else
    ok=$(check le "$sv" "$(mul "$best" 0.7)")
    [ "$(field "$T/times" servos 8)" = 0 ] || ok=1
    bench_row "build: cold (apt gcc, multi-stage)" "$(spread_time "$T/times" servos)" \
        "$(peer_name "$best_name") $(spread_time "$T/times" "$best_name")" "$(ratio "$sv" "$best")" "$GOAL_COLD" "$ok"
    for s in podman buildah; do
        [ "$s" != "$best_name" ] && [ -n "$(field "$T/times" "$s" 2)" ] || continue
        bench_row "  $(peer_name "$s"), same run" "" "$(spread_time "$T/times" "$s")" \
            "$(ratio "$sv" "$(field "$T/times" "$s" 2)")" - 0
    done
fi
nv=$(field "$T/noop" servos 2)
ok=$(check lt "$nv" 100)
[ "$(field "$T/noop" servos 8)" = 0 ] || ok=1
first_peer=${sides[1]:-}
if [ -n "$first_peer" ] && [ -n "$(field "$T/noop" "$first_peer" 2)" ]; then
    bench_row "build: rebuild, nothing changed" "$(spread "$T/noop" servos)" \
        "$(peer_name "$first_peer") $(spread "$T/noop" "$first_peer")" \
        "$(ratio "$nv" "$(field "$T/noop" "$first_peer" 2)")" "$GOAL_NOOP" "$ok"
else
    bench_row "build: rebuild, nothing changed" "$(spread "$T/noop" servos)" - - "$GOAL_NOOP" "$ok"
fi
for s in buildah; do
    [ "$s" != "$first_peer" ] && [ -n "$(field "$T/noop" "$s" 2)" ] || continue
    bench_row "  $(peer_name "$s"), same run" "" "$(spread "$T/noop" "$s")" \
        "$(ratio "$nv" "$(field "$T/noop" "$s" 2)")" - 0
done
bench_done
