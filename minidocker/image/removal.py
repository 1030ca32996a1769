"""Removing images: `rmi`, `image prune`, and the debris of interrupted commands.

Map of this file:
  remove(store, ref, force)   docker rmi: untag; delete the image with its last tag
  prune(store, all)           docker image prune [-a]
  _collect(store, manifests)  reference counting by looking: delete the blobs and layer
                              directories of removed manifests that nothing left uses
  discard(store, blobs, ids)  the same for what a failed load/import stored
  in_use()                    image id -> containers created from it (they keep it alive)
  leftovers / clean_leftovers temp files of interrupted commands, for `system prune`

Every change of index.json happens under the store lock (state.lock), and a
layer directory is renamed away before it is deleted, so a half-deleted layer
is never mistaken for a whole one.
"""
from __future__ import annotations

import contextlib
import os

from .. import params, state
from ..errors import Conflict
from ..trace import step
from . import reference
from .store import LOCK, Store, _name, _same_tag, _unnamed

__all__ = ["remove", "prune", "in_use", "leftovers", "clean_leftovers", "discard", "all_or_nothing"]


def remove(store: Store, ref_or_id: str, force: bool = False) -> list[str]:
    """docker rmi: untag, and delete the image when no tag is left. Returns docker's lines.

    By name: only that tag goes (the image goes with its last tag). By id:
    every tag goes, which needs -f when there are several. An image a
    container was created from is never deleted; with -f it is untagged.
    """
    img = store.resolve(ref_or_id)
    users = in_use().get(img.id, [])
    lines: list[str] = []
    with state.lock(LOCK):
        idx = store.layout.index()
        mans = idx["manifests"]
        mine = [d for d in mans if store._entry_id(d) == img.id]
        named = [d for d in mine if _name(d)]
        untag = [d for d in named if _same_tag(_name(d), ref_or_id)]
        if not untag:           # removal by id: every tag goes
            if len(named) > 1 and not force:
                raise Conflict(f"unable to delete {img.short_id} (must be forced) - "
                               "image is referenced in multiple repositories",
                               hint="remove the tags one by one, or use 'minidocker rmi -f'")
            untag = named
        last = len(untag) == len(named)
        if users and last and not force:
            raise Conflict(f"unable to remove {ref_or_id} (must force) - container {users[0]} "
                           f"is using its referenced image {img.short_id}",
                           hint=f"remove the container first: minidocker rm {users[0]}")
        lines += [f"Untagged: {reference.parse(_name(d)).familiar()}" for d in untag]
        mans[:] = [d for d in mans if d not in untag]
        if last and not users:
            mans[:] = [d for d in mans if store._entry_id(d) != img.id]
            lines.append(f"Deleted: {img.id}")
        elif last and untag and not any(store._entry_id(d) == img.id for d in mans):
            mans.append(_unnamed(untag[0]))   # kept for its container, now "<none>"
        store.layout.write_index(idx)
        if last and not users:
            lines += _collect(store, {d["digest"] for d in mine})
    return lines

def prune(store: Store, all: bool = False) -> tuple[list[str], int]:
    """docker image prune [-a]: remove dangling (or all unused) images.

    Returns (lines, bytes reclaimed)."""
    used = in_use()
    victims = [i for i in store.images(all=True)
               if i.id not in used and (all or not i.repo_tags)]
    # an untagged parent of a kept image stays (a build intermediate: its cache)
    victim_ids = {v.id for v in victims}
    keep_parents = {i.parent for i in store.images(all=True) if i.id not in victim_ids}
    victims = [v for v in victims if v.id not in keep_parents]
    lines, before = [], _disk_usage(store)
    with state.lock(LOCK):
        idx = store.layout.index()
        ids = {v.id for v in victims}
        for d in idx["manifests"]:
            n = _name(d)
            if n and store._entry_id(d) in ids:
                lines.append(f"untagged: {reference.parse(n).familiar()}")
        gone = {d["digest"] for d in idx["manifests"] if store._entry_id(d) in ids}
        idx["manifests"] = [d for d in idx["manifests"] if store._entry_id(d) not in ids]
        store.layout.write_index(idx)
        lines += [f"deleted: {v.id}" for v in victims]
        _collect(store, gone)
    return lines, max(0, before - _disk_usage(store))


def _live(store: Store) -> tuple[set[str], set[str]]:
    """(blobs, diff_ids) that some manifest in index.json still uses."""
    live_blobs: set[str] = set()
    live_layers: set[str] = set()
    for d in store.layout.index()["manifests"]:
        live_blobs.add(d["digest"])
        m = store.layout.read_json(d["digest"])
        live_blobs.add(m["config"]["digest"])
        live_blobs.update(x["digest"] for x in m.get("layers", []))
        live_layers.update(store.layout.read_json(m["config"]["digest"])["rootfs"]["diff_ids"])
    return live_blobs, live_layers


