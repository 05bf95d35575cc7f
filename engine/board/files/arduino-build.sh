#!/bin/sh
# arduino-build: an Arduino sketch for an AVR board, built with Debian's
# Arduino core (arduino-core-avr) and the flags of its platform.txt, as the
# Arduino IDE builds it. Part of servos' AVR toolchain image.
#
#   arduino-build -b BOARD -m MCU -f F_CPU -v VARIANT -o OUT [-c CACHE] [-x FLAGS] SKETCH
#
# BOARD is the board's ARDUINO_ define (AVR_UNO), VARIANT its pins
# (standard, eightanaloginputs, mega, leonardo), FLAGS more defines (the
# Leonardo's USB ids, boards.txt's extra_flags). SKETCH is a .ino file or
# a directory holding NAME.ino (and more .ino, .c, .cpp, .S, a src/
# tree). OUT.elf and OUT.hex are written. The core and the bundled
# libraries the sketch includes (Wire, SPI, EEPROM, SoftwareSerial) are
# compiled once per board into CACHE and reused.
#
# As the IDE does: the .ino files become one C++ file that includes
# Arduino.h first, with a prototype for each function defined at the top
# level placed before the first definition, so a function may be called
# above it. Debian's 1.8.7 core needs -DDECIMAL_DIG=__DECIMAL_DIG__
# (WString.cpp); the link puts simavr's .mmcu section where simavr reads
# it (-Wl,--section-start=.mmcu=0x910000), else its strings read as 0xFF.
set -eu
CORE=/usr/share/arduino/hardware/arduino/avr
board= mcu= fcpu= variant= out= cache= extra=
while getopts b:m:f:v:o:c:x: opt; do
    case $opt in
    b) board=$OPTARG ;;
    m) mcu=$OPTARG ;;
    f) fcpu=$OPTARG ;;
    v) variant=$OPTARG ;;
    o) out=$OPTARG ;;
    c) cache=$OPTARG ;;
    x) extra=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ] || [ -z "$board$mcu$fcpu$variant$out" ]; then
    echo "usage: arduino-build -b BOARD -m MCU -f F_CPU -v VARIANT -o OUT [-c CACHE] [-x FLAGS] SKETCH" >&2
    exit 2
