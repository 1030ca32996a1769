"""Images through the CLI on the real kernel: diff, commit (whiteouts round trip), save/load,
export/import, rmi with containers."""
import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from tests.helpers import md

pytestmark = pytest.mark.usefixtures("root_only", "host_clean")

RUN = ("run", "--network", "none")


def ok(*args, **kw):
    p = md(*args, **kw)
    assert p.returncode == 0, f"minidocker {' '.join(map(str, args))}: {p.stderr}"
    return p.stdout


def test_diff_commit_and_whiteouts_round_trip(md_root):
    ok(*RUN, "--name", "mdimg-w1", "busybox", "sh", "-c",
       "rm /etc/group; echo new > /tmp/new; echo more >> /etc/passwd;"
       " rm -rf /usr/sbin; mkdir /usr/sbin; echo mine > /usr/sbin/mine")
    diff = ok("diff", "mdimg-w1").splitlines()
    for line in ["C /etc", "D /etc/group", "C /etc/passwd", "C /tmp", "A /tmp/new",
                 "C /usr/sbin", "A /usr/sbin/mine", "D /usr/sbin/chroot", "D /usr/sbin/httpd"]:
        assert line in diff, diff
    assert "D /usr/sbin" not in diff                     # opaque: C + a D per name, as docker 20.10
    # walk order, like docker: a directory before what is inside it
    assert diff.index("C /etc") < diff.index("D /etc/group") < diff.index("C /tmp")
    new_id = ok("commit", "-m", "mdimg test", "-c", "ENV MDIMG=1", "mdimg-w1", "mdimg-committed:1").strip()
    assert new_id.startswith("sha256:")
    # the committed layer carries AUFS whiteouts, not device nodes
    store = os.path.join(md_root, "lib", "image")
    idx = json.load(open(os.path.join(store, "index.json")))
    man = next(d for d in idx["manifests"]
               if d["annotations"].get("org.opencontainers.image.ref.name") == "mdimg-committed:1")
    m = json.load(open(os.path.join(store, "blobs/sha256", man["digest"][7:])))
    with tarfile.open(os.path.join(store, "blobs/sha256", m["layers"][-1]["digest"][7:])) as t:
        names = t.getnames()
    assert "etc/.wh.group" in names and "usr/sbin/.wh..wh..opq" in names
    assert not any(n.startswith("etc/group") for n in names)
    # the new image: the file is gone, the opaque dir stays opaque, the change is kept
    out = ok(*RUN, "--rm", "mdimg-committed:1", "sh", "-c",
             "ls /etc; echo ---; ls /usr/sbin; echo ---; cat /tmp/new; echo $MDIMG").split("---")
    assert "group" not in out[0].split() and "passwd" in out[0].split()
    assert out[1].split() == ["mine"]
    assert out[2].split() == ["new", "1"]
    hist = ok("history", "--no-trunc", "mdimg-committed:1")
    assert "minidocker commit mdimg-w1" in hist and "mdimg test" in hist
    # commit of a commit keeps working (whiteouts in a lower layer stay whiteouts)
    ok(*RUN, "--name", "mdimg-w2", "mdimg-committed:1", "sh", "-c", "ls /usr/sbin > /out")
    ok("commit", "mdimg-w2", "mdimg-committed:2")
    assert ok(*RUN, "--rm", "mdimg-committed:2", "cat", "/out").split() == ["mine"]
    ok("rm", "mdimg-w1", "mdimg-w2")


def test_rmi_refuses_an_image_a_container_uses(md_root):
    ok(*RUN, "--name", "mdimg-user", "busybox", "true")
    ok("tag", "busybox", "mdimg-alias:1")
    assert ok("rmi", "mdimg-alias:1").strip() == "Untagged: mdimg-alias:1"
    p = md("rmi", "busybox")
    assert p.returncode != 0 and "mdimg-user" in p.stderr
    ok("rm", "mdimg-user")
    out = ok("rmi", "busybox")
    assert "Untagged: busybox:latest" in out and "Deleted: sha256:" in out
    assert ok("images", "-q") == ""
    assert os.listdir(os.path.join(md_root, "lib/image/layers")) == []


