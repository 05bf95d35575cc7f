#!/usr/bin/env bash
# Benchmark: pull + unpack of an image of about 50 MB (compressed) from a
# registry on 127.0.0.1, with every digest verified: `servos image pull`
# against `skopeo copy` + `umoci unpack` and against `podman pull`, each
# into a store emptied (and synced) before it, the three alternating round
# by round (lib-series.sh); then a container start from the pulled image
# against one from the host rootfs, interleaved (lib.sh). Medians with
# their quartiles. Goal: the pull takes <= 0.8x the fastest peer's time.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/lib-series.sh"
for t in docker-registry skopeo umoci; do
    command -v $t >/dev/null && continue
    bench_row "image pull + unpack" - "$t: not installed (.ci/deps installs it)" - "<= 0.80x fastest peer" 1
    bench_done
done
T=$(mktemp -d /tmp/servos-bench-img.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/servos
P="podman --root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none"
REG=
cleanup() {
    # (wait gives the registry's status, 143: not ours, and set -e would stop here)
    [ -z "$REG" ] || { kill "$REG" 2>/dev/null && wait "$REG" 2>/dev/null; } || true
    if [ -d "$T/podman" ]; then
        $P system reset -f >/dev/null 2>&1 || true
        findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
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
docker-registry serve "$T/reg.yml" >"$T/reg.log" 2>&1 &
REG=$!
R=127.0.0.1:$port

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
for _ in $(seq 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false oci:"$T/oci":big "docker://$R/bench/big:1" >/dev/null
size=$(du -sm "$T/reg/docker/registry/v2/blobs" | cut -f1)

sides=(servos skopeo)
command -v podman >/dev/null && sides+=(podman)
servos_side() {
    rm -rf "$SERVOS_ROOT"
    sync
    timed "$T/pull.servos" "$SERVOS" image pull -q "$R/bench/big:1"
}
skopeo_umoci() {
    skopeo copy -q --src-tls-verify=false "docker://$R/bench/big:1" oci:"$T/sk/oci":big &&
        umoci unpack --image "$T/sk/oci":big "$T/sk/bundle"
}
skopeo_side() {
    rm -rf "$T/sk" && mkdir -p "$T/sk"
    sync
    timed "$T/pull.skopeo" skopeo_umoci
}
podman_side() {
    $P system reset -f >/dev/null 2>&1 || true
    sync
    timed "$T/pull.podman" $P pull -q --tls-verify=false "$R/bench/big:1"
}
ROUNDS=${ROUNDS:-5}
n=${#sides[@]}
for r in $(seq "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do "${sides[$(((k + r) % n))]}_side"; done
done
for s in "${sides[@]}"; do summarize "$T/times" "$s" "$T/pull.$s"; done

# Start from the pulled image (the last servos pull left it in place)
# against the host rootfs.
"$SERVOS" run --rm host true
alternate_run "$T/start" "${RUNS:-20}" image="$SERVOS" run --rm --pull never "$R/bench/big:1" /bin/busybox true \
    -- host="$SERVOS" run --rm host true
cat "$T/times" "$T/start" >&2
for s in "${sides[@]}" image host; do
    f=$(field "$T/times" "$s" 8)$(field "$T/start" "$s" 8)
    [ "$f" = 0 ] || echo "images: $s: $f failed runs" >&2
done

sv=$(field "$T/times" servos 2) best='' best_name=''
for s in skopeo podman; do
    m=$(field "$T/times" "$s" 2)
    [ -n "$m" ] && [ "$(field "$T/times" "$s" 8)" = 0 ] || continue
    if [ -z "$best" ] || lt "$m" "$best"; then best=$m best_name=$s; fi
done
label="image pull + unpack, $size MB of blobs"
if [ -z "$best" ]; then
    bench_row "$label" "$(spread_time "$T/times" servos)" "no peer ran" - "<= 0.80x fastest peer" 1
else
    ok=$(check le "$sv" "$(mul "$best" 0.8)")
    [ "$(field "$T/times" servos 8)" = 0 ] || ok=1
    peer_name() { [ "$1" = skopeo ] && echo "skopeo copy + umoci unpack" || echo "podman pull"; }
    bench_row "$label" "$(spread_time "$T/times" servos)" "$(peer_name "$best_name") $(spread_time "$T/times" "$best_name")" \
        "$(ratio "$sv" "$best")" "<= 0.80x fastest peer" "$ok"
    for s in skopeo podman; do
        [ "$s" != "$best_name" ] && [ -n "$(field "$T/times" "$s" 2)" ] || continue
        bench_row "  $(peer_name "$s"), same run" "" "$(spread_time "$T/times" "$s")" \
            "$(ratio "$sv" "$(field "$T/times" "$s" 2)")" - 0
    done
fi
bench_row "run --rm from the pulled image" "$(spread "$T/start" image)" "host rootfs $(spread "$T/start" host)" \
    "$(ratio "$(field "$T/start" image 2)" "$(field "$T/start" host 2)")" - 0
bench_done
