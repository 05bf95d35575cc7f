#!/usr/bin/env bash
# servos serve end to end: the control API on its unix socket and on TCP
# with bearer tokens, against real stacks and containers, a real registry
# (Debian's docker-registry, an image built by umoci and pushed by
# skopeo) and real clients (curl; tests/helpers/api-client.py where the
# time an event arrives matters). Every answer is checked against the
# OpenAPI document kept in the repository.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd curl jq python3 docker-registry skopeo umoci
python3 -c 'import jsonschema' 2>/dev/null || skip_all "python3-jsonschema is not installed (make deps)"
CLIENT="python3 $ROOT/tests/helpers/api-client.py"
SOCK=$SERVOS_ROOT/servos.sock
PORT=$(free_port)
REG_PID=
cleanup() {
    [ -f "$SERVOS_ROOT/serve.pid" ] && kill "$(cat "$SERVOS_ROOT/serve.pid")" 2>/dev/null
    for st in t92 t92b t92g; do "$S" down -v -t 0 -p "$st" >/dev/null 2>&1; done
    remove_containers
    [ -z "$REG_PID" ] || { kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null; }
    [ -z "${SLOW_PID:-}" ] || kill "$SLOW_PID" 2>/dev/null
}
mkdir -p "$SERVOS_ROOT" "$TMP/rec"
umask 077
openssl rand -hex 32 >"$TMP/token"
openssl rand -hex 32 >"$TMP/ro-token"
umask 022
TOKEN=$(cat "$TMP/token")
RO=$(cat "$TMP/ro-token")

# api METHOD TEMPLATE PATH [CURL-ARGS...]: through the socket; sets $code
# and $body, and keeps the answer for the OpenAPI check.
n_rec=0
api() {
    local m=$1 tpl=$2 path=$3
    shift 3
    code=$(curl -s -o "$TMP/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" "$@" \
        "http://localhost$path")
    body=$(cat "$TMP/body")
    if jq -e . "$TMP/body" >/dev/null 2>&1; then
        n_rec=$((n_rec + 1))
        { echo "$m $tpl $code"; cat "$TMP/body"; } >"$TMP/rec/$(printf %04d $n_rec)"
    fi
}
tcp() { # tcp TOKEN METHOD PATH [CURL-ARGS...]: prints the status
    local t=$1 m=$2 path=$3
    shift 3
    curl -s -o "$TMP/tcpbody" -w '%{http_code}' ${t:+-H "Authorization: Bearer $t"} -X "$m" "$@" \
        "http://127.0.0.1:$PORT$path"
}

# ---- the daemon ---------------------------------------------------------------
run "$S" serve -d --listen "127.0.0.1:$PORT" --token-file "$TMP/token" \
    --read-only-token-file "$TMP/ro-token"
is "$rc" 0 "serve -d returns once it listens" || diag "$err"
like "$out" "listening on unix:$SOCK and http://127.0.0.1:$PORT" "it says where it listens"
is "$(stat -c %a "$SOCK")" 660 "the socket is 0660"
run "$S" serve
[ "$rc" -ne 0 ] && matches "$err" "already runs for $SERVOS_ROOT \(pid [0-9]+\)"
ok $? "a second serve of the same root says which one runs" "$rc: $err"
run "$S" serve --listen "127.0.0.1:$PORT"
[ "$rc" -eq 2 ] && matches "$err" "needs --token-file"
ok $? "TCP without a token file is refused" "$rc: $err"
# A client that sends its headers a byte a second: dropped at the headers'
# deadline (10 s) while everyone else is answered; checked at the end.
$CLIENT "unix:$SOCK" slow /v1/stacks 20 >"$TMP/slow.out" 2>&1 &
SLOW_PID=$!
T_SLOW=$SECONDS

api GET /v1 /v1
is "$code" 200 "GET /v1 through the socket"
echo "$body" | jq .endpoints >"$TMP/routes.json"
run python3 "$ROOT/tests/helpers/openapi-check.py" "$ROOT/engine/api/web/openapi.json" --routes \
    "$TMP/routes.json"
is "$rc" 0 "every route is in openapi.json, and every operation there is served" || diag "$out"
api GET /v1/openapi.json /v1/openapi.json
cmp -s "$TMP/body" "$ROOT/engine/api/web/openapi.json"
ok $? "/v1/openapi.json is the repository's document"

