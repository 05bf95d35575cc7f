#!/usr/bin/env bash
# The Envirofile DSL as the README describes it: handles, include, env
# and .env, the Enviro production example, directories as one stack, -p.
. "$(dirname "$0")/lib.sh"
cd "$TMP"

q() { jq -c "$1"; }

# The Enviro example: 4.0 / 8 GB / 10 in production, 1.0 / 1 GB / 1 otherwise.
run env ENV=production "$SERVOS" config "$ROOT/examples/enviro"
is "$(echo "$out" | q '.services["web-app"] | [.cpus, .memory, .replicas]')" "[4,8589934592,10]" "Enviro example in production: 4 CPUs, 8 GB, 10 replicas"
like "$out" '"cpus": 4.0' "cpus printed as a number with a fraction (4.0)"
run env -u ENV "$SERVOS" config "$ROOT/examples/enviro"
is "$(echo "$out" | q '.services["web-app"] | [.cpus, .memory, .replicas]')" "[1,1073741824,1]" "Enviro example otherwise: 1 CPU, 1 GB, 1 replica"

# Handles are readable and mutable; include is relative to the includer.
mkdir -p app/lib
cat >app/lib/common.lua <<'LUA'
local M = {}
function M.worker(name, n) return service(name) { command = "exec sleep 1000", replicas = n } end
return M
LUA
cat >app/Envirofile.lua <<'LUA'
local common = include "lib/common.lua"
local db = service "db" { command = { "sleep", "1000" }, memory = "512Mi" }
local w = common.worker("worker", 2)
w.replicas = w.replicas + 1
service "web" { env = { DB_HOST = db.host, DB_MEM = db.memory, WHO = tostring(db) },
                depends_on = { db.name } }
for i = 1, 3 do service("shard-" .. i) { command = "exec sleep " .. i } end
LUA
run "$SERVOS" config app
is "$rc" 0 "an Envirofile with include, loops and handles evaluates"
is "$(echo "$out" | q '.stack')" '"app"' "the stack is named after the directory by default"
is "$(echo "$out" | q '.services.worker.replicas')" 3 "a handle mutated after declaration (replicas 2 -> 3)"
is "$(echo "$out" | q '.services.web.env')" '{"DB_HOST":"db","DB_MEM":"512Mi","WHO":"db"}' "handles are readable (db.host, db.memory, tostring)"
is "$(echo "$out" | q '.services.web.depends_on')" '{"db":"started"}' "a list depends_on means started"
is "$(echo "$out" | q '.services | keys | length')" 6 "loops declare services"
is "$(echo "$out" | q '.services["shard-2"].command')" '["/bin/sh","-c","exec sleep 2"]' "a string command runs under /bin/sh -c"

run "$SERVOS" config -p other app
is "$(echo "$out" | q '.stack')" '"other"' "-p names the stack"
run "$SERVOS" config -p "bad name" app
is "$rc" 1 "-p with an invalid name fails"

# env(): host first, then the .env beside the Envirofile, then the default.
mkdir envdemo
printf 'FROM_FILE=file\nBOTH=file\n' >envdemo/.env
cat >envdemo/Envirofile.lua <<'LUA'
service "s" { env = { A = env("FROM_FILE"), B = env("BOTH"), C = env("NOPE", "dflt"),
                      D = env("NOPE") or "nil" } }
LUA
run env BOTH=host "$SERVOS" config envdemo
is "$(echo "$out" | q '.services.s.env')" '{"A":"file","B":"host","C":"dflt","D":"nil"}' "env() reads the host, then .env, then the default"

# env_file is read relative to the Envirofile; explicit env values win.
mkdir envfile
printf 'A=from-file\nB=from-file\n' >envfile/app.env
printf 'service "s" { env_file = "app.env", env = { B = "explicit" } }\n' >envfile/Envirofile.lua
run "$SERVOS" config envfile
is "$(echo "$out" | q '.services.s.env')" '{"A":"from-file","B":"explicit"}' "env_file values, overridden by env"
printf 'service "s" { env_file = "missing.env" }\n' >envfile/Envirofile.lua
run "$SERVOS" config envfile
like "$err" 'Envirofile.lua:1: service "s": env_file: .*missing.env: No such file' "a missing env_file is an error naming it"

# Files are read relative to the Envirofile, never written.
mkdir readdemo
echo "from a file" >readdemo/motd.txt
cat >readdemo/Envirofile.lua <<'LUA'
local f = io.open("motd.txt")
local first = f:read("l") f:close()
service "s" { env = { MOTD = read_file("motd.txt"):gsub("\n", ""), FIRST = first } }
LUA
run "$SERVOS" config readdemo
is "$(echo "$out" | q '.services.s.env.MOTD')" '"from a file"' "read_file is relative to the Envirofile"
is "$(echo "$out" | q '.services.s.env.FIRST')" '"from a file"' "io.open reads relative to the Envirofile"

# print goes to stderr so stdout stays JSON.
printf 'print("hello", 1)\nservice "s" {}\n' >printer.lua
run "$SERVOS" config printer.lua
is "$err" "hello	1" "print writes to stderr"
echo "$out" | jq -e . >/dev/null
ok $? "stdout stays valid JSON when the Envirofile prints"

