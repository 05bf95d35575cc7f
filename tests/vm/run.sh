#!/bin/bash
# `make check-vm`: run end-to-end tests on build/servos inside a Debian 12
# guest (its own 6.1 kernel, pure cgroup v2) under qemu, and exit with
# their status. Usage: tests/vm/run.sh [TEST...] (default: $VM_TESTS, or
# tests/60-runtime.t tests/70-stacks.t).
#
# The image (tests/vm/image.sh) is built once and cached; each run boots it
# with snapshot=on (the image stays as built) beside a work disk made here
# with mke2fs -d: a fresh copy of the repository (its tracked and new
# files), build/servos, the list of tests. The guest writes the results on
# that disk, read back with debugfs after qemu exits: no loop mount, no
# 9p, nothing mounted on the host. Left in build/vm/: console.log (the
# whole serial console), tap.txt, dmesg.txt, detect.txt, edges.txt.
#   VM_TIMEOUT  seconds before the guest is killed (1800)
#   VM_MEMORY   guest memory (2G); VM_CPUS: guest CPUs (2)
#   VM_CPU_MODEL  qemu's -cpu (qemu64); VM_APPEND: more kernel arguments
#   VM_CGROUP   v2 (the default: pure v2, as Debian 12 boots) or v1 (pure v1,
#               a hierarchy per controller and no unified one)
#   VM_CACHE, VM_SOURCES, VM_REBUILD: see image.sh
#   VM_BENCH    benches to run in the guest after the tests (names of
#               tests/bench/*.sh, e.g. "runtime"); their table in
#               build/vm/bench.txt. VM_BENCH_RUNS: their RUNS (20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
say() { echo "servos-vm: $*" >&2; }
die() {
    say "$*"
    exit 1
}

read -r -a tests <<<"${*:-${VM_TESTS:-tests/60-runtime.t tests/70-stacks.t}}"
for t in "${tests[@]}"; do
    [ -f "$t" ] || die "no test file $t"
done
read -r -a benches <<<"${VM_BENCH:-}"
for b in "${benches[@]}"; do
    [ -f "tests/bench/$b.sh" ] || die "no bench tests/bench/$b.sh"
done
[ -x build/servos ] || die "no build/servos: run make first"
for tool in qemu-system-x86_64 mmdebstrap mke2fs debugfs; do
    command -v "$tool" >/dev/null || die "$tool is missing: make deps, then ./.ci/deps --vm"
done
[ "$(id -u)" -eq 0 ] || die "run as root: mmdebstrap builds the image as root, and the tests run as root"

t_start=$(date +%s)
image=$("$here/image.sh")
t_image=$(($(date +%s) - t_start))

