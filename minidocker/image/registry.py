"""A client for the Docker Registry HTTP API v2 (the OCI Distribution spec), stdlib only.

Map of this file:
  Registry(host)            one registry: scheme (HTTP only for localhost/insecure), auth
    .request()              one call; answers a 401 challenge (Bearer or Basic) and retries once
    .ping()                 GET /v2/                    is this a v2 registry? do we need auth?
    .catalog() / .tags()    GET /v2/_catalog, GET /v2/<name>/tags/list  (seed 1.5.5)
    .get_manifest()         GET /v2/<name>/manifests/<ref>  -> Manifest, digest checked
    .blob_exists()          HEAD /v2/<name>/blobs/<digest>
    .open_blob()            GET  /v2/<name>/blobs/<digest>  -> BlobReader (hashes, tees to a file)
    .fetch_blob()           the same, read to the end into a file, sha256 checked
    .upload_blob()          POST /blobs/uploads/ then PUT ?digest= (or PATCH chunks first)
    .mount_blob()           POST /blobs/uploads/?mount=&from=  cross-repository mount, no upload
    .put_manifest()         PUT  /v2/<name>/manifests/<tag>
  catalog(host), tags(host, name)   the seed's curl lesson as library calls (saved login used)
  BlobReader                a blob download as a file-like reader; verify() checks it at the end
  FileBody                  an upload body sent by sendfile(2)
  select_platform()         manifest list / OCI index -> the entry for this machine
  MEDIA_*                   the media types we speak

The auth dance, as `curl` would do it by hand:
  1. GET /v2/...                      -> 401, WWW-Authenticate: Bearer realm="R",service="S",scope="X"
  2. GET R?service=S&scope=X (Basic user:pass if logged in, anonymous otherwise) -> {"token": T}
  3. GET /v2/... with Authorization: Bearer T
A registry with `Basic realm=...` instead wants the password on every request.

Everything a registry sends is checked: a wrong digest, a truncated body,
invalid JSON or an error status becomes a RegistryError saying which.
"""
from __future__ import annotations

import io
import os

TYPE_CHECKING = False   # importing typing costs ~2 ms of every push and pull; type checkers read this
if TYPE_CHECKING:
    from typing import Callable, Iterator

from .. import params, state
from ..errors import RegistryError
from ..plaindata import dataclass            # not dataclasses (~8 ms of import, see plaindata)
from ..trace import step
from . import http11        # not http.client: ~25 ms of import (the email package), see http11.py

__all__ = ["Registry", "Manifest", "BlobReader", "FileBody", "catalog", "tags", "select_platform",
           "host_platform", "is_insecure",
           "MEDIA_OCI_INDEX", "MEDIA_OCI_MANIFEST", "MEDIA_DOCKER_LIST", "MEDIA_DOCKER_MANIFEST",
           "MEDIA_OCI_CONFIG", "MEDIA_DOCKER_CONFIG", "MEDIA_OCI_LAYER_GZIP",
           "MEDIA_DOCKER_LAYER_GZIP", "MANIFEST_TYPES", "INDEX_TYPES", "check_digest"]

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)
_ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
_BLOCK = 256 * 1024
MAX_DOCUMENT = 4 << 20     # a manifest, token or error body larger than this is refused (containerd's limit)
_HEX_LENGTH = {"sha256": 64, "sha512": 128}


def check_digest(digest: str) -> str:
    """'sha256:' + 64 lowercase hex (or sha512 + 128), else RegistryError."""
    algo, sep, hexd = digest.partition(":") if isinstance(digest, str) else ("", "", "")
    if not sep or _HEX_LENGTH.get(algo) != len(hexd) or hexd.strip("0123456789abcdef"):
        raise RegistryError(f"invalid digest {digest!r}",
                            hint="a digest is 'sha256:' and 64 lowercase hex characters")
    return digest


