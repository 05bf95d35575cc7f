#!/usr/bin/env bash
# Real root file systems, as a user makes them: a Debian root by mmdebstrap
# (every file host root's), a directory below a private one, a root with
# its own /etc/hostname; what a child that fails while building the root
# says; and bind volumes the container's root cannot write (the warning,
# and :U). The host's directories must come out byte for byte unchanged.
. "$(dirname "$0")/lib.sh"
use_containers
cleanup() {
    [ -d "$TMP/stack" ] && (cd "$TMP/stack" && "$S" down >/dev/null 2>&1)
    remove_containers
}

# Everything a change could touch: path, type and mode, owner, size, mtime,
# link target, and the content of each regular file.
snapshot() {
    (
        cd "$1" || exit 1
        find . -xdev -printf '%p %M %U:%G %s %T@ %l\n' | LC_ALL=C sort
        find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    ) | sha256sum | cut -d' ' -f1
}

# --- a real Debian root, as mmdebstrap makes it ------------------------------
deb=$TMP/debian
if out=$("$ROOT/tests/helpers/debian-rootfs.sh" "$deb" 2>"$TMP/helper.err"); then
    have_deb=1
    pass "the Debian root is made"
else
    hrc=$?
    [ "$hrc" -eq 77 ] || fail "the Debian root is made" "$(cat "$TMP/helper.err")"
    have_deb=0
    reason=$out
fi
if [ "$have_deb" = 1 ]; then
    [ "$(stat -c %u:%g "$deb/etc")" = 0:0 ]
    ok $? "the Debian root's /etc is host root's"
    before=$(snapshot "$deb")

    run "$S" run --rm "$deb" cat /etc/debian_version
    is "$rc" 0 "servos run DEBIAN-DIR starts"
    like "$out" '^12\.' "cat /etc/debian_version: $out"
    unlike "$err" "Permission denied|Broken pipe" "no error on the way"

    run "$S" run --rm "$deb" sh -c 'stat -c "%u:%g %a" / /etc /root; cat /proc/self/uid_map'
    like "$out" '^0:0 755' "inside, / is container root's"
    like "$out" '0:0 700' "and /root is container root's, 0700, as on disk"
    like "$out" '^ *0 +[1-9][0-9]+ +65536$' "while container root is an unprivileged host uid"

    run "$S" run --rm "$deb" sh -c 'apt-get -s install hello'
    is "$rc" 0 "apt-get -s install hello exits 0"
    like "$out" 'Inst hello ' "and plans to install hello"
    run "$S" run --rm "$deb" sh -c 'dpkg -l | wc -l'
    [ "${out:-0}" -gt 80 ]
    ok $? "dpkg -l lists the installed packages ($out lines)" "$out $err"

    run "$S" run --rm "$deb" sh -c '
        set -e
        echo new > /new-at-root
        echo motd > /etc/motd-new
        echo "extra:x:4242:4242::/nonexistent:/usr/sbin/nologin" >> /etc/passwd
        rm /etc/debian_version
        mkdir -p /var/lib/made/deep && echo x > /var/lib/made/deep/f
        chmod 700 /etc/apt
        chown 4242 /etc/motd-new
        touch /usr/bin/ls
        cat /new-at-root /etc/motd-new; grep -c ^extra: /etc/passwd; stat -c %u /etc/motd-new
        test ! -e /etc/debian_version && echo removed'
    is "$rc" 0 "writes, removals, chmod and chown under / and /etc work"
    is "$(echo "$out" | tr '\n' ' ')" "new motd 1 4242 removed " "and the container sees them"
    run "$S" run --rm "$deb" sh -c 'cat /etc/debian_version; ls /new-at-root /etc/motd-new 2>&1 | wc -l; grep -c ^extra: /etc/passwd'
    like "$out" '^12\.' "a new container starts from the image again (the writes were in the last one's upper layer)"
    is "$(snapshot "$deb")" "$before" "the Debian directory on the host is byte for byte unchanged"
    [ ! -e "$deb/new-at-root" ] && [ -e "$deb/etc/debian_version" ]
    ok $? "nothing written reached it, nothing removed left it"

    # --userns host: the directory is used as it is, still read-only below.
    run "$S" run --rm --userns host "$deb" sh -c 'cat /etc/debian_version; apt-get -s install hello | grep -c "^Inst hello"; echo x > /etc/written; rm /etc/hostname 2>/dev/null; cat /proc/self/uid_map'
    is "$rc" 0 "--userns host runs the Debian root"
    like "$out" '^12\.' "--userns host: /etc/debian_version"
    like "$out" "$(printf '\n1\n')" "--userns host: apt plans the install"
    like "$out" '0 +0 +4294967295' "--userns host: the host's ids"
    is "$(snapshot "$deb")" "$before" "--userns host: the host directory is unchanged too"
else
    skip "the Debian root: $reason"
fi

