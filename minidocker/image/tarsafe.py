"""Safe extraction of layer tarballs: the one function that writes a layer to disk.

Map of this file:
  extract_layer(src, root)   the documented extractor (below); returns an ExtractResult
  decompressed(fileobj)      gzip / plain tar detection for layer blobs (_Gunzip: zcat on zlib)
  _Extraction               one extraction's state: the parent-directory cache,
                             one method per tar entry type, the final directory pass
  _clean_name()              entry name checks: no absolute paths, no ".."
  _walk()                    walk the parent directories, following symlinks only
                             while they stay inside root (docker's chroot, by hand)
The tar headers are read by tarstream.TarReader (why: see that file).

Why not `tarfile.extractall()`? Before Python 3.12 it trusts names like
"../../etc/passwd"; the 3.12 "data" filter is safe but strips setuid bits and
ownership, which images need (/bin/su, /usr/bin/passwd). So we do it by hand.

The rules extract_layer() applies (each violation raises ImageError naming the entry):
  * names are relative: "/etc/passwd" and any ".." component are refused;
  * parent directories are resolved one component at a time with lstat();
    a symlink is followed only if it is relative and stays inside root; an
    absolute symlink (`evil -> /etc`) or one climbing out (`evil -> ../..`)
    makes the entry refused: we never write through it;
  * an existing entry at the path is replaced (removed, then created anew:
    we learn it is there from EEXIST), and files are created with
    O_CREAT|O_EXCL|O_NOFOLLOW, so a symlink planted at the final name is
    never followed;
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

Speed (a layer can hold 50,000 files; GNU tar is the yardstick, bench/run.py):
per file we make at most the six system calls of `tar -x` (open, write, fchown,
fchmod, futimens, close), usually four, and as little Python as we can around them:
  * TarReader parses headers itself (tarstream.py), ~4 us a member against
    tarfile's ~25 us;
  * resolved parent directories are cached (_Extraction.known; why that is
    safe is written there), so a file costs no lstat() of its parents;
  * no lstat() before creating either: O_EXCL's EEXIST says something is in
    the way, and only then is it removed;
  * no fchown() that would change nothing, and then no fchmod() either when
    open() could give the mode itself (no setuid bits, none the umask clears);
  * a small file is one read and one write(2); the step() strings for
    --explain are built only when someone records them;
  * buffers of 64 kB, which malloc recycles (see _COPY_CHUNK).
"""
from __future__ import annotations

import io
import os
import stat
import sys
import zlib

TYPE_CHECKING = False   # importing typing costs ~13 ms here; type checkers read this
if TYPE_CHECKING:
    import tarfile
    from typing import BinaryIO

from .. import params
from ..errors import ImageError
from ..plaindata import dataclass, field     # not dataclasses: ~11 ms less start-up
from ..trace import step
from .tarstream import TarReader

__all__ = ["extract_layer", "decompressed", "ExtractResult",
           "WHITEOUT_PREFIX", "OPAQUE_MARKER", "OPAQUE_XATTR"]

WHITEOUT_PREFIX = ".wh."              # AUFS: ".wh.foo" in a layer deletes foo below
OPAQUE_MARKER = ".wh..wh..opq"        # AUFS: this directory hides everything below it
OPAQUE_XATTR = "trusted.overlay.opaque"  # overlayfs' way of saying the same
MAX_SYMLINK_HOPS = params.TAR_MAX_SYMLINK_HOPS   # like the kernel's MAXSYMLINKS: stops a -> a loops
# 64 kB steps for file data and gzip input: every temporary buffer stays below
# glibc's mmap threshold (128 kB), so malloc recycles it. With 1 MB steps each
# buffer was a fresh mmap(): ~250 page faults and a page-zeroing per MB,
# measured at 40% of a 50 MB pull's time (sys 0.18 s of 0.33 s).
_COPY_CHUNK = 64 << 10
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class ExtractResult:
    """What extract_layer did; `size` is the bytes of file data written."""
    entries: int = 0
    size: int = 0
    whiteouts: int = 0
    opaque_dirs: int = 0
    skipped: list[str] = field(default_factory=list)


def _explaining() -> bool:
    """Is anyone recording steps (--explain, a trace())? trace.step() itself is cheap
    when not, but the strings we would pass it cost ~1 us per file to build."""
    trace = sys.modules[step.__module__]   # the module (the package's `trace` is a function)
    return trace.active()


