#!/usr/bin/env bash
# Compose as projects write it, end to end with real containers: two
# networks (one internal) with an alias, a secret and a config, a
# database-like service behind a healthcheck, container_name, sysctls,
# extra_hosts, init and tty. Checked from the host through the published
# port and between services (who reaches whom, by name and by address),
# through a supervisor crash, and torn down with nothing left.
. "$(dirname "$0")/lib.sh"
use_containers
cleanup() {
    "$S" down -v -t 0 -p t72 >/dev/null 2>&1
    remove_containers
}
# busybox wget's own -T segfaults (Debian 1.35), so timeout(1) bounds it.
fetch() { timeout 3 busybox wget -q -O - "$1" 2>&1; }
ps_json() { "$S" ps --format json -p t72; }
addr_of() { ps_json | jq -r ".[] | select(.service==\"$1\") | .address"; }
sup_pid() { grep -o "supervisor of stack t72 (pid [0-9]*)" "$SERVOS_ROOT/stacks/t72/supervisor.log" | tail -1 | grep -o '[0-9]*)' | tr -d ')'; }
links() { ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v '^svp' | sort | tr '\n' ' '; }
LINKS0=$(links)
PORT=$(free_port)
SECRET="pw-$RANDOM-$RANDOM-never-shown"
D=$TMP/proj
mkdir -p "$D"
cd "$D" || exit 1
printf '%s\n' "$SECRET" >db_password.txt

# db: a small "database" (httpd) on the internal network only, healthy once
# it answers; api: on both networks, published, depends on db; edge: on
# front only; lonely: no network at all.
cat >compose.yaml <<YAML
name: t72
services:
  db:
    image: host
    container_name: t72-database
    command: sh -c 'mkdir -p /tmp/www && echo db-data > /tmp/www/index.html && exec busybox httpd -f -p 5432 -h /tmp/www'
    networks:
      back:
        aliases: [database]
    secrets:
      - source: db_password
        target: db_pw
        uid: "1000"
        gid: 1000
        mode: 0400
    sysctls:
      net.core.somaxconn: 1000
    healthcheck:
      test: ["CMD", "busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5432/"]
      interval: 200ms
      retries: 50
    stop_grace_period: 1s
  api:
    image: host
    command: sh -c 'mkdir -p /tmp/www && busybox wget -q -O /tmp/www/index.html http://database:5432/ && exec busybox httpd -f -p 80 -h /tmp/www'
    networks: [front, back]
    ports: ["$PORT:80"]
    secrets: [db_password]
    configs:
      - source: motd
        target: /etc/motd
    depends_on:
      db:
        condition: service_healthy
    platform: linux/$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
    stop_grace_period: 1s
  edge:
    image: host
    command: sh -c 'tty > /tmp/tty; exec sleep 1000'
    networks: [front]
    cap_add: [NET_ADMIN]
    extra_hosts: ["registry.test:192.0.2.7"]
    init: true
    tty: true
    runtime: runc
    stop_grace_period: 1s
  lonely:
    image: host
    command: sleep 1000
    network_mode: none
    extra_hosts: { mirror.test: "192.0.2.8" }
    sysctls: ["kernel.msgmax=12345"]
    init: true
networks:
  front: {}
  back:
    internal: true
secrets:
  db_password:
    file: ./db_password.txt
configs:
  motd:
    content: "welcome to t72"
YAML

run "$S" config
is "$rc" 0 "config: the project loads" || diag "$err"
unlike "$out$err" "$SECRET" "config never shows the secret's content"
is "$(echo "$out" | jq -c '.secrets.db_password')" "{\"file\":\"$D/db_password.txt\"}" "config shows where the secret comes from"
is "$(echo "$out" | jq -c '.networks')" '{"back":{"internal":true},"front":{"internal":false}}' "config: the stack's networks"
unlike "$err" 'networks|container_name|secrets|configs|sysctls|extra_hosts|platform|init|tty' "none of the supported keys is warned about" || diag "$err"
like "$err" 'compose.yaml:[0-9]+: service "edge": runtime "runc" is not used' "runtime is a warning that names it"

run "$S" up -d
is "$rc" 0 "up -d: two networks, a secret, a healthcheck" || diag "$err"

# From the host: the published port, which reached db by its alias (api
# has no healthcheck: up returns before its httpd listens).
page() { local p="" i; for i in $(seq 50); do p=$(fetch "http://127.0.0.1:$PORT/") && [ "$p" = db-data ] && break; sleep "$(slow 0.1)"; done; echo "$p"; }
is "$(page)" db-data "the host reaches api on its published port (api fetched db by its alias)"

