"""The image store: OCI layout, resolve, tags, rmi, prune, digest checks (no kernel needed)."""
import io
import json
import os
import tarfile

import pytest

from minidocker.errors import Conflict, ImageError, NotFound
from minidocker.image import base, layout, store as st


@pytest.fixture
def img_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path / "md"))
    return tmp_path / "md"


def layer_tar(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def child_image(s, parent, files, tags=(), comment="test layer"):
    layer = s.add_layer(layer_tar(files))
    cfg = json.loads(json.dumps(parent.config))
    cfg["rootfs"]["diff_ids"].append(layer.diff_id)
    cfg["history"].append({"created_by": comment})
    cfg["created"] = "2030-01-01T00:00:00Z"
    layers = [s.unpack(d["digest"]) for d in parent.manifest["layers"]] + [layer]
    return s.add_image(cfg, layers, tags=list(tags), parent=parent.id)


def test_base_image_is_busybox_and_idempotent(img_root):
    s = st.Store()
    assert s.root == str(img_root / "lib" / "image")
    img = base.ensure_base_image(s)
    assert img.repo_tags == ["busybox:latest"]
    assert img.config["config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in img.config["config"]["Env"])
    assert img.id.startswith("sha256:") and len(img.id) == 71
    (top,) = img.layer_dirs
    bb = os.stat(os.path.join(top, "bin/busybox"))
    # applets are hardlinks of the one binary
    assert os.stat(os.path.join(top, "bin/sh")).st_ino == bb.st_ino
    assert os.stat(os.path.join(top, "usr/bin/env")).st_ino == bb.st_ino
    assert oct(os.stat(os.path.join(top, "tmp")).st_mode & 0o7777) == "0o1777"
    # a second call builds nothing and returns the same image; the id is deterministic
    again = base.ensure_base_image(st.Store())
    assert again.id == img.id and again.layer_dirs == img.layer_dirs
    # the OCI layout files are there
    assert json.load(open(img_root / "lib/image/oci-layout")) == {"imageLayoutVersion": "1.0.0"}
    idx = json.load(open(img_root / "lib/image/index.json"))
    ann = idx["manifests"][0]["annotations"]
    assert ann[layout.REF_NAME] == "busybox:latest"
    assert ann[layout.CONTAINERD_NAME] == "docker.io/library/busybox:latest"


def test_resolve_by_every_kind_of_name(img_root):
    s = st.Store()
    img = base.ensure_base_image(s)
    for text in ["busybox", "busybox:latest", "docker.io/library/busybox:latest",
                 img.id, img.id[7:], img.id[7:19], img.id[:14],
                 f"busybox@{img.manifest_digest}"]:
        assert s.resolve(text).id == img.id, text
    with pytest.raises(NotFound) as e:
        s.resolve("busybox:nope")
    assert "no such image" in str(e.value) and e.value.hint
    with pytest.raises(NotFound):
        s.resolve("0" * 64)
    with pytest.raises(ImageError):
        s.resolve("Bad:Name!")


def test_tag_untag_and_dangling(img_root):
    s = st.Store()
    img = base.ensure_base_image(s)
    s.tag("busybox", "localhost:5000/mdimg/box:v1")
    assert s.resolve("localhost:5000/mdimg/box:v1").id == img.id
    assert sorted(s.resolve("busybox").repo_tags) == ["busybox:latest", "localhost:5000/mdimg/box:v1"]
    # a tag moved to another image leaves the old image untagged, not gone
    child = child_image(s, img, {"hello.txt": b"hi"}, tags=["mdimg-child:1"])
    s.tag(child.id, "busybox:latest")
    assert s.resolve("busybox").id == child.id
    assert s.resolve(img.id).repo_tags == ["localhost:5000/mdimg/box:v1"]
    s.remove("localhost:5000/mdimg/box:v1")      # its last tag: the image goes ...
    with pytest.raises(NotFound):
        s.resolve(img.id)
    # ... but its layer stays: the child uses it
    assert os.path.isdir(s.resolve(child.id).layer_dirs[0])


def test_rmi_refcounts_layers(img_root):
    s = st.Store()
    img = base.ensure_base_image(s)
    a = child_image(s, img, {"a": b"1"}, tags=["mdimg-a:1"])
    b = child_image(s, img, {"b": b"2"}, tags=["mdimg-b:1"])
    shared = img.layer_dirs[0]
    assert a.layer_dirs[0] == b.layer_dirs[0] == shared      # one directory, shared
    s.tag("mdimg-a:1", "mdimg-a:2")
    with pytest.raises(Conflict):                            # by id with two tags: needs -f
        s.remove(a.id)
    lines = s.remove("mdimg-a:2")
    assert lines == ["Untagged: mdimg-a:2"]
    lines = s.remove(a.id, force=True)
    assert "Untagged: mdimg-a:1" in lines and f"Deleted: {a.id}" in lines
    assert not os.path.exists(a.layer_dirs[1])              # a's own layer is gone
    assert not s.layout.has_blob(a.id)
    assert os.path.isdir(shared) and os.path.isdir(b.layer_dirs[1])
    s.remove("busybox")
    assert os.path.isdir(shared)                            # still used by b
    s.remove("mdimg-b:1")
    assert not os.path.exists(shared)
    assert s.images(all=True) == []
    assert os.listdir(s.layers_dir) == [] and os.listdir(s.links_dir) == []


def test_prune_removes_dangling_keeps_intermediates(img_root):
    s = st.Store()
    img = base.ensure_base_image(s)
    mid = child_image(s, img, {"m": b"m"})                   # untagged parent of `top`
    top = child_image(s, mid, {"t": b"t"}, tags=["mdimg-top:1"])
    lonely = child_image(s, img, {"x": b"x" * 5000})         # dangling
    listed = {i.id for i in s.images()}
    assert top.id in listed and lonely.id in listed and mid.id not in listed
    assert mid.id in {i.id for i in s.images(all=True)}
    lines, reclaimed = s.prune()
    assert lines == [f"deleted: {lonely.id}"] and reclaimed >= 5000
    assert s.exists(mid.id) and s.exists(top.id)
    lines, _ = s.prune(all=True)
    assert s.images(all=True) == []


def test_corrupt_blob_is_refused(img_root):
    s = st.Store()
    img = base.ensure_base_image(s)
    path = s.layout.blob_path(img.id)
    data = open(path, "rb").read()
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data.replace(b'"sh"', b'"zz"'))
    with pytest.raises(ImageError) as e:
        s.resolve("busybox")
    assert "corrupt" in str(e.value)


def test_put_blob_checks_expected_digest(img_root, tmp_path):
    lay = layout.Layout(str(tmp_path / "lay"))
    lay.init()
    good = layout.sha256_digest(b"hello")
    assert lay.put_blob(b"hello", good) == (good, 5)
    with pytest.raises(ImageError):
        lay.put_blob(b"hellO", layout.sha256_digest(b"other"))
    assert [n for n in os.listdir(lay.blobs)] == [good[7:]]   # no temp file left


def test_gzip_layer_and_diff_id(img_root):
    import gzip
    s = st.Store()
    raw = layer_tar({"etc/motd": b"welcome\n"})
    gz = gzip.compress(raw)
    d = s.add_layer(gz)
    assert d.media_type == layout.OCI_LAYER_GZIP
    assert d.digest == layout.sha256_digest(gz) and d.diff_id == layout.sha256_digest(raw)
    assert open(os.path.join(s.layer_dir(d.diff_id), "etc/motd"), "rb").read() == b"welcome\n"
    # a wrong diff_id claimed by a config is caught and nothing half-unpacked stays
    s2 = st.Store(str(img_root / "other"))
    s2.layout.init()
    dig, _ = s2.layout.put_blob(gz)
    with pytest.raises(ImageError):
        s2.unpack(dig, "sha256:" + "0" * 64)
    assert os.listdir(s2.layers_dir) == []
