#!/usr/bin/env bash
# The command line: help for every verb, version, detect, list-platforms.
. "$(dirname "$0")/lib.sh"

run "$SERVOS" --help
is "$rc" 0 "servos --help exits 0"
verbs=$(echo "$out" | awk '/^Commands:/{f=1; next} f && /^  [a-z]/{print $1}')
for v in $verbs; do
    run "$SERVOS" "$v" --help
    is "$rc" 0 "servos $v --help exits 0"
    like "$out" "^usage: servos $v" "servos $v --help prints its usage"
done
run "$SERVOS"
is "$rc" 2 "servos with no command exits 2"
run "$SERVOS" confg
like "$err" 'unknown command "confg" \(did you mean "config"\?\)' "an unknown command suggests the closest"
run "$SERVOS" version
like "$out" '^servos [0-9]+\.[0-9]+' "servos version"
run "$SERVOS" config --bogus
is "$rc" 2 "an unknown option exits 2"

run "$SERVOS" detect
is "$rc" 0 "servos detect exits 0"
like "$out" "platform: +$(uname -m | sed 's/aarch64/(arm64|rpi-arm)/')" "detect names the platform"
like "$out" 'cgroups: +(v1|v2|hybrid)' "detect names the cgroup mode"
like "$out" 'namespaces: +.*user.*pid.*mount' "detect lists namespaces"
like "$out" 'seccomp: +yes' "detect sees seccomp"
run "$SERVOS" detect --json
is "$(echo "$out" | jq -r .cgroup)" "$( [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && echo v2 || { [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && echo hybrid || echo v1; })" "detect --json agrees with stat on the cgroup mode"

run "$SERVOS" list-platforms --json
for p in arduino micropython arm64 x86_64 rpi-arm cortex-m esp32; do
    is "$(echo "$out" | jq -r --arg p "$p" '.[] | select(.name == $p) | .name')" "$p" "list-platforms has $p"
done
is "$(echo "$out" | jq -r '.[] | select(.name == "arduino") | .boards[] | select(.id == "uno") | .usb' | cut -d' ' -f1)" "2341:0043" "the Uno's USB id is known"

# ---- The name memo: ps, logs, exec... in a stack's directory skip the
# evaluation while what it read is unchanged, and only then (lua/memo.h).
export SERVOS_ROOT=$TMP/root
M=$TMP/memo && mkdir -p "$M/d" && cat >"$M/d/Envirofile.lua" <<'EOF'
stack(os.getenv("SNAME") or include "part.lua")
service "a" { command = { "true" } }
EOF
echo 'return "alpha"' >"$M/d/part.lua"
mkdir -p "$SERVOS_ROOT"
stack_named() { (cd "$M/d" && env "$@" "$SERVOS" logs 2>&1 | sed -n 's/.*stack \([^ ]*\) is not up.*/\1/p'); }
is "$(stack_named)" alpha "the stack named by the file"
is "$(ls "$SERVOS_ROOT/memo" | wc -l)" 1 "an evaluation of one file leaves a memo"
grep -q '^noenv SNAME$' "$SERVOS_ROOT"/memo/* && grep -q "^file $M/d/part.lua " "$SERVOS_ROOT"/memo/*
ok $? "the memo holds the variable and the included file it read"
is "$(stack_named SNAME=beta)" beta "a variable the file reads, set: evaluated again"
is "$(stack_named)" alpha "and unset again"
echo 'return "gamma"' >"$M/d/part.lua"
is "$(stack_named)" gamma "an included file changed: evaluated again"
sed -i 's/gamma/delta/' "$M/d/part.lua"
is "$(stack_named)" delta "changed again, with the same size"
printf 'garbage\n' >"$(ls -d "$SERVOS_ROOT"/memo/* | head -1)"
is "$(stack_named)" delta "a damaged memo is not believed"
cat >"$M/d/Envirofile.lua" <<'EOF'
stack(os.time() % 2 == 0 and "even" or "odd")
EOF
rm -f "$SERVOS_ROOT"/memo/*
like "$(stack_named)" '^(even|odd)$' "a file that reads the clock"
is "$(ls "$SERVOS_ROOT/memo" | wc -l)" 0 "leaves no memo: its name can change with no input changing"
cat >"$M/d/Envirofile.lua" <<'EOF'
stack(env("SNAME", "epsilon"))
EOF
is "$(stack_named)" epsilon "env() with no .env"
echo SNAME=zeta >"$M/d/.env"
is "$(stack_named)" zeta "a .env that appears is read"
done_testing
