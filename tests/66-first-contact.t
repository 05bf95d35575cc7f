#!/usr/bin/env bash
# First contact (issue 18), as a new user meets servos: a daemon that
# handles SIGTERM goes down at once (no signal blocked or ignored in any
# process servos starts in a container); an `up` that fails leaves the
# stack running and says so, or leaves nothing (no supervisor, port,
# namespace or row) and says so; `servos version` names its libraries; and
# every verb answers a bad option, a missing argument or a missing name
# with one line that says what is wrong and what to type. Every stack and
# container is removed at the end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
CGP=$(cgroup_parent)
STACKS="t66 t66f t66g t66r t66pa t66pb"
cleanup() {
    cd /
    for st in $STACKS; do "$S" down -v -t 0 -p "$st" >/dev/null 2>&1; done
    remove_containers
}
listening() { ss -Hltn "sport = :$1" | grep -q .; }
get() { curl -s -m 5 "http://127.0.0.1:$1${2:-/}"; }
wait_http() { for _ in $(seq 100); do get "$1" "${2:-/}" >/dev/null && return 0; sleep 0.1; done; return 1; }
sigs() { grep -E '^Sig(Blk|Ign)' | tr -s '\t ' ' ' | tr '\n' ' '; }
clean="SigBlk: 0000000000000000 SigIgn: 0000000000000000 "
# Processes of the test's supervisors (their command line is servos'
# own, their log names them).
supervisor_of() {
    local log=$SERVOS_ROOT/stacks/$1/supervisor.log pid
    [ -f "$log" ] || return 0
    pid=$(grep -o "supervisor of stack $1 (pid [0-9]*)" "$log" | tail -1 | grep -o '[0-9]*)' | tr -d ')')
    [ -n "$pid" ] && [ -e "/proc/$pid" ] && echo "$pid"
}
mkdir -p "$TMP/work"

# ---- 2. a daemon that handles SIGTERM is down at once ---------------------------
PW=$(free_port)
D=$TMP/work/graceful
mkdir -p "$D" && cd "$D" || exit 1
# A real daemon: python's HTTP server, which on SIGTERM writes where it got
# to into its volume and exits (as a database flushes and closes).
cat >daemon.py <<'PY'
import http.server, signal, sys
def term(sig, frame):
    open("/marks/py-term", "w").write("clean shutdown\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler).serve_forever()
PY
cat >Envirofile.lua <<LUA
stack "t66"
volume "marks"
service "py" {
  command = { "python3", "$D/daemon.py" },
  volumes = { "marks:/marks", "$D:$D:ro" },
  ports = { "$PW:8000" },
  healthcheck = { test = { "sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > /marks/hc.sig" },
                  interval = "200ms", retries = 50 },
}
service "sh" {
  command = "trap 'echo bye > /marks/sh-term; exit 0' TERM; while :; do sleep 0.1; done",
  volumes = { "marks:/marks" },
}
LUA
run "$S" up -d
is "$rc" 0 "up -d of a python daemon and a shell that trap SIGTERM" || diag "$err"
wait_http "$PW"
ok $? "the daemon answers on its published port" || diag "$("$S" logs)"
for _ in $(seq 50); do [ -s "$SERVOS_ROOT/volumes/stacks/t66/marks/hc.sig" ] && break; sleep 0.1; done
is "$(sigs <"$SERVOS_ROOT/volumes/stacks/t66/marks/hc.sig")" "$clean" "a health check: nothing blocked or ignored"
# (python itself ignores SIGPIPE and SIGXFSZ once it runs: the shell's pid 1
# shows what a replica is given.)
is "$("$S" exec sh cat /proc/1/status | sigs)" "$clean" \
    "a replica: nothing blocked or ignored (its supervisor blocks SIGTERM for a signalfd)"
is "$("$S" exec sh cat /proc/self/status | sigs)" "$clean" "an exec: nothing blocked or ignored"
t0=$(date +%s%N)
run "$S" down
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
is "$rc" 0 "down" || diag "$err"
[ "$ms" -lt 1000 ]
ok $? "down takes ${ms} ms (< 1 s; the grace period is 10 s)" "$ms ms"
is "$(cat "$SERVOS_ROOT/volumes/stacks/t66/marks/py-term" 2>&1)" "clean shutdown" \
    "the daemon got SIGTERM and wrote its marker into the volume"
is "$(cat "$SERVOS_ROOT/volumes/stacks/t66/marks/sh-term" 2>&1)" "bye" "so did the shell's trap"
! listening "$PW"
ok $? "the port is free after down"
"$S" down -v -p t66 >/dev/null 2>&1

# The same shell in a container of servos run: stop is as quick.
mkdir -p "$TMP/work/marks" && chmod 777 "$TMP/work/marks"
is "$("$S" run --rm host cat /proc/self/status | sigs)" "$clean" "run: nothing blocked or ignored"
id=$("$S" run -d -v "$TMP/work/marks:/marks" host sh -c \
    "trap 'echo bye > /marks/run-term; exit 0' TERM; while :; do sleep 0.1; done")
is "$("$S" exec "$id" cat /proc/1/status | sigs)" "$clean" "run -d: nothing blocked or ignored in pid 1"
t0=$(date +%s%N)
"$S" stop "$id" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ]
ok $? "stop of the same shell run -d takes ${ms} ms" "$ms ms"
is "$(cat "$TMP/work/marks/run-term" 2>&1)" "bye" "and its trap ran"
"$S" rm -f "$id" >/dev/null 2>&1

