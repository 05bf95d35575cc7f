#!/usr/bin/env bash
# ProServe manifests served for real: the shared v1 and v2 samples (ports
# and addresses moved to free loopback ones), handler scripts written here
# (Python, shell, Lua), background tasks, static files, /health, /metrics,
# time and memory limits, what a handler can see and touch, 200 concurrent
# requests, and `down`. Every stack is brought down at the end.
. "$(dirname "$0")/lib.sh"
use_containers
SAMPLES=$ROOT/tests/data/proserve-manifests # copies of the shared samples
STACKS="p90a p90b p90c p90d p90e p90f"
cleanup() {
    for st in $STACKS; do "$S" down -t 0 -p "$st" >/dev/null 2>&1; done
}
BASE=$((20000 + RANDOM % 12000))
get() { curl -s -m $((10 * SLOW)) "http://127.0.0.1:$1"; }
code() { curl -s -m $((10 * SLOW)) -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1"; }
wait_port() { for _ in $(seq $((100 * SLOW))); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; return 1; }
# A sample with its port (and 0.0.0.0) moved to loopback, and the files
# the samples name (handlers, static directories) beside it.
sample() { # FILE DEST-DIR PORT
    mkdir -p "$2"
    cp -r "$SAMPLES"/handlers "$SAMPLES"/static "$SAMPLES"/assets "$SAMPLES"/public \
        "$SAMPLES"/chat_ui "$SAMPLES"/chat_handler.py "$2"/
    sed -e "s/^port: .*/port: $3/" -e 's/^host: 0.0.0.0/host: 127.0.0.1/' "$SAMPLES/$1" >"$2/manifest.yaml"
}

# ---- the v2 samples -----------------------------------------------------------------------
P=$BASE
sample proserve__README-v2__manifest.yml "$TMP/v2" "$P"
run "$S" apply -p p90a "$TMP/v2/manifest.yaml"
is "$rc" 0 "apply the v2 sample" || diag "$err"
wait_port "$P"
is "$(get "$P/api/status")" '{"status":"ok","version":"1.0.0"}' "GET /api/status answers exactly"
is "$(get "$P/api/hello/World")" '{"message":"Hello World!"}' "GET /api/hello/World fills {{name}}"
is "$(get "$P/health" | jq -r '.status + " " + .service')" "healthy my-service" "/health is on by default"
is "$(code "$P/api/nope")" 404 "an unknown path is 404"
is "$(get "$P/api/nope" | jq -r .error)" "not found" "as JSON"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$P/api/status")" 405 "a wrong method is 405"
like "$(curl -s -D - -o /dev/null -X DELETE "http://127.0.0.1:$P/api/status")" "Allow: GET" "with Allow"
run "$S" ps -p p90a
like "$out" "my-service +1 +running .*127.0.0.1:$P->$P/tcp" "ps shows the service and its port"
like "$("$S" logs -p p90a)" "GET /api/status 200" "logs show the requests"

P2=$((BASE + 1))
sample proserve__README-v2__advanced_manifest.yml "$TMP/v2adv" "$P2"
run "$S" apply -p p90b "$TMP/v2adv/manifest.yaml"
is "$rc" 0 "apply the advanced v2 sample" || diag "$err"
wait_port "$P2"
is "$(get "$P2/api/chat/info")" '{"status":"Chat Service Running","users":0}' "GET /api/chat/info as written"

# ---- the v1 sample with handlers, a task, static files ----------------------------------------------
P3=$((BASE + 2))
V1=$TMP/v1
sample proserve__README-v1__my-service.yaml "$V1" "$P3"
mkdir -p "$V1/handlers" "$V1/static"
cat >"$V1/handlers/hello.py" <<'PY'
import os
async def main(request, service):
    return {"message": "hello from python", "method": request.method,
            "who": request.query.get("who"), "service": service.name,
            "api_key": os.environ.get("API_KEY"), "secret": os.environ.get("NOT_PASSED")}
PY
cat >"$V1/handlers/background.py" <<'PY'
def main(service):
    print("background tick for", service.name)
PY
cat >"$V1/handlers/echo.sh" <<'SH'
#!/bin/sh
read -r req
printf '{"shell":true,"got":%s}' "$req"
SH
cat >"$V1/handlers/sum.lua" <<'LUA'
return { sum = tonumber(request.path_params.a) + tonumber(request.path_params.b), path = request.path }
LUA
echo "static hello" >"$V1/static/hello.txt"
cat >>"$V1/manifest.yaml" <<YAML
  - path: /api/echo
    method: POST
    script: handlers/echo.sh
  - path: /api/sum/{a}/{b}
    method: GET
    script: handlers/sum.lua
YAML
# (appended endpoints must follow the endpoint list: move them into place)
python3 - "$V1/manifest.yaml" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
extra = lines[-7:-1]
rest = lines[:-7]
i = next(k for k, l in enumerate(rest) if l.startswith("endpoints:"))
j = i + 1
while j < len(rest) and (rest[j].startswith(" ") or rest[j] == ""):
    j += 1
while rest[j - 1] == "":
    j -= 1
open(p, "w").write("\n".join(rest[:j] + extra + rest[j:]) + "\n")
PY
sed -i 's/interval: 60/interval: 1/' "$V1/manifest.yaml"
printf 'FROM_DOTENV=dotenv-value\n' >"$V1/.env"
cat >>"$V1/manifest.yaml" <<'YAML'
environment:
  GREETING: hi there
YAML
cat >"$V1/handlers/env.sh" <<'SH'
printf '{"greeting":"%s","dotenv":"%s","home_user":"%s"}' "$GREETING" "$FROM_DOTENV" "${USER:-}"
SH
python3 - "$V1/manifest.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("endpoints:\n", "endpoints:\n  - path: /api/env\n    method: GET\n    script: handlers/env.sh\n", 1)
open(p, "w").write(s)
PY
run env API_KEY=k-123 NOT_PASSED=nope USER=someone "$S" apply -p p90c "$V1/manifest.yaml"
is "$rc" 0 "apply the v1 sample with handlers" || diag "$err"
wait_port "$P3"
out=$(get "$P3/api/hello?who=tests")
is "$(echo "$out" | jq -r .message)" "hello from python" "a Python async main(request, service) answers"
is "$(echo "$out" | jq -r '.method + " " + .who + " " + .service')" "GET tests my-awesome-service" "with the request and the service"
is "$(echo "$out" | jq -r .api_key)" "k-123" "env_vars passes the named host variable"
is "$(echo "$out" | jq -r .secret)" "null" "and no other"
out=$(get "$P3/api/env")
is "$(echo "$out" | jq -r .greeting)" "hi there" "environment sets values"
is "$(echo "$out" | jq -r .dotenv)" "dotenv-value" ".env is loaded as ProServe loads it"
is "$(echo "$out" | jq -r .home_user)" "" "environment_isolation: nothing else of the host"
is "$(curl -s -X POST -d '{"x":1}' "http://127.0.0.1:$P3/api/echo" | jq -c '.got.json')" '{"x":1}' "a shell handler gets the request as JSON on stdin"
out=$(get "$P3/api/sum/2/40")
is "$(echo "$out" | jq -S -c .)" '{"path":"/api/sum/2/40","sum":42}' "a Lua handler answers" || diag "$out"
like "$(curl -s -D - -o /dev/null "http://127.0.0.1:$P3/api/hello")" "Access-Control-Allow-Origin: \\*" "enable_cors adds CORS headers"
is "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "http://127.0.0.1:$P3/api/hello")" 204 "and answers preflights"
is "$(get "$P3/static/hello.txt")" "static hello" "static_dirs serves files"
is "$(code "$P3/static/../manifest.yaml")" 404 "and nothing outside"
is "$(code "$P3/static/%2e%2e/manifest.yaml")" 404 "not even encoded"
sleep "$(slow 2.5)"
like "$("$S" logs -p p90c)" "task .*background.py: background tick for my-awesome-service" "the background task runs, its output in logs"
m=$(get "$P3/metrics")
like "$m" 'proserve_requests_total\{method="GET",route="/api/hello",status="200"\} 2' "/metrics counts requests"
like "$m" "proserve_handler_timeouts_total 0" "and timeouts"

# ---- limits and what a handler sees ---------------------------------------------------------------
P4=$((BASE + 3))
L=$TMP/limits
mkdir -p "$L"
cat >"$L/mem.py" <<'PY'
def main(request, service):
    block = bytearray(300 * 1024 * 1024)
    return {"allocated": len(block)}
PY
cat >"$L/see.py" <<'PY'
import os, socket
def main(request, service):
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    wrote = []
    for path in ("/etc/proserve-test", os.path.dirname(__file__) + "/x", "/tmp/x", os.environ["TMPDIR"] + "/x"):
        try:
            open(path, "w").write("x")
            wrote.append(path)
        except OSError:
            pass
    try:  # the service's own port, beside it on its network
        socket.create_connection(("127.0.0.1", int(request.query["port"])), timeout=1).close()
        net = "open"
    except OSError:
        net = "blocked"
    return {"pids": len(pids), "uid": os.getuid(), "wrote": wrote, "net": net, "tmp": os.environ["TMPDIR"]}
PY
cat >"$L/manifest.yaml" <<YAML
name: limits
port: $P4
host: 127.0.0.1
enable_metrics: true
endpoints:
  - path: /loop
    shell_command: "while :; do :; done"
  - path: /ok
    response: {ok: true}
  - path: /mem
    script: mem.py
  - path: /see
    script: see.py
  - path: /fail
    shell_command: "echo broken >&2; exit 3"
isolation:
  mode: process
  timeout: $((1 * SLOW))
  memory_limit: 64M
  network_isolation: true
  filesystem_isolation: true
YAML
run "$S" apply -p p90d "$L/manifest.yaml"
is "$rc" 0 "apply a manifest with limits" || diag "$err"
wait_port "$P4"
curl -s -m $((10 * SLOW)) -o "$TMP/loop.out" -w '%{http_code}' "http://127.0.0.1:$P4/loop" >"$TMP/loop.code" &
loop=$!
sleep 0.2
t0=$(date +%s%N)
is "$(get "$P4/ok")" '{"ok":true}' "other requests are answered while a handler spins"
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt $((500 * SLOW)) ]
ok $? "at once ($(((t1 - t0) / 1000000)) ms)" || diag "$(((t1 - t0) / 1000000)) ms"
wait "$loop"
is "$(cat "$TMP/loop.code")" 504 "a handler stuck in a loop is killed at timeout: 504"
like "$(cat "$TMP/loop.out")" "timed out after ${SLOW}s" "with a JSON error"
out=$(get "$P4/mem")
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P4/mem")" 500 "a handler over memory_limit fails"
like "$out" "exceeded memory_limit \\(64 MiB\\) and was killed" "and is reported as killed"
out=$(get "$P4/fail")
like "$out" '"error":"handler failed with exit code 3"' "a failing handler is a 500 with its exit code"
like "$out" '"detail":"broken' "and its stderr"
out=$(get "$P4/see?port=$P4")
[ "$(echo "$out" | jq .pids)" -lt 20 ]
ok $? "a handler does not see host pids ($(echo "$out" | jq .pids) visible)" "$out"
[ "$(echo "$out" | jq .uid)" -ge 40000 ]
ok $? "it runs as a uid of its own ($(echo "$out" | jq .uid))" "$out"
is "$(echo "$out" | jq -c .wrote)" "[\"$(echo "$out" | jq -r .tmp)/x\"]" "it writes only in its own directory"
[ ! -e /etc/proserve-test ]
ok $? "nothing reached the host's /etc"
is "$(echo "$out" | jq -r .net)" blocked "network_isolation: not even the service's own port"
like "$(get "$P4/metrics")" "proserve_handler_timeouts_total 1" "/metrics counts the timeout"
like "$(get "$P4/metrics")" "proserve_handler_oom_kills_total [1-9]" "and the memory kills"

