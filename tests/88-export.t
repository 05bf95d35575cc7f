#!/usr/bin/env bash
# servos export kubernetes|compose. Every object of every example and test
# stack validated offline against the Kubernetes OpenAPI schemas (npm's
# kubernetes-models, cached under /var/cache/servos-test, with unknown
# fields refused as kubectl's strict validation does); golden files; each
# warning and each error one by one; no silent loss (every key the DSL
# accepts is in the output or in a warning, and every key of the graph is
# in --keys); the Compose file read back by servos to the same graph and
# turned into podman commands by podman-compose; and a real engine:
# `podman kube play` of an exported two-service stack whose image servos
# pushed to a docker-registry on 127.0.0.1 starts both pods, the web one
# answers on its port, `podman kube down` removes them.
. "$(dirname "$0")/lib.sh"
GOLD=$ROOT/tests/golden
S=$SERVOS
export SERVOS_ROOT=$TMP/root # image lookups: a store of the test's own
unset ENV HELLO_PORT APP_PORT MODE

# ---- the validator --------------------------------------------------------
CACHE=${SERVOS_TEST_CACHE:-/var/cache/servos-test}/k8s-validate
NPM_PKGS="kubernetes-models@4.5.1 @kubernetes-models/validate@4.0.0 yaml@2.9.1"
validator_ready() {
    [ -f "$CACHE/node_modules/kubernetes-models/package.json" ] &&
        [ -f "$CACHE/node_modules/yaml/package.json" ] && command -v node >/dev/null
}
if ! validator_ready && command -v npm >/dev/null; then
    mkdir -p "$(dirname "$CACHE")"
    (
        flock 9
        validator_ready && exit 0
        rm -rf "$CACHE.new" && mkdir -p "$CACHE.new"
        # shellcheck disable=SC2086 # the packages are words
        npm install --silent --no-audit --no-fund --prefix "$CACHE.new" $NPM_PKGS >"$TMP/npm.log" 2>&1 &&
            rm -rf "$CACHE" && mv "$CACHE.new" "$CACHE"
    ) 9>"$(dirname "$CACHE")/.k8s-validate.lock"
fi
validate() { NODE_PATH=$CACHE/node_modules node "$ROOT/tests/helpers/k8s-validate.js" "$@"; }
valid() { # FILE NAME: every object in FILE validates
    if ! validator_ready; then
        skip "no validator: npm install $NPM_PKGS failed ($(tail -1 "$TMP/npm.log" 2>/dev/null))"
        return
    fi
    local v
    v=$(validate "$1" 2>&1)
    [ $? -eq 0 ] && [ -n "$v" ]
    ok $? "$2: $(printf '%s\n' "$v" | grep -c '^ok') objects valid" "$(printf '%s\n' "$v" | grep -v '^ok')"
}
if validator_ready; then
    # The validator itself: a typo in a field, a string for a number.
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: "2"\n  selector: {}\n  template: {spec: {containers: [{name: x, image: x, imagePullPolicyy: Always}]}}\n' >"$TMP/bad.yaml"
    v=$(validate "$TMP/bad.yaml")
    [ $? -ne 0 ] && matches "$v" 'replicas must be integer' && matches "$v" 'imagePullPolicyy: no such field'
    ok $? "the validator refuses a wrong type and an unknown field" "$v"
fi

export_k() { "$S" export kubernetes "$@"; }
strip() { sed "s#$ROOT#\$ROOT#g; s#$TMP#\$TMP#g"; }

