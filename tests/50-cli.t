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
done_testing
