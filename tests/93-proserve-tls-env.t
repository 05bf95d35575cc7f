#!/usr/bin/env bash
# The rest of a ProServe manifest served for real: TLS (a manifest's own
# certificate made with openssl and checked with curl --cacert, the
# self-signed provider, a wrong key an error at apply, client
# certificates, wss), ENV=production applying the production block with
# deployment.replicas sharing the port, static_files and static_hosting,
# shell_commands with converters and shell_config, api_proxy_rules to
# another service of the stack. Every stack is brought down.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd openssl
PY=/usr/bin/python3
STACKS="p93a p93b p93c p93d p93e"
cleanup() {
    for st in $STACKS; do "$S" down -v -t 0 -p "$st" >/dev/null 2>&1; done
}
wait_url() { for _ in $(seq $((100 * SLOW))); do curl -sk -m 1 -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }

# ---- TLS with the manifest's own certificate -------------------------------------------------
T=$TMP/tls
mkdir -p "$T/certs"
cd "$T/certs"
openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 30 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 30 -subj /CN=other 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=clients 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=alice 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 30 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.crt -days 30 -subj /CN=rogue 2>/dev/null
chmod 600 ./*.key # as keys are kept: the container's root could not read them as they are
cd "$TMP"
PT=$(free_port)
cat >"$T/manifest.yaml" <<YAML
name: secure
port: $PT
host: 127.0.0.1
enable_tls: true
tls_cert: certs/server.crt
tls_key: certs/server.key
endpoints:
  - path: /hello
    response: {hello: tls}
websockets:
  - path: /echo
    handler: echo
YAML
run "$S" apply -p p93a "$T/manifest.yaml"
is "$rc" 0 "apply a manifest with tls_cert and tls_key" || diag "$err"
wait_url "https://127.0.0.1:$PT/health"
is "$(curl -s --cacert "$T/certs/server.crt" "https://127.0.0.1:$PT/hello")" '{"hello":"tls"}' \
    "curl --cacert the manifest's certificate: HTTPS answers"
is "$(curl -s --cacert "$T/certs/server.crt" "https://localhost:$PT/hello")" '{"hello":"tls"}' "by name too"
curl -s -o /dev/null "https://127.0.0.1:$PT/hello"
is "$?" 60 "a client that does not trust it refuses it (curl: 60)"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PT/hello")" 000 "no plain HTTP on the TLS port"
out=$(timeout 20 $PY "$ROOT/tests/helpers/ws-client.py" echo "wss://127.0.0.1:$PT/echo" "$T/certs/server.crt" 2>&1)
is "$(echo "$out" | sort -u)" same "wss:// echoes through the same certificate" || diag "$out"

# A key that is not the certificate's: an error at apply, naming the files.
sed -e "s/server.key/other.key/" -e "s/port: $PT/port: $(free_port)/" -e 's/name: secure/name: wrongkey/' \
    "$T/manifest.yaml" >"$T/wrong.yaml"
run "$S" apply -p p93b "$T/wrong.yaml"
is "$rc" 1 "a wrong tls_key fails apply"
like "$err" 'service "wrongkey": tls_cert .*server.crt, tls_key .*other.key: the key is not the certificate.s' \
    "saying which files and what is wrong" || diag "$err"

# Client certificates: tls_ca_cert.
PM=$(free_port)
sed -e "s/port: $PT/port: $PM/" -e 's/name: secure/name: mutual/' "$T/manifest.yaml" >"$T/mtls.yaml"
echo "tls_ca_cert: certs/ca.crt" >>"$T/mtls.yaml"
mkdir -p "$T/m" && mv "$T/mtls.yaml" "$T/m/manifest.yaml" && cp -r "$T/certs" "$T/m/"
run "$S" apply -p p93c "$T/m/manifest.yaml"
is "$rc" 0 "apply with tls_ca_cert" || diag "$err"
wait_url "https://127.0.0.1:$PM/health"
c() { curl -s -o /dev/null -w '%{http_code}' --cacert "$T/certs/server.crt" "$@" "https://127.0.0.1:$PM/hello"; }
is "$(c)" 403 "no client certificate: 403"
is "$(c --cert "$T/certs/client.crt" --key "$T/certs/client.key")" 200 "one the CA signed: 200"
is "$(c --cert "$T/certs/rogue.crt" --key "$T/certs/rogue.key")" 403 "one it did not sign: 403"

# ---- the self-signed provider -------------------------------------------------------------------
PS=$(free_port)
mkdir -p "$TMP/self"
printf 'name: selfsig\nport: %s\nhost: 127.0.0.1\nenable_tls: true\ntls_provider: selfsigned\ndomain: api.test\nendpoints:\n  - {path: /hi, response: {hi: there}}\n' \
    "$PS" >"$TMP/self/manifest.yaml"
run "$S" apply -p p93d "$TMP/self/manifest.yaml"
is "$rc" 0 "apply tls_provider: selfsigned" || diag "$err"
wait_url "https://127.0.0.1:$PS/health"
CERT=$SERVOS_ROOT/volumes/stacks/p93d/.tls-selfsig/cert.pem
[ -f "$CERT" ] && [ "$(stat -c %a "$CERT")" = 400 ]
ok $? "its certificate is made at the first start, kept in the stack's state, root's alone"
is "$(curl -s --cacert "$CERT" "https://127.0.0.1:$PS/hi")" '{"hi":"there"}' "curl --cacert it: HTTPS answers"
like "$(openssl x509 -in "$CERT" -noout -text)" "DNS:api.test, DNS:localhost, IP Address:127.0.0.1" \
    "for the domain, localhost and 127.0.0.1"
sum=$(sha256sum <"$CERT")
"$S" down -p p93d >/dev/null 2>&1
"$S" apply -p p93d "$TMP/self/manifest.yaml" >/dev/null 2>&1
is "$(sha256sum <"$CERT")" "$sum" "down and up keep it (down -v ends it)"
printf 'name: le\nenable_tls: true\ntls_provider: letsencrypt\n' >"$TMP/self/le.yaml"
run "$S" config "$TMP/self/le.yaml"
like "$err" "tls_provider: letsencrypt needs an ACME exchange" "letsencrypt is a clear error"

# ---- ENV=production: the block, and replicas sharing the port ----------------------------------
E=$TMP/env
mkdir -p "$E/site/app" "$E/files"
PE=$(free_port) PU=$(free_port)
echo '<p>app</p>' >"$E/site/index.html"
echo 'body{}' >"$E/site/app/style.css"
echo 'User-agent: *' >"$E/files/robots.txt"
cat >"$E/web.yaml" <<YAML
name: web
port: $PE
host: 127.0.0.1
endpoints:
  - path: /mode
    response: {mode: development}
  - path: /who
    shell_command: hostname
  - path: /table
    shell_command: listing
  - path: /kv
    shell_command: "printf 'a=1\\\\nb = two\\\\n'"
    converter: keyvalue
  - path: /env
    shell_command: 'echo "\$GREETING from \$(pwd)"'
shell_commands:
  - name: listing
    command: "printf 'NAME SIZE NOTE\\\\nalpha 1 first one\\\\nbeta 22 second\\\\n'"
    converter: cols
converters:
  cols: {type: table}
shell_config:
  env: {GREETING: hello}
  working_dir: site
static_files:
  /robots.txt: files/robots.txt
static_hosting:
  path: site
  spa_fallback: true
  cache_max_age: 60
api_proxy_rules:
  - path: /users
    target: http://users:$PU
    headers: {X-Via: web}
production:
  endpoints:
    - path: /mode
      response: {mode: production}
    - path: /who
      shell_command: hostname
  deployment:
    replicas: 3
YAML
cat >"$E/users.yaml" <<YAML
name: users
port: $PU
host: 127.0.0.1
endpoints:
  - path: /users/{id}
    response: {id: "{{id}}"}
  - path: /users/echo
    method: POST
    shell_command: cat
    converter: json
YAML
run env ENV=production "$S" apply -p p93e "$E"
is "$rc" 0 "ENV=production servos apply" || diag "$err"
wait_url "http://127.0.0.1:$PE/health"
is "$(curl -s "http://127.0.0.1:$PE/mode")" '{"mode":"production"}' "the production block applies"
is "$("$S" ps -p p93e | grep -c '^web ')" 3 "deployment.replicas runs three replicas"
hosts=$(for _ in $(seq 30); do curl -s "http://127.0.0.1:$PE/who"; echo; done | sort -u | wc -l)
[ "$hosts" -ge 2 ]
ok $? "they share the port: 30 requests reach $hosts replicas"
# The block's endpoint list replaced the manifest's: /kv is no endpoint
# there, so the single-page app answers it.
is "$(curl -s "http://127.0.0.1:$PE/kv")" "<p>app</p>" "a list in the block replaces the manifest's"
run env -u ENV "$S" apply -p p93e "$E"
is "$rc" 0 "apply again in development" || diag "$err"
for _ in $(seq 50); do [ "$("$S" ps -p p93e | grep -c '^web ')" = 1 ] && break; sleep 0.1; done
is "$("$S" ps -p p93e | grep -c '^web ')" 1 "back to one replica"
wait_url "http://127.0.0.1:$PE/mode"
is "$(curl -s "http://127.0.0.1:$PE/mode")" '{"mode":"development"}' "the manifest as written"
is "$(curl -s "http://127.0.0.1:$PE/table")" '[{"NAME":"alpha","SIZE":"1","NOTE":"first one"},{"NAME":"beta","SIZE":"22","NOTE":"second"}]' \
    "a shell_commands entry with its table converter (the last column takes the rest)"
is "$(curl -s "http://127.0.0.1:$PE/kv")" '{"a":"1","b":"two"}' "the keyvalue converter"
is "$(curl -s "http://127.0.0.1:$PE/env")" "hello from $E/site" "shell_config: env and working_dir"
is "$(curl -s "http://127.0.0.1:$PE/robots.txt")" "User-agent: *" "static_files serves a file at its URL"
is "$(curl -s "http://127.0.0.1:$PE/")" "<p>app</p>" "static_hosting serves the site's index"
is "$(curl -s "http://127.0.0.1:$PE/app/style.css")" "body{}" "and its files"
is "$(curl -s "http://127.0.0.1:$PE/some/client/route")" "<p>app</p>" "spa_fallback: an unknown path is the app's"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PE/missing.js")" 404 "but not a missing file"
like "$(curl -s -D - -o /dev/null "http://127.0.0.1:$PE/")" "Cache-Control: public, max-age=60" "cache_max_age"
is "$(curl -s "http://127.0.0.1:$PE/users/42")" '{"id":"42"}' "api_proxy_rules: to another service by name"
out=$(curl -s -X POST -d '{"x":1}' "http://127.0.0.1:$PE/users/echo?q=a%20b")
is "$(echo "$out" | jq -c '[.json, .query.q, .headers["X-Via"], .headers["X-Forwarded-Host"]]')" \
    "[{\"x\":1},\"a b\",\"web\",\"127.0.0.1:$PE\"]" "with the body, the query, the rule's headers and X-Forwarded-*"
"$S" down -p p93e >/dev/null 2>&1
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PE/health")" 000 "down stops them"
done_testing
