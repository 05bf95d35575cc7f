#!/usr/bin/env bash
# Environments in git, end to end: stacks brought up from a branch, a tag
# and a commit of a bare repository served by `git daemon` on 127.0.0.1 and
# by git+file://; `servos pull` recreating only what changed; imports from
# a second repository; path escapes; bad refs, broken pushes and a dead
# server leaving the running stack alone; offline use of the cache;
# credentials over HTTP (git http-backend behind basic auth) and ssh (sshd
# on loopback: keys, ssh-agent, known_hosts) that are used and never printed. Every stack, daemon and server is stopped at the
# end, also when a check fails.
. "$(dirname "$0")/lib.sh"
use_containers
# libgit2 has no frame pointers: unwind slowly so tests/lsan.supp can name
# the libgit2 function that leaks.
export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0
export HOME=$TMP/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.invalid
STACKS="t85 t85tag t85c t85off t85http"
cleanup() {
    for st in $STACKS; do "$S" down -t 0 -p "$st" >/dev/null 2>&1; done
    [ -f "$TMP/daemon.pid" ] && kill "$(cat "$TMP/daemon.pid")" 2>/dev/null
    [ -n "${HTTPD:-}" ] && kill "$HTTPD" 2>/dev/null
    [ -n "${SSHD:-}" ] && kill "$SSHD" 2>/dev/null
    [ -n "${SSH_AGENT_PID:-}" ] && kill "$SSH_AGENT_PID" 2>/dev/null
    [ -n "${MADE_RUN_SSHD:-}" ] && rmdir /run/sshd 2>/dev/null
}
mkdir -p "$HOME" "$TMP/srv"
ps_json() { "$S" ps --format json -p "$1"; }
pid_of() { ps_json "$1" | jq -r ".[] | select(.service==\"$2\") | .pid"; }
commit_of() { ps_json "$1" | jq -r '.[0].commit'; }
g() { git -C "$TMP/work" "$@"; }

# The library repository: one module, tagged.
git init -q -b main "$TMP/lib"
echo 'return { url = "postgres://db:5432/app", pool = 4 }' >"$TMP/lib/db.lua"
echo 'return { peek = function() return read_file("/etc/hostname") end }' >"$TMP/lib/peek.lua"
git -C "$TMP/lib" add -A && git -C "$TMP/lib" commit -qm lib && git -C "$TMP/lib" tag v1
git clone -q --bare "$TMP/lib" "$TMP/srv/libs.git"

# The environment repository: a stack in dev/ importing the library.
git init -q -b main "$TMP/work"
mkdir -p "$TMP/work/dev" "$TMP/work/evil"
cat >"$TMP/work/dev/Envirofile.lua" <<LUA
stack "t85"
local db = import "git+file://$TMP/srv/libs.git#v1:db.lua"
service "web" { command = {"sleep", "1000"}, env = { DB = db.url }, stop_grace_period = "1s" }
service "worker" { command = {"sleep", "1001"}, stop_grace_period = "1s" }
LUA
printf 'include "../../../../../../../etc/passwd"\n' >"$TMP/work/evil/include.lua"
printf 'return read_file("/etc/hostname")\n' >"$TMP/work/evil/absolute.lua"
ln -s /etc "$TMP/work/evil/etc"
printf 'stack "x"\nlocal p = read_file("etc/passwd")\n' >"$TMP/work/evil/symlink.lua"
ln -s /etc/passwd "$TMP/work/evil/Envirofile.lua"
g add -A && g commit -qm "dev stack" && g tag v1
C1=$(g rev-parse HEAD)
git clone -q --bare "$TMP/work" "$TMP/srv/envs.git"

PORT=$((20000 + RANDOM % 12000))
git daemon --export-all --base-path="$TMP/srv" --reuseaddr --listen=127.0.0.1 --port="$PORT" \
    --pid-file="$TMP/daemon.pid" --detach
for _ in $(seq 50); do git ls-remote "git://127.0.0.1:$PORT/envs.git" >/dev/null 2>&1 && break; sleep 0.1; done
URL="git://127.0.0.1:$PORT/envs.git"

# ---- config and up from a branch, a tag, a commit ----------------------------
run "$S" config "$URL#main:dev"
is "$rc" 0 "config of git://...#main:dev" || diag "$err"
is "$(echo "$out" | jq -r .commit)" "$C1" "config shows the commit it read"
is "$(echo "$out" | jq -r .source)" "$URL#main:dev" "config shows the source"
is "$(echo "$out" | jq -r .services.web.env.DB)" "postgres://db:5432/app" "import returns the module of a second repository"

