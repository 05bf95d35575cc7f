#!/usr/bin/env bash
# Boards for real: the toolchain images (built from Debian's packages on
# the cached mmdebstrap base), and what runs in them: an Arduino sketch
# built with Debian's core and run in simavr (its serial lines, its LED's
# toggles), a bare-metal program in qemu-system-arm printing through
# semihosting, an aarch64 program under qemu-user, a MicroPython blink
# script's pin changes in simulated time; isolate's verdicts (timeout,
# oom, build failed), a stack's board service in servos logs, ProServe's
# micropython and arduino modes and their fallback, board monitor through
# a pseudo-terminal standing in for a board's port, and board flash to an
# Uno's bootloader played on one (avrdude writes, verifies, and the board
# holds the .hex's bytes).
#
# The toolchain images take minutes to build (apt, npm), so they live in
# a state root of their own kept under /var/cache/servos-test (rebuilt
# when missing); everything else the test makes there it removes.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd jq python3
CACHE=${SERVOS_TEST_CACHE:-/var/cache/servos-test}
mkdir -p "$CACHE"
chmod 711 "$CACHE" "$TMP"
exec 8>"$CACHE/.boards-root.lock"
flock 8 # one run at a time uses the cached root
export SERVOS_ROOT=$CACHE/boards-root
S=$SERVOS
BOARD_PID=

cleanup() {
    for p in boards86 boards86f b86-mpy b86-uno b86-esp b86-esp-strict; do
        "$S" down -p "$p" -t 0 >/dev/null 2>&1
    done
    [ -n "$BOARD_PID" ] && kill "$BOARD_PID" 2>/dev/null
    remove_containers
    rm -rf "$SERVOS_ROOT/boards/work"
}

# ---- the toolchain images --------------------------------------------------------------
if ! "$S" image ls | grep -q '^localhost/servos-toolchain-base:bookworm '; then
    if ! base=$("$ROOT/tests/helpers/debian-rootfs.sh" --tarball 2>"$TMP/helper.err"); then
        [ $? -eq 77 ] && skip_all "no Debian base: $base"
        bail_out "the Debian base cannot be made: $(cat "$TMP/helper.err")"
    fi
    run "$S" image import "$base" localhost/servos-toolchain-base:bookworm
    [ "$rc" -eq 0 ] || bail_out "the base does not import: $err"
fi
t0=$(date +%s)
if ! "$S" toolchain build avr cortex-m arm64 micropython >"$TMP/toolchains.log" 2>&1; then
    grep -q "Temporary failure\|Could not resolve\|ENOTFOUND\|EAI_AGAIN" "$TMP/toolchains.log" &&
        skip_all "the toolchain images cannot be built: no Debian mirror or npm registry"
    bail_out "the toolchain images do not build: $(tail -20 "$TMP/toolchains.log")"
fi
diag "toolchain images ready in $(($(date +%s) - t0)) s"
run "$S" toolchain ls
like "$out" '^avr +built ' "toolchain ls: avr is built"
like "$out" '^micropython +built .*localhost/servos-toolchain-micropython:' "... micropython too, with its image"
like "$out" '^xtensa +n/a .*needs Espressif' "... and xtensa cannot be: it says what it needs"
run "$S" toolchain build xtensa
[ "$rc" -ne 0 ] && matches "$err" "xtensa: not available on this system: needs Espressif's Xtensa compiler"
ok $? "toolchain build xtensa: not available on this system, and why" "rc $rc" "$err"
run "$S" isolate --board esp32dev "$ROOT/tests/86-boards.t"
[ "$rc" -ne 0 ] && matches "$err" "not available on this system: needs"
ok $? "isolate for an ESP32 board: the same reason, no stub" "rc $rc" "$err"

# ---- an Arduino sketch on uno, in simavr -------------------------------------------------
mkdir -p "$TMP/blink"
cat >"$TMP/blink/blink.ino" <<'EOF'
void setup() {
  Serial.begin(115200);
  pinMode(LED_BUILTIN, OUTPUT);
  Serial.println("hello from uno");
}

int n = 0;
void loop() {
  digitalWrite(LED_BUILTIN, HIGH);
  delay(100);
  digitalWrite(LED_BUILTIN, LOW);
  delay(100);
  report(n++);
}

