"""The hand-written tar reader (tarstream.py) and extract_layer's speed tricks:
same result as GNU tar, stricter on broken archives, and the parent-directory
cache never lets a later entry write through a directory replaced by a symlink."""
import gzip
import hashlib
import io
import os
import shutil
import stat
import struct
import subprocess
import tarfile
import zlib

import pytest

from minidocker.errors import ImageError
from minidocker.image import tarsafe
from minidocker.image.tarstream import TarReader

from .test_tarsafe import assert_host_untouched, box, make_tar, snapshot  # noqa: F401  (fixture)

ROOT = os.geteuid() == 0
GNU_TAR = shutil.which("tar")


def listing(d) -> list[str]:
    """Every entry with type, mode, owner, size, link target, link count, mtime (ns)."""
    out = []
    for dirpath, dirs, files in os.walk(d):
        for n in sorted(dirs + files):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            mtime = "" if stat.S_ISDIR(st.st_mode) and n.startswith("implicit") else st.st_mtime_ns
            out.append(f"{os.path.relpath(p, d)} {st.st_mode:o} {st.st_uid}:{st.st_gid} "
                       f"{st.st_size if not stat.S_ISDIR(st.st_mode) else '-'} {link} {st.st_nlink} {mtime}")
    return sorted(out)


@pytest.mark.skipif(GNU_TAR is None, reason="needs GNU tar")
@pytest.mark.parametrize("fmt", ["pax", "gnu", "ustar"])
def test_same_tree_as_gnu_tar(tmp_path, fmt):
    src = tmp_path / "src"
    (src / "usr/bin").mkdir(parents=True)
    (src / "usr/bin/su").write_bytes(b"\x7fELF" + os.urandom(3000))
    os.chmod(src / "usr/bin/su", 0o4755)
    os.link(src / "usr/bin/su", src / "usr/bin/su-again")
    (src / "usr/lib").symlink_to("bin")
    deep = src / ("d" * 60) / ("e" * 60)            # > 100 chars: a long name in every format
    deep.mkdir(parents=True)
    (deep / ("f" * 90)).write_bytes(b"long")
    (src / "big").write_bytes(os.urandom(3 << 20))  # bigger than one 1 MB read
    (src / "empty").write_bytes(b"")
    os.chmod(src / "usr", 0o750)
    for p in (src / "usr/bin/su", src / "big", src / "usr"):
        os.utime(p, ns=(1_500_000_000_123_456_789, 1_600_000_000_987_654_321))
    tar = tmp_path / "l.tar"
    subprocess.run([GNU_TAR, f"--format={fmt}", "-cf", str(tar), "-C", str(src), "."], check=True)
    a, b = tmp_path / "gnu", tmp_path / "ours"
    a.mkdir()
    b.mkdir()
    subprocess.run([GNU_TAR, "-xpf", str(tar), "--numeric-owner", "-C", str(a)], check=True)
    with open(tar, "rb") as f:
        res = tarsafe.extract_layer(f, str(b))
    assert listing(a) == listing(b)
    assert res.size == 3004 + 4 + (3 << 20)      # su, the long name, big (the hardlink has no data)
    if fmt == "pax":     # PAX keeps nanoseconds; we set them exactly (no float rounding)
        assert os.stat(b / "big").st_mtime_ns == 1_600_000_000_987_654_321


