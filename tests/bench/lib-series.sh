# Shared by the benchmarks whose measure is not one command (an `up`
# followed by its `down`, an `ab` load on a server, a pull into an emptied
# store): the script alternates the compared sides itself, A B A B round
# by round, and keeps each sample here. A summary has the line format of
# alternate.c, so lib.sh's field, spread and ratio read both alike:
#   NAME median p25 p75 min max rss_kb failures
# Sourced after lib.sh. No bc, no date(1) per sample: bash's EPOCHREALTIME.

# EPOCHREALTIME and awk write and read numbers in the C locale only.
export LC_ALL=C

# timed FILE CMD...: run CMD (its output to /dev/null), add its wall time
# in ms to FILE, marked failed when it exits non-zero.
timed() {
    local file=$1 t0 t1 rc=0 us
    shift
    t0=${EPOCHREALTIME/./}
    "$@" >/dev/null 2>&1 || rc=$?
    t1=${EPOCHREALTIME/./}
    printf -v us '%04d' $((t1 - t0))
    echo "${us:0:-3}.${us: -3} $rc" >>"$file"
}

# sample FILE VALUE [RC]: add one sample measured otherwise (requests/s, a
# latency from ab, MB/s), failed when RC is not 0.
sample() { echo "${2:-0} ${3:-0}" >>"$1"; }

# summarize OUT NAME FILE: add FILE's samples to OUT as NAME's line, with
# the quantiles alternate.c takes (nearest rank over the sorted samples).
# No line when FILE has no sample: the side did not run.
summarize() {
    [ -s "$3" ] || return 0
    sort -g -k1,1 "$3" | awk -v n="$2" '
        { v[NR - 1] = $1; if ($2 != 0) failed++ }
        function q(f) { return v[int(f * (NR - 1) + 0.5)] }
        END { printf "%s %.3f %.3f %.3f %.3f %.3f 0 %d\n", n, q(0.5), q(0.25), q(0.75), v[0], v[NR - 1], failed }
    ' >>"$1"
}

# spread_in OUT NAME UNIT [DIVISOR [DECIMALS]]: "median UNIT (p25-p75)",
# summarize_all OUT BENCH FILE...: every sample file into OUT (one line
# each, named by the file), the lines to stderr, and which measure had
# failed runs.
summarize_all() {
    local out=$1 bench=$2 f name failed
    shift 2
    for f in "$@"; do summarize "$out" "$(basename "$f")" "$f"; done
    cat "$out" >&2
    while read -r name _ _ _ _ _ _ failed; do
        [ "$failed" = 0 ] || echo "$bench: $name: $failed failed runs" >&2
    done <"$out"
}

# e.g. spread_in times down s 1000 2 -> "2.01 s (2.00-2.03)".
spread_in() {
    awk -v n="$2" -v u="$3" -v d="${4:-1}" -v p="${5:-2}" '$1 == n {
        f = "%." p "f"
        printf f " %s (" f "-" f ")", $2 / d, u, $3 / d, $4 / d }' "$1"
}

# spread_time OUT NAME: spread in ms, or in s from a second up.
spread_time() {
    if ge "$(field "$1" "$2" 2)" 1000; then spread_in "$1" "$2" s 1000 2; else spread "$1" "$2"; fi
}

# failures OUT NAME: the failed samples of NAME (empty when NAME has no line).
failures() { field "$1" "$2" 8; }

# ge A B: A >= B, as numbers (A empty: false, a side that did not run
# meets no goal).
ge() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a >= b) }'; }
# lt A B: A < B, as numbers (A empty: false).
lt() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a < b) }'; }
# mul A K: A * K.
mul() { awk -v a="$1" -v k="$2" 'BEGIN{ print a * k }'; }