# ---- container isolation: a servos container per handler -----------------------------------------
P5=$((BASE + 5))
C=$TMP/ctr
mkdir -p "$C" "$TMP/bb/bin"
cp "$(command -v busybox)" "$TMP/bb/bin/busybox"
for app in sh cat ls hostname wc; do ln -s busybox "$TMP/bb/bin/$app"; done
echo "from the busybox image" >"$TMP/bb/proof"
cat >"$C/who.py" <<'PY'
import os, socket
def main(request, service):
    try:
        socket.create_connection(("127.0.0.1", int(request.query["port"])), timeout=1).close()
        net = "open"
    except OSError:
        net = "blocked"
    try:
        open("/etc/proserve-test", "w").write("x")
        wrote = True
    except OSError:
        wrote = False
    return {"pid": os.getpid(), "host": socket.gethostname(), "net": net, "wrote": wrote}
PY
cp "$L/mem.py" "$C/mem.py"
cat >"$C/manifest.yaml" <<YAML
name: ctr
port: $P5
host: 127.0.0.1
endpoints:
  - path: /who
    script: who.py
  - path: /mem
    script: mem.py
  - path: /loop
    shell_command: "while :; do :; done"
isolation:
  mode: container
  timeout: $((2 * SLOW))
  memory_limit: 64M
  network_isolation: true
  filesystem_isolation: true