void report(int v) { // defined after its use: the build declares it
  Serial.print("tick ");
  Serial.println(v);
}
EOF
run "$S" isolate --time 1s "$TMP/blink"
is "$rc" 0 "isolate of a sketch directory: built for uno in the AVR image, run in simavr" || diag "$err"
like "$out" '^hello from uno$' "its Serial.println lines come out"
like "$out" '^tick 3$' "... as the sketch loops"
pins=$(printf '%s\n' "$out" | grep -E '^\[ *[0-9.]+\] pin 13 \(PB5\) = [01]$')
[ "$(printf '%s\n' "$pins" | wc -l)" -ge 8 ]
ok $? "the LED pin's toggles are seen, each a timestamped line (pin 13 is PB5)" "$out"
gap=$(printf '%s\n' "$pins" | head -3 | tr -d '[]' | awk 'NR > 1 { d = $1 - last; printf "%.2f\n", d } { last = $1 }' | sort -u)
is "$gap" "0.10" "... 100 ms of simulated time apart, as delay(100) says"
like "$err" 'servos isolate: ok \(uno, avr' "the verdict: ok"
like "$err" 'Program: +[0-9]+ bytes' "the build's size report goes to stderr"

run "$S" board build -q "$TMP/blink"
is "$rc" 0 "board build of the sketch" || diag "$err"
[ -s "$TMP/blink/blink.hex" ] && [ -s "$TMP/blink/blink.elf" ] && head -c1 "$TMP/blink/blink.hex" | grep -q ':'
ok $? "blink.hex (Intel hex) and blink.elf are written into the sketch's directory" "$(ls -l "$TMP/blink")"
is "$(stat -c %u:%g "$TMP/blink/blink.hex")" "$(stat -c %u:%g "$TMP/blink")" "... owned as the sources are"
run "$S" board emulate --board uno --time 300ms "$TMP/blink/blink.elf"
[ "$rc" -eq 0 ] && matches "$out" '^hello from uno$' && ! matches "$out" 'tick 2'
ok $? "board emulate of the built firmware runs 300 ms of simulated time, no more" "$out" "$err"

# ---- Cortex-M (lm3s6965 in qemu-system-arm) and aarch64 (qemu-user) -----------------------
cat >"$TMP/cm.c" <<'EOF'
#include <stdio.h>
int counter = 41;
int main(void) {
  printf("hello from cortex-m3, counter %d\n", ++counter);
  return 3;
}
EOF
run "$S" isolate --board lm3s6965 "$TMP/cm.c"
is "$rc" 3 "a bare-metal C program on lm3s6965: its exit code comes back through semihosting" || diag "$err"
like "$out" '^hello from cortex-m3, counter 42$' "... its printf (and .data) through semihosting in qemu-system-arm"
like "$err" 'servos isolate: failed \(exit 3; lm3s6965, cortex-m' "... the verdict names the exit code"
printf '#include <stdio.h>\n#include <sys/utsname.h>\nint main(int c, char **v) { struct utsname u; uname(&u); printf("hello from %%s, %%d args\\n", u.machine, c - 1); return 0; }\n' >"$TMP/a64.c"
run "$S" isolate --board generic-arm64 "$TMP/a64.c" one two
is "$out" "hello from aarch64, 2 args" "an aarch64 C program, cross-built, runs under qemu-aarch64-static" || diag "$err"
run "$S" board build -q --board generic-arm64 "$TMP/a64.c"
is "$(od -An -tx1 -j18 -N2 "$TMP/a64" | tr -d ' ')" "b700" "board build writes the program beside the source: an aarch64 ELF"
run "$S" isolate "$TMP/a64"
is "$out" "hello from aarch64, 0 args" "isolate of that binary alone picks arm64 from its ELF header"
[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]
ok $? "the host's binfmt_misc has no qemu-aarch64 registration (qemu is called by name)"

# ---- MicroPython -------------------------------------------------------------------------
cat >"$TMP/blink.py" <<'EOF'
from machine import Pin, PWM
import time
led = Pin(25, Pin.OUT)
for i in range(2):
    led.on()
    time.sleep_ms(500)
    led.off()
    time.sleep(0.5)
PWM(Pin(15), freq=1000, duty_u16=32768)
print("done at", time.ticks_ms(), "ms")
EOF
run "$S" isolate -p micropython "$TMP/blink.py"
is "$rc" 0 "a MicroPython blink script runs on the MicroPython runtime" || diag "$err"
want='[   0.000000] pin 25 = 1
[   0.500000] pin 25 = 0
[   1.000000] pin 25 = 1
[   1.500000] pin 25 = 0
[   2.000000] pwm 15 freq=1000 duty_u16=32768
done at 2000 ms'
is "$out" "$want" "its pin changes come out with their (simulated) timing"
like "$err" 'ok \(rp2040, micropython' "... on rp2040, -p micropython's first board"