def decompressed(f: BinaryIO, *, check_crc: bool = True) -> BinaryIO:
    """Return a reader of the plain tar inside `f` (gzip is detected by its magic).

    check_crc=False is for a caller that checks the decompressed bytes itself,
    more strongly: the store hashes them into the layer's diff_id and refuses a
    layer whose diff_id is not the one the image config names (see _Gunzip)."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else b""
    if not head:
        f = io.BufferedReader(f)  # type: ignore[arg-type]
        head = f.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        return _Gunzip(f, check_crc)  # type: ignore[return-value]
    if head == b"\x28\xb5\x2f\xfd":
        raise ImageError("layer is compressed with zstd, which minidocker cannot read",
                         hint="re-export the image with gzip or uncompressed layers")
    return f


_BAD_GZIP = "check the file; a truncated or corrupt download looks like this"
_MAX_GZIP_HEADER = 1 << 20   # a name or comment field longer than this is refused (gzip writes ~100 bytes)


class _Gunzip(io.RawIOBase):
    """`zcat` as a reader, straight on zlib.

    gzip.GzipFile does the same but in 8 kB steps with a Python-level CRC-32
    per step (~3x slower on a 50 MB layer). Here zlib inflates 64 kB at a time.
    Like GzipFile we accept several gzip members one after the other
    (`cat a.gz b.gz`) and zero padding at the end.

    A gzip member is a 10-byte header (RFC 1952: magic 1f 8b, method 8, flags,
    then optional extra field, file name, comment, header CRC), a raw deflate
    stream, and an 8-byte trailer: the CRC-32 and the length (mod 2^32) of
    what it inflates to.
      check_crc=True   zlib reads header and trailer itself (wbits=31) and
                       checks both: what `gzip -t` does.
      check_crc=False  we read the header and trailer (_skip_header, _trailer),
                       zlib inflates raw deflate (wbits=-15), and we check the
                       length but not the CRC. For pulled and stored layers,
                       whose output the store hashes with SHA-256 and compares
                       with the image's diff_id anyway: the CRC would be a
                       second, weaker checksum of the same bytes. It cost 5% of
                       a pull's CPU (perf: crc32_z), bench/results.
    """

    def __init__(self, f: BinaryIO, check_crc: bool = True):
        self._f = f
        self._raw = not check_crc
        self._in = self._skip_header(b"") if self._raw else b""
        self._z = zlib.decompressobj(-15 if self._raw else 31)
        self._out = 0             # bytes this member inflated to (the trailer's ISIZE)
        self._done = False

    def readable(self) -> bool:
        return True

    def _more(self, buf: bytes, n: int) -> bytes:
        """`buf`, with input read until it holds at least n bytes (headers and trailers)."""
        while len(buf) < n:
            more = self._f.read(_COPY_CHUNK)
            if not more:
                raise ImageError("layer is not a valid gzip stream: it ends too early", hint=_BAD_GZIP)
            buf += more
        return buf

    def _skip_header(self, buf: bytes) -> bytes:
        """Read past one member's header (RFC 1952, 2.3); return the input after it."""
        buf = self._more(buf, 10)
        flags, pos = buf[3], 10
        if buf[:3] != b"\x1f\x8b\x08" or flags & 0xE0:
            raise ImageError("layer is not a valid gzip stream: a bad member header", hint=_BAD_GZIP)
        if flags & 4:                               # FEXTRA: 2-byte length, then that many bytes
            buf = self._more(buf, pos + 2)
            pos += 2 + int.from_bytes(buf[pos:pos + 2], "little")
        for flag in (8, 16):                        # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                while buf.find(b"\0", pos) < 0:
                    if len(buf) > _MAX_GZIP_HEADER:   # zlib would stream past it; we hold it in memory
                        raise ImageError("layer is not a valid gzip stream: a member header longer than "
                                         f"{_MAX_GZIP_HEADER >> 20} MB (a file name without its end?)",
                                         hint=_BAD_GZIP)
                    buf = self._more(buf, len(buf) + 1)
                pos = buf.index(b"\0", pos) + 1
        if flags & 2:                               # FHCRC: 2 bytes
            pos += 2
        return self._more(buf, pos)[pos:]

    def _trailer(self, rest: bytes) -> bytes:
        """Check the ISIZE of the trailer at the start of `rest`; return what follows it."""
        rest = self._more(rest, 8)
        if int.from_bytes(rest[4:8], "little") != self._out & 0xFFFFFFFF:
            raise ImageError("layer is not a valid gzip stream: its length does not match its trailer",
                             hint=_BAD_GZIP)
        self._out = 0
        return rest[8:]

    def readinto(self, b) -> int:  # type: ignore[override]
        if not len(b):
            return 0              # (max_length=0 would mean "no limit" to zlib)
        try:
            while not self._done:
                if self._z.eof:                   # one member ended: another, padding, or the end
                    rest = self._z.unused_data
                    if self._raw:
                        rest = self._trailer(rest)
                    rest = rest.lstrip(b"\0")
                    while not rest:
                        more = self._f.read(_COPY_CHUNK)
                        if not more:
                            self._done = True
                            return 0
                        rest = more.lstrip(b"\0")
                    if self._raw:
                        rest = self._skip_header(rest)
                    self._z, self._in = zlib.decompressobj(-15 if self._raw else 31), rest
                if not self._in:
                    self._in = self._f.read(_COPY_CHUNK)
                    if not self._in:
                        raise ImageError("layer is not a valid gzip stream: it ends too early", hint=_BAD_GZIP)
                out = self._z.decompress(self._in, len(b))   # at most len(b) bytes out
                self._in = self._z.unconsumed_tail
                if out:
                    self._out += len(out)
                    b[:len(out)] = out
                    return len(out)
        except zlib.error as e:
            raise ImageError(f"layer is not a valid gzip stream: {e}", hint=_BAD_GZIP) from None
        return 0


