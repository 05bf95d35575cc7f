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
trap 'rm -rf "$TMP"; remove_cgroup_parent' EXIT

ok() { # ok COND-EXIT-CODE NAME
    _n=$((_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $_n - $2"
    else
        echo "not ok $_n - $2"
        _failed=$((_failed + 1))
    fi
}

pass() { ok 0 "$1"; }
skip() { _n=$((_n + 1)); echo "ok $_n # skip $1"; }
fail() { ok 1 "$1"; [ $# -gt 1 ] && diag "$2"; return 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }

is() { # is GOT WANT NAME
    if [ "$1" = "$2" ]; then pass "$3"; else fail "$3" "got:  $1" "want: $2"; fi
}

like() { # like TEXT REGEX NAME
    if printf '%s' "$1" | grep -Eq -- "$2"; then pass "$3"; else fail "$3" "text: $1" "want match: $2"; fi
}

unlike() {
    if printf '%s' "$1" | grep -Eq -- "$2"; then fail "$3" "text: $1" "must not match: $2"; else pass "$3"; fi
}

gone() { # PID: gone, or a zombie its (non-servos) parent has yet to reap
    for _ in $(seq 50); do
        [ -e "/proc/$1" ] || return 0
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
        sleep 0.05
    done
    return 1
}

free_port() { # a TCP port nobody listens on
    while :; do
        p=$((20000 + RANDOM % 30000))
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