# ---- verdicts -----------------------------------------------------------------------------
printf 'while True:\n    pass\n' >"$TMP/loop.py"
run "$S" isolate --timeout 1s "$TMP/loop.py"
[ "$rc" -eq 124 ] && matches "$err" 'servos isolate: timeout'
ok $? "a script that loops forever ends with the timeout verdict (exit 124)" "rc $rc" "$err"
printf 'x = []\nwhile True:\n    x.append(bytearray(8 << 20))\n' >"$TMP/alloc.py"
run "$S" isolate --memory 64m "$TMP/alloc.py"
[ "$rc" -eq 137 ] && matches "$err" 'servos isolate: oom'
ok $? "one that allocates past --memory ends with oom (exit 137)" "rc $rc" "$err"
printf 'int main(void) { return nope; }\n' >"$TMP/bad.c"
run "$S" isolate --board uno "$TMP/bad.c"
[ "$rc" -ne 0 ] && matches "$err" "nope.*undeclared" && matches "$err" 'servos isolate: build failed'
ok $? "C that does not compile: the compiler's message, then build failed" "rc $rc" "$err"
cat >"$TMP/probe.py" <<'EOF'
import os, socket
open("written-inside", "w").write("x")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    print("network: yes")
except OSError:
    print("network: none")
print("GREETING=" + os.environ.get("GREETING", "-"))
EOF
printf 'GREETING=hi there\n' >"$TMP/probe.env"
run "$S" isolate -e "$TMP/probe.env" "$TMP/probe.py"
is "$out" "network: none
GREETING=hi there" "a Python script on this host: no network, -e's variables" || diag "$err"
[ ! -e "$TMP/written-inside" ]
ok $? "what it writes stays in its own copy, not beside the script"

# ---- bad inputs ---------------------------------------------------------------------------
run "$S" isolate --board unoo "$TMP/blink"
[ "$rc" -ne 0 ] && matches "$err" 'unknown board "unoo" \(did you mean "uno"\?\)'
ok $? "an unknown board is an error with a suggestion" "$err"
run "$S" isolate --board lm3s6965 "$TMP/blink"
[ "$rc" -ne 0 ] && matches "$err" "an Arduino sketch builds for the AVR boards"
ok $? "a sketch for an ARM board says what it builds for" "$err"
printf 'echo hi\n' >"$TMP/x.sh"
run "$S" isolate -p micropython "$TMP/x.sh"
[ "$rc" -ne 0 ] && matches "$err" "a shell script runs on this host's platform"
ok $? "a shell script for MicroPython is refused, saying where it runs" "$err"
run "$S" isolate --board rp2040 --platform arduino "$TMP/blink.py"
[ "$rc" -ne 0 ] && matches "$err" "board rp2040 is of platform micropython, not arduino"
ok $? "a board and a platform that disagree" "$err"

# ---- a stack's board service ---------------------------------------------------------------
mkdir -p "$TMP/stack"
cp -r "$TMP/blink" "$TMP/stack/blink"
cat >"$TMP/stack/Envirofile.lua" <<'EOF'
stack "boards86"
service "uno" { board = "uno", build = "./blink" }
EOF
run sh -c "cd '$TMP/stack' && '$S' up -d"
is "$rc" 0 "up of a stack with a board = \"uno\" service" || diag "$err"
logs=""
for _ in $(seq 100); do
    logs=$(cd "$TMP/stack" && "$S" logs uno 2>&1)
    matches "$logs" 'tick 2' && break
    sleep 0.1
done
like "$logs" 'uno-1 +\| hello from uno' "servos logs shows its serial output"
like "$logs" 'uno-1 +\| \[ *[0-9.]+\] pin 13 \(PB5\) = 1' "... and its LED's toggles"
run sh -c "cd '$TMP/stack' && '$S' ps --format json"
is "$(printf '%s' "$out" | jq -r '.[0].state')" running "ps: the firmware is the service's running process"
run sh -c "cd '$TMP/stack' && '$S' down -t 5"
is "$rc" 0 "down stops it" || diag "$err"
is "$("$S" ls -q | wc -l)" 0 "... and nothing of it is left"

