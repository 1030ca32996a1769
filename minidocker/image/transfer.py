"""`pull` and `push`: moving images between the store and a registry.

Map of this file:
  client_for(host)      a registry.Registry with the saved login (auth.py)
  pull(ref)             manifest (index -> this platform) -> config -> layers in parallel,
                        each unpacked while it downloads (_download_layer, _Pipe) -> register
  push(ref)             for each blob: HEAD; if missing, mount it from another repository of
                        the same registry that has it (blobsources.py), else upload; PUT the manifest
  Progress              docker's per-layer status lines ("a1b2c3d4e5f6: Pull complete")

Pull, as `curl` would do it (see registry.py for the auth dance):
  GET /v2/<name>/manifests/<tag>   Accept: index, manifest list, OCI and Docker manifests
  GET /v2/<name>/manifests/<digest of the linux/amd64 entry>   (when it was an index)
  GET /v2/<name>/blobs/<config digest>, then each layer blob not already here
Every blob is hashed while it streams and renamed into blobs/sha256/ only
when the hash is right; a layer is unpacked from the same stream into a
private temp dir that becomes layers/<diff_id>/ only after both the blob
digest and the diff_id the config promised are checked.

Push is the same in reverse; a blob the registry already has (HEAD -> 200)
is not sent again, so a second push of the same image uploads nothing; and a
blob it has in another repository is mounted (POST ...?mount=&from=), not sent.
"""
from __future__ import annotations

import _thread        # locks and thread ids without `threading` (imported only to start threads)
import io
import os
import sys

TYPE_CHECKING = False   # importing typing costs ~2 ms of every push and pull; type checkers read this
if TYPE_CHECKING:
    from typing import TextIO

from .. import params, state
from ..plaindata import dataclass, field     # not dataclasses (~8 ms of import, see plaindata)
from ..errors import ImageError, NotFound, RegistryError
from . import auth, blobsources, reference
from .layout import parse_json    # the store's JSON reader (no `re`, see fastjson)
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
        self.lock = _thread.allocate_lock()    # what threading.Lock() returns

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
    reg = client or client_for(reference.parse(text).domain)
    try:
        return _pull(text, store, out or sys.stdout, platform, reg)
    finally:
        if client is None:
            reg.close()             # the connections kept open for this pull's requests


def _pull(text: str, store, out: TextIO, platform: dict | None, reg: Registry) -> PullResult:
    from .store import Store
    store = store or Store()
    ref = reference.parse(text)
    if ref.digest is None and ":" not in text.rsplit("/", 1)[-1]:
        out.write(f"Using default tag: {ref.tag}\n")
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
    unpacking: list[str] = []        # diff_ids of the layers this pull unpacks (none existed before)
    try:
        result = _pull_blobs(reg, repo, cfg_desc, layers, store, layout, out, unpacking)
    except BaseException:
        # a refused or broken pull leaves nothing behind: the blobs and unpacked
        # layers it added are removed again (ones that were here before stay)
        _forget(store, layout, fresh_blobs, unpacking)
        raise
    result.digest = top.digest
    layout.put_blob(m.raw, m.digest)
    img = store.register(m.digest, names, media_type=m.media_type)
    result.image_id = img.id
    blobsources.remember(store, reg.name, repo, [cfg_desc["digest"]] + [x["digest"] for x in layers])
    out.write(f"Digest: {top.digest}\nStatus: Downloaded newer image for {ref.familiar()}\n{ref}\n")
    out.flush()
    return result