# ProServe handlers: a process one (started by the supervisor's gateway)
# and a container one (servos run, through the gateway).
for mode in process container; do
    port=$(free_port)
    d=$TMP/work/p-$mode
    mkdir -p "$d"
    cat >"$d/manifest.yaml" <<YAML
name: sig
port: $port
host: 127.0.0.1
endpoints:
  - path: /sig
    shell_command: "grep -E '^Sig(Blk|Ign)' /proc/self/status"
isolation:
  mode: $mode
  timeout: 10
YAML
    st=t66p${mode:0:1}
    run "$S" apply -p "$st" "$d/manifest.yaml"
    is "$rc" 0 "apply a ProServe service with $mode handlers" || diag "$err"
    wait_http "$port" /health
    ok $? "it answers" || diag "$("$S" logs -p "$st")"
    is "$(get "$port" /sig | sigs)" "$clean" "a $mode handler: nothing blocked or ignored"
    "$S" down -p "$st" >/dev/null 2>&1
done

# ---- 4. a failed up leaves nothing behind, or says what runs -------------------
PF=$(free_port)
F=$TMP/work/failing
mkdir -p "$F" && cd "$F" || exit 1
web='service "web" {
  command = { "sh", "-c", "trap \"exit 0\" TERM; busybox httpd -f -p 8080 -h /etc & wait" },
  ports = { "'$PF':8080" },
}'
i=0
for bad in 'command = { "/no/such/command" }' \
    'user = "nosuchuser", command = "exec sleep 1000"' \
    'volumes = { "/nonexistent/source:/x" }, command = "exec sleep 1000"' \
    'image = "/nonexistent/rootfs", command = "exec sleep 1000"'; do
    i=$((i + 1))
    printf 'stack "t66f"\n%s\nservice "broken" { %s, depends_on = { "web" } }\n' "$web" "$bad" >Envirofile.lua
    run "$S" up -d
    [ "$rc" -ne 0 ]
    ok $? "up fails: $bad" "$out"
    like "$err" '^servos: service "broken": ' "$i: it names the service and why"
    like "$err" 'stack t66f was not brought up: what had started of it was stopped and removed' \
        "$i: and says that nothing of the stack is left"
    is "$(echo "$err" | wc -l)" 2 "$i: in two lines"
    [ -z "$(supervisor_of t66f)" ]
    ok $? "$i: no supervisor is left"
    ! listening "$PF"
    ok $? "$i: its port is free" || diag "$(ss -ltnp "sport = :$PF")"
    is "$("$S" ls -q | wc -l)" 0 "$i: no container row is left"
    [ ! -e "$SERVOS_ROOT/stacks/t66f" ]
    ok $? "$i: no state (namespace, socket, request) is left" || diag "$(ls "$SERVOS_ROOT/stacks/t66f")"
    is "$(find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$CGP/*" | wc -l)" 0 \
        "$i: no cgroup is left"
done
# The next up of another checkout, on the same port, works.
G=$TMP/work/other
mkdir -p "$G" && cd "$G" || exit 1
printf 'stack "t66g"\n%s\n' "$web" >Envirofile.lua
run "$S" up -d
is "$rc" 0 "the next up of another checkout on the same port works" || diag "$err"
wait_http "$PF"
ok $? "and answers there"
"$S" down >/dev/null 2>&1

