"""overlayfs: stack read-only image layers under one writable directory.

Map of this file:
  mount_overlay(lower_dirs, upper, work, target)   the mount (below)
  unmount_overlay(target)                          umount TARGET
  overlay_options(...)                             the option string, and the directory
                                                   it must be read from (short-link trick)
  is_whiteout(path) / is_opaque(path)              how overlay marks deletions

What overlay does (seed 1.6.3, "UnionFS"): a lookup of /etc/passwd in the
merged directory looks in upper first, then in each lower dir from the top
down; the first hit wins. Writing a file that lives in a lower dir first
copies it up into upper (copy-up); deleting it leaves a *whiteout* in upper,
a character device 0:0 that hides the lower file; a directory removed and
made again gets the xattr trusted.overlay.opaque=y so nothing below shows.

The page-size limit: mount(2) copies its option string into one page (4096
bytes here). 120 layers named /var/lib/minidocker/image/layers/<64 hex>
need ~11 KB. Docker's answer, and ours: each layer also has a short symlink
  L/image/l/<12 hex> -> ../layers/<64 hex>
(other directories get links in an l/ next to the upper dir), and the mount
is done with the link directory as the current directory,
with relative names: lowerdir=681e7d85506e:0b5c1e... (13 bytes per layer: ~300
layers fit; overlay itself stops at 500). The kernel resolves the names when
mount(2) runs, so the links are not needed afterwards.

Changing directory is process-wide, so we do it in a short-lived forked child
(same mount namespace, so the mount is ours): the caller's cwd never moves and
other threads are never surprised. That makes it safe to call from the
container's init (already in its new mount namespace) and from a notebook.
When the absolute option fits in a page we skip the trick: the --explain line
is then the plain `mount -t overlay` a student would type.
"""
from __future__ import annotations

import errno
import os
import stat

from . import libc
from .. import params
from ..errors import ImageError, KernelError
from ..trace import step

__all__ = ["mount_overlay", "unmount_overlay", "overlay_options", "is_whiteout", "is_opaque",
           "OPAQUE_XATTR", "MAX_LAYERS"]

OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_LAYERS = params.OVERLAY_MAX_LAYERS  # the kernel's OVL_MAX_STACK
PAGE = os.sysconf("SC_PAGESIZE")       # mount(2) option data is one page, NUL included
LINK_DIR_NAME = "l"                    # <store>/l/<short> -> ../layers/<hex>
SHORT_LEN = params.LAYER_LINK_LEN     # the store names its links the same way


def overlay_options(lower_dirs: list[str], upper: str | None, work: str | None) -> tuple[str, str | None]:
    """Return (option string, directory to mount from or None).

    lower_dirs are bottom -> top (as Image.layer_dirs); overlay's lowerdir
    lists them top first, so we reverse. None means absolute paths fit.
    upper=None gives a read-only stack of lower dirs only (export uses it).
    """
    if not lower_dirs:
        raise ImageError("cannot mount an image with no layers",
                         hint="a FROM scratch image needs at least one COPY/ADD layer")
    if len(lower_dirs) > MAX_LAYERS:
        raise ImageError(f"image has {len(lower_dirs)} layers; overlayfs stacks at most {MAX_LAYERS}",
                         hint="squash layers: fewer RUN steps, or export/import the filesystem")
    top_first = [os.path.abspath(d) for d in reversed(lower_dirs)]
    tail = f",upperdir={os.path.abspath(upper)},workdir={os.path.abspath(work)}" if upper else ""
    plain = "lowerdir=" + ":".join(top_first) + tail
    if len(plain) < PAGE:
        return plain, None
    link_dir = _link_dir(top_first, upper or top_first[0])
    names = [_short_link(link_dir, d) for d in top_first]
    short = "lowerdir=" + ":".join(names) + tail
    if len(short) >= PAGE:
        raise ImageError(f"the overlay options for {len(lower_dirs)} layers need {len(short)} bytes, "
                         f"more than one page ({PAGE})", hint="use an image with fewer layers")
    return short, link_dir


