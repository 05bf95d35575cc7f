#!/usr/bin/env bash
# ProServe WebSockets served for real, driven by real clients: Debian's
# python3-websockets (what a user's client does) and tests/helpers/
# ws-probe.py (RFC 6455 frame by frame: fragments, pings, close codes, and
# the frames a client must never send). Echo handlers in Python, shell and
# Lua kept running per connection, and the built-in echo and broadcast;
# on_connect / on_disconnect; a broadcast task reaching every client; 500
# concurrent clients each with its own handler process, all gone after;
# the v1 README sample's own handlers. Every stack is brought down.
. "$(dirname "$0")/lib.sh"
use_containers
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || skip_all "python3-websockets is not installed (make deps)"
STACKS="p92a p92b p92c"
cleanup() {
    for st in $STACKS; do "$S" down -t 0 -p "$st" >/dev/null 2>&1; done
}
CLIENT="$PY $ROOT/tests/helpers/ws-client.py"
PROBE="$PY $ROOT/tests/helpers/ws-probe.py"
P=$(free_port)
wait_port() { for _ in $(seq $((100 * SLOW))); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/health" && return 0; sleep 0.05; done; return 1; }

W=$TMP/ws
mkdir -p "$W"
cat >"$W/pyecho.py" <<'PY'
async def handle_websocket(ws, data, service):
    if data == "who":
        return {"path": ws.request.path, "room": ws.request.query.get("room"), "service": service.name}
    if data == "bye":
        await ws.close(4001, "asked to")
        return None
    return data
PY
cat >"$W/shecho.sh" <<'SH'
# one JSON message a line, each way
while read -r line; do
    case $line in
    '"exit"') exit 3 ;;
    '"all"') printf '{"$broadcast":"from %s"}\n' "$$" ;;
    *) printf '%s\n' "$line" ;;
    esac
done
SH
cat >"$W/luaecho.lua" <<'LUA'
return function(msg, ws)
  if msg == "twice" then ws.send("one"); return "two" end
  return msg
end
LUA
cat >"$W/manifest.yaml" <<YAML
name: sockets
port: $P
host: 127.0.0.1
enable_metrics: true
endpoints:
  - path: /api/status
    response: {ok: true}
websockets:
  - path: /echo
    handler: echo
  - path: /chat
    handler: broadcast
    on_connect: {message: "User connected"}
    on_disconnect: {message: "User disconnected"}
  - path: /py
    script: pyecho.py
  - path: /sh
    script: shecho.sh
  - path: /lua
    script: luaecho.lua
YAML
# A broadcast task goes to every client of the service: a service of its
# own, so that it does not cross the checks above.
mkdir -p "$W/feed"
PF=$(free_port)
cat >"$W/feed/manifest.yaml" <<YAML
name: feed
port: $PF
host: 127.0.0.1
websockets:
  - path: /feed
    handler: echo
background_tasks:
  - shell_command: "echo '{\"tick\":true}'"
    interval: 0.5
    broadcast: true
YAML
run "$S" apply -p p92a "$W/manifest.yaml"
is "$rc" 0 "apply a manifest with WebSockets" || diag "$err"
run "$S" apply -p p92c "$W/feed/manifest.yaml"
is "$rc" 0 "and one with a broadcast task" || diag "$err"
wait_port "$P" || diag "$("$S" logs -p p92a)"
wait_port "$PF"

# ---- echo in every kind of handler: text, JSON text, binary, non-ASCII ---------------------
for path in echo py sh lua; do
    out=$(timeout 30 $CLIENT echo "ws://127.0.0.1:$P/$path" 2>&1)
    is "$(echo "$out" | sort -u)" same "/$path echoes text, JSON, binary and UTF-8 as they came" || diag "$out"
done
is "$(timeout 20 $CLIENT send "ws://127.0.0.1:$P/py?room=blue" who)" \
    '{"path": "/py", "room": "blue", "service": "sockets"}' \
    "a Python handler sees the request it connected with, and the service"
is "$(timeout 20 $CLIENT send "ws://127.0.0.1:$P/lua" twice)" one "a Lua handler sends with ws.send"
is "$(timeout 20 $CLIENT first "ws://127.0.0.1:$PF/feed" 3)" "message: {\"tick\":true}" \
    "a broadcast task's output reaches a connected client"

# ---- RFC 6455 frame by frame ---------------------------------------------------------------------
probe() { timeout 20 $PROBE "$P" "$1" "$2" 2>&1; }
is "$(probe /echo fragments)" "pong mid | text fragmented" "a message in three fragments, a ping between them"
is "$(probe /sh fragments)" "pong mid | text fragmented" "the same through a shell handler"
is "$(probe /echo ping)" "pong are you there" "a ping gets its pong, with its payload"
is "$(probe /echo close)" "close 1000 | eof" "a close is answered with its code, then the server ends TCP"
is "$(probe /echo close-4000)" "close 4000" "an application's close code comes back"
is "$(probe /echo unmasked)" "close 1002" "an unmasked client frame is a protocol error (1002)"
is "$(probe /echo rsv)" "close 1002" "reserved bits with no extension: 1002"
is "$(probe /echo bad-utf8)" "close 1007" "text that is not UTF-8: 1007"
is "$(probe /echo bad-close-code)" "close 1002" "a close code no one may send (1005): 1002"
is "$(probe /echo big-control)" "close 1002" "a control frame over 125 bytes: 1002"
is "$(probe /echo stray-continuation)" "close 1002" "a continuation with no message: 1002"
is "$(probe /echo too-big)" "close 1009" "a frame over 1 MiB: 1009"
is "$(probe /echo big-fragments)" "close 1009" "a message over 1 MiB in fragments: 1009"
is "$(probe /sh large)" "binary 524288" "512 KiB through a handler and back"
is "$(probe /py ping)" "pong are you there" "pings are the server's to answer, not the handler's"

