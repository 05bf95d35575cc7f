# Tiny TAP helpers for servos' shell tests, run by `prove`.
# Source it, call the checks, then `done_testing`.
set -u
# Every fetch a test makes stays on loopback or in its own namespaces.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
SERVOS_ASAN=${SERVOS_ASAN:-$ROOT/build-asan/servos}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
_n=0
_failed=0
TMP=$(mktemp -d /tmp/servos-test.XXXXXX)
# A test's containers are in cgroups of their own: servos names their
# parent after the state root (SERVOS_ROOT), which each test sets, so what
# a test counts is its own even when other servos runs share the host.
cgroup_parent() { "$SERVOS" detect --json | jq -r .cgroup_parent; }
remove_cgroup_parent() { # the empty parents, at exit (from a test's own trap too)
    [ -n "${SERVOS_ROOT:-}" ] || return 0
    local p
    p=$(cgroup_parent) && [ "$p" != servos ] || return 0
    find /sys/fs/cgroup -maxdepth 3 -depth -type d -name "$p" -exec rmdir {} + 2>/dev/null || true
}
# At exit: the test's own cleanup first, when it defines one (its stacks
# down, its containers and helpers gone), then what every test leaves: its
# temporary directory and the empty cgroup parents.
at_exit() {
    ! declare -F cleanup >/dev/null || cleanup
    rm -rf "$TMP"
    remove_cgroup_parent
}
trap at_exit EXIT

# Time budgets scale by SERVOS_TEST_SLOW (1 by default; tests/vm's
# emulated guest, where a process start costs 50-70 ms, sets 10): a check
# that something happens "at once" or "within N s" keeps its meaning
# there without being loosened here. $SLOW is the factor; slow SECONDS
# prints SECONDS scaled (fractions allowed, for sleep).
SLOW=${SERVOS_TEST_SLOW:-1}
slow() { awk -v t="$1" -v f="$SLOW" 'BEGIN { print t * f }'; }

# A test of real containers: root's, with a state root of its own in $TMP,
# and $S, the servos it runs.
use_containers() {
    require_root
    chmod 711 "$TMP" # container root (an unprivileged uid) must reach the state root
    export SERVOS_ROOT=$TMP/root
    S=$SERVOS
}
remove_containers() { # every `servos run` container of the test's state root (in cleanup)
    local id
    for id in $("$S" ls -q 2>/dev/null); do "$S" rm -f "$id" >/dev/null 2>&1; done
}

# The checks. Each prints one TAP line, under the same name whether it
# passes or fails, and when it fails, what it expected and what it got.
# Each returns its result, so `is "$rc" 0 "up" || diag "$err"` adds the
# reason. A condition is one check, written as the condition and then ok
# (never `cond && pass NAME || fail OTHER-NAME`):
#   [ "$rc" -ne 0 ] && matches "$err" "not found"
#   ok $? "a missing repository fails clearly" "exit code $rc" "$err"
ok() { # ok EXIT-CODE NAME [DIAG...]: passes when EXIT-CODE is 0
    local rc=$1 name=$2
    shift 2
    _n=$((_n + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $_n - $name"
        return 0
    fi
    echo "not ok $_n - $name"
    _failed=$((_failed + 1))
    [ $# -eq 0 ] || diag "$@"
    return 1
}

pass() { ok 0 "$1"; }
fail() { # fail NAME [DIAG...]
    local name=$1
    shift
    ok 1 "$name" "$@"
}
diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }

is() { # is GOT WANT NAME
    [ "$1" = "$2" ]
    ok $? "$3" "expected: $2" "got:      $1"
}

matches() { # matches TEXT REGEX: does a line of TEXT match (grep -E)? Not a check.
    printf '%s' "$1" | grep -Eq -- "$2"
}

like() { # like TEXT REGEX NAME
    matches "$1" "$2"
    ok $? "$3" "expected: a match for $2" "got:      $1"
}

unlike() { # unlike TEXT REGEX NAME
    ! matches "$1" "$2"
    ok $? "$3" "expected: no match for $2" "got:      $1"
}

# A known hole: reported, but not counted as a failure (TAP TODO).
todo() { # todo EXIT-CODE NAME REASON
    _n=$((_n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $_n - $2 # TODO $3"; else echo "not ok $_n - $2 # TODO $3"; fi
}

# Skips, always with the reason.
skip() { # skip REASON [COUNT]: COUNT checks (1) that cannot run here
    local i
    for i in $(seq "${2:-1}"); do
        _n=$((_n + 1))
        echo "ok $_n # skip $1"
    done
}
skip_all() { # skip_all REASON: nothing in this file can run here; before any check
    echo "1..0 # SKIP $1"
    exit 0
}
require_root() { # containers need namespaces, cgroups and mounts: root's
    [ "$(id -u)" -eq 0 ] || skip_all "needs root (running as $(id -un)): containers, cgroups and mounts"
}
require_cmd() { # require_cmd CMD...: skip the file unless every CMD is installed
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || skip_all "$c is not installed (make deps)"
    done
}
bail_out() { # bail_out REASON: the file cannot go on (a probe that does not build)
    echo "Bail out! $1"
    exit 1
}

# A golden file: got must equal FILE. With UPDATE_GOLDEN=1 a difference
# rewrites FILE and is reported as a skip with the diff, never as a pass:
# a golden compared with what was just written into it proves nothing.
golden() { # golden GOT FILE NAME
    if [ "$1" = "$(cat "$2" 2>/dev/null)" ]; then
        pass "$3"
    elif [ -n "${UPDATE_GOLDEN:-}" ]; then
        diag "$(printf '%s\n' "$1" | diff -u "$2" - | head -40)"
        printf '%s\n' "$1" >"$2"
        skip "$3: $(basename "$2") rewritten (UPDATE_GOLDEN): review git diff"
    else
        fail "$3" "$(printf '%s\n' "$1" | diff -u "$2" - | head -40)"
    fi
}

gone() { # PID: gone, or a zombie its (non-servos) parent has yet to reap
    for _ in $(seq 50); do
        [ -e "/proc/$1" ] || return 0
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
        sleep 0.05
    done
    return 1
}

# Ports come from 20000-31999: below the kernel's ephemeral range (32768 on),
# where a connection's own local port can take one between the pick and
# the bind ("Address already in use" in 90-proserve).
free_port() { # a TCP port nobody listens on
    while :; do
        p=$((20000 + RANDOM % 12000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# run CMD...: sets $out, $err, $rc
run() {
    out=$("$@" 2>"$TMP/stderr") && rc=0 || rc=$?
    err=$(cat "$TMP/stderr")
}

done_testing() {
    echo "1..$_n"
    [ "$_failed" -eq 0 ]
}
