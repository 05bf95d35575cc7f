#!/usr/bin/env bash
# Issue 17, the path points, attacked the way an attacker would: volume
# targets that spell the container's root, image links that point at the
# host, archives that reach out of their directory, a volume whose group is
# root's. Each check asserts what the host looks like afterwards.
. "$(dirname "$0")/lib.sh"
use_containers
CRAFT=("python3" "$ROOT/tests/probes/craft-tar.py")
# An unprivileged host user. The final exec comes from a shell of theirs:
# setpriv keeps its capabilities until its own exec, so a path it execs
# directly is looked up with root's.
NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups sh -c 'exec "$@"' sh)
cleanup() {
    cd /
    "$S" down -v -t 0 -p t95p >/dev/null 2>&1
    remove_containers
}
BB=$(command -v busybox)
cc -O1 -o "$TMP/ids" "$ROOT/tests/probes/paths-ids.c" || exit 1
chmod 755 "$TMP/ids"
null_before=$(stat -c '%u:%g:%a' /dev/null)
BASE=(d:bin "f755:bin/busybox=@$BB" l:bin/sh=busybox)

# Where an image's links point: a world-writable host directory, as /tmp
# is, so a container root that reached it could write there.
H=$TMP/hostx
mkdir -p "$H" && chmod 1777 "$H"
host_untouched() { is "$(find "$H" -mindepth 1 | wc -l)" 0 "$1"; }
# The image entries for the directories of $H, so its links resolve inside.
H_DIRS=()
p=
IFS=/ read -ra parts <<<"${H#/}"
for c in "${parts[@]}"; do
    p=$p${p:+/}$c
    H_DIRS+=("d:$p")
done
mkdir -p "$TMP/d" && echo inside >"$TMP/d/mark" && chmod -R a+rX "$TMP/d"

# --- point 8: volume targets that are the root, /proc, /sys, /dev -----------
for v in "/:/." "/://" "/:/x/.." "/proc:/x/.." "$TMP/d:/tmp/../"; do
    run "$S" run --rm -v "$v" host sh -c 'echo RAN; ls /'
    is "$rc:$out" "125:" "-v $v is refused before anything runs"
    like "$err" "is not allowed: it is the container's root" "and the error says why ($v)"
done
for v in "$TMP/d:/proc" "$TMP/d:/proc/sys/kernel" "$TMP/d:/sys/" "$TMP/d:/dev"; do
    run "$S" run --rm -v "$v" host sh -c 'echo RAN'
    is "$rc:$out" "125:" "-v $v is refused"
done
run "$S" run --rm -v "$TMP/d:/data//sub/./" host cat /data/sub/mark
is "$out" inside "a target spelled with // and /. is cleaned, not refused"
run "$S" run --rm -v /sys/fs/cgroup:/sys/fs/cgroup:ro host sh -c 'ls /sys/fs/cgroup | grep -c .'
like "$rc:$out" "^0:[1-9]" "below /sys is allowed, as runc allows it"

# The same through an image's links: a target that looks harmless.
"${CRAFT[@]}" "$TMP/links.tar" "${BASE[@]}" l:data=/ l:pr=/proc/sys l:dv=/dev l:sy=/sys/
run "$S" run --rm -v "$TMP/d:/data" "$TMP/links.tar" /bin/sh -c 'echo RAN'
is "$rc:$out" "125:" "an image link data -> / does not make a volume the container's root"
like "$err" "volume target /data: it leads to the container's root" "and the error says why"
run "$S" run --rm -v "$TMP/d:/pr" "$TMP/links.tar" /bin/sh -c 'echo RAN'
like "$rc:$err" "^125:.*leads into the container's /proc" "nor does a link into /proc put a volume there"
run "$S" run --rm -v "$TMP/d:/dv" "$TMP/links.tar" /bin/sh -c 'echo RAN'
like "$rc:$err" "^125:.*leads to the container's /dev" "nor a link to /dev"
run "$S" run --rm -v "$TMP/d:/sy" "$TMP/links.tar" /bin/sh -c 'echo RAN'
like "$rc:$err" "^125:.*leads to the container's /sys" "nor a link to /sys"