# A stack that runs: an up that fails leaves it running, and says so.
R=$TMP/work/running
mkdir -p "$R" && cd "$R" || exit 1
printf 'stack "t66r"\n%s\n' "$web" >Envirofile.lua
run "$S" up -d
is "$rc" 0 "up -d of a running stack" || diag "$err"
printf 'service "broken" { command = { "/no/such/command" } }\n' >>Envirofile.lua
run "$S" up -d
[ "$rc" -ne 0 ]
ok $? "an up that adds a broken service fails"
like "$err" '^servos: service "broken": /no/such/command: command not found' "it says why"
like "$err" 'stack t66r is still up; running: web; not running: broken \(servos ps -p t66r shows it, servos down -p t66r stops it\)' \
    "and what runs and what does not"
wait_http "$PF"
ok $? "the stack still answers on its port"
is "$("$S" ps --format json | jq -r '.[] | "\(.service) \(.state)"' | tr '\n' ' ')" "web running " \
    "ps agrees"
run "$S" down
is "$rc" 0 "down takes it down"
! { [ -z "$(supervisor_of t66r)" ] && listening "$PF"; }
ok $? "nothing is left"

# ---- 6. servos version ---------------------------------------------------------
run "$S" version
is "$rc" 0 "servos version"
like "$(echo "$out" | head -1)" '^servos [0-9]+\.[0-9]+' "its first line is servos' own version"
for lib in lua libyaml sqlite jansson libseccomp libcap libgit2 libarchive libcurl libcrypto libmicrohttpd libbpf; do
    line=$(echo "$out" | awk -v l="$lib" '$1 == l')
    like "$line" "^  $lib +([0-9]+\.[0-9]+|not found|- +built in; it has no call)" "version names $lib: ${line#  }"
done
if command -v pkg-config >/dev/null; then # what was linked in is what the build host has
    for pair in lua:lua5.4 libyaml:yaml-0.1 jansson:jansson libseccomp:libseccomp libgit2:libgit2; do
        want=$(pkg-config --modversion "${pair#*:}" 2>/dev/null) || continue
        is "$(echo "$out" | awk -v l="${pair%%:*}" '$1 == l {print $2}')" "$want" "${pair%%:*} is the one linked ($want)"
    done