def extract_layer(src: "BinaryIO | tarfile.TarFile", root: str, *,
                  whiteouts: str = "overlay") -> ExtractResult:
    """Extract the tar stream `src` into the directory `root`, safely (rules above).

    Shell equivalent: `tar -xpf LAYER --xattrs --numeric-owner -C ROOT`, plus
    `mknod ROOT/NAME c 0 0` for each .wh.NAME. `src` is a plain tar stream (see
    decompressed()), read with our own TarReader (tarstream.py), or an open
    TarFile (for compressed archives a Dockerfile ADDs). On error the caller
    removes `root`: we raise before writing the bad entry, but earlier entries
    are on disk.
    """
    if whiteouts not in ("overlay", "keep"):
        raise ValueError(f"whiteouts must be 'overlay' or 'keep', not {whiteouts!r}")
    root = os.path.abspath(root)
    # a comment line only: the caller already showed the `tar -x` (with where the tar comes from)
    step("extract", f"extract_layer(-> {root}): tar -xpf - --xattrs --numeric-owner -C {root}")
    x = _Extraction(root, whiteouts)
    # tarfile is not imported here (its import costs ~4 ms, with shutil's ~12 ms):
    # a caller that passes a TarFile has imported it already.
    tarfile = sys.modules.get("tarfile")
    is_tarfile = tarfile is not None and isinstance(src, tarfile.TarFile)
    source = _TarFileSource(src) if is_tarfile else TarReader(src)
    try:
        for m in source:
            x.res.entries += 1
            try:
                x.one(source, m)
            except OSError as e:     # name the entry, not just the errno
                raise ImageError(f"cannot extract tar entry {m.name!r}: {e.strerror or e}",
                                 hint="whiteouts and ownership need root" if e.errno == 1 else
                                 "check free space and permissions of the target") from None
    except Exception as e:
        if not (is_tarfile and isinstance(e, tarfile.TarError)):
            raise
        raise ImageError(f"layer is not a valid tar archive: {e}",
                         hint="check the file; a truncated download looks like this") from None
    finally:
        source.close()
    x.finish_dirs()
    return x.res


class _TarFileSource:
    """An open tarfile.TarFile as a source: same interface as TarReader."""

    def __init__(self, tar):
        self.tar, self._data = tar, None

    def __iter__(self):
        for m in self.tar:
            self._data = self.tar.extractfile(m) if m.isreg() else None
            yield m

    def read(self, n: int) -> bytes:
        return self._data.read(n) if self._data else b""

    def close(self) -> None:
        pass