# Who reaches whom.
db_ip=$(addr_of db)
like "$db_ip" '^172\.(1[6-9]|2[0-9]|3[01])\.' "db has an address on its own network ($db_ip)"
run "$S" exec -p t72 api sh -c "busybox wget -q -O - http://db:5432/ && busybox wget -q -O - http://t72-database:5432/"
is "$out" "db-data
db-data" "api (on both networks) reaches db by service name and container name" || diag "$err"
run "$S" exec -p t72 edge sh -c 'busybox wget -q -O - http://api/'
is "$out" db-data "edge reaches api on the network they share"
run "$S" exec -p t72 edge getent hosts db
[ "$rc" -ne 0 ] && [ -z "$out" ]
ok $? "edge (front only) cannot resolve db (back only)" "rc=$rc out=$out"
run "$S" exec -p t72 edge sh -c "timeout 2 busybox wget -q -O - http://$db_ip:5432/"
[ "$rc" -ne 0 ] && ! matches "$out" db-data
ok $? "edge cannot reach db by its address" "rc=$rc out=$out"
# Even with NET_ADMIN and a route of its own through the bridge.
run "$S" exec -p t72 edge sh -c "ip route add ${db_ip%.*.*}.0.0/16 via $(addr_of edge | sed 's/\.[0-9]*\.[0-9]*$//').0.1 && timeout 2 busybox wget -q -O - http://$db_ip:5432/"
[ "$rc" -ne 0 ] && ! matches "$out" db-data
ok $? "edge with NET_ADMIN and a route through the gateway still cannot reach db" "rc=$rc out=$out $err"
run "$S" exec -p t72 db sh -c 'cat /etc/hosts'
unlike "$out" 'edge' "db's /etc/hosts does not name edge (no shared network)"
like "$out" 'db-1 db t72-database database' "db answers to its name, container_name and alias"

# The secret and the config.
run "$S" exec -p t72 db sh -c 'cat /run/secrets/db_pw; stat -c "%a %u %g" /run/secrets/db_pw; echo x >/run/secrets/db_pw'
like "$out" "^$SECRET\$" "db reads its secret at /run/secrets/TARGET" || diag "$out $err"
like "$out" '^400 1000 1000$' "the secret has the mode and owner given, inside the user namespace"
like "$err" 'Read-only file system' "the secret is read-only"
run "$S" exec -p t72 api sh -c 'stat -c "%a %u" /run/secrets/db_password; cat /etc/motd'
is "$out" "444 0
welcome to t72" "short syntax: /run/secrets/NAME, 0444, root's; a config at its target"
host_file=$(find "$SERVOS_ROOT/binds/t72" -name '*db_password' | head -1)
run su nobody -s /bin/sh -c "cat '$host_file'"
[ "$rc" -ne 0 ] && ! matches "$out" "$SECRET"
ok $? "another host user cannot read the secret's file" "$out"
unlike "$(ps_json) $("$S" logs -p t72 2>&1) $(cat "$SERVOS_ROOT/stacks/t72/supervisor.log")" "$SECRET" "ps, logs and the supervisor's log never show the secret"

# container_name, sysctls, extra_hosts, init, tty.
is "$("$S" exec -p t72 db hostname)" t72-database "container_name is the hostname"
"$S" ls | grep -q ' t72-database '
ok $? "container_name is the container's name in servos ls"
is "$("$S" exec -p t72 db cat /proc/sys/net/core/somaxconn)" 1000 "a net.* sysctl is set in the container"
is "$("$S" exec -p t72 lonely cat /proc/sys/kernel/msgmax)" 12345 "an IPC sysctl is set in the container"
like "$("$S" exec -p t72 edge cat /etc/hosts)" '192.0.2.7	registry.test' "extra_hosts on a stack network"
like "$("$S" exec -p t72 lonely cat /etc/hosts)" '192.0.2.8	mirror.test' "extra_hosts without a network"
is "$("$S" exec -p t72 edge cat /proc/1/cmdline | tr '\0' ' ' | awk '{print $1}')" servos-init "init: servos' init is pid 1"
is "$("$S" exec -p t72 edge cat /tmp/tty)" /dev/pts/0 "tty: the command has a terminal of its own"
run "$S" scale -p t72 db=2
like "$err" 'container_name "t72-database", which names one container' "scale refuses a second replica of a container_name service"

# A supervisor crash: the next command adopts the stack, its networks too.
kill -9 "$(sup_pid)"
api_ip=$(addr_of api)
run "$S" restart -p t72 api
is "$rc" 0 "api restarts under a new supervisor" || diag "$err"
[ "$(addr_of api)" != "$api_ip" ]
ok $? "its new address is not its old one ($api_ip -> $(addr_of api))"
is "$(page)" db-data "the published port answers again, api reaching db"

run "$S" down -v -t 0 -p t72
is "$rc" 0 "down" || diag "$err"
is "$(links)" "$LINKS0" "no bridge or veth is left on the host"
[ ! -e "$SERVOS_ROOT/stacks/t72" ] && [ ! -e "$SERVOS_ROOT/binds/t72" ]
ok $? "the stack's files, hosts files and secrets are gone"
is "$(grep -c " $SERVOS_ROOT/" /proc/self/mountinfo)" 0 "no mount is left"
done_testing
