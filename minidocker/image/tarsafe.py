"""Safe extraction of layer tarballs: the one function that writes a layer to disk.

Map of this file:
  extract_layer(src, root)   the documented extractor (below); returns an ExtractResult
  decompressed(fileobj)      gzip / plain tar detection for layer blobs
  _clean_name()              entry name checks: no absolute paths, no ".."
  _resolve()                 walk the parent directories, following symlinks only
                             while they stay inside root (docker's chroot, by hand)
  _make_*()                  one helper per tar entry type

Why not `tarfile.extractall()`? Before Python 3.12 it trusts names like
"../../etc/passwd"; the 3.12 "data" filter is safe but strips setuid bits and
ownership, which images need (/bin/su, /usr/bin/passwd). So we do it by hand.

The rules extract_layer() applies (each violation raises ImageError naming the entry):
  * names are relative: "/etc/passwd" and any ".." component are refused;
  * parent directories are resolved one component at a time with lstat();
    a symlink is followed only if it is relative and stays inside root; an
    absolute symlink (`evil -> /etc`) or one climbing out (`evil -> ../..`)
    makes the entry refused: we never write through it;
  * an existing entry at the path is replaced (unlinked first), and files are
    created with O_CREAT|O_EXCL|O_NOFOLLOW, so a symlink planted at the final
    name is never followed;
  * hardlinks must point at something already inside root (not "/etc/shadow");
  * kept: mode including setuid/setgid/sticky (chmod *after* chown, because
    chown clears setuid), owner uid:gid when we are root (numeric, like
    `tar --numeric-owner`), xattrs (SCHILY.xattr.* PAX records), mtimes
    (directories' last, since creating children changes them), hardlinks;
  * device nodes: policy = NOT created (recorded in result.skipped). A
    container gets a fresh /dev from the runtime; a device node shipped in
    an image (say /dev/sda, mode 666) would only be a way to reach host
    hardware. The exception is the overlay whiteout, a char device 0:0;
  * whiteouts (whiteouts="overlay", for layer directories that overlayfs
    stacks): the AUFS file ".wh.NAME" becomes a 0:0 character device NAME,
    ".wh..wh..opq" sets trusted.overlay.opaque=y on its directory, other
    ".wh..wh.*" (AUFS bookkeeping) are skipped. With whiteouts="keep" (a
    tarball added to a plain directory) they are ordinary files;
  * xattrs trusted.overlay.* other than "opaque" are dropped: they steer
    overlayfs (redirect, metacopy, origin) and must not come from an image;
  * the entry "./" itself changes nothing (a tar made of a mktemp dir would
    otherwise make the container's / mode 0700).
Race note: we lstat then create; that is safe because the directory being
filled is private to this process (the store extracts into a fresh temp dir).
"""
from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import params
from ..errors import ImageError
from ..trace import step

__all__ = ["extract_layer", "decompressed", "ExtractResult",
           "WHITEOUT_PREFIX", "OPAQUE_MARKER", "OPAQUE_XATTR"]

WHITEOUT_PREFIX = ".wh."              # AUFS: ".wh.foo" in a layer deletes foo below
OPAQUE_MARKER = ".wh..wh..opq"        # AUFS: this directory hides everything below it
OPAQUE_XATTR = "trusted.overlay.opaque"  # overlayfs' way of saying the same
MAX_SYMLINK_HOPS = params.TAR_MAX_SYMLINK_HOPS   # like the kernel's MAXSYMLINKS: stops a -> a loops
_COPY_CHUNK = 1 << 20


@dataclass
class ExtractResult:
    """What extract_layer did; `size` is the bytes of file data written."""
    entries: int = 0
    size: int = 0
    whiteouts: int = 0
    opaque_dirs: int = 0
    skipped: list[str] = field(default_factory=list)