# ---- every example, and the ProServe samples ---------------------------------
cd "$ROOT" || exit 1
for d in examples/*/; do
    name=$(basename "$d")
    run export_k --host-image debian:12-slim --servos-image registry.example/servos:1 "$d"
    is "$rc" 0 "export kubernetes of examples/$name" || diag "$err"
    printf '%s\n' "$out" >"$TMP/ex-$name.yaml"
    valid "$TMP/ex-$name.yaml" "examples/$name"
done
for f in tests/data/proserve-manifests/*.y*ml; do
    base=$(basename "$f")
    base=${base%.*}
    src=$f
    if [[ $base == *fragment* ]]; then
        mkdir -p "$TMP/frag"
        { echo "name: ${base//[^a-zA-Z0-9-]/-}"; cat "$f"; } >"$TMP/frag/$base.yaml"
        src=$TMP/frag/$base.yaml
    fi
    run export_k --servos-image registry.example/servos:1 "$src"
    if [ "$rc" -ne 0 ] && matches "$err" 'proserve: .*(outside|a path of this host|No such file)'; then
        pass "ProServe sample $base: refused with the file it names ($(printf '%s' "$err" | tail -1 | cut -c1-80))"
        continue
    fi
    is "$rc" 0 "export kubernetes of the ProServe sample $base" || diag "$err"
    printf '%s\n' "$out" >"$TMP/ps-$base.yaml"
    valid "$TMP/ps-$base.yaml" "ProServe sample $base"
done

# ---- golden files -----------------------------------------------------------------
gold() { # NAME ARGS...: the export's output against tests/golden/NAME
    local name=$1
    shift
    run "$S" export "$@"
    [ "$rc" -eq 0 ] || diag "$err"
    golden "$(printf '%s\n' "$out" | strip)" "$GOLD/$name" "golden $name"
}
gold export-shop.yaml kubernetes --host-image debian:12-slim examples/shop
gold export-compose-nodeport.yaml kubernetes --host-image debian:12-slim --publish nodeport \
    --namespace demo examples/compose
gold export-proserve.yaml kubernetes --image-registry registry.example examples/proserve
gold export-quickstart-compose.yaml compose --host-image debian:12-slim examples/quickstart

# ---- a stack with every key the DSL accepts -------------------------------------
A=$TMP/allkeys
mkdir -p "$A/host" "$A/ctx"
printf 'FROM scratch\nCOPY . /\n' >"$A/ctx/Containerfile"
printf 'MARKER_FILE=from-file\n' >"$A/vars.env"
printf 's3cret-never-shown\n' >"$A/pw.txt"
cat >"$A/Envirofile.lua" <<'EOF'
stack "allkeys"
volume "data"
network "front" { internal = false }
network "back" { internal = true }
secret "pw" { file = "./pw.txt" }
config "motd" { content = "hello $(USER) $$HOME\n" }
service "full" {
  image = "registry.example/team/app:1.4",
  command = { "app", "--serve", "$(NOT_A_VAR)" }, entrypoint = { "/entry" },
  env = { MARKER_ENV = "env-value $(X)" }, env_file = "./vars.env",
  replicas = 3, memory = "96M", cpus = 0.75, pids = 77,
  volumes = { "data:/data", "./host:/host:ro" }, tmpfs = { "/scratch:size=8m" },
  ports = { "18080:8080" },
  depends_on = { db = "healthy", job = "completed" },
  restart = "on-failure:4",
  healthcheck = { test = "probe-cmd --ok", interval = "3s", retries = 7 },
  working_dir = "/work", user = "1234:5678", hostname = "full-host",
  read_only = true, init = true, tty = true, stdin_open = true,
  cap_add = { "NET_ADMIN" }, cap_drop = { "NET_RAW" },
  stop_signal = "SIGUSR1", stop_grace_period = "42s",
  labels = { ["team.marker"] = "blue", note = "free text: not a label value" },
  userns = "auto", platform = "linux/amd64",
  profiles = { "debugprofile" }, logging = { options = { ["max-size"] = "3m" } },
  networks = { front = { aliases = { "front-alias" } } },
  secrets = { "pw" }, configs = { { source = "motd", target = "/etc/motd", mode = "0440" } },
  sysctls = { ["net.core.somaxconn"] = 1024 }, extra_hosts = { "mirror.local:192.0.2.7" },
  network = "stack",
}
service "db" { image = "registry.example/db:1", container_name = "db-main",
  healthcheck = { test = "true" }, networks = { "front", "back" } }
service "job" { image = "registry.example/job:1", restart = "no" }
service "hostnet" { image = "registry.example/h:1", network = "host", userns = "host" }
service "lonely" { image = "registry.example/l:1", network = "none", devices = { "/dev/null:/dev/board:rw" } }
service "board" { board = "uno", toolchain = "avr", image = "registry.example/b:1", emulate = { time = "1s" } }
service "built" { build = { context = "./ctx", args = { V = "1" } } }
service "ps" { proserve = { name = "ps", port = 8081,
  endpoints = { { path = "/hi", response = { msg = "hi" } } } } }
EOF
run export_k --servos-image registry.example/servos:1 --image-registry registry.example "$A"
is "$rc" 0 "export of a stack that sets every key" || diag "$err"
K=$out
KW=$err
printf '%s\n' "$K" >"$TMP/allkeys.yaml"
valid "$TMP/allkeys.yaml" "the every-key stack"
run export_k --servos-image registry.example/servos:1 --image-registry registry.example --publish nodeport --allow-hostpath \
    --statefulset db --namespace team-a --volume-size 5Gi "$A"
printf '%s\n' "$out" >"$TMP/allkeys2.yaml"
valid "$TMP/allkeys2.yaml" "the every-key stack with nodeport, hostPath, a StatefulSet asked, a namespace"
run export_k --servos-image registry.example/servos:1 --image-registry registry.example --publish hostport "$A"
printf '%s\n' "$out" >"$TMP/allkeys3.yaml"
valid "$TMP/allkeys3.yaml" "the every-key stack with hostport"
unlike "$K$KW" 's3cret-never-shown' "the secret is never printed as it is (base64 in its Secret)"
like "$K" "$(printf 's3cret-never-shown\n' | base64)" "... and is in the Secret"

# Each DSL key (lua/extract.c's table): where its value shows, or the
# warning that names it. A key added to the DSL without a line here fails.
declare -A where=(
    [board]='warn:board: "uno"'
    [emulate]="warn:emulate: a board's emulator: not exported"
    [flash]='refused:is a board service .*nothing a cluster can run'
    [build]='warn:build: .*/ctx: a cluster builds no image'
    [cap_add]='out:- NET_ADMIN'
    [cap_drop]='absent:- NET_RAW'
    [command]='out:- "--serve"'
    [configs]='out:mountPath: /etc/motd'
    [container_name]='out:name: db-main'
    [cpus]='out:cpu: "750m"'
    [depends_on]='out:name: wait-for-db'
    [entrypoint]='out:- /entry'
    [env]='out:value: env-value'
    [env_file]='out:value: from-file'
    [extra_hosts]='out:- mirror.local'
    [healthcheck]='out:failureThreshold: 7'
    [hostname]='out:hostname: full-host'
    [image]='out:image: registry.example/team/app:1.4'
    [init]='out:shareProcessNamespace: true'
    [labels]='out:team.marker: blue'
    [logging]='warn:logging: the nodes rotate'
    [memory]='out:memory: "96Mi"'
    [network]='out:hostNetwork: true'
    [networks]='out:servos.network/front: "true"'
    [pids]='warn:pids: 77'
    [platform]='out:kubernetes.io/arch: amd64'
    [ports]='out:port: 18080'
    [profiles]='out:servos/profiles: debugprofile'
    [proserve]='out:name: ps-proserve'
    [read_only]='out:readOnlyRootFilesystem: true'
    [replicas]='out:replicas: 3'
    [restart]='warn:restart: on-failure'
    [secrets]='out:secretName: pw'
    [stdin_open]='out:stdin: true'
    [stop_grace_period]='out:terminationGracePeriodSeconds: 42'
    [stop_signal]='warn:stop_signal: SIGUSR1'
    [sysctls]='out:name: net.core.somaxconn'
    [tmpfs]='out:sizeLimit: "8Mi"'
    [toolchain]='warn:toolchain: "avr"'
    [devices]='warn:devices: /dev/null: a pod is given'
    [tty]='out:tty: true'
    [user]='out:runAsUser: 1234'
    [userns]='out:hostUsers: false'
    [volumes]='out:name: vol-data'
    [working_dir]='out:workingDir: /work'
)
keys=$(sed -n 's/^ *{"\([a-z_]*\)", ex_key_[a-z_]*, \(NULL\|"[a-z_]*"\)},$/\1 \2/p' "$ROOT/lua/extract.c")
[ "$(printf '%s\n' "$keys" | wc -l)" -gt 30 ]
ok $? "the DSL's keys read from lua/extract.c ($(printf '%s\n' "$keys" | wc -l))"
FULL=$(printf '%s\n' "$K" | awk 'BEGIN{RS="---\n"} /kind: StatefulSet\nmetadata:\n  name: full\n/')
while read -r key alias; do
    [ "$alias" = NULL ] || continue # an alias: its key is checked
    w=${where[$key]:-}
    if [ -z "$w" ]; then
        fail "DSL key $key: in the every-key stack, with a line in this test's table"
        continue
    fi
    pat=${w#*:}
    if [ "${w%%:*}" = refused ]; then # a board service's key: the export refuses it, by name
        mkdir -p "$TMP/refused-$key/ctx"
        printf 'service "f" { board = "uno", build = "./ctx", %s = "/dev/ttyACM0" }\n' "$key" \
            >"$TMP/refused-$key/Envirofile.lua"
        run "$S" export kubernetes -o - "$TMP/refused-$key"
        [ "$rc" -ne 0 ] && matches "$err" "$pat"
        ok $? "DSL key $key: refused ($pat)" "$err"
        continue
    fi
    grep -q "\b$key *=" "$A/Envirofile.lua"
    ok $? "DSL key $key is set in the every-key stack"
    case $w in
    out:*) matches "$K" "$pat" ;;
    warn:*) matches "$KW" "warning: .*service \"[a-z]*\": $pat" ;;
    absent:*) ! matches "$FULL" "^ *$pat$" && matches "$FULL" "drop:" ;;
    esac
    ok $? "DSL key $key: ${w%%:*} ($pat)" "$(printf '%s\n' "$KW" | head -20)"