YAML

cat >"$C/image.yaml" <<YAML
name: ctrimg
port: $((BASE + 6))
host: 127.0.0.1
endpoints:
  - path: /proof
    shell_command: "cat /proof"
isolation:
  mode: docker
  image: $TMP/bb
YAML
run "$S" apply -p p90f "$C"
is "$rc" 0 "apply a stack of two container-isolated services" || diag "$err"
wait_port "$P5"
a=$(get "$P5/who?port=$P5")
b=$(get "$P5/who?port=$P5")
is "$(echo "$a" | jq .pid)" 1 "a handler is pid 1 of a container of its own"
[ "$(echo "$a" | jq -r .host)" != "$(echo "$b" | jq -r .host)" ]
ok $? "a fresh container per request" "$a $b"
is "$(echo "$a" | jq -r .net)" blocked "network_isolation: no network"
is "$(echo "$a" | jq .wrote)" false "filesystem_isolation: a read-only root"
out=$(get "$P5/mem")
like "$out" "exceeded memory_limit \\(64 MiB\\) and was killed" "memory_limit is the container's: killed and reported"
is "$(code "$P5/loop")" 504 "a handler past timeout is killed: 504"
sleep "$(slow 0.5)"
is "$("$S" ls | grep -c -- "-ctr-h[0-9]")" 0 "no handler container is left"
wait_port "$((BASE + 6))"
is "$(get "$((BASE + 6))/proof")" "from the busybox image" "isolation.image is the handler's root file system"

