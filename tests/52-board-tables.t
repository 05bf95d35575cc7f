#!/usr/bin/env bash
# The board tables (platforms/*.lua) as users meet them: servos detect,
# list-platforms, and a service's platform, board and toolchain keys.
#
# detect's boards: each with its serial port (/dev/tty*, found in
# sysfs below the USB device), and a USB id several boards share listed
# with every candidate. No board is plugged in where the tests run, so
# detect reads a tree made here as the kernel lays out sysfs (SERVOS_SYSFS,
# for tests only): devices under devices/, links to them in bus/usb/devices,
# ftdi_sio/ch341's ttyUSB and cdc_acm's ttyACM layouts, a hub with boards
# behind it, the driver links that lead back up.
. "$(dirname "$0")/lib.sh"
require_cmd jq
SYS=$TMP/sys
bus=$SYS/bus/usb/devices
top=$SYS/devices/pci0000:00/0000:00:14.0/usb1
mkdir -p "$bus" "$SYS/bus/usb/drivers/ch341" "$SYS/bus/usb/drivers/cdc_acm"

# usb_device PARENT NAME VID PID PRODUCT: a device directory under PARENT
# (a path below $SYS/devices), linked from bus/usb/devices; prints its dir.
usb_device() {
    local dir=$1/$2
    mkdir -p "$dir/$2:1.0"
    echo "$3" >"$dir/idVendor"
    echo "$4" >"$dir/idProduct"
    [ -z "$5" ] || echo "$5" >"$dir/product"
    ln -s "$(realpath --relative-to="$bus" "$dir")" "$bus/$2"
    ln -s "$(realpath --relative-to="$bus" "$dir/$2:1.0")" "$bus/$2:1.0"
    echo "$dir"
}
# tty_usb DIR NAME DRIVER: usb-serial's layout (ftdi_sio, ch341)
tty_usb() {
    mkdir -p "$1/$2/tty/$2" && echo "188:0" >"$1/$2/tty/$2/dev"
    ln -s "$(realpath --relative-to="$1" "$SYS/bus/usb/drivers/$3")" "$1/driver"
    ln -s ../../.. "$1/$2/port" # a link up the tree, which must not be walked
}
# tty_acm DIR NAME: cdc_acm's layout
tty_acm() {
    mkdir -p "$1/tty/$2" && echo "166:0" >"$1/tty/$2/dev"
    ln -s "$(realpath --relative-to="$1" "$SYS/bus/usb/drivers/cdc_acm")" "$1/driver"
}

mkdir -p "$top"
echo 1d6b >"$top/idVendor" && echo 0002 >"$top/idProduct" && ln -s "$(realpath --relative-to="$bus" "$top")" "$bus/usb1"
hub=$(usb_device "$top" 1-1 05e3 0608 "USB2.0 Hub")
d=$(usb_device "$hub" 1-1.2 1a86 7523 "USB2.0-Serial") && tty_usb "$d/1-1.2:1.0" ttyUSB0 ch341
d=$(usb_device "$hub" 1-1.3 2341 0043 "Arduino Uno") && tty_acm "$d/1-1.3:1.0" ttyACM0
d=$(usb_device "$hub" 1-1.4 046d c52b "USB Receiver")
d=$(usb_device "$top" 1-2 2e8a 0005 "Board in FS mode") && tty_acm "$d/1-2:1.0" ttyACM1
d=$(usb_device "$top" 1-3 0483 3748 "STM32 STLink")
d=$(usb_device "$top" 1-4 0403 6001 "FT232R USB UART") && tty_usb "$d/1-4:1.0" ttyUSB1 ch341
mkdir -p "$d/1-4:1.1" && tty_usb "$d/1-4:1.1" ttyUSB2 ch341 # a second port

# udev's stable names, as /dev/serial/by-id holds them (SERVOS_DEVFS: tests only).
DEV=$TMP/dev
mkdir -p "$DEV/serial/by-id"
uno_id=usb-Arduino__www.arduino.cc__0043_75735303331351E0A1C1-if00
ln -s ../../ttyACM0 "$DEV/serial/by-id/$uno_id"
ln -s ../../ttyS9 "$DEV/serial/by-id/usb-other-if00"

export SERVOS_SYSFS=$SYS SERVOS_DEVFS=$DEV
run "$SERVOS" detect
is "$rc" 0 "detect reads the tree"
like "$out" "^board: +uno \(Arduino Uno, platform arduino\) on /dev/ttyACM0 \(/dev/serial/by-id/$uno_id\), usb 1-1.3 \[2341:0043\]$" \
    "a board with one table entry: its id, its name, its port (cdc_acm's tty/ttyACM0) and udev's stable name for it"
like "$out" "^board: +one of 3 on /dev/ttyUSB0, usb 1-1.2 \[1a86:7523\] USB2.0-Serial \(a USB id these boards share\):$" \
    "a CH340's id (1a86:7523) is not taken for the first board that lists it"
cands=$(echo "$out" | grep -A3 "usb 1-1.2 " | tail -n3 | awk '{print $1}' | tr '\n' ' ')
is "$cands" "nano esp32 esp8266 " "... every candidate is listed: nano, esp32, esp8266"
like "$out" "^board: +one of 2 on /dev/ttyACM1, usb 1-2 \[2e8a:0005\]" "a Pico's id, on two tables, lists both"
like "$out" "^board: +stm32f103 .* on no serial port \(no tty driver bound" \
    "a board without a serial port (an ST-Link) says so, and why there may be none"
like "$out" "^board: +nano \(Arduino Nano, platform arduino\) on /dev/ttyUSB1, /dev/ttyUSB2, usb 1-4 \[0403:6001\]" \
    "a device with two ports shows both (usb-serial's ttyUSB layout, two interfaces)"