done <<<"$keys"
like "$K" 'NOT_A_VAR' "a command keeps \$(...) as written (escaped from Kubernetes' expansion)"
matches "$K" '- \$\$\(NOT_A_VAR\)' && matches "$K" 'value: env-value \$\$\(X\)'
ok $? "... as \$\$(...) in args and env"
like "$K" "note: [\"']free text: not a label value" "a label Kubernetes refuses as a label is an annotation"

# Every key of the graph (servos config) is listed by --keys, for both.
graph_keys=$("$S" config "$A" | jq -r '(keys[] | select(. != "services")), (.services[] | keys[] | "service." + .)' | sort -u)
for fmt in kubernetes compose; do
    listed=$("$S" export "$fmt" --keys | awk '{print $1}' | sort -u)
    missing=$(comm -23 <(printf '%s\n' "$graph_keys") <(printf '%s\n' "$listed"))
    [ -z "$missing" ] && [ "$(printf '%s\n' "$graph_keys" | wc -l)" -gt 40 ]
    ok $? "export $fmt --keys lists every key of the graph ($(printf '%s\n' "$graph_keys" | wc -l))" \
        "missing: $missing"
done

# ---- strings that YAML readers take for something else --------------------------
Q=$TMP/quotes
mkdir -p "$Q/out"
cat >"$Q/Envirofile.lua" <<'LUA'
service "q" { image = "r.example/q:1", env = {
  A = "yes", B = "1:30", C = "a: b", D = " lead", E = "#x", F = "multi\nline\n", G = "trail ",
  H = "tab\there", I = 'say "hi"', J = "h\195\169llo", K = "back\\slash", L = "", M = "-dash",
  N = "null", O = "0x1F", P = "@at", Q = "two\n\nblank\n\n", R = "no newline\nat end", S = "~",
  T = "[x]", U = "{y}", V = "key:", W = "* star", X = "%pct", Y = "!bang", Z = "ctl\1x", ON = "on",
  OCT = "0755", E3 = "1e3", DOT = ".5", COLON = "a:b", HASH = "a #b" } }
LUA
"$S" config "$Q" | jq -S .services.q.env >"$Q/out/want.json"
"$S" export kubernetes -o "$Q/out/k" "$Q" && "$S" export compose -o "$Q/out/c.yaml" "$Q"
diff "$Q/out/want.json" <("$S" config "$Q/out/c.yaml" | jq -S .services.q.env) >"$Q/out/d1" 2>&1
ok $? "tricky strings (yes, 1:30, a: b, \" lead\", multi-line, ...) read back by servos as written" "$(head "$Q/out/d1")"
if validator_ready; then
    NODE_PATH=$CACHE/node_modules node -e '
        const Y = require("yaml"), fs = require("fs");
        const d = Y.parse(fs.readFileSync(process.argv[1], "utf8"));
        const e = {};
        for (const v of d.spec.template.spec.containers[0].env) e[v.name] = v.value;
        console.log(JSON.stringify(e));' "$Q/out/k/q-deployment.yaml" | jq -S . >"$Q/out/node.json"
    diff "$Q/out/want.json" "$Q/out/node.json" >"$Q/out/d2" 2>&1
    ok $? "... and by npm's yaml (YAML 1.2) in the Deployment" "$(head "$Q/out/d2")"
else
    skip "no validator (npm's yaml)"
fi
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$Q/out/k/q-deployment.yaml" "$Q/out/c.yaml" "$Q/out/want.json" <<'PY' >"$Q/out/d3" 2>&1
import json, sys, yaml
want = json.load(open(sys.argv[3]))
d = yaml.safe_load(open(sys.argv[1]))
kube = {v["name"]: v["value"] for v in d["spec"]["template"]["spec"]["containers"][0]["env"]}
comp = yaml.safe_load(open(sys.argv[2]))["services"]["q"]["environment"]
sys.exit(0 if kube == want and comp == want else print(kube, comp) or 1)
PY
    ok $? "... and by PyYAML (YAML 1.1: yes, on, 0755, 1:30 are no strings there) in both" "$(cat "$Q/out/d3")"
else
    skip "python3-yaml is not installed"
fi