@pytest.mark.skipif(not ROOT, reason="giving files away needs root")
def test_big_uid_in_base256(tmp_path):
    """GNU format writes ids above 2097151 (7 octal digits) as base-256 binary."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo("f")
        ti.uid, ti.gid, ti.size = 3_000_000, 100_000, 1
        t.addfile(ti, io.BytesIO(b"x"))
    assert b"\x80" in buf.getvalue()[108:116]
    buf.seek(0)
    tarsafe.extract_layer(buf, str(tmp_path))
    st = os.stat(tmp_path / "f")
    assert (st.st_uid, st.st_gid) == (3_000_000, 100_000)


def _plain_tar(entries) -> bytes:
    return make_tar(entries).getvalue()


@pytest.mark.parametrize("cut", [
    lambda b: b[:512 + 100],          # inside the data of the first file
    lambda b: b[:2048 + 200],         # inside the second header
])
def test_truncated_archive_is_refused(tmp_path, cut):
    data = _plain_tar([("a", "file", {"data": b"A" * 1000}), ("b", "file", {"data": b"B" * 10})])
    with pytest.raises(ImageError) as e:
        tarsafe.extract_layer(io.BytesIO(cut(data)), str(tmp_path))
    assert "not a valid tar archive" in str(e.value) or "ends inside" in str(e.value)
    assert e.value.hint


def test_bad_checksum_in_the_middle_is_refused(tmp_path):
    """tarfile would stop quietly here and report a shorter archive as whole."""
    data = bytearray(_plain_tar([("a", "file", {"data": b"A"}), ("b", "file", {"data": b"B"})]))
    second = 1024          # header of "a" + one data block
    assert data[second:second + 1] == b"b"
    data[second + 1] = ord("X")      # the name changes, the checksum does not
    with pytest.raises(ImageError, match="checksum"):
        tarsafe.extract_layer(io.BytesIO(bytes(data)), str(tmp_path))


def test_empty_archive_is_fine_empty_stream_is_not(tmp_path):
    assert tarsafe.extract_layer(io.BytesIO(bytes(1024)), str(tmp_path)).entries == 0
    with pytest.raises(ImageError, match="empty"):
        tarsafe.extract_layer(io.BytesIO(b""), str(tmp_path))


@pytest.mark.skipif(GNU_TAR is None, reason="needs GNU tar")
def test_sparse_files_are_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "holes", "wb") as f:
        f.truncate(1 << 20)
        f.seek(4096)
        f.write(b"data")
    tar = tmp_path / "s.tar"
    subprocess.run([GNU_TAR, "--format=gnu", "--sparse", "-cf", str(tar), "-C", str(src), "holes"], check=True)
    out = tmp_path / "out"
    out.mkdir()
    with open(tar, "rb") as f, pytest.raises(ImageError, match="sparse"):
        tarsafe.extract_layer(f, str(out))


def test_pax_long_names_and_global_headers(tmp_path):
    name = "x/" + "n" * 200
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        g = tarfile.TarInfo("global")     # a 'g' header: applies to every later member
        g.type = tarfile.XGLTYPE
        g.pax_headers = {"comment": "hello"}
        t.addfile(g)
        ti = tarfile.TarInfo(name)
        ti.size = 2
        t.addfile(ti, io.BytesIO(b"ok"))
    buf.seek(0)
    res = tarsafe.extract_layer(buf, str(tmp_path))
    assert (tmp_path / name).read_bytes() == b"ok"
    assert res.entries == 1


def test_cached_parent_is_forgotten_when_replaced_by_an_escaping_symlink(box):  # noqa: F811
    """a/ is resolved (and cached) for a/one; then a is replaced by a symlink to
    the host: a/two must be refused, not written through the cached path."""
    host, target = box
    before = snapshot(host)
    with pytest.raises(ImageError, match="absolute symlink"):
        tarsafe.extract_layer(make_tar([("a/one", "file", {"data": b"1"}),
                                        ("a", "sym", {"to": str(host / "etc")}),
                                        ("a/two", "file", {"data": b"pwned"})]), str(target))
    assert not (host / "etc/two").exists()
    assert_host_untouched(host, target, before)


def test_cached_parent_follows_a_replacement_inside_root(box):  # noqa: F811
    host, target = box
    tarsafe.extract_layer(make_tar([("a/one", "file", {"data": b"1"}),
                                    ("b", "dir", {"mode": 0o755}),
                                    ("a", "sym", {"to": "b"}),
                                    ("a/two", "file", {"data": b"2"}),
                                    ("c/x", "file", {"data": b"x"}),
                                    ("c", "file", {"data": b"c"})]), str(target))
    assert (target / "b/two").read_bytes() == b"2"
    assert os.readlink(target / "a") == "b"
    assert (target / "c").read_bytes() == b"c"       # the dir c/ was replaced by a file
    with pytest.raises(ImageError, match="not a directory"):
        tarsafe.extract_layer(make_tar([("d/x", "file", {}), ("d", "file", {}), ("d/y", "file", {})]),
                              str(target))


def test_existing_file_and_symlink_are_replaced(box):  # noqa: F811
    host, target = box
    (target / "f").write_text("old")
    (target / "l").symlink_to(host / "etc/passwd")
    (target / "d").symlink_to(host / "etc")
    before = snapshot(host)
    tarsafe.extract_layer(make_tar([("f", "file", {"data": b"new"}), ("l", "file", {"data": b"mine"}),
                                    ("d", "dir", {"mode": 0o755}), ("d/x", "file", {"data": b"in"})]),
                          str(target))
    assert (target / "f").read_text() == "new"
    assert (target / "l").read_text() == "mine" and not (target / "l").is_symlink()
    assert (target / "d").is_dir() and not (target / "d").is_symlink()
    assert_host_untouched(host, target, before)


def test_tarfile_source_for_compressed_archives(tmp_path):
    """Dockerfile ADD passes an open TarFile (gzip, bzip2, xz): same result."""
    raw = _plain_tar([("d", "dir", {"mode": 0o711}), ("d/f", "file", {"data": b"z" * 5000, "mode": 0o640})])
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(gzip.compress(raw))
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(gz, "r:*") as t:
        res = tarsafe.extract_layer(t, str(out))
    assert (out / "d/f").read_bytes() == b"z" * 5000
    assert stat.S_IMODE(os.stat(out / "d").st_mode) == 0o711
    assert res.entries == 2


def test_caller_stream_stays_open_and_sees_every_byte(tmp_path):
    """The reader buffers 1 MB ahead but detaches: the store drains and hashes after us."""
    data = _plain_tar([("f", "file", {"data": b"q" * 100})]) + bytes(20000)

    class Counting(io.RawIOBase):
        def __init__(self):
            self.f, self.n = io.BytesIO(data), 0

        def readable(self):
            return True

        def readinto(self, b):
            got = self.f.readinto(b)
            self.n += got
            return got

    c = Counting()
    tarsafe.extract_layer(c, str(tmp_path))
    assert not c.closed
    while c.read(4096):
        pass
    assert c.n == len(data)


def test_reader_skips_unread_data():
    data = _plain_tar([("a", "file", {"data": b"A" * 3000}), ("b", "file", {"data": b"B" * 5})])
    r = TarReader(io.BytesIO(data))
    got = []
    for e in r:
        got.append((e.name, r.read(2)))      # read only part of each member
    r.close()
    assert got == [("a", b"AA"), ("b", b"BB")]


def _gz_tar(entries) -> bytes:
    return gzip.compress(_plain_tar(entries))


def test_gzip_members_padding_and_corruption(tmp_path):
    a = _plain_tar([("a", "file", {"data": b"A" * 70000})])
    # two gzip members one after the other (`cat a.gz b.gz`), then zero padding: one stream
    blob = gzip.compress(a[:4096]) + gzip.compress(a[4096:]) + bytes(3000)
    out = tmp_path / "ok"
    out.mkdir()
    tarsafe.extract_layer(tarsafe.decompressed(io.BufferedReader(io.BytesIO(blob))), str(out))
    assert (out / "a").read_bytes() == b"A" * 70000
    good = _gz_tar([("b", "file", {"data": os.urandom(5000)})])
    bad_crc = good[:-8] + bytes([good[-8] ^ 1]) + good[-7:]       # the CRC-32 in the trailer
    for broken in (bad_crc, good[:len(good) // 2], good + b"junk!"):
        d = tmp_path / f"bad{len(os.listdir(tmp_path))}"
        d.mkdir()
        with pytest.raises(ImageError, match="gzip"):
            r = tarsafe.decompressed(io.BufferedReader(io.BytesIO(broken)))
            tarsafe.extract_layer(r, str(d))
            while r.read(65536):      # the store drains to the end: that is where a bad trailer shows
                pass


def test_extraction_steps_still_show_under_explain(tmp_path):
    """The per-file step lines are built only when someone records them: check they are."""
    from minidocker.trace import trace
    with trace() as t:
        tarsafe.extract_layer(make_tar([("bin/tool", "file", {"data": b"x", "mode": 0o755})]),
                              str(tmp_path))
    assert any("install -m 755" in s.shell and "bin/tool" in s.shell for s in t.steps)
    assert not tarsafe._explaining()       # and outside the trace, the strings are not built


def test_each_entry_keeps_its_own_pax_records():
    """A member without PAX records must not see the next member's (atime, xattrs)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        d = tarfile.TarInfo("d")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
        f = tarfile.TarInfo("d/f")
        f.pax_headers = {"atime": "123.5", "SCHILY.xattr.user.mdk": "x"}
        t.addfile(f, io.BytesIO(b""))
    buf.seek(0)
    r = TarReader(buf)
    entries = []
    for e in r:
        entries.append(e)
    assert entries[0].pax_headers == {} and entries[1].pax_headers["atime"] == "123.5"


