#!/usr/bin/python3
"""A small token server for docker-registry's token auth (the Docker registry token spec), used
by image_store.sh to test Bearer auth on loopback.

  image_token_server.py PORT KEY.pem CERT.pem ISSUER USER:PASSWORD

GET /token?service=S&scope=repository:NAME:ACTIONS answers {"token": JWT, "access_token": JWT}.
The JWT is RS256-signed with KEY, carries CERT in its x5c header (the registry's rootcertbundle
holds CERT) and grants: USER with the right password every action asked for; anonymous clients
pull on repositories under public/ only; a wrong password gets 401.
"""
import base64
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

PORT, KEY, CERT, ISSUER, CREDS = sys.argv[1:6]
with open(KEY, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
with open(CERT, "rb") as f:
    cert_der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert_der).decode()]}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64url(sig)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("token: " + fmt % args + "\n")

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        if url.path != "/token":
            return self.answer(404, {"error": "not found"})
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode()
            if given != CREDS:
                return self.answer(401, {"error": "bad credentials"})
            user = given.split(":", 1)[0]
        access = []
        for scope in q.get("scope", []):
            parts = scope.split(":")
            if len(parts) != 3 or parts[0] != "repository":
                continue
            actions = parts[2].split(",")
            if user is None:
                actions = ["pull"] if parts[1].startswith("public/") and "pull" in actions else []
            access.append({"type": "repository", "name": parts[1], "actions": actions})
        now = int(time.time())
        token = jwt({"iss": ISSUER, "sub": user or "", "aud": q.get("service", [""])[0],
                     "exp": now + 300, "nbf": now - 10, "iat": now,
                     "jti": os.urandom(8).hex(), "access": access})
        self.answer(200, {"token": token, "access_token": token, "expires_in": 300})

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
