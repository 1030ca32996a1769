"""`pull` and `push`: moving images between the store and a registry.

Map of this file:
  client_for(host)      a registry.Registry with the saved login (auth.py)
  pull(ref)             manifest (index -> this platform) -> config -> layers in parallel
                        -> unpack bottom to top -> register in the store
  push(ref)             for each blob: HEAD, upload if missing; then PUT the manifest
  Progress              docker's per-layer status lines ("a1b2c3d4e5f6: Pull complete")

Pull, as `curl` would do it (see registry.py for the auth dance):
  GET /v2/<name>/manifests/<tag>   Accept: index, manifest list, OCI and Docker manifests
  GET /v2/<name>/manifests/<digest of the linux/amd64 entry>   (when it was an index)
  GET /v2/<name>/blobs/<config digest>, then each layer blob not already here
Every blob is hashed while it streams and renamed into blobs/sha256/ only
when the hash is right; unpacking checks the diff_id the config promised.

Push is the same in reverse; a blob the registry already has (HEAD -> 200)
is not sent again, so a second push of the same image uploads nothing.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO

from .. import params
from ..errors import ImageError, NotFound, RegistryError
from . import auth, reference
from .registry import MANIFEST_TYPES, Registry, check_digest, select_platform

__all__ = ["client_for", "pull", "push", "PullResult", "PushResult", "Progress"]

_LAYER_TYPES = ("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "application/vnd.docker.image.rootfs.diff.tar")


def client_for(host: str) -> Registry:
    """A client for `host` using the credentials `minidocker login` saved, if any."""
    return Registry(host, credentials=auth.load(host))


class Progress:
    """Docker's per-layer lines. On a terminal the lines are redrawn in place
    (ANSI: cursor up, erase line) with [=====>    ] bars; in a pipe or a
    notebook only status changes are printed, one line each."""

    def __init__(self, out: TextIO):
        self.out = out
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.lock = threading.Lock()

    def set(self, key: str, text: str) -> None:
        with self.lock:
            new = key not in self.lines
            if new:
                self.order.append(key)
            self.lines[key] = text
            if self.tty:
                if new:
                    self.out.write(f"{key}: {text}\n")
                else:
                    up = len(self.order) - self.order.index(key)
                    self.out.write(f"\x1b[{up}A\x1b[2K\r{key}: {text}\x1b[{up}B\r")
            elif not text.startswith(("Downloading", "Pushing ", "Extracting")):
                self.out.write(f"{key}: {text}\n")
            self.out.flush()

    def bar(self, key: str, verb: str, done: int, total: int) -> None:
        if not self.tty:
            return
        if total:
            n = min(50, done * 50 // total)
            arrow = "=" * max(n - 1, 0) + (">" if n < 50 else "=")
            self.set(key, f"{verb} [{arrow:<50}] {_size(done)}/{_size(total)}")
        else:
            self.set(key, f"{verb} {_size(done)}")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return str(n)


# --- pull --------------------------------------------------------------------

@dataclass
class PullResult:
    image_id: str
    digest: str                     # what the registry calls it (the index digest for a list)
    downloaded: list[str] = field(default_factory=list)   # layer digests fetched
    skipped: list[str] = field(default_factory=list)      # layers already here
    up_to_date: bool = False


def pull(text: str, store=None, out: TextIO | None = None, platform: dict | None = None,
         client: Registry | None = None) -> PullResult:
    """`minidocker pull REF`: fetch an image into the store. See the module docstring."""
    from .store import Store
    out = out or sys.stdout
    store = store or Store()
    ref = reference.parse(text)
    if ref.digest is None and ":" not in text.rsplit("/", 1)[-1]:
        out.write(f"Using default tag: {ref.tag}\n")
    reg = client or client_for(ref.domain)
    repo, want = ref.path, ref.digest or ref.tag
    top = reg.get_manifest(repo, want)
    m = top
    if top.is_index:
        entry = select_platform(top.data, platform)
        m = reg.get_manifest(repo, check_digest(entry.get("digest", "")))
        if m.is_index:
            raise RegistryError(f"{reg.name}: {repo}: an index inside an index is not supported")
    cfg_desc, layers = _check_manifest(m, reg.name, repo)
    out.write(f"{ref.tag or ref.digest}: Pulling from {ref.familiar_name()}\n")
    names = [str(ref)] if ref.tag else []
    for img in _images_with_manifest(store, m.digest):
        if not names or set(reference.parse(t).familiar() for t in names) <= set(img.repo_tags):
            out.write(f"Digest: {top.digest}\nStatus: Image is up to date for {ref.familiar()}\n")
            return PullResult(img.id, top.digest, up_to_date=True)
    layout = store.layout
    layout.init()
    fresh_blobs = [d for d in [cfg_desc["digest"]] + [x["digest"] for x in layers] if not layout.has_blob(d)]
    layers_before = set(os.listdir(store.layers_dir)) if os.path.isdir(store.layers_dir) else set()
    try:
        result = _pull_blobs(reg, repo, cfg_desc, layers, store, layout, out)
    except BaseException:
        # a refused or broken pull leaves nothing behind: the blobs and unpacked
        # layers it added are removed again (ones that were here before stay)
        _forget(store, layout, fresh_blobs, layers_before)
        raise
    result.digest = top.digest
    layout.put_blob(m.raw, m.digest)
    img = store.register(m.digest, names, media_type=m.media_type)
    result.image_id = img.id
    out.write(f"Digest: {top.digest}\nStatus: Downloaded newer image for {ref.familiar()}\n{ref}\n")
    out.flush()
    return result


def _pull_blobs(reg, repo: str, cfg_desc: dict, layers: list[dict], store, layout, out) -> "PullResult":
    """Fetch the config and the missing layers (in parallel), verify, and unpack them."""
    if not layout.has_blob(cfg_desc["digest"]):
        _fetch_into_store(reg, repo, cfg_desc["digest"], layout)
    config = layout.read_json(cfg_desc["digest"], "image config")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise RegistryError(f"{reg.name}: {repo}: the manifest lists {len(layers)} layers but the config "
                            f"{len(diff_ids)} diff_ids: refusing this image")
    progress = Progress(out)
    result = PullResult("", "")
    todo = []
    for desc, diff_id in zip(layers, diff_ids):
        short = desc["digest"][7:19]
        if os.path.isdir(store.layer_dir(diff_id)) or layout.has_blob(desc["digest"]):
            progress.set(short, "Already exists")
            result.skipped.append(desc["digest"])
        else:
            progress.set(short, "Pulling fs layer")
            todo.append(desc)
    with cf.ThreadPoolExecutor(max_workers=params.PULL_PARALLEL) as pool:
        futures = {pool.submit(_download_layer, reg, repo, d, layout, progress): d for d in todo}
        try:
            for fut in cf.as_completed(futures):
                fut.result()
                result.downloaded.append(futures[fut]["digest"])
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    for desc, diff_id in zip(layers, diff_ids):   # bottom to top, as docker extracts
        short = desc["digest"][7:19]
        if desc["digest"] in result.downloaded:
            progress.set(short, "Extracting")
            store.unpack(desc["digest"], diff_id, desc.get("mediaType"))
            progress.set(short, "Pull complete")
    return result


def _forget(store, layout, blobs: list[str], layers_before: set[str]) -> None:
    """Remove the blobs this pull added, and the layer directories it unpacked."""
    import shutil
    for digest in blobs:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(layout.blob_path(digest))
    if os.path.isdir(store.layers_dir):
        for name in set(os.listdir(store.layers_dir)) - layers_before:
            shutil.rmtree(os.path.join(store.layers_dir, name), ignore_errors=True)


def _check_manifest(m, host: str, repo: str):
    d = m.data
    if m.media_type not in MANIFEST_TYPES:
        raise RegistryError(f"{host}: {repo}: unsupported manifest type {m.media_type}")
    cfg, layers = d.get("config"), d.get("layers")
    if not isinstance(cfg, dict) or not isinstance(layers, list):
        raise RegistryError(f"{host}: {repo}: the manifest has no config or layers")
    for desc in [cfg] + layers:
        if not isinstance(desc, dict):
            raise RegistryError(f"{host}: {repo}: a manifest descriptor is not an object")
        try:
            check_digest(desc.get("digest", ""))
        except RegistryError as e:
            raise RegistryError(f"{host}: {repo}: manifest: {e}") from None
    for desc in layers:
        if desc.get("mediaType") not in _LAYER_TYPES:
            raise RegistryError(f"{host}: {repo}: layer {desc['digest'][:19]} has media type "
                                f"{desc.get('mediaType')!r}, which minidocker cannot unpack",
                                hint="minidocker handles tar and tar+gzip layers")
    return cfg, layers


def _images_with_manifest(store, digest: str):
    out = []
    for img in store.images(all=True):
        if img.manifest_digest == digest:
            out.append(img)
    return out


def _fetch_into_store(reg, repo, digest, layout, progress=None, short=""):
    """Download a blob to a temp name in blobs/sha256/ and rename it to its digest once verified."""
    tmp = os.path.join(os.path.dirname(layout.blob_path(digest)),
                       f".tmp-pull-{digest[7:19]}-{os.getpid()}-{threading.get_ident()}")
    cb = (lambda done, total: progress.bar(short, "Downloading", done, total)) if progress else None
    try:
        reg.fetch_blob(repo, digest, tmp, cb)
        os.chmod(tmp, 0o644)
        os.rename(tmp, layout.blob_path(digest))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download_layer(reg, repo, desc, layout, progress):
    short = desc["digest"][7:19]
    progress.set(short, "Waiting")
    _fetch_into_store(reg, repo, desc["digest"], layout, progress, short)
    progress.set(short, "Verifying Checksum")
    progress.set(short, "Download complete")


# --- push --------------------------------------------------------------------

@dataclass
class PushResult:
    digest: str
    size: int
    uploaded: list[str] = field(default_factory=list)     # blob digests sent
    existed: list[str] = field(default_factory=list)      # blob digests the registry had


def push(text: str, store=None, out: TextIO | None = None, client: Registry | None = None,
         chunk: int = 0) -> PushResult:
    """`minidocker push REF`: upload the image's blobs and its manifest under REF's tag."""
    from .store import Store
    out = out or sys.stdout
    store = store or Store()
    ref = reference.parse(text)
    try:
        img = store.resolve(str(ref))
    except NotFound:
        raise NotFound(f"an image does not exist locally with the tag: {ref.familiar()}",
                       hint=f"tag one first: minidocker tag IMAGE {ref.familiar()}") from None
    reg = client or client_for(ref.domain)
    repo, tag = ref.path, ref.tag or params.DEFAULT_TAG
    layout = store.layout
    raw = layout.read_blob(img.manifest_digest, "manifest")
    manifest = json.loads(raw)
    media_type = manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    out.write(f"The push refers to repository [{ref.name}]\n")
    blobs = list(manifest.get("layers") or [])
    for d in blobs + [manifest["config"]]:
        if not layout.has_blob(d["digest"]):
            raise ImageError(f"blob {d['digest']} of {ref.familiar()} is not in the store, cannot push it",
                             hint="pull or build the image again so its layer blobs are stored")
    progress = Progress(out)
    result = PushResult("", len(raw))
    lock = threading.Lock()

    def one(desc, is_layer=True):
        digest, short = desc["digest"], desc["digest"][7:19]
        if is_layer:
            progress.set(short, "Preparing")
        if reg.blob_exists(repo, digest, scope=f"repository:{repo}:pull,push"):
            if is_layer:
                progress.set(short, "Layer already exists")
            with lock:
                result.existed.append(digest)
            return
        cb = (lambda done, total: progress.bar(short, "Pushing ", done, total)) if is_layer else None
        reg.upload_blob(repo, digest, layout.blob_path(digest), chunk=chunk, progress=cb)
        if is_layer:
            progress.set(short, "Pushed")
        with lock:
            result.uploaded.append(digest)

    # docker lists layers top first
    with cf.ThreadPoolExecutor(max_workers=params.PUSH_PARALLEL) as pool:
        for f in [pool.submit(one, d) for d in reversed(blobs)]:
            f.result()
    one(manifest["config"], is_layer=False)
    digest = reg.put_manifest(repo, tag, raw, media_type)
    if digest != img.manifest_digest:
        raise RegistryError(f"{reg.name}: the registry stored the manifest as {digest}, "
                            f"but it is {img.manifest_digest}")
    result.digest = digest
    out.write(f"{tag}: digest: {digest} size: {len(raw)}\n")
    out.flush()
    return result
