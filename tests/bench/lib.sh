# Shared by the benchmarks: the interleaving timer and the results table.
#
# Every compared command runs through `alternate` (alternate.c): A B A B ...,
# run by run, never one block after the other. Each bench adds rows with
# bench_row; `tests/bench/run` prints them as one table. A bench exits
# non-zero when a goal it measured was missed (bench_done).
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
BENCH_FAILED=0

# The timer, built once per checkout.
ALTERNATE=$ROOT/build/bench/alternate
if [ ! -x "$ALTERNATE" ] || [ "$BENCH_DIR/alternate.c" -nt "$ALTERNATE" ]; then
    mkdir -p "$ROOT/build/bench"
    cc -O2 -o "$ALTERNATE" "$BENCH_DIR/alternate.c"
fi

# alternate_run OUT RUNS NAME=CMD ... -- NAME=CMD ...: the timer's lines in OUT,
# one per command: name median p25 p75 min max rss_kb failures.
alternate_run() {
    local out=$1 runs=$2
    shift 2
    "$ALTERNATE" -n "$runs" -w 3 "$@" >"$out"
}
# field OUT NAME COLUMN (2 median, 3 p25, 4 p75, 5 min, 6 max, 7 rss_kb, 8 failures)
field() { awk -v n="$2" -v c="$3" '$1 == n {print $c}' "$1"; }
# spread OUT NAME: "median (p25–p75)" in ms.
spread() { awk -v n="$2" '$1 == n {printf "%.2f ms (%.2f-%.2f)", $2, $3, $4}' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
# le A B: A <= B, as numbers. An empty A (a side that did not run, a field
# of a name the timer did not print) is false: awk would compare "" as a
# string, and "" <= "1.5" holds.
le() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a <= b) }'; }

# bench_row MEASURE SERVOS PEER RATIO GOAL OK(0|1): one row of the table.
bench_row() {
    local verdict=pass
    [ "$6" = 0 ] || { verdict=FAIL; BENCH_FAILED=1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$verdict" >>"${BENCH_TABLE:-/dev/stdout}"
}
# check COND...: 0 when the command succeeds, 1 otherwise (for bench_row).
check() { if "$@"; then echo 0; else echo 1; fi; }
bench_done() { exit "$BENCH_FAILED"; }