def mount_overlay(lower_dirs: list[str], upper: str | None, work: str | None, target: str,
                  flags: int = 0) -> None:
    """mount("overlay", target, "overlay", flags, "lowerdir=...,upperdir=...,workdir=...").

    Shell: `mount -t overlay overlay -o lowerdir=TOP:...:BOTTOM,upperdir=UPPER,workdir=WORK TARGET`
    (with many layers: `cd L/image/l && mount -t overlay overlay -o lowerdir=abc..:def..,... TARGET`).
    lower_dirs: bottom -> top. upper and work must be on the same filesystem;
    work must be empty. They and target are created if missing; upper=work=None
    mounts the lower dirs alone, read-only. Works for 120+
    layers (module docstring). Raises KernelError naming the mount on failure.
    """
    for d in (upper, work, target):
        if d:
            os.makedirs(d, exist_ok=True)
    opts, cwd = overlay_options(lower_dirs, upper, work)
    target = os.path.abspath(target)
    if cwd is None:
        step("mount", f"mount(overlay, {target}, overlay, {libc.flag_names(flags)}, {opts})",
             f"mount -t overlay overlay -o {opts} {target}")
        libc.mount("overlay", target, "overlay", flags, opts)
        return
    step("mount", f"chdir({cwd}); mount(overlay, {target}, overlay, {libc.flag_names(flags)}, {opts})",
         f"(cd {cwd} && mount -t overlay overlay -o {opts} {target})")
    _mount_from(cwd, target, flags, opts)


def _mount_from(cwd: str, target: str, flags: int, opts: str) -> None:
    """Do the mount in a forked child that chdir()s first; report its errno back.

    The child shares our mount namespace (fork does not create one), so the
    mount it makes is ours. It only calls chdir and mount, then _exit: safe
    even when the parent has threads.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no Python-level cleanup, no exceptions escaping
        code = 0
        try:
            os.close(r)
            os.chdir(cwd)
            libc.mount("overlay", target, "overlay", flags, opts)
        except KernelError as e:
            code = e.errno or errno.EIO
        except OSError as e:
            code = e.errno or errno.EIO
        except BaseException:
            code = errno.EIO
        try:
            os.write(w, str(code).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        data = b""
        while chunk := os.read(r, 64):
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    code = int(data or errno.EIO)
    if code:
        raise KernelError(code, "mount", f"overlay, {target}, overlay, {libc.flag_names(flags)}, "
                                         f"{opts} (from {cwd})")


def unmount_overlay(target: str, lazy: bool = False) -> None:
    """umount2(target, 0 or MNT_DETACH). Shell: `umount TARGET` (`umount -l TARGET`)."""
    flags = libc.MNT_DETACH if lazy else 0
    step("mount", f"umount2({target}, {'MNT_DETACH' if lazy else 0})",
         f"umount {'-l ' if lazy else ''}{target}")
    libc.umount2(target, flags)


def _link_dir(layers: list[str], upper: str) -> str:
    """Where the short links live: the store's l/ when every layer is a store layer
    (<store>/layers/<hex> -> <store>/l), else an l/ next to the upper dir."""
    parents = {os.path.dirname(d) for d in layers}
    if len(parents) == 1 and os.path.basename(next(iter(parents))) == "layers":
        return os.path.join(os.path.dirname(next(iter(parents))), LINK_DIR_NAME)
    return os.path.join(os.path.dirname(os.path.abspath(upper)), LINK_DIR_NAME)


def _short_link(link_dir: str, layer: str) -> str:
    """Name (relative to link_dir) of a short symlink to `layer`, creating it if needed.

    Store layers are named by their diff_id, and the store already made
    l/<first 12 hex>; any other directory gets a name from the hash of its path.
    """
    base = os.path.basename(layer)
    if len(base) == 64 and all(c in "0123456789abcdef" for c in base):
        name = base[:SHORT_LEN]
    else:
        import hashlib     # only for stacks too deep for the mount options' page
        name = "p" + hashlib.sha256(layer.encode()).hexdigest()[:SHORT_LEN - 1]
    link = os.path.join(link_dir, name)
    try:
        if os.path.realpath(link) == os.path.realpath(layer):
            return name
    except OSError:
        pass
    os.makedirs(link_dir, exist_ok=True)
    rel = os.path.relpath(layer, link_dir)
    tmp = f"{link}.tmp{os.getpid()}"
    step("mount", f"symlink({rel}, {link})", f"ln -sfn {rel} {link}")
    os.symlink(rel, tmp)
    os.rename(tmp, link)   # atomic replace: a concurrent mount never sees no link
    return name


def is_whiteout(path: str) -> bool:
    """A whiteout: a character device with device number 0:0 (`ls -l` shows `c 0, 0`)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """An opaque directory: `getfattr -n trusted.overlay.opaque DIR` says "y"."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
