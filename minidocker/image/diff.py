"""A container's writable layer: what changed (docker diff), and turning it into a layer (commit).

Map of this file:
  changes(upper, lowers)        [("C", "/etc"), ("A", "/etc/new"), ("D", "/etc/old")], docker's rules
  write_layer_tar(upper, out)   the upper dir as a layer tar; overlay whiteouts -> AUFS ".wh." files
  commit(container, ref)        that tar as a new layer on top of the container's image

The upper dir of an overlay mount *is* the container's diff: every file the
container created or changed is there (changed files were copied up whole),
every deleted one is a whiteout (char device 0:0), every directory deleted and
made again is marked opaque. Layer tars use AUFS' spelling instead, because
that is what registries and `docker load` carry: ".wh.NAME" for a deleted
NAME, ".wh..wh..opq" inside a directory for "ignore everything below".
"""
from __future__ import annotations

import copy
import os
import stat
import tarfile
import tempfile
from typing import BinaryIO

from .. import state
from ..errors import ImageError, UsageError
from ..kernel.overlay import OPAQUE_XATTR, is_opaque, is_whiteout
from ..trace import step
from .tarsafe import OPAQUE_MARKER, WHITEOUT_PREFIX

__all__ = ["changes", "write_layer_tar", "commit", "apply_changes"]


def _walk_sorted(top: str):
    """filepath.Walk order: an entry, then (if a directory) everything inside it."""
    def rec(rel: str):
        full = os.path.join(top, rel) if rel else top
        for n in sorted(os.listdir(full)):
            r = f"{rel}/{n}" if rel else n
            st = os.lstat(os.path.join(top, r))
            yield r, st
            if stat.S_ISDIR(st.st_mode):
                yield from rec(r)
    yield from rec("")


