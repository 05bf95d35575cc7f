"""Inside a ProServe service's container, as its root: ask the supervisor's
handler gateway (/.servos/gateway/sock) for a run whose environment holds
an entry without "=", NAME. servos run -e NAME copies NAME's value from its
own environment, which was the supervisor's, inherited from whoever ran
`servos apply`. Prints the gateway's report and what the run printed."""
import json
import os
import socket
import sys

name = sys.argv[1]
in_r, in_w = os.pipe()
out_r, out_w = os.pipe()
err_r, err_w = os.pipe()
os.close(in_w)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("/.servos/gateway/sock")
header = json.dumps({"argv": ["/bin/sh", "-c", "env"], "env": [name, "PATH=/usr/bin:/bin"]})
socket.send_fds(s, [header.encode() + b"\n"], [in_r, out_w, err_w])
for fd in (in_r, out_w, err_w):
    os.close(fd)
report = b""
while not report.endswith(b"\n"):
    chunk = s.recv(256)
    if not chunk:
        break
    report += chunk
out = b""
while True:
    chunk = os.read(out_r, 65536)
    if not chunk:
        break
    out += chunk
print(json.dumps({"report": report.decode().strip(), "output": out.decode(errors="replace")}))
