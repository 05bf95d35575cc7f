#!/usr/bin/env bash
# Terminals and init, as a user at a real terminal sees them: servos runs in
# a tmux pane (a pseudo-terminal of tmux's, like a terminal window), keys are
# sent to the pane and the pane's screen is read back. run -it, exec -it into
# a container and into a stack's replica, -i for piped stdin, --init (stop at
# once, zombies reaped). Every container, stack and tmux server is removed at
# the end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
require_cmd tmux
SOCK=servos-t64-$$
T() { tmux -L "$SOCK" "$@"; }
cleanup() {
    T kill-server >/dev/null 2>&1
    "$S" down -v -t 0 -p t64 >/dev/null 2>&1
    remove_containers
}

# --- the pane ------------------------------------------------------------------
pane() { T capture-pane -p -J -t t -S - 2>/dev/null; }
wait_for() { # wait_for REGEX [SECS]: until a line of the pane matches
    local end=$((SECONDS + ${2:-10}))
    while [ "$SECONDS" -le "$end" ]; do
        pane | grep -Eq -- "$1" && return 0
        sleep 0.05
    done
    return 1
}
type_line() { T send-keys -t t -l "$1" && T send-keys -t t Enter; }
seen() { # seen REGEX NAME [SECS]
    if wait_for "$1" "${3:-10}"; then pass "$2"; else fail "$2" "$(pane | grep -v '^$' | tail -25)"; fi
}
T new-session -d -s t -x 100 -y 30 "env SERVOS_ROOT=$SERVOS_ROOT HISTFILE=/dev/null bash --norc --noprofile -i"
type_line "PS1='host\$ '; S=$S; cd $TMP; stty -g > $TMP/stty.before; echo READY"
seen '^READY$' "a shell runs in a tmux pane"

# --- run -it ----------------------------------------------------------------------
type_line "\$S run -it --rm -e PS1='ctr\$ ' host sh; echo \"END1 rc=\$?\"; stty -g > $TMP/stty.1"
seen 'ctr\$ ?$' "run -it host sh: the container's shell prompts"
type_line 'tty; echo $((6*7)); stty size'
seen '^42$' "keys typed reach the shell, its answer comes back (42)"
pts=$(pane | grep -E '^/dev/' | tail -1)
like "$pts" '^/dev/pts/[0-9]+$' "tty names a pseudo-terminal ($pts)"
size=$(T display -p -t t '#{pane_height} #{pane_width}')
seen "^$size\$" "the terminal starts with the pane's size ($size)"
T resize-window -t t -x 120 -y 40
sleep 0.3
size=$(T display -p -t t '#{pane_height} #{pane_width}')
type_line 'stty size'
seen "^$size\$" "a resize of the pane reaches the container's terminal ($size)"
type_line 'for f in 0 1 2; do readlink /proc/$$/fd/$f; done | tr "\n" " "; echo'
seen "^$pts $pts $pts ?\$" "the shell's stdin, stdout and stderr are that terminal"
type_line 'ls /dev/pts | tr "\n" " "; echo'
seen '^0 ptmx ?$' "its devpts holds that one terminal and no host terminal"

type_line 'sleep 100'
sleep 0.5
t0=$(date +%s%N)
T send-keys -t t C-c
type_line 'echo alive $?'
seen '^alive 130$' "Ctrl-C interrupts sleep 100 (130) and the shell survives" 5
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 3000 ]
ok $? "... within $(((t1 - t0) / 1000000)) ms"
type_line 'sleep 100'
sleep 0.5
T send-keys -t t C-z
seen 'Stopped.*sleep 100' "Ctrl-Z stops the foreground job inside"
type_line 'kill -9 %1; sleep 0.2; jobs'
seen 'Killed.*sleep 100' "... and the shell's job control has it"
type_line 'exit 7'
seen '^END1 rc=7$' "the exit code of the command is servos' (7)"
sleep 0.3
cmp -s "$TMP/stty.before" "$TMP/stty.1"
ok $? "the pane's terminal modes are as before (raw mode restored)" || diag "$(cat "$TMP/stty.before" "$TMP/stty.1" 2>&1)"

