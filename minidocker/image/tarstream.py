"""Reading a tar stream by hand: what `tar -t` does, in one small class.

Map of this file:
  Entry          one member: name, type, mode, uid, gid, size, mtime, linkname,
                 devmajor, devminor, pax_headers (same attribute names as tarfile.TarInfo)
  TarReader(f)   iterate the Entries of a plain (uncompressed) tar stream;
                 .read(n) returns the current entry's data, at most `size` bytes
  _parse_pax()   "LEN KEY=VALUE\n" records
  _numbers()     the six numbers of a header, fast; _num() for the odd spellings
                 (GNU base-256, empty fields)

Why not the standard library's tarfile? It is correct but slow for layers of
many small files: ~25 us of Python per member (header checks, a TarInfo with
~20 attributes, a file object per member). Extraction is a loop over tens of
thousands of members, so that cost adds up to most of our CPU time. This
reader does only what a layer needs, and refuses the rest with an ImageError.

The format (POSIX ustar, plus the PAX and GNU extensions docker images use):
  a stream of 512-byte blocks; each member is one header block, then its data
  padded with zeros to a multiple of 512; two zero blocks end the archive.
  header:  name[0:100] mode[100:108] uid[108:116] gid[116:124] size[124:136]
           mtime[136:148] chksum[148:156] typeflag[156] linkname[157:257]
           magic[257:263] version[263:265] uname gname devmajor[329:337]
           devminor[337:345] prefix[345:500]   (numbers in octal ASCII)
  typeflag "x": a PAX header, "KEY=VALUE" records for the next member
               (long names, big sizes, xattrs as SCHILY.xattr.NAME);
           "g": global PAX records for all following members;
           "L" / "K": GNU long name / long link name for the next member.
Everything that is not a valid header raises ImageError (tarfile would stop
silently at a bad header in the middle; a truncated layer must not look whole).
"""
from __future__ import annotations

import io
import struct
import zlib

TYPE_CHECKING = False   # importing typing costs ~13 ms here; type checkers read this
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

from ..errors import ImageError

__all__ = ["Entry", "TarReader"]

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_POSIX_MAGIC = b"ustar\x0000"     # POSIX ustar: the prefix field extends the name
_READ_BUFFER = 64 << 10           # read the stream in 64 kB gulps (why not more: tarsafe._COPY_CHUNK)
_MAX_META = 1 << 20               # a PAX header or GNU long name larger than this is refused

REGULAR = (b"0", b"\0", b"7")     # "7" is "contiguous file": a regular file everywhere
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")   # links, devices, dirs, fifos
_META = (b"x", b"g", b"L", b"K")  # headers about the next member(s), not members
_FIELDS = struct.Struct("100x8s8s8s12s12s8s")     # mode uid gid size mtime chksum
_HINT = "check the file; a truncated or corrupt download looks like this"


class Entry:
    """One tar member; attribute names match tarfile.TarInfo so code can take either.
    (mtime is an int, or the exact PAX text like "1600000000.123456789".)"""
    __slots__ = ("name", "type", "mode", "uid", "gid", "size", "mtime", "linkname",
                 "devmajor", "devminor", "pax_headers")

    def isreg(self) -> bool:
        return self.type in REGULAR

    def isdir(self) -> bool:
        return self.type == b"5"

    def issym(self) -> bool:
        return self.type == b"2"

    def islnk(self) -> bool:
        return self.type == b"1"

    def ischr(self) -> bool:
        return self.type == b"3"

    def isblk(self) -> bool:
        return self.type == b"4"

    def isfifo(self) -> bool:
        return self.type == b"6"


