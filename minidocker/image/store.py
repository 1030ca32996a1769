"""The image store: an OCI image layout plus one unpacked directory per layer.

Map of this file:
  Image                  what the runtime needs: id, config, layer_dirs (bottom->top), tags
  LayerDesc              a layer blob that is stored and unpacked
  Store(root)            L/image by default
    resolve(ref_or_id)   "busybox", "busybox:latest", "sha256:<id>", an id prefix, name@digest
    images(all)          every image, newest first (dangling ones too; intermediates with all=True)
    add_layer(src)       blob in (verified) -> unpacked once into layers/<diff_id>/
    add_image(cfg, ...)  config + manifest blobs, then tags in index.json
    register(manifest)   an already-stored manifest (from load or pull) -> image
    tag(source, target)
    remove / prune / leftovers       rmi, image prune, debris: in image/removal.py

On disk (L = params.lib_root()):
  L/image/oci-layout, index.json, blobs/sha256/...   the OCI layout (layout.py)
  L/image/layers/<diff_id hex>/                     a layer's files, shared read-only
  L/image/layers/<diff_id hex>.json                 its size and blob digest
  L/image/l/<12 hex>  -> ../layers/<hex>            short names for deep overlay mounts

Tags live in index.json: one manifest entry per tag, named by two annotations,
org.opencontainers.image.ref.name = "busybox:latest" (what `skopeo inspect
oci:L/image:busybox:latest` and `umoci unpack --image L/image:busybox:latest`
look for) and io.containerd.image.name = "docker.io/library/busybox:latest"
(the full name, as containerd and `docker save` write it); an entry without
a name is an untagged image (docker's "<none>").

Removal (removal.py) is reference counting done by looking: a blob or layer
directory goes only when no remaining manifest in index.json mentions it, and
an image a container was created from is never deleted.
"""
from __future__ import annotations

import io
import os
from ..plaindata import dataclass, field
TYPE_CHECKING = False   # importing typing costs ~4 ms at start-up; type checkers read this
if TYPE_CHECKING:
    from typing import Any, BinaryIO

from .. import params, state
from ..errors import ImageError, NotFound
from ..trace import step
from . import layout as L
from . import reference

__all__ = ["Store", "Image", "LayerDesc", "default_root"]

LOCK = "image-store"
SHORT_LINK_LEN = params.LAYER_LINK_LEN   # hex chars of a layer's short name under l/ (kernel/overlay.py)
PARENT_ANNOTATION = "org.minidocker.image.parent"


def default_root() -> str:
    return os.path.join(params.lib_root(), "image")


now_iso = state.now_iso


@dataclass
class LayerDesc:
    """A stored, unpacked layer: the blob's descriptor and the diff_id of its tar."""
    digest: str          # sha256 of the blob as stored (maybe gzip)
    size: int            # blob bytes
    diff_id: str         # sha256 of the uncompressed tar (what config.rootfs lists)
    media_type: str = L.OCI_LAYER
    unpacked_size: int = 0

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass
class Image:
    """An image as the runtime sees it (see docs/architecture.md)."""
    id: str                              # "sha256:<config digest hex>"
    config: dict[str, Any]               # the OCI image config JSON
    layer_dirs: list[str]                # unpacked layers, bottom -> top
    repo_tags: list[str] = field(default_factory=list)   # ["busybox:latest"]
    size: int = 0                        # bytes of all layers' files (docker's SIZE)
    created: str = ""
    manifest_digest: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    parent: str = ""

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:params.SHORT_ID]

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.config.get("history") or [])

    @property
    def repo_digests(self) -> list[str]:
        return []


