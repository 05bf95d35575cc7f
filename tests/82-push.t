#!/usr/bin/env bash
# Push, save and load against the real tools: a docker-registry on
# 127.0.0.1 (its own config, storage and access log), skopeo, umoci and
# podman (its own root, vfs storage, no network). An image imported into
# servos is pushed and then pulled by skopeo, unpacked by umoci and run by
# podman; a re-push uploads nothing; a second repository mounts the
# blobs; chunked uploads; basic auth; `image save` read by podman load and
# skopeo, `podman save` (both formats) read by `image load`; a truncated
# or corrupt archive loads nothing.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd docker-registry skopeo umoci podman htpasswd
REG_PIDS=()
P="podman --root $TMP/podman --runroot $TMP/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none"
# podman asks for rlimits above the hard limit, which root here may not
# raise: ask for what the host allows.
PU="--network none --ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"
# podman makes libpod_parent cgroups (and conmon's below them) on first use:
# those this test made go with it, when empty.
[ -d /sys/fs/cgroup/memory/libpod_parent ] || [ -d /sys/fs/cgroup/libpod_parent ] || PODMAN_CGROUPS=1
cleanup() {
    remove_containers
    for p in "${REG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ -d "$TMP/podman" ]; then
        $P system reset -f >/dev/null 2>&1
        findmnt -rn -o TARGET | grep "^$TMP" | sort -r | xargs -r umount -l 2>/dev/null
    fi
    [ -z "${PODMAN_CGROUPS:-}" ] ||
        find /sys/fs/cgroup -maxdepth 3 -depth -type d -path '*libpod_parent*' -exec rmdir {} + 2>/dev/null
}
start_registry() { # NAME [AUTH-CONFIG]: sets PORT_<NAME>; requests logged in $TMP/reg-NAME.log
    local name=$1 port
    port=$(free_port)
    {
        echo "version: 0.1"
        echo "storage: { filesystem: { rootdirectory: $TMP/reg-$name } }"
        echo "http: { addr: 127.0.0.1:$port }"
        echo "log: { level: error, accesslog: { disabled: false } }"
        [ -n "${2:-}" ] && echo "auth: $2"
    } >"$TMP/reg-$name.yml"
    docker-registry serve "$TMP/reg-$name.yml" >"$TMP/reg-$name.log" 2>&1 &
    REG_PIDS+=($!)
    for _ in $(seq 50); do
        ss -Hltn "sport = :$port" | grep -q . && break
        sleep 0.1
    done
    eval "PORT_$name=$port"
}
# requests NAME METHOD PATH-REGEX: how many the registry answered so far
requests() { grep -ac "\"$2 /v2/$3" "$TMP/reg-$1.log"; }
start_registry open
R=127.0.0.1:$PORT_open

# A busybox root file system, imported as it comes: a .tar.gz.
mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/tmp"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
for a in sh echo cat ls test; do ln -s busybox "$TMP/rootfs/bin/$a"; done
tar -C "$TMP/rootfs" -czf "$TMP/rootfs.tar.gz" .
"$S" image import "$TMP/rootfs.tar.gz" bb >/dev/null
BB=$("$S" image ls -q)

# ---- push, then the others read it ----------------------------------------
run "$S" image push bb "$R/t82/bb:1"
is "$rc" 0 "push an imported image" || diag "$err"
is "$out" "$BB" "push prints the image's digest"
like "$err" "[0-9a-f]{12}: pushed \(1\.[0-9] MB\)" "a line per blob says what was uploaded"
run skopeo inspect --tls-verify=false "docker://$R/t82/bb:1"
is "$(printf '%s' "$out" | jq -r .Digest)" "$BB" "skopeo sees the same digest in the registry"
cd "$TMP" || exit 1
skopeo copy -q --src-tls-verify=false "docker://$R/t82/bb:1" oci:"$TMP/oci":bb >/dev/null 2>&1
umoci unpack --rootless --image "$TMP/oci":bb "$TMP/bundle" >"$TMP/umoci.log" 2>&1
[ -x "$TMP/bundle/rootfs/bin/busybox" ] && [ -L "$TMP/bundle/rootfs/bin/sh" ]
ok $? "skopeo copies what servos pushed and umoci unpacks its layer" "$(cat "$TMP/umoci.log")"
run $P run --rm $PU --tls-verify=false "$R/t82/bb:1" /bin/echo hello from podman
is "$out" "hello from podman" "podman pulls and runs what servos pushed" || diag "$err"

