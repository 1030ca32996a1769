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


def test_concurrent_ensure_base_image(img_root):
    """Every engineer's tests call ensure_base_image, often at once: all get the same image."""
    import subprocess
    import sys
    code = ("from minidocker.image import base; print(base.ensure_base_image().id)")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0].strip() for o in outs}) == 1
    s = st.Store()
    assert len(s.images()) == 1
    assert [n for n in os.listdir(s.layers_dir) if not n.endswith(".json")] == [s.images()[0].diff_ids[0][7:]]
    assert not [n for n in os.listdir(s.layout.blobs) if n.startswith(".")]


def test_explain_shows_extraction_steps(img_root):
    from minidocker import trace
    s = st.Store()
    with trace() as t:
        s.add_layer(layer_tar({"etc/motd": b"hi", "usr/share/x": b"x"}))
    shell = t.shell()
    assert any(line.startswith("cat blobs/sha256/") and "| tar -xp" in line for line in shell)
    assert any("etc/motd" in line and line.startswith("install -m 644") for line in shell)
    assert "extract" in t.kinds()


def test_one_image_two_manifests_rmi_removes_both(img_root):
    """The same config reached through a gzip manifest (as pulled) and a plain one (as built)."""
    import gzip
    s = st.Store()
    raw = layer_tar({"a": b"a" * 100})
    plain = s.add_layer(raw)
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": [plain.diff_id]}, "history": [{}]}
    img = s.add_image(cfg, [plain], tags=["mdimg-two:1"])
    gz_digest, gz_size = s.layout.put_blob(gzip.compress(raw))
    gz = st.LayerDesc(gz_digest, gz_size, plain.diff_id, layout.OCI_LAYER_GZIP)
    cfg_desc = img.manifest["config"]
    m2 = {"schemaVersion": 2, "mediaType": layout.OCI_MANIFEST, "config": cfg_desc, "layers": [gz.descriptor()]}
    m2_digest, _, _ = s.layout.put_json(m2)
    again = s.register(m2_digest, ["mdimg-two:pulled"])
    assert again.id == img.id
    assert [i.id for i in s.images()] == [img.id]
    assert sorted(s.resolve(img.id).repo_tags) == ["mdimg-two:1", "mdimg-two:pulled"]
    s.remove(img.id, force=True)
    assert s.layout.all_blobs() == [] and os.listdir(s.layers_dir) == []


def test_leftovers_are_found_and_cleaned(img_root):
    s = st.Store()
    base.ensure_base_image(s)
    junk = [os.path.join(s.layers_dir, ".tmp-dead"), os.path.join(s.layout.blobs, ".tmp-half")]
    os.mkdir(junk[0])
    open(junk[1], "w").close()
    assert s.leftovers() == []                          # young: maybe someone is writing them
    old = 1_000_000_000
    for j in junk:
        os.utime(j, (old, old))
    assert sorted(s.leftovers()) == sorted(junk)
    assert sorted(s.clean_leftovers()) == sorted(junk)
    assert not any(os.path.exists(j) for j in junk)
    assert s.resolve("busybox")                          # the real content is untouched


def test_cli_formats_like_docker():
    from minidocker.commands.images import human_duration, human_size
    assert [human_size(n) for n in (0, 999, 1000, 1982357, 123456789, 4.2e9)] == \
        ["0B", "999B", "1kB", "1.98MB", "123MB", "4.2GB"]
    assert [human_duration(s) for s in (0.5, 1, 30, 90, 3000, 3600, 7200, 86400 * 3, 86400 * 20,
                                        86400 * 100, 86400 * 800)] == \
        ["Less than a second", "1 second", "30 seconds", "About a minute", "50 minutes",
         "About an hour", "2 hours", "3 days", "2 weeks", "3 months", "2 years"]


def _snapshot(s):
    return (sorted(s.layout.all_blobs()), sorted(os.listdir(s.layers_dir)), s.layout.index()["manifests"])


def test_save_load_in_process_and_a_broken_archive_leaves_nothing(img_root, tmp_path):
    from minidocker.image import archive
    s = st.Store()
    img = base.ensure_base_image(s)
    child = child_image(s, img, {"etc/motd": b"saved\n"}, tags=["mdimg-sv:1"])
    buf = io.BytesIO()
    archive.save(["mdimg-sv:1"], buf, s)
    # a fresh store loads it: same image id, same layers
    s2 = st.Store(str(tmp_path / "fresh"))
    assert archive.load(io.BytesIO(buf.getvalue()), s2) == ["Loaded image: mdimg-sv:1"]
    assert s2.resolve("mdimg-sv:1").id == child.id
    assert s2.resolve("mdimg-sv:1").diff_ids == child.diff_ids
    # the same archive with the top layer's content changed: refused, nothing stays behind
    src = tarfile.open(fileobj=io.BytesIO(buf.getvalue()))
    bad = io.BytesIO()
    top = "blobs/sha256/" + child.diff_ids[-1][7:]
    with tarfile.open(fileobj=bad, mode="w") as out:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == top:
                data = layer_tar({"etc/motd": b"tampered\n"})
                m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)
    s3 = st.Store(str(tmp_path / "victim"))
    base.ensure_base_image(s3)
    before = _snapshot(s3)
    with pytest.raises(ImageError) as e:
        archive.load(io.BytesIO(bad.getvalue()), s3)
    assert "config says" in str(e.value) or "digest" in str(e.value)
    assert _snapshot(s3) == before