class TarReader:
    """`for entry in TarReader(f): data = reader.read(entry.size)`.

    Data not read by the caller is skipped before the next header. The reader
    wraps `f` in a 64 kB io.BufferedReader (8x fewer read(2) calls than open()'s
    8 kB buffer). close() detaches it and leaves `f` open; the buffer may have
    read ahead past the end of the archive, but every byte it took still went
    through `f`, so a hashing reader underneath (the store's) sees the whole
    stream once the caller drains `f`.
    """

    def __init__(self, f: BinaryIO):
        self._own = True
        self._f = io.BufferedReader(f, _READ_BUFFER)  # type: ignore[arg-type]
        self._left = 0      # unread data bytes of the current entry
        self._pad = 0       # zero padding after them
        self._global: dict[str, str] = {}

    def close(self) -> None:
        if self._own:
            self._f.detach()   # not close(): the caller's stream stays usable (drain, hash)
            self._own = False

    def read(self, n: int) -> bytes:
        """Up to n bytes of the current entry's data (b"" at its end); a short stream raises."""
        n = min(n, self._left)
        data = self._f.read(n) if n else b""
        if len(data) < n:
            raise ImageError(f"layer is not a valid tar archive: the stream ends inside a member "
                             f"({self._left - len(data)} bytes missing)", hint=_HINT)
        self._left -= n
        return data

    def _skip(self) -> None:
        n, self._left, self._pad = self._left + self._pad, 0, 0
        while n > 0:
            got = self._f.read(min(n, _READ_BUFFER))
            if not got:
                raise ImageError("layer is not a valid tar archive: the stream ends inside a member",
                                 hint=_HINT)
            n -= len(got)

    def _take(self, size: int) -> bytes:
        """The data of a metadata member (PAX record, GNU long name)."""
        if size > _MAX_META:
            raise ImageError(f"layer is not a valid tar archive: a {size}-byte tar metadata header",
                             hint=_HINT)
        self._left, self._pad = size, -size % BLOCK
        data = self.read(size)
        self._skip()
        return data

    def __iter__(self) -> Iterator[Entry]:
        first = True
        pax: dict[str, str] = {}
        long_name = long_link = None
        read = self._f.read
        while True:
            if self._left or self._pad:
                self._skip()
            hdr = read(BLOCK)
            if len(hdr) < BLOCK:
                if not hdr and not first:
                    return      # no end-of-archive blocks: accepted, as GNU tar and Go do
                raise ImageError("layer is not a valid tar archive: "
                                 + ("it is empty" if not hdr else "it ends inside a header"), hint=_HINT)
            first = False
            if hdr == _ZERO_BLOCK:
                return          # end of archive (the rest is padding; the caller drains it)
            mode, uid, gid, size, mtime, chksum = _numbers(hdr)
            if chksum != _byte_sum(hdr) - sum(hdr[148:156]) + 8 * 32:   # the field counts as 8 spaces
                _check_signed_sum(hdr, chksum)
            if size < 0:
                raise ImageError("layer is not a valid tar archive: a negative size", hint=_HINT)
            typ = hdr[156:157]
            if typ in _META:
                data = self._take(size)
                if typ == b"x":
                    pax.update(_parse_pax(data))
                elif typ == b"g":
                    self._global.update(_parse_pax(data))
                elif typ == b"L":
                    long_name = _text(data.partition(b"\0")[0])
                else:
                    long_link = _text(data.partition(b"\0")[0])
                continue
            if typ == b"S" or (pax and any(k.startswith("GNU.sparse.") for k in pax)):
                raise ImageError("layer contains a GNU sparse file, which minidocker does not unpack",
                                 hint="re-create the layer without --sparse")
            e = Entry()
            if long_name is not None:
                e.name = long_name
            else:
                e.name = _text(hdr[:100].partition(b"\0")[0])
                if hdr[345] and hdr[257:265] == _POSIX_MAGIC:      # ustar: prefix "/" name
                    e.name = _text(hdr[345:500].partition(b"\0")[0]) + "/" + e.name
            if long_link is not None:
                e.linkname = long_link
            else:
                e.linkname = _text(hdr[157:257].partition(b"\0")[0]) if hdr[157] else ""
            e.type = b"5" if typ == b"\0" and e.name.endswith("/") else typ  # old-style dir
            e.mode, e.uid, e.gid, e.mtime, e.size = mode, uid, gid, mtime, size
            if typ in (b"3", b"4"):
                e.devmajor, e.devminor = _num(hdr[329:337]), _num(hdr[337:345])
            else:
                e.devmajor = e.devminor = 0
            if pax or self._global:
                e.pax_headers = {**self._global, **pax}
                _apply_pax(e, e.pax_headers)
                pax = {}        # a new dict: the entry keeps its own records
            else:
                e.pax_headers = {}
            long_name = long_link = None
            # symlinks, hardlinks, directories... carry no data, whatever the header says
            # (tarfile's rule too); only regular files and unknown types are followed by data
            data_size = 0 if e.type in _NO_DATA else e.size
            self._left, self._pad = data_size, -data_size % BLOCK
            yield e


