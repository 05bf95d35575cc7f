#!/usr/bin/env bash
# Stack networks end to end: names resolve inside a stack, published ports
# answer on the host and spread over replicas, stacks cannot reach each
# other, "none" has no route, and nothing of a network outlives its stack
# (down, supervisor crash, kill -9 of everything). All traffic stays on
# 127.0.0.1 and inside the namespaces these stacks make.
. "$(dirname "$0")/lib.sh"
use_containers
cleanup() {
    for st in t75 t75b t75c; do "$S" down -v -t 0 -p "$st" >/dev/null 2>&1; done
}
# busybox wget's own -T segfaults (Debian 1.35), so timeout(1) bounds it.
# after run: the request failed on its own (not a crash) and got no page
unreachable() { [ "$rc" -ne 0 ] && [ "$rc" -ne 139 ] && ! printf %s "$out" | grep -q "web-\|stack-b"; }
fetch() { timeout 3 busybox wget -q -O - "$1" 2>&1; }
ps_json() { "$S" ps --format json -p "$1"; }
sup_pid() { grep -o "supervisor of stack $1 (pid [0-9]*)" "$SERVOS_ROOT/stacks/$1/supervisor.log" | tail -1 | grep -o '[0-9]*)' | tr -d ')'; }
# The host's links but port links (svp…): other servos runs on this host may
# come and go with theirs; the stack's own is checked by its recorded name.
links() { ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v '^svp' | sort | tr '\n' ' '; }
mounts_under_root() { grep -c " $SERVOS_ROOT/" /proc/self/mountinfo; }
LINKS0=$(links)
ROUTES0=$(ip route | sort | tr '\n' ';')
P1=$(free_port) P2=$(free_port)
D=$TMP/a
mkdir -p "$D" "$TMP/b"
cd "$D" || exit 1

cat >Envirofile.lua <<LUA
stack "t75"
local web = service "web" {
  command = "mkdir -p /tmp/www && echo \$HOSTNAME > /tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www",
  replicas = 2,
  ports = { "$P1:80" },
  healthcheck = { test = "busybox wget -q -O /dev/null http://127.0.0.1/", interval = "200ms", retries = 50 },
  stop_grace_period = "1s",
}
service "client" {
  command = "busybox wget -q -O - http://web/ && busybox wget -q -O - http://" .. web.host .. "-2/ && exec sleep 1000",
  depends_on = { web = "healthy" },
  stop_grace_period = "1s",
}
service "lonely" {
  command = "exec sleep 1000",
  network = "none",
  stop_grace_period = "1s",
}
LUA

run "$S" up -d
is "$rc" 0 "up -d: a stack with a network" || diag "$err"
sleep 0.5
run "$S" logs client
like "$out" "client-1 +\| web-[12]" "client fetched http://web/ by the service's name" || diag "$out"
like "$out" "client-1 +\| web-2" "client fetched web-2 by replica name (web.host .. \"-2\")"
run "$S" exec -p t75 client getent ahostsv4 web
is "$(echo "$out" | awk '{print $1}' | sort -u | wc -l)" 2 "\"web\" resolves to both replicas' addresses" || diag "$out"
run "$S" exec -p t75 client cat /etc/hosts
like "$out" "client-1 client" "a replica's own hostname resolves"
like "$out" "web-1 web" "replicas are listed by NAME-N and service name"
addr1=$(ps_json t75 | jq -r '.[] | select(.service=="web" and .replica==1) | .address')
like "$addr1" '^10\.[0-9]+\.0\.[0-9]+$' "ps shows each replica's address ($addr1)"
is "$(ps_json t75 | jq -r '.[] | select(.service=="web" and .replica==1) | .ports[0]')" "127.0.0.1:$P1->80/tcp" "ps shows the published port"

