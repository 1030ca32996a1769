"""Images and containers as tarballs: save/load (docker's format), export/import.

Map of this file:
  save(refs, out)            `docker save`: manifest.json + repositories + an OCI
                             layout (oci-layout, index.json, blobs/sha256/...) in one tar
  load(src)                  `docker load`: reads that format, the older one
                             (<id>.json + <dir>/layer.tar) and plain OCI archives
  export_container(c, out)   `docker export`: the container's merged filesystem as a tar
  import_tarball(src, ref)   `docker import`: a filesystem tar becomes a one-layer image

What `docker save` (25+) writes, and so do we:
  blobs/sha256/<hex>   configs, uncompressed layer tars, OCI manifests
  index.json           one entry per tag, annotated io.containerd.image.name=<full ref>
                       and org.opencontainers.image.ref.name=<tag>
  manifest.json        [{"Config": "blobs/sha256/..", "RepoTags": [..], "Layers": [..]}]
                       (what `docker load` of every version reads)
  repositories         {"busybox": {"latest": "<top layer>"}} (the legacy v1 map)
  oci-layout
Layers go out uncompressed (as docker does): their digest is then their diff_id.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from typing import BinaryIO

from .. import state
from ..errors import ImageError
from ..trace import step
from . import layout as L
from . import reference
from .store import Image, LayerDesc, Store

__all__ = ["save", "load", "export_container", "import_tarball"]




# --- save ------------------------------------------------------------------------

def save(refs: list[str], out: BinaryIO, store: Store | None = None) -> None:
    """Write the images named by `refs` to `out` in `docker save` format."""
    store = store or Store()
    wanted: list[tuple[Image, list[str]]] = []       # (image, the tags asked for)
    for r in refs:
        img = store.resolve(r)
        # docker: saved by name -> that tag travels; saved by id -> no tags
        tags = [reference.parse(r).familiar()] if _is_name(r, img) else []
        for i, (w, t) in enumerate(wanted):
            if w.id == img.id:
                wanted[i] = (w, t + [x for x in tags if x not in t])
                break
        else:
            wanted.append((img, tags))
    step("tar", f"save {len(wanted)} image(s)", "tar -cf - manifest.json repositories index.json blobs/")
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".save-") as tmp, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()
        manifest_json, repositories, index = [], {}, []
        tar.addfile(_dir_info("blobs/"))
        tar.addfile(_dir_info("blobs/sha256/"))
        for img, tags in wanted:
            cfg_bytes = store.layout.read_blob(img.id, "image config")
            _add_bytes(tar, f"blobs/sha256/{img.id[7:]}", cfg_bytes, written)
            layer_paths, descs = [], []
            for layer in store.layers_of(img):
                path, size = _add_layer(tar, store, layer, tmp, written)
                layer_paths.append(path)
                descs.append({"mediaType": L.OCI_LAYER, "digest": layer.diff_id, "size": size})
            manifest = {"schemaVersion": 2, "mediaType": L.OCI_MANIFEST,
                        "config": {"mediaType": L.OCI_CONFIG, "digest": img.id, "size": len(cfg_bytes)},
                        "layers": descs}
            mbytes = json.dumps(manifest, separators=(",", ":")).encode()
            mdigest = L.sha256_digest(mbytes)
            _add_bytes(tar, f"blobs/sha256/{mdigest[7:]}", mbytes, written)
            desc = {"mediaType": L.OCI_MANIFEST, "digest": mdigest, "size": len(mbytes)}
            for t in tags:
                ref = reference.parse(t)
                index.append({**desc, "annotations": {L.CONTAINERD_NAME: str(ref), L.REF_NAME: ref.tag}})
                repositories.setdefault(ref.familiar_name(), {})[ref.tag] = img.diff_ids[-1][7:] \
                    if img.diff_ids else ""
            if not tags:
                index.append(desc)
            manifest_json.append({"Config": f"blobs/sha256/{img.id[7:]}", "RepoTags": tags or None,
                                  "Layers": layer_paths})
        _add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "mediaType": L.OCI_INDEX,
                                                  "manifests": index}).encode(), written)
        _add_bytes(tar, "manifest.json", json.dumps(manifest_json).encode(), written)
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', written)
        if repositories:
            _add_bytes(tar, "repositories", json.dumps(repositories).encode(), written)


def _is_name(text: str, img: Image) -> bool:
    try:
        return str(reference.parse(text)) in {str(reference.parse(t)) for t in img.repo_tags}
    except ImageError:
        return False


def _dir_info(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    return ti


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, written: set[str]) -> None:
    if name in written:
        return
    written.add(name)
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = len(data), 0o644
    tar.addfile(ti, io.BytesIO(data))


def _add_layer(tar, store: Store, layer: LayerDesc, tmp: str, written: set[str]) -> tuple[str, int]:
    """Put the layer in the tar uncompressed, named by its diff_id; returns (path, size)."""
    name = f"blobs/sha256/{layer.diff_id[7:]}"
    blob = store.layout.open_blob(layer.digest, f"layer {layer.digest}")
    buffered = io.BufferedReader(blob, 1 << 20)
    if buffered.peek(2)[:2] != b"\x1f\x8b":
        size = store.layout.blob_size(layer.digest)
        if name not in written:
            written.add(name)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = size, 0o644
            tar.addfile(ti, buffered)
        blob.drain()
        return name, size
    # gzip blob: decompress once to a temp file (a tar member needs its size first)
    from .tarsafe import decompressed
    path = os.path.join(tmp, layer.diff_id[7:])
    with open(path, "wb") as f:
        shutil.copyfileobj(decompressed(buffered), f, 1 << 20)
    blob.drain()
    size = os.path.getsize(path)
    if name not in written:
        written.add(name)
        with open(path, "rb") as f:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = size, 0o644
            tar.addfile(ti, f)
    os.unlink(path)
    return name, size


# --- load ------------------------------------------------------------------------

def load(src: BinaryIO | str, store: Store | None = None) -> list[str]:
    """Load images from a `docker save` tar (or an OCI archive). Returns docker's lines:
    "Loaded image: busybox:latest" or "Loaded image ID: sha256:..."."""
    store = store or Store()
    store.layout.init()
    with contextlib.ExitStack() as stack:
        if isinstance(src, str):
            f = stack.enter_context(open(src, "rb"))
        elif src.seekable() if hasattr(src, "seekable") else False:
            f = src
        else:   # stdin: tarfile needs to seek, so spool it to disk first
            f = stack.enter_context(tempfile.TemporaryFile(dir=store.root))
            shutil.copyfileobj(src, f, 1 << 20)
            f.seek(0)
        try:
            tar = stack.enter_context(tarfile.open(fileobj=f, mode="r:*"))
            names = set(tar.getnames())
        except tarfile.TarError as e:
            raise ImageError(f"not an image archive: {e}",
                             hint="give a file made by 'docker save' or 'minidocker save'") from None
        names = {n.removeprefix("./") for n in names}
        from .removal import all_or_nothing
        if "manifest.json" in names:
            with all_or_nothing(store):      # a broken archive leaves nothing behind
                return _load_docker(tar, store)
        if "index.json" in names:
            with all_or_nothing(store):
                return _load_oci(tar, store)
        raise ImageError("archive has neither manifest.json nor index.json",
                         hint="is it a container filesystem? use 'minidocker import' for that")


def _member(tar: tarfile.TarFile, name: str) -> BinaryIO:
    for n in (name, "./" + name):
        try:
            f = tar.extractfile(n)
        except KeyError:
            continue
        if f is not None:
            return f
    raise ImageError(f"archive entry {name!r} is missing", hint="the archive is incomplete")


def _expected(path: str) -> str | None:
    """blobs/sha256/<hex> or <hex>.json names promise a digest: hold them to it."""
    base = os.path.basename(path).removesuffix(".json")
    return "sha256:" + base if len(base) == 64 and all(c in "0123456789abcdef" for c in base) else None


def _load_docker(tar: tarfile.TarFile, store: Store) -> list[str]:
    try:
        entries = json.loads(_member(tar, "manifest.json").read())
    except ValueError as e:
        raise ImageError(f"manifest.json is not valid JSON: {e}", hint="the archive is corrupt") from None
    if not isinstance(entries, list):
        raise ImageError("manifest.json is not a list of images", hint="the archive is corrupt")
    lines = []
    for e in entries:
        cfg_bytes = _member(tar, e["Config"]).read()
        exp = _expected(e["Config"])
        if exp and L.sha256_digest(cfg_bytes) != exp:
            raise ImageError(f"config {e['Config']} does not match its digest",
                             hint="the archive is corrupt")
        cfg = L.parse_json(cfg_bytes, e["Config"])
        diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(e.get("Layers") or []):
            raise ImageError(f"{e['Config']}: {len(e['Layers'])} layers but {len(diff_ids)} diff_ids")
        layers = []
        for path, diff_id in zip(e["Layers"], diff_ids):
            layers.append(_load_layer(store, _member(tar, path), diff_id, _expected(path)))
        tags = e.get("RepoTags") or []
        img = store.add_image(cfg_bytes, layers, tags=tags)
        lines += [f"Loaded image: {reference.parse(t).familiar()}" for t in tags] or [f"Loaded image ID: {img.id}"]
    return lines


def _load_layer(store: Store, f: BinaryIO, diff_id: str, digest: str | None) -> LayerDesc:
    """One layer: skipped when already unpacked, else stored (checked against the
    digest its file name promises) and unpacked (checked against the config's diff_id)."""
    if os.path.isdir(store.layer_dir(diff_id)):
        layers = [x for i in store.images(all=True) for x in store.layers_of(i) if x.diff_id == diff_id]
        if layers:
            return layers[0]
    desc = store.add_layer(f, expected_digest=digest)
    if desc.diff_id != diff_id:
        raise ImageError(f"layer unpacks to {desc.diff_id} but the config says {diff_id}",
                         hint="the archive is corrupt")
    return desc


def _load_oci(tar: tarfile.TarFile, store: Store) -> list[str]:
    index = L.parse_json(_member(tar, "index.json").read(), "index.json")
    lines = []
    for d in _platform_manifests(tar, index):
        mbytes = _member(tar, f"blobs/sha256/{d['digest'][7:]}").read()
        if L.sha256_digest(mbytes) != d["digest"]:
            raise ImageError(f"manifest {d['digest']} is corrupt", hint="the archive is corrupt")
        m = L.parse_json(mbytes, "manifest")
        cfg_bytes = _member(tar, f"blobs/sha256/{m['config']['digest'][7:]}").read()
        if L.sha256_digest(cfg_bytes) != m["config"]["digest"]:
            raise ImageError("image config is corrupt", hint="the archive is corrupt")
        cfg = L.parse_json(cfg_bytes, "image config")
        diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
        layers = []
        for ld, diff_id in zip(m.get("layers", []), diff_ids):
            if os.path.isdir(store.layer_dir(diff_id)) and store.layout.has_blob(ld["digest"]):
                layers.append(store.unpack(ld["digest"], diff_id, ld.get("mediaType")))
                continue
            store.layout.put_blob(_member(tar, f"blobs/sha256/{ld['digest'][7:]}"), ld["digest"])
            layers.append(store.unpack(ld["digest"], diff_id, ld.get("mediaType")))
        ann = d.get("annotations") or {}
        tag = ann.get(L.CONTAINERD_NAME) or ann.get(L.REF_NAME) or ""
        tags = [tag] if tag and _valid_ref(tag) else []
        img = store.add_image(cfg_bytes, layers, tags=tags)
        lines += [f"Loaded image: {reference.parse(t).familiar()}" for t in tags] or \
            [f"Loaded image ID: {img.id}"]
    return lines


def _valid_ref(text: str) -> bool:
    """A full name like busybox:1 or docker.io/x/y:z; a bare tag ("latest") is not one."""
    if ":" not in text and "/" not in text:
        return False
    try:
        reference.parse(text)
        return True
    except ImageError:
        return False


def _platform_manifests(tar, index: dict) -> list[dict]:
    """Manifests of an index, following nested indexes; picks this machine's platform."""
    from .base import _ARCH
    arch = _ARCH.get(os.uname().machine, os.uname().machine)
    out = []
    for d in index.get("manifests", []):
        if d.get("mediaType") in (L.OCI_INDEX, L.DOCKER_MANIFEST_LIST):
            sub = L.parse_json(_member(tar, f"blobs/sha256/{d['digest'][7:]}").read(), "index")
            subs = [x for x in _platform_manifests(tar, sub)
                    if (x.get("platform") or {}).get("architecture", arch) == arch]
            for x in subs[:1]:
                out.append({**x, "annotations": {**(x.get("annotations") or {}), **(d.get("annotations") or {})}})
        else:
            p = d.get("platform") or {}
            if p.get("architecture", arch) == arch:
                out.append(d)
    return out


# --- export / import ---------------------------------------------------------------

def export_container(c, out: BinaryIO, store: Store | None = None) -> None:
    """docker export: tar of the container's filesystem (its layers + its upper dir).

    Done in a child in a private mount namespace (unshare --mount): a read-only
    overlay with the upper dir as the topmost lower layer, so whiteouts hide
    what the container deleted. The mount vanishes with the child, even on kill -9.
    Shell: `unshare -m sh -c 'mount -t overlay overlay -o lowerdir=UPPER:TOP:..:BOTTOM /mnt && tar -C /mnt -cf - .'`
    """
    from ..kernel import libc, mounts, overlay
    from .diff import write_layer_tar
    store = store or Store()
    img = store.resolve(c.config.image_id or c.config.image)
    lowers = img.layer_dirs + ([c.upper_dir] if os.path.isdir(c.upper_dir) else [])
    out.flush()
    fd = out.fileno()
    target = tempfile.mkdtemp(prefix=".export-", dir=store.root)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        err = b""
        try:
            os.close(r)
            libc.unshare(libc.CLONE_NEWNS)
            mounts.make_private("/")
            overlay.mount_overlay(lowers, None, None, target, flags=libc.MS_RDONLY)
            with os.fdopen(os.dup(fd), "wb") as f:
                write_layer_tar(target, f)
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            err = f"{type(e).__name__}: {e}".encode()
        os.write(w, err)
        os._exit(1 if err else 0)
    os.close(w)
    msg = b""
    while chunk := os.read(r, 4096):
        msg += chunk
    os.close(r)
    os.waitpid(pid, 0)
    os.rmdir(target)
    if msg:
        raise ImageError(f"export of {c.name} failed: {msg.decode(errors='replace')}")


def import_tarball(src: BinaryIO, ref: str | None = None, changes: list[str] = (),
                   message: str = "", source: str = "-", store: Store | None = None) -> Image:
    """docker import: a filesystem tarball (plain or gzip) -> a one-layer image."""
    from .diff import apply_changes
    from .removal import all_or_nothing
    store = store or Store()
    if ref:
        reference.parse(ref)
    apply_changes({}, list(changes))    # a bad --change fails before any work
    with all_or_nothing(store):
        return _import(store, src, ref, changes, message, source)


def _import(store: Store, src: BinaryIO, ref, changes, message: str, source: str) -> Image:
    from .base import _ARCH
    from .diff import apply_changes
    layer = store.add_layer(src)
    now = state.now_iso()
    cfg = {"created": now, "architecture": _ARCH.get(os.uname().machine, os.uname().machine),
           "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
           "history": [{"created": now, "created_by": f"minidocker import {source}",
                        "comment": message or f"Imported from {source}"}]}
    apply_changes(cfg, list(changes))
    return store.add_image(cfg, [layer], tags=[ref] if ref else [])