class _Extraction:
    """The state of one extract_layer() call.

    `known` is the speed trick that matters most: rel dir -> host path of the
    parent directories already resolved (each component lstat()ed or created
    by us, so a real directory inside root). A layer has thousands of files in
    a few hundred directories; without it every file pays one lstat per
    component of its path. Why the cache cannot be fooled: a cached path stops
    being right only if one of its components is replaced (by a symlink, say),
    and the only thing that replaces anything here is _replace(), which empties
    the whole cache. Creating a *new* name cannot change an existing path.

    `setgid` (root only) holds the cached directories that have the setgid bit:
    a file created in one of those gets the directory's group, anywhere else
    our own (egid). So for a file owned by uid:gid = our euid:egid (0:0, most
    files of an image) in a directory not in the set, fchown() would change
    nothing, and is skipped. The set is filled when a directory is cached (one
    lstat each) and emptied with the cache.
    """

    def __init__(self, root: str, whiteouts: str):
        self.root, self.whiteouts = root, whiteouts
        self.res = ExtractResult()
        self.dirs: list[tuple[str, object]] = []   # (rel, entry): mode+mtime set at the end
        self.known: dict[str, str] = {"": root}
        self.as_root = os.geteuid() == 0            # asked once, not once per file
        self.ids = (os.geteuid(), os.getegid())     # the owner a new file gets (see setgid)
        self.setgid: set[str] = set()
        try:
            self._note_setgid(root)
        except OSError:
            pass      # no root: the first entry fails with a proper ImageError
        self.explain = _explaining()
        self.creatable = 0o777 & ~_umask()          # the mode bits open(2) keeps as given

    # --- paths -------------------------------------------------------------------

    def parent(self, rel: str, entry: str, create: bool = True) -> str:
        """Host path of the directory holding `rel` (resolved by _walk, then cached)."""
        d = rel.rpartition("/")[0]
        path = self.known.get(d)
        if path is None:
            path = _walk(self.root, d.split("/"), entry, create)
            self.known[d] = path
            self._note_setgid(path)
        return path

    def _note_setgid(self, path: str) -> None:
        if self.as_root and os.lstat(path).st_mode & stat.S_ISGID:
            self.setgid.add(path)

    def resolve(self, rel: str, entry: str, create: bool = True) -> str:
        return os.path.join(self.parent(rel, entry, create), rel.rpartition("/")[2])

    def _replace(self, path: str) -> None:
        """Remove whatever is at `path` (see _remove); forget every cached directory."""
        if _remove(path):
            self.known = {"": self.root}
            self.setgid = {self.root} & self.setgid

    # --- entries -----------------------------------------------------------------

    def one(self, source, m) -> None:
        """Extract one tar member `m` (its data read from `source`), by type: the
        checks of the module docstring, then mkdir / open+write / symlink / link /
        mknod (whiteouts only), chown, chmod and utimes, as `tar -xp` would."""
        rel = _clean_name(m.name)
        if not rel:
            return  # "./": the root's own attributes are not ours to change (see top)
        base = rel.rpartition("/")[2]
        if self.whiteouts == "overlay" and base.startswith(WHITEOUT_PREFIX):
            self.whiteout(rel, base, m)
            return
        parent = self.parent(rel, m.name)
        path = os.path.join(parent, base)
        if m.isreg():
            self.file(source, m, path, parent)
        elif m.isdir():
            self.directory(rel, m, path)
        elif m.issym():
            step("extract", f"symlink({m.linkname}, {path})", f"ln -s {m.linkname} {path}")
            try:
                os.symlink(m.linkname, path)
            except FileExistsError:   # replace semantics; cheaper than an lstat before every entry
                self._replace(path)
                os.symlink(m.linkname, path)
            self.owner(path, m)
            _set_xattrs(path, m, self.res)
            _set_times(path, m, follow=False)
        elif m.islnk():
            self._replace(path)
            target = _clean_name(m.linkname)
            if not target:
                raise ImageError(f"tar entry {m.name!r} is a hardlink to the root directory")
            src = self.resolve(target, m.name, create=False)
            if not os.path.lexists(src) or (os.path.isdir(src) and not os.path.islink(src)):
                raise ImageError(f"tar entry {m.name!r} is a hardlink to {m.linkname!r}, "
                                 "which is not a file inside the layer",
                                 hint="hardlinks may only point at earlier entries of the same tar")
            step("extract", f"link({src}, {path})", f"ln {src} {path}")
            os.link(src, path, follow_symlinks=False)
        elif m.ischr() and m.devmajor == 0 and m.devminor == 0:
            self._replace(path)
            self.mknod_whiteout(path, m)     # an overlay whiteout written as-is
            self.res.whiteouts += 1
        elif m.ischr() or m.isblk():
            self._replace(path)
            self.res.skipped.append(f"{rel} (device {m.devmajor}:{m.devminor}, not created: see policy)")
            step("extract", f"skip device node {path}", f"# not created: mknod {path} ...")
        elif m.isfifo():
            self._replace(path)
            step("extract", f"mkfifo({path})", f"mkfifo {path}")
            os.mkfifo(path, 0o600)
            self.owner(path, m)
            os.chmod(path, stat.S_IMODE(m.mode))
            _set_times(path, m, follow=False)
        else:
            self._replace(path)
            self.res.skipped.append(f"{rel} (tar type {m.type!r} ignored)")

    def directory(self, rel: str, m, path: str) -> None:
        """mkdir(2) `path` (mode 0700 until the end), or keep the directory already
        there; then chown and xattrs. Shell: mkdir -m 700 PATH; chown UID:GID PATH."""
        try:
            step("extract", f"mkdir({path})", f"mkdir {path}")
            os.mkdir(path, 0o700)  # real mode set at the end, after children exist
        except FileExistsError:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):      # a file or symlink is in the way: replace it
                self._replace(path)
                os.mkdir(path, 0o700)
        self.known[rel] = path     # a real directory, just made or just lstat()ed
        self._note_setgid(path)    # (a new one inherits the bit from its parent)
        self.owner(path, m)
        _set_xattrs(path, m, self.res)
        self.dirs.append((rel, m))

    def file(self, source, m, path: str, parent: str) -> None:
        """open(O_CREAT|O_EXCL|O_NOFOLLOW), write(2), [fchown, fchmod,] futimens, close;
        shell: `install -m MODE -o UID -g GID /dev/stdin PATH` then `touch -d @MTIME PATH`.
        This runs once per file of the layer, so it is written for speed (see the comments)."""
        mode = m.mode & 0o7777
        # fchown only when it changes something (see setgid); and when it does not run,
        # a mode that open()'s umask leaves whole is given at creation: no fchmod either
        # (tar, as root, opens with the owner bits only and fchmods every file)
        chown = self.as_root and ((m.uid, m.gid) != self.ids or parent in self.setgid)
        direct = not chown and not mode & ~self.creatable
        if self.explain:   # only then build the two strings (~1 us a file otherwise wasted)
            step("extract", f"open({path}, O_CREAT|O_EXCL|O_NOFOLLOW) + write {m.size} bytes",
                 f"install -m {mode:o} -o {m.uid} -g {m.gid} /dev/stdin {path}")
        # O_EXCL|O_NOFOLLOW: never opens an existing file or follows a symlink
        # planted at this name; EEXIST is how we learn something is in the way
        # (cheaper than an lstat() before every file, and no race).
        try:
            fd = os.open(path, _CREATE, mode if direct else 0o600)
        except FileExistsError:
            self._replace(path)
            fd = os.open(path, _CREATE, mode if direct else 0o600)
        try:
            left = m.size
            while left:      # a small file is one read and one write(2); big ones 64 kB at a time
                chunk = source.read(left if left < _COPY_CHUNK else _COPY_CHUNK)
                if not chunk:
                    raise ImageError(f"tar entry {m.name!r}: the archive ends inside its data",
                                     hint="check the file; a truncated download looks like this")
                n = os.write(fd, chunk)
                if n != len(chunk):           # a regular file takes it all at once; if not, the rest
                    _write_all(fd, chunk[n:])
                left -= len(chunk)
            if not direct:
                if chown:
                    os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, mode)  # after chown: chown clears setuid/setgid
            if m.pax_headers:
                _set_xattrs(fd, m, self.res)
                _set_times(fd, m, follow=True)
            elif type(m.mtime) is int:    # the usual case, inlined: whole seconds, no PAX atime
                ns = m.mtime * 1_000_000_000
                os.utime(fd, ns=(ns, ns))
            else:
                _set_times(fd, m, follow=True)
        finally:
            os.close(fd)
        self.res.size += m.size

    def whiteout(self, rel: str, base: str, m) -> None:
        """AUFS ".wh." entry -> overlay whiteout (0:0 char device) or opaque xattr."""
        parent = self.parent(rel, m.name)
        if base == OPAQUE_MARKER:
            step("extract", f"setxattr({parent}, {OPAQUE_XATTR}, y)",
                 f"setfattr -n {OPAQUE_XATTR} -v y {parent}")
            os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            self.res.opaque_dirs += 1
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            self.res.skipped.append(f"{rel} (AUFS metadata)")
            return
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise ImageError(f"tar entry {m.name!r} is a whiteout of an impossible name")
        path = os.path.join(parent, name)
        self._replace(path)
        self.mknod_whiteout(path, m)
        self.res.whiteouts += 1

    def mknod_whiteout(self, path: str, m) -> None:
        """mknod(path, S_IFCHR, makedev(0, 0)): how overlayfs marks a deleted file."""
        step("extract", f"mknod({path}, S_IFCHR, 0:0)", f"mknod {path} c 0 0   # whiteout")
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        self.owner(path, m)

    def owner(self, path: str, m) -> None:
        if self.as_root:  # only root may give files away; others keep their own
            os.chown(path, m.uid, m.gid, follow_symlinks=False)

    def finish_dirs(self) -> None:
        """Directories' mode and mtime, deepest first, so a parent's mtime is the last touch.

        Paths are resolved again with the same rules: a later entry may have
        replaced a directory by a symlink, which we must not follow now.
        """
        for rel, m in reversed(self.dirs):
            try:
                path = self.resolve(rel, m.name, create=False)
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except (ImageError, OSError):
                continue  # no longer a directory inside root: nothing to finish
            try:
                os.fchmod(fd, stat.S_IMODE(m.mode))
                _set_times(fd, m, follow=True)
            finally:
                os.close(fd)


