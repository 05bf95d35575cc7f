#!/usr/bin/python3
"""A token server for docker-registry's "token" auth, as Docker Hub, GHCR
or Harbor run one: GET /token?service=S&scope=repository:NAME:ACTIONS...
answers a JWT (RS256, signed with openssl, the certificate in its x5c
header) granting the actions asked for to USER:PASSWORD (basic auth), and
only "pull" to anyone without credentials. Wrong credentials get a 401.
Each request's scopes are appended to LOG, a line per request.

usage: registry-token.py PORT KEY.pem CERT.pem USER:PASSWORD LOG

Listens on 127.0.0.1 only.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

PORT, KEY, CERT, USERPASS, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
WANT = "Basic " + base64.b64encode(USERPASS.encode()).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der():
    pem = open(CERT).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


def sign(data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY], input=data,
                          capture_output=True, check=True).stdout


def token(service, subject, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert_der()).decode()]}
    claims = {"iss": "servos-test", "sub": subject, "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": b64url(os.urandom(12)), "access": access}
    signing = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    return signing.decode() + "." + b64url(sign(signing))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization")
        if auth is not None and auth != WANT:
            return self.reply(401, {"details": "wrong credentials"})
        scopes = q.get("scope", [])
        with open(LOG, "a") as f:
            f.write(" ".join(scopes) + "\n")
        access = []
        for s in scopes:
            for one in s.split(" "):
                kind, name, actions = one.split(":", 2)
                granted = actions.split(",") if auth else [a for a in actions.split(",") if a == "pull"]
                access.append({"type": kind, "name": name, "actions": granted})
        t = token(q.get("service", [""])[0], USERPASS.split(":")[0] if auth else "", access)
        self.reply(200, {"token": t, "access_token": t, "expires_in": 300})


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