# The host reaches the service only through the published port.
seen=""
for _ in $(seq 12); do seen="$seen $(fetch "http://127.0.0.1:$P1/")"; done
like "$seen" "web-1" "published port reaches web-1"
like "$seen" "web-2" "published port reaches web-2 (connections are spread)"
ss -Hltn "sport = :$P1" | grep -q "127.0.0.1:$P1"
ok $? "the port listens on 127.0.0.1 by default"
# The one link a stack adds to the host carries the published ports' fast
# path (engine/net/pubnat.h): it has no address and no route, and connections
# to 127.0.0.1 take it instead of the relay.
why=$(grep -o 'published ports are relayed in userspace: .*' "$SERVOS_ROOT/stacks/t75/supervisor.log")
if [ -n "$why" ]; then # an older kernel, or no libbpf: the relay carries all
    is "$(links)" "$LINKS0" "no bridge or veth appears in the host's namespace"
    skip "the port link: ${why#*: }"
    skip "the kernel's path: ${why#*: }"
else
    # Other servos runs on this host may add port links of their own: the
    # stack's is the one it records; nothing else of it may appear.
    extra=$(cat "$SERVOS_ROOT/stacks/t75/portlink" 2>/dev/null)
    others=$(ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v -x -F -f <(echo "$LINKS0" | tr ' ' '\n' | grep .) | grep -v '^svp')
    like "$extra:$others" '^svp[0-9a-f]{10}:$' "no bridge or veth of the stack appears in the host's namespace, only the port link ($extra)"
    ip link show dev "$extra" >/dev/null 2>&1
    ok $? "the port link is on the host"
    is "$(ip -o addr show dev "$extra" 2>&1)" "" "the port link has no address, not even IPv6 link-local"
    rx0=$(cat "/sys/class/net/$extra/statistics/rx_packets" 2>/dev/null || echo 0)
    fetch "http://127.0.0.1:$P1/" >/dev/null
    rx1=$(cat "/sys/class/net/$extra/statistics/rx_packets" 2>/dev/null || echo 0)
    [ "$rx1" -gt "$rx0" ]
    ok $? "a connection to 127.0.0.1 goes through the kernel, not the relay" "packets on the port link: $rx0 -> $rx1"
fi
is "$(ip route | sort | tr '\n' ';')" "$ROUTES0" "no route to the stack appears on the host"
! ip addr | grep -q "${addr1%.*}\."
ok $? "the host has no address on the stack's subnet"

# none: loopback only, no route anywhere.
run "$S" exec -p t75 lonely cat /proc/net/route
is "$(echo "$out" | wc -l)" 1 "network = \"none\": an empty routing table"
run "$S" exec -p t75 lonely timeout 2 busybox wget -q -O - "http://$addr1/"
unreachable
ok $? "network = \"none\" cannot reach the stack"

# A second stack, published on 0.0.0.0 when asked; stacks cannot reach each other.
cat >"$TMP/b/Envirofile.lua" <<LUA
stack "t75b"
service "web" {
  command = "mkdir -p /tmp/www && echo stack-b > /tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www",
  ports = { "0.0.0.0:$P2:80" },
  stop_grace_period = "1s",
}
LUA
SERVOS_PORT_RELAY=1 run "$S" up -d "$TMP/b/Envirofile.lua" # its ports: the userspace relay
is "$rc" 0 "a second stack comes up" || diag "$err"
grep -q "relayed in userspace: SERVOS_PORT_RELAY" "$SERVOS_ROOT/stacks/t75b/supervisor.log"
ok $? "SERVOS_PORT_RELAY=1 keeps its ports on the relay"
ss -Hltn "sport = :$P2" | grep -q "0.0.0.0:$P2"
ok $? "\"0.0.0.0:P:80\" listens on every address"
is "$(fetch "http://127.0.0.1:$P2/")" stack-b "the second stack answers on its own port"
addrb=$(ps_json t75b | jq -r '.[0].address')
[ "${addrb%.*.*}" != "${addr1%.*.*}" ]
ok $? "each stack has its own subnet ($addr1, $addrb)"
run "$S" exec -p t75 client timeout 2 busybox wget -q -O - "http://$addrb/"
unreachable
ok $? "stack t75 cannot reach stack t75b" "$out"
run "$S" exec -p t75b web timeout 2 busybox wget -q -O - "http://$addr1/"
unreachable
ok $? "stack t75b cannot reach stack t75" "$out"
transit="${addr1%.*.*}.255.254"
run "$S" exec -p t75 client timeout 2 busybox wget -q -O - "http://$transit:$P2/"
unreachable
ok $? "a replica cannot reach the host through the port link ($transit)" "$out"

