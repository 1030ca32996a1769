"""The UnionFS lesson: draw a layer stack, find where a file comes from, watch copy-up and whiteouts.

Map of this file:
  Stack, stack_of(thing)      the layers of an image or a container, bottom -> top (+ upper dir)
  which_layer(stack, path)    the layer a path is read from, as overlayfs decides it
  plot_layers(thing, path)    each layer a band: digest, size, a few files; the upper dir on
                              top; the band `path` comes from is highlighted (matplotlib Figure)
  copy_up_demo(image, path)   edit a lower file through a real overlay mount: it appears in
                              upper, the lower copy is unchanged
  delete_demo(image, path)    delete it instead: a whiteout (char device 0:0) appears in upper

The demos mount a real overlay in a private temporary directory and always
unmount and remove it (try/finally); they need root, like every mount.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field

from ..kernel import overlay

__all__ = ["Stack", "stack_of", "which_layer", "plot_layers", "copy_up_demo", "delete_demo", "DemoResult"]

_LAYER = "#9ecae1"     # read-only image layers
_UPPER = "#fdae6b"     # the container's writable layer
_HIT = "#31a354"       # where the chosen path is read from
_GONE = "#de2d26"      # a whiteout hides it


@dataclass
class Stack:
    """Layer dirs bottom -> top, their labels and sizes, and the upper dir (or None)."""
    name: str
    layers: list[str]
    labels: list[str]
    sizes: list[int]
    upper: str | None = None
    history: list[str] = field(default_factory=list)

    def all_dirs(self) -> list[tuple[str, str]]:
        """(label, dir) bottom -> top, the upper dir last."""
        out = list(zip(self.labels, self.layers))
        if self.upper:
            out.append(("upper (container)", self.upper))
        return out


def stack_of(thing) -> Stack:
    """A Stack from an Image, an image reference, or a container name/id."""
    from ..image.store import Image, Store
    store = Store()
    upper, name = None, str(thing)
    if isinstance(thing, Image):
        img = thing
        name = (img.repo_tags or [img.short_id])[0]
    else:
        try:
            img = store.resolve(str(thing))
        except Exception:
            from ..runtime.container import lookup
            c = lookup(str(thing))
            img = store.resolve(c.config.image_id or c.config.image)
            upper, name = c.upper_dir, f"container {c.name}"
    hist = [h.get("created_by", "") for h in img.history if not h.get("empty_layer")]
    labels = [f"{d[7:19]}" for d in img.diff_ids]
    return Stack(name, list(img.layer_dirs), labels, [store.layer_size(d) for d in img.diff_ids],
                 upper, hist)


def which_layer(stack: Stack, path: str) -> tuple[int | None, str]:
    """Index in stack.all_dirs() that `path` is read from, and how:
    ("file" | "dir" | "whiteout" | "opaque-stop" | "missing"). overlayfs' lookup:
    from the top down, the first layer that has the name wins; a whiteout ends
    the search (the file is deleted); an opaque parent hides everything below."""
    rel = path.strip("/")
    dirs = stack.all_dirs()
    for i in range(len(dirs) - 1, -1, -1):
        full = os.path.join(dirs[i][1], rel)
        if overlay.is_whiteout(full):
            return i, "whiteout"
        if os.path.lexists(full):
            return i, "dir" if os.path.isdir(full) and not os.path.islink(full) else "file"
        parent = os.path.dirname(rel)
        while parent:
            if overlay.is_opaque(os.path.join(dirs[i][1], parent)):
                return None, "missing"       # an opaque dir above: lower layers are hidden
            parent = os.path.dirname(parent)
    return None, "missing"


def _few_files(d: str, n: int) -> list[str]:
    """A few entries of a layer, breadth first, whiteouts marked (for the band's text)."""
    out: list[str] = []
    queue = [""]
    while queue and len(out) < n:
        rel = queue.pop(0)
        try:
            names = sorted(os.listdir(os.path.join(d, rel)))
        except OSError:
            continue
        for name in names:
            r = f"{rel}/{name}" if rel else name
            full = os.path.join(d, r)
            if overlay.is_whiteout(full):
                out.append(f"/{r} (whiteout)")
            elif overlay.is_opaque(full):
                out.append(f"/{r}/ (opaque)")
                queue.append(r)
            elif os.path.isdir(full) and not os.path.islink(full):
                if not os.listdir(full):
                    continue
                queue.append(r)
                continue
            else:
                out.append("/" + r)
            if len(out) >= n:
                break
    return out


def _dir_size(d: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(d):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def plot_layers(thing, path: str | None = None, files_per_layer: int = 4, ax=None):
    """Draw the layer stack of an image or container; highlight where `path` comes from."""
    import matplotlib.pyplot as plt
    from ..commands.images import human_size
    st = thing if isinstance(thing, Stack) else stack_of(thing)
    dirs = st.all_dirs()
    hit, how = which_layer(st, path) if path else (None, "")
    n = len(dirs)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 1.0 + 0.9 * n), layout="constrained")
    else:
        fig = ax.figure
    for i, (label, d) in enumerate(dirs):
        is_upper = st.upper is not None and i == n - 1
        size = _dir_size(d) if is_upper else st.sizes[i]
        color = _UPPER if is_upper else _LAYER
        edge, lw = "0.3", 1
        if hit == i:
            color, edge, lw = (_GONE if how == "whiteout" else _HIT), "black", 2.5
        shadowed = (path and hit is not None and i < hit and how != "dir"
                    and os.path.lexists(os.path.join(d, path.strip("/"))))
        ax.add_patch(plt.Rectangle((0, i), 1, 0.86, fc=color, ec=edge, lw=lw))
        if shadowed:   # a lower copy that the lookup never reaches
            ax.add_patch(plt.Rectangle((0.004, i + 0.03), 0.992, 0.8, fill=False, ec=_GONE, lw=1.5, ls="--"))
            ax.annotate(f"{path} (hidden copy)", xy=(1.0, i + 0.43), xytext=(1.04, i + 0.43), fontsize=8,
                        family="monospace", va="center", color=_GONE, annotation_clip=False,
                        arrowprops=dict(arrowstyle="->", color=_GONE, ls="--"))
        title = label if is_upper else f"layer {i}  sha256:{label}"
        ax.text(0.01, i + 0.62, f"{title}   {human_size(size)}", fontsize=10, weight="bold",
                family="monospace", va="center")
        files = _few_files(d, files_per_layer)
        if not is_upper and i < len(st.history):
            ax.text(0.99, i + 0.62, st.history[i][:60], fontsize=7.5, ha="right", va="center", color="0.25")
        ax.text(0.01, i + 0.25, "  ".join(files) or "(empty)", fontsize=8, family="monospace",
                va="center", color="0.15")
    if path:
        msg = {"file": "read from here", "dir": "directory merged from here down",
               "whiteout": "deleted: a whiteout here hides the layers below",
               "missing": "not in any layer"}.get(how, how)
        where = f"layer {hit}" if hit is not None and not (st.upper and hit == n - 1) else "the upper dir"
        ax.set_title(f"{st.name}: {path} -> {where if hit is not None else ''} ({msg})", fontsize=11)
        if hit is not None:
            ax.annotate(path, xy=(1.0, hit + 0.43), xytext=(1.04, hit + 0.43), fontsize=9,
                        family="monospace", va="center", annotation_clip=False,
                        arrowprops=dict(arrowstyle="->", color="black"))
    else:
        ax.set_title(f"{st.name}: {n} layers, lookups go from the top down", fontsize=11)
    ax.text(0.5, -0.35, "lower layers: read-only, shared by every container of this image",
            ha="center", fontsize=8, color="0.35", transform=ax.transData)
    ax.set_xlim(0, 1.25 if path else 1)
    ax.set_ylim(-0.5, n)
    ax.axis("off")
    return fig


