#!/usr/bin/env bash
# Benchmark: servos build against `buildah bud` and `podman build`, on the
# same Containerfiles and the same base (the mmdebstrap tarball the tests
# cache, imported by each into its own store and made ready there: podman
# unpacks at import, servos on a first run, outside the timing). Two cold
# builds (--no-cache: every step runs), the sides alternating round by
# round (lib-series.sh):
#   apt    tests/81-build.t's multi-stage C build: apt-get install gcc from
#          the Debian mirror, compile, the binary alone on scratch (what a
#          user's first Containerfile looks like; apt and dpkg dominate)
#   local  no network: a 50 MB source tree copied in, RUN steps that list,
#          pack and delete, a second stage that copies the result --from
#          and chowns it (what the builder itself costs)
# then a rebuild with nothing changed, servos' against each peer's cached
# one. Medians with their quartiles.
# Goals: a cold build <= 0.7x the fastest peer's; a no-change rebuild < 100 ms.
# ROUNDS (3) cold builds per side and file, RUNS (20) no-change rebuilds.
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

mkdir -p "$T/apt" "$T/local"
cat >"$T/apt/Containerfile" <<'EOF'
FROM localhost/debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c

FROM scratch
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
EOF
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$T/apt/hello.c"
cat >"$T/local/Containerfile" <<'EOF'
FROM localhost/debian:bookworm AS build
RUN useradd -m app
COPY src/ /src/
RUN cd /src && find . -name '*.py' | sort >/files.txt && wc -l </files.txt
RUN tar -C /src -cf /src.tar . && rm -rf /src/test /src/idlelib
WORKDIR /out
RUN cp /files.txt . && du -s /src >size.txt

FROM localhost/debian:bookworm
COPY --from=build --chown=1000:1000 /src.tar /out/ /opt/app/
ENV APP=/opt/app
RUN ls -la /opt/app && rm -rf /usr/share/doc
CMD ["sh"]
EOF
cp -r /usr/lib/python3.11 "$T/local/src" 2>/dev/null || cp -r /usr/lib/python3 "$T/local/src"
echo '**/__pycache__' >"$T/local/.dockerignore"

"$SERVOS" image import "$base" debian:bookworm >/dev/null
"$SERVOS" run --rm --pull never localhost/debian:bookworm true
sides=(servos)
if command -v podman >/dev/null && $P import -q "$base" localhost/debian:bookworm >/dev/null 2>&1; then
    sides+=(podman)
    command -v buildah >/dev/null && sides+=(buildah)
else
    echo "build: podman cannot run here: no peer" >&2
fi

# FILE: apt or local.
servos_cold() { "$SERVOS" build -q --no-cache -t "bench-$1" "$T/$1"; }
podman_cold() { $P build -q --no-cache --network host -t "bench-$1" "$T/$1"; }
buildah_cold() { $B bud -q --no-cache --network host -t "bench-$1" "$T/$1"; }
# Between builds, out of the timing: what the last one left goes, the base
# stays (each side's store keeps it unpacked, as a user's would).
tidy() {
    "$SERVOS" image prune >/dev/null 2>&1 || true
    [ "${#sides[@]}" -gt 1 ] && $P image prune -f >/dev/null 2>&1 || true
    sync
}
ROUNDS=${ROUNDS:-3}
n=${#sides[@]}
for file in apt local; do
    for r in $(seq "$ROUNDS"); do
        for k in $(seq 0 $((n - 1))); do
            s=${sides[$(((k + r) % n))]}
            tidy
            timed "$T/$file.$s" "${s}_cold" "$file"
        done
    done
    for s in "${sides[@]}"; do summarize "$T/times.$file" "$s" "$T/$file.$s"; done
done

# A rebuild of the apt file with nothing changed: each side's own cache
# (the timer's warm-up runs fill the peers').
cmds=(servos="$SERVOS" build -q -t bench-apt "$T/apt")
for s in "${sides[@]}"; do
    [ "$s" = podman ] && cmds+=(-- podman=$P build -q --network host -t bench-apt "$T/apt")
    [ "$s" = buildah ] && cmds+=(-- buildah=$B bud -q --layers --network host -t bench-apt "$T/apt")
done
alternate_run "$T/noop" "${RUNS:-20}" "${cmds[@]}"
cat "$T/times.apt" "$T/times.local" "$T/noop" >&2
for f in times.apt times.local noop; do
    for s in "${sides[@]}"; do
        fl=$(field "$T/$f" "$s" 8)
        [ -z "$fl" ] || [ "$fl" = 0 ] || echo "build: $f: $s: $fl failed runs" >&2
    done
done

peer_name() { [ "$1" = podman ] && echo "podman build" || echo "buildah bud"; }
cold_rows() { # FILE LABEL
    local out=$T/times.$1 sv best='' best_name='' m ok s
    sv=$(field "$out" servos 2)
    for s in podman buildah; do
        m=$(field "$out" "$s" 2)
        [ -n "$m" ] && [ "$(field "$out" "$s" 8)" = 0 ] || continue
        if [ -z "$best" ] || lt "$m" "$best"; then best=$m best_name=$s; fi
    done
    if [ -z "$best" ]; then
        bench_row "$2" "$(spread_time "$out" servos)" "no peer ran" - "$GOAL_COLD" 1
        return
    fi
    ok=$(check le "$sv" "$(mul "$best" 0.7)")
    [ "$(field "$out" servos 8)" = 0 ] || ok=1
    bench_row "$2" "$(spread_time "$out" servos)" "$(peer_name "$best_name") $(spread_time "$out" "$best_name")" \
        "$(ratio "$sv" "$best")" "$GOAL_COLD" "$ok"
    for s in podman buildah; do
        [ "$s" != "$best_name" ] && [ -n "$(field "$out" "$s" 2)" ] || continue
        bench_row "  $(peer_name "$s"), same run" "" "$(spread_time "$out" "$s")" \
            "$(ratio "$sv" "$(field "$out" "$s" 2)")" - 0
    done
}
cold_rows apt "build: cold, apt gcc + multi-stage"
cold_rows local "build: cold, 50 MB tree, no network"

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
if [ "$first_peer" = podman ] && [ -n "$(field "$T/noop" buildah 2)" ]; then
    bench_row "  buildah bud, same run" "" "$(spread "$T/noop" buildah)" \
        "$(ratio "$nv" "$(field "$T/noop" buildah 2)")" - 0
fi
bench_done
