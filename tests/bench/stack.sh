#!/usr/bin/env bash
# Benchmark: stacks of 10 and 100 `sleep` services. Time until all run for
# `servos up -d`, `servos down`, a no-op re-apply of the 100, and the
# supervisor's RSS with 100 running; against podman-compose and a loop of
# `podman run -d` when they are installed. Goals: 10 up < 150 ms, 10 down
# < 200 ms, 100 up < 1.5 s, no-op re-apply of 100 < 100 ms, supervisor
# < 8 MB RSS with 100.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVOS=${SERVOS:-$ROOT/build/servos}
T=$(mktemp -d /tmp/servos-bench-stack.XXXXXX)
chmod 711 "$T"
export SERVOS_ROOT=$T/root
P="podman --root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none"
cleanup() {
    for n in 10 100; do (cd "$T/s$n" 2>/dev/null && "$SERVOS" down -t 0 >/dev/null 2>&1) || true; done
    if [ -d "$T/podman" ]; then
        $P rm -af -t 0 >/dev/null 2>&1 || true
        $P system reset -f >/dev/null 2>&1 || true
        findmnt -rn -o TARGET | grep "^$T" | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

ms() { date +%s%N; }
elapsed() { echo $((($(date +%s%N) - $1) / 1000000)); }

for n in 10 100; do
    mkdir -p "$T/s$n"
    {
        echo "stack \"s$n\""
        echo "for i = 1, $n do"
        echo "  service(\"svc\" .. i) { command = { \"sleep\", \"100000\" }, stop_signal = \"SIGKILL\" }"
        echo "end"
    } >"$T/s$n/Envirofile.lua"
done

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
"$SERVOS" run --rm host true # warm the state root and the host image
ROUNDS=${ROUNDS:-5}
cd "$T/s10"
for _ in $(seq "$ROUNDS"); do
    t=$(ms); "$SERVOS" up -d >/dev/null; elapsed "$t" >>"$T/up10"
    t=$(ms); "$SERVOS" down >/dev/null; elapsed "$t" >>"$T/down10"
done
up10=$(median <"$T/up10") down10=$(median <"$T/down10")
cd "$T/s100"
for r in $(seq 3); do
    t=$(ms); "$SERVOS" up -d >/dev/null; elapsed "$t" >>"$T/up100"
    t=$(ms); "$SERVOS" up -d >/dev/null; elapsed "$t" >>"$T/noop100"
    if [ "$r" = 3 ]; then
        sup=$(grep -o 'supervisor of stack s100 (pid [0-9]*)' "$SERVOS_ROOT/stacks/s100/supervisor.log" | tail -1 | grep -o '[0-9]*)' | tr -d ')')
        rss=$(awk '/VmRSS/{print $2}' "/proc/$sup/status")
    fi
    t=$(ms); "$SERVOS" down >/dev/null; elapsed "$t" >>"$T/down100"
done
up100=$(median <"$T/up100") noop100=$(median <"$T/noop100") down100=$(median <"$T/down100")

printf '%-34s %8s %8s   (medians of %d and 3 rounds)\n' "" servos goal "$ROUNDS"
printf '%-34s %6d ms %6s\n' "10 services: up -d" "$up10" "150 ms"
printf '%-34s %6d ms %6s\n' "10 services: down" "$down10" "200 ms"
printf '%-34s %6d ms %6s\n' "100 services: up -d" "$up100" "1.5 s"
printf '%-34s %6d ms %6s\n' "100 services: no-op re-apply" "$noop100" "100 ms"
printf '%-34s %6d ms\n' "100 services: down" "$down100"
printf '%-34s %6.1f MB %6s\n' "supervisor RSS, 100 running" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "8 MB"

# Peers, when installed.
if command -v podman >/dev/null; then
    mkdir -p "$T/bb/bin" && cp "$(command -v busybox)" "$T/bb/bin/" && ln -s busybox "$T/bb/bin/sleep"
    U="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"
    if tar -C "$T/bb" -c . | $P import - localhost/bb >/dev/null 2>&1; then
        t=$(ms)
        for i in $(seq 10); do $P run -d --network none $U --name p$i localhost/bb sleep 100000 >/dev/null; done
        prun=$(elapsed "$t")
        $P rm -af -t 0 >/dev/null 2>&1
        printf '%-34s %6d ms   (servos: %.2fx)\n' "podman run -d x10" "$prun" "$(awk -v a="$up10" -v b="$prun" 'BEGIN{print a/b}')"
        if command -v podman-compose >/dev/null; then
            mkdir -p "$T/pc"
            {
                echo "services:"
                for i in $(seq 10); do
                    printf '  s%d:\n    image: localhost/bb\n    command: sleep 100000\n    network_mode: none\n' "$i"
                    printf '    ulimits: { nofile: %s, nproc: 4096 }\n' "$(ulimit -Hn)"
                done
            } >"$T/pc/compose.yaml"
            cd "$T/pc"
            t=$(ms); podman-compose --podman-args "--root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none" up -d >/dev/null 2>&1 || true; pcup=$(elapsed "$t")
            t=$(ms); podman-compose --podman-args "--root $T/podman --runroot $T/podman-run --cgroup-manager cgroupfs --events-backend none" down -t 0 >/dev/null 2>&1 || true; pcdown=$(elapsed "$t")
            printf '%-34s %6d ms   (servos: %.3fx)\n' "podman-compose up -d, 10" "$pcup" "$(awk -v a="$up10" -v b="$pcup" 'BEGIN{print a/b}')"
            printf '%-34s %6d ms   (servos: %.3fx)\n' "podman-compose down, 10" "$pcdown" "$(awk -v a="$down10" -v b="$pcdown" 'BEGIN{print a/b}')"
        fi
    fi
fi