# ---- a second push uploads nothing; a second repository mounts ------------
posts=$(requests open POST "t82/bb/blobs/uploads")
run "$S" image push bb "$R/t82/bb:1"
[ "$rc" -eq 0 ] && [ "$(requests open POST "t82/bb/blobs/uploads")" = "$posts" ] &&
    [ "$(printf '%s\n' "$err" | grep -c "already in the registry")" = 2 ]
ok $? "a re-push uploads no blob (HEAD says the registry has both)" "$err"
run "$S" image push -q bb "$R/t82/copy:1"
[ "$rc" -eq 0 ] && [ "$(requests open PUT "t82/copy/blobs/uploads")" = 0 ] &&
    [ "$(grep -ac '"POST /v2/t82/copy/blobs/uploads/?mount=sha256%3A[0-9a-f]*&from=t82/bb HTTP/1.1" 201' "$TMP/reg-open.log")" = 2 ]
ok $? "a push to another repository mounts the blobs from the first (nothing uploaded)" "$err"
SERVOS_ROOT=$TMP/root2 run "$S" image pull -q "$R/t82/copy:1"
is "$out" "$BB" "servos pulls what it pushed: the same digest"
SERVOS_ROOT=$TMP/root2 run "$S" run --rm "$R/t82/copy:1" echo pulled back
is "$out" "pulled back" "... and runs it"