# A directory is one stack: Envirofile.lua plus every YAML file.
mkdir mixed
printf 'stack "mixed-stack"\nvolume "data"\nservice "api" { volumes = { "data:/data" } }\n' >mixed/Envirofile.lua
printf 'services:\n  cache:\n    image: host\n    depends_on: [api]\n' >mixed/compose.yaml
printf 'name: hello\nport: 9000\nendpoints:\n  - path: /x\n    response: {a: 1}\n' >mixed/hello.yaml
run "$SERVOS" config mixed
is "$(echo "$out" | q '[.stack, (.services | keys)]')" '["mixed-stack",["api","cache","hello"]]' "a directory's Envirofile, Compose file and manifest form one stack"
is "$(echo "$out" | q '.services.cache.depends_on')" '{"api":"started"}' "a Compose service depends on an Envirofile service"

# Default file of the current directory.
(cd app && "$SERVOS" config -q)
ok $? "config without a path uses ./Envirofile.lua"
mkdir empty
run sh -c "cd empty && '$SERVOS' config"
like "$err" "no Envirofile.lua, servos.yaml or compose.yaml in the current directory" "an empty directory says what it looked for"

# Stable output: the same input twice gives the same bytes.
a=$("$SERVOS" config app | md5sum)
b=$("$SERVOS" config app | md5sum)
is "$a" "$b" "output is stable"

# Compose interpolation and .env.
mkdir comp
printf 'TAG=from-dotenv\n' >comp/.env
cat >comp/compose.yaml <<'YAML'
services:
  web:
    image: "img:${TAG}"
    command: echo "two words" $$HOME
    environment: [ "A=1", "PASS_THROUGH" ]
    ports: [ "${PORT:-8081}:80", { target: 81, published: 9091 } ]
    healthcheck: { test: ["CMD", "true"], interval: 500ms }
    deploy: { replicas: 2 }
    privileged: true
YAML
run env PASS_THROUGH=yes PORT=7000 "$SERVOS" config comp
is "$(echo "$out" | q '.services.web.image')" '"img:from-dotenv"' "Compose: \${VAR} from .env"
is "$(echo "$out" | q '.services.web.command')" '["echo","two words","$HOME"]' "Compose: string commands are split like a shell, \$\$ is a literal \$"
is "$(echo "$out" | q '.services.web.env')" '{"A":"1","PASS_THROUGH":"yes"}' "Compose: a bare name passes the host's value through"
is "$(echo "$out" | q '[.services.web.ports[] | [.host, .container]]')" '[[7000,80],[9091,81]]' "Compose: short and long port syntax"
is "$(echo "$out" | q '.services.web.healthcheck | [.test, .interval_ms]')" '[["true"],500]' "Compose: CMD healthcheck"
is "$(echo "$out" | q '.services.web.replicas')" 2 "Compose: deploy.replicas"
like "$err" 'warning: .*compose.yaml:9: service "web": "privileged" is not supported yet' "Compose: an unsupported key is a warning that names it"

# Networks, secrets and configs in an Envirofile: the same keys as Compose.
mkdir nets
printf 'TOKEN_FROM_DOTENV=t0\n' >nets/.env
printf 'pw\n' >nets/pw.txt
cat >nets/Envirofile.lua <<'LUA'
network "back" { internal = true }
network "front"
secret "pw" { file = "pw.txt" }
secret "token" { environment = "TOKEN_FROM_DOTENV" }
config "motd" { content = "hi" }
service "db" { networks = { back = { aliases = { "database" } } }, secrets = { "pw" },
               configs = { { source = "motd", target = "/etc/motd", mode = "0400", uid = 7 } } }
service "web" { networks = { "front", "back" }, ports = { "8080:80" }, secrets = { "token" },
                container_name = "the-web", extra_hosts = { "x.test:192.0.2.1" },
                sysctls = { ["net.ipv4.ip_unprivileged_port_start"] = 0 } }
LUA
run "$SERVOS" config nets
is "$rc" 0 "Envirofile: network, secret and config" || diag "$err"
is "$(echo "$out" | q '.networks')" '{"back":{"internal":true},"front":{"internal":false}}' "Envirofile: networks, internal or not"
is "$(echo "$out" | q '.services.db.networks')" '{"back":{"aliases":["database"]}}' "Envirofile: a service's networks with aliases"
is "$(echo "$out" | q '.services.db.configs[0] | [.target, .mode, .uid]')" '["/etc/motd","0400",7]' "Envirofile: a config's target, mode and owner"
is "$(echo "$out" | q '.services.web.secrets[0].target')" '"/run/secrets/token"' "Envirofile: a secret at /run/secrets/NAME"
is "$(echo "$out" | q '.secrets')" "{\"pw\":{\"file\":\"$TMP/nets/pw.txt\"},\"token\":{\"environment\":\"TOKEN_FROM_DOTENV\"}}" "Envirofile: secrets from a file and from .env, by source"
unlike "$out" '"t0"|"pw\\n"' "Envirofile: no secret's content in the output"
is "$(echo "$out" | q '.services.web | [.container_name, .extra_hosts[0].ip, .sysctls["net.ipv4.ip_unprivileged_port_start"]]')" '["the-web","192.0.2.1","0"]' "Envirofile: container_name, extra_hosts, sysctls"
done_testing
