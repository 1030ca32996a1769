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
    mine = json.loads(ok("image", "inspect", "mdimg-da:1"))[0]
    assert info["Layers"] == mine["RootFS"]["Layers"]          # uncompressed: digest == diff_id
    cfg = json.loads(sh("skopeo", "inspect", "--config", f"docker-archive:{ours}"))
    assert cfg["rootfs"]["diff_ids"] == mine["RootFS"]["Layers"]
    # skopeo writes a docker archive (the format of `docker save` before v25) that we load
    theirs = tmp_path / "theirs.tar"
    sh("skopeo", "copy", f"docker-archive:{ours}", f"docker-archive:{theirs}:mdimg-da:copied")
    assert "Loaded image: mdimg-da:copied" in ok("load", "-i", theirs)
    assert ok("run", "--rm", "--network", "none", "mdimg-da:copied", "cat", "/da").strip() == "da"
    ids = ok("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").splitlines()
    by_name = dict(reversed(line.split()) for line in ids)
    assert by_name["mdimg-da:copied"] == by_name["mdimg-da:1"]         # the same image ID


# --- a real docker engine (Debian's docker.io), started privately for the test ------

@pytest.fixture
def dockerd(tmp_path_factory):
    """dockerd on its own socket, data root and exec root; no iptables, no bridge.
    Stopped after, with its mounts and the cgroup parents it made (tests/dockerd.py)."""
    from tests.dockerd import PrivateDockerd, Unavailable
    engine = PrivateDockerd(tmp_path_factory.mktemp("mdimg-dockerd"))
    try:
        env = engine.start()
    except Unavailable as e:
        pytest.skip(str(e))
    try:
        yield env
    finally:
        engine.stop()


def test_real_docker_save_load_both_ways(store, dockerd, tmp_path):
    def dk(*args):
        return sh("docker", *args, env=dockerd)
    # minidocker -> docker: same image ID, runs there
    ok("run", "--network", "none", "--name", "mdimg-dsrc", "busybox", "sh", "-c",
       "echo ours > /ours; rm -rf /usr/sbin; mkdir /usr/sbin; touch /usr/sbin/only")
    our_id = ok("commit", "mdimg-dsrc", "mdimg-tod:1").strip()
    ok("rm", "mdimg-dsrc")
    ok("save", "-o", tmp_path / "ours.tar", "mdimg-tod:1")
    assert "Loaded image: mdimg-tod:1" in dk("load", "-i", tmp_path / "ours.tar")
    assert dk("image", "inspect", "-f", "{{.Id}}", "mdimg-tod:1").strip() == our_id
    assert dk("run", "--rm", "--network", "none", "mdimg-tod:1", "sh", "-c",
              "cat /ours; ls /usr/sbin").split() == ["ours", "only"]
    # docker -> minidocker: a docker-made layer with whiteouts, opaque dir, setuid
    dk("run", "--network", "none", "--name", "mdimg-dk1", "mdimg-tod:1", "sh", "-c",
       "rm /etc/group; rm -rf /usr/sbin; mkdir /usr/sbin; echo d > /usr/sbin/dk;"
       " echo theirs > /root/dk; chmod 4755 /root/dk")
    theirs_diff = sorted(dk("diff", "mdimg-dk1").splitlines())
    their_id = dk("commit", "mdimg-dk1", "mdimg-fromd:1").strip()
    dk("save", "-o", tmp_path / "theirs.tar", "mdimg-fromd:1")
    assert ok("load", "-i", tmp_path / "theirs.tar").strip() == "Loaded image: mdimg-fromd:1"
    assert json.loads(ok("image", "inspect", "mdimg-fromd:1"))[0]["Id"] == their_id
    out = ok("run", "--rm", "--network", "none", "mdimg-fromd:1", "sh", "-c",
             "ls /etc; echo ---; ls /usr/sbin; echo ---; cat /root/dk; stat -c %a /root/dk").split("---")
    assert "group" not in out[0].split() and out[1].split() == ["dk"]
    assert out[2].split() == ["theirs", "4755"]
    # the same changes made in minidocker give the same `diff` as docker's
    ok("run", "--network", "none", "--name", "mdimg-dsame", "mdimg-tod:1", "sh", "-c",
       "rm /etc/group; rm -rf /usr/sbin; mkdir /usr/sbin; echo d > /usr/sbin/dk;"
       " echo theirs > /root/dk; chmod 4755 /root/dk")
    ours_diff = sorted(ok("diff", "mdimg-dsame").splitlines())
    ok("rm", "mdimg-dsame")
    assert ours_diff == theirs_diff
    # docker export -> minidocker import
    with open(tmp_path / "fs.tar", "wb") as f:
        subprocess.run(["docker", "export", "mdimg-dk1"], env=dockerd, stdout=f, check=True)
    ok("import", tmp_path / "fs.tar", "mdimg-dexp:1")
    assert ok("run", "--rm", "--network", "none", "mdimg-dexp:1", "cat", "/root/dk").strip() == "theirs"
