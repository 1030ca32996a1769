"""The container layer, without a container: changes() and write_layer_tar() on a real
overlay upper dir, and the AUFS <-> overlay whiteout round trip through tarsafe."""
import io
import os
import stat
import tarfile

import pytest

from minidocker.image import base, diff, store as st, tarsafe
from minidocker.kernel import overlay

pytestmark = pytest.mark.usefixtures("root_only", "host_clean")


@pytest.fixture
def mounted(md_root, tmp_path):
    """busybox mounted with an empty upper dir; yields (merged, upper, image)."""
    img = base.ensure_base_image(st.Store())
    m, up = tmp_path / "merged", tmp_path / "upper"
    overlay.mount_overlay(img.layer_dirs, up, tmp_path / "work", m)
    try:
        yield m, up, img
    finally:
        overlay.unmount_overlay(str(m))


def change_things(m):
    (m / "etc/passwd").write_text("changed\n")            # C (copy-up)
    os.unlink(m / "etc/group")                              # D (whiteout)
    (m / "tmp/sub").mkdir()                                 # A dir
    (m / "tmp/sub/f").write_text("f")                       # A file
    os.link(m / "tmp/sub/f", m / "tmp/sub/hard")            # A hardlink
    os.chmod(m / "tmp/sub/f", 0o4755)
    os.setxattr(m / "tmp/sub/f", "user.mdimg", b"kept")
    for n in os.listdir(m / "usr/sbin"):                    # opaque dir
        os.unlink(m / "usr/sbin" / n)
    os.rmdir(m / "usr/sbin")
    os.mkdir(m / "usr/sbin")
    (m / "usr/sbin/new").write_text("n")
    os.symlink("/etc/passwd", m / "root/link")              # A symlink (absolute is fine as data)


def test_changes_like_docker(mounted):
    m, up, img = mounted
    change_things(m)
    ch = diff.changes(str(up), img.layer_dirs)
    assert ("C", "/etc") in ch and ("C", "/etc/passwd") in ch and ("D", "/etc/group") in ch
    assert ("A", "/tmp/sub") in ch and ("A", "/tmp/sub/f") in ch and ("A", "/tmp/sub/hard") in ch
    assert ("C", "/usr/sbin") in ch and ("A", "/usr/sbin/new") in ch
    lower_sbin = set(os.listdir(os.path.join(img.layer_dirs[0], "usr/sbin")))
    assert {p for k, p in ch if k == "D" and p.startswith("/usr/sbin/")} == {f"/usr/sbin/{n}" for n in lower_sbin}
    assert ("A", "/root/link") in ch
    assert ("C", "/bin") not in ch                           # untouched directories are not listed
    paths = [p for _, p in ch]
    assert len(paths) == len(set(paths))


def test_layer_tar_round_trip(mounted, tmp_path):
    m, up, img = mounted
    change_things(m)
    buf = io.BytesIO()
    diff.write_layer_tar(str(up), buf)
    buf.seek(0)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as t:
        members = {x.name: x for x in t.getmembers()}
    # overlay's spelling became AUFS': no device nodes, no trusted.overlay xattrs
    assert "etc/.wh.group" in members and members["etc/.wh.group"].isreg()
    assert "usr/sbin/.wh..wh..opq" in members
    assert not any(x.ischr() for x in members.values())
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for x in members.values() for k in x.pax_headers)
    assert members["tmp/sub/hard"].islnk() or members["tmp/sub/f"].islnk()
    assert members["tmp/sub/f"].mode & stat.S_ISUID or members["tmp/sub/hard"].mode & stat.S_ISUID
    # ... and back: extracting gives the overlay spelling again
    out = tmp_path / "layer"
    out.mkdir()
    res = tarsafe.extract_layer(buf, str(out))
    assert overlay.is_whiteout(str(out / "etc/group"))
    assert overlay.is_opaque(str(out / "usr/sbin"))
    assert os.listdir(out / "usr/sbin") == ["new"]
    assert os.stat(out / "tmp/sub/f").st_ino == os.stat(out / "tmp/sub/hard").st_ino
    assert stat.S_IMODE(os.stat(out / "tmp/sub/f").st_mode) == 0o4755
    assert os.getxattr(out / "tmp/sub/f", "user.mdimg") == b"kept"
    assert os.readlink(out / "root/link") == "/etc/passwd"
    assert (res.whiteouts, res.opaque_dirs) == (1, 1)
    # the extracted layer and the upper dir describe the same changes
    assert diff.changes(str(out), img.layer_dirs) == diff.changes(str(up), img.layer_dirs)
