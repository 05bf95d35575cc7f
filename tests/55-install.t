#!/usr/bin/env bash
# make install / uninstall: the binary, the manual page servos(1) written
# from the same text as --help, and the bash completion (verbs, options,
# their choices, and the names of containers, stacks, services and images
# of a real stack). Installs under $TMP only.
. "$(dirname "$0")/lib.sh"
use_containers
TMUX_SOCK=servos-t55-$$
cleanup() {
    tmux -L "$TMUX_SOCK" kill-server >/dev/null 2>&1
    "$S" down -v -t 0 -p t55 >/dev/null 2>&1
    remove_containers
}

# The test's own make, not the jobserver of a `make test` above it.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$ROOT" "$@"; }
files() { (cd "$1" && find . -type f -o -type l | sed 's|^\./||' | sort); }

D=$TMP/d
P=$D/usr/local
run mk install DESTDIR="$D" PREFIX=/usr/local
is "$rc" 0 "make install DESTDIR=... PREFIX=/usr/local" || diag "$err"
is "$(files "$D" | tr '\n' ' ')" \
    "usr/local/bin/servos usr/local/share/bash-completion/completions/servos usr/local/share/man/man1/servos.1 " \
    "exactly three files: the binary, servos.1 and the completion"
cmp -s "$P/bin/servos" "$ROOT/build/servos"
ok $? "the binary is the one built"
is "$(stat -c %a "$P/bin/servos") $(stat -c %a "$P/share/man/man1/servos.1")" "755 644" \
    "modes: 755 for the binary, 644 for the page"
like "$("$P/bin/servos" version)" "^servos " "the installed binary runs"

# ---- the manual page ---------------------------------------------------------------
MAN=$P/share/man/man1/servos.1
run env MANWIDTH=80 man -l "$MAN"
is "$rc" 0 "man -l renders the page"
# (what man and groff say goes to stderr; the page itself may say "warning")
is "$(printf '%s' "$err" | grep -i warn)" "" "MANWIDTH=80 man -l: no warnings"
PAGE=$out
is "$(env MANWIDTH=50 man -l "$MAN" 2>&1 >/dev/null)" "" "no warnings at 50 columns either"
is "$(groff -man -ww -z "$MAN" 2>&1)" "" "groff -ww (every warning) has nothing to say"
like "$PAGE" "^SERVOS\(1\)" "the page is servos(1)"
like "$(printf '%s' "$PAGE" | sed -n '/^NAME/,/^SYNOPSIS/p')" "servos - " "NAME: servos - ..."
is "$(printf '%s' "$PAGE" | LC_ALL=C grep -c $'[\x80-\xff]')" 0 \
    "ASCII only: an option copied from the page is the option (\\- and quotes)"
# Each command's section says, word for word, what `servos VERB --help` says.
VERBS=$("$S" --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ -n "$VERBS" ]
ok $? "servos --help lists the commands"
section() {
    printf '%s\n' "$PAGE" | awk -v h="   servos $1" '$0 == h {on = 1; next}
        on && (/^   servos / || /^[A-Za-z]/ || /SERVOS\(1\)$/) {exit} on'
}
same=0
for v in $VERBS; do
    want=$("$S" "$v" --help | sed 's/^usage: //' | tr -s ' \n' '\n\n' | grep .)
    got=$(section "$v" | tr -s ' \n' '\n\n' | grep .)
    if [ "$want" = "$got" ]; then
        same=$((same + 1))
    else
        diag "servos $v: the page differs from --help" "$(diff <(echo "$want") <(echo "$got") | head)"
    fi
done
is "$same" "$(echo "$VERBS" | wc -w)" "every command's section is its --help, word for word"
like "$PAGE" "--memory SIZE" "servos run's options are in the page"
like "$PAGE" "servos image rm REF" "servos image's own help (cli_image.c) is in the page"

