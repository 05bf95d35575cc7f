#!/usr/bin/env bash
# Benchmark: pushing an image of about 50 MB (compressed, two layers) to a
# registry on 127.0.0.1: `servos image push` of the image imported into
# its store, against `skopeo copy` of the same OCI layout (the same blobs,
# the same manifest), alternating A B A B round by round (lib-series.sh).
# Each push starts from an empty registry, restarted between runs (outside
# the timing), so every blob is uploaded: no HEAD hit, no mount. Medians
# with their quartiles. Goal: the push takes <= 0.8x skopeo's time.
#   ROUNDS=5 (each round one push by each side)
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
for t in docker-registry skopeo umoci; do
    command -v $t >/dev/null && continue
    bench_row "image push" - "$t: not installed (.ci/deps installs it)" - "<= 0.80x skopeo" 1
    bench_done
done
T=$(mktemp -d /tmp/servos-bench-push.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/servos
REG=
stop_registry() {
    # (wait gives the registry's status, 143: not ours, and set -e would stop here)
    [ -z "$REG" ] || { kill "$REG" 2>/dev/null && wait "$REG" 2>/dev/null; } || true
    REG=
}
cleanup() {
    stop_registry
    rm -rf "$T"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 12000))
cat >"$T/reg.yml" <<EOF
version: 0.1
storage: { filesystem: { rootdirectory: $T/reg } }
http: { addr: 127.0.0.1:$port }
log: { level: error }
EOF
R=127.0.0.1:$port
# An empty registry, listening: before every push.
fresh_registry() {
    stop_registry
    rm -rf "$T/reg"
    docker-registry serve "$T/reg.yml" >>"$T/reg.log" 2>&1 &
    REG=$!
    for _ in $(seq 100); do
        curl -fso /dev/null "http://$R/v2/" && break
        sleep 0.05
    done
    sync
}

# Two layers: busybox, then ~50 MB of shared libraries and some noise.
mkdir -p "$T/rootfs/bin" "$T/rootfs/lib"
cp "$(command -v busybox)" "$T/rootfs/bin/busybox"
ln -s busybox "$T/rootfs/bin/sh"
find /usr/lib/x86_64-linux-gnu /usr/lib -maxdepth 1 -name '*.so*' -type f -size +200k 2>/dev/null |
    sort | head -400 | while read -r f; do
        cp "$f" "$T/rootfs/lib/" 2>/dev/null || true
        [ "$(du -sm "$T/rootfs/lib" | cut -f1)" -ge 70 ] && break
    done
head -c 12M /dev/urandom >"$T/rootfs/lib/noise"
(
    cd "$T"
    umoci init --layout oci && umoci new --image oci:big
    umoci unpack --rootless --image oci:big bundle
    cp -a rootfs/bin bundle/rootfs/ && umoci repack --image oci:big bundle && rm -rf bundle
    umoci unpack --rootless --image oci:big bundle
    cp -a rootfs/lib bundle/rootfs/ && umoci repack --image oci:big bundle && rm -rf bundle
) >/dev/null 2>&1
"$SERVOS" image import "$T/oci" bench/big:1 >/dev/null
size=$(du -sm "$T/oci/blobs" | cut -f1)

n=0
servos_side() {
    fresh_registry
    rm -f "$SERVOS_ROOT/images/remote-blobs.json" # no mount: every blob uploaded
    n=$((n + 1))
    timed "$T/push.servos" "$SERVOS" image push -q bench/big:1 "$R/bench/servos:$n"
}
skopeo_side() {
    fresh_registry
    n=$((n + 1))
    timed "$T/push.skopeo" skopeo copy -q --dest-tls-verify=false oci:"$T/oci":big "docker://$R/bench/skopeo:$n"
}
ROUNDS=${ROUNDS:-5}
sides=(servos skopeo)
for r in $(seq "$ROUNDS"); do
    for k in 0 1; do "${sides[$(((k + r) % 2))]}_side"; done
done
stop_registry
for s in "${sides[@]}"; do summarize "$T/times" "$s" "$T/push.$s"; done
cat "$T/times" >&2
for s in "${sides[@]}"; do
    f=$(field "$T/times" "$s" 8)
    [ "$f" = 0 ] || echo "push: $s: $f failed runs" >&2
done

sv=$(field "$T/times" servos 2) sk=$(field "$T/times" skopeo 2)
label="image push, $size MB of blobs, to an empty registry"
if [ -z "$sk" ] || [ "$(field "$T/times" skopeo 8)" != 0 ]; then
    bench_row "$label" "$(spread_time "$T/times" servos)" "skopeo did not run" - "<= 0.80x skopeo" 1
else
    ok=$(check le "$sv" "$(mul "$sk" 0.8)")
    [ "$(field "$T/times" servos 8)" = 0 ] || ok=1
    bench_row "$label" "$(spread_time "$T/times" servos)" "skopeo copy $(spread_time "$T/times" skopeo)" \
        "$(ratio "$sv" "$sk")" "<= 0.80x skopeo" "$ok"
fi
bench_done