# --- names and paths -------------------------------------------------------------

def _clean_name(name: str) -> str:
    """"./usr/bin/" -> "usr/bin"; refuse absolute names and ".." components."""
    if name.startswith("./"):
        name = name[2:]
    # The common case, decided without splitting: nothing to clean and nothing to
    # refuse can hide in a name without "..", "//", "./" or a leading "/".
    if ".." not in name and "//" not in name and "./" not in name and not name.startswith("/") \
            and name not in (".", "") and not name.endswith("/."):
        return name.rstrip("/")
    if name.startswith("/"):
        raise ImageError(f"tar entry {name!r} has an absolute path, which would escape the root",
                         hint="layer entries must be relative, like 'etc/passwd'")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"tar entry {name!r} contains '..', which could escape the root",
                         hint="this tarball is broken or malicious; do not use it")
    return "/".join(parts)


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


def _umask() -> int:
    """The process's umask, read from /proc/self/status ("Umask:\t0022", Linux 4.7+).
    Not os.umask(), which can only read it by changing it: another thread creating a
    file in between would get the wrong mode. Unknown: 0o777, so every file is fchmod()ed."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` (the bytes a short write(2) left are sent again)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _remove(path: str) -> bool:
    """Replace semantics: whatever is at `path` goes (never following a symlink).
    Returns whether something was there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        import shutil            # rare (a directory replaced): not worth its import for every layer
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return True


