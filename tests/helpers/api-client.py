#!/usr/bin/env python3
"""A client of servos serve for tests/92-api.t, where curl cannot tell
what the test needs: when each server-sent event arrived, what a client
that reconnects with Last-Event-ID gets, what many idle or slow clients
do to everyone else.

  api-client.py ADDR sse PATH [--header H]... [--count N] [--seconds S]
        [--until TEXT] [--run CMD]
      Print each event as one JSON line {"t": arrival (unix s), "id", "event",
      "data"} until N events, S seconds, or an event whose data holds TEXT.
      --run CMD: once the stream is open, run CMD (sh -c) and print its
      stdout as {"run": ...} (for a write time taken inside a container).
  api-client.py ADDR idle N SECONDS PATH
      Open N connections that send nothing, then (while they are open)
      GET PATH on a new one and print its status and time; then how many
      of the N the server still holds after SECONDS.
  api-client.py ADDR slow PATH SECONDS
      Send a request's headers one byte a second; print when the server
      closed the connection (seconds after the start), or "held".

ADDR is unix:/path/to/servos.sock or HOST:PORT; TOKEN (environment)
is sent as a bearer token."""
import json
import os
import socket
import subprocess
import sys
import time


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    return s


def request(path, headers=()):
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Accept: text/event-stream"]
    if os.environ.get("TOKEN"):
        lines.append("Authorization: Bearer " + os.environ["TOKEN"])
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("closed before the headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    chunked = b"transfer-encoding: chunked" in head.lower()
    return status, chunked, rest


class Dechunk:
    def __init__(self, chunked):
        self.chunked, self.buf, self.out = chunked, b"", b""

    def feed(self, data):
        if not self.chunked:
            self.out += data
            return
        self.buf += data
        while True:
            if b"\r\n" not in self.buf:
                return
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.out += rest[:size]
            self.buf = rest[size + 2:]


def sse(addr, path, args):
    headers, count, seconds, until, cmd = [], 0, 30.0, None, None
    i = 0
    while i < len(args):
        if args[i] == "--header":
            headers.append(args[i + 1])
        elif args[i] == "--count":
            count = int(args[i + 1])
        elif args[i] == "--seconds":
            seconds = float(args[i + 1])
        elif args[i] == "--until":
            until = args[i + 1]
        elif args[i] == "--run":
            cmd = args[i + 1]
        i += 2
    s = connect(addr)
    s.sendall(request(path, headers))
    status, chunked, rest = read_head(s)
    print(json.dumps({"status": status}), flush=True)
    d = Dechunk(chunked)
    d.feed(rest)
    end = time.time() + seconds
    n, ran = 0, False
    while time.time() < end:
        while b"\n\n" in d.out:
            block, d.out = d.out.split(b"\n\n", 1)
            ev = {"t": time.time(), "id": None, "event": None, "data": None}
            data = []
            for line in block.decode("utf-8", "replace").split("\n"):
                if line.startswith(":"):
                    continue
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "data":
                    data.append(v)
                elif k in ("id", "event"):
                    ev[k] = v
            if not data and ev["id"] is None:
                continue  # a comment: the stream is open
            ev["data"] = "\n".join(data)
            print(json.dumps(ev), flush=True)
            n += 1
            if (count and n >= count) or (until and until in ev["data"]):
                return
        if cmd and not ran:
            ran = True
            out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout
            print(json.dumps({"run": out.strip()}), flush=True)
        s.settimeout(max(0.01, min(0.2, end - time.time())))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            print(json.dumps({"closed": time.time()}), flush=True)
            return
        d.feed(chunk)


def idle(addr, n, seconds, path):
    conns = [connect(addr) for _ in range(n)]
    t0 = time.time()
    s = connect(addr)
    s.sendall(request(path).replace(b"Accept: text/event-stream\r\n", b"Connection: close\r\n"))
    status, _, _ = read_head(s)
    print(json.dumps({"status": status, "seconds": time.time() - t0, "open": n}), flush=True)
    s.close()
    time.sleep(seconds)
    held = 0
    for c in conns:
        c.setblocking(False)
        try:
            held += c.recv(1) != b""
        except BlockingIOError:
            held += 1  # nothing to read: still open
        except OSError:
            pass
    print(json.dumps({"held": held}), flush=True)


def slow(addr, path, seconds):
    s = connect(addr)
    req = request(path)
    t0 = time.time()
    s.settimeout(1.0)
    for b in req:
        if time.time() - t0 > seconds:
            break
        try:
            s.sendall(bytes([b]))
            if s.recv(1) == b"":
                print(json.dumps({"closed_after": time.time() - t0}))
                return
        except socket.timeout:
            continue
        except OSError:
            print(json.dumps({"closed_after": time.time() - t0}))
            return
    print(json.dumps({"held": time.time() - t0}))


if __name__ == "__main__":
    addr, mode = sys.argv[1], sys.argv[2]
    if mode == "sse":
        sse(addr, sys.argv[3], sys.argv[4:])
    elif mode == "idle":
        idle(addr, int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    elif mode == "slow":
        slow(addr, sys.argv[3], float(sys.argv[4]))