@pytest.mark.skipif(not ROOT, reason="owners and setgid directories need root")
def test_fchown_skipped_only_when_it_changes_nothing(tmp_path):
    """Files owned 0:0 skip fchown(), but not under a setgid directory (new files there
    take the directory's group) and not when the tar names another owner."""
    plain, sgid = tmp_path / "plain", tmp_path / "sgid"
    plain.mkdir()
    sgid.mkdir()
    os.chown(sgid, 0, 4321)
    os.chmod(sgid, 0o2775)
    entries = [("a", "file", {"data": b"a"}), ("sub/b", "file", {"data": b"b"}),
               ("c", "file", {"uid": 1234, "gid": 5678, "data": b"c"})]
    for target in (plain, sgid):
        tarsafe.extract_layer(make_tar(entries), str(target))
        for name in ("a", "sub/b"):
            st = os.lstat(target / name)
            assert (st.st_uid, st.st_gid) == (0, 0), (target, name)
        assert (os.lstat(target / "c").st_uid, os.lstat(target / "c").st_gid) == (1234, 5678)


def _member(data: bytes, flags: int = 0, fields: bytes = b"") -> bytes:
    """One gzip member with the optional header fields of RFC 1952 (as `gzip -N`,
    `gzip --comment` or pigz may write them); `fields` are those bytes, in order."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    head = b"\x1f\x8b\x08" + bytes([flags]) + bytes(6) + fields
    if flags & 2:                                  # FHCRC: the low 16 bits of the header's CRC-32
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def _inflate(blob: bytes, check_crc: bool, step: int = 4096) -> bytes:
    r = tarsafe.decompressed(io.BufferedReader(io.BytesIO(blob), 16), check_crc=check_crc)
    out = []
    while chunk := r.read(step):
        out.append(chunk)
    return b"".join(out)


@pytest.mark.parametrize("check_crc", [True, False])
def test_gzip_header_fields_and_members_read_the_same_both_ways(check_crc):
    """The raw-deflate path (check_crc=False) parses headers and trailers itself:
    it must read every member zlib's own gzip mode reads, header flags and all."""
    a, b, c = os.urandom(70000), b"text " * 30000, b""
    blob = (_member(a, 4, b"\x05\x00ABCDE")                    # FEXTRA: 2-byte length, 5 bytes
            + _member(b, 8 | 16 | 2, b"name\0comment\0")  # FNAME, FCOMMENT, FHCRC
            + _member(c)                                        # an empty member
            + gzip.compress(b"tail") + bytes(700))              # Python's own gzip, then padding
    assert _inflate(blob, check_crc) == a + b + c + b"tail"
    assert _inflate(blob, check_crc, step=1) == a + b + c + b"tail"    # trailers split across reads