# --- attributes ------------------------------------------------------------------

def _set_times(target: str | int, m, follow: bool) -> None:
    """utimensat(2) / futimens(2): `touch -h -d @MTIME` (atime from PAX if present)."""
    mtime = _ns(m.mtime, 0)
    atime = _ns(m.pax_headers.get("atime"), mtime) if m.pax_headers else mtime
    try:
        if isinstance(target, int):
            os.utime(target, ns=(atime, mtime))
        else:
            os.utime(target, ns=(atime, mtime), follow_symlinks=follow)
    except OverflowError:
        raise ImageError(f"tar entry {m.name!r} has a modification time out of range",
                         hint="this tarball is broken") from None


def _ns(value, default: int) -> int:
    """Seconds -> nanoseconds: an int, a float (tarfile), or a PAX string like
    "1600000000.123456789", which is converted exactly (a float would round it)."""
    if isinstance(value, int):
        return value * 1_000_000_000
    try:
        if isinstance(value, str):
            whole, _, frac = value.strip().partition(".")
            sign = -1 if whole.startswith("-") else 1
            frac = (frac + "000000000")[:9] if frac else "0"
            if not frac.isdigit():
                raise ValueError(value)
            return int(whole) * 1_000_000_000 + sign * int(frac)
        return int(float(value) * 1e9)
    except (TypeError, ValueError, OverflowError):
        return default                    # tarfile's rule for a bad PAX number: ignore it


def _set_xattrs(target: str | int, m, res: ExtractResult) -> None:
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