# ---- ProServe's board modes ---------------------------------------------------------------
port_mpy=$(free_port)
mkdir -p "$TMP/b86-mpy/handlers"
cat >"$TMP/b86-mpy/manifest.yaml" <<EOF
name: mpy-svc
port: $port_mpy
endpoints:
  - path: /api/blink/{n}
    method: GET
    script: handlers/blink.py
isolation:
  mode: micropython
  platform: rp2040
  memory_limit: 256KB
EOF
cat >"$TMP/b86-mpy/handlers/blink.py" <<'EOF'
from machine import Pin
import time, gc
def main(request):
    n = int(request["path_params"]["n"])
    led = Pin(25, Pin.OUT)
    for i in range(n):
        led.toggle()
        time.sleep_ms(100)
    return {"toggles": n, "led": led.value(), "ms": time.ticks_ms()}
EOF
run sh -c "cd '$TMP/b86-mpy' && '$S' up -d manifest.yaml"
is "$rc" 0 "a ProServe service in isolation.mode micropython starts" || diag "$err"
answer=$(curl -s -m 30 "http://127.0.0.1:$port_mpy/api/blink/3")
is "$answer" '{"toggles":3,"led":1,"ms":300}' "its handler's main(request) runs on the MicroPython runtime"

port_uno=$(free_port)
mkdir -p "$TMP/b86-uno/handlers/echo"
cat >"$TMP/b86-uno/handlers/echo/echo.ino" <<'EOF'
void setup() {
  Serial.begin(115200);
  String line = "";
  while (true) {
    while (!Serial.available()) {}
    char c = Serial.read();
    if (c == '\n') break;
    line += c;
  }
  Serial.print("uno got ");
  Serial.print(line.length());
  Serial.println(" bytes");
  Serial.flush();
  exit(0);
}
void loop() {}
EOF
cat >"$TMP/b86-uno/manifest.yaml" <<EOF
name: uno-svc
port: $port_uno
endpoints:
  - path: /api/echo
    method: POST
    script: handlers/echo
isolation:
  mode: arduino
  board: uno
EOF
run sh -c "cd '$TMP/b86-uno' && '$S' up -d manifest.yaml"
is "$rc" 0 "a ProServe service in isolation.mode arduino starts" || diag "$err"
answer=$(curl -s -m 30 -X POST -d '{"x":1}' "http://127.0.0.1:$port_uno/api/echo")
like "$answer" '^uno got [0-9]+ bytes' "its handler sketch, built once, gets the request on its serial port in simavr"
[ "$(ls "$SERVOS_ROOT/boards/cache/avr/proserve/"*.elf | wc -l)" -ge 1 ]
ok $? "... the firmware is kept in the AVR cache for the next request"

port_esp=$(free_port)
mkdir -p "$TMP/b86-esp/handlers"
printf 'def main(request):\n    return {"ran": "as a process"}\n' >"$TMP/b86-esp/handlers/hello.py"
cat >"$TMP/b86-esp/manifest.yaml" <<EOF
name: esp-svc
port: $port_esp
endpoints:
  - path: /api/hello
    method: GET
    script: handlers/hello.py
isolation:
  mode: arduino
  board: esp32dev
EOF
run sh -c "cd '$TMP/b86-esp' && '$S' up -d manifest.yaml"
[ "$rc" -eq 0 ] && matches "$err" "isolation.mode arduino cannot run here .*needs Espressif.*run as mode process"
ok $? "mode arduino on an ESP32 falls back to process, saying why" "rc $rc" "$err"
is "$(curl -s -m 30 "http://127.0.0.1:$port_esp/api/hello")" '{"ran":"as a process"}' "... and its Python handler answers"
mkdir -p "$TMP/b86-esp-strict" && cp -r "$TMP/b86-esp/handlers" "$TMP/b86-esp-strict/" # config checks the script exists
sed -e "s/esp-svc/esp-strict/" -e "s/port: $port_esp/port: $(free_port)/" -e '$a\  fallback_on_platform_failure: false' \
    "$TMP/b86-esp/manifest.yaml" >"$TMP/b86-esp-strict/manifest.yaml"
run sh -c "cd '$TMP/b86-esp-strict' && '$S' up -d manifest.yaml"
[ "$rc" -ne 0 ] && matches "$err" "isolation.mode arduino: .*not available on this system: needs"
ok $? "fallback_on_platform_failure: false refuses to start instead" "rc $rc" "$err"
for p in b86-mpy b86-uno b86-esp; do "$S" down -p "$p" -t 2 >/dev/null 2>&1; done