# Handler ends: its code says how the connection closes.
out=$(timeout 20 $PY - "$P" <<'PY'
import asyncio, sys, websockets
async def main(port):
    for path, msg in (("/py", "bye"), ("/sh", "exit")):
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}") as ws:
            await ws.send(msg)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as e:
                print(path, e.rcvd.code, e.rcvd.reason)
asyncio.run(main(int(sys.argv[1])))
PY
)
like "$out" "^/py 4001 asked to" "a Python handler closes with ws.close(code, reason)"
like "$out" "^/sh 1011 the handler failed" "a handler that exits 3 closes the connection with 1011"

# ---- the handshake's errors ------------------------------------------------------------------------
hs() { curl -s -o /dev/null -w '%{http_code}' -m 10 "$@"; }
is "$(hs "http://127.0.0.1:$P/echo")" 426 "a WebSocket's path fetched as a page: 426 Upgrade Required"
like "$(curl -s -D - -o /dev/null "http://127.0.0.1:$P/echo")" "Upgrade: websocket" "saying how"
is "$(hs -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 8' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "http://127.0.0.1:$P/echo")" 426 \
    "an old protocol version: 426 (with the version we speak)"
is "$(hs -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: short' "http://127.0.0.1:$P/echo")" 400 "a bad Sec-WebSocket-Key: 400"
is "$(curl -s "http://127.0.0.1:$P/api/status")" '{"ok":true}' "HTTP endpoints answer beside them"

# ---- chat: broadcast, on_connect, on_disconnect ------------------------------------------------
out=$(timeout 30 $CLIENT chat "ws://127.0.0.1:$P/chat" 2>&1)
is "$out" "$(printf 'a: {"message":"User connected"}\na: {"message":"User connected"}\nb: {"message":"User connected"}\na: hi all\nb: hi all\na: {"message":"User disconnected"}')" \
    "on_connect reaches everyone, a message reaches everyone, on_disconnect the rest"
out=$(timeout 30 $CLIENT listen "ws://127.0.0.1:$PF/feed" 200 5 2>&1)
is "$out" '200/200 got {"tick":true}' "a broadcast task reaches all of 200 idle clients"

# ---- 500 concurrent clients, a handler process each ------------------------------------------
CGP=$(cgroup_parent)
handlers() { find /sys/fs/cgroup/ -path "*/$CGP/*" -type d -name 'h[0-9]*' 2>/dev/null | wc -l; }
t0=$(date +%s)
out=$(timeout 120 $CLIENT many "ws://127.0.0.1:$P/sh" 500 100 2>&1)
is "$out" "500/500 echoed" "500 concurrent clients, each with a shell handler kept running" || diag "$out"
diag "500 connections and echoes in $(($(date +%s) - t0)) s"
for _ in $(seq $((100 * SLOW))); do [ "$(handlers)" -eq 0 ] && break; sleep 0.1; done
is "$(handlers)" 0 "every handler's cgroup is gone once its client left"
out=$(timeout 120 $CLIENT many "ws://127.0.0.1:$P/lua" 500 100 2>&1)
is "$out" "500/500 echoed" "500 concurrent clients with a Lua handler each"
m=$(curl -s "http://127.0.0.1:$P/metrics")
like "$m" "proserve_websocket_connections_total [0-9]{4}" "/metrics counts WebSocket connections"
like "$m" "proserve_websocket_messages_received_total [0-9]+" "and messages"
like "$("$S" logs -p p92a)" "ws /echo closed 1000 after" "logs show each connection's end"

# ---- the v1 README sample, its handlers as the README writes them ------------------------------
V1=$TMP/v1
P1=$(free_port)
mkdir -p "$V1"
cp -r "$ROOT"/tests/data/proserve-manifests/{handlers,static,assets} "$V1"/
sed -e "s/^port: .*/port: $P1/" -e 's/^host: 0.0.0.0/host: 127.0.0.1/' -e 's/interval: 60/interval: 1/' \
    "$ROOT/tests/data/proserve-manifests/proserve__README-v1__my-service.yaml" >"$V1/manifest.yaml"
run "$S" apply -p p92b "$V1/manifest.yaml"
is "$rc" 0 "apply the v1 README sample" || diag "$err"
wait_port "$P1"
is "$(curl -s "http://127.0.0.1:$P1/api/hello")" '{"message":"Hello from ProServe!","service":"my-awesome-service"}' \
    "handle_request(request, service) with service.manifest.name, as the README writes it"
out=$(timeout 20 $PY - "$P1" <<'PY'
import asyncio, json, sys, websockets
async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send(json.dumps({"action": "ping"}))
        got = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
        print(" ".join(sorted(m.get("action") or m.get("status") for m in got)))
asyncio.run(main(int(sys.argv[1])))
PY
)
is "$out" "completed pong" "handle_websocket(ws, data, service) answers a ping, the broadcast task reaches it"
sleep "$(slow 1)"
like "$("$S" logs -p p92b)" "INFO Background task executed" "service.logger writes to the logs"

for st in $STACKS; do "$S" down -p "$st" >/dev/null 2>&1; done
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/health")" 000 "down stops the service"
left=$(for p in $(pgrep -f 'proserve-host /.servos'); do grep -l "/$CGP/" "/proc/$p/cgroup" 2>/dev/null; done | wc -l)
is "$left" 0 "no service host is left"
done_testing