# ---- bash completion ---------------------------------------------------------------
COMP=$P/share/bash-completion/completions/servos
bash -n "$COMP"
ok $? "the completion is valid bash"
# comp LINE: what <TAB> at the end of LINE offers, one per line, as bash
# calls the function (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD set).
comp() {
    PATH=$P/bin:$PATH bash --norc --noprofile -c '
        source "$1" || exit 1
        COMP_LINE=$2
        COMP_POINT=${#COMP_LINE}
        read -r -a COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _servos servos "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$1" | grep . | sort | tr '\n' ' '
}
like "$(comp "servos r")" "^(.* )?restart .*rm .*run " "servos r<TAB>: run, rm, restart"
unlike "$(comp "servos r")" "(^| )(ls|up|__complete) " "servos r<TAB>: nothing else"
is "$(comp "servos run --me")" "--memory " "servos run --me<TAB>: --memory"
is "$(comp "servos run --network ")" "host none " "servos run --network <TAB>: its choices"
is "$(comp "servos run --network=h")" "host " "servos run --network=h<TAB>: host"
is "$(comp "servos run --security-opt seccomp=u")" "unconfined " \
    "a choice with \"=\": only the part readline replaces"
is "$(comp "servos ps --format ")" "json table " "servos ps --format <TAB>: from its synopsis"
is "$(comp "servos image ")" "import load ls prune pull push rm save " "servos image <TAB>: its sub-commands"
is "$(comp "servos completion ")" "bash " "servos completion <TAB>: bash"
like "$(comp "servos help ")" "(^| )run .*version " "servos help <TAB>: the commands"
is "$(comp "servos run host ls -")" "" "after a container's command, its words are its own"
mkdir -p "$TMP/cwd/sub"
touch "$TMP/cwd/Envirofile.lua" "$TMP/cwd/sub/compose.yaml"
is "$(cd "$TMP/cwd" && comp "servos up s")" "sub " "servos up s<TAB>: paths"
# Every option of every command's --help completes after "--".
missing=
for v in $VERBS; do
    offered=" $(comp "servos $v --")"
    for o in $("$S" "$v" --help | grep -oE '^ {1,6}(-[a-zA-Z], )?--[a-z][a-z0-9-]*' |
        grep -oE -- '--[a-z][a-z0-9-]*'); do
        [[ $offered == *" $o "* ]] || missing="$missing $v:$o"
    done
done
is "$missing" "" "every --long option of every command's --help completes"

# Names: a real stack, a container and an image in this test's state root.
mkdir -p "$TMP/stack"
cat >"$TMP/stack/Envirofile.lua" <<'LUA'
stack "t55"
service "web" { command = "exec sleep 1000", stop_grace_period = "1s" }
service "worker" { command = "exec sleep 1000", replicas = 2, stop_grace_period = "1s" }
LUA
run bash -c "cd '$TMP/stack' && '$S' up -d"
is "$rc" 0 "a stack comes up" || diag "$err"
run "$S" run -d --name t55-lonely host sleep 1000
is "$rc" 0 "and a container" || diag "$err"
mkdir -p "$TMP/rfs/bin"
cp "$(command -v busybox)" "$TMP/rfs/bin/"
tar -C "$TMP/rfs" -cf "$TMP/rfs.tar" .
run "$S" image import "$TMP/rfs.tar" localhost/t55:1.0
is "$rc" 0 "and an image" || diag "$err"
is "$(comp "servos logs -p ")" "t55 " "servos logs -p <TAB>: the running stack"
is "$(comp "servos ps --project-name=t")" "t55 " "servos ps --project-name=t<TAB>"
is "$(comp "servos logs -p t55 w")" "web worker " "servos logs -p t55 w<TAB>: its services"
like "$(comp "servos logs -p t55 ")" "^t55-lonely t55-web-1 t55-worker-1 t55-worker-2 web worker $" \
    "servos logs -p t55 <TAB>: services and containers"
is "$(cd "$TMP/stack" && comp "servos restart ")" "web worker " \
    "without -p, in the stack's directory: its services"
is "$(cd "$TMP" && comp "servos restart ")" "" "elsewhere, no stack is guessed"
is "$(comp "servos scale -p t55 wo")" "worker= " "servos scale <TAB>: SERVICE="
is "$(comp "servos stop t55-l")" "t55-lonely " "servos stop <TAB>: containers"
like "$(comp "servos run ")" "(^| )host .*localhost/t55:1.0 " "servos run <TAB>: host and images"
is "$(comp "servos run localhost/t55:")" "1.0 " "an image after \":\": only what readline replaces"
is "$(comp "servos image rm loc")" "localhost/t55:1.0 " "servos image rm <TAB>: images"
is "$(comp "servos --root $TMP/nowhere logs -p ")" "" "--root before the verb is the root asked"
run env SERVOS_ROOT="$TMP/nowhere" "$S" __complete containers
is "$rc:$out:$([ -e "$TMP/nowhere" ] && echo made)" "0::" \
    "__complete where there is no state root: nothing printed, none made"

# In a real interactive bash: <TAB> on a terminal (capture-pane drops the
# blank a completed word gets, so WANT ends at the word).
tab() { # tab LINE WANT: type LINE, press TAB, wait for the line to read WANT
    tmux -L "$TMUX_SOCK" send-keys -t t55 C-u "$1" Tab
    for _ in $(seq 50); do
        tmux -L "$TMUX_SOCK" capture-pane -p -t t55 | grep -qxF -- "$2" && return 0
        sleep 0.1
    done
    tmux -L "$TMUX_SOCK" capture-pane -p -t t55 | grep . | tail -3 >&2
    return 1
}
tmux -L "$TMUX_SOCK" new-session -d -s t55 -x 200 -y 20 \
    "env PATH='$P/bin:$PATH' SERVOS_ROOT='$SERVOS_ROOT' PS1='t55\$ ' bash --norc --noprofile"
tmux -L "$TMUX_SOCK" send-keys -t t55 "source '$COMP'" Enter
tab "servos run --mem" 't55$ servos run --memory'
ok $? "a terminal: servos run --mem<TAB>"
tab "servos logs -p t" 't55$ servos logs -p t55'
ok $? "a terminal: servos logs -p t<TAB>"
tab "servos run localhost/t55:" 't55$ servos run localhost/t55:1.0'
ok $? "a terminal: an image name across \":\""
tmux -L "$TMUX_SOCK" kill-server >/dev/null 2>&1

# ---- uninstall ---------------------------------------------------------------------
echo keep >"$P/bin/other-tool"
echo keep >"$P/share/man/man1/other.1"
run mk uninstall DESTDIR="$D" PREFIX=/usr/local
is "$rc" 0 "make uninstall" || diag "$err"
is "$(files "$D" | tr '\n' ' ')" "usr/local/bin/other-tool usr/local/share/man/man1/other.1 " \
    "make uninstall removes the three files and nothing else"
# Without DESTDIR, PREFIX alone.
run mk install PREFIX="$TMP/prefix"
is "$rc" 0 "make install PREFIX=DIR" || diag "$err"
is "$(files "$TMP/prefix" | wc -l)" 3 "installs the three files under PREFIX"
run mk uninstall PREFIX="$TMP/prefix"
is "$(files "$TMP/prefix" | wc -l)" 0 "and make uninstall PREFIX=DIR removes them"

done_testing
