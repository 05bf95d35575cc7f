#!/usr/bin/env bash
# ProServe manifests read strictly, as `servos config` shows it (typos of
# every block are in tests/bad/, run by 40-bad-inputs.t): each key of
# ProServe's format that servos does not serve is a warning naming it and
# its line, the served ones are silent; development/production blocks by
# PROSERVE_ENV or ENV; deployment into replicas and limits; type; two
# services on one host port; a proxy upstream that is no service.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
mkdir -p m/handlers m/site
echo 'def main(request, service): return {}' >m/handlers/h.py
echo '<p>site</p>' >m/site/index.html

# ---- every unserved key warns, with its line ---------------------------------------------
cat >m/manifest.yaml <<'YAML'
name: warned
framework: fastapi
framework_config: {workers: 4}
proxy_server: nginx
proxy_config: {listen: 80}
proserve_url: http://proserve.local
requires_edpmt: true
edpmt_url: http://edpmt.local
enable_tracing: true
ssl_context: default
grpc_port: 50051
grpc_services: [{name: greeter}]
proto_files: [greeter.proto]
device_config: {pins: [1, 2]}
wifi_config: {ssid: home}
automation_rules: [{when: x}]
monitoring: {prometheus: true}
metrics: {path: /m}
health: {path: /h}
logging: {level: debug}
database: {url: postgres://db}
cdn_resources: [{url: x}]
middleware: {auth: true}
security: {rate_limit: 10}
dependencies: {db: required}
init_module: setup
isolation:
  mode: process
  auto_environment: true
  force_environment: python3.11
  libraries: [WiFi]
YAML
run "$SERVOS" config m/manifest.yaml
is "$rc" 0 "a manifest of unserved keys still loads"
n=0
for want in 2:framework 3:framework_config 4:proxy_server 5:proxy_config 6:proserve_url \
    7:requires_edpmt 8:edpmt_url 9:enable_tracing 10:ssl_context 11:grpc_port 12:grpc_services \
    13:proto_files 14:device_config 15:wifi_config 16:automation_rules 17:monitoring 18:metrics \
    19:health 20:logging 21:database 22:cdn_resources 23:middleware 24:security \
    25:dependencies 26:init_module; do
    line=${want%%:*} key=${want#*:}
    matches "$err" "^servos: warning: m/manifest.yaml:$line: $key: not served by servos \(" || {
        fail "warning for $key at line $line" "$err"
        continue
    }
    n=$((n + 1))
done
is "$n" 25 "each of the 25 unserved top-level keys is a warning naming it, with its line"
like "$err" 'manifest.yaml:29: isolation: auto_environment: not served' "isolation.auto_environment warns"
like "$err" 'manifest.yaml:30: isolation: force_environment: not served' "isolation.force_environment warns"
like "$err" 'manifest.yaml:31: isolation.libraries: only the board modes .* ignored for mode process' \
    "libraries outside a board mode warns"

# Defaults ask for nothing: no warning; served keys are silent.
cat >m/manifest.yaml <<'YAML'
name: quiet
version: 2.0.0
description: all served
type: hybrid
requires_proserve: true
requires_edpmt: false
framework: python
proxy_server: none
enable_tracing: false
enable_cors: true
cors_origins: ["https://app.example"]
enable_metrics: true
environment: {A: "1"}
env_vars: [HOME]
endpoints:
  - {path: /h, method: GET, script: handlers/h.py}
  - {path: /disk, shell_command: disk}
websocket_handlers: [{path: /ws, handler: echo}]
websockets: [{path: /chat, handler: broadcast, on_connect: {message: hi}}]
background_tasks: [{shell_command: "echo tick", interval: 5, broadcast: true}]
shell_commands: [{name: disk, command: "df -P", converter: df}]
converters: {df: {type: table}}
shell_config: {shell: /bin/sh, timeout: 5, env: {LC_ALL: C}}
static_files: {/robots.txt: site/index.html}
static_hosting: {path: site, spa_fallback: true, index: index.html, cache_max_age: 60}
deployment: {replicas: 2, resources: {memory: 128M, cpus: 0.5}}
isolation: {mode: process, timeout: 10, fallback_on_platform_failure: true}
YAML
run "$SERVOS" config m/manifest.yaml
is "$rc" 0 "a manifest using every served block loads" || diag "$err"
is "$err" "" "with no warning"
is "$(echo "$out" | jq -c '.services.quiet | [.replicas, .memory, .cpus]')" '[2,134217728,0.5]' \
    "deployment: replicas and resources become the service's"
is "$(echo "$out" | jq -r '.services.quiet.proserve.endpoints[1].run.command')" "df -P" \
    "a shell_command names a shell_commands entry"
is "$(echo "$out" | jq -c '.services.quiet.proserve.endpoints[1].run.convert')" '{"type":"table"}' \
    "with its converter"
is "$(echo "$out" | jq -r '.services.quiet.proserve.websockets[0].run.builtin')" broadcast \
    "handler: broadcast is the built-in one"

# A Python name: a module beside the manifest, or a function of handler_module.
mkdir -p py/handlers
echo 'def chat(ws, data): return data' >py/handlers/rooms.py
echo 'async def handle_websocket(ws, data, service): return data' >py/chat_handler.py
printf 'name: py\nhandler_module: handlers.rooms\nwebsockets:\n  - {path: /a, handler: chat_handler}\n  - {path: /b, handler: chat}\n  - {path: /c, handler: handlers.rooms.chat}\n' >py/manifest.yaml
run "$SERVOS" config py/manifest.yaml
is "$(echo "$out" | jq -c '[.services.py.proserve.websockets[].run | (.target | sub(".*/py/"; "")) + ":" + (.function // "")]')" \
    '["chat_handler.py:","handlers/rooms.py:chat","handlers/rooms.py:chat"]' \
    "handler names: a module, a function of handler_module, module.function" || diag "$err"

# ${VAR} and $VAR as ProServe expands them: an unset $VAR stays (a shell
# command's own variable), an unset ${VAR} is empty.
printf 'name: i\nendpoints:\n  - {path: /a, shell_command: "for f in *; do echo $f $HOME ${NOPE}; done"}\n' >m/manifest.yaml
run env -u NOPE HOME=/home/x "$SERVOS" config m/manifest.yaml
is "$(echo "$out" | jq -r '.services.i.proserve.endpoints[0].run.command')" 'for f in *; do echo $f /home/x ; done' \
    "an unset \$VAR stays as written, a set one is expanded, an unset \${VAR} is empty"
like "$err" "variable NOPE is not set; using an empty string" "and the empty one is said"

# ---- environments ------------------------------------------------------------------------------
cat >m/manifest.yaml <<'YAML'
name: envs
port: 8100
deployment: {replicas: 1}
development:
  port: 8101
production:
  port: 8102
  deployment: {replicas: 3}
YAML
cfg() { env -u ENV -u PROSERVE_ENV "$@" "$SERVOS" config m/manifest.yaml | jq -c '.services.envs | [.ports[0].host, .replicas]'; }
is "$(cfg)" '[8101,1]' "development applies when neither ENV nor PROSERVE_ENV is set"
is "$(cfg ENV=production)" '[8102,3]' "ENV=production applies the production block"
is "$(cfg ENV=prod)" '[8102,3]' "prod means production"
is "$(cfg ENV=production PROSERVE_ENV=development)" '[8101,1]' "PROSERVE_ENV wins over ENV"
printf 'PROSERVE_ENV=production\n' >m/.env
is "$(cfg)" '[8102,3]' "PROSERVE_ENV from .env"
rm m/.env
run env ENV=staging "$SERVOS" config m/manifest.yaml
like "$err" 'manifest.yaml:6: ENV=staging is neither development nor production, so neither block applies' \
    "another environment is a warning that says so"
is "$(echo "$out" | jq -c '.services.envs.ports[0].host')" 8100 "and the manifest stands as written"

# ---- types ---------------------------------------------------------------------------------------
for t in http websocket hybrid static; do
    printf 'name: t\ntype: %s\n' "$t" >m/manifest.yaml
    run "$SERVOS" config m/manifest.yaml
    is "$rc" 0 "type: $t is served"
done
printf 'name: t\ntype: hybrid\ngrpc_port: 50051\n' >m/manifest.yaml
run "$SERVOS" config m/manifest.yaml
like "$err" 'manifest.yaml:3: grpc_port: type hybrid is served as HTTP and WebSockets; servos serves no gRPC' \
    "hybrid with a grpc_port says the gRPC part is not served"

# ---- across services ---------------------------------------------------------------------------
mkdir -p two
printf 'name: a\nport: 8200\n' >two/a.yaml
printf 'name: b\nport: 8200\n' >two/b.yaml
run "$SERVOS" config two
is "$rc" 1 "two services on one host port fail config"
like "$err" '^servos: two/b.yaml:1: service "b" publishes host port 8200, which service "a" publishes too \(at two/a.yaml:1\)' \
    "naming both, with their files" || diag "$err"
printf 'name: b\nport: 8200\nhost: 0.0.0.0\n' >two/b.yaml
run "$SERVOS" config two
is "$rc" 1 "0.0.0.0 takes the port on 127.0.0.1 too"
printf 'name: b\nport: 8201\napi_proxy_rules:\n  - {path: /a, target: "http://a:8200"}\n  - {path: /self, target: "http://127.0.0.1:9000"}\n' >two/b.yaml
run "$SERVOS" config two
is "$rc" 0 "a proxy to a service of the stack, or to loopback, loads" || diag "$err"
printf 'name: b\nport: 8201\napi_proxy_rules:\n  - {path: /a, target: "http://aa:8200"}\n' >two/b.yaml
run "$SERVOS" config two
like "$err" 'service "b": api_proxy_rules: /a: the target.s host "aa" is neither a service of this stack nor a loopback address' \
    "a proxy to no service of the stack fails config"
done_testing