type_line "\$S run -it --rm -e PS1='ctr2\$ ' host sh; echo \"END2 rc=\$?\"; stty -g > $TMP/stty.2"
seen 'ctr2\$ ?$' "a second run -it prompts"
T send-keys -t t C-d
seen '^END2 rc=0$' "Ctrl-D ends the shell (exit 0)"
sleep 0.3
cmp -s "$TMP/stty.before" "$TMP/stty.2"
ok $? "after Ctrl-D, the pane's modes are as before"
type_line "stty -a | tr ';' '\n' | grep -cE '^ *(-icanon|-echo|-isig)\$'"
seen '^0$' "stty -a in the pane: canonical mode, echo and signals on"

# A fatal signal to servos while raw still gives the shell its terminal back.
type_line "\$S run -it --name crash-$$ -e PS1='crash\$ ' host sh; echo \"END3 rc=\$?\"; stty -g > $TMP/stty.3"
seen 'crash\$ ?$' "run -it prompts again"
pid=$(pgrep -f "run -it --name crash-$$ " | head -1)
[ -n "$pid" ] && kill -SEGV "$pid"
seen '^END3 rc=(139|1)$' "servos killed by SIGSEGV while relaying (139; 1 from an ASan build, which reports it)"
sleep 0.3
cmp -s "$TMP/stty.before" "$TMP/stty.3"
ok $? "... left the pane's terminal modes as they were"
"$S" rm -f "crash-$$" >/dev/null 2>&1

# --- what the container cannot reach: the user's terminal ------------------------------
mkdir -p "$TMP/bin"
cc -O1 -o "$TMP/bin/tiocsti" "$ROOT/tests/probes/tiocsti.c"
# The container pushes a command into "its" terminal's input (TIOCSTI) and
# exits; were that the pane's terminal, the shell there would run it.
type_line "\$S run -it --rm -v $TMP/bin:/p:ro host /p/tiocsti 'touch $TMP/pwned-run'; echo \"END4 rc=\$?\""
seen '^END4 rc=0$' "run -it: the TIOCSTI probe ran"
sleep 1
[ ! -e "$TMP/pwned-run" ]
ok $? "run -it: nothing the container typed reached the user's shell"
diag "$(pane | grep -E 'INJECTED|refused via fd 0' | tail -2)"

# --- exec -it -------------------------------------------------------------------
"$S" run -d --name box -e PS1='box$ ' -v "$TMP/bin:/p:ro" host sleep 300 >/dev/null
type_line "\$S exec -it box sh; echo \"END5 rc=\$?\"; stty -g > $TMP/stty.5"
seen 'box\$ ?$' "exec -it box sh prompts (the container's environment)"
type_line 'tty; echo $((6*7))'
seen '^42$' "exec -it: keys and answers go through"
pts=$(pane | grep -E '^/dev/' | tail -1)
like "$pts" '^/dev/pts/[0-9]+$' "exec -it: the shell has a terminal of the container's ($pts)"
type_line 'sleep 100'
sleep 0.5
T send-keys -t t C-c
type_line 'echo alive $?'
seen '^alive 130$' "exec -it: Ctrl-C interrupts sleep and the shell survives" 5
type_line 'exit 3'
seen '^END5 rc=3$' "exec -it: the exit code is the command's (3)"
sleep 0.3
cmp -s "$TMP/stty.before" "$TMP/stty.5"
ok $? "exec -it: the pane's modes are restored"
type_line "\$S exec -it box /p/tiocsti 'touch $TMP/pwned-exec'; echo \"END6 rc=\$?\""
seen '^END6 rc=0$' "exec -it: the TIOCSTI probe ran"
sleep 1
[ ! -e "$TMP/pwned-exec" ]
ok $? "exec -it: nothing the container typed reached the user's shell"

# --- stdin: -i, and what needs a terminal ---------------------------------------------
run sh -c "echo hi | '$S' run --rm -i host cat"
is "$out" hi "echo hi | servos run -i host cat prints hi"
run sh -c "echo hi | '$S' run --rm host cat"
is "$out|$rc" "|0" "without -i, stdin is /dev/null (cat reads nothing)"
run sh -c "echo hi | '$S' exec -i box cat"
is "$out" hi "echo hi | servos exec -i box cat prints hi"
run sh -c "echo hi | '$S' exec box cat"
is "$out|$rc" "|0" "exec without -i: stdin is /dev/null"
run sh -c "echo hi | '$S' run --rm -it host cat"
is "$rc" 125 "run -it with a pipe for stdin fails (125)"
like "$err" "the input device is not a TTY" "... saying the input device is not a TTY"
run sh -c "'$S' exec -it box true </dev/null"
like "$rc:$err" "^125:.*the input device is not a TTY" "exec -it without a terminal: the same"
run "$S" run --rm -t host sh -c 'tty; stty size'
like "$out" "^/dev/pts/[0-9]+" "-t alone: a terminal though stdin is not one"
like "$out" "24 80" "... 24x80 when servos has no terminal to copy the size from"

