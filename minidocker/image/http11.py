"""A small HTTP/1.1 client over a socket: exactly what the registry client needs.

Map of this file:
  split_url(url)           "http://host:5000/v2/x?y" -> ("http", "host", 5000, "/v2/x?y")
  join_url(base, ref)      where a Location header points, as an absolute URL
  quote() / urlencode()    percent-encoding for query strings (?digest=sha256%3A...)
  Client(timeout)          keeps idle connections per (scheme, host, port) for reuse
    .request()             send one request, return its Response (headers read, body not yet)
  Response                 status, reason, getheader(), read(), readinto(), close()
                           body framing: Content-Length, chunked, or until the server closes
  _Conn                    one TCP (or TLS) connection with its own read buffer
  send_file(sock, f, n)    a request body straight from a file: sendfile(2)

Why not http.client: importing it pulls in the email package (its header
parser), about 25 ms on the course VM, more than a whole `push` that only
mounts blobs takes. The protocol part we need fits in this file, and reading
it shows what an HTTP exchange is:

    PUT /v2/x/blobs/uploads/1?digest=sha256%3Aab.. HTTP/1.1    request line
    Host: 127.0.0.1:5000                                      headers ...
    Content-Length: 52428800
                                                              empty line
    <the body: 52428800 bytes>

    HTTP/1.1 201 Created                                      status line
    Docker-Content-Digest: sha256:ab..                        headers ...
    Content-Length: 0
                                                              empty line

Keep-alive: after a response is read to its end the connection goes back to
the Client's idle list and the next request to that host reuses it (no TCP
handshake, no TLS handshake). A response read only partly, one that said
`Connection: close`, or one followed by bytes nobody asked for is not reused.

A server can lie or break; every malformed status line, header, length or
chunk size raises RegistryError (never hangs: every socket has a timeout,
every line a length limit).

Shell analogue of one exchange: `curl -v http://127.0.0.1:5000/v2/`.
"""
from __future__ import annotations

import os
# `_socket` is the C module under `socket`: the same socket objects (connect, recv_into,
# sendall, settimeout...), without the Python wrapper's ~4 ms of import (enum, selectors).
import _socket

from ..errors import RegistryError

__all__ = ["Client", "Response", "split_url", "join_url", "quote", "urlencode", "send_file"]

MAX_LINE = 64 * 1024         # a status line, header line or chunk-size line longer than this is refused
MAX_HEADERS = 200            # more header lines than this is refused
MAX_INTERIM = 10             # more 1xx answers (100 Continue...) before the real one is refused
_RECV = 64 * 1024            # bytes asked of recv(2) for the status line and headers
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = "0123456789abcdefABCDEF"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


# --- URLs --------------------------------------------------------------------