def _pull_blobs(reg, repo: str, cfg_desc: dict, layers: list[dict], store, layout, out,
                unpacking: list[str]) -> "PullResult":
    """Fetch the config and the missing layers (in parallel), verify, and unpack them."""
    if not layout.has_blob(cfg_desc["digest"]):
        size = cfg_desc.get("size")
        _fetch_into_store(reg, repo, cfg_desc["digest"], layout, size if isinstance(size, int) else None)
    config = layout.read_json(cfg_desc["digest"], "image config")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise RegistryError(f"{reg.name}: {repo}: the manifest lists {len(layers)} layers but the config "
                            f"{len(diff_ids)} diff_ids: refusing this image")
    progress = Progress(out)
    result = PullResult("", "")
    todo, seen = [], set()
    for desc, diff_id in zip(layers, diff_ids):
        short = desc["digest"][7:19]
        if os.path.isdir(store.layer_dir(diff_id)) or layout.has_blob(desc["digest"]):
            progress.set(short, "Already exists")
            result.skipped.append(desc["digest"])
        elif desc["digest"] not in seen:      # an image may list the same layer twice
            seen.add(desc["digest"])
            progress.set(short, "Pulling fs layer")
            todo.append((desc, diff_id))
            unpacking.append(diff_id)
    # Each worker downloads one layer and unpacks it as the bytes arrive (layers
    # are independent directories, so their order does not matter until the
    # image is mounted); PULL_PARALLEL of them at a time, like docker. Measured on
    # the 2-core lab VM (20 layers x 2.5 MB from registry:2, in-process, median of 6):
    # 1 worker 542 ms, 2: 327, 3: 319, 4: 349, 6: 391. The biggest layers start
    # first, so a large base layer does not begin last and finish alone.
    def one(item):
        _download_layer(reg, repo, item[0], item[1], store, progress)
        with lock:
            result.downloaded.append(item[0]["digest"])

    lock = _thread.allocate_lock()
    by_size = sorted(todo, key=lambda item: -item[0]["size"] if isinstance(item[0].get("size"), int) else 0)
    _parallel(one, by_size, params.PULL_PARALLEL)
    result.downloaded.sort(key=[d["digest"] for d, _ in todo].index)   # manifest order, bottom first
    return result


def _parallel(fn, items: list, workers: int) -> None:
    """Call fn(item) for every item, `workers` threads at a time; raise the first error
    once every thread has stopped (no new item starts after an error).

    A few lines on `_thread`, the C module under `threading`: concurrent.futures
    pulls in logging (~15 ms of start-up for every push and pull), and even
    `threading` costs ~4 ms (functools, collections) where nothing else needs
    them. One item or one worker: called right here, no thread at all.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            fn(item)
        return
    todo, errors, lock = iter(items), [], _thread.allocate_lock()

    def worker(finished) -> None:
        try:
            while True:
                with lock:
                    item = next(todo, _DONE) if not errors else _DONE
                if item is _DONE:
                    return
                try:
                    fn(item)
                except BaseException as e:
                    with lock:
                        errors.append(e)
                    return
        finally:
            finished.release()            # what Thread.join() waits for

    running = []
    for _ in range(min(workers, len(items))):
        finished = _thread.allocate_lock()
        finished.acquire()
        try:
            _thread.start_new_thread(worker, (finished,))
        except RuntimeError:              # "can't start new thread": the running ones do the work
            break
        running.append(finished)
    if not running:                       # not even one: this thread does it all
        finished = _thread.allocate_lock()
        finished.acquire()
        worker(finished)
    for finished in running:
        try:
            finished.acquire()
        except BaseException as e:        # Ctrl-C: start no new item, let the running ones
            with lock:                    # finish (they clean up after themselves), then stop
                errors.insert(0, e)
            finished.acquire()
    if errors:
        raise errors[0]


_DONE = object()


def _forget(store, layout, blobs: list[str], diff_ids: list[str]) -> None:
    """Remove the blobs this pull added, and the layers it unpacked: each one's
    directory, its .json record and its short link in l/ (only these: another
    pull running at the same time keeps its own)."""
    for digest in blobs:
        layout.remove_blob(digest)
    for diff_id in diff_ids:
        path = store.layer_dir(diff_id)
        state.remove_tree(path)
        state.rm_f(path + ".json")
        state.rm_f(store.short_link(diff_id))


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


def _fetch_into_store(reg, repo, digest, layout, size=None):
    """Download a blob (the config) to a temp name in blobs/sha256/ and rename it to its
    digest once verified. `size`: the manifest's promise; a longer blob is refused."""
    tmp = os.path.join(os.path.dirname(layout.blob_path(digest)),
                       f".tmp-pull-{digest[7:19]}-{os.getpid()}-{_thread.get_ident()}")
    try:
        reg.fetch_blob(repo, digest, tmp, size=size)
        os.chmod(tmp, 0o644)
        os.rename(tmp, layout.blob_path(digest))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download_layer(reg, repo, desc, diff_id, store, progress):
    """GET one layer blob and unpack it while it streams in: `curl | tee blob | tar -x`.

    The bytes are untrusted until the whole blob hashed to its digest, so they
    go only to a temp blob file and the private temp dir store.unpack extracts
    into; commit() (called by store.unpack after the last byte, before it
    renames the layer dir into place) verifies the digest and only then
    renames the blob into blobs/sha256/. A registry that lies is refused and
    both temp copies are removed: nothing becomes visible.
    """
    digest, short = desc["digest"], desc["digest"][7:19]
    final = store.layout.blob_path(digest)
    tmp = os.path.join(os.path.dirname(final), f".tmp-pull-{short}-{os.getpid()}-{_thread.get_ident()}")
    progress.set(short, "Waiting")
    size = desc.get("size") if isinstance(desc.get("size"), int) else None
    blob = reg.open_blob(repo, digest, tmp, size=size,
                         progress=lambda done, total: progress.bar(short, "Downloading", done, total))
    # a second thread pays off for big layers; a small one is in before a thread would help
    pipe = _Pipe(blob, threaded=size is None or size >= _PIPE_MIN)

    def commit():
        pipe.stop()
        progress.set(short, "Verifying Checksum")
        blob.verify()
        blob.close()
        os.chmod(tmp, 0o644)
        os.rename(tmp, final)
        progress.set(short, "Download complete")

    try:
        store.unpack(digest, diff_id, desc.get("mediaType"), stream=pipe, commit=commit)
    except BaseException as exc:
        pipe.stop()
        if isinstance(exc, ImageError) and not blob.verified:
            # The content was refused (not a tar, a broken gzip...) before we knew
            # whether these are the right bytes; a wrong digest is the better
            # explanation, so read the rest (at most the manifest's size) and check.
            try:
                blob.verify()
            except RegistryError as e:
                raise e from None
            except Exception:
                pass
        raise
    finally:
        blob.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    progress.set(short, "Pull complete")