# --- detached: run -dit, run -di ------------------------------------------------------
"$S" run -dit --name dit host sh >/dev/null
"$S" run -di --name di host sh -c 'read line; echo "read: $line"' >/dev/null
sleep 1
run "$S" ls
like "$(echo "$out" | grep ' dit ')" "running" "run -dit host sh keeps running (its terminal is held)"
like "$(echo "$out" | grep ' di ')" "running" "run -di: stdin stays open, read waits"
run "$S" exec dit ps -eo pid,tty,args
like "$out" "1 +\? +servos-init" "run -dit: pid 1 is servos' init, which holds the terminal"
like "$out" "2 +pts/0 +sh" "... and the shell has the terminal"
type_line "\$S exec -it dit sh -c 'echo \$((6*7))x'; echo \"END7 rc=\$?\""
seen '^42x$' "exec -it into a run -dit container"
run "$S" logs dit
like "$out" "#" "run -dit: the shell's prompt went to the log"

# --- --init ---------------------------------------------------------------------
run "$S" run --rm --init host sh -c 'echo $$; cat /proc/1/comm; tr "\0" "\n" </proc/1/cmdline | grep -v "^$"'
is "$out" "$(printf '2\nservos-init\nservos-init')" "--init: the command is pid 2 under servos-init; pid 1's command line shows nothing of servos'"
run "$S" run --rm --init host sh -c 'exit 9'
is "$rc" 9 "--init: the command's exit code (9)"
run "$S" run --rm --init host sh -c 'kill -TERM $$'
is "$rc" 143 "--init: a command killed by SIGTERM gives 143"
run "$S" run --rm --init -u 1000 host sh -c 'for p in 1 $$; do grep -E "^(Uid|CapEff|NoNewPrivs|Seccomp):" /proc/$p/status | tr -s "\t " " " | tr "\n" " "; echo; done'
a=$(echo "$out" | sed -n 1p)
b=$(echo "$out" | sed -n 2p)
is "$a" "$b" "--init: the init runs with the command's user, capabilities, no_new_privs and filter"
like "$a" "Uid: 1000 .*NoNewPrivs: 1 Seccomp: 2" "... (uid 1000, no_new_privs, seccomp)"
# The init never execs: its memory is a copy of the servos process that
# started the container. Container root tries to read it.
peek='cat /proc/1/environ >/dev/null 2>&1 && echo env-read; readlink /proc/1/fd/0 >/dev/null 2>&1 && echo fd-followed; cat /proc/1/fd/1 </dev/null >/dev/null 2>&1 && echo fd-opened; head -c1 /proc/1/mem >/dev/null 2>&1 && echo mem-read; echo done'
for mode in auto host; do
    run "$S" run --rm --init --userns $mode host sh -c "$peek"
    is "$out" "done" "--init --userns $mode: the init's memory, environment and descriptors are closed to container root"
done
# Even what can trace it (host root with CAP_SYS_PTRACE) finds no
# environment of the user's there.
run env SERVOS_T64_SECRET=s3cr3t "$S" run --rm --init --userns host --cap-add SYS_PTRACE host sh -c 'tr "\0" "\n" </proc/1/environ | grep -c .'
is "$out" 0 "--init: the init's copy of servos' environment is blanked"

# The init is servos' own code, not a binary the image must have: a root
# holding only a static busybox will do.
BB=$(command -v busybox)
if [ -n "$BB" ] && file -L "$BB" | grep -q 'statically linked'; then
    mkdir -p "$TMP/bb/bin"
    cp "$BB" "$TMP/bb/bin/"
    for c in sh ps; do ln -s busybox "$TMP/bb/bin/$c"; done
    run "$S" run --rm --init "$TMP/bb" sh -c 'ps -o pid,comm | grep -c "^ *1 servos-init"; echo $$'
    is "$out" "$(printf '1\n2')" "--init in an image of a static busybox alone (no libc)"
