#!/bin/sh
# make hotlist: which SQLite functions servos' everyday commands run, in the
# order they first run them, written to third_party/sqlite/hot.list. It builds
# servos once more (build-hot/) with SQLite instrumented (profile.h), runs
# the commands as a user would (a container started and removed first: the
# commonest path goes first in the text), and names the addresses recorded.
# The list only orders code: a stale one costs memory, never correctness.
set -eu
cd "$(dirname "$0")/../.."
B=build-hot
make --no-print-directory B=$B SQLITE_OBJ=$B/third_party/sqlite3.o \
    SQLITE_EXTRA="-D_GNU_SOURCE -finstrument-functions -include third_party/sqlite/profile.h" $B/servos >/dev/null
S=$PWD/$B/servos
T=$(mktemp -d)
chmod 755 "$T" # the containers' ids must pass it
export SERVOS_ROOT="$T/root"
trap '"$S" rm -f hot1 hot2 >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
"$S" run --rm host true # makes the state root: a first run is not the common one
export SERVOS_HOTLIST="$T/addresses"
"$S" run --rm host true
"$S" version >/dev/null
"$S" ls >/dev/null
"$S" run -d --name hot1 host sleep 30 >/dev/null
"$S" run -d --name hot2 host true >/dev/null
"$S" ls --format json >/dev/null
"$S" logs hot2 >/dev/null
"$S" stop -t 1 hot1 >/dev/null
"$S" rm hot1 hot2 >/dev/null
"$S" ls -q >/dev/null
nm --defined-only "$S" | awk -v addr="$T/addresses" '
    $2 ~ /^[tT]$/ { byaddr[$1] = $3 }
    END {
        while ((getline a < addr) > 0)
            if ((a in byaddr) && !(byaddr[a] in seen)) { seen[byaddr[a]] = 1; print byaddr[a] }
    }' >"$T/names"
{
    echo "# SQLite functions in the order servos' commands first run them: made by"
    echo "# 'make hotlist' (third_party/sqlite/hotlist.sh); read by hotsections.sh."
    cat "$T/names"
} >third_party/sqlite/hot.list
echo "third_party/sqlite/hot.list: $(wc -l <"$T/names") functions"