mkdir -p "$TMP/stk" && cd "$TMP/stk" || exit 1
mkdir -p d
for vol in '"./d:/x/.."' '"./d:/proc/self"' '{ type = "tmpfs", target = "//" }'; do
    printf 'stack "t95p"\nservice "a" { command = "true", volumes = { %s } }\n' "$vol" >Envirofile.lua
    run "$S" config .
    like "$rc:$err" "^1:servos: Envirofile.lua:2: .*may not be" "a stack volume target $vol is refused at evaluation"
done
printf 'stack "t95p"\nservice "a" { command = "true", tmpfs = { "/x/.." } }\n' >Envirofile.lua
run "$S" config .
like "$rc:$err" "^1:.*may not be /x/..: it is the container's root" "so is a tmpfs target /x/.."
cd "$TMP" || exit 1

# --- point 9: an image's links are followed inside it, never on the host ----
"${CRAFT[@]}" "$TMP/evil.tar" "${BASE[@]}" "l:etc=$H" "l:data=$H" "l:work=$H"
for userns in "" "--userns host"; do
    run "$S" run --rm $userns -v "$TMP/d:/data/sub" -w /work/wd "$TMP/evil.tar" /bin/sh -c 'echo RAN'
    is "$rc:$out" "125:" "links etc, data, work -> a host directory: refused ${userns:-(user namespace)}"
    like "$err" "is a symbolic link to a missing directory" "as links to nowhere inside the image"
    host_untouched "no hostname, hosts, resolv.conf, volume or workdir mount point made on the host ${userns:-(user namespace)}"
done
# With the links' targets inside the image, the container works, and
# everything lands inside it.
"${CRAFT[@]}" "$TMP/evil2.tar" "${BASE[@]}" "${H_DIRS[@]}" "l:etc=$H" "l:data=$H" "l:work=$H"
for userns in "" "--userns host"; do
    run "$S" run --rm $userns --hostname probe9 -v "$TMP/d:/data/sub" -w /work/wd "$TMP/evil2.tar" \
        /bin/sh -c "cat /etc/hostname /data/sub/mark; pwd; ls $H | tr '\n' ' '"
    is "$(echo "$out" | tr '\n' '|')" "probe9|inside|$H/wd|host.conf hostname hosts resolv.conf sub wd |" \
        "with the targets in the image, /etc files, volume and workdir land there ${userns:-(user namespace)}"
    host_untouched "and the host directory stays empty ${userns:-(user namespace)}"
done
# Links in /etc to files in missing directories (a systemd image's
# etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf) work: the
# directories are made inside the image, as runc does.
"${CRAFT[@]}" "$TMP/rel.tar" "${BASE[@]}" d:etc "l:etc/resolv.conf=$H/resolve/stub.conf" \
    l:etc/hosts=../run/h/hosts
run "$S" run --rm "$TMP/rel.tar" /bin/sh -c "cat $H/resolve/stub.conf; grep -c localhost /run/h/hosts"
is "$(echo "$out" | tr '\n' ' ')" "nameserver 127.0.0.1 2 " "links in /etc lead to their targets in the image, made there"
host_untouched "not on the host"
for d in dev proc; do
    "${CRAFT[@]}" "$TMP/$d.tar" "${BASE[@]}" "l:$d=$H"
    run "$S" run --rm "$TMP/$d.tar" /bin/sh -c 'echo RAN'
    like "$rc:$err" "^125:.*the image's /$d is not a directory" "an image whose /$d is a link is refused"
    host_untouched "and nothing of /$d is made on the host"
done

