"""secure_join resolves container paths inside the container's root, never outside it."""
import os

from minidocker.kernel.mounts import secure_join


def test_plain_and_dotdot(tmp_path):
    root = str(tmp_path)
    assert secure_join(root, "/etc/hosts") == os.path.join(root, "etc/hosts")
    assert secure_join(root, "/../../../etc/passwd") == os.path.join(root, "etc/passwd")
    assert secure_join(root, "a/./b/../c") == os.path.join(root, "a/c")


def test_absolute_symlink_is_rerooted(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "data")               # inside the image: /data -> /etc
    got = secure_join(str(root), "/data/shadow")
    assert got == os.path.join(str(root), "etc/shadow")   # the image's /etc, not the host's


def test_relative_symlink_cannot_climb_out(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("../../../../", root / "up")
    assert secure_join(str(root), "/up/etc/passwd") == os.path.join(str(root), "etc/passwd")


def test_symlink_loop_is_an_error(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/b", root / "a")
    os.symlink("/a", root / "b")
    try:
        secure_join(str(root), "/a/x")
    except OSError as e:
        assert e.errno == 40
    else:
        raise AssertionError("a symlink loop must not resolve")