def is_insecure(host: str) -> bool:
    """May we talk plain HTTP to `host`? localhost and 127.0.0.1 always (docker's rule)."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    if name in ("localhost", "127.0.0.1", "[::1]") or name.startswith("127."):
        return True
    extra = os.environ.get(params.INSECURE_REGISTRIES_ENV, "")
    return host in [h.strip() for h in extra.split(",") if h.strip()]


@dataclass
class Manifest:
    """A manifest or index as the registry sent it: raw bytes, type, digest."""
    raw: bytes
    media_type: str
    digest: str
    data: dict

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def host_platform() -> dict[str, str]:
    """This machine as an OCI platform: {"os": "linux", "architecture": "amd64"}."""
    m = os.uname().machine.lower()      # what `uname -m` prints (the platform module costs ~2 ms)
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)
    p = {"os": "linux", "architecture": arch}
    if m.startswith("armv"):
        p["variant"] = "v" + m[4]
    elif arch == "arm64":
        p["variant"] = "v8"
    return p


def select_platform(index: dict, want: dict[str, str] | None = None) -> dict:
    """Pick this machine's entry from a manifest list / OCI index (docker's rule:
    same os and architecture; variant must match when both name one)."""
    want = want or host_platform()
    found = []
    for entry in index.get("manifests") or []:
        p = entry.get("platform") or {}
        found.append("/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x))
        if p.get("os") != want["os"] or p.get("architecture") != want["architecture"]:
            continue
        if want.get("variant") and p.get("variant") and p["variant"] != want["variant"]:
            continue
        return entry
    raise RegistryError(
        f"no image for {want['os']}/{want['architecture']} in the manifest list "
        f"(it has: {', '.join(found) or 'nothing'})",
        hint="this image is not built for this machine's platform")


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y"' -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    fields = {}
    while "=" in rest:
        key, _, rest = rest.partition("=")
        key = key.strip(" ,\t")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:                                   # a token without quotes: error=insufficient_scope
            value, _, rest = rest.partition(",")
        if key:
            fields[key] = value
    return scheme.lower(), fields


def _finish(resp) -> None:
    """Read the rest of an answer whose status and headers were all we needed, then
    close it: a body read to its end lets the connection serve the next request."""
    resp.read(MAX_DOCUMENT)
    resp.close()


def _digest(data: bytes) -> str:
    """'sha256:...' of a manifest; small data is hashed without loading OpenSSL (see layout._sha256)."""
    from .layout import sha256_digest
    return sha256_digest(data)


def _basic(credentials: tuple[str, str]) -> str:
    import base64
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()


class Registry:
    """One registry host ("localhost:5000", "docker.io"), its scheme and credentials.

    Thread-safe. Connections are kept open and reused (http11.Client); tokens
    are cached per scope (a dict: one assignment or lookup is atomic in CPython).
    """

    def __init__(self, host: str, credentials: tuple[str, str] | None = None,
                 insecure: bool | None = None, timeout: float = params.REGISTRY_TIMEOUT):
        self.name = host
        self.host = params.DOCKER_HUB_API if host in ("docker.io", "index.docker.io") else host
        self.scheme = "http" if (insecure if insecure is not None else is_insecure(self.host)) else "https"
        self.credentials = credentials
        self.timeout = timeout
        self._tokens: dict[str, str] = {}
        self._basic = False          # the registry asked for Basic: send it every time
        self._http = http11.Client(timeout)

    def close(self) -> None:
        """Close the connections kept open for reuse (the process exiting does the same)."""
        self._http.close()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    # --- the HTTP layer ------------------------------------------------------

    def _open(self, method: str, url: str, headers: dict[str, str],
              body=None, redirects: int = 5) -> http11.Response:
        """One HTTP exchange; follows redirects for GET/HEAD (blob storage often redirects)."""
        try:
            resp = self._http.request(method, url, headers, body)
        except OSError as e:
            scheme, host, port, target = http11.split_url(url)
            where = f"{scheme}://{host}:{port}"
            hint = "is the registry running and the address right?"
            if scheme == "https" and (type(e).__module__ == "ssl" or isinstance(e, ConnectionResetError)):
                hint = (f"if {host}:{port} speaks plain HTTP, add it to "
                        f"{params.INSECURE_REGISTRIES_ENV}={host}:{port}")
            raise RegistryError(f"cannot reach {where} ({method} {target.split('?')[0]}): {e}",
                                hint=hint) from None
        if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD") and redirects:
            where = http11.join_url(url, resp.getheader("Location") or "")
            _finish(resp)
            same = http11.split_url(where)[:3] == http11.split_url(url)[:3]
            h = {k: v for k, v in headers.items() if same or k != "Authorization"}
            return self._open(method, where, h, None, redirects - 1)
        return resp

    def _auth_header(self, scope: str) -> str | None:
        token = self._tokens.get(scope)
        if token:
            return "Bearer " + token
        if self._basic and self.credentials:
            return _basic(self.credentials)
        return None

    def request(self, method: str, path: str, *, scope: str = "", headers=None, body=None,
                ok: tuple[int, ...] = (200,), what: str = "") -> http11.Response:
        """Send one request to the registry, answering one auth challenge.

        `path` starts with /v2/ (or is an absolute URL from a Location header);
        `body` is bytes or a function returning an iterator of chunks (so it can
        be sent again after a 401). The caller reads and closes the response.
        """
        url = path if "://" in path else self.base_url + path
        for attempt in (1, 2):
            h = dict(headers or {})
            auth = self._auth_header(scope)
            if auth:
                h["Authorization"] = auth
            resp = self._open(method, url, h, body)
            if resp.status == 401 and attempt == 1:
                challenge = resp.getheader("WWW-Authenticate") or ""
                _finish(resp)
                self._authenticate(challenge, scope, what or f"{method} {path}")
                continue
            break
        if resp.status not in ok:
            raise self._error(resp, method, url, what)
        return resp

    def _authenticate(self, challenge: str, scope: str, what: str) -> None:
        scheme, f = _parse_challenge(challenge)
        if scheme == "basic":
            if not self.credentials:
                raise RegistryError(f"{self.name} requires a login ({what})",
                                    hint=f"minidocker login {self.name}")
            self._basic = True
            return
        if scheme != "bearer" or "realm" not in f:
            raise RegistryError(f"{self.name} answered 401 with an auth scheme we do not "
                                f"speak: {challenge!r} ({what})")
        self._tokens[scope] = self._fetch_token(f, scope or f.get("scope", ""))

    def _fetch_token(self, f: dict[str, str], scope: str) -> str:
        """Step 2 of the dance: ask the token service for a Bearer token."""
        q = [("service", f["service"])] if f.get("service") else []
        # several scopes (a mount needs push here and pull there) are several scope= parameters
        q += [("scope", one) for one in scope.split()]
        url = f["realm"] + ("?" + http11.urlencode(q) if q else "")
        h = {}
        if self.credentials:
            h["Authorization"] = _basic(self.credentials)
        resp = self._open("GET", url, h)
        body = resp.read(MAX_DOCUMENT)
        resp.close()
        if resp.status in (401, 403):
            raise RegistryError(f"the token service {f['realm']} refused "
                                f"{'the login for ' + self.credentials[0] if self.credentials else 'anonymous access'}"
                                f" (HTTP {resp.status})",
                                hint=f"minidocker login {self.name}   (check user name and password)")
        if resp.status != 200:
            raise RegistryError(f"the token service {f['realm']} answered HTTP {resp.status}")
        from .. import fastjson as json
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"the token service {f['realm']} sent no token (invalid JSON answer)")
        return token

    def _error(self, resp, method: str, url: str, what: str) -> RegistryError:
        from .. import fastjson as json
        body = b""
        try:
            body = resp.read(MAX_DOCUMENT) if method != "HEAD" else b""
        except RegistryError:       # an error answer we cannot read: the status alone must do
            pass
        resp.close()
        detail = ""
        try:
            errs = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs)
        except (ValueError, AttributeError):
            detail = body[:200].decode("utf-8", "replace").strip()
        hint = None
        if resp.status in (401, 403):
            hint = f"minidocker login {self.name}"
        elif resp.status == 404:
            hint = "check the repository name and tag (library calls: Registry(host).tags(name))"
        elif resp.status >= 500:
            hint = "the registry itself failed; look at its log and try again"
        return RegistryError(f"{self.name}: {what or method + ' ' + url} failed: HTTP {resp.status}"
                             f" {resp.reason}" + (f" ({detail})" if detail else ""), hint=hint)

    def _json(self, resp, what: str) -> dict:
        raw = resp.read(MAX_DOCUMENT)
        resp.close()
        return self._object(raw, what)

    def _object(self, raw: bytes, what: str) -> dict:
        """A JSON object from the registry, or RegistryError. Parsed by the store's reader
        (layout.parse_json: json's C core without `re`, ~4 ms less of every pull's start-up)."""
        from .layout import parse_json
        from ..errors import ImageError
        try:
            return parse_json(raw, "the answer")
        except ImageError as e:
            raise RegistryError(f"{self.name}: {what}: invalid JSON answer ({e})") from None

    # --- the API -------------------------------------------------------------

    def ping(self) -> None:
        """GET /v2/ (a 401 is answered, so this also checks a login)."""
        self.request("GET", "/v2/", scope="", what="ping /v2/").close()

    def catalog(self, page_size: int = 100) -> list[str]:
        """Every repository: GET /v2/_catalog, following `Link` pagination."""
        repos, path = [], f"/v2/_catalog?n={page_size}"
        while path:
            resp = self.request("GET", path, scope="registry:catalog:*", what="catalog")
            link = (resp.getheader("Link") or "").strip()
            data = self._json(resp, "catalog")
            repos += data.get("repositories") or []
            # Link: </v2/_catalog?last=b&n=100>; rel="next"
            path = link[1:].partition(">")[0] if link.startswith("<") and ">" in link else ""
        return repos

    def tags(self, name: str) -> list[str]:
        """GET /v2/<name>/tags/list -> ["latest", ...]."""
        resp = self.request("GET", f"/v2/{name}/tags/list", scope=f"repository:{name}:pull",
                            what=f"tags of {name}")
        return self._json(resp, f"tags of {name}").get("tags") or []

    def get_manifest(self, name: str, reference: str) -> Manifest:
        """GET a manifest or index by tag or digest; its digest is checked."""
        what = f"manifest {name}:{reference}" if ":" not in reference else f"manifest {name}@{reference}"
        resp = self.request("GET", f"/v2/{name}/manifests/{reference}", scope=f"repository:{name}:pull",
                            headers={"Accept": _ACCEPT}, what=what)
        raw = resp.read(MAX_DOCUMENT)
        resp.close()
        digest = _digest(raw)
        claimed = resp.getheader("Docker-Content-Digest")
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"{self.name}: {what}: the registry sent a manifest whose digest is "
                                f"{digest}, not the one asked for: refusing it")
        if claimed and claimed.startswith("sha256:") and claimed != digest:
            raise RegistryError(f"{self.name}: {what}: Docker-Content-Digest says {claimed} "
                                f"but the body hashes to {digest}: refusing it")
        data = self._object(raw, what)
        media = data.get("mediaType") or (resp.getheader("Content-Type") or "").split(";")[0].strip()
        if media not in INDEX_TYPES + MANIFEST_TYPES:
            if "manifests" in data:
                media = MEDIA_OCI_INDEX
            elif "layers" in data and "config" in data:
                media = MEDIA_OCI_MANIFEST
            else:
                raise RegistryError(f"{self.name}: {what}: unsupported manifest type {media!r}",
                                    hint="minidocker speaks Docker schema 2 and OCI manifests, not schema 1")
        return Manifest(raw, media, digest, data)

    def blob_exists(self, name: str, digest: str, scope: str = "") -> bool:
        resp = self.request("HEAD", f"/v2/{name}/blobs/{check_digest(digest)}",
                            scope=scope or f"repository:{name}:pull", ok=(200, 404),
                            what=f"check blob {digest[:19]}")
        _finish(resp)
        return resp.status == 200

    def open_blob(self, name: str, digest: str, dest: str | None = None, size: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> "BlobReader":
        """GET /v2/<name>/blobs/<digest> as a reader (see BlobReader): what pull unpacks
        while it downloads. `size` is the manifest's promise: reading more is refused."""
        algo = check_digest(digest).partition(":")[0]
        resp = self.request("GET", f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull",
                            what=f"blob {digest[:19]}")
        return BlobReader(self.name, digest, algo, resp, dest, size, progress)

    def fetch_blob(self, name: str, digest: str, dest: str,
                   progress: Callable[[int, int], None] | None = None, size: int | None = None) -> int:
        """Download a blob into the new file `dest`, hashing as it streams.

        A wrong digest or a short body removes `dest` and raises: nothing
        half-written stays. Returns the size. `progress(done, total)` is called
        as bytes arrive (total is 0 when the registry sends no Content-Length).
        `size`: the descriptor's size; a longer body is refused as it arrives.
        """
        blob = self.open_blob(name, digest, dest, size=size, progress=progress)
        try:
            blob.verify()
        except BaseException:
            blob.fail()
            raise
        finally:
            blob.close()
        return blob.done

    def upload_blob(self, name: str, digest: str, path: str, chunk: int = 0,
                    progress: Callable[[int, int], None] | None = None,
                    location: str | None = None) -> None:
        """Upload the file `path` as blob `digest`.

        Monolithic (chunk=0): POST /v2/<name>/blobs/uploads/ -> 202 + Location,
        then PUT <Location>?digest=<digest> with the whole body, sent by
        sendfile(2) (see FileBody). Chunked: PATCH <Location> with Content-Range
        per chunk, then an empty PUT. `location`: an upload session already
        opened (the 202 answer of a refused mount_blob()), so no POST.
        """
        scope = f"repository:{name}:pull,push"
        size = os.path.getsize(path)
        if not location:
            resp = self.request("POST", f"/v2/{name}/blobs/uploads/", scope=scope, ok=(202,),
                                headers={"Content-Length": "0"}, body=b"",
                                what=f"start upload of {digest[:19]}")
            _finish(resp)
            location = self._location(resp)
        if chunk:
            offset = 0
            while offset < size:
                n = min(chunk, size - offset)
                resp = self.request("PATCH", location, scope=scope, ok=(202,), what="upload chunk",
                                    headers={"Content-Type": "application/octet-stream",
                                             "Content-Length": str(n),
                                             "Content-Range": f"{offset}-{offset + n - 1}"},
                                    body=_file_chunks(path, offset, n, progress, size))
                _finish(resp)
                location = self._location(resp)
                offset += n
            body, length = b"", 0
        else:
            body, length = FileBody(path, size, progress), size
        sep = "&" if "?" in location else "?"
        resp = self.request("PUT", f"{location}{sep}digest={http11.quote(digest)}",
                            scope=scope, ok=(201,), what=f"finish upload of {digest[:19]}",
                            headers={"Content-Type": "application/octet-stream",
                                     "Content-Length": str(length)}, body=body)
        _finish(resp)

    def mount_blob(self, name: str, digest: str, source: str) -> str | None:
        """Cross-repository mount: POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<source>.

        The registry already stores the blob for repository `source`; asking it
        to link the blob into `name` costs one request instead of an upload.
        201 Created: mounted, returns None. 202 Accepted: the registry cannot
        (it has no such blob in `source`, or we may not read it) and opened a
        normal upload session instead: returns its Location, to upload into.
        401/403 (no pull access to `source`): returns "" (upload from scratch).
        """
        q = http11.urlencode({"mount": check_digest(digest), "from": source})
        resp = self.request("POST", f"/v2/{name}/blobs/uploads/?{q}", ok=(201, 202, 401, 403),
                            scope=f"repository:{name}:pull,push repository:{source}:pull",
                            headers={"Content-Length": "0"}, body=b"",
                            what=f"mount {digest[:19]} from {source}")
        _finish(resp)
        if resp.status == 201:
            return None
        return self._location(resp) if resp.status == 202 else ""

    def _location(self, resp) -> str:
        loc = resp.getheader("Location")
        if not loc:
            raise RegistryError(f"{self.name}: upload answer without a Location header")
        return http11.join_url(self.base_url + "/", loc)

    def put_manifest(self, name: str, reference: str, raw: bytes, media_type: str) -> str:
        """PUT a manifest under a tag; returns the digest the registry reports."""
        resp = self.request("PUT", f"/v2/{name}/manifests/{reference}",
                            scope=f"repository:{name}:pull,push", ok=(201, 200),
                            headers={"Content-Type": media_type, "Content-Length": str(len(raw))},
                            body=raw, what=f"put manifest {name}:{reference}")
        _finish(resp)
        return resp.getheader("Docker-Content-Digest") or _digest(raw)