# A port taken by another stack: a clear error, the stack left as it was.
mkdir -p "$TMP/c"
cat >"$TMP/c/Envirofile.lua" <<LUA
stack "t75c"
service "web" { command = "exec sleep 1000", ports = { "$P1:80" } }
LUA
run "$S" up -d "$TMP/c/Envirofile.lua"
[ "$rc" -ne 0 ]
ok $? "publishing a taken port fails"
like "$err" "cannot publish port 127.0.0.1:$P1.*in use" "the error names the port" || diag "$err"
"$S" down -p t75c >/dev/null 2>&1
sed -i 's|ports = .*|ports = { "53:53/udp" } }|' "$TMP/c/Envirofile.lua"
run "$S" up -d "$TMP/c/Envirofile.lua"
like "$err" "only TCP ports can be published" "a UDP port is refused clearly" || diag "$err"
"$S" down -p t75c >/dev/null 2>&1

# Scale: names follow the replicas.
run "$S" scale -p t75 web=3
is "$rc" 0 "scale web to 3" || diag "$err"
run "$S" exec -p t75 client getent hosts web-3
is "$rc" 0 "web-3 resolves once it exists"
run "$S" scale -p t75 web=1
sleep 0.3
run "$S" exec -p t75 client getent hosts web-2
[ "$rc" -ne 0 ]
ok $? "web-2's name goes with it" "$out"
seen=""
for _ in $(seq 4); do seen="$seen $(fetch "http://127.0.0.1:$P1/")"; done
is "$(echo $seen | tr ' ' '\n' | sort -u | tr '\n' ' ')" "web-1 " "the port now reaches only the remaining replica"

# A supervisor crash: the network stays, the new supervisor publishes again.
kill -9 "$(sup_pid t75)"
sleep 0.2
run "$S" exec -p t75 client timeout 2 busybox wget -q -O - http://web/
is "$out" web-1 "replicas still talk by name while no supervisor runs"
run fetch "http://127.0.0.1:$P1/"
[ "$rc" -ne 0 ]
ok $? "with no supervisor the port is closed: its kernel path went with it" "$out"
run "$S" ps -p t75
like "$(fetch "http://127.0.0.1:$P1/")" '^web-[12]$' "after re-adoption the port answers again"

# down: nothing of either network is left.
run "$S" down -p t75b
is "$rc" 0 "down t75b"
! ss -Hltn "sport = :$P2" | grep -q .
ok $? "t75b's port is closed"

# kill -9 of everything, then up and down.
pids=$(ps_json t75 | jq -r '.[] | select(.state=="running") | .pid')
kill -9 "$(sup_pid t75)" $pids
sleep 0.3
run "$S" up -d
is "$rc" 0 "after kill -9 of everything, up converges" || diag "$err"
like "$(fetch "http://127.0.0.1:$P1/")" '^web-[12]$' "and the port answers"
portlink=$(cat "$SERVOS_ROOT/stacks/t75/portlink" 2>/dev/null)
httpds=$(ps_json t75 | jq -r '.[] | select(.service=="web" and .state=="running") | .pid')
run "$S" down -p t75
is "$rc" 0 "down t75"
! ss -Hltn "sport = :$P1" | grep -q .
ok $? "no listening socket is left"
is "$(mounts_under_root)" 0 "no network namespace stays pinned"
! [ -e "$SERVOS_ROOT/stacks/t75" ]
ok $? "the stack directory is gone"
is "$(links)" "$LINKS0" "the host's links are as before"
! { [ -n "$portlink" ] && ip link show dev "$portlink" >/dev/null 2>&1; }
ok $? "the port link is gone"
left=0
for p in $httpds; do gone "$p" || left=1; done
[ -n "$httpds" ] && [ "$left" = 0 ]
ok $? "no httpd is left" "web pids recorded: ${httpds:-none}; one still runs: $left"

done_testing