def decompressed(f: BinaryIO) -> BinaryIO:
    """Return a reader of the plain tar inside `f` (gzip is detected by its magic)."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else b""
    if not head:
        f = io.BufferedReader(f)  # type: ignore[arg-type]
        head = f.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if head == b"\x28\xb5\x2f\xfd":
        raise ImageError("layer is compressed with zstd, which minidocker cannot read",
                         hint="re-export the image with gzip or uncompressed layers")
    return f


def extract_layer(src: BinaryIO | tarfile.TarFile, root: str, *,
                  whiteouts: str = "overlay") -> ExtractResult:
    """Extract the tar stream `src` into the directory `root`, safely (rules above).

    Shell equivalent: `tar -xpf LAYER --xattrs --numeric-owner -C ROOT`, plus
    `mknod ROOT/NAME c 0 0` for each .wh.NAME. `src` is a plain tar stream (see
    decompressed()) or an open TarFile. On error the caller removes `root`:
    we raise before writing the bad entry, but earlier entries are on disk.
    """
    if whiteouts not in ("overlay", "keep"):
        raise ValueError(f"whiteouts must be 'overlay' or 'keep', not {whiteouts!r}")
    root = os.path.abspath(root)
    # a comment line only: the caller already showed the `tar -x` (with where the tar comes from)
    step("extract", f"extract_layer(-> {root}): tar -xpf - --xattrs --numeric-owner -C {root}")
    res = ExtractResult()
    dirs: list[tuple[str, tarfile.TarInfo]] = []   # (name, entry): mode+mtime set at the end
    try:
        tar = src if isinstance(src, tarfile.TarFile) else tarfile.open(fileobj=src, mode="r|")
        for m in tar:
            res.entries += 1
            try:
                _extract_one(tar, m, root, whiteouts, res, dirs)
            except OSError as e:     # name the entry, not just the errno
                raise ImageError(f"cannot extract tar entry {m.name!r}: {e.strerror or e}",
                                 hint="whiteouts and ownership need root" if e.errno == 1 else
                                 "check free space and permissions of the target") from None
    except tarfile.TarError as e:
        raise ImageError(f"layer is not a valid tar archive: {e}",
                         hint="check the file; a truncated download looks like this") from None
    # Deepest directories first, so setting a parent's mtime is the last touch.
    # Paths are resolved again with the same rules: a later entry may have
    # replaced a directory by a symlink, which we must not follow now.
    for rel, m in reversed(dirs):
        try:
            path = _resolve(root, rel, m.name, create=False)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (ImageError, OSError):
            continue  # no longer a directory inside root: nothing to finish
        try:
            os.fchmod(fd, stat.S_IMODE(m.mode))
            _set_times(fd, m, follow=True)
        finally:
            os.close(fd)
    return res


# --- names and paths -------------------------------------------------------------

def _clean_name(name: str) -> str:
    """"./usr/bin/" -> "usr/bin"; refuse absolute names and ".." components."""
    if name.startswith("/"):
        raise ImageError(f"tar entry {name!r} has an absolute path, which would escape the root",
                         hint="layer entries must be relative, like 'etc/passwd'")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"tar entry {name!r} contains '..', which could escape the root",
                         hint="this tarball is broken or malicious; do not use it")
    return "/".join(parts)


def _resolve(root: str, rel: str, entry: str, create: bool = True) -> str:
    """Host path of `rel` inside root: its parent directories resolved by _walk()."""
    parts = rel.split("/")
    return os.path.join(_walk(root, parts[:-1], entry, create), parts[-1])


def _walk(root: str, dirs: list[str], entry: str, create: bool) -> str:
    """Walk the directories `dirs` below root, following symlinks only inside root.

    Shell analogue: `realpath -m` under a chroot, but refusing absolute links.
    Missing directories are created (mode 0755) when `create` is set.
    """
    todo = list(dirs)
    done: list[str] = []
    hops = 0
    while todo:
        c = todo.pop(0)
        if c in ("", "."):
            continue
        if c == "..":
            if not done:
                raise _escape(entry, "/".join(done), "a symlink climbs above the root")
            done.pop()
            continue
        path = os.path.join(root, *done, c)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                raise ImageError(f"tar entry {entry!r}: {'/'.join(done + [c])} does not exist",
                                 hint="a hardlink must point at an earlier entry") from None
            os.mkdir(path, 0o755)
            done.append(c)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            target = os.readlink(path)
            if target.startswith("/"):
                raise _escape(entry, "/".join(done + [c]), f"it is an absolute symlink to {target}")
            if hops > MAX_SYMLINK_HOPS:
                raise _escape(entry, "/".join(done + [c]), "too many levels of symlinks")
            todo = target.split("/") + todo
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise ImageError(f"tar entry {entry!r}: {'/'.join(done + [c])} is not a directory",
                             hint="the tarball puts a file where it later needs a directory")
        done.append(c)
    return os.path.join(root, *done)


def _escape(entry: str, link: str, why: str) -> ImageError:
    return ImageError(
        f"tar entry {entry!r} would be written through {link!r}, leaving the root: {why}",
        hint="this tarball is broken or malicious; nothing outside the target was written")


# --- one entry -----------------------------------------------------------------

def _extract_one(tar: tarfile.TarFile, m: tarfile.TarInfo, root: str, whiteouts: str,
                 res: ExtractResult, dirs: list) -> None:
    rel = _clean_name(m.name)
    if not rel:
        return  # "./": the root's own attributes are not ours to change (see top)
    base = rel.rsplit("/", 1)[-1]
    if whiteouts == "overlay" and base.startswith(WHITEOUT_PREFIX):
        _make_whiteout(root, rel, base, m, res)
        return
    path = _resolve(root, rel, m.name)
    if m.isdir():
        if not os.path.isdir(path) or os.path.islink(path):
            _remove(path)
            step("extract", f"mkdir({path})", f"mkdir {path}")
            os.mkdir(path, 0o700)  # real mode set at the end, after children exist
        _set_owner(path, m)
        _set_xattrs(path, m, res)
        dirs.append((rel, m))
        return
    _remove(path)
    if m.isreg():
        _make_file(tar, m, path, res)
    elif m.issym():
        step("extract", f"symlink({m.linkname}, {path})", f"ln -s {m.linkname} {path}")
        os.symlink(m.linkname, path)
        _set_owner(path, m)
        _set_xattrs(path, m, res)
        _set_times(path, m, follow=False)
    elif m.islnk():
        target = _clean_name(m.linkname)
        if not target:
            raise ImageError(f"tar entry {m.name!r} is a hardlink to the root directory")
        src = _resolve(root, target, m.name, create=False)
        if not os.path.lexists(src) or (os.path.isdir(src) and not os.path.islink(src)):
            raise ImageError(f"tar entry {m.name!r} is a hardlink to {m.linkname!r}, "
                             "which is not a file inside the layer",
                             hint="hardlinks may only point at earlier entries of the same tar")
        step("extract", f"link({src}, {path})", f"ln {src} {path}")
        os.link(src, path, follow_symlinks=False)
    elif m.ischr() and m.devmajor == 0 and m.devminor == 0:
        _mknod_whiteout(path, m)     # an overlay whiteout written as-is
        res.whiteouts += 1
    elif m.ischr() or m.isblk():
        res.skipped.append(f"{rel} (device {m.devmajor}:{m.devminor}, not created: see policy)")
        step("extract", f"skip device node {path}", f"# not created: mknod {path} ...")
    elif m.isfifo():
        step("extract", f"mkfifo({path})", f"mkfifo {path}")
        os.mkfifo(path, 0o600)
        _set_owner(path, m)
        os.chmod(path, stat.S_IMODE(m.mode))
        _set_times(path, m, follow=False)
    else:
        res.skipped.append(f"{rel} (tar type {m.type!r} ignored)")


def _make_file(tar: tarfile.TarFile, m: tarfile.TarInfo, path: str, res: ExtractResult) -> None:
    mode = stat.S_IMODE(m.mode)
    step("extract", f"open({path}, O_CREAT|O_EXCL|O_NOFOLLOW) + write {m.size} bytes",
         f"install -m {mode:o} -o {m.uid} -g {m.gid} /dev/stdin {path}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        data = tar.extractfile(m)
        if data is not None:
            while chunk := data.read(_COPY_CHUNK):
                _write_all(fd, chunk)
        if os.geteuid() == 0:
            os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, mode)  # after chown: chown clears setuid/setgid
        _set_xattrs(fd, m, res)
        _set_times(fd, m, follow=True)
    finally:
        os.close(fd)
    res.size += m.size


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _make_whiteout(root: str, rel: str, base: str, m: tarfile.TarInfo, res: ExtractResult) -> None:
    """AUFS ".wh." entry -> overlay whiteout (0:0 char device) or opaque xattr."""
    parent = _walk(root, rel.split("/")[:-1], m.name, create=True)
    if base == OPAQUE_MARKER:
        step("extract", f"setxattr({parent}, {OPAQUE_XATTR}, y)",
             f"setfattr -n {OPAQUE_XATTR} -v y {parent}")
        os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
        res.opaque_dirs += 1
        return
    if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
        res.skipped.append(f"{rel} (AUFS metadata)")
        return
    name = base[len(WHITEOUT_PREFIX):]
    if name in ("", ".", ".."):
        raise ImageError(f"tar entry {m.name!r} is a whiteout of an impossible name")
    path = os.path.join(parent, name)
    _remove(path)
    _mknod_whiteout(path, m)
    res.whiteouts += 1


def _mknod_whiteout(path: str, m: tarfile.TarInfo) -> None:
    """mknod(path, S_IFCHR, makedev(0, 0)): how overlayfs marks a deleted file."""
    step("extract", f"mknod({path}, S_IFCHR, 0:0)", f"mknod {path} c 0 0   # whiteout")
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    _set_owner(path, m)


def _remove(path: str) -> None:
    """Replace semantics: whatever is at `path` goes (never following a symlink)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