def _in_lowers(lowers: list[str], rel: str) -> os.stat_result | None:
    for d in reversed(lowers):          # top layer first
        try:
            st = os.lstat(os.path.join(d, rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return None                 # a lower whiteout: it was already gone
        return st
    return None


def changes(upper: str, lower_dirs: list[str]) -> list[tuple[str, str]]:
    """docker diff: (kind, path) for each change in `upper` over `lower_dirs` (bottom -> top).

    A = added, C = changed, D = deleted, in walk order (names sorted), as
    docker's overlay2 driver reports them:
      * a whiteout is D; a name not in any lower layer is A; otherwise C;
      * a directory that exists below with the same mode and mtime is not
        reported (it is only there because something inside it changed) -
        but the parent of every A or D is reported C;
      * an opaque directory (removed and made again) is C, followed by a D
        for every name below it that did not come back.
    """
    out: list[tuple[str, str]] = []
    changed_dirs: set[str] = set()

    def note_parent(path: str) -> None:
        parent = os.path.dirname(path)
        if parent != "/" and parent not in changed_dirs:
            out.append(("C", parent))
            changed_dirs.add(parent)

    def visit(rel: str) -> None:
        for name in sorted(os.listdir(os.path.join(upper, rel))):
            r = f"{rel}/{name}" if rel else name
            full, path = os.path.join(upper, r), "/" + r
            st = os.lstat(full)
            below = _in_lowers(lower_dirs, r)
            is_dir = stat.S_ISDIR(st.st_mode)
            opaque = is_dir and below is not None and is_opaque(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = "D" if below is not None else ""      # a whiteout over nothing: no change
            elif below is None:
                kind = "A"
            elif (is_dir and not opaque and stat.S_ISDIR(below.st_mode)
                  and st.st_mode == below.st_mode and st.st_mtime_ns == below.st_mtime_ns):
                kind = ""                                     # same directory: nothing to report
            else:
                kind = "C"
            if is_dir and kind:
                changed_dirs.add(path)
            if kind in ("A", "D"):
                note_parent(path)
            if kind:
                out.append((kind, path))
            if is_dir:
                visit(r)
            if opaque:
                here = set(os.listdir(full))
                out.extend(("D", f"{path}/{n}") for n in sorted(_lower_names(lower_dirs, r) - here))

    visit("")
    return out


def _lower_names(lowers: list[str], rel: str) -> set[str]:
    """The names the merged lower layers show in directory `rel` (whiteouts applied)."""
    names: set[str] = set()
    hidden: set[str] = set()
    for d in reversed(lowers):                 # top layer first
        full = os.path.join(d, rel)
        if not os.path.isdir(full) or os.path.islink(full):
            if os.path.lexists(full):
                break                          # a file hides the directories below
            continue
        for n in os.listdir(full):
            if n in hidden or n in names:
                continue                       # a higher layer already decided this name
            if is_whiteout(os.path.join(full, n)):
                hidden.add(n)
            else:
                names.add(n)
        if is_opaque(full):
            break
    return names


def write_layer_tar(upper: str, out: BinaryIO) -> int:
    """Write `upper` as a layer tar to `out`; returns the number of entries.

    Shell, roughly: `tar -C UPPER --xattrs --numeric-owner -cf - .` with each
    0:0 char device NAME written as an empty file .wh.NAME and each opaque
    directory followed by DIR/.wh..wh..opq. Hardlinks stay hardlinks;
    trusted.overlay.* xattrs (overlay's private notes) are left out.
    """
    step("tar", f"tar layer from {upper}", f"tar -C {upper} --xattrs --numeric-owner -cf layer.tar .")
    n = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, st in _walk_sorted(upper):
            full = os.path.join(upper, rel)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                head, base = os.path.split(rel)
                ti = tarfile.TarInfo(os.path.join(head, WHITEOUT_PREFIX + base))
                ti.mode, ti.uid, ti.gid, ti.mtime = 0o600, st.st_uid, st.st_gid, int(st.st_mtime)
                step("tar", f"whiteout {rel} -> {ti.name}", f"# {rel}: c 0,0 -> empty file {ti.name}")
                tar.addfile(ti)
                n += 1
                continue
            ti = tar.gettarinfo(full, arcname=rel)
            if ti is None:      # a socket: tar cannot carry it (GNU tar skips them too)
                continue
            ti.uname = ti.gname = ""
            ti.pax_headers = _xattrs(full)
            if ti.isreg():
                with open(full, "rb") as f:
                    tar.addfile(ti, f)
            else:
                tar.addfile(ti)
            n += 1
            if stat.S_ISDIR(st.st_mode) and is_opaque(full):
                ti = tarfile.TarInfo(f"{rel}/{OPAQUE_MARKER}")
                ti.mode, ti.uid, ti.gid, ti.mtime = 0o600, st.st_uid, st.st_gid, int(st.st_mtime)
                step("tar", f"opaque {rel} -> {ti.name}", f"# {rel}: {OPAQUE_XATTR}=y -> {ti.name}")
                tar.addfile(ti)
                n += 1
    return n


def _xattrs(path: str) -> dict[str, str]:
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def apply_changes(config: dict, changes_: list[str]) -> dict:
    """`commit -c` / `import -c`: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL,
    STOPSIGNAL, VOLUME lines applied to the image config's "config" part."""
    import json
    import shlex
    c = config.setdefault("config", {})
    for line in changes_:
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        def listform(text: str) -> list[str]:
            if text.startswith("["):
                try:
                    v = json.loads(text)
                except ValueError:
                    raise UsageError(f"--change {line!r}: bad JSON array") from None
                return [str(x) for x in v]
            return ["/bin/sh", "-c", text]
        if word in ("CMD", "ENTRYPOINT"):
            c["Cmd" if word == "CMD" else "Entrypoint"] = listform(rest)
        elif word == "ENV":
            if "=" in rest.split(None, 1)[0]:          # ENV A=1 B="two words"
                pairs = [p.partition("=")[::2] for p in shlex.split(rest)]
            else:                                      # ENV A one value
                k, _, v = rest.partition(" ")
                pairs = [(k, v.strip())]
            env = list(c.get("Env") or [])
            for k, v in pairs:
                env = [e for e in env if e.split("=", 1)[0] != k] + [f"{k}={v}"]
            c["Env"] = env
        elif word == "WORKDIR":
            c["WorkingDir"] = rest
        elif word == "USER":
            c["User"] = rest
        elif word == "STOPSIGNAL":
            c["StopSignal"] = rest
        elif word == "EXPOSE":
            ports = c.get("ExposedPorts") or {}
            for p in rest.split():
                ports[p if "/" in p else p + "/tcp"] = {}
            c["ExposedPorts"] = ports
        elif word == "LABEL":
            labels = c.get("Labels") or {}
            for p in shlex.split(rest):
                k, _, v = p.partition("=")
                labels[k] = v
            c["Labels"] = labels
        elif word == "VOLUME":
            vols = c.get("Volumes") or {}
            for v in (json.loads(rest) if rest.startswith("[") else rest.split()):
                vols[v] = {}
            c["Volumes"] = vols
        else:
            raise UsageError(f"--change {line!r}: {word} is not allowed here",
                             hint="allowed: CMD ENTRYPOINT ENV EXPOSE LABEL USER VOLUME WORKDIR STOPSIGNAL")
    return config


def commit(container, ref: str | None = None, message: str = "", author: str = "",
           changes_: list[str] = (), store=None):
    """docker commit: the container's upper dir becomes a new layer on its image.

    The new config is the container's (its command, env, workdir, user), with
    `changes_` applied; its history gains an entry that says it was committed.
    Returns the new Image.
    """
    from . import reference
    from .store import Store
    store = store or Store()
    if ref:
        reference.parse(ref)         # a bad name fails before any work
    apply_changes({}, list(changes_))   # so does a bad --change
    img = store.resolve(container.config.image_id or container.config.image)
    if not os.path.isdir(container.upper_dir):
        raise ImageError(f"container {container.name} has no writable layer at {container.upper_dir}",
                         hint="was it ever started? 'minidocker start' it first")
    from .removal import all_or_nothing
    with all_or_nothing(store):
        return _commit(store, img, container, ref, message, author, changes_)


def _commit(store, img, container, ref, message, author, changes_):
    with tempfile.TemporaryFile(dir=store.root) as tmp:
        write_layer_tar(container.upper_dir, tmp)
        tmp.seek(0)
        layer = store.add_layer(tmp)
    now = state.now_iso()
    cfg = copy.deepcopy(img.config)
    cc = cfg.setdefault("config", {})
    ccfg = container.config
    cc["Cmd"] = list(ccfg.cmd) or None
    cc["Entrypoint"] = list(ccfg.entrypoint) or None
    cc["Env"] = list(ccfg.env)
    wd = ccfg.workdir or ""      # "/" is the runtime's default, not a choice worth recording
    cc["WorkingDir"] = "" if wd == "/" and not cc.get("WorkingDir") else wd
    cc["User"] = ccfg.user or ""
    apply_changes(cfg, list(changes_))
    cfg["created"] = now
    cfg["container"] = container.id
    if author:
        cfg["author"] = author
    cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(layer.diff_id)
    hist = {"created": now, "created_by": f"minidocker commit {container.name}  # {' '.join(ccfg.argv)}"}
    if message:
        hist["comment"] = message
    if author:
        hist["author"] = author
    cfg.setdefault("history", []).append(hist)
    return store.add_image(cfg, store.layers_of(img) + [layer], tags=[ref] if ref else [], parent=img.id)