_PIPE_MIN = 4 << 20       # layers from this size on are read ahead by a second thread


class _Pipe(io.RawIOBase):
    """Read `src` in a second thread, a few MB ahead of whoever reads the pipe.

    Like `curl URL | tar -x` in a shell: while this thread waits for the
    network, hashes the compressed bytes and writes the blob file, the reader
    decompresses and writes the layer's files. Both halves spend their time in
    C code that releases the GIL (socket reads, hashlib, zlib, write(2)), so
    on two cores they really run at the same time. (64 kB chunks: small
    enough for malloc to recycle, see tarsafe._COPY_CHUNK.)
    """

    def __init__(self, src, chunk: int = 64 << 10, depth: int = 64, threaded: bool = True):
        self._src, self._chunk = src, chunk
        self._buf = memoryview(b"")
        self._eof = False
        self._thread = self._stop = None
        if threaded:          # else: a plain pass-through, read in the caller's thread
            import queue      # here, not at the top: small layers (and push) never need them
            import threading
            self._q: queue.Queue = queue.Queue(depth)     # up to depth * chunk = 4 MB ahead
            self._full = queue.Full
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="md-pull-pipe", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                b = bytearray(self._chunk)
                n = self._src.readinto(b)
                self._put(memoryview(b)[:n] if n else None)
                if not n:
                    return
        except BaseException as e:       # handed to the reader, raised there
            self._put(e)

    def _put(self, item) -> None:
        while not self._stop.is_set():  # never block forever on a reader that went away
            try:
                self._q.put(item, timeout=0.1)
                return
            except self._full:
                continue

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._thread is None:
            return self._src.readinto(b)
        if not self._buf:
            if self._eof:
                return 0
            item = self._q.get()
            if item is None or isinstance(item, BaseException):
                self._eof = True
                if item is not None:
                    raise item
                return 0
            self._buf = item
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def stop(self) -> None:
        """Stop the reading thread and wait for it: after this, `src` is the caller's again."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


# --- push --------------------------------------------------------------------

@dataclass
class PushResult:
    digest: str
    size: int
    uploaded: list[str] = field(default_factory=list)     # blob digests sent
    existed: list[str] = field(default_factory=list)      # blob digests the registry had
    mounted: list[str] = field(default_factory=list)      # blob digests mounted from another repository


def push(text: str, store=None, out: TextIO | None = None, client: Registry | None = None,
         chunk: int = 0) -> PushResult:
    """`minidocker push REF`: upload the image's blobs and its manifest under REF's tag."""
    from .store import Store
    store = store or Store()
    ref = reference.parse(text)
    try:
        img = store.resolve(str(ref))
    except NotFound:
        raise NotFound(f"an image does not exist locally with the tag: {ref.familiar()}",
                       hint=f"tag one first: minidocker tag IMAGE {ref.familiar()}") from None
    reg = client or client_for(ref.domain)
    try:
        return _push(ref, img, store, out or sys.stdout, reg, chunk)
    finally:
        if client is None:
            reg.close()             # the connections kept open for this push's requests


def _push(ref, img, store, out: TextIO, reg: Registry, chunk: int) -> PushResult:
    repo, tag = ref.path, ref.tag or params.DEFAULT_TAG
    layout = store.layout
    raw = layout.read_blob(img.manifest_digest, "manifest")
    manifest = parse_json(raw, f"manifest of {ref.familiar()}")
    media_type = manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    out.write(f"The push refers to repository [{ref.name}]\n")
    blobs = list(manifest.get("layers") or [])
    for d in blobs + [manifest["config"]]:
        if not layout.has_blob(d["digest"]):
            raise ImageError(f"blob {d['digest']} of {ref.familiar()} is not in the store, cannot push it",
                             hint="pull or build the image again so its layer blobs are stored")
    progress = Progress(out)
    result = PushResult("", len(raw))
    lock = _thread.allocate_lock()
    known = blobsources.sources(store, reg.name)
    config = manifest["config"]

    def one(desc):
        digest, short, is_layer = desc["digest"], desc["digest"][7:19], desc is not config
        if is_layer:
            progress.set(short, "Preparing")
        repos = known.get(digest, [])
        others = [r for r in repos if r != repo]
        # HEAD first unless we know another repository to mount from and have not
        # pushed it here before (then the mount request alone answers both questions)
        if (not others or repo in repos) and \
                reg.blob_exists(repo, digest, scope=f"repository:{repo}:pull,push"):
            if is_layer:
                progress.set(short, "Layer already exists")
            with lock:
                result.existed.append(digest)
            return
        location = None
        if others:
            # Docker's trick: this registry has the blob in another repository (we
            # pushed it there or pulled it from there): ask it to mount, not upload.
            location = reg.mount_blob(repo, digest, others[0])
            if location is None:            # 201: mounted, nothing to upload
                if is_layer:
                    progress.set(short, f"Mounted from {others[0]}")
                with lock:
                    result.mounted.append(digest)
                return
        cb = (lambda done, total: progress.bar(short, "Pushing ", done, total)) if is_layer else None
        reg.upload_blob(repo, digest, layout.blob_path(digest), chunk=chunk, progress=cb,
                        location=location)   # 202: the refused mount opened an upload: use it
        if is_layer:
            progress.set(short, "Pushed")
        with lock:
            result.uploaded.append(digest)

    # layers top first (docker's listing order), the config with them; the manifest last,
    # once the registry has every blob it names
    _parallel(one, list(reversed(blobs)) + [config], params.PUSH_PARALLEL)
    digest = reg.put_manifest(repo, tag, raw, media_type)
    if digest != img.manifest_digest:
        raise RegistryError(f"{reg.name}: the registry stored the manifest as {digest}, "
                            f"but it is {img.manifest_digest}")
    result.digest = digest
    blobsources.remember(store, reg.name, repo, [d["digest"] for d in blobs + [manifest["config"]]])
    out.write(f"{tag}: digest: {digest} size: {len(raw)}\n")
    out.flush()
    return result