# --- attributes ------------------------------------------------------------------

def _set_owner(path: str, m: tarfile.TarInfo) -> None:
    if os.geteuid() == 0:  # only root may give files away; others keep their own
        os.chown(path, m.uid, m.gid, follow_symlinks=False)


def _set_times(target: str | int, m: tarfile.TarInfo, follow: bool) -> None:
    mtime = float(m.mtime)
    atime = float(m.pax_headers.get("atime", mtime)) if m.pax_headers else mtime
    ns = (int(atime * 1e9), int(mtime * 1e9))
    if isinstance(target, int):
        os.utime(target, ns=ns)
    else:
        os.utime(target, ns=ns, follow_symlinks=follow)


def _set_xattrs(target: str | int, m: tarfile.TarInfo, res: ExtractResult) -> None:
    """Apply SCHILY.xattr.NAME PAX records (how GNU tar and docker store xattrs)."""
    for key, value in (m.pax_headers or {}).items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr."):]
        if name.startswith("trusted.overlay.") and name != OPAQUE_XATTR:
            res.skipped.append(f"{m.name} (xattr {name} dropped: steers overlayfs)")
            continue
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        try:
            if isinstance(target, int):
                os.setxattr(target, name, raw)
            else:
                os.setxattr(target, name, raw, follow_symlinks=False)
        except OSError as e:  # e.g. security.selinux on a host without SELinux
            res.skipped.append(f"{m.name} (xattr {name}: {e.strerror})")
