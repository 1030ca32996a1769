"""The UnionFS lesson helpers: layer-stack plot, which_layer, copy-up and delete demos."""
import glob
import os
import tempfile

import pytest

from tests.helpers import md

pytestmark = pytest.mark.usefixtures("root_only", "host_clean")


@pytest.fixture(autouse=True)
def agg():
    import matplotlib
    matplotlib.use("Agg")


def test_copy_up_and_delete_demos(md_root):
    from minidocker.lab import plots_layers as pl
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "mdk-unionfs-*")))
    r = pl.copy_up_demo("busybox", "/etc/passwd", "mdimg:x:4242:4242::/:/bin/sh\n")
    assert r.upper_kind == "file (copied up)"
    assert r.lower_after == r.lower_before and "mdimg" not in r.lower_after
    assert r.merged_after == r.lower_before + "mdimg:x:4242:4242::/:/bin/sh\n"
    assert r.upper_inode and r.upper_inode != r.lower_inode        # a new file in upper
    assert any(s.startswith("mount -t overlay") for s in r.steps)
    d = pl.delete_demo("busybox", "/etc/group")
    assert d.upper_kind == "whiteout c 0,0" and d.merged_after == "(no such file)"
    assert d.lower_after == d.lower_before
    assert "whiteout" in str(d)
    # nothing left: no temp dir (host_clean checks the mounts)
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "mdk-unionfs-*"))) == before
    with pytest.raises(FileNotFoundError):
        pl.copy_up_demo("busybox", "/no/such/file")


def test_plot_and_which_layer(md_root, tmp_path):
    from minidocker.lab import plots_layers as pl
    p = md("run", "--network", "none", "--name", "mdimg-p1", "busybox", "sh", "-c",
           "echo 1 > /mdimg-one; rm /etc/group")
    assert p.returncode == 0, p.stderr
    assert md("commit", "mdimg-p1", "mdimg-plot:1").returncode == 0
    assert md("run", "--network", "none", "--name", "mdimg-p2", "mdimg-plot:1", "sh", "-c",
              "echo 2 >> /etc/passwd; rm /mdimg-one").returncode == 0
    st = pl.stack_of("mdimg-p2")
    assert len(st.layers) == 2 and st.upper and st.name == "container mdimg-p2"
    assert pl.which_layer(st, "/bin/busybox") == (0, "file")
    assert pl.which_layer(st, "/etc/passwd") == (2, "file")          # copied up: upper wins
    assert pl.which_layer(st, "/mdimg-one") == (2, "whiteout")       # deleted in the container
    assert pl.which_layer(st, "/etc/group")[1] == "whiteout"         # deleted in layer 1
    assert pl.which_layer(st, "/nothing") == (None, "missing")
    fig = pl.plot_layers("mdimg-p2", "/etc/passwd")
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "upper (container)" in texts and "layer 0" in texts and "layer 1" in texts
    assert "/etc/passwd (hidden copy)" in texts                     # the lower copy, shadowed
    assert "the upper dir" in fig.axes[0].get_title()
    out = tmp_path / "stack.png"
    fig.savefig(out)
    assert out.stat().st_size > 10_000
    fig2 = pl.plot_layers("mdimg-plot:1")
    assert "2 layers" in fig2.axes[0].get_title()
    assert md("rm", "mdimg-p1", "mdimg-p2").returncode == 0