# A layer's whiteout below a link it planted ("a -> host dir", "a/b/.wh.c")
# used to mkdir and chown on the host.
"${CRAFT[@]}" --docker-save "$TMP/wh.tar" "${BASE[@]}" "l:a=$H" "f:a/b/.wh.c=" "f:a/.wh..wh..opq="
run "$S" image import "$TMP/wh.tar"
is "$rc" 0 "a docker-save archive with a whiteout below a link imports"
run "$S" run --rm evil:1 /bin/sh -c 'echo RAN'
host_untouched "its layer makes nothing in the host directory the link names"

# Device nodes and hard links to them: never on the host.
"${CRAFT[@]}" "$TMP/dev.tar" "${BASE[@]}" d:dev b:dev/vda=254,0 c:dev/mem=1,1 c:dev/null=1,3 \
    h:dev/null2=dev/null h:hn=/dev/null
run "$S" run --rm "$TMP/dev.tar" /bin/sh -c 'echo RAN'
is "$out" RAN "an image with device nodes runs"
is "$(find "$SERVOS_ROOT" -type b | wc -l)" 0 "no block device from an image lands under the state root"
is "$(find "$SERVOS_ROOT" -type c -exec stat -c '%t,%T' {} + | grep -vc '^0,0$')" 0 \
    "nor a character device (overlay whiteouts, 0,0, aside)"
"${CRAFT[@]}" "$TMP/hl.tar" "${BASE[@]}" l:d=/dev h:x=d/null "h:y=/dev/null" h:z=../../../../../dev/null
run "$S" run --rm "$TMP/hl.tar" /bin/sh -c 'echo RAN'
is "$rc:$out" "125:" "hard links through a link to /dev, or to /dev/null itself, are refused"

# A docker-save archive whose files are links to a host secret.
echo "secret-$$" >"$TMP/secret" && chmod 600 "$TMP/secret"
for target in "$TMP/secret" "../../../../../../..$TMP/secret"; do
    "${CRAFT[@]}" --docker-save-raw "$TMP/leak.tar" "l:config.json=$target" "l:layer.tar=$target"
    run "$S" image import "$TMP/leak.tar"
    [ "$rc" -ne 0 ]
    ok $? "an archive's config.json -> $target is not imported"
    is "$(grep -rl "secret-$$" "$SERVOS_ROOT" 2>/dev/null | wc -l)" 0 "and the host file is nowhere in the store"
done

# Unpacked images keep their setuid files (they are the image's); no host
# user may reach them, least of all root's under --userns host.
"${CRAFT[@]}" "$TMP/suid.tar" "${BASE[@]}" "f4755:bin/ids=@$TMP/ids"
run "$S" run --rm --userns host "$TMP/suid.tar" /bin/sh -c 'echo RAN'
is "$out" RAN "an image with a setuid-root file runs under --userns host"
f=$(find "$SERVOS_ROOT/images" -name ids -perm -4000 -user 0 | head -1)
run "${NOBODY[@]}" "$f"
unlike "$out" "euid=0" "a host user cannot run its setuid-root file from the image store ($f)"
like "$err" "Permission denied" "the store is closed to host users"
is "$(stat -c %a "$SERVOS_ROOT/images")" 710 "images/ is root's and the containers' group's only"

# --- point 3: an idmapped volume never maps a privileged id -----------------
G=$TMP/g
mkdir -p "$G/own" && chown 1000:0 "$G" && chmod 775 "$G" && chown 1000:1000 "$G/own" && chmod 775 "$G/own"
run "$S" run --rm -v "$G:/v" -v "$TMP/ids:/ids:ro" host sh -c \
    'stat -c %g /v; for d in /v /v/own; do cp /ids $d/ids 2>/dev/null && chmod 6755 $d/ids; done; echo done'
like "$out" "^65534" "a 1000:0 volume: host gid 0 is not mapped into the container (its files show as nogroup)"
is "$(find "$G" -perm /6000 \( -user 0 -o -group 0 \) | wc -l)" 0 \
    "no set-id file of host root's user or group comes out of it"