else
    skip "no static busybox on this host"
fi

id=$("$S" run -d --init host sleep 100)
sleep 0.3
t0=$(date +%s%N)
"$S" stop "$id" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ]
ok $? "--init: servos stop of sleep returns in $ms ms (< 1 s)"
run "$S" ls
like "$(echo "$out" | grep "^${id:0:12}")" "exited \(143\)" "... and sleep ended by SIGTERM (143)"
id=$("$S" run -d host sleep 100)
sleep 0.3
t0=$(date +%s%N)
"$S" stop -t 2 "$id" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 1900 ]
ok $? "without --init, sleep as pid 1 ignores SIGTERM: stop waits the grace period ($ms ms)"

# Orphans: a shell started by exec leaves 50 background sleeps; when they
# end, they are the container's pid 1's to reap.
zombies() { # zombies [--init]
    local id
    id=$("$S" run -d "$@" host sleep 100)
    "$S" exec "$id" sh -c 'for i in $(seq 50); do (sleep 0.2 &); done'
    for _ in $(seq 50); do # until every one of them has ended
        "$S" exec "$id" ps -eo stat,args | grep -q '^[RSD].*sleep 0.2' || break
        sleep 0.1
    done
    sleep 0.2
    "$S" exec "$id" ps -eo stat | grep -c Z
    "$S" rm -f "$id" >/dev/null
}
is "$(zombies)" 50 "without --init, 50 orphans stay zombies under sleep as pid 1"
is "$(zombies --init)" 0 "--init: the 50 orphans are reaped (ps shows no Z)"

# --- stacks: init, tty, stdin_open ------------------------------------------------
mkdir -p "$TMP/stack"
cat >"$TMP/stack/Envirofile.lua" <<'LUA'
stack "t64"
service "web" { command = "exec sleep 1000", init = true, env = { PS1 = "web$ " } }
service "con" { command = { "sh", "-c", "echo started; tty; exec cat" }, tty = true }
service "idle" { command = { "sh", "-c", "read line; echo stdin-closed" }, stdin_open = true }
LUA
cat >"$TMP/stack/compose.yaml" <<'YAML'
services:
  a:
    image: host
    init: true
    tty: true
    stdin_open: true
YAML
run "$S" config "$TMP/stack/compose.yaml"
like "$out" '"init": true' "compose init: true is read"
like "$out" '"tty": true' "compose tty: true is read"
like "$out" '"stdin_open": true' "compose stdin_open: true is read"
unlike "$err" "not supported" "... without a warning"
echo 'service "b" { init = "yes" }' >"$TMP/bad.lua"
run "$S" config "$TMP/bad.lua"
like "$err" 'bad.lua:1: service "b": init: expected true or false' "init = \"yes\" is an error naming the file and line"
rm "$TMP/stack/compose.yaml"
(cd "$TMP/stack" && "$S" up -d >/dev/null 2>"$TMP/up.err")
is "$?" 0 "up -d of a stack with init, tty and stdin_open services"
sleep 1
run sh -c "cd '$TMP/stack' && '$S' ps --format json | jq -r '.[] | .service + \"=\" + .state' | sort | tr '\n' ' '"
is "$out" "con=running idle=running web=running " "every replica runs (idle's read waits on an open stdin)"
run sh -c "cd '$TMP/stack' && '$S' logs con"
like "$out" "started" "a tty replica's output reaches its log"
like "$out" "/dev/pts/[0-9]+" "... and it has a terminal"
run sh -c "cd '$TMP/stack' && '$S' exec web cat /proc/1/comm"
is "$out" servos-init "init = true: pid 1 of the replica is servos-init"
type_line "cd $TMP/stack; \$S exec -it web sh; echo \"END8 rc=\$?\""
seen 'web\$ ?$' "exec -it web sh: a shell in the stack's replica"
type_line 'hostname; tty'
seen '^web-1$' "exec -it: it runs in web-1"
type_line 'exit 4'
seen '^END8 rc=4$' "exec -it into a replica: the exit code is the command's (4)"
t0=$(date +%s%N)
(cd "$TMP/stack" && "$S" down -t 5 >/dev/null 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 3000 ]
ok $? "down -t 5: every replica stopped at SIGTERM, through the inits ($ms ms)"

T kill-server >/dev/null 2>&1
done_testing