# ---- load and shutdown ----------------------------------------------------------------------------
ab -q -n 200 -c 200 "http://127.0.0.1:$P/api/status" >"$TMP/ab.txt" 2>&1
like "$(cat "$TMP/ab.txt")" "Complete requests: +200" "200 concurrent requests to an inline endpoint"
like "$(cat "$TMP/ab.txt")" "Failed requests: +0" "all answered"
ab -q -n 200 -c 200 -p "$TMP/v1/handlers/echo.sh" "http://127.0.0.1:$P3/api/echo" >"$TMP/ab2.txt" 2>&1
like "$(cat "$TMP/ab2.txt")" "Complete requests: +200" "200 concurrent requests to a shell handler"
unlike "$(cat "$TMP/ab2.txt")" "Non-2xx responses" "all answered 200"

# A board mode whose runtime cannot be had here (an ESP32: no Xtensa
# compiler in Debian), told not to fall back: apply says why and starts
# nothing. tests/86-boards.t runs the board modes for real.
mkdir -p "$TMP/board"
printf 'name: board\nport: %s\nhost: 127.0.0.1\nisolation:\n  mode: arduino\n  board: esp32dev\n  fallback_on_platform_failure: false\n' "$((BASE + 4))" >"$TMP/board/manifest.yaml"
run "$S" apply -p p90e "$TMP/board/manifest.yaml"
[ "$rc" -ne 0 ] && matches "$err" "isolation.mode arduino: .*not available on this system: needs Espressif"
ok $? "a board mode that cannot run here, without fallback, fails with a clear message" "rc $rc" "$err"
is "$(code "$((BASE + 4))/health")" 000 "and serves nothing"

for st in p90a p90b p90c p90d p90f; do "$S" down -p "$st" >/dev/null 2>&1; done
is "$(code "$P/api/status")" 000 "down stops the service"
# Only this test's (its containers' cgroups are under its own parent).
CGP=$(cgroup_parent)
left=$(for p in $(pgrep -f 'proserve-host /.servos'); do grep -l "/$CGP/" "/proc/$p/cgroup" 2>/dev/null; done | wc -l)
is "$left" 0 "no service host is left"
done_testing
