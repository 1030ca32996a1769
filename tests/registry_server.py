"""Test helper: Debian's real registry (docker-registry, = registry:2) on 127.0.0.1.

Map of this file:
  free_port()             a port nobody listens on
  RegistryServer(auth=)   start `docker-registry serve CONFIG` with a temp config and storage;
                          auth is "none", "htpasswd" (Basic, `htpasswd -B`) or "token";
                          a context manager that always stops the process and removes its files
  TokenService            a small Bearer token service for auth="token": checks Basic
                          credentials and signs RS256 JWTs with openssl (x5c header), the
                          format docker's registry verifies against `rootcertbundle`
  FakeRegistry            a tiny HTTP server that lies on purpose (wrong digest, truncated
                          blob, status codes, invalid JSON) for the client's error tests
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # keep pytest output clean
        pass


class TokenService:
    """GET /token?service=S&scope=repository:NAME:pull,push -> {"token": JWT}.

    Known users get every action they ask for; anonymous callers get `pull`
    only when `anonymous_pull` is set; wrong passwords get 401.
    """

    def __init__(self, workdir: str, service: str, users: dict[str, str], anonymous_pull: bool = False):
        self.service, self.users, self.anonymous_pull = service, users, anonymous_pull
        self.issuer = "minidocker-test-issuer"
        self.key = os.path.join(workdir, "token.key")
        self.cert = os.path.join(workdir, "token.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=minidocker-test-token", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self.requests: list[dict] = []      # what the client asked for, for assertions
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        svc = self

        class H(_Quiet):
            def do_GET(self):
                svc._handle(self)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + _b64url(sig)

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qs, urlsplit
        q = parse_qs(urlsplit(h.path).query)
        user = None
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(u) != p:
                return self._send(h, 401, {"details": "wrong user name or password"})
            user = u
        access = []
        for scope in q.get("scope", []):
            typ, name, actions = (scope.split(":") + ["", ""])[:3]
            acts = actions.split(",")
            if user is None:
                acts = [a for a in acts if a == "pull"] if self.anonymous_pull else []
            access.append({"type": typ, "name": name, "actions": acts})
        self.requests.append({"user": user, "scope": q.get("scope", []), "service": q.get("service")})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        self._send(h, 200, {"token": self.sign(claims), "expires_in": 300})

    @staticmethod
    def _send(h, status: int, data: dict) -> None:
        body = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class RegistryServer:
    """The real registry on 127.0.0.1:<free port>; use as `with RegistryServer() as reg:`."""

    def __init__(self, auth: str = "none", users: dict[str, str] | None = None,
                 anonymous_pull: bool = False):
        self.auth, self.users = auth, users or {"mdk6user": "mdk6-secret"}
        self.anonymous_pull = anonymous_pull
        self.proc: subprocess.Popen | None = None
        self.token: TokenService | None = None
        self.dir = tempfile.mkdtemp(prefix="mdk6-registry-")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _config(self) -> str:
        lines = ["version: 0.1", "log:", "  level: warn", "storage:",
                 "  filesystem:", f"    rootdirectory: {self.dir}/data",
                 "  delete:", "    enabled: true",
                 "http:", f"  addr: 127.0.0.1:{self.port}"]
        if self.auth == "htpasswd":
            pw = os.path.join(self.dir, "htpasswd")
            with open(pw, "w") as f:
                for u, p in self.users.items():
                    f.write(subprocess.run(["htpasswd", "-Bbn", u, p], check=True,
                                           capture_output=True, text=True).stdout.strip() + "\n")
            lines += ["auth:", "  htpasswd:", "    realm: mdk6-realm", f"    path: {pw}"]
        elif self.auth == "token":
            self.token = TokenService(self.dir, "mdk6-registry", self.users, self.anonymous_pull)
            lines += ["auth:", "  token:", f"    realm: {self.token.realm}",
                      "    service: mdk6-registry", f"    issuer: {self.token.issuer}",
                      f"    rootcertbundle: {self.token.cert}"]
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self) -> "RegistryServer":
        self.port = free_port()
        cfg = self._config()
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")
        # not minidocker's variables: host_clean would count the registry as our leftover
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER")}
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=self.log, env=env,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + self.read_log())
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self          # 401 with auth on: it is up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start: " + self.read_log())

    def read_log(self) -> str:
        try:
            with open(os.path.join(self.dir, "registry.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.token:
            self.token.stop()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "RegistryServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeRegistry:
    """A registry that lies. `routes[(method, path)] = (status, headers, body)`.

    Unknown routes answer 404. `truncate[(method, path)] = n` sends only n
    bytes of the body while announcing the full Content-Length.
    """

    def __init__(self):
        self.routes: dict[tuple[str, str], tuple[int, dict, bytes]] = {}
        self.truncate: dict[tuple[str, str], int] = {}
        self.port = free_port()
        fake = self

        class H(_Quiet):
            def _any(self):
                key = (self.command, self.path.split("?")[0])
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                status, headers, body = fake.routes.get(key, (404, {}, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}'))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    cut = fake.truncate.get(key)
                    self.wfile.write(body[:cut] if cut is not None else body)
                    if cut is not None:
                        self.close_connection = True
            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _any

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blob(self, name: str, content: bytes, digest: str | None = None) -> str:
        digest = digest or "sha256:" + hashlib.sha256(content).hexdigest()
        self.routes[("GET", f"/v2/{name}/blobs/{digest}")] = (200, {}, content)
        return digest

    def __enter__(self) -> "FakeRegistry":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
