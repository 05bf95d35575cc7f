"""Slowloris against 127.0.0.1:PORT: N clients each send a request line and
then one header byte every 2 s, never finishing; one the server drops
reconnects at once, as an attacker's would. Meanwhile GET /health every
0.5 s on a connection of its own. Prints one JSON object: the health
checks, how many failed or took over 1 s, the slowest, and how often the
server dropped an attacker. The health check's budgets (1 s, and 5 s
before it counts as failed) scale by SERVOS_TEST_SLOW (tests/lib.sh)."""
import http.client
import json
import os
import resource
import selectors
import socket
import sys
import time

port, n, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
slow_factor = float(os.environ.get("SERVOS_TEST_SLOW", "1"))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
sel = selectors.DefaultSelector()
stats = {"opened": 0, "refused": 0, "dropped": 0}


def open_one():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.setblocking(False)
        s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    except OSError:
        stats["refused"] += 1
        return
    stats["opened"] += 1
    sel.register(s, selectors.EVENT_READ, [time.time()])


def close_one(s):
    sel.unregister(s)
    s.close()


for _ in range(n):
    open_one()
checks = slow = failed = 0
worst = 0.0
start = time.time()
while time.time() - start < duration:
    t0 = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * slow_factor)
        c.request("GET", "/health")
        ok = c.getresponse().status == 200
        c.close()
    except OSError:
        ok = False
    dt = time.time() - t0
    checks += 1
    worst = max(worst, dt)
    failed += not ok
    slow += dt > 1.0 * slow_factor
    # The server closed some: they reconnect; the rest trickle one byte.
    for key, _ in sel.select(timeout=0):
        try:
            gone = key.fileobj.recv(4096) == b""
        except OSError:
            gone = True
        if gone:
            close_one(key.fileobj)
            stats["dropped"] += 1
            open_one()
    now = time.time()
    for key in list(sel.get_map().values()):
        if now - key.data[0] >= 2:
            key.data[0] = now
            try:
                key.fileobj.send(b"X")
            except OSError:
                pass
    time.sleep(max(0.0, 0.5 - (time.time() - t0)))
print(json.dumps(dict(stats, checks=checks, failed=failed, slow=slow, worst=round(worst, 3),
                      open=len(sel.get_map()))))