run "$S" up -d "$URL#main:dev"
is "$rc" 0 "up -d from a branch over git daemon" || diag "$err"
is "$(commit_of t85)" "$C1" "ps --format json records the commit"
run "$S" ps -p t85
like "$out" "^stack t85 from $URL#main at commit ${C1:0:12}" "ps names the repository and commit"
is "$("$S" exec -p t85 web-1 printenv DB)" "postgres://db:5432/app" "the imported value reaches the container"
ls -d "$SERVOS_ROOT"/git/*/repo >/dev/null 2>&1
ok $? "repositories are cached in the state directory"

run "$S" up -d -p t85tag "git+file://$TMP/srv/envs.git#v1:dev"
is "$rc" 0 "up -d from a tag over git+file://" || diag "$err"
is "$(commit_of t85tag)" "$C1" "the tag's commit runs"
run "$S" up -d -p t85c "$TMP/srv/envs.git#${C1:0:10}:dev"
is "$rc" 0 "up -d from an abbreviated commit of a local repository" || diag "$err"
is "$(commit_of t85c)" "$C1" "the commit runs"

# ---- push a change to one service, pull ----------------------------------------
web1=$(pid_of t85 web)
worker1=$(pid_of t85 worker)
sed -i 's/"sleep", "1000"/"sleep", "2000"/' "$TMP/work/dev/Envirofile.lua"
g commit -qam "web sleeps longer" && g push -q "$TMP/srv/envs.git" main
C2=$(g rev-parse HEAD)
run "$S" pull t85
is "$rc" 0 "pull after a push" || diag "$err"
like "$out" "envs.git#main: ${C1:0:12} -> ${C2:0:12}" "pull reports the move"
like "$out" "recreating web" "pull names the changed service"
unlike "$out" "recreating worker" "and only that one"
is "$(commit_of t85)" "$C2" "the stack now records the new commit"
[ "$(pid_of t85 web)" != "$web1" ]
ok $? "web was recreated"
is "$(pid_of t85 worker)" "$worker1" "worker kept running (same pid)"
run "$S" pull t85
like "$out" "\\(up to date\\)" "a second pull has nothing to do"
tagpid=$(pid_of t85tag web)
run "$S" pull -p t85tag
is "$rc" 0 "pull of the tag stack" || diag "$err"
is "$(commit_of t85tag)" "$C1" "a tag stays where it points"
is "$(pid_of t85tag web)" "$tagpid" "so nothing restarts"

# A supervisor evaluating again uses the recorded commit, not the newest.
sed -i 's/"sleep", "1001"/"sleep", "3001"/' "$TMP/work/dev/Envirofile.lua"
g commit -qam "worker changes" && g push -q "$TMP/srv/envs.git" main
C3=$(g rev-parse HEAD)
sup=$(grep -o 'supervisor of stack t85 (pid [0-9]*)' "$SERVOS_ROOT/stacks/t85/supervisor.log" | tail -1 | tr -dc '0-9\n' | sed 's/^85//')
kill -9 "$sup"
sleep 0.3
is "$(commit_of t85)" "$C2" "a new supervisor keeps the recorded commit"
is "$(pid_of t85 worker)" "$worker1" "and changes nothing"

# ---- failures leave the running stack alone --------------------------------------
printf 'service "web" {\n' >"$TMP/work/dev/Envirofile.lua"
g commit -qam "broken" && g push -q "$TMP/srv/envs.git" main
run "$S" pull t85
[ "$rc" -ne 0 ]
ok $? "pull of a broken commit fails"
like "$err" "stack t85 left as it was: .*Envirofile.lua:[0-9]+:" "with the file and line"
is "$(commit_of t85)" "$C2" "the stack keeps its commit"
is "$(pid_of t85 worker)" "$worker1" "and its replicas"
g revert --no-edit HEAD >/dev/null && g push -q "$TMP/srv/envs.git" main

run "$S" up -d -p t85 "$URL#no-such-branch:dev"
[ "$rc" -ne 0 ]
ok $? "up of a bad ref fails"
like "$err" "no branch, tag or commit \"no-such-branch\"" "and says so"
is "$(pid_of t85 worker)" "$worker1" "the running stack is untouched"
run "$S" config "$URL"
like "$err" "^servos: $URL#$(g rev-parse --short=12 HEAD): no Envirofile.lua" "the default is the remote HEAD's root, named in errors"
run "$S" config "$URL#:dev"
is "$(echo "$out" | jq -r .commit)" "$(g rev-parse HEAD)" "#:path takes the remote's HEAD"
run "$S" config "$URL#main:nowhere"
like "$err" "no nowhere in commit" "a missing path is named"
run "$S" config "git://127.0.0.1:$PORT/absent.git#main"
[ "$rc" -ne 0 ]
ok $? "a missing repository fails"
like "$err" "cannot fetch git://127.0.0.1:$PORT/absent.git" "and names it"

# ---- path escapes -------------------------------------------------------------------
run "$S" config "$URL#main:evil/include.lua"
like "$err" "evil/include.lua:1: include: \"../../../../../../../etc/passwd\" is outside the repository" "include ../../etc/passwd is refused"
run "$S" config "$URL#main:evil/absolute.lua"
like "$err" "read_file: \"/etc/hostname\" is outside the repository" "an absolute path is refused"
run "$S" config "$URL#main:evil/symlink.lua"
like "$err" "read_file: \"etc/passwd\" is outside the repository" "a symlink out of the repository is refused"
run "$S" config "$URL#main:evil"
like "$err" "leads out of the repository" "a source that is a symlink out is refused"
run "$S" config "$URL#main:../x"
like "$err" "leaves the repository" "a source path with .. is refused"
printf 'local m = import "%s"\n' "git+file://$TMP/srv/envs.git#main:evil/include.lua" >"$TMP/imp.lua"
run "$S" config "$TMP/imp.lua"
like "$err" "outside the repository" "an imported module cannot escape its repository either"
printf 'local m = import "%s"\nlocal x = m.peek()\n' "git+file://$TMP/srv/libs.git#v1:peek.lua" >"$TMP/imp.lua"
run "$S" config "$TMP/imp.lua"
like "$err" "read_file: \"/etc/hostname\" is outside the repository" "not even through a tail call"

# ---- a dead server: pull fails, up uses the cache --------------------------------------
kill "$(cat "$TMP/daemon.pid")"
rm -f "$TMP/daemon.pid"
sleep 0.2
run "$S" pull t85
[ "$rc" -ne 0 ]
ok $? "pull with the server down fails"
like "$err" "left as it was: cannot fetch $URL.*(refused|connect)" "and says it cannot reach it"
is "$(pid_of t85 worker)" "$worker1" "the running stack is untouched"
run "$S" up -d -p t85off "$URL#main:dev"
is "$rc" 0 "up works offline from the cache" || diag "$err"
like "$err" "warning: cannot fetch .*using the cached commit" "with a warning"
is "$("$S" config "$URL#v1:dev" 2>&1 | jq -r .commit)" "$C1" "a cached tag needs no network"

# ---- credentials over HTTP: from the URL or the credential store, never shown ------------
HPORT=$((PORT + 1))
/usr/bin/python3 "$ROOT/tests/helpers/git-http-auth.py" "$HPORT" "$TMP/srv" alice:pw-4lice &
HTTPD=$!
for _ in $(seq 50); do git ls-remote "http://alice:pw-4lice@127.0.0.1:$HPORT/envs.git" >/dev/null 2>&1 && break; sleep 0.1; done
H="127.0.0.1:$HPORT/envs.git"
run "$S" config "git+http://$H#main:dev"
[ "$rc" -ne 0 ]
ok $? "an HTTP login without credentials fails"
like "$err" "authentication failed for git\\+http://$H#main:dev" "with a clear message"
run "$S" config "git+http://alice:Wr0ngSecret@$H#main:dev"
[ "$rc" -ne 0 ]
ok $? "a wrong password in the URL fails"
like "$err" "authentication failed" "as a refused login"
unlike "$out$err" "Wr0ngSecret" "the password is never printed"
run "$S" up -d -p t85http "git+http://alice:pw-4lice@$H#main:dev"
is "$rc" 0 "up with credentials in the URL" || diag "$err"
run "$S" ps -p t85http
like "$out" "from http://$H#main at commit" "ps names the source without credentials"
unlike "$out$err" "pw-4lice" "and without the password"
unlike "$("$S" config "git+http://alice:pw-4lice@$H#main:dev" 2>&1)" "pw-4lice" "config never shows it"
is "$(stat -c %a "$SERVOS_ROOT/stacks/t85http/request")" 600 "the saved request is private"
! grep -rqs -e pw-4lice -e Wr0ngSecret "$SERVOS_ROOT/git"
ok $? "the cache holds no password"
rm -rf "$SERVOS_ROOT/git"
echo "http://alice:pw-4lice@127.0.0.1:$HPORT" >"$HOME/.git-credentials"
run "$S" config "git+http://$H#main:dev"
is "$rc" 0 "credentials from ~/.git-credentials" || diag "$err"
rm -f "$HOME/.git-credentials"

# ---- ssh: keys from ~/.ssh or ssh-agent, host keys from known_hosts ------------------------
SSHD_CONF=$TMP/sshd/config
mkdir -p "$TMP/sshd" "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/sshd/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519"
cp "$HOME/.ssh/id_ed25519.pub" "$TMP/sshd/authorized_keys"
SPORT=$((PORT + 2))
cat >"$SSHD_CONF" <<CONF
Port $SPORT
ListenAddress 127.0.0.1
HostKey $TMP/sshd/host_key
PidFile $TMP/sshd/pid
AuthorizedKeysFile $TMP/sshd/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CONF
[ -d /run/sshd ] || { mkdir -p /run/sshd && MADE_RUN_SSHD=1; }
/usr/sbin/sshd -D -f "$SSHD_CONF" -E "$TMP/sshd/log" &
SSHD=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SPORT") 2>/dev/null && break; sleep 0.1; done
SSH_URL="git+ssh://$(id -un)@127.0.0.1:$SPORT$TMP/srv/envs.git#main:dev"
run "$S" config "$SSH_URL"
like "$err" "\\[127.0.0.1\\]:$SPORT is not a known host" "an unknown ssh host is refused"
echo "[127.0.0.1]:$SPORT $(cut -d' ' -f1,2 "$HOME/.ssh/id_ed25519.pub")" >"$HOME/.ssh/known_hosts"
run "$S" config "$SSH_URL"
like "$err" "host key of \\[127.0.0.1\\]:$SPORT does not match" "a changed ssh host key is refused"
echo "[127.0.0.1]:$SPORT $(cut -d' ' -f1,2 "$TMP/sshd/host_key.pub")" >"$HOME/.ssh/known_hosts"
ssh-keygen -q -H -f "$HOME/.ssh/known_hosts" >/dev/null 2>&1
if getent shadow "$(id -un)" | cut -d: -f2 | grep -q '^!'; then
    skip "$(id -un) is a locked account: sshd refuses its logins" 3
else
    run "$S" config "$SSH_URL"
    is "$(echo "$out" | jq -r .stack)" t85 "git+ssh with a key from ~/.ssh and a hashed known_hosts entry" || diag "$err"
    mv "$HOME/.ssh/id_ed25519" "$TMP/agent_key"
    rm -rf "$SERVOS_ROOT/git"
    run "$S" config "$SSH_URL"
    like "$err" "authentication failed for git\\+ssh" "no key: a clear authentication error"
    eval "$(ssh-agent -s)" >/dev/null
    ssh-add -q "$TMP/agent_key" 2>/dev/null
    run "$S" config "$SSH_URL"
    is "$rc" 0 "the key from ssh-agent" || diag "$err"
    kill "$SSH_AGENT_PID"
fi

# ---- the cache keeps what stacks run; unused exported trees go ---------------------------
for st in t85 t85c t85off t85http; do "$S" down -t 0 -p "$st" >/dev/null 2>&1; done
# (the credential tests emptied the cache: export a pinned and an unpinned tree)
"$S" config -q "git+file://$TMP/srv/envs.git#v1:dev" && "$S" config -q "git+file://$TMP/srv/envs.git#$C2:dev"
find "$SERVOS_ROOT"/git/*/trees -mindepth 1 -maxdepth 1 -exec touch -d '2 hours ago' {} +
"$S" down -t 0 -p t85nothing >/dev/null 2>&1 # any down prunes
trees=$(find "$SERVOS_ROOT"/git/*/trees -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -u)
like "$trees" "$C1" "the commit a running stack recorded stays exported"
unlike "$trees" "$C2" "trees no stack records are removed once idle"
ls -d "$SERVOS_ROOT"/git/*/repo >/dev/null 2>&1
ok $? "the repositories stay cached"

done_testing
