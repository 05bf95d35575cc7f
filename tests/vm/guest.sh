#!/bin/bash
# Inside the guest (started by /usr/local/sbin/servos-vm-init, from the work
# disk that tests/vm/run.sh made): run the chosen tests on the host-built
# build/servos and leave on the work disk, for the host to read back,
#   results/tap      prove's output (-v --timer), as the console showed it
#   results/status   prove's exit status
#   results/boot     seconds from kernel start to here
#   results/detect   `servos detect` in the guest
#   results/dmesg    the kernel's log (kept off the console during the run)
#   results/cgroups-left  servos cgroups still under /sys/fs/cgroup at the end
#   results/edges    the kernel features with a version edge (tests/vm/edges.c)
set -u
cd /work/repo || exit 1
R=/work/results
mkdir -p "$R"
say() { echo "servos-vm: $*"; }

boot=$(cut -d' ' -f1 /proc/uptime)
echo "$boot" >"$R/boot"
say "guest up in $boot s: Linux $(uname -r), $(stat -fc %T /sys/fs/cgroup) on /sys/fs/cgroup," \
    "controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null)"

# A library missing from the image fails every test the same obscure way.
missing=$(ldd build/servos | grep 'not found')
if [ -n "$missing" ]; then
    say "build/servos needs libraries the image lacks (add their packages to tests/vm/image.sh):"
    echo "$missing"
    echo 1 >"$R/status"
    exit 1
fi
build/servos detect >"$R/detect" 2>&1
gcc -O1 -o /tmp/edges tests/vm/edges.c && /tmp/edges >"$R/edges" 2>&1
# The kernel's static nodes, which systemd-tmpfiles makes at boot (kmod
# static-nodes): 60-runtime gives a container /dev/net/tun.
[ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod -m 666 /dev/net/tun c 10 200; }

mapfile -t tests </work/tests
# The ASan build stays on the host: its run-time libraries are not in the
# image, and what it checks does not depend on the kernel.
export SERVOS_ASAN=/nonexistent
# Under TCG a process start costs 50-70 ms: the tests' time budgets (the
# ProServe handlers' timeouts, "at once") scale by this (tests/lib.sh).
export SERVOS_TEST_SLOW=${SERVOS_TEST_SLOW:-10}
say "prove ${tests[*]}"
# The console formatter: on a pipe (to tee) prove would pick the file
# formatter, which holds each test's TAP back until the test ends.
prove --formatter TAP::Formatter::Console -v --timer "${tests[@]}" 2>&1 | tee "$R/tap"
status=${PIPESTATUS[0]}
echo "$status" >"$R/status"
dmesg >"$R/dmesg"
# What the tests may have left behind: each removes its own on success.
# (every group under them, with how many processes each still holds).
for d in /sys/fs/cgroup/servos*/ /sys/fs/cgroup/*/servos*/; do
    [ -d "$d" ] || continue
    find "$d" -type d | while read -r g; do
        echo "$g $(wc -l <"$g/cgroup.procs") processes"
    done
done >"$R/cgroups-left"
say "tests done at $(cut -d' ' -f1 /proc/uptime) s: prove exited $status"
# Benches (run.sh's VM_BENCH): their table only; a missed goal is not the
# tests' status. Under TCG every figure is emulated: compare ratios.
mapfile -t benches < <(grep -v '^RUNS=' /work/benches 2>/dev/null)
if [ "${#benches[@]}" -gt 0 ]; then
    say "benches: ${benches[*]}"
    env "$(grep '^RUNS=' /work/benches)" tests/bench/run "${benches[@]}" 2>/dev/null | tee "$R/bench"
fi
exit "$status"