# ---- two layers, pushed in chunks ------------------------------------------
{
    umoci init --layout oci2 && umoci new --image oci2:two
    umoci unpack --rootless --image oci2:two b2 && cp -a rootfs/. b2/rootfs/
    umoci repack --image oci2:two b2 && rm -rf b2
    umoci unpack --rootless --image oci2:two b2 && rm b2/rootfs/bin/cat
    head -c 300000 /dev/urandom >b2/rootfs/noise && umoci repack --image oci2:two b2 && rm -rf b2
} >"$TMP/umoci2.log" 2>&1 || diag "$(cat "$TMP/umoci2.log")"
"$S" image import "$TMP/oci2" two:1 >/dev/null
TWO=$("$S" image ls --format json | jq -r '.[] | select(.names[0] == "localhost/two:1") | .digest')
echo '{"push_chunk_size": "64K"}' >"$TMP/chunks.json"
SERVOS_CONFIG=$TMP/chunks.json run "$S" image push two:1 "$R/t82/two:1"
is "$out" "$TWO" "a two-layer image pushes in 64K chunks (push_chunk_size)" || diag "$err"
[ "$(requests open PATCH "t82/two/blobs/uploads")" -ge 20 ]
ok $? "... as PATCH requests with Content-Range" "$(grep -a PATCH "$TMP/reg-open.log" | head -3)"
skopeo copy -q --src-tls-verify=false "docker://$R/t82/two:1" oci:"$TMP/oci3":two >/dev/null 2>&1
umoci unpack --rootless --image "$TMP/oci3":two "$TMP/bundle3" >/dev/null 2>&1
[ -s "$TMP/bundle3/rootfs/noise" ] && [ ! -e "$TMP/bundle3/rootfs/bin/cat" ] &&
    [ "$(skopeo inspect --tls-verify=false "docker://$R/t82/two:1" | jq -r .Digest)" = "$TWO" ]
ok $? "... and arrives whole: same digest, both layers, the whiteout"

# A chunk lost on the way (a proxy drops it, and libcurl's own second try):
# the push asks the registry where the upload stands and goes on from there.
PX=$(free_port)
python3 "$ROOT/tests/helpers/flaky-proxy.py" "$PX" "$PORT_open" 3 &
REG_PIDS+=($!)
for _ in $(seq 50); do ss -Hltn "sport = :$PX" | grep -q . && break; sleep 0.1; done
rm -f "$SERVOS_ROOT/images/remote-blobs.json" # no mount: upload it all again
SERVOS_CONFIG=$TMP/chunks.json run "$S" image push two:1 "127.0.0.1:$PX/t82/flaky:1"
[ "$rc" -eq 0 ] && [ "$out" = "$TWO" ] && matches "$err" "the chunk at [0-9]+ failed .*going on from there" &&
    [ "$(grep -ac '"GET /v2/t82/flaky/blobs/uploads/[^ ]* HTTP/1.1" 204' "$TMP/reg-open.log")" = 1 ]
ok $? "a chunk that fails resumes where the registry says it got to" "exit code $rc" "$err"
is "$(skopeo inspect --tls-verify=false "docker://$R/t82/flaky:1" | jq -r .Digest)" "$TWO" "... and the image arrives whole"

# ---- credentials, and what goes wrong ---------------------------------------
htpasswd -Bbn tester secret >"$TMP/htpasswd" 2>/dev/null
start_registry auth "{ htpasswd: { realm: servos-test, path: $TMP/htpasswd } }"
RA=127.0.0.1:$PORT_auth
SERVOS_CONFIG=$TMP/none.json run "$S" image push bb "$RA/private/bb:1"
[ "$rc" -ne 0 ] && matches "$err" "requires credentials"
ok $? "a push without credentials fails clearly" "exit code $rc" "$err"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$RA" "$(printf tester:secret | base64)" >"$TMP/servos.json"
SERVOS_CONFIG=$TMP/servos.json run "$S" image push -q bb "$RA/private/bb:1"
[ "$rc" -eq 0 ] && [ "$(skopeo inspect --creds tester:secret --tls-verify=false "docker://$RA/private/bb:1" | jq -r .Digest)" = "$BB" ]
ok $? "with credentials from the servos config it pushes" "$err"
unlike "$out$err" "secret|dGVzdGVyOnNlY3JldA" "credentials are never printed"
# Bearer tokens, as Docker Hub, GHCR and Harbor hand them out: the token
# server grants push to the user, pull to anyone.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tok.key" -out "$TMP/tok.crt" -days 2 \
    -subj /CN=servos-test-token >/dev/null 2>&1
TP=$(free_port)
python3 "$ROOT/tests/helpers/registry-token.py" "$TP" "$TMP/tok.key" "$TMP/tok.crt" tester:secret "$TMP/scopes.log" &
REG_PIDS+=($!)
for _ in $(seq 50); do ss -Hltn "sport = :$TP" | grep -q . && break; sleep 0.1; done
start_registry tok "{ token: { realm: 'http://127.0.0.1:$TP/token', service: servos-test, issuer: servos-test, rootcertbundle: $TMP/tok.crt } }"
RT=127.0.0.1:$PORT_tok
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$RT" "$(printf tester:secret | base64)" >"$TMP/tok.json"
SERVOS_CONFIG=$TMP/none.json run "$S" image push bb "$RT/t82/bb:1"
[ "$rc" -ne 0 ] && matches "$err" "access denied \(HTTP 401\).*no credentials configured"
ok $? "token auth: without credentials (a pull-only token) the push is denied clearly" "exit code $rc" "$err"
SERVOS_CONFIG=$TMP/tok.json run "$S" image push -q bb "$RT/t82/bb:1"
[ "$rc" -eq 0 ] && [ "$out" = "$BB" ] && grep -qx "repository:t82/bb:pull,push" "$TMP/scopes.log"
ok $? "token auth: with credentials, one token for pull and push of the repository" "exit code $rc" "$err" "$(cat "$TMP/scopes.log")"
SERVOS_CONFIG=$TMP/tok.json run "$S" image push bb "$RT/t82/copy:1"
[ "$rc" -eq 0 ] && matches "$err" "mounted from t82/bb" &&
    grep -qx "repository:t82/copy:pull,push repository:t82/bb:pull" "$TMP/scopes.log"
ok $? "token auth: a mount's token also asks to pull the source repository" "exit code $rc" "$err" "$(cat "$TMP/scopes.log")"
[ "$(skopeo inspect --creds tester:secret --tls-verify=false "docker://$RT/t82/copy:1" | jq -r .Digest)" = "$BB" ] &&
    SERVOS_ROOT=$TMP/root6 SERVOS_CONFIG=$TMP/none.json "$S" image pull -q "$RT/t82/copy:1" >/dev/null 2>&1
ok $? "token auth: skopeo reads it, and an anonymous pull (a pull token) works"

run "$S" image push bb "127.0.0.1:$(free_port)/t82/bb:1"
[ "$rc" -ne 0 ] && matches "$err" "registry 127.0.0.1:[0-9]+: .*(connect|refused)"
ok $? "an unreachable registry fails clearly" "exit code $rc" "$err"
run "$S" image push bb
[ "$rc" -ne 0 ] && matches "$err" "where to\? .*names no registry"
ok $? "a local name without DEST is not pushed anywhere" "exit code $rc" "$err"
run "$S" image push nosuch:1 "$R/t82/x:1"
[ "$rc" -ne 0 ] && matches "$err" 'no image "nosuch:1" in the store'
ok $? "an image not in the store is named" "exit code $rc" "$err"

# ---- save: podman and skopeo read it ------------------------------------------
run "$S" image save bb two:1 -o "$TMP/saved.tar"
is "$rc" 0 "save two images into one archive" || diag "$err"
run $P load -i "$TMP/saved.tar"
like "$out" "localhost/bb:latest" "podman load reads it" || diag "$err"
run $P run --rm $PU localhost/two:1 /bin/sh -c 'test -e /noise && echo loaded two'
is "$out" "loaded two" "podman runs a loaded image" || diag "$err"
[ "$(skopeo inspect oci-archive:"$TMP/saved.tar":latest 2>/dev/null | jq -r .Digest)" = "$BB" ] &&
    skopeo inspect docker-archive:"$TMP/saved.tar":localhost/bb:latest >/dev/null 2>&1
ok $? "skopeo reads it both as an OCI archive (same digest) and as a docker-archive"
"$S" image save bb | $P load >/dev/null 2>&1
ok $? "servos image save | podman load"

# ---- load: what podman save writes, and our own -------------------------------
$P save localhost/two:1 2>/dev/null | SERVOS_ROOT=$TMP/root3 "$S" image load >"$TMP/load.out" 2>"$TMP/load.err"
[ "${PIPESTATUS[1]}" -eq 0 ] && grep -q "Loaded image: localhost/two:1" "$TMP/load.out"
ok $? "podman save | servos image load (docker-archive)" "$(cat "$TMP/load.err")"
SERVOS_ROOT=$TMP/root3 run "$S" run --rm two:1 sh -c 'test -e /noise && echo from podman save'
is "$out" "from podman save" "... and the image runs"
$P save --format oci-archive -o "$TMP/p-oci.tar" localhost/bb:latest 2>/dev/null
SERVOS_ROOT=$TMP/root3 run "$S" image load -i "$TMP/p-oci.tar"
[ "$rc" -eq 0 ] && matches "$out" "Loaded image: localhost/bb:latest"
ok $? "podman save --format oci-archive loads too" "$err"
SERVOS_ROOT=$TMP/root4 run "$S" image load "$TMP/saved.tar"
ls_out=$(SERVOS_ROOT=$TMP/root4 "$S" image ls -q | sort)
is "$ls_out" "$(printf '%s\n' "$BB" "$TWO" | sort)" "save then load keeps both digests"

# Docker's own layout: layers under <id>/layer.tar, symbolic links to
# blobs/sha256/ in Docker 25's archives (made here from the one saved above,
# with no OCI index left), gzip'ed as `docker save | gzip` leaves it.
mkdir -p "$TMP/d25" && tar -C "$TMP/d25" -xf "$TMP/saved.tar"
(
    cd "$TMP/d25" && rm oci-layout index.json && mkdir v1 &&
        jq -r '.[1].Layers[]' manifest.json | awk '{ print NR, $0 }' | while read -r i l; do
            mkdir "v1/$i" && ln -s "../../$l" "v1/$i/layer.tar"
        done &&
        jq '.[1].Layers = [range(1; (.[1].Layers | length) + 1) | "v1/\(.)/layer.tar"] | [.[1]]' \
            manifest.json >m && mv m manifest.json && tar -czf "$TMP/d25.tar.gz" .
)
SERVOS_ROOT=$TMP/root7 run "$S" image load "$TMP/d25.tar.gz"
[ "$rc" -eq 0 ] && matches "$out" "Loaded image: localhost/two:1"
ok $? "a gzip'ed docker-archive with symlinked layers (Docker's layout) loads" "exit code $rc" "$err"
SERVOS_ROOT=$TMP/root7 run "$S" run --rm two:1 sh -c 'test -e /noise && test ! -e /bin/cat && echo both layers'
is "$out" "both layers" "... and runs with both its layers"

# ---- a truncated or corrupt archive loads nothing ------------------------------
store() { (cd "$TMP/root3/images" && find blobs/sha256 layers -type f 2>/dev/null | sort && cat index.json); }
before=$(store)
head -c $(($(stat -c %s "$TMP/saved.tar") / 2)) "$TMP/saved.tar" >"$TMP/half.tar"
SERVOS_ROOT=$TMP/root3 run "$S" image load "$TMP/half.tar"
[ "$rc" -ne 0 ] && matches "$err" "Truncated"
ok $? "a truncated archive is refused" "exit code $rc" "$err"
$P save localhost/bb:latest 2>/dev/null >"$TMP/p.tar"
cp "$TMP/p.tar" "$TMP/bad.tar"
printf 'XXXX' | dd of="$TMP/bad.tar" bs=1 seek=300000 conv=notrunc status=none
SERVOS_ROOT=$TMP/root3 run "$S" image load "$TMP/bad.tar"
[ "$rc" -ne 0 ] && matches "$err" "corrupt"
ok $? "a docker-archive whose layer does not match its diff_id is refused" "exit code $rc" "$err"
is "$(store)" "$before" "... and the store is as it was (no blob, no name)"
is "$(ls "$TMP/root3/images/blobs/tmp" | wc -l)" 0 "... with no temporary file left"

# ---- the same paths under ASan/UBSan (make check builds it) -------------------
if [ -x "$SERVOS_ASAN" ]; then
    A=$SERVOS_ASAN
    rm -f "$SERVOS_ROOT/images/remote-blobs.json"
    SERVOS_CONFIG=$TMP/chunks.json run "$A" image push two:1 "$R/t82/asan:1"
    [ "$rc" -eq 0 ] && [ "$out" = "$TWO" ]
    ok $? "ASan: a chunked push, its workers and mounts, is clean" "exit code $rc" "$err"
    run "$A" image save bb two:1 -o "$TMP/asan.tar"
    is "$rc" 0 "ASan: save is clean" || diag "$err"
    SERVOS_ROOT=$TMP/root5 run "$A" image load "$TMP/asan.tar"
    is "$rc" 0 "ASan: load is clean" || diag "$err"
    SERVOS_ROOT=$TMP/root5 run "$A" image load "$TMP/half.tar"
    [ "$rc" -eq 1 ] && ! matches "$err" "Sanitizer|runtime error"
    ok $? "ASan: a truncated archive is refused cleanly" "exit code $rc" "$err"
else
    skip "no ASan build (make asan)" 4
fi

done_testing
