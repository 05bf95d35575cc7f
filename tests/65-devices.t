#!/usr/bin/env bash
# Devices passed into containers: servos run --device, a service's devices
# (Envirofile and Compose). A pseudo-terminal pair stands in for a serial
# board (tests/helpers/serial-board.py: the board writes "board line N"
# on its side every 0.1 s, and keeps what arrives from the port); the tun
# device stands in for a node servos makes itself (a USB serial adapter's
# ttyUSB0 goes that way). Checked as a user sees it: what the container
# reads and writes, what the board receives, what is refused and how.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd python3
boards=""
cleanup() {
    local d
    for d in "$TMP/stack" "$TMP/compose"; do
        [ -d "$d" ] && (cd "$d" && "$S" down >/dev/null 2>&1)
    done
    remove_containers
    [ -z "$boards" ] || kill $boards 2>/dev/null
}

# start_board NAME: a new board, its port in $PORT, what it receives in
# $TMP/NAME.out. The port is as a pty is made: its maker's, mode 0600.
start_board() {
    "$ROOT/tests/helpers/serial-board.py" "$TMP/$1.out" 120 >"$TMP/$1.port" &
    boards="$boards $!"
    local i
    for i in $(seq 100); do
        [ -s "$TMP/$1.port" ] && break
        sleep 0.05
    done
    PORT=$(head -n1 "$TMP/$1.port")
    [ -c "$PORT" ] || bail_out "the board's port did not come ($PORT)"
}
received() { # received NAME TEXT: did board NAME get a line TEXT (within 2 s)?
    local i
    for i in $(seq 40); do
        grep -qx -- "$2" "$TMP/$1.out" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# --- a serial board on a pseudo-terminal --------------------------------------
start_board b1
# A user's first attempt: the port as it was made (the maker's, 0600).
run "$S" run --rm --device "$PORT:/dev/ttyUSB0" host sh -c 'head -n1 /dev/ttyUSB0'
like "$err" "warning: device $PORT is a pseudo-terminal, .* keep the container's user .* out; chmod o\+rw $PORT, or run with --userns host" \
    "a pseudo-terminal whose mode keeps container root out: servos says so, and what to do"
like "$err" "cannot open '/dev/ttyUSB0' for reading: Permission denied" "... and the container cannot open it"
chmod 666 "$PORT"
run "$S" run --rm --device "$PORT:/dev/ttyUSB0" host sh -c \
    'head -n1 /dev/ttyUSB0; echo hello-board > /dev/ttyUSB0 && echo sent'
[ "$rc" = 0 ] && matches "$out" '^board line [0-9]+$' && matches "$out" '^sent$'
ok $? "what the board writes is read in the container, and the container writes to it" \
    "rc $rc" "out: $out" "err: $err"
received b1 hello-board
ok $? "the board received the container's line" "got: $(cat "$TMP/b1.out")"
unlike "$err" warning "no warning once the port's mode lets the container in"
# socat's link=, udev's /dev/serial/by-id: a link to the port, here in a
# directory container root may not pass.
mkdir -m 700 "$TMP/private" && ln -s "$PORT" "$TMP/private/ttyV0"
run "$S" run --rm --device "$TMP/private/ttyV0:/dev/ttyUSB0" host head -n1 /dev/ttyUSB0
like "$rc $out" "^0 board line [0-9]+$" "a link to the port is followed, wherever it lives" || diag "$err"

run "$S" run --rm --device "$PORT:/dev/ttyUSB0" host sh -c \
    'ls /dev | tr "\n" " "; echo; ls /dev/pts | tr "\n" " "; echo; stat -c "%F %t:%T" /dev/ttyUSB0'
is "$(echo "$out" | head -n1)" "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty ttyUSB0 urandom zero " \
    "the container's /dev: the standard nodes and the device, nothing else of the host's"
is "$(echo "$out" | sed -n 2p)" "ptmx " "its /dev/pts is its own: none of the host's terminals"
is "$(echo "$out" | sed -n 3p)" "character special file $(stat -c %t:%T "$PORT")" \
    "/dev/ttyUSB0 is the board's port"

# Without --device: nowhere to be found, and not as a volume either.
run "$S" run --rm host sh -c "test -e $PORT && echo visible || echo absent"
is "$out" absent "without --device the port is not in the container"
run "$S" run --rm -v "$PORT:/dev/ttyUSB0" host true
[ "$rc" = 125 ] && matches "$err" "volume $PORT: the host's pseudo-terminals are not bound as volumes; pass one with --device"
ok $? "a pseudo-terminal as a volume is refused, pointing at --device" "rc $rc" "$err"
run "$S" run --rm -v /dev/pts:/hostpts host true
like "$rc $err" "^125 .*the host's pseudo-terminals are not bound as volumes" "... the host's whole /dev/pts too"

# r only: the policy cannot keep a pseudo-terminal read-only (the container's
# own terminals share its major number): refused, saying why.
run "$S" run --rm --device "$PORT:/dev/ttyUSB0:r" host true
[ "$rc" = 125 ] && matches "$err" "a pseudo-terminal goes in with rw or not at all"
ok $? "a pseudo-terminal with r only is refused, saying why" "rc $rc" "$err"
run "$S" run --rm --device "$PORT" host true
like "$rc $err" "^125 .*cannot go to $PORT: the container's own file system is mounted there \(say where it goes inside: $PORT:/dev/ttyUSB0\)" \
    "a pseudo-terminal with no path inside: the error says how to name one"

# A real Debian root: stty's termios calls on the port, and a user that is
# not root reads it too.
deb=$TMP/debian
if [ ! -s "${SERVOS_TEST_CACHE:-/var/cache/servos-test}/debian-minbase.tar" ] && ! command -v mmdebstrap >/dev/null; then
    skip "no Debian root: neither a cached one nor mmdebstrap (tests/vm's guest)" 2
elif out=$("$ROOT/tests/helpers/debian-rootfs.sh" "$deb" 2>"$TMP/helper.err"); then
    run "$S" run --rm --device "$PORT:/dev/ttyS1" "$deb" sh -c \
        'stty -F /dev/ttyS1 115200 raw -echo && stty -F /dev/ttyS1 speed && head -n1 /dev/ttyS1'
    [ "$rc" = 0 ] && matches "$out" '^115200$' && matches "$out" '^board line [0-9]+$'
    ok $? "in a Debian root: stty sets the port up and the board's lines are read" "rc $rc" "$out" "$err"
    run "$S" run --rm -u nobody --device "$PORT:/dev/ttyS1" "$deb" sh -c 'id -un; head -n1 /dev/ttyS1'
    like "$(echo "$out" | tr '\n' ' ')" "^nobody board line" "... as nobody too"
elif [ $? -eq 77 ]; then
    skip "no Debian root: $out" 2
else
    fail "the Debian root is made" "$(cat "$TMP/helper.err")"
fi

# --- a node servos makes: /dev/net/tun ----------------------------------------
probe='import os, sys
for flags, name in ((os.O_RDONLY, "r"), (os.O_RDWR, "rw")):
    try:
        os.close(os.open(sys.argv[1], flags)); print(name, "ok")
    except OSError as e:
        print(name, e.strerror)'
if [ -c /dev/net/tun ]; then
    run "$S" run --rm --device /dev/net/tun host sh -c \
        'stat -c "%F %t:%T %a %U" /dev/net/tun; python3 -c "$0" /dev/net/tun' "$probe"
    is "$(echo "$out" | tr '\n' ' ')" "character special file a:c8 666 nobody r ok rw ok " \
        "--device PATH: the node at the same path, rw for every user, owned by no one inside"
    run "$S" run --rm --device /dev/net/tun:/dev/tun0:r host sh -c \
        'python3 -c "$0" /dev/tun0; chmod 666 /dev/tun0 2>&1 | sed "s/.*: //"' "$probe"
    is "$(echo "$out" | tr '\n' ' ')" "r ok rw Permission denied Operation not permitted " \
        ":r opens for reading only, and no one inside can chmod the node"
    run "$S" run --rm --userns host --device /dev/net/tun:/dev/tun0:r host python3 -c "$probe" /dev/tun0
    is "$(echo "$out" | tr '\n' ' ')" "r ok rw Operation not permitted " \
        ":r under --userns host (container root is root): the device policy refuses the write"
    run "$S" run --rm -u nobody --device /dev/net/tun:/dev/tun0 host python3 -c "$probe" /dev/tun0
    is "$(echo "$out" | tr '\n' ' ')" "r ok rw ok " "a user other than root uses the device too"
    run "$S" run --rm --userns host -v /dev/net/tun:/dev/tun0 host python3 -c "$probe" /dev/tun0
    is "$(echo "$out" | tr '\n' ' ')" "r Operation not permitted rw Operation not permitted " \
        "without --device, the node bound as a volume does not open, even for host root (the policy)"

    # exec, and a restart by the monitor: the node is there each time.
    id=$("$S" run -d --device /dev/net/tun:/dev/tun0 host sleep 30)
    run "$S" exec "$id" python3 -c "$probe" /dev/tun0
    is "$(echo "$out" | tr '\n' ' ')" "r ok rw ok " "servos exec in a container with a device opens it too"
    "$S" rm -f "$id" >/dev/null
    id=$("$S" run -d --restart on-failure:1 --device /dev/net/tun:/dev/tun0 host \
        sh -c 'test -c /dev/tun0 && echo tun-there; exit 1')
    for _ in $(seq 60); do
        [ "$("$S" logs "$id" 2>/dev/null | grep -c tun-there)" -ge 2 ] && break
        sleep 0.1
    done
    is "$("$S" logs "$id" | grep -c tun-there)" 2 "restarted by its policy, the container has its device again"
    "$S" rm -f "$id" >/dev/null
else
    skip "no /dev/net/tun on this host" 8
fi

# --- bad inputs: said before anything starts, nothing left ---------------------
touch "$TMP/plain"
bins=("$S")
[ -x "$SERVOS_ASAN" ] && bins+=("$SERVOS_ASAN")
for bin in "${bins[@]}"; do
    tag=$([ "$bin" = "$S" ] && echo "" || echo "asan: ")
    run "$bin" run --rm --device /dev/ttyUSB-none host true
    [ "$rc" = 125 ] && matches "$err" "^servos: device /dev/ttyUSB-none: no such device node on this host \(a board that is not plugged in\? servos detect lists the boards it sees\)$"
    ok $? "${tag}a missing node is a clear error" "rc $rc" "$err"
    run "$bin" run --rm --device /dev/net host true
    [ "$rc" = 125 ] && matches "$err" "^servos: device /dev/net: is a directory; give each device node in it"
    ok $? "${tag}a directory is a clear error" "rc $rc" "$err"
    run "$bin" run --rm --device "$TMP/plain:/dev/x" host true
    [ "$rc" = 125 ] && matches "$err" "^servos: device $TMP/plain: not a device node \(a regular file\); a file goes in as a volume$"
    ok $? "${tag}a regular file is a clear error" "rc $rc" "$err"
    run "$bin" run --rm --device /dev/null:/dev/x:rwx host true
    [ "$rc" = 125 ] && matches "$err" 'permissions "rwx": expected r, w and m'
    ok $? "${tag}bad permissions are a clear error" "rc $rc" "$err"
    ! matches "$err" 'AddressSanitizer|LeakSanitizer|runtime error:'
    ok $? "${tag}no sanitizer report" "$err"
done
is "$("$S" ls -q | wc -l)" 0 "no container is left of the refused runs"

# --- a stack's service with devices -------------------------------------------
start_board b2
chmod 666 "$PORT"
mkdir -p "$TMP/stack" && cd "$TMP/stack" || exit 1
cat >Envirofile.lua <<EOF
stack "t65"
service "logger" {
  command = { "sh", "-c", "while read -r l < /dev/ttyUSB0; do echo \"got \$l\"; echo ack > /dev/ttyUSB0; sleep 0.2; done" },
  devices = { "$PORT:/dev/ttyUSB0" },
}
EOF
run "$S" config
like "$out" "\"source\": \"$PORT\"" "servos config shows the service's devices"
run "$S" up -d
is "$rc" 0 "up with a service that has a device" || diag "$err"
for _ in $(seq 60); do
    "$S" logs logger 2>/dev/null | grep -q "got board line" && break
    sleep 0.1
done
like "$("$S" logs logger)" "got board line [0-9]+" "the service reads the board: its lines are in servos logs"
received b2 ack
ok $? "and the board receives what the service writes"
run "$S" down
is "$rc" 0 "down"
cat >Envirofile.lua <<'EOF'
stack "t65"
service "logger" { command = "true", devices = { "/dev/ttyUSB-none" } }
EOF
run "$S" up -d
[ "$rc" -ne 0 ] && matches "$err" 'service "logger": device /dev/ttyUSB-none: no such device node on this host'
ok $? "up with a service whose device is missing: a clear error naming the service" "rc $rc" "$err"
"$S" down >/dev/null 2>&1
cd "$TMP" || exit 1

# Compose's long form: source, target, permissions.
if [ -c /dev/net/tun ]; then
    mkdir -p "$TMP/compose" && cd "$TMP/compose" || exit 1
    cat >compose.yaml <<'EOF'
name: t65c
services:
  net:
    image: host
    command: ["sh", "-c", "test -c /dev/tun0 && echo tun-there; python3 -c 'import os; os.open(\"/dev/tun0\", os.O_RDWR)' 2>&1 | tail -n1; sleep 30"]
    devices:
      - source: /dev/net/tun
        target: /dev/tun0
        permissions: r
EOF
    run "$S" up -d
    is "$rc" 0 "up of a Compose file with devices in the long form" || diag "$err"
    for _ in $(seq 60); do
        "$S" logs net 2>/dev/null | grep -q "Permission denied" && break
        sleep 0.1
    done
    logs=$("$S" logs net)
    like "$logs" "tun-there" "the Compose service has its device"
    like "$logs" "PermissionError.*Permission denied" "... read-only, as permissions: r says"
    "$S" down >/dev/null
    cd "$TMP" || exit 1
else
    skip "no /dev/net/tun on this host" 3
fi
done_testing
