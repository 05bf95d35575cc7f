#!/usr/bin/python3
"""An HTTP proxy in front of a registry that drops one PATCH: the Nth
chunk of the first blob upload that gets that far never reaches the
registry and its connection is closed with no answer, as a network
failure would leave it. It is dropped twice: libcurl sends a request again
by itself, once, when a connection it reused closes with no answer.

usage: flaky-proxy.py PORT TARGET-PORT N

Listens on 127.0.0.1 only; forwards everything else to 127.0.0.1:TARGET-PORT
with the client's Host header, so the Locations the registry answers with
lead back through the proxy.
"""
import http.client
import http.server
import socket
import sys
import threading

PORT, TARGET, FAIL_AT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
patches = {}  # upload -> PATCHes seen
victim, drops = None, 2
lock = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def drop(self):
        """Is this PATCH the one to lose?"""
        global victim, drops
        upload = self.path.split("?")[0].rsplit("/", 1)[-1]
        with lock:
            patches[upload] = patches.get(upload, 0) + 1
            if victim is None and patches[upload] == FAIL_AT:
                victim = upload
            if upload == victim and drops > 0:
                drops -= 1
                return True
        return False

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.command == "PATCH" and self.drop():
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        up = http.client.HTTPConnection("127.0.0.1", TARGET, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body is not None or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(n)
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        length = r.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