def split_url(url: str) -> tuple[str, str, int, str]:
    """'https://[::1]:5000/v2/?n=1' -> ("https", "::1", 5000, "/v2/?n=1"). http and https only."""
    if any(c <= " " or c == "\x7f" for c in url):
        # a space or CR/LF (say in a Location header) would split our request line
        raise RegistryError(f"refusing a URL with spaces or control characters: {url[:200]!r}")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise RegistryError(f"not an http(s) URL: {url!r}")
    rest = rest.split("#", 1)[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, target = rest[:cut], rest[cut:]
    if not target.startswith("/"):
        target = "/" + target
    netloc = netloc.rpartition("@")[2]          # user:password@ never reaches the wire
    if netloc.startswith("["):                  # [IPv6]:port
        host, _, port = netloc[1:].partition("]")
        port = port[1:] if port.startswith(":") else ""
    else:
        host, _, port = netloc.partition(":")
    if not host or (port and not _digits(port)) or int(port or 1) > 65535:
        raise RegistryError(f"bad host or port in URL {url!r}")
    return scheme, host, int(port) if port else (443 if scheme == "https" else 80), target


def _digits(text: str) -> bool:
    """Only ASCII 0-9 (str.isdigit() also says yes to '²' and other Unicode digits)."""
    return 0 < len(text) <= 18 and not text.strip("0123456789")


def _netloc(scheme: str, host: str, port: int) -> str:
    h = f"[{host}]" if ":" in host else host
    return h if port == (443 if scheme == "https" else 80) else f"{h}:{port}"


def join_url(base: str, ref: str) -> str:
    """An absolute URL for `ref` (a Location header) seen from `base` (RFC 3986, the cases servers use)."""
    if "://" in ref.split("?", 1)[0]:
        return ref
    scheme, host, port, path = split_url(base)
    origin = f"{scheme}://{_netloc(scheme, host, port)}"
    if ref.startswith("//"):
        return f"{scheme}:{ref}"
    if ref.startswith("/"):
        return origin + ref
    if ref.startswith("?"):
        return origin + path.split("?", 1)[0] + ref
    return origin + path.split("?", 1)[0].rpartition("/")[0] + "/" + ref


def quote(text: str, safe: str = "") -> str:
    """Percent-encode every byte but A-Z a-z 0-9 - . _ ~ (and `safe`): 'sha256:ab' -> 'sha256%3Aab'."""
    ok = _UNRESERVED | frozenset(safe)
    return "".join(c if c in ok else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def urlencode(pairs) -> str:
    """[("service", "x y"), ("scope", "a:b")] -> 'service=x%20y&scope=a%3Ab'."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in items)


# --- connections -------------------------------------------------------------

class _Conn:
    """One connection to scheme://host:port, with a read buffer of its own (so we
    always know whether the server sent more than the response it owed us).
    socket(2) + connect(2), then recv(2) into the buffer; shell: `nc HOST PORT`,
    or for https (a TLS handshake on top, certificates checked)
    `openssl s_client -connect HOST:PORT -verify_return_error`."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float, tls=None):
        self.key = (scheme, host, port)
        if scheme == "https":             # `tls`: the Client's ssl.SSLContext (certificates checked)
            import socket                 # the ssl module needs the full socket class
            raw = socket.create_connection((host, port), timeout=timeout)
            raw.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self.sock = tls.wrap_socket(raw, server_hostname=host)
        else:
            self.sock = _connect(host, port, timeout)
        self.buf = b""                    # bytes received and not yet consumed: buf[pos:]
        self.pos = 0

    def readline(self, what: str) -> bytes:
        """One line without its CRLF. Refuses endless lines and a close mid-line."""
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line, self.pos = self.buf[self.pos:i + 1], i + 1
                if len(line) > MAX_LINE:
                    raise self.error(f"a {what} longer than {MAX_LINE} bytes")
                return line[:-2] if line.endswith(b"\r\n") else line[:-1]
            rest = self.buf[self.pos:]
            if len(rest) > MAX_LINE:
                raise self.error(f"a {what} longer than {MAX_LINE} bytes")
            data = self.sock.recv(_RECV)
            if not data:
                if rest:
                    raise self.error(f"closed the connection in the middle of a {what}")
                error = self.error(f"closed the connection before a {what}")
                # before the first byte of an answer: a kept connection the server had closed
                raise _Closed(error) if what == "status line" else error
            self.buf, self.pos = rest + data, 0

    def readinto(self, view: memoryview) -> int:
        """Up to len(view) bytes: from the buffer first, else one recv_into(2) straight into `view`."""
        left = len(self.buf) - self.pos
        if left:
            n = min(len(view), left)
            view[:n] = self.buf[self.pos:self.pos + n]
            self.pos += n
            return n
        return self.sock.recv_into(view)

    def clean(self) -> bool:
        """May this idle connection take another request? Not if the server closed it
        (recv returns b"") or sent bytes no request asked for: a peek that does not block."""
        if self.pos < len(self.buf):
            return False
        timeout = self.sock.gettimeout()
        # a socket with a timeout first waits (poll) until readable: make it non-blocking
        self.sock.settimeout(0)
        try:
            # _socket.socket.recv, not the TLS socket's: it peeks at raw TCP bytes (TLS
            # sockets refuse flags); a TLS record waiting there also counts as not clean
            _socket.socket.recv(self.sock, 1, _socket.MSG_PEEK)
        except BlockingIOError:
            return True                   # nothing waiting: the normal, healthy case
        except OSError:
            return False
        finally:
            self.sock.settimeout(timeout)
        return False                      # b"" (the server closed it) or unasked-for bytes

    def error(self, why: str) -> RegistryError:
        scheme, host, port = self.key
        return RegistryError(f"{scheme}://{_netloc(scheme, host, port)} sent a malformed answer: {why}",
                             hint="this is not an HTTP/1.1 registry, or something between us breaks the traffic")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _connect(host: str, port: int, timeout: float):
    """socket(2) + connect(2) to the first address of `host` that answers (`nc HOST PORT`)."""
    try:
        name = host.encode("ascii")       # bytes: a str would load the idna codec (~2 ms)
    except UnicodeEncodeError:
        name = host.encode("idna")
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, addr in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
        except OSError as e:
            sock.close()
            error = e
            continue
        # headers and body go out in separate writes: without NODELAY, Nagle's
        # algorithm would hold the second one back until the server's delayed ACK (40 ms)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return sock
    raise error


def send_file(sock, f, offset: int, count: int) -> int:
    """Send `count` bytes of the open file `f` from `offset` into `sock`; returns the bytes sent.

    Plain TCP: sendfile(2), the kernel copies the file's pages into the socket
    (shell: `curl -T FILE`). A socket with a timeout is non-blocking underneath,
    so when its buffer is full we wait with poll(2) for room, at most the timeout.
    TLS: the bytes must pass through the encryption, so read() and send().
    """
    if hasattr(sock, "context"):                    # an ssl.SSLSocket
        f.seek(offset)
        data = f.read(count)
        sock.sendall(data)
        return len(data)
    import select                                   # a C module: ~0.1 ms
    timeout = sock.gettimeout()
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLOUT)
    done = 0
    while done < count:
        try:
            n = os.sendfile(sock.fileno(), f.fileno(), offset + done, count - done)
        except BlockingIOError:
            if not poller.poll(None if timeout is None else timeout * 1000):
                raise TimeoutError(f"timed out sending a file body ({done} of {count} bytes sent)") from None
            continue
        if n == 0:
            break                                   # the file is shorter than promised
        done += n
    return done


