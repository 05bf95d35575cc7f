#!/usr/bin/env bash
# Benchmark: boards, warm (the toolchain images built, outside the timing).
#   mpy      `servos isolate -p micropython blink.py`: a blink script on the
#            MicroPython runtime, end to end (a container of the
#            micropython image, node, the WebAssembly port, the pins'
#            lines). No peer: the goal is absolute.
#   arduino  a sketch's warm build and 1 s of its simulated time:
#            `servos isolate --time 1s SKETCH/` (the Arduino core compiled
#            once and kept, the sketch compiled and linked each run in the
#            avr image, then run in simavr), against the peer: arduino-mk on
#            the host (the sketch touched, so it compiles and links again,
#            the core kept), then the same simavr runner (avr-run.c, built
#            here against libsimavr) for 1 s. Alternated run by run.
# Goals: mpy < 300 ms; arduino <= 1.2x the peer, and < 3 s.
# RUNS (20) runs of each. The images live in the state root the tests
# keep (/var/cache/servos-test/boards-root; SERVOS_BOARDS_ROOT), built
# there first when missing (minutes: apt and npm).
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-20}
GOAL_MPY="< 300 ms"
GOAL_AVR="<= 1.20x peer, < 3 s"
export SERVOS_ROOT=${SERVOS_BOARDS_ROOT:-/var/cache/servos-test/boards-root}
T=$(mktemp -d /tmp/servos-bench-boards.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$SERVOS_ROOT"
chmod 711 "$(dirname "$SERVOS_ROOT")" "$T"

# ---- the images, outside the timing -----------------------------------------------------
if ! "$SERVOS" image ls | grep -q '^localhost/servos-toolchain-base:bookworm '; then
    if ! base=$("$ROOT/tests/helpers/debian-rootfs.sh" --tarball 2>/dev/null); then
        bench_row "boards" - "no Debian base (tests/helpers/debian-rootfs.sh)" - "$GOAL_MPY" 1
        bench_done
    fi
    "$SERVOS" image import "$base" localhost/servos-toolchain-base:bookworm >/dev/null
fi
if ! "$SERVOS" toolchain build -q avr micropython >"$T/toolchain.log" 2>&1; then
    echo "boards: the toolchain images do not build: $(tail -3 "$T/toolchain.log")" >&2
    bench_row "boards" - "no toolchain images" - "$GOAL_MPY" 1
    bench_done
fi

# ---- mpy ------------------------------------------------------------------------------------
cat >"$T/blink.py" <<'EOF'
from machine import Pin
import time
led = Pin(25, Pin.OUT)
for i in range(10):
    led.toggle()
    time.sleep_ms(500)
EOF
"$SERVOS" isolate -q -p micropython "$T/blink.py" >/dev/null 2>&1 # the image's layers unpacked
alternate_run "$T/mpy" "$RUNS" servos="$SERVOS" isolate -q -p micropython "$T/blink.py"
mpy=$(field "$T/mpy" servos 2)
ok=$(check le "$mpy" 300)
[ "$(field "$T/mpy" servos 8)" = 0 ] || ok=1
bench_row "isolate -p micropython blink.py (warm)" "$(spread "$T/mpy" servos)" "-" "-" "$GOAL_MPY" "$ok"

# ---- arduino ----------------------------------------------------------------------------------
mkdir -p "$T/blink" "$T/peer/blink"
cat >"$T/blink/blink.ino" <<'EOF'
void report(int v) {
  Serial.print("tick ");
  Serial.println(v);
}
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
EOF
cp "$T/blink/blink.ino" "$T/peer/blink/"
cat >"$T/peer/blink/Makefile" <<'EOF'
BOARD_TAG = uno
ARDUINO_DIR = /usr/share/arduino
# Debian's 1.8.7 core: WString.cpp needs DECIMAL_DIG
CXXFLAGS += -DDECIMAL_DIG=__DECIMAL_DIG__
include /usr/share/arduino/Arduino.mk
EOF
peer_ok=1
if [ -f /usr/share/arduino/Arduino.mk ] && command -v avr-gcc >/dev/null &&
    cc -O2 -o "$T/avr-run" "$ROOT/engine/board/files/avr-run.c" $(pkg-config --cflags --libs simavr 2>/dev/null) -lelf 2>"$T/cc.err" &&
    make -s -C "$T/peer/blink" >/dev/null 2>&1; then
    peer_ok=0
else
    echo "boards: the peer (arduino-mk, gcc-avr, libsimavr-dev: .ci/deps --bench) cannot run here" >&2
fi
cat >"$T/peer.sh" <<EOF
#!/bin/sh
set -e
touch '$T/peer/blink/blink.ino'
make -s -C '$T/peer/blink'
'$T/avr-run' -m atmega328p -f 16000000 -t 1 '$T/peer/blink/build-uno/blink_.elf'
EOF
chmod +x "$T/peer.sh"
"$SERVOS" isolate -q --time 1s "$T/blink" >/dev/null 2>&1 # the core compiled once, kept
if [ "$peer_ok" = 0 ]; then
    alternate_run "$T/avr" "$RUNS" servos="$SERVOS" isolate -q --time 1s "$T/blink" -- peer="$T/peer.sh"
else
    alternate_run "$T/avr" "$RUNS" servos="$SERVOS" isolate -q --time 1s "$T/blink"
fi
s=$(field "$T/avr" servos 2)
p=$(field "$T/avr" peer 2)
ok=$(check le "$s" 3000)
[ "$ok" = 0 ] && ok=$(check le "$(awk -v a="$s" -v b="$p" 'BEGIN { if (b > 0) print a / b }')" 1.2)
[ "$(field "$T/avr" servos 8)" = 0 ] && [ "$(field "$T/avr" peer 8)" = 0 ] || ok=1
bench_row "sketch: warm build + 1 s simulated (uno)" "$(spread "$T/avr" servos)" \
    "arduino-mk + simavr $(spread "$T/avr" peer)" "$(ratio "$s" "$p")" "$GOAL_AVR" "$ok"
bench_done
