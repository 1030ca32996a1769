"""tarsafe.extract_layer: malicious tarballs are refused and write nothing outside the target;
everything a layer needs (setuid, owners, xattrs, mtimes, hardlinks, whiteouts) is kept."""
import io
import os
import stat
import tarfile

import pytest

from minidocker.errors import ImageError
from minidocker.image import tarsafe

ROOT = os.geteuid() == 0


def make_tar(entries) -> io.BytesIO:
    """entries: (name, kind, extra) with kind in file/dir/sym/link/chr/fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = extra.get("mtime", 1600000000)
            ti.mode = extra.get("mode", 0o644)
            ti.uid, ti.gid = extra.get("uid", 0), extra.get("gid", 0)
            ti.pax_headers = extra.get("pax", {})
            data = None
            if kind == "file":
                body = extra.get("data", b"")
                ti.size = len(body)
                data = io.BytesIO(body)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra["to"]
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, extra["to"]
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, extra["major"], extra["minor"]
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti, data)
    buf.seek(0)
    return buf


@pytest.fixture
def box(tmp_path):
    """A target dir inside a 'host' dir with a canary file we must never touch."""
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc/passwd").write_text("host passwd\n")
    (host / "etc/shadow").write_text("host shadow\n")
    target = host / "target"
    target.mkdir()
    return host, target


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def assert_host_untouched(host, target, before):
    def outside(p):
        return p != str(target) and not p.startswith(str(target) + "/")
    after = {p: v for p, v in snapshot(host).items() if outside(p)}
    before = {p: v for p, v in before.items() if outside(p)}
    assert after == before
    assert (host / "etc/passwd").read_text() == "host passwd\n"
    assert (host / "etc/shadow").read_text() == "host shadow\n"


@pytest.mark.parametrize("entries, words", [
    ([("../../etc/passwd", "file", {"data": b"pwned"})], ["../../etc/passwd", ".."]),
    ([("a/../../etc/passwd", "file", {"data": b"pwned"})], [".."]),
    ([("/etc/passwd", "file", {"data": b"pwned"})], ["absolute"]),
    # an absolute symlink, then a file written through it
    ([("evil", "sym", {"to": "/etc"}), ("evil/passwd", "file", {"data": b"pwned"})],
     ["evil/passwd", "absolute symlink"]),
    # a relative symlink climbing out, then a file through it
    ([("evil", "sym", {"to": "../../etc"}), ("evil/passwd", "file", {"data": b"pwned"})],
     ["evil/passwd", "climbs above"]),
    # a chain: inside -> escaping
    ([("d", "dir", {}), ("d/up", "sym", {"to": ".."}), ("d/up2", "sym", {"to": "up/.."}),
      ("d/up2/x", "file", {"data": b"pwned"})], ["d/up2/x"]),
    # a hardlink to the host's shadow file
    ([("shadow", "link", {"to": "/etc/shadow"})], ["absolute"]),
    ([("shadow", "link", {"to": "../../etc/shadow"})], [".."]),
    # hardlink through an escaping symlink
    ([("e", "sym", {"to": "/etc"}), ("shadow", "link", {"to": "e/shadow"})], ["absolute symlink"]),
    # a symlink loop
    ([("a", "sym", {"to": "b"}), ("b", "sym", {"to": "a"}), ("a/x", "file", {})], ["symlinks"]),
])
def test_malicious_tars_are_refused(box, entries, words):
    host, target = box
    before = snapshot(host)
    with pytest.raises(ImageError) as e:
        tarsafe.extract_layer(make_tar(entries), str(target))
    for w in words:
        assert w in str(e.value)
    assert e.value.hint
    assert_host_untouched(host, target, before)


def test_symlink_planted_at_final_name_is_replaced_not_followed(box):
    host, target = box
    before = snapshot(host)
    tarsafe.extract_layer(make_tar([("passwd", "sym", {"to": "/etc/passwd"}),
                                    ("passwd", "file", {"data": b"mine\n"})]), str(target))
    assert (target / "passwd").read_text() == "mine\n" and not (target / "passwd").is_symlink()
    assert_host_untouched(host, target, before)


def test_dir_replaced_by_symlink_before_final_chmod(box):
    """Directory attributes are set at the end; by then the dir may be a symlink out."""
    host, target = box
    before = snapshot(host)
    tarsafe.extract_layer(make_tar([("etc", "dir", {"mode": 0o700}), ("etc", "sym", {"to": str(host / "etc")})]),
                          str(target))
    assert (target / "etc").is_symlink()
    assert_host_untouched(host, target, before)


def test_symlinks_inside_the_root_are_followed(box):
    host, target = box
    res = tarsafe.extract_layer(make_tar([
        ("usr", "dir", {"mode": 0o755}), ("usr/lib", "dir", {"mode": 0o755}),
        ("lib", "sym", {"to": "usr/lib"}),
        ("lib/libc.so", "file", {"data": b"elf"}),
        ("usr/bin", "sym", {"to": "../lib"}),          # usr/bin -> usr/lib ... still inside
        ("usr/bin/tool", "file", {"data": b"t"}),
    ]), str(target))
    assert (target / "usr/lib/libc.so").read_bytes() == b"elf"
    assert (target / "usr/lib/tool").read_bytes() == b"t"
    assert res.entries == 6


def test_attributes_are_kept(box):
    host, target = box
    t = 1500000000
    tarsafe.extract_layer(make_tar([
        ("bin", "dir", {"mode": 0o755, "mtime": t}),
        ("bin/su", "file", {"mode": 0o4755, "uid": 0, "gid": 0, "data": b"su", "mtime": t + 1}),
        ("bin/wall", "file", {"mode": 0o2755, "uid": 0, "gid": 5, "data": b"w"}),
        ("bin/sameas-su", "link", {"to": "bin/su"}),
        ("tmp", "dir", {"mode": 0o1777}),
        ("data", "file", {"uid": 1234, "gid": 4321, "data": b"x",
                          "pax": {"SCHILY.xattr.user.mdimg": "hello",
                                  "SCHILY.xattr.trusted.overlay.redirect": "/etc"}}),
        ("pipe", "fifo", {"mode": 0o600}),
    ]), str(target))
    su = os.stat(target / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(target / "bin/wall").st_mode) == 0o2755
    assert stat.S_IMODE(os.stat(target / "tmp").st_mode) == 0o1777
    assert su.st_mtime == t + 1
    assert os.stat(target / "bin").st_mtime == t                  # set after its children
    assert os.stat(target / "bin/sameas-su").st_ino == su.st_ino  # hardlink kept
    assert stat.S_ISFIFO(os.stat(target / "pipe").st_mode)
    assert os.getxattr(target / "data", "user.mdimg") == b"hello"
    if ROOT:
        assert (os.stat(target / "data").st_uid, os.stat(target / "data").st_gid) == (1234, 4321)
        assert os.stat(target / "bin/wall").st_gid == 5
        with pytest.raises(OSError):                               # dropped: steers overlayfs
            os.getxattr(target / "data", "trusted.overlay.redirect")


def test_device_nodes_are_not_created(box):
    host, target = box
    res = tarsafe.extract_layer(make_tar([("dev", "dir", {}),
                                          ("dev/sda", "chr", {"major": 8, "minor": 0, "mode": 0o666})]),
                                str(target))
    assert not os.path.lexists(target / "dev/sda")
    assert any("dev/sda" in s for s in res.skipped)


@pytest.mark.skipif(not ROOT, reason="whiteouts are char devices and trusted.* xattrs: root only")
def test_aufs_whiteouts_become_overlay_whiteouts(box):
    host, target = box
    res = tarsafe.extract_layer(make_tar([
        ("etc", "dir", {}), ("etc/.wh.motd", "file", {}),
        ("var", "dir", {}), ("var/cache", "dir", {}), ("var/cache/.wh..wh..opq", "file", {}),
        ("var/cache/new", "file", {"data": b"n"}),
        ("raw", "chr", {"major": 0, "minor": 0}),              # an overlay whiteout as-is
        ("x/.wh..wh.plnk", "file", {}),                         # AUFS bookkeeping: skipped
    ]), str(target))
    st = os.lstat(target / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not os.path.lexists(target / "etc/.wh.motd")
    assert os.getxattr(target / "var/cache", "trusted.overlay.opaque") == b"y"
    assert os.listdir(target / "var/cache") == ["new"]
    assert stat.S_ISCHR(os.lstat(target / "raw").st_mode)
    assert (res.whiteouts, res.opaque_dirs) == (2, 1)
    assert os.listdir(target / "x") == []


def test_keep_mode_leaves_wh_files_alone(box):
    host, target = box
    tarsafe.extract_layer(make_tar([("a/.wh.b", "file", {"data": b"keep"})]), str(target), whiteouts="keep")
    assert (target / "a/.wh.b").read_bytes() == b"keep"


def test_garbage_is_a_clear_error(box):
    host, target = box
    with pytest.raises(ImageError) as e:
        tarsafe.extract_layer(io.BytesIO(b"this is not a tar file at all" * 40), str(target))
    assert "not a valid tar" in str(e.value)
