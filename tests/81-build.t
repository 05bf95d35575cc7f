#!/usr/bin/env bash
# servos build end to end, on a real Debian base (mmdebstrap's, cached
# under /var/cache/servos-test and imported as debian:bookworm): a
# multi-stage build that installs gcc with apt, compiles a C program and
# keeps only the binary on scratch; a Python app whose RUN installs python3
# with apt; cache hits and misses; what umoci and skopeo read of the
# result, and podman of what servos pushed; the bad inputs; Ctrl-C and
# kill -9 in the middle of a RUN; and Compose's build: and the Envirofile's
# at up.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd umoci skopeo jq
# podman makes libpod_parent cgroups on first use: those this test made go
# with it, when empty.
[ -d /sys/fs/cgroup/memory/libpod_parent ] || [ -d /sys/fs/cgroup/libpod_parent ] || PODMAN_CGROUPS=1
cleanup() {
    [ -n "${REG:-}" ] && kill "$REG" 2>/dev/null && wait "$REG" 2>/dev/null
    if [ -d "$TMP/podman" ]; then
        podman --root "$TMP/podman" --runroot "$TMP/podman-run" --storage-driver vfs system reset -f >/dev/null 2>&1
        findmnt -rn -o TARGET | grep "^$TMP" | sort -r | xargs -r umount -l 2>/dev/null
    fi
    [ -z "${PODMAN_CGROUPS:-}" ] ||
        find /sys/fs/cgroup -maxdepth 3 -depth -type d -path '*libpod_parent*' -exec rmdir {} + 2>/dev/null
    for d in "$TMP/compose" "$TMP/envf"; do
        [ -d "$d" ] && (cd "$d" && "$S" down -t 0 >/dev/null 2>&1)
    done
    [ -n "${BPID:-}" ] && kill -9 "$BPID" 2>/dev/null
    pkill -9 -f "sleep 6061" 2>/dev/null
    remove_containers
}

if ! base=$("$ROOT/tests/helpers/debian-rootfs.sh" --tarball 2>"$TMP/helper.err"); then
    [ $? -eq 77 ] && skip_all "no Debian base: $base"
    bail_out "the Debian base cannot be made: $(cat "$TMP/helper.err")"
fi
run "$S" image import "$base" debian:bookworm
is "$rc" 0 "the mmdebstrap base imports as debian:bookworm" || diag "$err"

# The store's blobs as an OCI layout, for umoci and skopeo: what they read
# is exactly what servos wrote.
store_blob() { echo "$SERVOS_ROOT/images/blobs/sha256/${1#sha256:}"; }
as_layout() { # IMAGE-NAME DIR TAG
    local m
    m=$(jq -r --arg n "$1" '.refs[$n]' "$SERVOS_ROOT/images/index.json")
    mkdir -p "$2/blobs/sha256"
    echo '{"imageLayoutVersion": "1.0.0"}' >"$2/oci-layout"
    for d in "$m" $(jq -r '.config.digest, .layers[].digest' "$(store_blob "$m")"); do
        ln -f "$(store_blob "$d")" "$2/blobs/sha256/${d#sha256:}"
    done
    jq -n --arg d "$m" --arg t "$3" --argjson s "$(stat -c %s "$(store_blob "$m")")" \
        '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": $t}}]}' \
        >"$2/index.json"
}
image_config() { # NAME: the image's config, as stored
    local m
    m=$(jq -r --arg n "$1" '.refs[$n]' "$SERVOS_ROOT/images/index.json")
    cat "$(store_blob "$(jq -r .config.digest "$(store_blob "$m")")")"
}

# ---- a C program: built with gcc in one stage, kept alone on scratch ------
mkdir -p "$TMP/c"
cat >"$TMP/c/Containerfile" <<'EOF'
# syntax=docker/dockerfile:1
ARG DEBIAN=debian:bookworm
FROM $DEBIAN AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c