class BlobReader(io.RawIOBase):
    """A blob download as a file: every byte read is hashed and, when `dest` is
    given, appended to that new file (created with O_EXCL: never overwritten).

    verify() reads what is left and checks the length and the digest. Until it
    has passed, the bytes are untrusted: pull unpacks them only into a private
    temp dir, and renames nothing into place before verify(). Any failure
    removes `dest`. Shell analogue: `curl URL | tee DEST | sha256sum`.
    """

    def __init__(self, host: str, digest: str, algo: str, resp, dest: str | None,
                 size: int | None, progress: Callable[[int, int], None] | None):
        self.host, self.digest, self.dest = host, digest, dest
        self._resp, self._progress = resp, progress
        import hashlib                 # OpenSSL's: the fastest on big blobs (see layout._sha256)
        self._h = hashlib.new(algo)
        self.total = int(resp.getheader("Content-Length") or 0)
        self.limit = size             # the manifest's size: more bytes than that are refused
        self.done = 0
        self.verified = False
        self.error: RegistryError | None = None    # the first refusal, repeated by verify()
        self._fd = None
        if dest is not None:
            try:
                self._fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except OSError:
                resp.close()
                raise

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.error:
            raise self.error
        try:
            n = self._resp.readinto(b)
        except (RegistryError, OSError) as e:
            raise self._refuse(f"download failed after {self.done} bytes: {e}")
        if n:
            view = memoryview(b)[:n]
            self._h.update(view)
            if self._fd is not None:
                while view:
                    view = view[os.write(self._fd, view):]
            self.done += n
            if self.limit is not None and self.done > self.limit:
                raise self._refuse(f"is larger than the {self.limit} bytes the manifest says, so it cannot match its digest: refusing it")
            if self._progress:
                self._progress(self.done, self.total)
        return n

    def _refuse(self, why: str, hint: str | None = None) -> RegistryError:
        """Remember the first reason (the pull's reader and verify() both see it), give up."""
        if self.error is None:
            self.error = RegistryError(f"{self.host}: blob {self.digest[:19]} {why}", hint=hint)
        self.fail()
        return self.error

    def verify(self) -> None:
        """Read to the end, then check length and digest (RegistryError if wrong)."""
        if self.verified:
            return
        buf = bytearray(_BLOCK)
        while self.readinto(buf):
            pass
        algo, hexd = self.digest.split(":", 1)
        if (self.total and self.done != self.total) or (self.limit is not None and self.done != self.limit):
            raise self._refuse(f"was cut short: {self.done} of {self.limit or self.total} bytes")
        if self._h.hexdigest() != hexd:
            raise self._refuse(f"failed verification: its content hashes to {algo}:{self._h.hexdigest()}"
                               f" (not {self.digest}): refusing it",
                               hint="the registry's storage is corrupt or something altered the download")
        self.verified = True

    def fail(self) -> None:
        """Give up: close and remove `dest`."""
        self.close()
        if self.dest is not None:
            state.rm_f(self.dest)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._resp.close()
        super().close()