unlike "$out" "05e3:0608|046d:c52b|1d6b" "without -v, the hub, other devices and root hubs are not boards"
unlike "$out" "1-1 .*ttyUSB0" "a hub is not given the ports of the boards behind it"
run "$SERVOS" detect -v
like "$out" "^usb device: +046d:c52b USB Receiver at usb 1-1.4 \(no board table knows it\)$" \
    "-v lists the devices no table knows"
like "$out" "^usb device: +05e3:0608 USB2.0 Hub at usb 1-1 \(no board table knows it\)$" "... the hub too, with no port"

run "$SERVOS" detect --json
u=$(echo "$out" | jq -c '.usb[] | select(.path == "1-1.2")')
is "$(echo "$u" | jq -c '[.board, .platform, .tty, .by_id, [.candidates[].board]]')" \
    '[null,null,["/dev/ttyUSB0"],[null],["nano","esp32","esp8266"]]' \
    "--json: an ambiguous id has no board, its candidates and its port"
u=$(echo "$out" | jq -c '.usb[] | select(.path == "1-1.3")')
is "$(echo "$u" | jq -c '[.id, .board, .platform, .tty, .by_id]')" \
    "[\"2341:0043\",\"uno\",\"arduino\",[\"/dev/ttyACM0\"],[\"/dev/serial/by-id/$uno_id\"]]" \
    "--json: an Uno is an Uno, on /dev/ttyACM0, with its stable name"
is "$(echo "$out" | jq -r '[.usb[].path] | join(" ")')" "1-1 1-1.2 1-1.3 1-1.4 1-2 1-3 1-4" \
    "--json: every device but the root hub, in order"

# An empty tree (a host without USB): nothing found, no error.
mkdir -p "$TMP/empty"
SERVOS_SYSFS=$TMP/empty run "$SERVOS" detect
[ "$rc" = 0 ] && matches "$out" "^boards: +none found on USB$"
ok $? "no USB at all: none found" "rc $rc" "$out"
unset SERVOS_SYSFS SERVOS_DEVFS

# --- list-platforms: names, toolchains, and why a step is missing -------------
run "$SERVOS" list-platforms --json
pl=$out
board() { echo "$pl" | jq -c --arg b "$1" ".[] | .boards[] | select(.id == \$b) | $2"; }
is "$(board uno .aliases)" '["arduino_uno"]' "the Uno is also arduino_uno (ProServe's name)"
is "$(echo "$pl" | jq -c '.[] | select(.name == "rpi-arm") | .aliases')" '["raspberry_pi"]' \
    "rpi-arm is also raspberry_pi (ProServe's name)"
is "$(board stm32f103 '[(.build | test("arm-none-eabi-objcopy -O binary \\{out\\}.elf \\{out\\}.bin")), (.flash | test("\\{out\\}.bin"))]')" \
    '[true,true]' "stm32f103: the build makes the .bin its flash step writes (objcopy from the .elf)"
is "$(echo "$pl" | jq -r '[.[] | .boards[] | select((.build == null and .missing.build == null) or (.flash == null and .missing.flash == null)) | .id] | join(" ")')" "" \
    "every board without a build or flash template says why"
is "$(board esp32 .missing.build)" "\"it needs Espressif's Xtensa compiler (xtensa-esp32-elf-gcc, from ESP-IDF), which Debian 12 does not package\"" \
    "... an ESP32's build: the Xtensa compiler Debian does not package"
is "$(echo "$pl" | jq -r '[.[] | .boards[] | select(.toolchain == null) | .id] | join(" ")')" "" \
    "every board names its toolchain"
run "$SERVOS" list-platforms
like "$out" "^ +no build: it needs Espressif's Xtensa compiler" "the text says it too"
like "$out" "^ +no flash: it is a board QEMU emulates" "... and why lm3s6965 has nothing to flash"
like "$out" "^rpi-arm \(arm\): .*\(also raspberry_pi\)$" "... and the aliases"

# --- a service's platform, board and toolchain --------------------------------
cd "$TMP" || exit 1
cat >Envirofile.lua <<'EOF'
service "uno" { board = "arduino_uno", toolchain = "avr" }
service "pi" { platform = "raspberry_pi", toolchain = "arm64" }
service "pico" { platform = "rp2040", board = "raspberry_pi_pico", toolchain = "micropython" }
service "mixed" { platform = "arduino", toolchain = "cortex-m" }
EOF
run "$SERVOS" config
is "$(echo "$out" | jq -c '[.services[] | [.platform, .board, .toolchain]]')" \
    '[["arduino",null,"cortex-m"],["rpi-arm",null,"arm64"],["rp2040","raspberry_pi_pico","micropython"],[null,"uno","avr"]]' \
    "ProServe's names are taken and kept as the tables name them; toolchains that fit are taken" ||
    diag "$err"
mkdir -p ps && printf 'name: sensor\nport: 8080\nisolation:\n  mode: micropython\n  platform: raspberry_pi\n' >ps/manifest.yaml
run "$SERVOS" config ps/manifest.yaml
is "$(echo "$out" | jq -r '.services.sensor.platform')" rpi-arm "a ProServe manifest's platform: raspberry_pi is rpi-arm" ||
    diag "$err"
printf 'service "fw" { board = "uno", platform = "%s" }\n' "linux/$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" >oci.lua
run "$SERVOS" config oci.lua
like "$rc $err" "^1 .*platform: \"linux/[a-z0-9]+\" does not go with board \"uno\" \(platform \"arduino\"\)" \
    "a board with this host's OCI platform: an error (an Uno runs no Linux)"
done_testing