# --- small roots: /etc/hostname present, a private parent, a failing child ----
bb=$TMP/bb
mkdir -p "$bb/bin" "$bb/etc"
cp "$(command -v busybox)" "$bb/bin/busybox"
for app in sh ls id cat echo true touch stat; do ln -s busybox "$bb/bin/$app"; done
echo on-disk-name >"$bb/etc/hostname"
echo "root:x:0:0:root:/root:/bin/sh" >"$bb/etc/passwd"
chmod 755 "$bb" "$bb/etc"
bb_before=$(snapshot "$bb")
run "$S" run --rm --hostname box "$bb" sh -c 'cat /etc/hostname; touch /etc/new && echo wrote'
is "$rc" 0 "a root-owned root with its own /etc/hostname starts"
is "$(echo "$out" | tr '\n' ' ')" "box wrote " "it sees the generated /etc/hostname and can write /etc"
unlike "$err" "Broken pipe" "no Broken pipe"
is "$(snapshot "$bb")" "$bb_before" "its directory is unchanged (on-disk /etc/hostname kept)"

mkdir -p "$TMP/private"
chmod 700 "$TMP/private"
cp -a "$bb" "$TMP/private/bb"
run "$S" run --rm "$TMP/private/bb" cat /etc/hostname
is "$rc" 0 "a root below a 0700 directory starts (servos opens it, not the container's root)"

# The host's own directories are not handed to container root as a tree of
# its own: "/" as an image stays root's (container root is "others").
run "$S" run --rm / sh -c 'stat -c %u /etc; cat /etc/shadow >/dev/null 2>&1 && echo read-shadow'
is "$out" 65534 "/ as an image is not idmapped: /etc stays the host's, /etc/shadow unreadable"

# Whoever can write the directory that holds a root file system swaps it
# for a link to "/" and back, as fast as it can, while it is started: the
# host's root must never be handed over as the container's own (what servos
# judges is what it opened, and that is what it mounts).
mkdir -p "$TMP/att"
cp -a "$bb" "$TMP/att/real"
python3 -c '
import os, sys, time
d = sys.argv[1]
end = time.time() + 4
while time.time() < end:
    os.rename(d + "/real", d + "/real.d")
    os.symlink("/", d + "/real")
    os.unlink(d + "/real")
    os.rename(d + "/real.d", d + "/real")
' "$TMP/att" &
swap=$!
leaked=0 started=0
while kill -0 "$swap" 2>/dev/null; do
    out=$("$S" run --rm "$TMP/att/real" cat /etc/shadow 2>/dev/null) && rc=0 || rc=$?
    [ "$rc" -ne 125 ] && started=$((started + 1))
    case $out in *root:*) leaked=$((leaked + 1)) ;; esac
done
wait "$swap"
is "$leaked" 0 "a root file system swapped for a link to / while it starts: the host's /etc/shadow never shows ($started started)"

# The state root itself below a 0700 directory: the error names that one.
run env SERVOS_ROOT="$TMP/private/state" "$S" run --rm "$bb" true
is "$rc" 125 "a state root below a 0700 directory is refused"
like "$err" "cannot pass $TMP/private \(mode 0700\)" "the error names the directory that blocks"
unlike "$err" "cannot reach $TMP/private/state/containers" "not <state root>/containers"
rm -rf "$TMP/private/state"

# A child that fails while it builds the root says why; never "Broken pipe".
child_fails() { # NAME DIR-SETUP WANT [run options...]
    local name=$1 want=$3
    shift 3
    run "$S" run --rm "$@" true
    is "$rc" 125 "$name: refused (125)"
    like "$err" "$want" "$name: the child's reason is given"
    unlike "$err" "Broken pipe|cannot start the container" "$name: not a broken pipe"
}
cp -a "$bb" "$TMP/c1" && rm -f "$TMP/c1/etc/hostname" && touch "$TMP/c1/proc"
child_fails "/proc is a file" - "/proc is not a directory" "$TMP/c1"
cp -a "$bb" "$TMP/c2" && mkdir "$TMP/c2/etc/hosts"
child_fails "/etc/hosts is a directory" - "/etc/hosts is a directory" "$TMP/c2"
child_fails "an unknown user" - 'user "nobody-here" is not in the container' --user nobody-here "$bb"
child_fails "a working directory that is a file" - "working directory /bin/sh: Not a directory" -w /bin/sh "$bb"
child_fails "/etc/hosts is a directory, --userns host" - "/etc/hosts is a directory" --userns host "$TMP/c2"

# --- bind volumes the container's root cannot write ------------------------
data=$TMP/data
mkdir -p "$data/sub"
echo a >"$data/sub/file"
echo secret >"$TMP/host-secret"
chmod 600 "$TMP/host-secret"
ln -s "$TMP/host-secret" "$data/link"
ln "$TMP/host-secret" "$data/hardlink" # another owner's file, also outside
cp /bin/true "$data/setuid"
chmod 4755 "$data/setuid"
chown 0:0 "$data" "$TMP/host-secret"

run "$S" run --rm -v "$data:/data" host sh -c 'touch /data/x 2>&1; echo rc=$?'
like "$err" "warning: volume $data .*not writable by the container's user.*:U" \
    "a root-owned read-write volume: a warning at start suggests :U"
