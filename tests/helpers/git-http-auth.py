#!/usr/bin/python3
"""A smart-HTTP git server for tests: `git http-backend` behind basic auth.

usage: git-http-auth.py PORT PROJECT_ROOT USER:PASSWORD

Listens on 127.0.0.1 only. Every response carries a Content-Length, as
real servers' do, so the connection is kept alive as it is with them.
"""
import base64
import http.server
import os
import subprocess
import sys

PORT, ROOT, USERPASS = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
WANT = "Basic " + base64.b64encode(USERPASS).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def serve(self):
        data = self.body()
        if self.headers.get("Authorization") != WANT:
            # No body: libgit2 1.5.1 fails to parse the reply after a 401
            # that has one on a kept-alive connection ("invalid constant
            # string"); servos sends known credentials up front instead.
            self.reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"")
            return
        path, _, query = self.path.partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(data)), REMOTE_USER=USERPASS.split(b":")[0].decode())
        out = subprocess.run(["git", "http-backend"], input=data, env=env,
                             capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.reply(status, headers, rest)

    do_GET = do_POST = serve


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
