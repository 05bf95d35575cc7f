#!/usr/bin/env bash
# The dashboard in a real browser: Debian's chromium, headless, driven over
# the DevTools protocol by puppeteer-core (from npm, installed once into
# /var/cache/servos-test/puppeteer). A stack brought up through the API,
# the page loaded over TCP with the token typed into its form: the
# services and their states, a log line appearing live, a restart
# confirmed and the replica's new pid, a narrow screen. Screenshots are
# kept in build/test-artifacts/93-dashboard/.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd curl chromium node npm
PUPPETEER_DIR=/var/cache/servos-test/puppeteer
PUPPETEER_VERSION=24.43.1 # its engines: node >= 18, Debian 12's
ART=$ROOT/build/test-artifacts/93-dashboard
SOCK=$SERVOS_ROOT/servos.sock
cleanup() {
    [ -f "$SERVOS_ROOT/serve.pid" ] && kill "$(cat "$SERVOS_ROOT/serve.pid")" 2>/dev/null
    "$S" down -t 0 -p t93 >/dev/null 2>&1
}
if [ ! -f "$PUPPETEER_DIR/node_modules/puppeteer-core/package.json" ] ||
    ! grep -q "\"version\": \"$PUPPETEER_VERSION\"" "$PUPPETEER_DIR/node_modules/puppeteer-core/package.json"; then
    mkdir -p "$PUPPETEER_DIR"
    echo '{"name": "servos-test-puppeteer", "private": true}' >"$PUPPETEER_DIR/package.json"
    (cd "$PUPPETEER_DIR" && npm install --no-audit --no-fund --omit=dev \
        "puppeteer-core@$PUPPETEER_VERSION") >"$TMP/npm.log" 2>&1 ||
        skip_all "cannot install puppeteer-core from npm: $(tail -1 "$TMP/npm.log")"
fi
mkdir -p "$SERVOS_ROOT" "$ART"
rm -f "$ART"/*.png
umask 077
openssl rand -hex 32 >"$TMP/token"
umask 022
PORT=$(free_port)
run "$S" serve -d --listen "127.0.0.1:$PORT" --token-file "$TMP/token"
is "$rc" 0 "serve -d" || diag "$err"
cat >"$TMP/Envirofile.lua" <<'LUA'
stack "t93"
service "web" {
  command = "echo web-up; exec sleep 1000",
  replicas = 2, init = true, stop_grace_period = "1s",
}
service "ticker" {
  command = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.3; done",
  init = true, stop_grace_period = "1s",
}
LUA
code=$(curl -s -o "$TMP/apply.json" -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
    --data-binary @"$TMP/Envirofile.lua" http://localhost/v1/stacks/t93)
is "$code" 200 "the stack is up through the API" || diag "$(cat "$TMP/apply.json")"

PUPPETEER_DIR=$PUPPETEER_DIR timeout 120 node "$ROOT/tests/helpers/dashboard.js" \
    "http://127.0.0.1:$PORT/" "$(cat "$TMP/token")" t93 "$ART" >"$TMP/browser.out" 2>"$TMP/browser.err"
[ -s "$TMP/browser.out" ] || diag "$(tail -20 "$TMP/browser.err")"
while IFS= read -r line; do
    name=$(echo "$line" | jq -r .name)
    [ "$(echo "$line" | jq -r .ok)" = true ]
    ok $? "$name" "$(echo "$line" | jq -r .detail)"
done <"$TMP/browser.out"
n=$(ls "$ART"/*.png 2>/dev/null | wc -l)
[ "$n" -ge 5 ]
ok $? "screenshots kept in build/test-artifacts/93-dashboard ($n)"
done_testing