class Store:
    """The image store; see the module docstring. Cheap to construct."""

    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or default_root())
        self.layout = L.Layout(self.root)
        self.layers_dir = os.path.join(self.root, "layers")
        self.links_dir = os.path.join(self.root, "l")

    # --- finding images -------------------------------------------------------
    def resolve(self, ref_or_id: str) -> Image:
        """Find one image by reference, full id, or unique id prefix (docker's order)."""
        text = ref_or_id.strip()
        entries = self._entries()
        if reference.is_image_id(text):
            want = text if text.startswith("sha256:") else "sha256:" + text
            for e in entries:
                if e["image_id"] == want:
                    return self._image(e["image_id"], entries)
            raise self._not_found(text)
        ref = None
        try:
            ref = reference.parse(text)
        except ImageError:
            pass
        if ref is not None:
            for e in entries:
                if e["name"] and self._matches(ref, e):
                    return self._image(e["image_id"], entries)
                if ref.digest and e["manifest"] == ref.digest and ref.tag is None \
                        and (not e["name"] or reference.parse(e["name"]).name == ref.name):
                    return self._image(e["image_id"], entries)
        hexpart = text[len("sha256:"):] if text.startswith("sha256:") else text
        if hexpart and all(c in "0123456789abcdef" for c in hexpart):
            ids = {e["image_id"] for e in entries if e["image_id"][7:].startswith(hexpart)}
            if len(ids) == 1:
                return self._image(ids.pop(), entries)
            if len(ids) > 1:
                raise ImageError(f"image id prefix {text!r} is ambiguous: it matches {len(ids)} images",
                                 hint="type more characters of the id")
        if ref is None:
            reference.parse(text)  # re-raise the parse error: the user typed a bad name
        raise self._not_found(text)

    def exists(self, ref_or_id: str) -> bool:
        try:
            self.resolve(ref_or_id)
            return True
        except (NotFound, ImageError):
            return False

    def images(self, all: bool = False) -> list[Image]:
        """All images, newest first. Without all=True, untagged images that are the
        parent of another image (build intermediates) are hidden, like `docker images`."""
        entries = self._entries()
        ids = list(dict.fromkeys(e["image_id"] for e in entries))
        imgs = [self._image(i, entries) for i in ids]
        if not all:
            parents = {i.parent for i in imgs if i.parent}
            imgs = [i for i in imgs if i.repo_tags or i.id not in parents]
        return sorted(imgs, key=lambda i: i.created, reverse=True)

    def _matches(self, ref: reference.Reference, e: dict) -> bool:
        name = reference.parse(e["name"])
        if name.name != ref.name:
            return False
        if ref.digest:
            return e["manifest"] == ref.digest and (ref.tag is None or ref.tag == name.tag)
        return name.tag == ref.tag

    def _not_found(self, text: str) -> NotFound:
        return NotFound(f"no such image: {text}",
                        hint="list images with 'minidocker images'; get one with 'minidocker pull' or 'load'")

    def _entries(self) -> list[dict[str, Any]]:
        """index.json flattened: one dict per manifest entry (manifest, image_id, name)."""
        out = []
        for d in self.layout.index().get("manifests", []):
            ann = d.get("annotations") or {}
            out.append({"manifest": d["digest"], "name": _name(d),
                        "image_id": ann.get("org.minidocker.image.id") or self._config_digest(d["digest"]),
                        "parent": ann.get(PARENT_ANNOTATION, ""), "desc": d})
        return out

    def _config_digest(self, manifest_digest: str) -> str:
        return self.layout.read_json(manifest_digest, f"manifest {manifest_digest}")["config"]["digest"]

    def _image(self, image_id: str, entries: list[dict]) -> Image:
        mine = [e for e in entries if e["image_id"] == image_id]
        manifest_digest = mine[0]["manifest"]
        manifest = self.layout.read_json(manifest_digest, f"manifest {manifest_digest}")
        config = self.layout.read_json(image_id, f"config of image {image_id}")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        dirs, size = [], 0
        for desc, diff_id in zip(manifest.get("layers", []), diff_ids):
            d = self.layer_dir(diff_id)
            if not os.path.isdir(d) and self.layout.has_blob(desc["digest"]):
                # written by another OCI tool (skopeo copy, umoci repack): unpack on first use
                self.unpack(desc["digest"], diff_id, desc.get("mediaType"))
            if not os.path.isdir(d):
                raise ImageError(f"layer {diff_id} of image {image_id[7:19]} is not unpacked in {self.layers_dir}",
                                 hint="the store is damaged: remove the image and load or pull it again")
            dirs.append(d)
            size += self._layer_meta(diff_id).get("size", 0)
        tags = [reference.parse(e["name"]).familiar() for e in mine if e["name"]]
        return Image(id=image_id, config=config, layer_dirs=dirs, repo_tags=sorted(set(tags)),
                     size=size, created=config.get("created", ""), manifest_digest=manifest_digest,
                     manifest=manifest, parent=next((e["parent"] for e in mine if e["parent"]), ""))

    def layers_of(self, img: Image) -> list[LayerDesc]:
        """The image's layers as LayerDesc (blob descriptor + diff_id), bottom -> top."""
        return [LayerDesc(d["digest"], d.get("size", 0), diff_id, d.get("mediaType", L.OCI_LAYER),
                          self._layer_meta(diff_id).get("size", 0))
                for d, diff_id in zip(img.manifest.get("layers", []), img.diff_ids)]

    def layer_size(self, diff_id: str) -> int:
        """Bytes of file data in one unpacked layer."""
        return self._layer_meta(diff_id).get("size", 0)

    def inspect(self, ref_or_id: str) -> dict[str, Any]:
        """`docker image inspect`'s document for one image."""
        img = self.resolve(ref_or_id)
        c = img.config
        dirs = img.layer_dirs
        return {
            "Id": img.id, "RepoTags": img.repo_tags, "RepoDigests": img.repo_digests,
            "Parent": img.parent, "Comment": (img.history[-1].get("comment", "") if img.history else ""),
            "Created": img.created, "Container": c.get("container", ""),
            "DockerVersion": c.get("docker_version", ""), "Author": c.get("author", ""),
            "Config": c.get("config") or {}, "Architecture": c.get("architecture", ""),
            "Os": c.get("os", ""), "Size": img.size,
            "GraphDriver": {"Name": "overlay2", "Data": {
                "LowerDir": ":".join(reversed(dirs[:-1])) if len(dirs) > 1 else "",
                "UpperDir": dirs[-1] if dirs else ""}},
            "RootFS": {"Type": "layers", "Layers": img.diff_ids},
            "Metadata": {"ManifestDigest": img.manifest_digest},
        }

    # --- layers ---------------------------------------------------------------
    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.layers_dir, L._hex(diff_id))

    def _layer_meta(self, diff_id: str) -> dict[str, Any]:
        try:
            return state.read_json(self.layer_dir(diff_id) + ".json", versioned=False)
        except (FileNotFoundError, Exception):
            return {}

    def add_layer(self, src: BinaryIO | bytes, expected_digest: str | None = None,
                  media_type: str | None = None) -> LayerDesc:
        """Store a layer blob (tar or tar+gzip), verify it, unpack it once. Returns its LayerDesc."""
        self.layout.init()
        digest, size = self.layout.put_blob(src, expected_digest)
        return self.unpack(digest, media_type=media_type)

    def unpack(self, blob_digest: str, diff_id: str | None = None,
               media_type: str | None = None, stream: BinaryIO | None = None,
               commit=None) -> LayerDesc:
        """Unpack a stored layer blob into layers/<diff_id>/ unless it already is.

        The blob is read through a digest verifier, decompressed, hashed again
        (that hash is the diff_id) and extracted by tarsafe.extract_layer into a
        temp dir that is renamed into place only when every check passed.

        `stream` and `commit` are for pull, which unpacks while it downloads:
        the blob is read from `stream` (it needs drain()) instead of blobs/, and
        commit() is called once the stream is read to its end, before anything
        becomes visible: it must verify the blob's digest and store the blob
        (or raise, and nothing stays).
        """
        blob_size = self.layout.blob_size(blob_digest) if self.layout.has_blob(blob_digest) else 0
        if diff_id and stream is None and os.path.isdir(self.layer_dir(diff_id)):
            meta = self._layer_meta(diff_id)
            return LayerDesc(blob_digest, blob_size, diff_id, media_type or meta.get("mediaType", L.OCI_LAYER),
                             meta.get("size", 0))
        os.makedirs(self.layers_dir, exist_ok=True)
        tmp = state.mkdtemp(self.layers_dir)
        os.chmod(tmp, 0o755)
        try:
            blob = stream if stream is not None else self.layout.open_blob(blob_digest, f"layer blob {blob_digest}")
            buffered = io.BufferedReader(blob, 1 << 20)
            gz = buffered.peek(2)[:2] == b"\x1f\x8b"
            from . import tarsafe     # only when a layer is added: `run` never needs it
            # with a diff_id to match, the SHA-256 below checks every decompressed byte,
            # so gzip's own CRC-32 need not (tarsafe._Gunzip says why that is safe)
            hashed = _Hasher(tarsafe.decompressed(buffered, check_crc=not diff_id))
            step("extract", f"unpack layer {blob_digest} -> {tmp}",
                 f"{'zcat' if gz else 'cat'} blobs/sha256/{blob_digest[7:]} | tar -xp --xattrs -C {tmp}")
            res = tarsafe.extract_layer(hashed, tmp, whiteouts="overlay")
            hashed.drain()
            blob.drain()
            if commit is not None:
                commit()
            got = "sha256:" + hashed.h.hexdigest()
            if diff_id and got != diff_id:
                raise ImageError(f"layer {blob_digest} unpacks to diff_id {got}, but the image config says {diff_id}",
                                 hint="the image is inconsistent; pull or build it again")
            diff_id = got
            final = self.layer_dir(diff_id)
            mt = media_type or (L.OCI_LAYER_GZIP if gz else L.OCI_LAYER)
            state.write_json(final + ".json", {"diff_id": diff_id, "blob": blob_digest, "mediaType": mt,
                                               "size": res.size, "skipped": res.skipped[:50]}, versioned=False)
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):
                    raise
                state.remove_tree(tmp)  # someone unpacked the same layer at the same time
            self._ensure_link(diff_id)
            return LayerDesc(blob_digest, blob_size or self.layout.blob_size(blob_digest), diff_id, mt, res.size)
        except BaseException:
            state.remove_tree(tmp)
            raise

    def short_link(self, diff_id: str) -> str:
        """l/<12 hex>: the short name of a layer dir, for overlay mounts of many layers."""
        return os.path.join(self.links_dir, L._hex(diff_id)[:SHORT_LINK_LEN])

    def _ensure_link(self, diff_id: str) -> None:
        os.makedirs(self.links_dir, exist_ok=True)
        link = self.short_link(diff_id)
        target = os.path.join("..", "layers", L._hex(diff_id))
        try:
            os.symlink(target, link)
        except FileExistsError:
            pass

    # --- writing images --------------------------------------------------------
    def add_image(self, config: dict[str, Any] | bytes, layers: list[LayerDesc], tags: list[str] = (),
                  parent: str = "") -> Image:
        """Write the config and an OCI manifest for `layers`, then tag it. Returns the Image.

        `config` is a dict, or the exact bytes of a config that came from
        elsewhere (load, pull): its sha256 is the image ID, so it must not be
        re-serialized.
        """
        raw = config if isinstance(config, (bytes, bytearray)) else None
        cfg = L.parse_json(raw, "image config") if raw is not None else config
        diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
        if diff_ids != [l.diff_id for l in layers]:
            raise ImageError("image config rootfs.diff_ids do not match the layers given",
                             hint="build the config with rootfs.diff_ids = [layer.diff_id for layer in layers]")
        for t in tags:
            reference.parse(t)
        self.layout.init()
        if raw is not None:
            cfg_digest, cfg_size = self.layout.put_blob(bytes(raw))
        else:
            cfg_digest, cfg_size, _ = self.layout.put_json(cfg)
        manifest = {"schemaVersion": 2, "mediaType": L.OCI_MANIFEST,
                    "config": {"mediaType": L.OCI_CONFIG, "digest": cfg_digest, "size": cfg_size},
                    "layers": [l.descriptor() for l in layers]}
        m_digest, m_size, _ = self.layout.put_json(manifest)
        return self.register(m_digest, tags, parent=parent, media_type=L.OCI_MANIFEST)

    def register(self, manifest_digest: str, tags: list[str] = (), parent: str = "",
                 media_type: str | None = None) -> Image:
        """Add a stored manifest to index.json (unpacking any layer not yet unpacked).

        For images whose blobs arrived by load or pull. Tags move to this image
        (the image that had them may become dangling, as in docker).
        """
        manifest = self.layout.read_json(manifest_digest, f"manifest {manifest_digest}")
        config = self.layout.read_json(manifest["config"]["digest"], "image config")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(manifest.get("layers", [])):
            raise ImageError(f"manifest {manifest_digest} has {len(manifest.get('layers', []))} layers "
                             f"but its config lists {len(diff_ids)} diff_ids")
        for desc, diff_id in zip(manifest["layers"], diff_ids):
            self.unpack(desc["digest"], diff_id, desc.get("mediaType"))
        image_id = manifest["config"]["digest"]
        names = [str(reference.parse(t)) for t in tags]
        desc = {"mediaType": media_type or manifest.get("mediaType") or L.OCI_MANIFEST,
                "digest": manifest_digest, "size": self.layout.blob_size(manifest_digest),
                "platform": {"architecture": config.get("architecture", "amd64"), "os": config.get("os", "linux")}}
        with state.lock(LOCK):
            idx = self.layout.index()
            mans = idx["manifests"]
            # A tag names one image: take it from whoever had it. That image
            # stays, untagged, if it has no other entry (docker's "<none>").
            taken = [d for d in mans if _name(d) in names]
            mans[:] = [d for d in mans if d not in taken]
            for d in taken:
                if d["digest"] != manifest_digest and not any(x["digest"] == d["digest"] for x in mans):
                    mans.append(_unnamed(d))
            ann = {"org.minidocker.image.id": image_id}
            if parent:
                ann[PARENT_ANNOTATION] = parent
            mine = [d for d in mans if d["digest"] == manifest_digest]
            if names:
                mans[:] = [d for d in mans if not (d["digest"] == manifest_digest and not _name(d))]
                for n in names:
                    short = reference.parse(n).familiar()
                    mans.append({**desc, "annotations": {**ann, L.REF_NAME: short, L.CONTAINERD_NAME: n}})
            elif not mine:
                mans.append({**desc, "annotations": ann})
            self.layout.write_index(idx)
        return self.resolve(image_id)

    # --- tags and removal ------------------------------------------------------
    def tag(self, source: str, target: str) -> Image:
        """docker tag SOURCE TARGET: add a name to an existing image."""
        img = self.resolve(source)
        return self.register(img.manifest_digest, [target])

    def _entry_id(self, d: dict) -> str:
        return (d.get("annotations") or {}).get("org.minidocker.image.id") or self._config_digest(d["digest"])

    # --- removal: rmi, image prune, debris (image/removal.py) -------------------
    def remove(self, ref_or_id: str, force: bool = False) -> list[str]:
        """docker rmi; returns docker's "Untagged:"/"Deleted:" lines (see removal.remove)."""
        from . import removal
        return removal.remove(self, ref_or_id, force)

    def prune(self, all: bool = False) -> tuple[list[str], int]:
        """docker image prune [-a]; returns (lines, bytes reclaimed)."""
        from . import removal
        return removal.prune(self, all)

    def leftovers(self, min_age: float = params.IMAGE_LEFTOVER_AGE) -> list[str]:
        """Temp dirs/files of interrupted commands, older than min_age seconds."""
        from . import removal
        return removal.leftovers(self, min_age)

    def clean_leftovers(self, min_age: float = params.IMAGE_LEFTOVER_AGE) -> list[str]:
        """Remove leftovers() (for `system prune`); returns what was removed."""
        from . import removal
        return removal.clean_leftovers(self, min_age)