def test_without_crc_check_the_length_and_the_header_are_still_checked():
    data = os.urandom(5000)
    good = _member(data)
    bad_crc = good[:-8] + bytes([good[-8] ^ 1]) + good[-7:]
    assert _inflate(bad_crc, check_crc=False) == data        # the caller's SHA-256 judges the bytes
    with pytest.raises(ImageError, match="gzip"):
        _inflate(bad_crc, check_crc=True)
    bad_len = good[:-4] + struct.pack("<I", len(data) + 1)
    reserved_flag = good[:3] + b"\x20" + good[4:]
    not_deflate = good[:2] + b"\x07" + good[3:]
    for broken in (bad_len, reserved_flag, not_deflate, good[:-3], good[:6], good[:len(good) // 2]):
        for check_crc in (True, False):
            with pytest.raises(ImageError, match="gzip"):
                _inflate(broken, check_crc)


def test_a_file_name_field_without_end_is_refused_before_it_fills_memory():
    """zlib streams past a gzip header's name field; our own header reader holds it, so a
    name that never ends (a hostile layer: gigabytes without a NUL) is cut off at 1 MB."""
    endless = b"\x1f\x8b\x08\x08" + bytes(6) + b"x" * (64 << 20)
    with pytest.raises(ImageError, match="longer than 1 MB"):
        _inflate(endless, check_crc=False)


def test_store_skips_the_crc_only_where_a_diff_id_checks_the_bytes(md_root):
    """A layer whose diff_id is known (pull, load) is unpacked without gzip's CRC: the
    SHA-256 of what it inflates to is compared with the diff_id, a stronger check of
    the same bytes. One without (a build's or an import's own layer) keeps the CRC."""
    from minidocker.image.store import Store
    st = Store()
    st.layout.init()
    raw = _plain_tar([("a", "file", {"data": b"hello"})])
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    good = _member(raw)
    bad_crc = good[:-8] + bytes([good[-8] ^ 1]) + good[-7:]   # right bytes, wrong CRC-32
    digest, _ = st.layout.put_blob(bad_crc)
    with pytest.raises(ImageError, match="gzip"):
        st.unpack(digest)                            # no diff_id to check against: the CRC counts
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ImageError, match="diff_id"):
        st.unpack(digest, wrong)                     # the SHA-256 refuses what the CRC no longer does
    assert not os.path.exists(st.layer_dir(wrong))
    assert st.unpack(digest, diff_id).diff_id == diff_id
    assert open(os.path.join(st.layer_dir(diff_id), "a"), "rb").read() == b"hello"
    assert sorted(os.listdir(st.layers_dir)) == sorted([diff_id[7:], diff_id[7:] + ".json"])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_modes_are_exact_whatever_the_umask(tmp_path, umask):
    """Files whose mode open(2) can give directly skip fchmod; the umask must never
    show in the result (0o077 would turn 0644 into 0600 if we trusted open alone)."""
    modes = [0o644, 0o755, 0o600, 0o444, 0o777, 0o4755, 0o2755, 0o1777, 0o000, 0o664]
    raw = _plain_tar([(f"f{m:o}", "file", {"data": b"x", "mode": m}) for m in modes])
    out = tmp_path / "out"
    out.mkdir()
    old = os.umask(umask)
    try:
        tarsafe.extract_layer(io.BytesIO(raw), str(out))
    finally:
        os.umask(old)
    assert {m: stat.S_IMODE(os.lstat(out / f"f{m:o}").st_mode) for m in modes} == {m: m for m in modes}
    assert (out / "f444").read_bytes() == b"x"
