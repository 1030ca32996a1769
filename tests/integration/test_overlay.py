"""overlayfs on the real kernel: deep stacks, sharing, copy-up, whiteouts, opaque dirs."""
import io
import os
import stat
import tarfile

import pytest

from minidocker import trace
from minidocker.image import base, store as st
from minidocker.kernel import overlay

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root"),
              pytest.mark.usefixtures("host_clean")]


@pytest.fixture
def img_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path / "md"))
    return tmp_path / "md"


@pytest.fixture
def mounts():
    """Targets to unmount at the end, whatever happened."""
    targets = []
    yield targets
    for t in reversed(targets):
        if os.path.ismount(t):
            overlay.unmount_overlay(t, lazy=True)


def mounted(target) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(target) for line in f)


def tiny_layer(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def deep_image(s, n):
    img = base.ensure_base_image(s)
    layers = [s.unpack(img.manifest["layers"][0]["digest"])]
    for i in range(n):
        # every layer overwrites the same file: the top one must win
        layers.append(s.add_layer(tiny_layer("etc/mdimg-level", f"{i}\n".encode() + b"x" * i)))
    cfg = dict(img.config, rootfs={"type": "layers", "diff_ids": [l.diff_id for l in layers]})
    return s.add_image(cfg, layers, tags=["mdimg-deep:latest"])


def test_150_layers_mount(img_root, tmp_path, mounts):
    s = st.Store()
    img = deep_image(s, 150)
    assert len(img.layer_dirs) == 151
    plain = "lowerdir=" + ":".join(img.layer_dirs)
    assert len(plain) > os.sysconf("SC_PAGESIZE")        # the naive option would not fit
    target = tmp_path / "merged"
    cwd = os.getcwd()
    with trace() as t:
        overlay.mount_overlay(img.layer_dirs, tmp_path / "upper", tmp_path / "work", target)
    mounts.append(str(target))
    assert os.getcwd() == cwd                              # the chdir happened elsewhere
    assert mounted(target)
    assert (target / "etc/mdimg-level").read_text().startswith("149\n")   # top wins
    assert os.access(target / "bin/busybox", os.X_OK)                     # bottom shows
    shell = "\n".join(t.shell())
    assert "mount -t overlay overlay -o lowerdir=" in shell and f"cd {s.links_dir}" in shell
    overlay.unmount_overlay(str(target))
    assert not mounted(target)


def test_deep_stack_of_plain_directories(tmp_path, mounts):
    # directories outside any store get short links next to the upper dir
    lowers = []
    for i in range(130):
        d = tmp_path / ("very-long-directory-name-for-a-layer-" * 2 + str(i))
        d.mkdir()
        (d / f"f{i}").write_text(str(i))
        lowers.append(str(d))
    target = tmp_path / "m"
    overlay.mount_overlay(lowers, tmp_path / "c/upper", tmp_path / "c/work", target)
    mounts.append(str(target))
    assert sorted(os.listdir(target)) == sorted(f"f{i}" for i in range(130))
    assert os.path.isdir(tmp_path / "c/l")


def test_two_containers_share_lower_and_not_writes(img_root, tmp_path, mounts):
    s = st.Store()
    img = base.ensure_base_image(s)
    m1, m2 = tmp_path / "c1/merged", tmp_path / "c2/merged"
    for c, m in (("c1", m1), ("c2", m2)):
        overlay.mount_overlay(img.layer_dirs, tmp_path / c / "upper", tmp_path / c / "work", m)
        mounts.append(str(m))
    lower_ino = os.stat(os.path.join(img.layer_dirs[0], "bin/busybox")).st_ino
    assert os.stat(m1 / "bin/busybox").st_ino == os.stat(m2 / "bin/busybox").st_ino == lower_ino
    (m1 / "tmp/mdimg-only-c1").write_text("c1")
    (m1 / "etc/passwd").write_text("changed in c1\n")
    assert not (m2 / "tmp/mdimg-only-c1").exists()
    assert (m2 / "etc/passwd").read_text().startswith("root:")
    assert (tmp_path / "c1/upper/tmp/mdimg-only-c1").exists()
    assert not (tmp_path / "c2/upper/tmp").exists()


def test_copy_up_whiteout_and_opaque(img_root, tmp_path, mounts):
    s = st.Store()
    img = base.ensure_base_image(s)
    lower = img.layer_dirs[0]
    m, upper = tmp_path / "merged", tmp_path / "upper"
    overlay.mount_overlay(img.layer_dirs, upper, tmp_path / "work", m)
    mounts.append(str(m))
    before = open(os.path.join(lower, "etc/group")).read()
    with open(m / "etc/group", "a") as f:                 # copy-up
        f.write("mdimg:x:4242:\n")
    assert (upper / "etc/group").read_text() == before + "mdimg:x:4242:\n"
    assert open(os.path.join(lower, "etc/group")).read() == before
    os.unlink(m / "etc/hostname")                          # whiteout
    st_ = os.lstat(upper / "etc/hostname")
    assert stat.S_ISCHR(st_.st_mode) and st_.st_rdev == 0
    assert overlay.is_whiteout(str(upper / "etc/hostname"))
    assert os.path.exists(os.path.join(lower, "etc/hostname"))
    assert not os.path.exists(m / "etc/hostname")
    for name in os.listdir(m / "usr/sbin"):                # rm -rf + mkdir -> opaque
        os.unlink(m / "usr/sbin" / name)
    os.rmdir(m / "usr/sbin")
    os.mkdir(m / "usr/sbin")
    (m / "usr/sbin/mdimg-new").write_text("new")
    assert overlay.is_opaque(str(upper / "usr/sbin"))
    assert os.listdir(m / "usr/sbin") == ["mdimg-new"]
    assert len(os.listdir(os.path.join(lower, "usr/sbin"))) > 5


def test_an_image_with_130_layers_runs(md_root):
    from tests.helpers import md
    deep_image(st.Store(), 130)
    p = md("run", "--rm", "--network", "none", "mdimg-deep", "sh", "-c", "head -1 /etc/mdimg-level; ls /bin | wc -l")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == "129"
    assert int(p.stdout.split()[1]) > 50


def test_mount_errors_name_the_mount(tmp_path):
    from minidocker.errors import KernelError
    lowers = []
    for i in range(120):
        d = tmp_path / ("x" * 40 + str(i))
        d.mkdir()
        lowers.append(str(d))
    lowers.append(str(tmp_path / "does-not-exist"))       # deep stack: the forked-child path
    with pytest.raises(KernelError) as e:
        overlay.mount_overlay(lowers, tmp_path / "u", tmp_path / "w", tmp_path / "m")
    assert e.value.errno == 2 and "overlay" in str(e.value) and "from" in str(e.value)
    with pytest.raises(KernelError) as e:                   # short stack: the direct path
        overlay.mount_overlay([str(tmp_path / "nope")], tmp_path / "u", tmp_path / "w", tmp_path / "m")
    assert e.value.errno == 2 and "lowerdir=" in str(e.value)
    assert not mounted(tmp_path / "m")
