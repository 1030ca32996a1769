"""minidocker/image/http11.py against a tiny scripted server on 127.0.0.1 (no root needed).

The server answers each request with the next raw bytes of its script, so a
test can send exactly what a broken or lying server would: every malformed
answer must become a RegistryError, quickly (never a hang, never a traceback),
and a connection is only reused when its previous answer ended cleanly.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from minidocker.errors import RegistryError
from minidocker.image import http11
from minidocker.image.registry import FileBody

CLOSE = "close"          # script entry (bytes, CLOSE): answer, then close the connection
HANG = None              # script entry: read the request, never answer


class Scripted:
    """A server on 127.0.0.1:<free port>: reads HTTP requests, answers from `script`."""

    def __init__(self, script, tls=None):
        self.script = list(script)
        self.tls = tls                           # an ssl.SSLContext: serve https
        self.requests: list[tuple[str, dict, bytes]] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                return
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                headers = {}
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length", 0)))
                with self.lock:
                    self.requests.append((line.decode().strip(), headers, body))
                    answer = self.script.pop(0) if self.script else (b"", CLOSE)
                if answer is HANG:
                    self.stop.wait(10)
                    return
                close = isinstance(answer, tuple)
                conn.sendall(answer[0] if close else answer)
                if close:
                    return
        except OSError:
            return
        finally:
            f.close()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def serve():
    servers = []

    def make(*script):
        s = Scripted(script)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def ok(body: bytes = b"", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def get(client, srv, path="/v2/", method="GET", **kw):
    r = client.request(method, srv.url + path, kw.get("headers"), kw.get("body"))
    try:
        return r, r.read()
    finally:
        r.close()


# --- framing -------------------------------------------------------------------------------

def test_content_length_body_and_case_insensitive_headers(serve):
    srv = serve(ok(b"hello", "Docker-Content-Digest: sha256:x\r\n"))
    r, body = get(http11.Client(2), srv)
    assert (r.status, r.reason, body) == (200, "OK", b"hello")
    assert r.getheader("docker-content-digest") == r.getheader("Docker-Content-Digest") == "sha256:x"
    line, headers, _ = srv.requests[0]
    assert line == "GET /v2/ HTTP/1.1" and headers["host"] == srv.url[7:]


def test_chunked_body_with_extension_and_trailer(serve):
    srv = serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6;name=x\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n", ok(b"next"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"hello world"
    assert get(c, srv)[1] == b"next"            # the chunked answer ended cleanly: same connection
    assert srv.connections == 1


def test_close_delimited_body_is_read_to_the_end_and_not_reused(serve):
    srv = serve((b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 300_000, CLOSE), ok(b"2nd"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"x" * 300_000
    assert get(c, srv)[1] == b"2nd"
    assert srv.connections == 2


def test_head_has_no_body_whatever_content_length_says(serve):
    srv = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", ok(b"after"))
    c = http11.Client(2)
    r, body = get(c, srv, method="HEAD")
    assert r.status == 200 and body == b"" and r.getheader("Content-Length") == "1000"
    assert get(c, srv)[1] == b"after" and srv.connections == 1


def test_keep_alive_reuses_one_connection(serve):
    srv = serve(ok(b"a"), ok(b"b"), ok(b"c"))
    c = http11.Client(2)
    assert [get(c, srv)[1] for _ in range(3)] == [b"a", b"b", b"c"]
    assert srv.connections == 1


def test_connection_close_header_is_honoured(serve):
    srv = serve(ok(b"a", "Connection: close\r\n"), ok(b"b"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"a" and get(c, srv)[1] == b"b"
    assert srv.connections == 2


def test_a_partly_read_answer_closes_its_connection(serve):
    srv = serve(ok(b"x" * 100_000), ok(b"b"))
    c = http11.Client(2)
    r = c.request("GET", srv.url + "/v2/")
    r.readinto(bytearray(10))
    r.close()
    assert get(c, srv)[1] == b"b" and srv.connections == 2


def test_chunked_wins_over_content_length_and_the_connection_is_dropped(serve):
    srv = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n", ok(b"b"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"hello" and get(c, srv)[1] == b"b"
    assert srv.connections == 2


def test_interim_100_continue_is_skipped(serve):
    srv = serve(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"real"))
    r, body = get(http11.Client(2), srv)
    assert (r.status, body) == (200, b"real")


def test_server_closing_an_idle_connection_costs_nothing(serve, monkeypatch):
    """The server closes a kept connection (its idle timeout): the client notices before
    sending (a peek sees the end of stream) or, if it only finds out after sending,
    sends again on a fresh connection."""
    srv = serve((ok(b"a"), CLOSE), (ok(b"b"), CLOSE), ok(b"c"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"a"
    time.sleep(0.05)
    assert get(c, srv)[1] == b"b"               # the peek path
    time.sleep(0.05)
    monkeypatch.setattr(http11._Conn, "clean", lambda self: True)   # the send-then-notice path
    assert get(c, srv, method="PUT", body=b"payload")[1] == b"c"
    assert srv.connections == 3 and srv.requests[-1][2] == b"payload"


# --- lies and breakage -----------------------------------------------------------------------

@pytest.mark.parametrize("answer, words", [
    (b"HTTP/1.1 2x0 OK\r\n\r\n", "status line"),
    (b"ICY 200 OK\r\n\r\n", "status line"),
    (b"\x16\x03\x01\x00\xa5garbage\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\nA: 1\r\n  folded: 2\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xc2\xb2\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\nx\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhelloworld\r\n0\r\n\r\n", "longer than its size"),
    (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (http11.MAX_LINE + 10) + b"\r\n\r\n", "longer than"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * (http11.MAX_HEADERS + 1) + b"\r\n", "header lines"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 50, "interim"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "middle of a header line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "before a chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n", "before a header line"),
])
def test_malformed_answers_are_refused(serve, answer, words):
    srv = serve((answer, CLOSE))
    t0 = time.monotonic()
    with pytest.raises(RegistryError, match=words) as e:
        get(http11.Client(5), srv)
    assert time.monotonic() - t0 < 3, "refused at once, not after a timeout"
    assert "127.0.0.1" in str(e.value) and e.value.hint


def test_more_bytes_than_declared_are_not_taken_as_the_next_answer(serve):
    """Content-Length: 5, then 'helloEXTRA': the body is 'hello'; EXTRA must not be read as
    the start of the next answer, so the connection is dropped, not reused."""
    srv = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfake",
                ok(b"real"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"hello"
    assert get(c, srv)[1] == b"real"
    assert srv.connections == 2


def test_extra_bytes_arriving_late_are_noticed_too(serve):
    """The surplus may arrive after the client read its body: the peek before reuse sees it."""
    srv = serve(ok(b"hello"), ok(b"real"))
    c = http11.Client(2)
    assert get(c, srv)[1] == b"hello"
    with srv.lock:
        srv.conns[0].sendall(b"surplus")
    time.sleep(0.05)
    assert get(c, srv)[1] == b"real" and srv.connections == 2


def test_body_cut_short_is_refused(serve):
    srv = serve((b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", CLOSE))
    with pytest.raises(RegistryError, match="90 bytes before the end"):
        get(http11.Client(2), srv)


def test_chunked_body_cut_short_is_refused(serve):
    srv = serve((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort", CLOSE))
    with pytest.raises(RegistryError, match="middle of a chunk"):
        get(http11.Client(2), srv)


def test_closed_before_any_answer(serve):
    srv = serve((b"", CLOSE), (b"", CLOSE))
    with pytest.raises(RegistryError, match="before a status line"):
        get(http11.Client(2), srv)
    assert srv.connections == 2                  # GET is idempotent: one more fresh try, then give up


def test_a_fresh_connection_closed_once_is_retried_for_get_only(serve):
    srv = serve((b"", CLOSE), ok(b"second"))
    assert get(http11.Client(2), srv)[1] == b"second" and srv.connections == 2
    srv = serve((b"", CLOSE), ok(b"second"))
    with pytest.raises(RegistryError, match="before a status line"):
        http11.Client(2).request("PUT", srv.url + "/x", body=b"data")
    assert srv.connections == 1                  # a PUT may have been acted on: never sent twice


def test_read_limit(serve):
    srv = serve(ok(b"x" * 5000))
    r = http11.Client(2).request("GET", srv.url + "/")
    with pytest.raises(RegistryError, match="larger than the 1000 bytes"):
        r.read(1000)


def test_a_server_that_never_answers_times_out(serve):
    srv = serve(HANG)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        http11.Client(0.5).request("GET", srv.url + "/")
    assert time.monotonic() - t0 < 3


def test_a_server_that_stalls_mid_body_times_out_as_registry_error(serve):
    srv = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes.")
    r = http11.Client(0.5).request("GET", srv.url + "/")
    with pytest.raises(RegistryError, match="broke while reading"):
        r.read()


def test_header_injection_is_refused(serve):
    srv = serve(ok())
    with pytest.raises(RegistryError, match="line break"):
        http11.Client(2).request("GET", srv.url + "/", {"X-A": "1\r\nX-Injected: 2"})
    assert srv.requests == []


# --- request bodies ----------------------------------------------------------------------------

def test_bodies_from_bytes_a_file_and_a_chunk_function(serve, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "blob"
    path.write_bytes(data)
    srv = serve(ok(), ok(), ok())
    c = http11.Client(5)
    get(c, srv, method="PUT", body=b"small")
    seen = []
    get(c, srv, method="PUT", headers={"Content-Length": str(len(data))},
        body=FileBody(str(path), len(data), lambda done, total: seen.append(done)))
    get(c, srv, method="PATCH", headers={"Content-Length": "6"}, body=lambda: iter([b"abc", b"def"]))
    assert [b for _, _, b in srv.requests] == [b"small", data, b"abcdef"]
    assert srv.requests[0][1]["content-length"] == "5" and seen[-1] == len(data)
    assert srv.connections == 1


def test_https_with_keep_alive_and_a_file_body(tmp_path, monkeypatch):
    """TLS through the lazily imported ssl module: the certificate is checked (here against
    a throwaway CA the test trusts via SSL_CERT_FILE), the file body goes through the
    encryption (no sendfile), and the connection is kept for the next request."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    data = os.urandom(1 << 20)
    (tmp_path / "blob").write_bytes(data)
    srv = Scripted([ok(b"a"), ok(), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n"],
                   tls=ctx)
    try:
        with pytest.raises(RegistryError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            from minidocker.image.registry import Registry
            Registry(srv.url[8:], insecure=False, timeout=5).ping()    # not trusted yet: refused
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        c = http11.Client(5)
        assert get(c, srv)[1] == b"a"
        get(c, srv, method="PUT", headers={"Content-Length": str(len(data))},
            body=FileBody(str(tmp_path / "blob"), len(data)))
        assert get(c, srv)[1] == b"c"
        assert srv.requests[-2][2] == data and srv.connections == 2     # the refused one, then one
    finally:
        srv.close()


# --- URLs ------------------------------------------------------------------------------------

def test_url_helpers():
    assert http11.split_url("https://[::1]:5000/v2/?n=1") == ("https", "::1", 5000, "/v2/?n=1")
    assert http11.split_url("http://h?x=1") == ("http", "h", 80, "/?x=1")
    assert http11.split_url("HTTPS://user:pw@h/p#frag") == ("https", "h", 443, "/p")
    for bad in ("ftp://h/", "h:5000/v2/", "http://h:99999/", "http://h:5x/", "http:///x",
                "http://h/x HTTP/1.1\r\nX-Injected: 1", "http://h\r\nX: 1/"):
        with pytest.raises(RegistryError):
            http11.split_url(bad)
    base = "http://h:5000/v2/a/blobs/uploads/?x=1"
    assert http11.join_url(base, "/v2/b") == "http://h:5000/v2/b"
    assert http11.join_url(base, "https://s3/x?sig=1") == "https://s3/x?sig=1"
    assert http11.join_url(base, "//cdn/x") == "http://cdn/x"
    assert http11.join_url(base, "u1?state=2") == "http://h:5000/v2/a/blobs/uploads/u1?state=2"
    assert http11.join_url("http://h:80/x", "/y") == "http://h/y"
    assert http11.quote("sha256:ab/c d~") == "sha256%3Aab%2Fc%20d~"
    assert http11.urlencode({"mount": "sha256:a", "from": "lib/x"}) == "mount=sha256%3Aa&from=lib%2Fx"
    assert http11.quote("é") == "%C3%A9"