def _name(d: dict) -> str:
    """The full reference an index.json entry is tagged with ("docker.io/library/busybox:latest"), or ""."""
    ann = d.get("annotations") or {}
    n = ann.get(L.CONTAINERD_NAME) or ann.get(L.REF_NAME) or ""
    try:
        return str(reference.parse(n)) if n else ""
    except ImageError:
        return ""         # a name some other tool wrote that is not a reference


def _unnamed(d: dict) -> dict:
    """A copy of an index.json entry without its name: an untagged image."""
    ann = {k: v for k, v in (d.get("annotations") or {}).items() if k not in (L.REF_NAME, L.CONTAINERD_NAME)}
    return {**d, "annotations": ann}


def _same_tag(full: str, text: str) -> bool:
    """Does the user's `text` name the tag `full` (docker.io/library/x:latest)?"""
    try:
        ref = reference.parse(text)
    except ImageError:
        return False
    return ref.digest is None and str(ref) == full


class _Hasher(io.RawIOBase):
    """Pass-through reader that sha256-hashes the (decompressed) tar: its diff_id."""

    def __init__(self, f: BinaryIO):
        import hashlib
        self.f, self.h = f, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self.f.readinto(b)         # straight into the caller's buffer: no copy of our own
        self.h.update(memoryview(b)[:n])
        return n

    def drain(self) -> None:
        while self.read(1 << 20):
            pass
