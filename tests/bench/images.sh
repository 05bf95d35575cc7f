#!/usr/bin/env bash
# Benchmark: pull + unpack of an image of about 50 MB (compressed) from a
# registry on 127.0.0.1, with every digest verified: `servos image pull`
# against `skopeo copy` + `umoci unpack` and against `podman pull`, each
# into an empty store; then a container start from the pulled image versus
# from the host rootfs. Goal: servos <= 0.8x the fastest peer.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
for t in docker-registry skopeo umoci; do
    command -v $t >/dev/null || { echo "images: $t is not installed (make bench installs it)"; exit 0; }
done
T=$(mktemp -d /tmp/servos-bench-img.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/servos
P="podman --root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none"
REG=
cleanup() {
    [ -n "$REG" ] && kill "$REG" 2>/dev/null && wait "$REG" 2>/dev/null
    if [ -d "$T/podman" ]; then
        $P system reset -f >/dev/null 2>&1 || true
        findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 30000))
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

ms() { date +%s%N; }
elapsed() { echo $((($(date +%s%N) - $1) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ROUNDS=${ROUNDS:-3}
for _ in $(seq "$ROUNDS"); do
    rm -rf "$SERVOS_ROOT"
    sync
    t=$(ms); "$SERVOS" image pull -q "$R/bench/big:1" >/dev/null; elapsed "$t" >>"$T/t-servos"
    rm -rf "$T/sk" && mkdir -p "$T/sk"
    sync
    t=$(ms)
    skopeo copy -q --src-tls-verify=false "docker://$R/bench/big:1" oci:"$T/sk/oci":big >/dev/null
    umoci unpack --image "$T/sk/oci":big "$T/sk/bundle" >/dev/null 2>&1
    elapsed "$t" >>"$T/skopeo"
    if command -v podman >/dev/null; then
        $P system reset -f >/dev/null 2>&1 || true
        sync
        t=$(ms); $P pull -q --tls-verify=false "$R/bench/big:1" >/dev/null 2>&1 && elapsed "$t" >>"$T/t-podman"
    fi
done
sv=$(median <"$T/t-servos") sk=$(median <"$T/skopeo")
pd=$( [ -s "$T/t-podman" ] && median <"$T/t-podman" || echo 0)
best=$sk best_name="skopeo+umoci"
[ "$pd" -gt 0 ] && [ "$pd" -lt "$best" ] && best=$pd best_name="podman pull"
printf 'pull + unpack, %d MB of blobs on the registry (median of %d)\n' "$size" "$ROUNDS"
printf '  %-22s %6d ms\n' "servos image pull" "$sv" "skopeo copy+umoci" "$sk"
[ "$pd" -gt 0 ] && printf '  %-22s %6d ms\n' "podman pull" "$pd"
printf '  servos / fastest peer (%s): %.2fx   (goal <= 0.8x)\n' "$best_name" \
    "$(awk -v a="$sv" -v b="$best" 'BEGIN{print a/b}')"

# Start from the pulled image versus from the host rootfs.
"$SERVOS" run --rm host true
for _ in $(seq 20); do
    t=$(ms); "$SERVOS" run --rm --pull never "$R/bench/big:1" /bin/busybox true; elapsed "$t" >>"$T/start-img"
    t=$(ms); "$SERVOS" run --rm host true; elapsed "$t" >>"$T/start-host"
done
printf 'container start (median of 20): pulled image %d ms, host rootfs %d ms\n' \
    "$(median <"$T/start-img")" "$(median <"$T/start-host")"
