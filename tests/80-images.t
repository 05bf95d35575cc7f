#!/usr/bin/env bash
# Images end to end against a real registry on 127.0.0.1 (Debian's
# docker-registry, its own config and storage), with images built here from
# busybox-static by umoci and pushed by skopeo: pull by tag and by digest,
# whiteouts, basic auth, a corrupt blob, docker-save / OCI layout / rootfs
# imports, the image config, rm of a used image, prune, and `up` pulling.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd docker-registry skopeo umoci htpasswd
REG_PIDS=()
cleanup() {
    "$S" down -t 0 -p t80 >/dev/null 2>&1
    remove_containers
    for p in "${REG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
start_registry() { # NAME [htpasswd-file]: sets PORT_<NAME>
    local name=$1 port
    port=$(free_port)
    {
        echo "version: 0.1"
        echo "storage: { filesystem: { rootdirectory: $TMP/reg-$name } }"
        echo "http: { addr: 127.0.0.1:$port }"
        echo "log: { level: error }"
        [ -n "${2:-}" ] && echo "auth: { htpasswd: { realm: servos-test, path: $2 } }"
    } >"$TMP/reg-$name.yml"
    docker-registry serve "$TMP/reg-$name.yml" >"$TMP/reg-$name.log" 2>&1 &
    REG_PIDS+=($!)
    for _ in $(seq 50); do
        ss -Hltn "sport = :$port" | grep -q . && break
        sleep 0.1
    done
    eval "PORT_$name=$port"
}
start_registry open
R=127.0.0.1:$PORT_open

# A busybox root file system, and two images: "base" with a config, and
# "two" = base + a layer that deletes /bin/cat and adds /hello.
mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/tmp"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
for a in sh echo cat ls sleep env pwd id test; do ln -s busybox "$TMP/rootfs/bin/$a"; done
cd "$TMP"
{
    umoci init --layout oci
    umoci new --image oci:base
    umoci unpack --rootless --image oci:base bundle
    cp -a rootfs/. bundle/rootfs/
    umoci repack --image oci:base bundle
    umoci config --image oci:base --config.entrypoint /bin/sh --config.cmd -c \
        --config.cmd 'echo "hello $GREETING from $(pwd)"' --config.env GREETING=image \
        --config.workingdir /srv
    rm -rf bundle
    umoci unpack --rootless --image oci:base bundle
    rm bundle/rootfs/bin/cat
    echo layered >bundle/rootfs/hello
    umoci repack --image oci:two bundle
    rm -rf bundle
} >"$TMP/umoci.log" 2>&1 || { diag "$(cat "$TMP/umoci.log")"; bail_out "cannot build the test images with umoci"; }
push() { skopeo copy -q --dest-tls-verify=false "$@" >/dev/null 2>"$TMP/skopeo.err" || diag "$(cat "$TMP/skopeo.err")"; }
push oci:oci:base "docker://$R/test/bb:1"
push oci:oci:two "docker://$R/test/bb:two"

# ---- pull by tag, run with the image's config ----------------------------
run "$S" image pull -q "$R/test/bb:1"
is "$rc" 0 "pull by tag"
DIGEST=$out
like "$DIGEST" '^sha256:[0-9a-f]{64}$' "pull prints the image digest"
run "$S" image ls
like "$out" "$R/test/bb:1 +sha256:[0-9a-f]{12}" "image ls lists it by name"
run "$S" run --rm "$R/test/bb:1"
is "$out" "hello image from /srv" "Entrypoint, Cmd, Env and WorkingDir come from the image config"
run "$S" run --rm -e GREETING=user -w /tmp "$R/test/bb:1"
is "$out" "hello user from /tmp" "the user's env and workdir override the image's"
run "$S" run --rm "$R/test/bb:1" -c 'echo args replace Cmd'
is "$out" "args replace Cmd" "a command replaces Cmd, the Entrypoint stays"
run "$S" run --rm --entrypoint /bin/echo "$R/test/bb:1" plain
is "$out" "plain" "--entrypoint replaces the image's"
n_layers=$(ls "$SERVOS_ROOT/images/layers" | wc -l)
"$S" run --rm "$R/test/bb:1" -c true
is "$(ls "$SERVOS_ROOT/images/layers" | wc -l)" "$n_layers" "layers are unpacked once"

# ---- by digest, into an empty store ---------------------------------------
SERVOS_ROOT=$TMP/root2 run "$S" run --rm "$R/test/bb@$DIGEST" -c 'echo by digest'
is "$out" "by digest" "run pulls a missing image by digest"
SERVOS_ROOT=$TMP/root2 run "$S" image ls -q
is "$out" "$DIGEST" "the same digest is stored"

# ---- a whiteout in the upper layer ----------------------------------------
run "$S" run --rm "$R/test/bb:two" -c 'test -e /bin/cat && echo cat-present || echo cat-gone; busybox cat /hello'
is "$out" "cat-gone
layered" "a file deleted by an upper layer's whiteout is gone"

# ---- the pull's errors ----------------------------------------------------
run "$S" image pull "$R/test/none:1"
[ "$rc" -ne 0 ] && matches "$err" "not found"
ok $? "a missing repository fails clearly" "exit code $rc" "$err"
run "$S" image pull "127.0.0.1:$(free_port)/test/bb:1"
[ "$rc" -ne 0 ] && matches "$err" "registry 127.0.0.1"
ok $? "an unreachable registry fails clearly" "exit code $rc" "$err"
run "$S" run --rm --pull never nosuch/image:1 true
[ "$rc" -ne 0 ] && matches "$err" 'no image "nosuch/image:1" in the store'
ok $? "--pull never does not pull" "exit code $rc" "$err"

# ---- basic auth -----------------------------------------------------------
htpasswd -Bbn tester secret >"$TMP/htpasswd" 2>/dev/null
start_registry auth "$TMP/htpasswd"
RA=127.0.0.1:$PORT_auth
push --dest-creds tester:secret oci:oci:base "docker://$RA/private/bb:1"
SERVOS_CONFIG=$TMP/none.json SERVOS_ROOT=$TMP/root3 run "$S" image pull "$RA/private/bb:1"
[ "$rc" -ne 0 ] && matches "$err" "requires credentials|access denied"
ok $? "without credentials the pull fails clearly" "exit code $rc" "$err"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$RA" "$(printf tester:secret | base64)" >"$TMP/servos.json"
SERVOS_CONFIG=$TMP/servos.json SERVOS_ROOT=$TMP/root3 run "$S" image pull -q "$RA/private/bb:1"
is "$rc" 0 "with credentials from the servos config the pull works"
unlike "$out$err" "secret|dGVzdGVyOnNlY3JldA" "credentials are never printed"
mkdir -p "$TMP/home/.docker" && cp "$TMP/servos.json" "$TMP/home/.docker/config.json"
HOME=$TMP/home SERVOS_CONFIG=$TMP/none.json SERVOS_ROOT=$TMP/root4 run "$S" image pull -q "$RA/private/bb:1"
is "$rc" 0 "credentials from ~/.docker/config.json work too"

# ---- imports ----------------------------------------------------------------
skopeo copy -q oci:oci:base docker-archive:"$TMP/saved.tar":saved/bb:7 >/dev/null 2>&1
run "$S" image import "$TMP/saved.tar"
is "$rc" 0 "a docker-save archive imports"
run "$S" run --rm saved/bb:7
is "$out" "hello image from /srv" "... and runs with its config"
run "$S" image import "$TMP/oci" layout-dir:1
is "$rc" 0 "an OCI layout directory imports"
run "$S" run --rm layout-dir:1 -c 'echo from layout'
is "$out" "from layout" "... and runs"
tar -C "$TMP/oci" -cf "$TMP/layout.tar" .
run "$S" image import "$TMP/layout.tar" layout-tar:1
is "$rc" 0 "an OCI layout tarball imports"
tar -C "$TMP/rootfs" -czf "$TMP/rootfs.tar.gz" .
run "$S" image import "$TMP/rootfs.tar.gz" plain
is "$rc" 0 "a plain rootfs tarball imports"
run "$S" run --rm plain echo plain rootfs
is "$out" "plain rootfs" "... and runs"
run "$S" image ls
like "$out" "localhost/plain:latest" "local names live under localhost/"

# ---- rm and prune -----------------------------------------------------------
"$S" run -d --name user80 plain sleep 1000 >/dev/null
run "$S" image rm plain
[ "$rc" -ne 0 ] && matches "$err" "used by a container"
ok $? "an image a container uses cannot be removed" "exit code $rc" "$err"
"$S" rm -f user80 >/dev/null
run "$S" image rm plain
is "$rc" 0 "once the container is gone it can"
# layout-dir:1 and layout-tar:1 are one image under two names.
run "$S" image rm layout-tar:1
is "$rc" 0 "rm of one of two names"
run "$S" image ls
unlike "$out" "layout-tar" "... drops that name"
run "$S" run --rm --pull never layout-dir:1 -c 'echo other name'
is "$out" "other name" "... and keeps the image under its other name"
run "$S" image prune
like "$out" "^freed [0-9.]+ [kMG]B" "prune reports what it freed"
run "$S" run --rm --pull never saved/bb:7 -c 'echo still here'
is "$out" "still here" "prune keeps what named images need"

# ---- up pulls what a stack needs -------------------------------------------
mkdir -p "$TMP/stack"
cat >"$TMP/stack/Envirofile.lua" <<EOF
stack "t80"
service "app" { image = "$R/test/bb:two", command = { "-c", "echo up-from-registry; exec sleep 1000" }, stop_signal = "SIGKILL" }
EOF
SERVOS_ROOT=$TMP/root6 run "$S" up -d "$TMP/stack"
is "$rc" 0 "up pulls a missing image"
sleep 0.5
SERVOS_ROOT=$TMP/root6 run "$S" logs -p t80 app
like "$out" "up-from-registry" "the service runs from the pulled image"
SERVOS_ROOT=$TMP/root6 "$S" down -t 0 -p t80 >/dev/null 2>&1

# ---- a corrupt blob on the registry's disk (last: the registry shares
# blobs between repositories, so this breaks every image with that layer)
push oci:oci:base "docker://$R/test/corrupt:1"
layer=$(skopeo inspect --tls-verify=false --raw "docker://$R/test/corrupt:1" | jq -r '.layers[0].digest')
data=$TMP/reg-open/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer:7}/data
printf 'garbage' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
SERVOS_ROOT=$TMP/root5 run "$S" image pull "$R/test/corrupt:1"
[ "$rc" -ne 0 ] && matches "$err" "$layer.*corrupt"
ok $? "a corrupt blob fails the pull, naming its digest" "exit code $rc" "$err"
is "$(ls "$TMP/root5/images/blobs/sha256" 2>/dev/null | grep -c "${layer:7}")/$(ls "$TMP/root5/images/blobs/tmp" 2>/dev/null | wc -l)" "0/0" \
    "nothing of the corrupt blob is stored"
SERVOS_ROOT=$TMP/root5 run "$S" image ls -q
is "$out" "" "and no image is recorded"

done_testing