class _Closed(Exception):
    """The server closed before a status line: on a reused connection, try a fresh one."""

    def __init__(self, error: RegistryError):
        super().__init__(str(error))
        self.error = error


class Client:
    """Sends requests, keeping one idle connection list per (scheme, host, port).

    Safe to share between threads without a lock: list.append() and list.pop()
    are atomic in CPython, and a connection is in the idle list only while
    nobody uses it.
    """

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout
        self._idle: dict[tuple, list[_Conn]] = {}
        self._tls = None                  # made on the first https connection, then shared

    def _tls_context(self):
        if self._tls is None:
            import ssl                    # only for https: ~5 ms of import nobody on plain http pays
            self._tls = ssl.create_default_context()     # loads the system's CA certificates once
        return self._tls

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body=None) -> "Response":
        """Send `method url` with `headers` and `body`; return the Response once its
        headers are read. `body`: bytes, an object with send_to(sock) (a file sent by
        sendfile), or a function returning an iterator of byte chunks.
        OSError when the server cannot be reached; RegistryError when it answers nonsense."""
        scheme, host, port, target = split_url(url)
        key = (scheme, host, port)
        head = [f"{method} {target} HTTP/1.1", f"Host: {_netloc(scheme, host, port)}"]
        names = set()
        for k, v in (headers or {}).items():
            if "\n" in k + v or "\r" in k + v:
                raise RegistryError(f"refusing a header with a line break: {k!r}")
            names.add(k.lower())
            head.append(f"{k}: {v}")
        if "content-length" not in names and "transfer-encoding" not in names and \
                (isinstance(body, bytes) and (body or method in ("POST", "PUT", "PATCH"))):
            head.append(f"Content-Length: {len(body)}")
        try:
            raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise RegistryError(f"refusing a request with non-Latin-1 text in its URL or headers: "
                                f"{head[0][:200]!r}", hint="percent-encode it") from None
        second_chance = method in ("GET", "HEAD")   # idempotent: one more try on a fresh connection
        while True:
            conn, reused = self._take(key)
            try:
                self._send(conn, raw_head, body)
                return self._response(conn, method)
            except _Closed as e:
                conn.close()
                if not reused:
                    if not second_chance:
                        raise e.error from None
                    second_chance = False
            except OSError as e:
                conn.close()
                if not reused or isinstance(e, TimeoutError):
                    raise
            except BaseException:
                conn.close()
                raise
            # a reused connection the server had closed meanwhile (idle timeout):
            # nothing of ours was processed, so send it again on a fresh one

    def _take(self, key) -> tuple[_Conn, bool]:
        idle = self._idle.get(key) or []
        while idle:
            try:
                conn = idle.pop()
            except IndexError:            # another thread took the last one
                break
            if conn.clean():
                return conn, True
            conn.close()
        return _Conn(*key, self.timeout, self._tls_context() if key[0] == "https" else None), False

    def _give_back(self, conn: _Conn) -> None:
        self._idle.setdefault(conn.key, []).append(conn)

    @staticmethod
    def _send(conn: _Conn, head: bytes, body) -> None:
        if body is None or isinstance(body, (bytes, bytearray)):
            conn.sock.sendall(head + bytes(body or b""))    # one write: one TCP segment for small requests
        elif hasattr(body, "send_to"):
            conn.sock.sendall(head)
            body.send_to(conn.sock)
        else:
            conn.sock.sendall(head)
            for chunk in body():
                conn.sock.sendall(chunk)

    def _response(self, conn: _Conn, method: str) -> "Response":
        for _ in range(MAX_INTERIM + 1):
            status, reason, version = _status_line(conn)
            headers = _headers(conn)
            if status >= 200:
                break
            if status == 101:
                raise conn.error("101 Switching Protocols to a request that asked for no upgrade")
            # 1xx (100 Continue, 103 Early Hints): an interim answer, the real one follows
        else:
            raise conn.error(f"more than {MAX_INTERIM} interim (1xx) answers")
        return Response(self, conn, method, status, reason, version, headers)

    def close(self) -> None:
        """Close every idle connection."""
        for idle in list(self._idle.values()):
            while idle:
                try:
                    idle.pop().close()
                except IndexError:
                    break

    __del__ = close          # a Client dropped without close() (a notebook's Registry) closes its sockets