FROM scratch
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
CMD ["world"]
EOF
printf '#include <stdio.h>\nint main(int c, char **v) { printf("hello, %%s\\n", c > 1 ? v[1] : "?"); return 0; }\n' >"$TMP/c/hello.c"
t0=$(date +%s)
run "$S" build -t hello "$TMP/c"
is "$rc" 0 "a multi-stage build that installs gcc with apt and compiles a C program" || diag "$(printf '%s\n' "$err" | tail -20)"
diag "cold build: $(($(date +%s) - t0)) s"
like "$out" '^sha256:[0-9a-f]{64}$' "it prints the image's digest"
DIGEST=$out
like "$err" 'Setting up gcc' "RUN's output is streamed (apt-get's)"
like "$err" '\[build 2/5\] RUN apt-get update .*DONE [0-9.]+s' "each step has a line with its duration"
like "$err" '# syntax=docker/dockerfile:1 is ignored' "# syntax= is noted and ignored"
run "$S" run --rm hello
is "$out" "hello, world" "servos run of the image: its ENTRYPOINT and CMD"
run "$S" run --rm hello you
is "$out" "hello, you" "arguments replace CMD"
run "$S" image ls
like "$out" "localhost/hello:latest +${DIGEST:0:19} +1 " "the final image holds one layer, the binary's, and no gcc"

# ---- the cache ------------------------------------------------------------
run "$S" build -t hello "$TMP/c"
is "$out" "$DIGEST" "a rebuild with nothing changed gives the same image"
unlike "$err" "DONE" "... and runs no step"
like "$err" 'RUN apt-get update .*CACHED' "... every step's line says CACHED"
sed -i 's/hello, /hi, /' "$TMP/c/hello.c"
run "$S" build -t hello "$TMP/c"
like "$err" 'RUN apt-get update .*CACHED' "a changed source file: the steps before its COPY are cached"
like "$err" 'COPY hello.c \.  DONE' "... its COPY runs again"
like "$err" 'RUN gcc .*DONE' "... and every step after it"
run "$S" run --rm hello
is "$out" "hi, world" "... and the image has the change"

# ---- a Python app whose RUN installs python3 with apt ----------------------
mkdir -p "$TMP/py/cache"
cat >"$TMP/py/Containerfile" <<'EOF'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3-minimal \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc
WORKDIR /app
COPY . .
ARG FLAVOUR=plain
ENV FLAVOUR=$FLAVOUR NAME="the app"
LABEL org.example.team=build "with space"=yes
EXPOSE 8000 9000/udp
HEALTHCHECK --interval=5s --retries=2 CMD python3 -c 'print(1)'
STOPSIGNAL SIGINT
USER nobody
CMD ["python3", "app.py"]
EOF
cat >"$TMP/py/app.py" <<'EOF'
import os
print("hello from %s as uid %d, %s" % (os.environ["NAME"], os.getuid(), os.environ["FLAVOUR"]))
print(sorted(os.listdir(".")))
EOF
echo secret >"$TMP/py/secret.txt"
echo junk >"$TMP/py/cache/x.pyc"
printf 'secret.txt\n**/*.pyc\nContainerfile\n' >"$TMP/py/.dockerignore"
run "$S" build -t py:1 --build-arg FLAVOUR=spicy "$TMP/py"
is "$rc" 0 "a Python app whose RUN installs python3 with apt" || diag "$(printf '%s\n' "$err" | tail -20)"
run "$S" run --rm py:1
is "$out" "hello from the app as uid 65534, spicy
['.dockerignore', 'app.py', 'cache']" "it runs as USER, with ENV and --build-arg; .dockerignore kept secret.txt and *.pyc out"
cfg=$(image_config localhost/py:1)
is "$(jq -c '.config | [.User, .WorkingDir, .StopSignal, (.ExposedPorts | keys), .Labels["org.example.team"], .Labels["with space"], .Healthcheck.Test, .Healthcheck.Interval, .Healthcheck.Retries]' <<<"$cfg")" \
    '["nobody","/app","SIGINT",["8000/tcp","9000/udp"],"build","yes",["CMD-SHELL","python3 -c '"'"'print(1)'"'"'"],5000000000,2]' \
    "the config: User, WorkingDir, StopSignal, ExposedPorts, Labels, Healthcheck"
