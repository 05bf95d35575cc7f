#!/usr/bin/python3
"""RFC 6455 checks against a server, frame by frame over a raw socket (what
a library client would never send: fragments, bad frames, close codes).
Usage: ws-probe.py PORT PATH CASE; prints what came back, one line."""
import base64, os, socket, struct, sys

def connect(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit("handshake: connection closed")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise SystemExit("handshake: " + head.split(b"\r\n")[0].decode())
    return s

def frame(op, payload=b"", fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    m = os.urandom(4)
    return head + m + bytes(b ^ m[i % 4] for i, b in enumerate(payload))

def read_frame(s):
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    return b0 & 0x0F, b0 & 0x80, exact(n)

def show(s):
    try:
        op, fin, p = read_frame(s)
    except (EOFError, ConnectionResetError, socket.timeout):
        return "eof"
    if op == 8:
        code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
        return f"close {code}"
    if op == 10:
        return "pong " + p.decode()
    return ("text " if op == 1 else "binary ") + p.decode("utf-8", "replace")

port, path, case = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = connect(port, path)
if case == "fragments":  # a text message in three frames, a ping between them
    s.sendall(frame(1, b"frag", fin=False) + frame(9, b"mid") + frame(0, b"men", fin=False) +
              frame(0, b"ted", fin=True))
    print(show(s), "|", show(s))
elif case == "ping":
    s.sendall(frame(9, b"are you there"))
    print(show(s))
elif case == "close":
    s.sendall(frame(8, struct.pack("!H", 1000) + b"bye"))
    print(show(s), "|", show(s))
elif case == "close-4000":
    s.sendall(frame(8, struct.pack("!H", 4000)))
    print(show(s))
elif case == "unmasked":
    s.sendall(frame(1, b"hi", mask=False))
    print(show(s))
elif case == "rsv":
    s.sendall(frame(1, b"hi", rsv=4))
    print(show(s))
elif case == "bad-utf8":
    s.sendall(frame(1, b"\xc3\x28"))
    print(show(s))
elif case == "bad-close-code":
    s.sendall(frame(8, struct.pack("!H", 1005)))
    print(show(s))
elif case == "big-control":
    s.sendall(frame(9, b"x" * 126))
    print(show(s))
elif case == "stray-continuation":
    s.sendall(frame(0, b"x"))
    print(show(s))
elif case == "too-big":
    s.sendall(frame(2, b"x" * (1024 * 1024 + 1)))
    print(show(s))
elif case == "big-fragments":  # 1 MiB + 1 in 64 KiB fragments
    chunk = b"y" * 65536
    for i in range(16):
        s.sendall(frame(2 if i == 0 else 0, chunk, fin=False))
    s.sendall(frame(0, b"y", fin=True))
    print(show(s))
elif case == "large":  # 512 KiB echoed
    s.sendall(frame(2, b"z" * (512 * 1024)))
    op, fin, p = read_frame(s)
    print("binary", len(p))
else:
    raise SystemExit("unknown case " + case)