# ---- warnings, one by one ------------------------------------------------------
W=$TMP/warn
mkdir -p "$W/d"
while IFS='|' read -r extra want; do
    [ -n "$extra" ] || continue
    printf 'stack "w"\nservice "w" { image = "registry.example/w:1", %s }\n%s\n' "$extra" \
        'service "j" { image = "registry.example/j:1" }
service "h" { image = "registry.example/h:1", network = "none" }' >"$W/Envirofile.lua"
    run export_k "$W"
    [ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$err" | grep -c .)" = 1 ] &&
        matches "$err" "^servos: warning: $W/Envirofile.lua:2: service \"w\": $want"
    ok $? "warning: $extra" "exit $rc" "$err"
    run export_k --strict -o "$TMP/strict" "$W"
    [ "$rc" -eq 1 ] && matches "$err" "^servos: $W/Envirofile.lua:2: service \"w\": $want" &&
        matches "$err" '1 warning, and --strict: nothing written' && [ ! -e "$TMP/strict" ]
    ok $? "... --strict: an error, nothing written" "exit $rc" "$err"
done <<'CASES'
pids = 5|pids: 5: Kubernetes has no process limit per pod
logging = { options = { ["max-size"] = "1m" } }|logging: the nodes rotate container logs
stop_signal = "SIGINT"|stop_signal: SIGINT: Kubernetes stops a container with SIGTERM
restart = "on-failure"|restart: on-failure: a Deployment restarts its pods whatever their exit code
board = "uno"|board: "uno": a cluster's nodes are no boards
toolchain = "avr"|toolchain: "avr": not exported
devices = { "/dev/null" }|devices: /dev/null: a pod is given a node's device by the cluster's device plugin
platform = "arduino"|platform: "arduino": a board's platform
user = "nobody"|user: "nobody": Kubernetes takes numeric ids only
volumes = { "./d:/d" }|volumes: .*/d:/d: a path of this host is not exported \(--allow-hostpath
tmpfs = { "/t:size=1m,mode=1777" }|tmpfs: /t: option "mode=1777" has no Kubernetes counterpart
healthcheck = { test = "true", interval = "1500ms" }|healthcheck.interval: 1500 ms: Kubernetes counts whole seconds; 2 s exported
cap_add = { "SYS_ADMIN" }|cap_add: Kubernetes refuses allowPrivilegeEscalation: false beside SYS_ADMIN
network = "host"|userns: Kubernetes gives a pod on the host's network no user namespace
depends_on = { j = "completed" }|depends_on: j \(completed\): a pod cannot wait for another workload to complete
depends_on = { h = "started" }|depends_on: h \(started\): it is on network "none", with no Service to wait for
hostname = "a.b"|hostname: "a.b": a pod's hostname is a DNS label; "a-b" exported
CASES
printf 'service "Web_1" { image = "registry.example/w:1" }\n' >"$W/Envirofile.lua"
run export_k "$W"
like "$err" '^servos: warning: .*service "Web_1": named "web-1" in Kubernetes' "a name Kubernetes refuses is changed, with a warning"
like "$out" 'name: web-1' "... and used everywhere"
printf 'secret "s" { content = "x" }\nservice "w" { image = "registry.example/w:1", secrets = { { source = "s", uid = 1000 } }, replicas = 1 }\nservice "u" { image = "registry.example/w:1", depends_on = { w = "completed" }, replicas = 1 }\n' >"$W/Envirofile.lua"
run export_k "$W"
like "$err" 'service "w": secrets: /run/secrets/s: owner 1000:0: Kubernetes' "a secret's owner: a warning"
like "$out" 'kind: Job' "a service another waits to complete is a Job"
run export_k --allow-hostpath "$W"
printf 'service "w" { image = "registry.example/w:1", volumes = { "./d:/d:U" } }\n' >"$W/Envirofile.lua"
run export_k --allow-hostpath "$W"
[ "$rc" -eq 0 ] && matches "$out" 'hostPath:' && matches "$err" 'volumes: /d: ":U" .* has no Kubernetes counterpart'
ok $? "--allow-hostpath: a hostPath volume; :U is a warning" "$err"
cp "$ROOT/examples/proserve/manifest.yaml" "$W/manifest.yaml" && rm "$W/Envirofile.lua"
run export_k --servos-image registry.example/servos:1 "$W/manifest.yaml"
like "$err" 'service "hello-service": proserve: isolation: memory_limit and network_isolation hold for each handler under a stack.s supervisor; in a pod' "a ProServe service's per-handler limits: a warning (the pod's hold for all)"

# ---- a ProServe pod's service host: handlers with no supervisor -------------------
# What the pod runs, run here: the exported ConfigMap's manifest (base_dir
# moved back to where its files are) under `proserve-host --direct-handlers`.
DH=$TMP/dh
mkdir -p "$DH/base"
DHP=$(free_port)
printf '#!/bin/sh\nexec cat\n' >"$DH/base/hello.sh" # the request, as the answer
chmod +x "$DH/base/hello.sh"
cat >"$DH/base/manifest.yaml" <<EOF
name: dh
port: $DHP
endpoints:
  - path: /up
    shell_command: cat /proc/uptime
    converter: text
  - path: /hello
    method: POST
    script: hello.sh
  - path: /slow
    shell_command: sh -c 'sleep 4242 & sleep 4242'
isolation:
  mode: process
  timeout: 2
EOF
run export_k --servos-image registry.example/servos:1 -o "$DH/k" "$DH/base"
is "$rc" 0 "export of a ProServe service with a script and shell handlers" || diag "$err"
like "$(cat "$DH/k/dh-deployment.yaml")" '- "?--direct-handlers' "its pod runs servos' service host with --direct-handlers"
if python3 -c 'import yaml' 2>/dev/null &&
    python3 - "$DH/k/dh-proserve-configmap.yaml" "$DH" >"$DH/m.err" 2>&1 <<'PY'; then
import json, sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
m = json.loads(cm["data"]["manifest.json"])
assert m["base_dir"] == "/srv/proserve", m["base_dir"]
assert cm["data"]["file-0"].startswith("#!/bin/sh"), cm["data"]
m["base_dir"] = sys.argv[2] + "/base"
json.dump(m, open(sys.argv[2] + "/m.json", "w"))
PY
    "$S" proserve-host --direct-handlers "$DH/m.json" >"$DH/host.log" 2>&1 &
    DH_PID=$!
    for _ in $(seq 50); do ss -Hltn "sport = :$DHP" | grep -q . && break; sleep 0.1; done
    like "$(curl -s -m 5 "http://127.0.0.1:$DHP/up")" '^[0-9.]+ [0-9.]+' "a shell handler answers"
    got=$(curl -s -m 5 -X POST -d '{"a":1}' "http://127.0.0.1:$DHP/hello")
    [ "$(printf '%s' "$got" | jq -c '[.method, .path]')" = '["POST","/hello"]' ]
    ok $? "a script handler from the ConfigMap gets the request on stdin" "$got"
    t0=$(date +%s%N)
    got=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DHP/slow")
    t1=$(date +%s%N)
    [ "$got" = 504 ] && [ $(((t1 - t0) / 1000000)) -lt "$(slow 5000)" ]
    ok $? "a handler past its timeout is answered 504 ($(((t1 - t0) / 1000000)) ms)" "got $got"
    for _ in $(seq 20); do pgrep -f 'sleep 4242' >/dev/null || break; sleep 0.1; done
    ! pgrep -f 'sleep 4242' >/dev/null
    ok $? "... and killed with what it started in the background"
    kill "$DH_PID" 2>/dev/null
    wait "$DH_PID" 2>/dev/null
    DH_PID=
else
    fail "the ConfigMap holds the manifest and the script" "$(cat "$DH/m.err")"
fi

# ---- errors: nothing written, the service and the key named -----------------------
bad() { # WHAT REGEX ARGS...
    local what=$1 want=$2
    shift 2
    rm -rf "$TMP/out"
    run export_k -o "$TMP/out" "$@"
    [ "$rc" -eq 1 ] && matches "$err" "$want" && [ ! -e "$TMP/out" ] && [ -z "$out" ]
    ok $? "error: $what" "exit $rc" "$err"
}
E=$TMP/err
mkdir -p "$E"
printf 'service "web" { command = "true" }\n' >"$E/Envirofile.lua"
bad 'image "host" without --host-image' 'Envirofile.lua:1: service "web": image: "host" \(this host.s own root file system\) cannot run elsewhere: give the service an image, or --host-image REF' "$E"
printf 'service "web" { image = "./rootfs" }\n' >"$E/Envirofile.lua"
bad 'a root file system path' 'service "web": image: .*/rootfs is a root file system on this host: import it' "$E"
printf 'service "dns" { image = "r.example/d:1", ports = { "53:53/udp" } }\n' >"$E/Envirofile.lua"
bad 'a UDP port' 'service "dns": ports: 53/udp: servos publishes TCP only' "$E"
printf 'service "a_b" { image = "r.example/d:1" }\nservice "a-b" { image = "r.example/d:1" }\n' >"$E/Envirofile.lua"
bad 'two services one Kubernetes name' 'service "a_b": its Kubernetes name "a-b" \(the name\) is also the name of service "a-b"' "$E"
printf 'service "a" { image = "r.example/d:1", networks = { default = { aliases = { "b" } } } }\nservice "b" { image = "r.example/d:1" }\n' >"$E/Envirofile.lua"
bad 'an alias that is another service' 'its Kubernetes name "b" \(.*\) is also .* of service' "$E"
printf 'volume "a_b"\nvolume "a.b"\nservice "w" { image = "r.example/d:1", volumes = { "a_b:/x", "a.b:/y" } }\n' >"$E/Envirofile.lua"
bad 'two volumes one Kubernetes name' 'two PersistentVolumeClaims would be named "a-b" in Kubernetes' "$E"
printf 'service "web" { image = "r.example/d:1" }\n' >"$E/Envirofile.lua"
bad 'a namespace that is no DNS label' '^servos: --namespace Team_A: a namespace is a DNS label' --namespace Team_A "$E"
bad '--statefulset of no service' '^servos: --statefulset nosuch: the stack has no such service' --statefulset nosuch "$E"
printf 'volume "v"\nservice "web" { image = "r.example/d:1", volumes = { "v:/v" } }\n' >"$E/Envirofile.lua"
bad 'a bad --volume-size' '^servos: --volume-size: ' --volume-size lots "$E"
printf 'volume "v"\nservice "web" { image = "r.example/d:1", volumes = { "v:/v" }, labels = { ["servos.volume.size"] = "big" } }\n' >"$E/Envirofile.lua"
bad 'a bad servos.volume.size label' 'service "web": labels: servos.volume.size: ' "$E"
head -c 1100000 /dev/zero | tr '\0' x >"$E/big"
printf 'config "big" { file = "./big" }\nservice "web" { image = "r.example/d:1", configs = { "big" } }\n' >"$E/Envirofile.lua"
# (the graph refuses it first: servos' own limit is the same 1 MB)
bad 'a config over 1 MiB' 'config "big": .*(too large|at most 1 MiB)' "$E"
rm "$E/big"
bad 'a ProServe service without a servos image' 'service "hello-service": proserve: a ProServe service runs servos. service host: give --servos-image REF' "$ROOT/examples/proserve"
run "$S" export kubernetes --publish sideways "$E"
[ "$rc" -eq 2 ] && matches "$err" '^servos export: bad value "sideways" for --publish; usage: servos export kubernetes'
ok $? "a bad --publish says so in one line" "$err"
run "$S" export kubernets "$E"
like "$err" '^servos export: unknown format "kubernets" \(did you mean "kubernetes"\?\)' "a misspelt format: the suggestion"
run "$S" export
like "$err" '^servos export: which\? kubernetes or compose; usage: servos export kubernetes' "no format: which"
run "$S" export kubernetes a b
like "$err" '^servos export: one FILE, DIR or GIT-SOURCE, not 2' "two inputs: refused"

# An image of this host's store: named under --image-registry, else refused.
mkdir -p "$TMP/rootfs/bin"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
tar -C "$TMP/rootfs" -czf "$TMP/rootfs.tar.gz" .
if [ "$(id -u)" -eq 0 ] && "$S" image import "$TMP/rootfs.tar.gz" localapp:2 >/dev/null 2>"$TMP/imp.err"; then
    printf 'service "web" { image = "localapp:2" }\n' >"$E/Envirofile.lua"
    bad 'a local image without --image-registry' 'service "web": image: "localapp:2" is in this host.s image store only: push it .*servos image push localapp:2 HOST/localapp\) and give --image-registry HOST' "$E"
    run export_k --image-registry 127.0.0.1:5000/team "$E"
    like "$out" 'image: "127.0.0.1:5000/team/localapp:2"' "--image-registry names a local image where it is pushed"
else
    skip "image import needs root: $(cat "$TMP/imp.err" 2>/dev/null)" 2
fi

# ---- -o DIR: a file per object; stale files of an earlier export go -----------
O=$TMP/o
run export_k --host-image debian:12-slim -o "$O" "$ROOT/examples/shop"
files=$(cd "$O" && LC_ALL=C ls | tr '\n' ' ')
is "$files" "db-deployment.yaml db-service.yaml pgdata-persistentvolumeclaim.yaml shop-net-default-networkpolicy.yaml web-deployment.yaml web-published-networkpolicy.yaml web-published-service.yaml web-service.yaml worker-deployment.yaml worker-service.yaml " "-o DIR: a file per object"
valid_dir=$(cat "$O"/*.yaml)
printf '%s\n' "$valid_dir" >"$TMP/o-all.yaml"
valid "$TMP/o-all.yaml" "-o DIR's files"
echo "mine: keep" >"$O/notes.yaml"
sed 's/"8080:8080"/"9090:8080"/; /^local worker/,$d' "$ROOT/examples/shop/Envirofile.lua" >"$TMP/shop2.lua"
mkdir -p "$TMP/shop2" && mv "$TMP/shop2.lua" "$TMP/shop2/Envirofile.lua"
run export_k --host-image debian:12-slim -o "$O" "$TMP/shop2"
[ ! -e "$O/worker-deployment.yaml" ] && [ -e "$O/notes.yaml" ] && grep -q 'port: 9090' "$O/web-published-service.yaml"
ok $? "a second export removes the files of objects now gone, and keeps the user's"
printf 'secret "pw" { content = "x" }\nservice "w" { image = "r.example/w:1", secrets = { "pw" } }\n' >"$E/Envirofile.lua"
run export_k -o "$TMP/o2" "$E"
is "$(stat -c %a "$TMP/o2/pw-secret.yaml")" 600 "a Secret's file is the owner's only"

# ---- a stack from git carries its source and commit ------------------------------
if command -v git >/dev/null; then
    G=$TMP/repo
    git init -q -b main "$G"
    cp "$ROOT/examples/shop/Envirofile.lua" "$G/"
    git -C "$G" add -A && git -C "$G" -c user.name=t -c user.email=t@t commit -qm shop
    commit=$(git -C "$G" rev-parse HEAD)
    run export_k --host-image debian:12-slim "$G#main"
    [ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | grep -c "servos/commit: \"\?$commit")" -ge 9 ] &&
        matches "$out" "servos/source: .*$G#main"
    ok $? "an export from git annotates every object with its source and commit" "$err"
else
    skip "git is not installed"
fi

# ---- compose: read back by servos, and by podman-compose ---------------------------
roundtrip() { # NAME DIR: servos config of the export equals that of the input
    local name=$1 dir=$2
    mkdir -p "$TMP/rt-$name"
    run "$S" export compose --host-image host -o "$TMP/rt-$name/compose.yaml" "$dir"
    [ "$rc" -eq 0 ] || diag "$err"
    diff <("$S" config "$dir" | jq 'del(.source, .commit)') \
        <("$S" config "$TMP/rt-$name/compose.yaml" | jq 'del(.source, .commit)') >"$TMP/rt.diff" 2>&1
    ok $? "compose export of $name reads back to the same graph" "$(head -20 "$TMP/rt.diff")"
}
for d in compose enviro quickstart shop; do roundtrip "$d" "$ROOT/examples/$d"; done
sed -i '/^service "board"/d; /^service "ps"/,$d' "$A/Envirofile.lua"
roundtrip every-key "$A"
like "$(cat "$TMP/rt-every-key/compose.yaml")" 'echo|\$\$\(NOT_A_VAR\)' "Compose's \$ is written \$\$"
if command -v podman-compose >/dev/null; then
    # A podman that only says what it was asked: podman-compose parses the
    # file and turns every service into podman commands, running none.
    printf '#!/bin/sh\necho "podman $*" >>%s\n[ "$1" != --version ] || echo "podman version 4.3.1"\nexit 0\n' "$TMP/podman.log" >"$TMP/fakepodman"
    chmod +x "$TMP/fakepodman"
    # (podman-compose 1.0.3, Debian 12's, has no per-network aliases and
    # refuses the mapping form that holds them: its copy has none.)
    mkdir -p "$TMP/rt-pc" && cp -r "$A/." "$TMP/rt-pc/"
    sed -i 's/networks = { front = { aliases = { "front-alias" } } },/networks = { "front" },/' "$TMP/rt-pc/Envirofile.lua"
    "$S" export compose -o "$TMP/rt-pc/compose.yaml" "$TMP/rt-pc" 2>/dev/null
    for d in compose shop pc; do
        : >"$TMP/podman.log"
        (cd "$TMP/rt-$d" && timeout 60 podman-compose --podman-path "$TMP/fakepodman" -f compose.yaml up -d) >"$TMP/pc.out" 2>&1
        pc=$?
        [ "$pc" -eq 0 ] && grep -q '^podman run ' "$TMP/podman.log"
        ok $? "podman-compose reads the $d export and makes its podman commands" "$(tail -5 "$TMP/pc.out")"
    done
    grep -q -- '-p 127.0.0.1:18080:8080' "$TMP/podman.log" && grep -q -- '--cap-add NET_ADMIN' "$TMP/podman.log" &&
        grep -q -- '--read-only' "$TMP/podman.log" && grep -q -- '--sysctl net.core.somaxconn=1024' "$TMP/podman.log"
    ok $? "... with the ports, capabilities, read-only root and sysctls as servos has them" "$(grep 'run.*full' "$TMP/podman.log")"
else
    skip "podman-compose is not installed" 4
fi

# ---- under ASan and UBSan: exports, a refusal, --strict -------------------------------
if [ -x "$SERVOS_ASAN" ]; then
    asan_err=""
    for args in "kubernetes --servos-image r.example/s:1 --image-registry r.example -o $TMP/asan1 $A" \
        "compose --servos-image r.example/s:1 $A" "kubernetes --strict --image-registry r.example $A" \
        "kubernetes $ROOT/examples/shop" "kubernetes --servos-image r.example/s:1 $ROOT/examples/proserve" \
        "compose --host-image debian:12-slim -o $TMP/asan2.yaml $ROOT/examples/compose"; do
        # shellcheck disable=SC2086 # the arguments are words
        "$SERVOS_ASAN" export $args >/dev/null 2>"$TMP/asan.err"
        if grep -qE 'Sanitizer|runtime error:' "$TMP/asan.err"; then
            asan_err="$asan_err$args: $(grep -E -m3 'Sanitizer|runtime error:|#[0-9] ' "$TMP/asan.err")
"
        fi
    done
    [ -z "$asan_err" ]
    ok $? "exports, refusals and --strict under ASan and UBSan: no report" "$asan_err"
else
    skip "no ASan build (make asan)"
fi

# ---- a real engine: podman kube play ------------------------------------------------
podman_test() {
    local reg_port web_port hold H P rp
    reg_port=$(free_port)
    web_port=$(free_port)
    printf 'version: 0.1\nstorage: { filesystem: { rootdirectory: %s/reg } }\nhttp: { addr: 127.0.0.1:%s }\nlog: { level: error }\n' "$TMP" "$reg_port" >"$TMP/reg.yml"
    docker-registry serve "$TMP/reg.yml" >"$TMP/reg.log" 2>&1 &
    REG_PID=$!
    for _ in $(seq 50); do ss -Hltn "sport = :$reg_port" | grep -q . && break; sleep 0.1; done
    # An image as images come (PATH in its config), made by umoci, imported
    # into servos' store and pushed by servos.
    mkdir -p "$TMP/bb/www"
    cp "$(command -v busybox)" "$TMP/bb/busybox"
    echo "hello from the export" >"$TMP/bb/www/index.html"
    (
        cd "$TMP" && umoci init --layout oci && umoci new --image oci:bb &&
            umoci unpack --rootless --image oci:bb bundle && mkdir -p bundle/rootfs/bin bundle/rootfs/tmp &&
            cp bb/busybox bundle/rootfs/bin/ && cp -r bb/www bundle/rootfs/www &&
            for a in sh cat grep sleep httpd; do ln -s busybox "bundle/rootfs/bin/$a"; done &&
            umoci repack --image oci:bb bundle && umoci config --image oci:bb --config.env PATH=/bin
    ) >"$TMP/umoci.log" 2>&1
    "$S" image import "$TMP/oci" web:1 >/dev/null 2>>"$TMP/umoci.log"
    run "$S" image push -q web:1 "127.0.0.1:$reg_port/t88/web:1"
    is "$rc" 0 "servos pushes the image to a registry on 127.0.0.1" || diag "$err" "$(cat "$TMP/umoci.log")"
    K8=$TMP/kp
    mkdir -p "$K8"
    cat >"$K8/Envirofile.lua" <<EOF
stack "t88"
volume "data"
config "greeting" { content = "hi from a config\n" }
service "web" {
  image = "web:1",
  command = { "httpd", "-f", "-p", "8080", "-h", "/www" },
  ports = { "$web_port:8080" },
  memory = "64M",
}
service "worker" {
  image = "web:1",
  command = "echo started > /data/log; exec sleep 100000",
  volumes = { "data:/data" },
  configs = { { source = "greeting", target = "/etc/greeting" } },
}
EOF
    run export_k --image-registry "127.0.0.1:$reg_port/t88" --publish hostport -o "$TMP/kp-out" "$K8"
    is "$rc" 0 "export of a two-service stack for podman (--publish hostport)" || diag "$err"
    cat "$TMP"/kp-out/*.yaml >"$TMP/kp.yaml"
    valid "$TMP/kp.yaml" "the two-service stack"
    # podman's own state in $TMP, and a network of its own (its bridge
    # named here); its user namespaces (hostUsers: false) from a range of
    # its own, seen through a mount namespace that holds the test's
    # /etc/subuid: the host's is never touched.
    H=$(ulimit -Hn)
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[network]\nnetwork_config_dir = "%s/cni"\n' "$H" "$H" "$TMP" >"$TMP/containers.conf"
    mkdir -p "$TMP/cni"
    echo "containers:2100000000:1000000" >"$TMP/subid"
    unshare -m --propagation slave sh -c "mount --bind $TMP/subid /etc/subuid && mount --bind $TMP/subid /etc/subgid && exec sleep 600" &
    HOLD_PID=$!
    for _ in $(seq 50); do grep -q containers "/proc/$HOLD_PID/root/etc/subuid" 2>/dev/null && break; sleep 0.1; done
    P="nsenter -t $HOLD_PID -m env CONTAINERS_CONF=$TMP/containers.conf podman --root $TMP/podman --runroot $TMP/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none"
    ls /run/netns >"$TMP/netns-before" 2>/dev/null
    $P network create --subnet "$SUBNET.0/24" "$NET" >/dev/null
    sed -i "s/\"bridge\": \"[^\"]*\"/\"bridge\": \"$BRIDGE\"/" "$TMP/cni/$NET.conflist"
    run timeout 300 $P kube play --network "$NET" --tls-verify=false "$TMP/kp.yaml"
    is "$rc" 0 "podman kube play of the export" || diag "$err"
    rp=$($P pod ps --format '{{.Name}} {{.Status}}' | sort | tr '\n' ' ')
    is "$rp" "web-pod-0 Running worker-pod-0 Running " "both pods run"
    got=""
    for _ in $(seq 50); do
        got=$(curl -s -m 2 "http://127.0.0.1:$web_port/") && [ -n "$got" ] && break
        sleep 0.2
    done
    is "$got" "hello from the export" "the web pod answers on 127.0.0.1:$web_port (hostPort)"
    # (podman 4.3 mounts a ConfigMap volume whole and ignores subPath: the
    # file is one level down there; a cluster puts it at /etc/greeting.)
    got=$($P exec worker-pod-0-worker sh -c 'cat /data/log; cat /etc/greeting 2>/dev/null || cat /etc/greeting/greeting' 2>&1)
    is "$got" "started
hi from a config" "the worker wrote to its claim and reads its ConfigMap"
    st=$($P exec worker-pod-0-worker grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t ' ' ' | tr '\n' ' ')
    is "$st" "CapEff: 00000000a80425fb NoNewPrivs: 1 Seccomp: 2 " "... with Docker's 14 capabilities, no_new_privs and a seccomp filter"
    um=$($P exec worker-pod-0-worker cat /proc/self/uid_map | awk '{print $1, $2}')
    like "$um" '^0 21[0-9]{8}$' "... and in a user namespace of its own (hostUsers: false)"
    $P pod ps -q --no-trunc >"$TMP/pods"
    run timeout 120 $P kube down "$TMP/kp.yaml"
    # podman 4.3 sometimes fails to unmount a container's shm at once
    # ("device or resource busy") and leaves the pod: once more, then judge.
    if [ "$rc" -ne 0 ] && matches "$err" "resource busy"; then
        diag "podman kube down: $(printf '%s\n' "$err" | grep -m1 'resource busy'); again"
        sleep 1
        run timeout 120 $P kube down "$TMP/kp.yaml"
    fi
    is "$rc" 0 "podman kube down" || diag "$err"
    is "$($P pod ps -q | wc -l) $($P ps -aq | wc -l)" "0 0" "... removes both pods and their containers"
}
# What CNI leaves of the test's network: podman 4.3 does not tear down the
# network of a pod with a user namespace (hostUsers: false) at kube down;
# its rules name the network, its namespaces are in the holder's /run/netns.
sweep_net() {
    local t chains r c n
    command -v iptables-save >/dev/null || return 0
    for t in nat filter; do
        chains=$(iptables-save -t "$t" | grep -F "name: \\\"$NET\\\"" |
            awk '{for (i = 1; i < NF; i++) if ($i == "-A" || $i == "-j") print $(i + 1)}' |
            grep '^CNI-' | grep -v -e HOSTPORT -e FORWARD -e ADMIN | sort -u)
        iptables-save -t "$t" | grep -F "name: \\\"$NET\\\"" | grep '^-A' | sed 's/^-A/-D/' |
            while read -r r; do eval "iptables -t $t $r" 2>/dev/null; done
        for c in $chains; do iptables -t "$t" -F "$c" 2>/dev/null && iptables -t "$t" -X "$c" 2>/dev/null; done
    done
    iptables -S CNI-FORWARD 2>/dev/null | grep -F " $SUBNET." | sed 's/^-A/-D/' |
        while read -r r; do eval "iptables $r" 2>/dev/null; done
    for n in $(nsenter -t "$HOLD_PID" -m ls /run/netns 2>/dev/null); do
        grep -qx "$n" "$TMP/netns-before" 2>/dev/null || nsenter -t "$HOLD_PID" -m ip netns delete "$n" 2>/dev/null
    done
}
# podman 4.3 with a user namespace (hostUsers: false) chowns the host's
# /dev/null to the namespace's root as it binds it into a pod (seen here:
# 2100065534 after kube play): put it back, and say so.
DEVNULL_OWNER=$(stat -c %u:%g /dev/null)
restore_devnull() {
    local now
    now=$(stat -c %u:%g /dev/null)
    [ "$now" = "$DEVNULL_OWNER" ] && return 0
    chown "$DEVNULL_OWNER" /dev/null
    diag "podman changed the owner of /dev/null to $now; restored to $DEVNULL_OWNER"
}
cleanup() {
    [ -z "${DH_PID:-}" ] || { kill "$DH_PID" 2>/dev/null; wait "$DH_PID" 2>/dev/null; }
    pkill -f 'sleep 4242' 2>/dev/null
    if [ -n "${HOLD_PID:-}" ]; then
        P="nsenter -t $HOLD_PID -m env CONTAINERS_CONF=$TMP/containers.conf podman --root $TMP/podman --runroot $TMP/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none"
        timeout 60 $P kube down "$TMP/kp.yaml" >/dev/null 2>&1
        timeout 60 $P system reset -f >/dev/null 2>&1
        sweep_net
        kill "$HOLD_PID" 2>/dev/null
        # podman 4.3 (cgroupfs) leaves its pods' groups behind, empty
        local id
        for id in $(cat "$TMP/pods" 2>/dev/null); do
            find /sys/fs/cgroup -maxdepth 4 -depth -type d -path "*libpod_parent/$id*" -exec rmdir {} + 2>/dev/null
        done
        wait "$HOLD_PID" 2>/dev/null
        ip link del "$BRIDGE" 2>/dev/null
        rm -rf "/var/lib/cni/networks/$NET"
    fi
    [ -z "${REG_PID:-}" ] || { kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null; }
    [ -z "${PODMAN_CGROUPS:-}" ] ||
        find /sys/fs/cgroup -maxdepth 3 -depth -type d -path '*libpod_parent*' -exec rmdir {} + 2>/dev/null
    restore_devnull
}
NET=t88-$$
BRIDGE=t88br$$
SUBNET=10.231.$((RANDOM % 250))
missing=""
for c in podman docker-registry umoci catatonit unshare nsenter curl; do
    command -v "$c" >/dev/null || missing="$missing $c"
done
if [ "$(id -u)" -ne 0 ]; then
    skip "podman kube play needs root" 11
elif [ -n "$missing" ]; then
    skip "not installed:$missing (.ci/deps)" 11
else
    chmod 711 "$TMP"
    [ -d /sys/fs/cgroup/memory/libpod_parent ] || [ -d /sys/fs/cgroup/libpod_parent ] || PODMAN_CGROUPS=1
    podman_test
fi
done_testing