def _status_line(conn: _Conn) -> tuple[int, str, str]:
    line = conn.readline("status line")
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise conn.error(f"status line {line[:80]!r}")
    return int(code), reason.decode("latin-1").strip(), version.decode()


def _headers(conn: _Conn) -> dict[str, str]:
    """Header lines up to the empty line, as {lower-case name: value}; repeats joined by ', '."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = conn.readline("header line")
        if not line:
            return headers
        name, sep, value = line.partition(b":")
        if not sep or not name or not all(c in _TOKEN for c in name):
            # also refuses obsolete line folding (a line starting with a space)
            raise conn.error(f"header line {line[:80]!r}")
        k, v = name.decode().lower(), value.strip(b" \t").decode("latin-1")
        headers[k] = headers[k] + ", " + v if k in headers else v
    raise conn.error(f"more than {MAX_HEADERS} header lines")


class Response:
    """One answer. The body is read through read()/readinto(); close() hands the
    connection back for reuse when the body was read to its end, else closes it."""

    def __init__(self, client: Client, conn: _Conn, method: str, status: int, reason: str,
                 version: str, headers: dict[str, str]):
        self._client, self._conn = client, conn
        self.status, self.reason, self.headers = status, reason, headers
        self.length: int | None = None        # body bytes still to come (Content-Length framing)
        self._chunked = False
        self._chunk_left = 0                  # bytes left in the current chunk
        te = headers.get("transfer-encoding", "").lower()
        cl = headers.get("content-length")
        self._keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304):
            self.length = 0                   # no body, whatever Content-Length says
        elif te:
            if [t.strip() for t in te.split(",")] != ["chunked"]:
                raise conn.error(f"Transfer-Encoding {te!r} (only chunked is understood)")
            self._chunked = True
            if cl is not None:                # both framings: chunked wins (RFC 9112 6.3), and a
                self._keep = False            # server that sends both is not trusted with the next one
        elif cl is not None:
            values = {v.strip() for v in cl.split(",")}    # "5, 5" is allowed, "5, 6" is a lie
            if len(values) != 1 or not _digits(next(iter(values))):
                raise conn.error(f"Content-Length {cl!r}")
            self.length = int(values.pop())
        else:
            self._keep = False                # the body ends when the server closes
        self.done = self.length == 0

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def readinto(self, b) -> int:
        """Read body bytes into `b`; 0 at the end. RegistryError if the connection breaks."""
        view = memoryview(b).cast("B")
        if self.done or self._conn is None or not len(view):
            return 0
        try:
            if self._chunked:
                return self._read_chunked(view)
            if self.length is not None:
                view = view[:self.length]
            n = self._conn.readinto(view)
        except OSError as e:
            raise self._broken(f"the connection broke while reading the body: {e}") from None
        if self.length is None:              # close-delimited: the end of stream is the end
            self.done = n == 0
            return n
        if n == 0:
            raise self._broken(f"the server closed the connection {self.length} bytes before the "
                               "end of the body it announced")
        self.length -= n
        self.done = self.length == 0
        return n

    def _read_chunked(self, view: memoryview) -> int:
        conn = self._conn
        if self._chunk_left == 0:
            line = conn.readline("chunk size line")
            size = line.split(b";", 1)[0].strip()
            if not size or len(size) > 16 or size.strip(_HEX.encode()):
                raise conn.error(f"chunk size {line[:40]!r}")
            self._chunk_left = int(size, 16)
            if self._chunk_left == 0:         # the last chunk; then trailers up to an empty line
                _headers(conn)
                self.done = True
                return 0
        n = conn.readinto(view[:self._chunk_left])
        if n == 0:
            raise self._broken("the server closed the connection in the middle of a chunk")
        self._chunk_left -= n
        if self._chunk_left == 0 and conn.readline("chunk end") != b"":
            raise conn.error("chunk data longer than its size line said")
        return n

    def read(self, limit: int | None = None) -> bytes:
        """The rest of the body (at most `limit` bytes: a longer body raises RegistryError)."""
        out = bytearray()
        size = self.length if self.length and (limit is None or self.length <= limit) else 0
        buf = bytearray(min(size, 1 << 24) or 64 * 1024)     # one read for a body of known size
        while not self.done:
            n = self.readinto(buf)
            if n == 0:
                break
            out += buf[:n]
            if limit is not None and len(out) > limit:
                raise self._broken(f"the body is larger than the {limit} bytes expected here")
        return bytes(out)

    def _broken(self, why: str) -> RegistryError:
        err = self._conn.error(why) if self._conn else RegistryError(why)
        self.close()
        return err

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.done and self._keep:
            self._client._give_back(conn)
        else:
            conn.close()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
