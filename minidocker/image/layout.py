"""The OCI image layout on disk: content-addressed blobs plus an index.

Map of this file:
  media types       the OCI and Docker names for manifests, configs, layers
  Layout(root)      one directory in the OCI image-layout format:
                      oci-layout          {"imageLayoutVersion": "1.0.0"}
                      index.json          the list of manifests (with their tags)
                      blobs/sha256/<hex>  every manifest, config and layer, named by
                                          the sha256 of its bytes
    put_blob()      write a blob: hash while writing, refuse a wrong digest, rename in place
    open_blob()     read a blob through a reader that re-checks the digest at EOF
    read_json()     a small blob (manifest, config), verified, parsed
    index / write_index()
  Verifier          the digest-checking reader

Content addressing is the whole trick: a blob's name is the hash of its
content, so two images that share a layer share the file, and a corrupted or
tampered blob is caught the moment it is read (`sha256sum blobs/sha256/*`).
"""
from __future__ import annotations

import io
import os
TYPE_CHECKING = False   # importing typing costs ~4 ms at start-up; type checkers read this
if TYPE_CHECKING:
    from typing import Any, BinaryIO

from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from ..errors import ImageError
from .. import state

__all__ = ["Layout", "Verifier", "sha256_digest",
           "OCI_MANIFEST", "OCI_INDEX", "OCI_CONFIG", "OCI_LAYER", "OCI_LAYER_GZIP",
           "DOCKER_MANIFEST", "DOCKER_MANIFEST_LIST", "DOCKER_CONFIG", "DOCKER_LAYER_GZIP",
           "REF_NAME", "CONTAINERD_NAME"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: index.json annotations naming an image: the OCI one (skopeo, umoci read it)
#: and containerd's (docker save writes it).
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

_CHUNK = 1 << 20


def _sha256(data: bytes = b"", size_hint: int | None = None):
    """A sha256 hasher, chosen for the job.

    hashlib's sha256 comes from OpenSSL: fastest on big blobs (layers), but
    loading OpenSSL costs ~3 ms, a tenth of `minidocker run`, which only
    verifies two small JSON documents (manifest and config). For data known to
    be small we use CPython's own sha256 module (same digests; the module is
    `_sha2` from Python 3.12, `_sha256` before).
    """
    global _small_sha256
    if size_hint is not None and size_hint < _SMALL:
        if _small_sha256 is None:
            try:
                from _sha2 import sha256          # Python >= 3.12
            except ImportError:
                try:
                    from _sha256 import sha256    # Python 3.10, 3.11
                except ImportError:
                    from hashlib import sha256
            _small_sha256 = sha256            # looked up once: a failed import is not cached
        return _small_sha256(data)
    import hashlib
    return hashlib.sha256(data)


_small_sha256 = None


_SMALL = 1 << 16    # 64 KiB: manifests, configs, indexes


def sha256_digest(data: bytes) -> str:
    return "sha256:" + _sha256(data, len(data)).hexdigest()


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise ImageError(f"bad digest {digest!r}: expected sha256:<64 lowercase hex>",
                         hint="digests look like sha256:e3b0c442...; check where it came from")
    return hexpart


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    """JSON object from bytes, or ImageError naming what it was supposed to be."""
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ImageError(f"{what} is not a JSON object")
    return obj


class Verifier(io.RawIOBase):
    """A reader that hashes what passes through and checks the digest at EOF.

    Reading to the end is what verifies: a blob with a wrong byte raises
    ImageError on the last read, so a consumer must drain it (drain()).
    """

    def __init__(self, f: BinaryIO, digest: str, what: str, size: int | None = None):
        self._f, self.digest, self.what, self.size = f, digest, what, size
        self._h = _sha256(size_hint=size)
        self.count = 0
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._f.read(len(b))
        if data:
            self._h.update(data)
            self.count += len(data)
            b[:len(data)] = data
            return len(data)
        self._finish()
        return 0

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        got = "sha256:" + self._h.hexdigest()
        if got != self.digest or (self.size is not None and self.count != self.size):
            raise ImageError(
                f"{self.what} is corrupt: expected {self.digest} ({self.size} bytes), "
                f"content hashes to {got} ({self.count} bytes)",
                hint="remove the image and load or pull it again")

    def drain(self) -> None:
        """Read whatever is left (tar padding after the end marker) and verify."""
        while self.read(_CHUNK):
            pass
        self._finish()

    def close(self) -> None:
        try:
            self._f.close()
        except Exception:
            pass
        super().close()


class Layout:
    """An OCI image layout directory (see the module docstring)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.blobs = os.path.join(self.root, "blobs", "sha256")
        self.index_path = os.path.join(self.root, "index.json")

    def init(self) -> None:
        """Create the directory skeleton if missing (idempotent)."""
        os.makedirs(self.blobs, exist_ok=True)
        marker = os.path.join(self.root, "oci-layout")
        if not os.path.exists(marker):
            state.write_json(marker, {"imageLayoutVersion": "1.0.0"}, versioned=False)
            os.chmod(marker, 0o644)
        if not os.path.exists(self.index_path):
            self.write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    # --- blobs ----------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs, _hex(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def blob_size(self, digest: str) -> int:
        return os.path.getsize(self.blob_path(digest))

    def put_blob(self, src: bytes | BinaryIO, expected: str | None = None) -> tuple[str, int]:
        """Store a blob, returning (digest, size); ImageError if it is not `expected`.

        Written to a temp file in the same directory while hashing, then renamed
        to its digest: readers never see half a blob under a real name.
        """
        if expected is not None:
            _hex(expected)
        f = io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src
        os.makedirs(self.blobs, exist_ok=True)
        fd, tmp = state.mkstemp(self.blobs)
        h, size = _sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            digest = "sha256:" + h.hexdigest()
            if expected is not None and digest != expected:
                raise ImageError(f"blob digest mismatch: expected {expected}, got {digest}",
                                 hint="the data was corrupted or tampered with; nothing was stored")
            os.chmod(tmp, 0o644)
            os.rename(tmp, self.blob_path(digest))  # same content if it existed: harmless
            return digest, size
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def put_json(self, obj: dict[str, Any]) -> tuple[str, int, bytes]:
        """Store a JSON document as a blob; returns (digest, size, the exact bytes)."""
        data = json.dumps(obj, separators=(",", ":")).encode()
        digest, size = self.put_blob(data)
        return digest, size, data

    def open_blob(self, digest: str, what: str = "") -> Verifier:
        """Open a blob for reading; the returned reader verifies it at EOF."""
        path = self.blob_path(digest)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from {self.blobs}",
                             hint="the store is damaged; remove the image and load or pull it again") from None
        return Verifier(f, digest, what or f"blob {digest}", os.fstat(f.fileno()).st_size)

    def read_blob(self, digest: str, what: str = "") -> bytes:
        with self.open_blob(digest, what) as v:
            data = v.read()
            v.drain()
        return data

    def read_json(self, digest: str, what: str = "") -> dict[str, Any]:
        return parse_json(self.read_blob(digest, what), what or digest)

    def remove_blob(self, digest: str) -> None:
        """rm -f blobs/sha256/<hex>."""
        state.rm_f(self.blob_path(digest))

    def all_blobs(self) -> list[str]:
        try:
            return ["sha256:" + n for n in os.listdir(self.blobs) if not n.startswith(".")]
        except FileNotFoundError:
            return []

    # --- index.json -------------------------------------------------------------
    def index(self) -> dict[str, Any]:
        try:
            idx = state.read_json(self.index_path, versioned=False)
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        idx.setdefault("manifests", [])
        return idx

    def write_index(self, idx: dict[str, Any]) -> None:
        """Atomic replace (state.write_json); caller holds the store lock."""
        state.write_json(self.index_path, idx, versioned=False)
        os.chmod(self.index_path, 0o644)   # readable by skopeo/umoci run as other users