fi
# SQLite is compiled in from third_party/sqlite: its version is that header's.
want=$(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"$/\1/p' "$ROOT/third_party/sqlite/sqlite3.h")
is "$(echo "$out" | awk '$1 == "sqlite" {print $2}')" "$want" "sqlite is the one in third_party/sqlite ($want)"
for so in libarchive.so.13 libcurl.so.4 libmicrohttpd.so.12 libbpf.so.1; do
    if ldconfig -p | grep -q "$so "; then
        like "$(echo "$out" | grep "$so")" '[0-9]+\.[0-9]+' "$so is installed: its version is shown"
    else
        like "$(echo "$out" | grep "$so")" "not found, $so" "$so is not installed: said so"
    fi
done
run "$S" version --nope
is "$rc" 2 "version --nope exits 2"

# ---- 6. every verb: a bad option, a missing argument, a missing name ---------
binaries=("$SERVOS")
[ -x "$SERVOS_ASAN" ] && binaries+=("$SERVOS_ASAN")
cd "$TMP/work" || exit 1 # no Envirofile here
one_line() { # NAME REGEX: after run, rc 1..125, one line on stderr, nothing on stdout, no crash
    [ "$rc" -ne 0 ] && [ "$rc" -le 125 ] &&
        ! matches "$err" 'AddressSanitizer|runtime error:|LeakSanitizer' &&
        [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [ -z "$out" ] && matches "$err" "$2"
    ok $? "$1" "expected: exit code 1..125, no sanitizer report, nothing on stdout and one line" \
        "          on stderr matching $2" "got:      exit code $rc, stdout: $out" "          stderr: $err"
}
verbs=$("$S" --help | awk '/^Commands:/{f=1; next} f && /^  [a-z]/{print $1}')
for bin in "${binaries[@]}"; do
    tag=$([ "$bin" = "$SERVOS" ] && echo release || echo asan)
    for v in $verbs; do
        run "$bin" "$v" --nope
        one_line "$tag: $v --nope" "^servos $v: unknown option \"--nope\"; usage: servos $v"
        run "$bin" "$v" --help
        [ "$rc" -eq 0 ] && [ -n "$out" ]
        ok $? "$tag: $v --help" "$err"
    done
    while IFS='|' read -r args regex; do
        # shellcheck disable=SC2086 # the arguments are words
        run "$bin" $args
        one_line "$tag: servos $args" "$regex"
    done <<'CASES'
--root|^servos: --root needs a directory
stop|^servos stop: name at least one container; usage: servos stop
rm|^servos rm: name at least one container; usage: servos rm
exec|^servos exec: name a container or service, and a command; usage:
exec box|^servos exec: which command, in "box"\?; usage:
scale|^servos scale: which SERVICE=N\?; usage:
scale web|^servos scale: SERVICE=N \(N from 0 to 1000\), not "web"; usage:
restart|^servos restart: which SERVICE\?; usage:
run|^servos run: which IMAGE\?
run --pids|^servos run: --pids needs a value; usage:
logs --tail|^servos logs: --tail needs a value; usage:
logs --tail x|^servos logs: bad value "x" for --tail; usage:
down -t|^servos down: -t needs a value; usage:
down -t soon|^servos down: -t wants whole seconds, not "soon"; usage:
stop -t x box|^servos stop: bad value "x" for --time; usage:
ps --format|^servos ps: --format needs a value; usage:
ps --format=xml|^servos ps: --format is json or table, not "xml"; usage:
ls --quiet=1|^servos ls: --quiet takes no value; usage:
config a b|^servos config: one FILE or DIR, not 2; usage:
up a b|^servos up: one FILE, DIR or GIT-SOURCE, not 2; usage:
detect extra|^servos detect: unexpected argument "extra"; usage:
image|^servos image: which\? ls, import, pull, push, save, load, rm or prune
image lss|^servos image: unknown command "lss" \(did you mean "ls"\?\)
image pull|^servos image pull: which image\?.*; usage: servos image pull
image import|^servos image import: which file or directory\?; usage: servos image import
image rm nosuch|^servos image rm: no image "nosuch" \(servos image ls lists them\)
ls nosuch|^servos ls: takes no name \("nosuch"\): it lists every container
ps nosuch|^servos ps: unexpected "nosuch" \(a stack is named by -p STACK\)
ps -p nosuch|^servos: no stack "nosuch": none is up here \(servos up starts one\)
logs -p nosuch|^servos: no stack "nosuch"
scale -p nosuch web=2|^servos: no stack "nosuch"
restart -p nosuch web|^servos: no stack "nosuch"
pull nosuch|^servos: no stack "nosuch"
stop nosuch|^servos stop: no container "nosuch" \(servos ls lists them\)
rm nosuch|^servos rm: no container "nosuch" \(servos ls lists them\)
exec nosuch true|^servos exec: no container "nosuch" \(servos ls lists them\); for a stack's service, add -p STACK
logs nosuch|^servos logs: no container "nosuch" \(servos ls lists them\); for a stack's service, add -p STACK
exec -p nosuch web true|^servos exec: no stack "nosuch"
CASES
done
run "$S" down -p nosuch
is "$rc" 0 "down of a stack that is not up succeeds (scripts end with it)"
like "$err" '^servos down: nothing to do: no stack "nosuch"' "but says there was none"

# A name near one that exists: servos says which.
N=$TMP/work/names
mkdir -p "$N" && cd "$N" || exit 1
printf 'stack "t66"\nservice "web" { command = "exec sleep 1000", replicas = 2, stop_grace_period = "1s" }\n' >Envirofile.lua
run "$S" up -d
is "$rc" 0 "up -d of a stack to misname" || diag "$err"
run "$S" ps -p t6
one_line "ps -p of a near name" '^servos: no stack "t6"; did you mean "t66"\? \(stacks here: t66\)'
run "$S" exec webb true
one_line "exec of a near service name" \
    '^servos exec: no container "webb", and stack t66 has no service or replica of that name; did you mean "web"\? \(it has web-1, web-2\)'
run "$S" logs -p t66 weeb
one_line "logs -p of a near service name" '^servos logs: stack t66 has no service or replica "weeb"; did you mean "web"\?'
"$S" down >/dev/null 2>&1
cd "$TMP" || exit 1

done_testing