like "$out" "rc=1" "(and indeed the container cannot write it)"
is "$(echo "$err" | grep -c warning)" 1 "one line"
run "$S" run --rm -v "$data:/data:ro" host true
unlike "$err" "warning" "no warning for a read-only volume"
run "$S" run --rm --userns host -v "$data:/data" host true
unlike "$err" "warning" "no warning under --userns host (root is root)"

range=$("$S" run --rm host sh -c 'set -- $(cat /proc/self/uid_map); echo $2')
run "$S" run --rm -v "$data:/data:U" host sh -c 'touch /data/x /data/sub/y && echo wrote; stat -c "%u %a" /data /data/sub/file'
is "$rc" 0 "-v DIR:/data:U starts"
unlike "$err" "warning: volume" "without the warning"
like "$out" "^wrote" "container root can write it"
like "$out" "0 755" "inside, it is container root's"
is "$(stat -c %u:%g "$data" "$data/sub" "$data/sub/file" "$data/x" | sort -u)" "$range:$range" \
    "on the host, the tree is the container range's ($range)"
is "$(stat -c %u:%g "$TMP/host-secret")" "0:0" "a link in it was not followed (its target is still root's)"
is "$(stat -c %u "$data/link")" "$range" "(the link itself was handed over)"
is "$(stat -c %u "$data/hardlink")" 0 "a hard link to another owner's file is left alone"
like "$err" "left 1 file\\(s\\) with several hard links" "and that is said"
is "$(stat -c %a "$data/setuid")" 755 "the setuid bit went with the chown"
run "$S" run --rm -u 1000 -v "$data:/data:U" host sh -c 'touch /data/z && echo wrote'
is "$out" wrote "-u 1000 with :U: the volume goes to the container's uid 1000"
is "$(stat -c %u "$data")" "$((range + 1000))" "(host uid $((range + 1000)))"

# An attacker's container, already owning its volume, swaps a directory in
# it for a link to a host directory, over and over, while :U walks the
# volume again: what the link leads to must stay as it was.
mkdir -p "$TMP/victim/inner"
echo keep >"$TMP/victim/inner/file"
chown -R 0:0 "$TMP/victim"
chmod 755 "$TMP/victim"
swapper=$("$S" run -d -v "$data:/data" host sh -c "
    while :; do
        rm -rf /data/d /data/d.old
        mkdir -p /data/d/e/f; touch /data/d/e/f/g; sleep 0.01
        mv -T /data/d /data/d.old; ln -s $TMP/victim /data/d; sleep 0.01
        rm -f /data/d; mv -T /data/d.old /data/d
    done")
sleep 0.3
failed=0
for _ in $(seq 25); do
    "$S" run --rm -v "$data:/data:U" host true >/dev/null 2>>"$TMP/race.err" || failed=$((failed + 1))
done
"$S" rm -f "$swapper" >/dev/null
is "$failed" 0 "every :U start during the race went through" || diag "$(sort -u "$TMP/race.err")"
is "$(find "$TMP/victim" -printf '%U:%G\n' | sort -u)" "0:0" \
    ":U racing a container that swaps a directory for a link to a host directory: the host directory stays root's"

# The same swap on a :U source: the link leads to what :U refuses (here the
# test's own directory, which holds the state root), and must stay refused.
mkdir -p "$TMP/att2/vol"
python3 -c '
import os, sys, time
d = sys.argv[1]
end = time.time() + 2
while time.time() < end:
    os.rename(d + "/vol", d + "/vol.d")
    os.symlink(sys.argv[2], d + "/vol")
    os.unlink(d + "/vol")
    os.rename(d + "/vol.d", d + "/vol")
' "$TMP/att2" "$TMP" &
swap=$!
while kill -0 "$swap" 2>/dev/null; do "$S" run --rm -v "$TMP/att2/vol:/data:U" host true >/dev/null 2>&1; done
wait "$swap"
is "$(stat -c %u:%g "$TMP" "$SERVOS_ROOT" | sort -u)" "0:0" \
    ":U on a source swapped for a link to what it refuses: that stays as it was"

for bad in / /etc /usr/share "$SERVOS_ROOT"; do
    run "$S" run --rm -v "$bad:/data:U" host true
    is "$rc" 125 ":U refuses $bad"
done
like "$err" "servos' state" "and says why"
[ "$(stat -c %u /etc)" = 0 ]
ok $? "/etc is still root's"

# A stack service takes :U too.
mkdir -p "$TMP/stack/vol"
cat >"$TMP/stack/Envirofile.lua" <<'EOF'
stack "rootfs62"
service "w" { command = "touch /data/made && exec sleep 30", volumes = { "./vol:/data:U" } }
EOF
run "$S" config "$TMP/stack"
like "$out" '"chown": true' "config shows :U as chown"
(cd "$TMP/stack" && "$S" up -d >/dev/null 2>&1)
for _ in $(seq 50); do [ -e "$TMP/stack/vol/made" ] && break; sleep 0.2; done
[ -e "$TMP/stack/vol/made" ]
ok $? "a service with ./vol:/data:U writes its volume"
is "$(stat -c %u "$TMP/stack/vol/made" 2>/dev/null)" "$range" "as the container range"
(cd "$TMP/stack" && "$S" down >/dev/null 2>&1)

done_testing