for f in "$G/ids" "$G/own/ids"; do
    [ -e "$f" ] || continue
    run "${NOBODY[@]}" "$f"
    unlike "$out" "euid=0 |egid=0$" "a host user running $f made inside gets neither root's uid nor group ($out)"
done
run "${NOBODY[@]}" "$TMP/ids"
is "$out" "euid=65534 egid=65534" "(the probe itself runs as the unprivileged user)"
U=$TMP/u && mkdir -p "$U" && chown 4321:4321 "$U"
run "$S" run --rm -v "$U:/v" host sh -c "grep ' /v ' /proc/self/mountinfo"
like "$out" "nosuid,nodev.*idmapped|idmapped.*nosuid,nodev" "an idmapped volume is mounted nosuid and nodev"
W=$TMP/w && mkdir -p "$W" && chown 33:33 "$W" && chmod 777 "$W"
run "$S" run --rm -v "$W:/v" host sh -c "stat -c %u:%g /v; grep -c ' /v .*idmapped' /proc/self/mountinfo"
is "$(echo "$out" | tr '\n' ' ')" "65534:65534 0 " "a volume of a system account (www-data) is not idmapped"

base=$("$S" run --rm host cat /proc/self/uid_map | awk '{print $2}')
C=$TMP/c && mkdir -p "$C" && touch "$C/f" && chown "$base:$base" "$C" && chown "$((base + 33)):$((base + 33))" "$C/f"
run "$S" run --rm -v "$C:/v" host stat -c %u:%g /v/f
is "$out" "33:33" "a volume the containers' range owns is not idmapped: its files keep their container owners"

# A named volume lives under volumes/, closed to host users like images/.
mkdir -p "$TMP/stk2" "$TMP/keep" && touch "$TMP/keep/kept" && cd "$TMP/stk2" || exit 1
cat >Envirofile.lua <<LUA
stack "t95p"
volume "v"
service "a" {
  command = "cp /ids /v/ids && chmod 6755 /v/ids && ln -s $TMP/keep /v/k && mkdir /v/d && ln -s $TMP/keep /v/d/k; exec sleep 1000",
  volumes = { "v:/v", "$TMP/ids:/ids:ro" },
  stop_grace_period = "1s",
}
LUA
run "$S" up -d
is "$rc" 0 "a stack with a named volume comes up" || diag "$err"
f=$SERVOS_ROOT/volumes/stacks/t95p/v/ids
for _ in $(seq 50); do [ -e "$f" ] && break; sleep 0.1; done
run "${NOBODY[@]}" "$f"
like "$rc:$err" "^[1-9].*Permission denied" "a host user cannot run a set-id file a container left in a named volume"
is "$(stat -c %a "$SERVOS_ROOT/volumes")" 710 "volumes/ is root's and the containers' group's only"
run "$S" down -v -t 0 -p t95p
is "$rc:$(ls -A "$SERVOS_ROOT/volumes/stacks" | wc -l)" "0:0" "down -v removes the named volume"
is "$(ls "$TMP/keep")" kept "and not what the links the container left there point to"
cd "$TMP" || exit 1

# --- low: a bare name is not a directory in $PWD ------------------------------
mkdir -p "$TMP/name" && echo rel >"$TMP/name/mark" && chmod -R a+rX "$TMP/name"
run "$S" run --rm -v name:/x host cat /x/mark
is "$rc:$out" "125:" "run -v name:/x does not bind \$PWD/name"
like "$err" "\"name\" is not a path .*write ./name" "and says how to bind it"
run "$S" run --rm -v ./name:/x host cat /x/mark
is "$out" rel "run -v ./name:/x binds it"
printf 'stack "t95p"\nservice "a" { command = "true", volumes = { "name:/x" } }\n' >Envirofile.lua
run "$S" config .
like "$err" "volume \"name\" is not declared.*\./name" "a stack says the same for name:/x"

is "$(stat -c '%u:%g:%a' /dev/null)" "$null_before" "the host's /dev/null kept its owner and mode throughout"
done_testing