fi
sketch=$1
if [ -d "$sketch" ]; then
    dir=${sketch%/}
    name=$(basename "$dir")
    main=$dir/$name.ino
    if ! [ -f "$main" ]; then
        set -- "$dir"/*.ino
        if [ $# -ne 1 ] || ! [ -f "$1" ]; then
            echo "arduino-build: $sketch holds no $name.ino (a sketch's main file is named after its directory)" >&2
            exit 1
        fi
        main=$1
    fi
else
    dir=$(dirname "$sketch")
    main=$sketch
fi
name=$(basename "$main" .ino)

tmp=$(mktemp -d /tmp/arduino-build.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
defs="-mmcu=$mcu -DF_CPU=${fcpu}L -DARDUINO=10807 -DARDUINO_$board -DARDUINO_ARCH_AVR $extra"
incs="-I$CORE/cores/arduino -I$CORE/variants/$variant"
cflags="-c -g -Os -w -std=gnu11 -ffunction-sections -fdata-sections -MMD -flto -fno-fat-lto-objects"
cxxflags="-c -g -Os -w -std=gnu++11 -fpermissive -fno-exceptions -ffunction-sections -fdata-sections -fno-threadsafe-statics -Wno-error=narrowing -MMD -flto -DDECIMAL_DIG=__DECIMAL_DIG__"
sflags="-c -g -x assembler-with-cpp -flto -MMD"

# compile SRC OBJ EXTRA_INCLUDES
compile() {
    case $1 in
    *.c) avr-gcc $cflags $defs $incs $3 "$1" -o "$2" ;;
    *.cpp) avr-g++ $cxxflags $defs $incs $3 "$1" -o "$2" ;;
    *.S) avr-gcc $sflags $defs $incs $3 "$1" -o "$2" ;;
    esac
}

# archive NAME DIR EXTRA_INCLUDES: DIR's sources into CACHE/NAME.a (made
# once, renamed into place whole), printed.
archive() {
    key=$(printf '%s' "$board $mcu $fcpu $variant $extra $1" | md5sum | cut -c1-12)
    lib=${cache:-$tmp}/$1-$key.a
    if ! [ -s "$lib" ]; then
        objs=$tmp/$1.objs
        mkdir -p "$objs"
        find "$2" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.S' \) | sort >"$tmp/$1.list"
        [ -s "$tmp/$1.list" ] || return 0 # headers only (EEPROM)
        i=0
        while read -r f; do
            i=$((i + 1))
            compile "$f" "$objs/$i.o" "$3"
        done <"$tmp/$1.list"
        avr-gcc-ar rcs "$tmp/$1.a" "$objs"/*.o
        mv "$tmp/$1.a" "$lib.$$" && mv "$lib.$$" "$lib"
    fi
    echo "$lib"
}

# The sketch as one C++ file: Arduino.h, then the .ino files (the main one
# first), prototypes before the first function definition.
cpp=$tmp/$name.ino.cpp
{
    echo '#include <Arduino.h>'
    for f in "$main" $(ls "$dir"/*.ino 2>/dev/null | grep -vxF "$main" || true); do
        awk -v file="$(basename "$f")" '
            function proto(line) {
                sub(/[ \t]*\{.*$/, "", line)
                return line ";"
            }
            { lines[NR] = $0 }
            /^[A-Za-z_][A-Za-z0-9_<>,:*& \t]*[ \t*&]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\([^;]*\)[ \t]*(\{.*)?$/ {
                if ($1 !~ /^(if|else|while|for|switch|return|do)$/ && $0 !~ /^[ \t]/) {
                    protos[++n] = proto($0)
                    if (!first) first = NR
                }
            }
            END {
                for (i = 1; i <= NR; i++) {
                    if (i == first) {
                        for (k = 1; k <= n; k++) print protos[k]
                        printf "#line %d \"%s\"\n", i, file
                    } else if (i == 1) {
                        printf "#line 1 \"%s\"\n", file
                    }
                    print lines[i]
                }
            }' "$f"
    done
} >"$cpp"

# The bundled libraries the sketch includes.
libincs= libs=
for h in $(cat "$dir"/*.ino "$dir"/*.c "$dir"/*.cpp "$dir"/*.h 2>/dev/null |
    sed -n 's/^[ \t]*#[ \t]*include[ \t]*<\([A-Za-z0-9_]*\)\.h>.*/\1/p' | sort -u); do
    if [ -d "$CORE/libraries/$h/src" ]; then
        libincs="$libincs -I$CORE/libraries/$h/src"
    fi
done
for h in $libincs; do
    d=${h#-I}
    libs="$libs $(archive "lib-$(basename "$(dirname "$d")")" "$d" "$libincs")"
done
core=$(archive core "$CORE/cores/arduino" "")

objs=$tmp/sketch
mkdir -p "$objs"
compile "$cpp" "$objs/$name.o" "-I$dir $libincs"
i=0
for f in $(find "$dir" -maxdepth 1 -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.S' \); \
    [ -d "$dir/src" ] && find "$dir/src" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.S' \)); do
    i=$((i + 1))
    compile "$f" "$objs/$i.o" "-I$dir $libincs"
done
avr-gcc -w -Os -g -flto -fuse-linker-plugin -Wl,--gc-sections -Wl,--section-start=.mmcu=0x910000 \
    -mmcu="$mcu" -o "$out.elf" "$objs"/*.o $libs "$core" -lm
avr-objcopy -O ihex -R .eeprom "$out.elf" "$out.hex"
avr-size --mcu="$mcu" -C "$out.elf" 2>/dev/null | sed -n 's/^\(Program\|Data\):/&/p' || true