class FileBody:
    """A request body sent from a file by sendfile(2): the kernel copies the
    file's pages straight into the socket, no trip through Python's memory.

    Shell analogue: `curl -T FILE`. 8 MB per call, so progress can be shown;
    a body object (not an iterator) so it can be sent again after a 401.
    """

    STEP = 8 << 20

    def __init__(self, path: str, size: int, progress: Callable[[int, int], None] | None = None):
        self.path, self.size, self.progress = path, size, progress

    def send_to(self, sock) -> None:
        """sendfile(2) the file into `sock` (http11.send_file; read() + send() on TLS sockets)."""
        step("registry", f"sendfile(socket, {self.path}, {self.size} bytes)",
             f"curl -T {self.path} ...   # the kernel copies file -> socket")
        with open(self.path, "rb") as f:
            done = 0
            while done < self.size:
                n = http11.send_file(sock, f, done, min(self.STEP, self.size - done))
                if not n:
                    raise RegistryError(f"{self.path} shrank while uploading it")
                done += n
                if self.progress:
                    self.progress(done, self.size)


def _file_chunks(path: str, offset: int, length: int, progress, total: int):
    """A re-startable body: a function returning an iterator over a file range."""
    def gen() -> Iterator[bytes]:
        with open(path, "rb") as f:
            f.seek(offset)
            left = length
            while left > 0:
                b = f.read(min(_BLOCK, left))
                if not b:
                    raise RegistryError(f"{path} shrank while uploading it")
                left -= len(b)
                if progress:
                    progress(offset + length - left, total)
                yield b
    return gen


def catalog(host: str) -> list[str]:
    """`curl -X GET HOST/v2/_catalog` -> {"repositories": [...]}, as a list (seed 1.5.5)."""
    from . import auth
    reg = Registry(host, credentials=auth.load(host))
    try:
        return reg.catalog()
    finally:
        reg.close()


def tags(host: str, name: str) -> list[str]:
    """`curl -X GET HOST/v2/NAME/tags/list` -> {"name": NAME, "tags": [...]}, the tags."""
    from . import auth
    reg = Registry(host, credentials=auth.load(host))
    try:
        return reg.tags(name)
    finally:
        reg.close()
