"""Real peers read what minidocker writes, and minidocker reads what they write:
skopeo and umoci on our OCI layout, `docker save` archives (docker-archive) both ways,
an image made with umoci loads and runs."""
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from tests.helpers import md

pytestmark = [pytest.mark.usefixtures("root_only", "host_clean"),
              pytest.mark.skipif(not (shutil.which("skopeo") and shutil.which("umoci")),
                                 reason="needs skopeo and umoci (apt-get install skopeo umoci)")]


def sh(*args, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, args))}: {p.stderr}"
    return p.stdout


def ok(*args):
    p = md(*args)
    assert p.returncode == 0, f"minidocker {' '.join(map(str, args))}: {p.stderr}"
    return p.stdout


@pytest.fixture
def store(md_root):
    ok("run", "--rm", "--network", "none", "busybox", "true")     # builds busybox:latest
    return os.path.join(md_root, "lib", "image")


def our_manifest(store, name="busybox:latest"):
    idx = json.load(open(os.path.join(store, "index.json")))
    d = next(d for d in idx["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == name)
    return d["digest"], json.load(open(os.path.join(store, "blobs/sha256", d["digest"][7:])))


def test_skopeo_reads_our_layout(store):
    digest, manifest = our_manifest(store)
    info = json.loads(sh("skopeo", "inspect", f"oci:{store}:busybox:latest"))
    assert info["Digest"] == digest
    assert info["Layers"] == [x["digest"] for x in manifest["layers"]]
    assert info["Os"] == "linux" and any(e.startswith("PATH=") for e in info["Env"])
    full = json.loads(sh("skopeo", "inspect", "--config", f"oci:{store}:busybox:latest"))
    assert full["config"]["Cmd"] == ["sh"]


def test_umoci_reads_and_unpacks_our_layout(store, tmp_path):
    assert "busybox:latest" in sh("umoci", "ls", "--layout", store).split()
    stat_ = sh("umoci", "stat", "--image", f"{store}:busybox:latest")
    assert "busybox-static" in stat_
    bundle = tmp_path / "bundle"
    sh("umoci", "unpack", "--image", f"{store}:busybox:latest", bundle)
    assert open(bundle / "rootfs/bin/busybox", "rb").read() == open("/bin/busybox", "rb").read()
    assert os.stat(bundle / "rootfs/bin/sh").st_ino == os.stat(bundle / "rootfs/bin/busybox").st_ino


def umoci_image(tmp_path):
    """An image built with umoci only: busybox + a file + a Cmd."""
    lay = tmp_path / "umoci-layout"
    sh("umoci", "init", "--layout", lay)
    sh("umoci", "new", "--image", f"{lay}:mdimg")
    b = tmp_path / "ubundle"
    sh("umoci", "unpack", "--image", f"{lay}:mdimg", b)
    os.makedirs(b / "rootfs/bin")
    shutil.copy("/bin/busybox", b / "rootfs/bin/busybox")
    for applet in ("sh", "cat", "ls"):
        os.symlink("busybox", b / f"rootfs/bin/{applet}")
    (b / "rootfs/hello").write_text("made by umoci\n")
    sh("umoci", "repack", "--image", f"{lay}:mdimg", b)
    sh("umoci", "config", "--image", f"{lay}:mdimg", "--config.cmd", "/bin/cat", "--config.cmd", "/hello")
    return lay


def test_umoci_image_loads_and_runs(store, tmp_path):
    lay = umoci_image(tmp_path)
    # 1) as an OCI archive through `load`
    archive = tmp_path / "umoci.tar"
    with tarfile.open(archive, "w") as t:
        for n in ("oci-layout", "index.json", "blobs"):
            t.add(lay / n, arcname=n)
    out = ok("load", "-i", archive)
    assert out.startswith("Loaded image ID: sha256:")   # umoci's ref name "mdimg" is a bare tag
    iid = out.split()[-1]
    ok("tag", iid, "mdimg-umoci:1")
    assert ok("run", "--rm", "--network", "none", "mdimg-umoci:1").strip() == "made by umoci"
    # 2) copied straight into the store by skopeo: unpacked on first use
    sh("skopeo", "copy", f"oci:{lay}:mdimg", f"oci:{store}:mdimg-skopeo:2")
    assert ok("run", "--rm", "--network", "none", "mdimg-skopeo:2").strip() == "made by umoci"


def test_docker_archive_both_ways(store, tmp_path):
    """skopeo's docker-archive transport is docker save/load's format."""
    ok("run", "--network", "none", "--name", "mdimg-da", "busybox", "sh", "-c", "echo da > /da")
    ok("commit", "mdimg-da", "mdimg-da:1")
    ok("rm", "mdimg-da")
    ours = tmp_path / "ours.tar"
    ok("save", "-o", ours, "mdimg-da:1")
    # skopeo reads our save archive as a docker archive
    info = json.loads(sh("skopeo", "inspect", f"docker-archive:{ours}"))
    assert info["RepoTags"] == ["mdimg-da"] or "mdimg-da" in json.dumps(info)
    # skopeo writes a docker archive (the format of `docker save` before v25) that we load
    theirs = tmp_path / "theirs.tar"
    sh("skopeo", "copy", f"docker-archive:{ours}", f"docker-archive:{theirs}:mdimg-da:copied")
    assert "Loaded image: mdimg-da:copied" in ok("load", "-i", theirs)
    assert ok("run", "--rm", "--network", "none", "mdimg-da:copied", "cat", "/da").strip() == "da"
    ids = ok("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").splitlines()
    by_name = dict(reversed(line.split()) for line in ids)
    assert by_name["mdimg-da:copied"] == by_name["mdimg-da:1"]         # the same image ID