def _collect(store: Store, manifests: set[str]) -> list[str]:
    """Delete the blobs and layer dirs of the removed `manifests` that nothing
    left in index.json uses (reference counting by looking).

    Caller holds the store lock and has already written the new index.json.
    Returns "Deleted: <diff_id>" lines (docker prints the removed layers too)."""
    live_blobs, _ = _live(store)
    blobs: list[str] = []          # read everything first: manifests may share a config
    diff_ids: list[str] = []
    for digest in sorted(manifests - live_blobs):
        m = store.layout.read_json(digest)
        blobs += [digest, m["config"]["digest"]] + [x["digest"] for x in m.get("layers", [])]
        cfg = store.layout.read_json(m["config"]["digest"])
        diff_ids += [d for d in cfg.get("rootfs", {}).get("diff_ids", []) if d not in diff_ids]
    return _delete_unused(store, blobs, diff_ids)


def _delete_unused(store: Store, blobs: list[str], diff_ids: list[str]) -> list[str]:
    live_blobs, live_layers = _live(store)
    for b in blobs:
        if b not in live_blobs:
            store.layout.remove_blob(b)
    lines = []
    for diff_id in diff_ids:
        if diff_id not in live_layers and os.path.isdir(store.layer_dir(diff_id)):
            _remove_layer(store, diff_id)
            lines.append(f"Deleted: {diff_id}")
    return lines


@contextlib.contextmanager
def all_or_nothing(store: Store):
    """`with all_or_nothing(store): ...` - if the body fails, the blobs and layers it
    added and no image uses are deleted again (load, import, commit use it)."""
    def layers() -> set[str]:
        try:
            return {"sha256:" + n for n in os.listdir(store.layers_dir)
                    if not n.startswith(".") and not n.endswith(".json")}
        except FileNotFoundError:
            return set()
    blobs_before, layers_before = set(store.layout.all_blobs()), layers()
    try:
        yield
    except BaseException:
        discard(store, sorted(set(store.layout.all_blobs()) - blobs_before),
                sorted(layers() - layers_before))
        raise


def discard(store: Store, blobs: list[str], diff_ids: list[str]) -> None:
    """Undo a load/import/commit that failed half-way: delete the blobs and layers it
    stored, unless an image in index.json uses them (then they were not ours alone)."""
    with state.lock(LOCK):
        _delete_unused(store, blobs, diff_ids)


def _remove_layer(store: Store, diff_id: str) -> None:
    """rm -f l/<short>; mv the layer aside; rm -f its .json; rm -rf it."""
    d = store.layer_dir(diff_id)
    step("extract", f"remove layer {d}", f"rm -rf {d}")
    state.rm_f(store.short_link(diff_id))
    # rename first so a half-removed layer is never mistaken for a whole one
    tmp = state.mkdtemp(store.layers_dir, prefix=".rm-")
    os.rename(d, os.path.join(tmp, "x"))
    state.rm_f(d + ".json")
    state.remove_tree(tmp)

def _disk_usage(store: Store) -> int:
    total = 0
    for b in store.layout.all_blobs():
        with contextlib.suppress(OSError):
            total += store.layout.blob_size(b)
    with contextlib.suppress(FileNotFoundError):
        for n in os.listdir(store.layers_dir):
            if n.endswith(".json"):
                total += state.read_json(os.path.join(store.layers_dir, n), versioned=False).get("size", 0)
    return total

def leftovers(store: Store, min_age: float = params.IMAGE_LEFTOVER_AGE) -> list[str]:
    """Debris of interrupted commands: temp dirs/files older than min_age seconds
    (.tmp-* half-unpacked layers or half-written blobs, .rm-*, .save-*, .export-*)."""
    import time
    out = []
    for d in (store.root, store.layers_dir, store.layout.blobs):
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if n.startswith((".tmp-", ".rm-", ".save-", ".export-")):
                with contextlib.suppress(OSError):
                    if time.time() - os.lstat(p).st_mtime >= min_age:
                        out.append(p)
    return out

def clean_leftovers(store: Store, min_age: float = params.IMAGE_LEFTOVER_AGE) -> list[str]:
    """Remove leftovers() (for `system prune`); an .export-* dir is only ever an
    empty mount point (export mounts in a private namespace), so rmdir suffices."""
    removed = []
    for p in leftovers(store, min_age):
        if os.path.isdir(p) and not os.path.islink(p):
            state.remove_tree(p)
        else:
            with contextlib.suppress(OSError):
                os.unlink(p)
        removed.append(p)
    return removed

def in_use() -> dict[str, list[str]]:
    """image id -> names of containers created from it (they keep it alive)."""
    try:
        from ..runtime import records
        containers = records.list_all()
    except Exception:   # no runtime records yet (or none readable): nothing in use
        return {}
    out: dict[str, list[str]] = {}
    for c in containers:
        iid = getattr(c.config, "image_id", "") or ""
        if iid:
            out.setdefault(iid, []).append(c.name)
    return out