is "$(jq '[.history[] | select(.empty_layer | not)] | length' <<<"$cfg") $(jq '.rootfs.diff_ids | length' <<<"$cfg")" "3 3" \
    "a history entry per instruction, one with a layer per diff_id"

# ---- the network of RUN: the host's by default, none when asked ----------------
mkdir -p "$TMP/net"
printf 'FROM debian:bookworm\nRUN grep -c : /proc/net/dev >/ifaces\nCMD ["cat", "/ifaces"]\n' >"$TMP/net/Containerfile"
"$S" build -q -t net-host "$TMP/net" >/dev/null 2>"$TMP/net.err"
"$S" build -q --network none -t net-none "$TMP/net" >/dev/null 2>>"$TMP/net.err"
run "$S" run --rm net-none
is "$out" 1 "--network none: a RUN sees loopback only" || diag "$(cat "$TMP/net.err")"
run "$S" run --rm net-host
[ "${out:-0}" -gt 1 ]
ok $? "by default a RUN is on the host's network (its interfaces: $out)"

# ---- the rest of the instructions -------------------------------------------------
mkdir -p "$TMP/more/pkg/sub"
echo a >"$TMP/more/a.txt"
echo b >"$TMP/more/b.txt"
echo inner >"$TMP/more/pkg/sub/inner"
tar -C "$TMP/more/pkg" -czf "$TMP/more/pkg.tgz" .
cat >"$TMP/more/Containerfile" <<'EOF'
ARG VERSION=1.0
FROM debian:bookworm AS first
ARG VERSION
RUN echo "version=$VERSION" >/v
FROM debian:bookworm
ARG FROMENV
SHELL ["/bin/bash", "-c"]
RUN useradd -u 1234 appuser && [[ -n "$BASH_VERSION" ]] && echo bash >/shell
ADD pkg.tgz /opt/pkg/
ADD a.txt /opt/plain.txt
COPY --chown=appuser:appuser *.txt /data/
COPY --from=0 /v /v
COPY --from=hello /hello /usr/local/bin/hello
WORKDIR data
WORKDIR sub
RUN ["/bin/sh", "-c", "pwd >/pwd"]
USER appuser
RUN echo "$(id -u) $FROMENV" >/tmp/who
VOLUME /vol
CMD cat /v /shell /pwd /tmp/who /opt/pkg/sub/inner /opt/plain.txt; stat -c '%u %n' /data/*.txt; hello
EOF
FROMENV=from-env run "$S" build -q --build-arg FROMENV -t more "$TMP/more"
is "$rc" 0 "ARG before FROM, SHELL, ADD, COPY --chown with a glob, --from a stage's number and an image, WORKDIR, USER" || diag "$err"
run "$S" run --rm more
is "$out" "version=1.0
bash
/data/sub
1234 from-env
inner
a
1234 /data/a.txt
1234 /data/b.txt
hi, ?" "... each does what Docker's does (ADD unpacks a tarball, copies a plain file)"

# ---- what other tools read of it ----------------------------------------------
as_layout localhost/hello:latest "$TMP/layout" hello
run skopeo inspect --raw "oci:$TMP/layout:hello"
is "$rc" 0 "skopeo reads the image as an OCI layout" || diag "$err"
run skopeo inspect --config "oci:$TMP/layout:hello"
is "$(jq -c '[.config.Entrypoint, .config.Cmd]' <<<"$out")" '[["/hello"],["world"]]' "skopeo reads its config"
run umoci unpack --rootless --image "$TMP/layout:hello" "$TMP/bundle"
is "$rc" 0 "umoci unpacks it (layer digests and diff_ids check out)" || diag "$err"
run "$TMP/bundle/rootfs/hello" umoci
is "$out" "hi, umoci" "... and the binary umoci unpacked runs"
as_layout localhost/py:1 "$TMP/pylayout" py
run skopeo copy -q "oci:$TMP/pylayout:py" "docker-archive:$TMP/py.tar:py:1"
is "$rc" 0 "skopeo copies the Python image, every layer verified" || diag "$err"

# ---- built here, pushed, run by podman ----------------------------------------------
# A RUN on scratch (the exec form: busybox is all there is) makes a layer of
# links and files; the image goes to a real registry, and podman runs it.
mkdir -p "$TMP/bb"
cp "$(command -v busybox)" "$TMP/bb/busybox"
cat >"$TMP/bb/Containerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir /data && echo made by RUN >/data/x"]
CMD ["/bin/sh", "-c", "cat /data/x"]
EOF
run "$S" build -q -t bbrun "$TMP/bb"
is "$rc" 0 "RUN's exec form on scratch" || diag "$err"
run "$S" run --rm bbrun
is "$out" "made by RUN" "... and its layer is what the step wrote"
if command -v docker-registry >/dev/null && command -v podman >/dev/null; then
    port=$(free_port)
    printf 'version: 0.1\nstorage: { filesystem: { rootdirectory: %s } }\nhttp: { addr: 127.0.0.1:%s }\nlog: { level: error }\n' \
        "$TMP/reg" "$port" >"$TMP/reg.yml"
    docker-registry serve "$TMP/reg.yml" >"$TMP/reg.log" 2>&1 &
    REG=$!
    for _ in $(seq 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
    run "$S" image push bbrun "127.0.0.1:$port/t81/bbrun:1"
    is "$rc" 0 "servos image push of a built image" || diag "$err"
    P="podman --root $TMP/podman --runroot $TMP/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none"
    run $P run --rm --network none --ulimit nofile="$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096 \
        --tls-verify=false "127.0.0.1:$port/t81/bbrun:1"
    is "$out" "made by RUN" "podman pulls and runs what servos built and pushed" || diag "$err"
else
    skip "docker-registry or podman is not installed (make deps)" 2
fi

# ---- a deletion is a whiteout ----------------------------------------------------
mkdir -p "$TMP/wh"
printf 'FROM debian:bookworm\nRUN rm -rf /usr/share/doc/apt /etc/debian_version && mkdir /new\n' >"$TMP/wh/Containerfile"
run "$S" build -q -t wh "$TMP/wh"
layer=$(jq -r '.layers[-1].digest' "$(store_blob "$out")")
run tar -tzf "$(store_blob "$layer")"
like "$out" '^usr/share/doc/\.wh\.apt$' "a deleted directory is a whiteout in the layer"
like "$out" '^etc/\.wh\.debian_version$' "... a deleted file too"
unlike "$out" '^etc/(hostname|hosts|resolv.conf)$' "the runtime's mount points are not in the layer"
run "$S" run --rm wh sh -c 'ls /usr/share/doc/apt /etc/debian_version 2>&1; test -d /new && echo new'
like "$out" "No such file.*No such file|new" "... and gone in the image"

# ---- bad input -------------------------------------------------------------------
mkdir -p "$TMP/bad/sub"
echo outside >"$TMP/outside.txt"
ln -s "$TMP/outside.txt" "$TMP/bad/sub/abs"
ln -s ../../outside.txt "$TMP/bad/sub/rel"
bad() { # NAME REGEX LINES...: a build of LINES fails with REGEX
    local name=$1 want=$2
    shift 2
    printf '%s\n' "$@" >"$TMP/bad/Containerfile"
    run "$S" build -q "$TMP/bad"
    [ "$rc" -ne 0 ] && matches "$err" "$want"
    ok $? "$name" "exit code $rc" "$err"
}
bad "an unknown instruction: file:line and a suggestion" 'Containerfile:2: unknown instruction "RUNN" \(did you mean "RUN"\?\)' \
    "FROM debian:bookworm" "RUNN true"
bad "a malformed line: file:line" 'Containerfile:3: ENV needs arguments' "FROM debian:bookworm" "" "ENV"
bad "an instruction before FROM" 'Containerfile:1: RUN before the first FROM' "RUN true" "FROM debian:bookworm"
bad "a heredoc is refused with file:line" 'Containerfile:2: RUN with a heredoc' "FROM debian:bookworm" "RUN <<EOF" "echo hi" "EOF"
bad "COPY ../x is refused" '../outside.txt: outside the build context' "FROM debian:bookworm" "COPY ../outside.txt /"
bad "a symlink out of the context is refused" 'sub/abs: a link leads out of the build context' "FROM debian:bookworm" "COPY sub/abs /x"
bad "a relative one too" 'sub/rel: a link leads out of the build context' "FROM debian:bookworm" "COPY sub/rel /x"
bad "a missing source" 'Containerfile:2: COPY nosuch /: nosuch: not found in the build context' "FROM debian:bookworm" "COPY nosuch /"
bad "a failing RUN names the step, its exit code and its output" \
    'Containerfile:3: RUN echo first; echo last >&2; exit 3: exit code 3; its output ended with:' \
    "FROM debian:bookworm" "ENV X=1" "RUN echo first; echo last >&2; exit 3"
like "$err" '  last$' "... down to its last line"
bad "an image that is not there" 'Containerfile:1: FROM 127.0.0.1:1/nosuch:1: .*127.0.0.1' "FROM 127.0.0.1:1/nosuch:1"
bad "ADD of a URL" 'does not download' "FROM debian:bookworm" "ADD https://example.com/x /x"
bad "a shell form on scratch" 'no /bin/sh to run the shell form' "FROM scratch" "RUN true"
run "$S" build --target nope "$TMP/c"
[ "$rc" -ne 0 ] && matches "$err" 'no stage "nope" \(stages: build\)'
ok $? "--target of a missing stage names the stages" "$err"

# ---- Ctrl-C and kill -9 in the middle of a RUN ---------------------------------
mkdir -p "$TMP/slow"
printf 'FROM debian:bookworm\nRUN echo started && sleep 6061\n' >"$TMP/slow/Containerfile"
started() { for _ in $(seq 100); do grep -q started "$TMP/slow.err" && return 0; sleep 0.1; done; return 1; }
leftovers() { # what a build may have left: processes, temporary dirs, mounts
    pgrep -f "sleep 6061"
    ls "$SERVOS_ROOT/images/build/tmp"
    grep "$SERVOS_ROOT" /proc/mounts
}
"$S" build "$TMP/slow" >/dev/null 2>"$TMP/slow.err" &
BPID=$!
started
kill -INT "$BPID"
wait "$BPID"
is "$?" 130 "Ctrl-C stops a build (exit 130)"
BPID=
sleep 0.3
is "$(leftovers)" "" "... and leaves no process, temporary layer or mount"
like "$(cat "$TMP/slow.err")" "interrupted; nothing of this build was kept" "... and says so"
"$S" build "$TMP/slow" >/dev/null 2>"$TMP/slow.err" &
BPID=$!
started
kill -9 "$BPID"
wait "$BPID" 2>/dev/null
BPID=
sleep 0.5
is "$(pgrep -f 'sleep 6061')" "" "kill -9 of a build: its RUN dies with it"
run "$S" ls -q
is "$out" "" "... no container is left in servos ls"
printf 'FROM debian:bookworm\nRUN true\n' >"$TMP/slow/Containerfile"
"$S" build -q "$TMP/slow" >/dev/null 2>&1
is "$(leftovers)" "" "the next build removes what the killed one left"
cg=$(cgroup_parent)
is "$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -path "*/$cg/*" -type d | wc -l)" 0 "... its cgroup too"

# ---- Compose's build: and the Envirofile's ---------------------------------------
mkdir -p "$TMP/compose/api"
cat >"$TMP/compose/api/Containerfile" <<'EOF'
FROM debian:bookworm
ARG GREETING=hello
COPY msg.txt /msg.txt
RUN echo "$GREETING" >/greeting
CMD ["sh", "-c", "cat /greeting /msg.txt; exec sleep 1000"]
EOF
echo one >"$TMP/compose/api/msg.txt"
cat >"$TMP/compose/compose.yaml" <<'EOF'
name: t81
services:
  api:
    init: true
    build:
      context: ./api
      args:
        GREETING: hi
EOF
logs_have() { for _ in $(seq 50); do "$S" logs 2>/dev/null | grep -q "$1" && return 0; sleep 0.1; done; return 1; }
cd "$TMP/compose" || exit 1
run "$S" up -d
is "$rc" 0 "up builds a service's build: and starts it" || diag "$err"
like "$err" "building t81-api" "... showing the build's progress"
logs_have "api-1 *| one"
ok $? "the service runs its built image (build args applied)" "$("$S" logs)"
"$S" logs | grep -q "api-1 *| hi"
ok $? "... with its build args"
pid1=$("$S" ps --format json | jq -r '.[0].pid')
run "$S" up -d
pid2=$("$S" ps --format json | jq -r '.[0].pid')
is "$pid2" "$pid1" "up again with nothing changed: the same replica"
unlike "$err" "DONE" "... and no build step ran"
echo two >"$TMP/compose/api/msg.txt"
run "$S" up -d
like "$err" 'COPY msg.txt /msg.txt  DONE' "a changed context: the image is rebuilt from the changed step"
logs_have "api-1 *| two"
ok $? "... and the replica is made anew from it" "$("$S" logs)"
run "$S" up -d --build
like "$err" 'COPY msg.txt /msg.txt  DONE' "up --build rebuilds every step"
"$S" down -t 0 >/dev/null 2>&1
mkdir -p "$TMP/envf"
cp -r "$TMP/compose/api" "$TMP/envf/api"
cat >"$TMP/envf/Envirofile.lua" <<'EOF'
stack "t81e"
service "api" { build = { context = "./api", args = { GREETING = "from lua" } } }
EOF
cd "$TMP/envf" || exit 1
run "$S" up -d
is "$rc" 0 "an Envirofile's build = {...} builds at up too" || diag "$err"
logs_have "api-1 *| from lua"
ok $? "... with its args" "$("$S" logs)"
"$S" down -t 0 >/dev/null 2>&1
cd "$TMP" || exit 1

# A Containerfile's HEALTHCHECK is the service's when it has none of its own:
# depends_on healthy waits for it, and ps shows it (as Compose does).
mkdir -p "$TMP/hc/root/bin" "$TMP/hc/root/tmp" "$TMP/hc/ctx"
cp "$(command -v busybox)" "$TMP/hc/root/bin/busybox"
for a in sh sleep touch test; do ln -s busybox "$TMP/hc/root/bin/$a"; done
chmod 1777 "$TMP/hc/root/tmp"
tar -C "$TMP/hc/root" -czf "$TMP/hc/bb.tar.gz" .
"$S" image import "$TMP/hc/bb.tar.gz" t81bb:1 >/dev/null
cat >"$TMP/hc/ctx/Containerfile" <<'EOF'
FROM t81bb:1
HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD ["sh", "-c", "test -f /tmp/ready"]
CMD ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 1000"]
EOF
cat >"$TMP/hc/compose.yaml" <<'EOF'
name: t81hc
services:
  api:
    build: ./ctx
    image: t81hc-api:1
  web:
    image: t81bb:1
    command: ["sh", "-c", "exec sleep 1000"]
    depends_on:
      api: {condition: service_healthy}
EOF
run "$S" up -d "$TMP/hc/compose.yaml"
is "$rc" 0 "a service waits for its image's HEALTHCHECK" || diag "$err"
run "$S" ps -p t81hc --format json
is "$(echo "$out" | jq -r '.[] | select(.service == "api") | .health')" healthy "ps shows the image's health check"
is "$(echo "$out" | jq -r '.[] | select(.service == "web") | .state')" running "and the service that waited for it runs"
"$S" down -t 0 -p t81hc >/dev/null 2>&1

done_testing
