"""What the builder and the registry client need from the image store, in one place.

Map of this file:
  default_store / parse_ref / resolve / image_exists / layer_dirs   thin lookups
  resolve_or_pull(store, ref)   a base image: local, the offline busybox, or pulled
  layer_descs(image)            an image's layers as store.LayerDesc (blob digest + diff_id)
  tar_layer(dir, fileobj)       a directory -> a gzip layer tar (diff.write_layer_tar does
                                the whiteout -> .wh. conversion)
  commit(store, config, dir)    config (+ one new layer from dir) -> a new image id
  tag(store, image_id, ref)

The store (store.py) owns the on-disk format; these helpers only use its
public methods. They are here because the builder and pull/push are their
only users so far (candidates to move into store.py).
"""
from __future__ import annotations

import os
import tempfile

from .. import params, state
from ..errors import BuildError, MinidockerError, NotFound

__all__ = ["default_store", "parse_ref", "resolve", "image_exists", "layer_dirs", "resolve_or_pull",
           "layer_descs", "tar_layer", "commit", "tag"]


def default_store():
    from .store import Store
    return Store()


def parse_ref(text: str):
    from .reference import parse
    return parse(text)


def resolve(store, ref_or_id: str):
    return store.resolve(ref_or_id)


def image_exists(store, image_id: str) -> bool:
    try:
        store.resolve(image_id)
        return True
    except MinidockerError:
        return False


def layer_dirs(store, image_id: str | None) -> list[str]:
    return store.resolve(image_id).layer_dirs if image_id else []


def resolve_or_pull(store, ref, out, ins=None):
    """FROM's base image: from the store; the offline busybox is made on first use;
    anything else is pulled (like docker build's implicit pull)."""
    try:
        return store.resolve(str(ref))
    except NotFound:
        pass
    from . import base
    if ref.familiar() in (base.BASE_REF, base.BASE_NAME):
        base.ensure_base_image(store)
        return store.resolve(str(ref))
    from .transfer import pull
    try:
        pull(str(ref), store=store, out=out)
    except MinidockerError as e:
        where = f"{ins.where()}: " if ins is not None else ""
        raise BuildError(f"{where}base image {ref.familiar()} is not here and pulling it failed: {e}",
                         hint=e.hint or f"minidocker pull {ref.familiar()}") from None
    return store.resolve(str(ref))


def layer_descs(image) -> list:
    """[LayerDesc] for an image's layers, from its manifest and config."""
    from .store import LayerDesc
    descs = (image.manifest or {}).get("layers") or []
    return [LayerDesc(d["digest"], d["size"], diff_id, d.get("mediaType", ""))
            for d, diff_id in zip(descs, image.diff_ids)]


def tar_layer(root: str, fileobj) -> None:
    """Write the tree `root` (an overlay upper dir, or a fresh tree for COPY) as a
    gzip layer tar. diff.write_layer_tar does the work, turning overlay whiteouts
    into docker's .wh. files; we only compress (mtime 0 in the gzip header, so
    the same files give the same blob digest).
    Shell: `tar -C ROOT --numeric-owner --xattrs -cf - . | gzip -n > layer.tar.gz`.
    """
    import gzip
    from .diff import write_layer_tar
    with gzip.GzipFile(fileobj=fileobj, mode="wb", mtime=0, compresslevel=6) as gz:
        write_layer_tar(root, gz)


def commit(store, config: dict, layer_dir: str | None, parent_id: str | None = None) -> str:
    """Save `config` as an image, on top of the layers its rootfs already lists,
    plus one new layer made from `layer_dir` if given. Returns the image id.
    `config["rootfs"]["diff_ids"]` is updated in place."""
    diff_ids = config.setdefault("rootfs", {"type": "layers", "diff_ids": []}).setdefault("diff_ids", [])
    layers = []
    if diff_ids:
        if not parent_id:
            raise BuildError("internal: a config with layers needs its parent image")
        layers = layer_descs(store.resolve(parent_id))
        if [l.diff_id for l in layers] != diff_ids:
            raise BuildError("internal: the parent image's layers do not match the config")
    if layer_dir is not None:
        tmpdir = os.path.join(params.lib_root(), "tmp")
        os.makedirs(tmpdir, exist_ok=True)
        with tempfile.TemporaryFile(dir=tmpdir) as f:
            tar_layer(layer_dir, f)
            f.seek(0)
            desc = store.add_layer(f)
        layers.append(desc)
        diff_ids.append(desc.diff_id)
    config["created"] = state.now_iso()
    img = store.add_image(config, layers, parent=parent_id or "")
    return img.id


def tag(store, image_id: str, ref) -> None:
    store.tag(image_id, str(ref))