def _apply_pax(e: Entry, pax: dict[str, str]) -> None:
    try:
        if "path" in pax:
            e.name = pax["path"]
        if "linkpath" in pax:
            e.linkname = pax["linkpath"]
        if "size" in pax:
            e.size = int(pax["size"])
        if "uid" in pax:
            e.uid = int(pax["uid"])
        if "gid" in pax:
            e.gid = int(pax["gid"])
        if "mtime" in pax:
            float(pax["mtime"])        # checked here; kept as text: tarsafe converts it exactly
            e.mtime = pax["mtime"]
    except ValueError:
        raise ImageError("layer is not a valid tar archive: a PAX header has a bad number",
                         hint=_HINT) from None
    if e.size < 0:
        raise ImageError("layer is not a valid tar archive: a negative size", hint=_HINT)


def _parse_pax(data: bytes) -> dict[str, str]:
    """b"30 mtime=1600000000.123456789\\n..." -> {"mtime": "1600000000.123456789", ...}."""
    out, pos = {}, 0
    try:
        while pos < len(data) and data[pos] != 0:
            sp = data.index(b" ", pos)
            length = int(data[pos:sp])
            end = pos + length
            if length <= 0 or end > len(data) or data[end - 1] != 0x0A:
                raise ValueError("bad record length")
            key, eq, value = data[sp + 1:end - 1].partition(b"=")
            if not eq:
                raise ValueError("record without '='")
            out[key.decode("utf-8")] = _text(value)
            pos = end
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"layer is not a valid tar archive: bad PAX header ({e})", hint=_HINT) from None
    return out


def _text(b: bytes) -> str:
    # surrogateescape: bytes that are not UTF-8 survive the round trip to the file system
    return b.decode("utf-8", "surrogateescape")


def _numbers(hdr: bytes) -> list[int]:
    """mode, uid, gid, size, mtime, checksum: the six numbers every header has."""
    mode, uid, gid, size, mtime, chksum = fields = _FIELDS.unpack_from(hdr)
    try:
        # The usual spellings ("0000644\0", "00000001750 ", checksum "006730\0 "):
        # int() reads them once the trailing NULs and spaces are gone. Two C calls
        # per field (unrolled: this runs once per file) instead of _num()'s several.
        return [int(mode.rstrip(b"\0 "), 8), int(uid.rstrip(b"\0 "), 8), int(gid.rstrip(b"\0 "), 8),
                int(size.rstrip(b"\0 "), 8), int(mtime.rstrip(b"\0 "), 8), int(chksum.rstrip(b"\0 "), 8)]
    except ValueError:   # base-256, an empty field, text after a NUL: the careful way
        return [_num(f) for f in fields]


def _num(field: bytes) -> int:
    """Octal ASCII ("0000755\0"), or GNU base-256 when the first byte is 0x80 or 0xFF."""
    if field[0] in (0x80, 0xFF):      # big-endian binary; 0xFF marks a negative number
        n = int.from_bytes(field[1:], "big")
        return n - (1 << (8 * (len(field) - 1))) if field[0] == 0xFF else n
    digits = field.partition(b"\0")[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise ImageError(f"layer is not a valid tar archive: {digits[:12]!r} is not an octal number",
                         hint=_HINT) from None


def _byte_sum(hdr: bytes) -> int:
    """The sum of a header's 512 bytes, which the tar checksum is.

    sum(hdr) walks the bytes one Python int at a time (~2.5 us a header, 10% of
    extracting a small file). Adler-32, computed by zlib in C, starts with
    A = 1 + (the byte sum modulo 65521); an ASCII header sums to at most
    512 * 127 = 65024, below the modulus, so A - 1 is the exact sum.
    """
    if hdr.isascii():
        return (zlib.adler32(hdr) & 0xFFFF) - 1
    return sum(hdr)


def _check_signed_sum(hdr: bytes, want: int) -> None:
    """Some old tars summed the header as signed chars; accept that too, as GNU tar does."""
    unsigned = sum(hdr) - sum(hdr[148:156]) + 8 * 32
    if want == unsigned - 256 * sum(1 for b in hdr[:148] + hdr[156:] if b >= 0x80):
        return
    raise ImageError("layer is not a valid tar archive: a header checksum is wrong", hint=_HINT)