def test_save_load_round_trip(md_root, tmp_path):
    ok(*RUN, "--name", "mdimg-s1", "busybox", "sh", "-c", "echo saved > /saved")
    ok("commit", "mdimg-s1", "mdimg-saved:1")
    ok("rm", "mdimg-s1")
    before = {line for line in ok("images", "--no-trunc").splitlines()[1:]}
    out = tmp_path / "imgs.tar"
    ok("save", "-o", out, "busybox", "mdimg-saved:1")
    with tarfile.open(out) as t:
        names = set(t.getnames())
        manifest = json.load(t.extractfile("manifest.json"))
        repos = json.load(t.extractfile("repositories"))
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    assert [e["RepoTags"] for e in manifest] == [["busybox:latest"], ["mdimg-saved:1"]]
    assert set(repos) == {"busybox", "mdimg-saved"}
    for e in manifest:                       # every referenced file is in the tar
        assert e["Config"] in names and all(layer in names for layer in e["Layers"])
    ok("rmi", "mdimg-saved:1", "busybox")
    assert ok("images", "-q") == ""
    lines = ok("load", "-i", out).splitlines()
    assert lines == ["Loaded image: busybox:latest", "Loaded image: mdimg-saved:1"]
    after = {line for line in ok("images", "--no-trunc").splitlines()[1:]}
    strip = lambda rows: {tuple(r.split()[:3]) for r in rows}     # noqa: E731 (ids, not ages)
    assert strip(after) == strip(before)
    assert ok(*RUN, "--rm", "mdimg-saved:1", "cat", "/saved").strip() == "saved"
    # load from stdin, again: same ids, nothing new
    with open(out, "rb") as f:
        p = subprocess.run([sys.executable, "-m", "minidocker", "load"], stdin=f, capture_output=True)
    assert p.returncode == 0 and b"Loaded image: mdimg-saved:1" in p.stdout
    assert strip(ok("images", "--no-trunc").splitlines()[1:]) == strip(before)


def test_export_import(md_root, tmp_path):
    ok(*RUN, "--name", "mdimg-e1", "busybox", "sh", "-c", "echo exported > /root/x; rm /etc/group")
    out = tmp_path / "fs.tar"
    ok("export", "-o", out, "mdimg-e1")
    with tarfile.open(out) as t:
        names = t.getnames()
        assert t.extractfile("root/x").read() == b"exported\n"
        su = t.getmember("bin/busybox")
    assert "etc/group" not in names and "etc/passwd" in names
    assert not any(".wh." in n for n in names)
    assert su.mode & stat.S_IXUSR
    ok("rm", "mdimg-e1")
    iid = ok("import", "-c", 'CMD ["cat", "/root/x"]', "-m", "from export", out, "mdimg-imported:1").strip()
    assert iid.startswith("sha256:")
    assert ok(*RUN, "--rm", "mdimg-imported:1").strip() == "exported"
    assert "from export" in ok("history", "mdimg-imported:1")
    # no mount is left behind by export (it used a private mount namespace)
    with open("/proc/self/mountinfo") as f:
        assert ".export-" not in f.read()


def test_two_containers_share_layers_not_writes(md_root):
    ok(*RUN, "--name", "mdimg-a", "busybox", "sh", "-c", "echo a > /etc/mdimg-a; stat -c %i /bin/busybox > /ino")
    ok(*RUN, "--name", "mdimg-b", "busybox", "sh", "-c", "ls /etc/mdimg-a 2>&1; stat -c %i /bin/busybox > /ino")
    store = os.path.join(md_root, "lib", "image")
    (layer,) = [d for d in os.listdir(os.path.join(store, "layers")) if not d.endswith(".json")]
    lower_ino = os.stat(os.path.join(store, "layers", layer, "bin/busybox")).st_ino
    inos = []
    for name in ("mdimg-a", "mdimg-b"):
        c = json.loads(ok("inspect", name))[0]
        upper = c.get("GraphDriver", {}).get("Data", {}).get("UpperDir") or \
            os.path.join(md_root, "lib", "containers", c["Id"], "upper")
        inos.append(int(open(os.path.join(upper, "ino")).read()))
    assert inos == [lower_ino, lower_ino]                    # one file on disk, seen by both
    assert ok("diff", "mdimg-b").splitlines() == ["A /ino"]  # b never saw a's /etc/mdimg-a
    assert "A /etc/mdimg-a" in ok("diff", "mdimg-a").splitlines()
    ok("rm", "mdimg-a", "mdimg-b")