# ---- tokens on TCP ---------------------------------------------------------------
is "$(tcp "" GET /v1/stacks)" 401 "TCP without a token: 401"
like "$(cat "$TMP/tcpbody")" '"code":"unauthorized"' "as a JSON error"
is "$(tcp "nottherighttoken0123" GET /v1/stacks)" 401 "a wrong token: 401"
is "$(tcp "$TOKEN" GET /v1/stacks)" 200 "the token: 200"
is "$(tcp "$RO" GET /v1/stacks)" 200 "the read-only token reads"
is "$(tcp "$RO" PUT /v1/stacks/t92 --data-binary 'x')" 403 "the read-only token cannot write: 403"
is "$(tcp "" GET /)" 200 "the dashboard's page needs no token (it holds no data)"
# Every endpoint: 401 without the token, 403 for a write with the read-only one.
wrong=""
for r in $(jq -r '.[] | gsub(" "; "_")' "$TMP/routes.json"); do
    m=${r%%_*} p=$(echo "${r#*_}" | sed 's/{[^}]*}/x/g')
    case "$p" in / | /app.js | /style.css | /v1/openapi.json) continue ;; esac
    c=$(tcp "" "$m" "$p")
    [ "$c" = 401 ] || wrong="$wrong $m $p: $c without a token;"
    if [ "$m" != GET ]; then
        c=$(tcp "$RO" "$m" "$p" -d '{}')
        [ "$c" = 403 ] || wrong="$wrong $m $p: $c with the read-only token;"
    fi
done
is "$wrong" "" "every endpoint over TCP: 401 without a token, 403 for writes with the read-only one"

# ---- stacks ------------------------------------------------------------------------
cat >"$TMP/Envirofile.lua" <<'LUA'
stack "t92"
service "web" {
  command = "echo web-up; exec sleep 1000",
  replicas = 2, init = true, stop_grace_period = "1s",
  healthcheck = { test = { "true" }, interval = "200ms" },
}
service "ticker" {
  command = "while :; do echo \"at $(date +%s.%N)\"; sleep 0.1; done",
  init = true, stop_grace_period = "1s",
}
LUA
api PUT /v1/stacks/{name} /v1/stacks/t92 -H 'Content-Type: text/x-lua' \
    --data-binary @"$TMP/Envirofile.lua"
is "$code" 200 "PUT an Envirofile applies it" || diag "$body"
is "$(echo "$body" | jq '[.replicas[] | select(.state == "running")] | length')" 3 \
    "the answer shows its 3 replicas running"
api GET /v1/stacks/{name} /v1/stacks/t92
is "$code" 200 "GET the stack"
cli=$("$S" ps -p t92 --format json | jq -c '[.[] | {service, replica, pid, state}]')
is "$(echo "$body" | jq -c '[.replicas[] | {service, replica, pid, state}]')" "$cli" \
    "its replicas are servos ps --format json's: the CLI sees what the API applied"
is "$(echo "$body" | jq -r '.graph.services.web.replicas')" 2 "the graph it runs comes with it"
api GET /v1/stacks /v1/stacks
is "$(echo "$body" | jq -c '.[] | select(.name == "t92") | .replicas')" '{"total":3,"running":3}' \
    "the stack list counts its replicas"

printf 'stack "t92"\nservice "web" {\n  replics = 2,\n}\n' >"$TMP/bad.lua"
api PUT /v1/stacks/{name} /v1/stacks/t92 --data-binary @"$TMP/bad.lua"
is "$code" 400 "an Envirofile with a typo: 400"
like "$body" 'Envirofile.lua:[0-9]+: .*unknown key \\"replics\\" \(did you mean \\"replicas\\"\?\)' \
    "the error names the client's file and line"
is "$("$S" ps -p t92 --format json | jq -c '[.[] | {service, replica, pid, state}]')" "$cli" \
    "and the running stack is untouched"
api POST /v1/stacks /v1/stacks -H 'Content-Type: application/json' \
    -d '{"name":"t92b","content":"stack \"t92b\"\nservice \"one\" { command = \"exec sleep 1000\", init = true }\n","path":"/x"}'
is "$code" 400 "content and path together: 400"
api POST /v1/stacks /v1/stacks -H 'Content-Type: application/json' \
    -d '{"files":{"compose.yaml":"services:\n  one:\n    image: host\n    command: sleep 1000\n    init: true\n"}}'