out=build/vm
mkdir -p "$out"
rm -f "$out"/*.log "$out"/*.txt
work=$(mktemp -d "${TMPDIR:-/var/tmp}/servos-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The work disk: the repository as it is checked out here (new files too,
# not the ignored build trees), the binary under test, the tests to run.
stage=$work/stage
mkdir -p "$stage/repo/build" "$stage/results"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -co --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$stage/repo" -xf -
else
    tar --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | tar -C "$stage/repo" -xf -
fi
cp build/servos "$stage/repo/build/servos"
printf '%s\n' "${tests[@]}" >"$stage/tests"
printf '%s\n' "${benches[@]}" "RUNS=${VM_BENCH_RUNS:-20}" >"$stage/benches"
mke2fs -q -t ext4 -L servos-work -d "$stage" "$work/work.img" 1G >/dev/null

# One guest at a time on this machine: two under TCG would each take
# twice as long and time out, and their timings would say nothing.
mkdir -p "${VM_CACHE:-/var/cache/servos-vm}"
exec 8>"${VM_CACHE:-/var/cache/servos-vm}/.run.lock"
flock -n 8 || {
    say "another guest is running: waiting for it"
    flock 8
}

# TCG: this host's nested KVM hangs at kernel start. mitigations=off: page
# table isolation makes every system call flush the emulated TLB, which
# under TCG costs more than anything the tests do; nothing here needs it.
# -cpu qemu64: the tests start hundreds of processes, and each fork and
# exec clears and copies pages; with "max" the kernel and glibc do that
# with rep stosb/movsb (ERMS), one emulated byte at a time, and a run
# takes a fifth longer. No feature the tests reach depends on the CPU
# model (namespaces, cgroups, BPF, idmapped mounts are the kernel's).
# The kernel's console is quiet (loglevel=3); the guest's init silences
# it further once booted, and saves dmesg instead.
append="console=ttyS0 root=/dev/vda rw fsck.mode=skip init=/usr/local/sbin/servos-vm-init"
append="$append quiet loglevel=3 panic=-1 mitigations=off ${VM_APPEND:-}"
[ "${VM_CGROUP:-v2}" = v1 ] && append="$append servos.cgroup=v1 systemd.unified_cgroup_hierarchy=0"
say "booting $(basename "$image") (Linux $(awk '/^linux-image-[0-9]/ {print $2; exit}' "$image/packages"))" \
    "to run ${tests[*]}"
t_boot=$(date +%s)
qrc=0
TMPDIR=$work timeout -k 10 "${VM_TIMEOUT:-1800}" \
    qemu-system-x86_64 -accel tcg -cpu "${VM_CPU_MODEL:-qemu64}" -m "${VM_MEMORY:-2G}" -smp "${VM_CPUS:-2}" \
    -nographic -no-reboot -nic none -device virtio-rng-pci \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$append" \
    -drive "file=$image/root.img,format=raw,if=virtio,snapshot=on,cache=unsafe" \
    -drive "file=$work/work.img,format=raw,if=virtio,cache=unsafe" \
    </dev/null 2>&1 | sed -u 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r$//' | tee "$out/console.log" || qrc=$?
t_end=$(date +%s)
flock -u 8

# Read back what the guest wrote (debugfs reads the image file directly).
get() { debugfs -R "dump /results/$1 $2" "$work/work.img" >/dev/null 2>&1 && [ -s "$2" ]; }
get tap "$out/tap.txt" || true
get dmesg "$out/dmesg.txt" || true
get detect "$out/detect.txt" || true
get edges "$out/edges.txt" || true
get bench "$out/bench.txt" || rm -f "$out/bench.txt"
get cgroups-left "$out/cgroups-left.txt" || rm -f "$out/cgroups-left.txt"
status=$(get status "$work/status" && cat "$work/status" || echo none)
boot=$(get boot "$work/boot" && cat "$work/boot" || echo "?")

# Each test's time from prove's --timer stamps: a file's stamp is its
# start, the next stamp its end (whole seconds).
times=$(awk '
    /^\[[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\]/ {
        split(substr($1, 2, 8), h, ":"); t = h[1] * 3600 + h[2] * 60 + h[3]
        if (name != "") { d = t - start; if (d < 0) d += 86400; printf "%s %d s, ", name, d }
        name = $2; sub(/^tests\//, "", name); start = t
    }' "$out/tap.txt" 2>/dev/null || true)
say "image ready in $t_image s; guest up in $boot s; ${times}qemu ran $((t_end - t_boot)) s;" \
    "all $((t_end - t_start)) s" 2>&1 | tee "$out/summary.txt" >&2
[ -s "$out/cgroups-left.txt" ] && say "cgroups left after the tests ($out/cgroups-left.txt):" &&
    sed 's/^/    /' "$out/cgroups-left.txt" >&2
[ -s "$out/bench.txt" ] && say "benches in the guest ($out/bench.txt):" && cat "$out/bench.txt" >&2
say "left in $out/: $(cd "$out" && echo *)"

if [ "$status" = none ]; then
    if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
        say "the guest did not finish in ${VM_TIMEOUT:-1800} s (killed)"
    else
        say "the guest wrote no status (qemu exited $qrc): see $out/console.log"
    fi
    exit 1
fi
exit "$status"