# ---- a board's port: monitor, flash ----------------------------------------------------------
python3 "$ROOT/tests/helpers/serial-board.py" "$TMP/board.out" 60 >"$TMP/board.port" &
BOARD_PID=$!
for _ in $(seq 50); do [ -s "$TMP/board.port" ] && break; sleep 0.1; done
port=$(cat "$TMP/board.port")
run timeout 10 "$S" board monitor --port "$port" --timeout 500ms
like "$out" '^board line [0-9]+$' "board monitor prints what the board sends on its port"
kill "$BOARD_PID" 2>/dev/null
# An Uno's bootloader, played on a pseudo-terminal (tests/helpers/stk500-board.py):
# what avrdude writes is kept and compared with the .hex the build made.
python3 "$ROOT/tests/helpers/stk500-board.py" "$TMP/flash.out" 60 >"$TMP/stk.port" &
BOARD_PID=$!
for _ in $(seq 50); do [ -s "$TMP/stk.port" ] && break; sleep 0.1; done
port=$(cat "$TMP/stk.port")
chmod o+rw "$port" # the pseudo-terminal's own node is bound in (see 65-devices)
run timeout 60 "$S" board flash --board uno --port "$port" "$TMP/blink/blink.hex"
[ "$rc" -eq 0 ] && matches "$err" 'bytes of flash verified' && matches "$err" 'servos board flash: ok'
ok $? "board flash writes the firmware with avrdude, in the avr image, through the port" "rc $rc" "$err"
wait "$BOARD_PID" 2>/dev/null
BOARD_PID=
python3 - "$TMP/blink/blink.hex" "$TMP/flash.out" <<'EOF2'
import sys
want = {}
base = 0
for line in open(sys.argv[1]):
    n, addr, kind = int(line[1:3], 16), int(line[3:7], 16), int(line[7:9], 16)
    data = bytes.fromhex(line[9:9 + 2 * n])
    if kind == 0:
        for i, b in enumerate(data):
            want[base + addr + i] = b
    elif kind == 2:
        base = int(line[9:13], 16) * 16
got = {int(a, 16): int(b, 16) for a, b in (l.split() for l in open(sys.argv[2]))}
sys.exit(0 if want and all(got.get(a) == b for a, b in want.items()) else 1)
EOF2
ok $? "... and the board holds exactly the .hex's bytes"

# A stack's board service flashed to that board instead of emulated: built,
# written with avrdude through its port, then the port is the service's output.
python3 "$ROOT/tests/helpers/stk500-board.py" --run "$TMP/flash2.out" 60 >"$TMP/stk2.port" &
BOARD_PID=$!
for _ in $(seq 50); do [ -s "$TMP/stk2.port" ] && break; sleep 0.1; done
port=$(cat "$TMP/stk2.port")
chmod o+rw "$port"
mkdir -p "$TMP/flashed"
cp -r "$TMP/blink" "$TMP/flashed/blink"
rm -f "$TMP/flashed/blink/"*.hex "$TMP/flashed/blink/"*.elf
cat >"$TMP/flashed/Envirofile.lua" <<'EOF'
stack "boards86f"
service "uno" { board = "uno", build = "./blink", flash = { port = env("BOARD_PORT") } }
EOF
run sh -c "cd '$TMP/flashed' && BOARD_PORT='$port' '$S' up -d"
is "$rc" 0 "up of a board service with flash = its port" || diag "$err"
logs=""
for _ in $(seq 150); do
    logs=$("$S" logs -p boards86f uno 2>&1)
    matches "$logs" 'board line [0-9]+' && break
    sleep 0.1
done
like "$logs" 'bytes of flash verified' "its log shows avrdude flashing the board through the port"
like "$logs" 'uno-1 +\| board line [0-9]+' "... then what the flashed board prints on its port"
cmp -s "$TMP/flash.out" "$TMP/flash2.out"
ok $? "the board holds the same bytes as board flash wrote (the same sketch, built alike)"
run "$S" down -p boards86f -t 5
is "$rc" 0 "down stops the port's monitor" || diag "$err"
kill "$BOARD_PID" 2>/dev/null
BOARD_PID=

# ---- nothing left ------------------------------------------------------------------------------
is "$("$S" ls -q | wc -l)" 0 "no container is left"
is "$(ls -A "$SERVOS_ROOT/boards/work" 2>/dev/null | wc -l)" 0 "no work directory is left"

done_testing