[ "$code" = 400 ] && matches "$body" "needs the stack's name"
ok $? "an upload without a name says how to give one" "$code $body"
api POST /v1/stacks /v1/stacks -H 'Content-Type: application/json' \
    -d '{"name":"t92b","files":{"compose.yaml":"services:\n  one:\n    image: host\n    command: sleep 1000\n    init: true\n"}}'
is "$code" 200 "POST a Compose file as JSON files applies stack t92b" || diag "$body"
run "$S" ps -p t92b --format json
is "$(echo "$out" | jq -r '.[0].state')" running "the CLI sees t92b's replica"

# scale through the API, then through the CLI: each sees the other's
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale -d '{"service":"web","replicas":3}'
is "$code" 200 "scale web to 3"
is "$("$S" ps -p t92 --format json | jq '[.[] | select(.service == "web")] | length')" 3 \
    "servos ps shows 3 web replicas"
"$S" scale -p t92 web=2 >/dev/null
api GET /v1/stacks/{name} /v1/stacks/t92
is "$(echo "$body" | jq '[.replicas[] | select(.service == "web")] | length')" 2 \
    "the API shows the CLI's scale back to 2"
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale -d '{"service":"nope","replicas":1}'
is "$code" 404 "scaling a service the stack lacks: 404"
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale -d '{"service":"web","replicas":-1}'
is "$code" 400 "a negative count: 400"
api GET /v1/stacks/{name} /v1/stacks/nosuch
is "$code" 404 "a stack that does not exist: 404"

# ---- logs -----------------------------------------------------------------------------
run curl -s --max-time 5 --unix-socket "$SOCK" "http://localhost/v1/stacks/t92/logs?service=ticker&tail=3"
is "$(echo "$out" | grep -c '^data: ')" 3 "tail=3 without follow: three events, then the end"
echo "$out" | grep '^data: ' | head -1 | sed 's/^data: //' >"$TMP/line.json"
is "$(jq -r '[.service, .replica, (.ts | type), (.line | startswith("at "))] | join(" ")' \
    "$TMP/line.json")" "ticker 1 number true" "each event: service, replica, when (unix ms) and the line"
run python3 "$ROOT/tests/helpers/openapi-check.py" "$ROOT/engine/api/web/openapi.json" --schema LogLine \
    "$TMP/line.json"
is "$rc" 0 "a log event's data is openapi.json's LogLine" || diag "$out"
# Followed: every ticker line carries the time it was written (date inside
# the container); each must reach the client within 100 ms.
TOKEN=$TOKEN $CLIENT "127.0.0.1:$PORT" sse "/v1/stacks/t92/logs?service=ticker&follow=1&tail=0" \
    --seconds 3 >"$TMP/follow.out"
python3 - "$TMP/follow.out" "$(slow 0.1)" >"$TMP/latency" <<'PY'
import json, sys
lat = []
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("data"):
        d = json.loads(e["data"])
        lat.append(e["t"] - float(d["line"].split()[1]))