@dataclass
class DemoResult:
    """What a copy-up or delete demo saw, with the shell lines that reproduce it."""
    path: str
    lower_file: str
    upper_entry: str
    lower_before: str
    lower_after: str
    merged_after: str
    upper_kind: str                   # "file (copied up)" or "whiteout c 0,0"
    lower_inode: int = 0
    upper_inode: int = 0              # a copied-up file is a new file: its own inode
    merged_inode_before: int = 0
    merged_inode_after: int = 0
    steps: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.path}\n  lower layer: {self.lower_file}\n    before: {self.lower_before!r}\n"
                f"    after:  {self.lower_after!r}   (unchanged)\n  upper dir:   {self.upper_entry} "
                f"-> {self.upper_kind}\n  merged view: {self.merged_after!r}\n"
                f"  inodes: lower file {self.lower_inode}, upper file {self.upper_inode or '-'}; "
                f"merged shows {self.merged_inode_before} -> {self.merged_inode_after}")


def _demo(image: str, path: str, action) -> DemoResult:
    from .. import trace
    from ..image import base
    from ..image.store import Store
    store = Store()
    if image in (base.BASE_NAME, base.BASE_REF):
        base.ensure_base_image(store)
    img = store.resolve(image)
    st = Stack(image, img.layer_dirs, [d[7:19] for d in img.diff_ids], [0] * len(img.diff_ids))
    idx, how = which_layer(st, path)
    if how != "file":
        raise FileNotFoundError(f"{path} is not a file in {image} (lookup says: {how})")
    lower_file = os.path.join(img.layer_dirs[idx], path.strip("/"))
    tmp = tempfile.mkdtemp(prefix="mdk-unionfs-")
    upper, work, merged = (os.path.join(tmp, x) for x in ("upper", "work", "merged"))
    before = _read(lower_file)
    with trace() as t:
        overlay.mount_overlay(img.layer_dirs, upper, work, merged)
        try:
            target = os.path.join(merged, path.strip("/"))
            ino_before = os.stat(target).st_ino
            kind = action(target)
            ino_after = os.stat(target).st_ino if os.path.exists(target) else 0
            merged_after = _read(target) if os.path.exists(target) else "(no such file)"
        finally:
            overlay.unmount_overlay(merged)
    try:
        up = os.path.join(upper, path.strip("/"))
        res = DemoResult(path, lower_file, up, before, _read(lower_file), merged_after,
                         kind if not overlay.is_whiteout(up) else "whiteout c 0,0",
                         os.stat(lower_file).st_ino, os.lstat(up).st_ino, ino_before, ino_after, t.shell())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def _read(p: str, n: int = 200) -> str:
    with open(p, "rb") as f:
        return f.read(n).decode(errors="replace")


def copy_up_demo(image: str = "busybox", path: str = "/etc/passwd",
                 line: str = "student:x:1000:1000::/home/student:/bin/sh\n") -> DemoResult:
    """Append `line` to `path` through an overlay: overlayfs copies the file up first."""
    def edit(target: str) -> str:
        with open(target, "a") as f:
            f.write(line)
        return "file (copied up)"
    return _demo(image, path, edit)


def delete_demo(image: str = "busybox", path: str = "/etc/group") -> DemoResult:
    """Delete `path` through an overlay: overlayfs leaves a whiteout in the upper dir."""
    def delete(target: str) -> str:
        os.unlink(target)
        return "whiteout c 0,0"
    return _demo(image, path, delete)