lat.sort()
late = [x for x in lat if x > float(sys.argv[2])]
print(len(lat), len(late), "%.1f" % (1000 * lat[len(lat) // 2]), "%.1f" % (1000 * lat[-1]))
PY
read -r n_lines n_late p50 worst <"$TMP/latency"
[ "$n_lines" -ge 15 ] && [ "$n_late" -eq 0 ]
ok $? "followed over TCP: each of $n_lines lines arrived within 100 ms (median $p50 ms, worst $worst ms)" \
    "$(cat "$TMP/latency")"
api GET /v1/stacks/{name}/logs "/v1/stacks/t92/logs?service=nope"
is "$code" 404 "logs of a service the stack lacks: 404"
api GET /v1/stacks/{name}/logs "/v1/stacks/t92/logs?tail=lots"
is "$code" 400 "a bad tail: 400"
run curl -s --max-time 5 --unix-socket "$SOCK" "http://localhost/v1/stacks/t92/logs?service=web&since=1m"
is "$(echo "$out" | grep -c '"line":"web-up"')" 2 "since=1m: both web replicas' first line"

# ---- events, restart, and resuming with Last-Event-ID ---------------------------------------
$CLIENT "unix:$SOCK" sse "/v1/events?backlog=1" --count 1 --seconds 5 >"$TMP/ev0"
last=$(grep '"id"' "$TMP/ev0" | tail -1 | jq -r .id)
like "$last" '^[0-9]+$' "the events stream gives ids ($last)"
pids0=$("$S" ps -p t92 --format json | jq -c '[.[] | select(.service == "web") | .pid]')
# While no client listens: a restart, and a scale up and down.
api POST /v1/stacks/{name}/restart /v1/stacks/t92/restart -d '{"service":"web"}'
is "$code" 200 "restart web" || diag "$body"
pids1=$("$S" ps -p t92 --format json | jq -c '[.[] | select(.service == "web") | .pid]')
[ "$pids1" != "$pids0" ] && [ "$(echo "$pids1" | jq length)" = 2 ]
ok $? "the restart gave web new pids ($pids0 -> $pids1)"
"$S" scale -p t92 web=3 >/dev/null && "$S" scale -p t92 web=2 >/dev/null
$CLIENT "unix:$SOCK" sse /v1/events --header "Last-Event-ID: $last" --seconds 2 >"$TMP/ev1"
ids=$(grep '"id"' "$TMP/ev1" | jq -r .id | tr '\n' ' ')
first=$(echo "$ids" | awk '{print $1}')
python3 -c 'import sys; v=[int(x) for x in sys.argv[1].split()]; sys.exit(0 if v and v == list(range(v[0], v[0]+len(v))) else 1)' "$ids"
ok $? "reconnected with Last-Event-ID: $last: events $first.. in order, none missing" "$ids"
is "$first" "$((last + 1))" "the first is the one after the last seen"
grep '"id"' "$TMP/ev1" | jq -c '.data | fromjson' >"$TMP/ev1.data"
run python3 "$ROOT/tests/helpers/openapi-check.py" "$ROOT/engine/api/web/openapi.json" --schema Event \
    "$TMP/ev1.data"
is "$rc" 0 "each event's data is openapi.json's Event" || diag "$out"
types=$(grep '"id"' "$TMP/ev1" | jq -r '.data | fromjson | "\(.type) \(.service // "")-\(.replica // "")"' | sort -u)
for t in "container.restart web-1" "container.restart web-2" "container.die web-1" \
    "container.start web-3" "container.remove web-3" "container.health web-1" "stack.applied -"; do
    like "$types" "^$t\$" "missed nothing: $t"
done
# Live: an event while the client listens.
$CLIENT "unix:$SOCK" sse "/v1/events?stack=t92" --until '"container.start"' --seconds 10 \
    --run "$S scale -p t92 web=3 >/dev/null" >"$TMP/ev2"
like "$(cat "$TMP/ev2")" 'container.start.*\\"replica\\":3' "a live client sees web-3 start"
"$S" scale -p t92 web=2 >/dev/null
# An OOM kill: the event, then the death it caused, with its code.
$CLIENT "unix:$SOCK" sse /v1/events --until '"container.die"' --seconds 20 \
    --run "$S run --name t92-oom --memory 64m host sh -c 'x=\$(head -c 200000000 /dev/zero | tr \"\\\\0\" a)'" \
    >"$TMP/ev-oom"
like "$(grep '"id"' "$TMP/ev-oom" | jq -r '.data | fromjson | select(.name == "t92-oom") | "\(.type) \(.exit_code) \(.oom)"' | tr '\n' ' ')" \
    'container.oom 137 true container.die 137 true' "an OOM kill: container.oom, then container.die with 137 and oom"
"$S" rm t92-oom >/dev/null

# ---- stats and metrics ------------------------------------------------------------------
api GET /v1/stacks/{name}/stats /v1/stacks/t92/stats
is "$(echo "$body" | jq '[.replicas[] | select(.cpu_seconds >= 0 and .memory_bytes > 0 and .tasks > 0)] | length')" \
    3 "stats: CPU, memory and tasks of each replica"
run curl -s --unix-socket "$SOCK" http://localhost/metrics
like "$out" '^servos_replica_cpu_seconds_total\{stack="t92",service="ticker",replica="1"\} [0-9.]+$' \
    "metrics: a replica's CPU seconds"
like "$out" '^servos_replica_healthy\{stack="t92",service="web",replica="1"\} 1$' "metrics: health"
like "$out" '^servos_stack_replicas\{stack="t92",state="running"\} 3$' "metrics: per stack"
like "$out" '^process_resident_memory_bytes [0-9]+$' "metrics: the daemon's own"

# ---- containers ---------------------------------------------------------------------
api POST /v1/containers /v1/containers \
    -d '{"image":"host","name":"t92-c","init":true,"command":["sh","-c","echo hello-c; exec sleep 1000"],"labels":{"team":"t92"}}'
is "$code" 200 "run a container" || diag "$body"
is "$(echo "$body" | jq -r '[.name, .state, .labels.team] | join(" ")')" "t92-c running t92" \
    "it answers the container, running"
is "$("$S" ls --format json | jq -r '.[] | select(.name == "t92-c") | .state')" running \
    "servos ls shows it"
api GET /v1/containers/{id} /v1/containers/t92-c
is "$code" 200 "GET it by name"
api GET /v1/containers /v1/containers
is "$(echo "$body" | jq '[.[] | select(.name == "t92-c" or .stack == "t92")] | length')" 4 \
    "the list has it and the stack's replicas"
api POST /v1/containers/{id}/exec /v1/containers/t92-c/exec \
    -d '{"command":["sh","-c","echo out; echo err >&2; exit 3"]}'
is "$(echo "$body" | jq -c .)" '{"exit_code":3,"stdout":"out\n","stderr":"err\n"}' \
    "exec: its output and exit code"
api POST /v1/containers/{id}/exec /v1/containers/t92-c/exec -d '{"command":["tr","a-z","A-Z"],"stdin":"piped\n"}'
is "$(echo "$body" | jq -r .stdout)" PIPED "exec with stdin"
run curl -s -N --max-time 10 --unix-socket "$SOCK" -X POST \
    -d '{"command":["sh","-c","echo one; sleep 0.3; echo two >&2; exit 4"],"stream":true}' \
    http://localhost/v1/containers/t92-c/exec
is "$(echo "$out" | grep -E '^(event|data):' | tr '\n' ' ')" \
    'event: stdout data: "one" event: stderr data: "two" event: exit data: {"exit_code":4} ' \
    "exec streamed: its lines as they come, then its exit code"
api POST /v1/containers/{id}/exec /v1/containers/t92-c/exec -d '{"command":[]}'
is "$code" 400 "exec without a command: 400"
api POST /v1/containers/{id}/exec /v1/containers/nosuch/exec -d '{"command":["true"]}'
is "$code" 404 "exec in a container that does not exist: 404"
run curl -s --max-time 5 --unix-socket "$SOCK" http://localhost/v1/containers/t92-c/logs
like "$out" '"container":"t92-c".*"line":"hello-c"' "a container's logs"
api DELETE /v1/containers/{id} /v1/containers/t92b-one-1
is "$code" 409 "removing a stack's replica without force: 409 (its supervisor would restart it)"
api POST /v1/containers/{id}/stop "/v1/containers/t92-c/stop?timeout=1"
is "$(echo "$body" | jq -r .state)" exited "stop: it answers the container, exited"
api POST /v1/containers/{id}/exec /v1/containers/t92-c/exec -d '{"command":["true"]}'
is "$code" 409 "exec in a stopped container: 409"
api DELETE /v1/containers/{id} /v1/containers/t92-c
is "$(echo "$body" | jq -c '.removed')" true "rm"
api DELETE /v1/containers/{id} /v1/containers/t92-c
is "$code" 404 "rm again: 404"
api POST /v1/containers /v1/containers -d '{"image":"host","memory":"lots"}'
[ "$code" = 400 ] && matches "$body" 'memory: \\"lots\\" is not a size'
ok $? "a bad option value: 400, in servos run's words" "$code $body"
api POST /v1/containers /v1/containers -d '{"image":"host","nmae":"x"}'
[ "$code" = 400 ] && matches "$body" 'unknown field \\"nmae\\"; did you mean \\"name\\"'
ok $? "an unknown field: 400 with a suggestion" "$code $body"

# ---- images, from a real registry ------------------------------------------------------
RPORT=$(free_port)
printf 'version: 0.1\nstorage: { filesystem: { rootdirectory: %s/reg } }\nhttp: { addr: 127.0.0.1:%s }\nlog: { level: error }\n' \
    "$TMP" "$RPORT" >"$TMP/reg.yml"
docker-registry serve "$TMP/reg.yml" >"$TMP/reg.log" 2>&1 &
REG_PID=$!
mkdir -p "$TMP/rootfs/bin"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
ln -s busybox "$TMP/rootfs/bin/sh"
(cd "$TMP" && umoci init --layout oci && umoci new --image oci:bb &&
    umoci unpack --rootless --image oci:bb bundle && cp -a rootfs/. bundle/rootfs/ &&
    umoci repack --image oci:bb bundle) >"$TMP/umoci.log" 2>&1 || diag "$(cat "$TMP/umoci.log")"
for _ in $(seq 50); do ss -Hltn "sport = :$RPORT" | grep -q . && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$TMP/oci:bb" "docker://127.0.0.1:$RPORT/t92/bb:1" \
    >/dev/null 2>"$TMP/skopeo.err" || diag "$(cat "$TMP/skopeo.err")"
run curl -s -N --max-time 60 --unix-socket "$SOCK" -X POST -d "{\"ref\":\"127.0.0.1:$RPORT/t92/bb:1\"}" \
    http://localhost/v1/images/pull
like "$out" '^event: progress' "pull: progress as events"
digest=$(echo "$out" | grep -A1 '^event: done' | sed -n 's/^data: //p' | jq -r .digest)
like "$digest" '^sha256:[0-9a-f]{64}$' "then done, with the digest"
api GET /v1/images /v1/images
is "$(echo "$body" | jq -r ".[] | select(.digest == \"$digest\") | .names[0]")" "127.0.0.1:$RPORT/t92/bb:1" \
    "the image list has it"
run curl -s -N --max-time 30 --unix-socket "$SOCK" -X POST -d "{\"ref\":\"127.0.0.1:$RPORT/t92/nosuch:1\"}" \
    http://localhost/v1/images/pull
like "$out" '^event: error' "pulling what the registry lacks: an error event"
api POST /v1/images/pull /v1/images/pull -d "{}"
is "$code" 400 "pull without a ref: 400"
api DELETE /v1/images/{ref} "/v1/images/127.0.0.1:$RPORT/t92/bb:1"
is "$code" 200 "rm the image by its name (slashes and all)"
api DELETE /v1/images/{ref} "/v1/images/127.0.0.1:$RPORT/t92/bb:1"
is "$code" 404 "rm it again: 404"

# ---- bad input ------------------------------------------------------------------------
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale -d '{"service":"web",'
[ "$code" = 400 ] && matches "$body" '"code":"bad_json".*line 1, column'
ok $? "malformed JSON: 400 with where" "$code $body"
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale -d '["web", 2]'
is "$code" 400 "JSON that is not an object: 400"
api POST /v1/stacks/{name}/restart /v1/stacks/t92/restart -d '{"service":"web","force":true}'
is "$code" 400 "an unknown field: 400"
head -c $((2 << 20)) /dev/zero | tr '\0' x >"$TMP/big"
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale --data-binary @"$TMP/big"
is "$code" 413 "a 2 MiB body where 1 MiB is the most: 413"
api POST /v1/stacks/{name}/scale /v1/stacks/t92/scale -H 'Transfer-Encoding: chunked' \
    --data-binary @"$TMP/big"
is "$code" 413 "the same, chunked (no length said up front): 413"
api GET /v1/stacks/{name} /v1/stacks/..%2Fetc
is "$code" 404 "a stack name with a path in it: 404"
api GET /nope /nope
is "$code" 404 "an unknown path: 404"
api DELETE /v1/stacks /v1/stacks
[ "$code" = 405 ] && matches "$body" 'allowed: GET, POST'
ok $? "a method the path lacks: 405, saying which it has" "$code $body"
# 1,000 idle connections: everyone else is still answered, at once.
$CLIENT "127.0.0.1:$PORT" idle 1000 0.5 /v1 >"$TMP/idle.out" 2>&1
is "$(head -1 "$TMP/idle.out" | jq -r .status)" 401 \
    "with 1,000 idle connections open, a request is still answered"
s=$(head -1 "$TMP/idle.out" | jq -r .seconds)
awk -v s="$s" -v m="$(slow 1)" 'BEGIN { exit !(s < m) }'
ok $? "within a second ($s s)"
is "$(tail -1 "$TMP/idle.out" | jq -r .held)" 1000 "and the idle ones are not dropped before their deadline"
api GET /v1/stacks/{name} /v1/stacks/t92
is "$code" 200 "the daemon answers after they go"
# The slow client started at the beginning: dropped at its deadline.
while [ $((SECONDS - T_SLOW)) -lt 12 ]; do sleep 0.5; done
wait "$SLOW_PID"
SLOW_PID=
after=$(jq -r '.closed_after // empty' "$TMP/slow.out")
[ -n "$after" ] && awk -v a="$after" 'BEGIN { exit !(a > 9 && a < 12) }'
ok $? "a client trickling its headers is dropped at the 10 s deadline (after ${after:-?} s)" \
    "$(cat "$TMP/slow.out")"

# ---- a stack from git, and pull ---------------------------------------------------
git init -q -b main "$TMP/envs"
printf 'stack "t92g"\nservice "g" { command = "exec sleep 1000", init = true, replicas = 1 }\n' \
    >"$TMP/envs/Envirofile.lua"
gitc() { git -C "$TMP/envs" -c user.name=t92 -c user.email=t92@localhost "$@"; }
gitc add -A && gitc commit -qm one && git clone -q --bare "$TMP/envs" "$TMP/envs.git"
api POST /v1/stacks /v1/stacks -d "{\"source\":\"git+file://$TMP/envs.git#main\"}"
is "$code" 200 "POST a git source: the stack it declares (t92g) comes up" || diag "$body"
is "$(echo "$body" | jq -r '[.name, (.commit | length)] | join(" ")')" "t92g 40" \
    "named by its file, with the commit it runs"
sed -i 's/replicas = 1/replicas = 2/' "$TMP/envs/Envirofile.lua"
gitc commit -qam two && gitc push -q "$TMP/envs.git" main
api POST /v1/stacks/{name}/pull /v1/stacks/t92g/pull
[ "$code" = 200 ] && matches "$(echo "$body" | jq -r .output)" '[0-9a-f]{12} -> [0-9a-f]{12}'
ok $? "pull moves it to the new commit" "$code $body"
is "$("$S" ps -p t92g --format json | jq length)" 2 "and applies it: 2 replicas"
api POST /v1/stacks/{name}/pull /v1/stacks/t92/pull
[ "$code" = 409 ] && matches "$body" "does not come from git"
ok $? "pull of a stack not from git: 409, saying why" "$code $body"
api DELETE /v1/stacks/{name} "/v1/stacks/t92g?timeout=0"
is "$code" 200 "DELETE t92g"

# ---- the answers against openapi.json ------------------------------------------------
run python3 "$ROOT/tests/helpers/openapi-check.py" "$ROOT/engine/api/web/openapi.json" "$TMP/rec"
is "$rc" 0 "every JSON answer of this test matches openapi.json ($(echo "$out" | tail -1))" || diag "$out"

# ---- down, and the daemon's end ------------------------------------------------------
$CLIENT "unix:$SOCK" sse "/v1/events?stack=t92" --until '"stack.down"' --seconds 20 \
    --run "curl -s --unix-socket $SOCK -X DELETE 'http://localhost/v1/stacks/t92?timeout=1' >$TMP/down.json" \
    >"$TMP/ev3"
is "$(jq -r .output "$TMP/down.json" | head -c 0; jq -r 'has("output")' "$TMP/down.json")" true \
    "DELETE the stack"
like "$(cat "$TMP/ev3")" 'stack.down' "a stack.down event"
api GET /v1/stacks/{name} /v1/stacks/t92
is "$code" 404 "it is gone"
run "$S" ps -p t92
[ "$rc" -ne 0 ]
ok $? "for the CLI too"
[ ! -e "$SERVOS_ROOT/api/stacks/t92" ]
ok $? "what the API uploaded for it is gone with it"
api DELETE /v1/stacks/{name} /v1/stacks/t92b
is "$code" 200 "DELETE t92b"
pid=$(cat "$SERVOS_ROOT/serve.pid")
kill "$pid"
gone "$pid"
ok $? "SIGTERM stops the daemon"
[ ! -e "$SOCK" ] && [ ! -e "$SERVOS_ROOT/serve.pid" ]
ok $? "its socket and pid file go with it"
# Under the ASan build (SERVOS=build-asan/servos), what it found is here.
unlike "$(cat "$SERVOS_ROOT/serve.log")" 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
    "the daemon's log holds no sanitizer report"

done_testing
