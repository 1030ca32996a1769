"""The registry client against a registry that lies (a fake HTTP server on 127.0.0.1).

No root needed. Every lie must become a RegistryError that says what was wrong,
and nothing half-written may stay behind.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile

import pytest

from minidocker.errors import RegistryError
from minidocker.image import auth
from minidocker.image.registry import (MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, Registry, _parse_challenge,
                                       is_insecure, select_platform)
from tests.registry_server import FakeRegistry


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


@pytest.fixture
def fake():
    with FakeRegistry() as f:
        f.routes[("GET", "/v2/")] = (200, {}, b"{}")
        yield f


def test_wrong_digest_blob_is_refused_and_removed(fake, tmp_path):
    good = b"the real layer"
    digest = sha(good)
    fake.blob("mdk6/app", b"the real layer, tampered", digest)
    dest = tmp_path / "blob"
    with pytest.raises(RegistryError, match="failed verification"):
        Registry(fake.host).fetch_blob("mdk6/app", digest, str(dest))
    assert not dest.exists()


def test_one_wrong_byte_is_refused(fake, tmp_path):
    good = os.urandom(100_000)
    bad = bytearray(good)
    bad[50_000] ^= 1
    fake.blob("mdk6/app", bytes(bad), sha(good))
    with pytest.raises(RegistryError, match="refusing it"):
        Registry(fake.host).fetch_blob("mdk6/app", sha(good), str(tmp_path / "b"))
    assert os.listdir(tmp_path) == []


def test_truncated_blob_is_refused(fake, tmp_path):
    body = os.urandom(300_000)
    d = fake.blob("mdk6/app", body)
    fake.truncate[("GET", f"/v2/mdk6/app/blobs/{d}")] = 1000
    with pytest.raises(RegistryError, match="cut short|download failed"):
        Registry(fake.host).fetch_blob("mdk6/app", d, str(tmp_path / "b"))
    assert os.listdir(tmp_path) == []


def test_good_blob_is_accepted(fake, tmp_path):
    body = os.urandom(1000)
    d = fake.blob("mdk6/app", body)
    seen = []
    assert Registry(fake.host).fetch_blob("mdk6/app", d, str(tmp_path / "b"),
                                          lambda done, total: seen.append((done, total))) == 1000
    assert (tmp_path / "b").read_bytes() == body and seen[-1] == (1000, 1000)


@pytest.mark.parametrize("status, words", [(404, "HTTP 404"), (500, "HTTP 500"), (403, "HTTP 403")])
def test_error_statuses(fake, status, words):
    fake.routes[("GET", "/v2/mdk6/app/manifests/v1")] = (
        status, {}, b'{"errors":[{"code":"SOMETHING","message":"went wrong"}]}')
    with pytest.raises(RegistryError, match=words) as e:
        Registry(fake.host).get_manifest("mdk6/app", "v1")
    assert "SOMETHING: went wrong" in str(e.value)
    assert e.value.hint


def test_401_without_credentials_says_login(fake):
    fake.routes[("GET", "/v2/mdk6/app/tags/list")] = (401, {"WWW-Authenticate": 'Basic realm="x"'}, b"")
    with pytest.raises(RegistryError, match="requires a login") as e:
        Registry(fake.host).tags("mdk6/app")
    assert e.value.hint == f"minidocker login {fake.host}"


def test_unknown_auth_scheme(fake):
    fake.routes[("GET", "/v2/mdk6/app/tags/list")] = (401, {"WWW-Authenticate": 'Negotiate'}, b"")
    with pytest.raises(RegistryError, match="auth scheme"):
        Registry(fake.host).tags("mdk6/app")


def test_invalid_json(fake):
    fake.routes[("GET", "/v2/mdk6/app/manifests/v1")] = (200, {"Content-Type": MEDIA_OCI_MANIFEST}, b"{not json")
    fake.routes[("GET", "/v2/_catalog")] = (200, {}, b"[1,2")
    with pytest.raises(RegistryError, match="invalid JSON"):
        Registry(fake.host).get_manifest("mdk6/app", "v1")
    with pytest.raises(RegistryError, match="invalid JSON"):
        Registry(fake.host).catalog()


def test_manifest_digest_lies_are_caught(fake):
    raw = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST, "config": {}, "layers": []}).encode()
    fake.routes[("GET", "/v2/mdk6/app/manifests/v1")] = (200, {"Docker-Content-Digest": sha(b"other")}, raw)
    with pytest.raises(RegistryError, match="Docker-Content-Digest says"):
        Registry(fake.host).get_manifest("mdk6/app", "v1")
    wanted = sha(b"what I asked for")
    fake.routes[("GET", f"/v2/mdk6/app/manifests/{wanted}")] = (200, {}, raw)
    with pytest.raises(RegistryError, match="not the one asked for"):
        Registry(fake.host).get_manifest("mdk6/app", wanted)


def test_catalog_pagination(fake):
    fake.routes[("GET", "/v2/_catalog")] = (200, {"Link": '</v2/_catalog2?n=1&last=a>; rel="next"'},
                                            b'{"repositories":["a"]}')
    fake.routes[("GET", "/v2/_catalog2")] = (200, {}, b'{"repositories":["b"]}')
    assert Registry(fake.host).catalog() == ["a", "b"]


def test_unreachable_registry():
    with pytest.raises(RegistryError, match="cannot reach"):
        Registry("127.0.0.1:1", timeout=2).ping()


def test_pull_of_a_lying_layer_leaves_nothing(fake, md_root):
    """A layer whose bytes do not match its digest: pull fails, the store has no trace of it."""
    from minidocker.image.store import Store
    from minidocker.image.transfer import pull
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    layer = gzip.compress(buf.getvalue())
    diff_id = sha(buf.getvalue())
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha(layer), "size": len(layer)}]}).encode()
    fake.routes[("GET", "/v2/mdk6/liar/manifests/latest")] = (200, {}, manifest)
    fake.blob("mdk6/liar", config)
    fake.blob("mdk6/liar", layer[:-1] + bytes([layer[-1] ^ 0xFF]), sha(layer))
    store = Store()
    with pytest.raises(RegistryError, match="failed verification"):
        pull(f"{fake.host}/mdk6/liar", store=store, out=io.StringIO())
    blobs = os.listdir(os.path.join(store.root, "blobs", "sha256"))
    assert sha(layer)[7:] not in blobs and not [b for b in blobs if b.startswith(".tmp")]
    assert not os.path.exists(store.layer_dir(diff_id))
    # the same registry telling the truth: the pull works
    fake.blob("mdk6/liar", layer)
    r = pull(f"{fake.host}/mdk6/liar", store=store, out=io.StringIO())
    assert r.downloaded == [sha(layer)]
    with open(os.path.join(store.resolve(f"{fake.host}/mdk6/liar").layer_dirs[0], "hello.txt")) as f:
        assert f.read() == "hi"


def test_platform_selection():
    index = {"mediaType": MEDIA_DOCKER_LIST, "manifests": [
        {"digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "sha256:" + "b" * 64, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:" + "c" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:" + "d" * 64, "platform": {"os": "windows", "architecture": "amd64"}}]}
    assert select_platform(index, {"os": "linux", "architecture": "amd64"})["digest"][7] == "c"
    assert select_platform(index, {"os": "linux", "architecture": "arm64", "variant": "v8"})["digest"][7] == "b"
    with pytest.raises(RegistryError, match="linux/arm/v7, linux/arm64/v8, linux/amd64, windows/amd64"):
        select_platform(index, {"os": "linux", "architecture": "s390x"})


def test_http_only_for_local_or_insecure(monkeypatch):
    assert is_insecure("localhost:5000") and is_insecure("127.0.0.1:5000") and is_insecure("localhost")
    assert not is_insecure("registry.devops.com")
    assert Registry("registry.devops.com").base_url == "https://registry.devops.com"
    assert Registry("docker.io").base_url == "https://registry-1.docker.io"
    monkeypatch.setenv("MINIDOCKER_INSECURE_REGISTRIES", "registry.devops.com, other:5000")
    assert Registry("registry.devops.com").base_url == "http://registry.devops.com"


def test_challenge_parsing():
    assert _parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                            'scope="repository:library/busybox:pull"') == (
        "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                   "scope": "repository:library/busybox:pull"})


def test_credentials_file_is_0600(md_root):
    path = auth.save("localhost:5000", "mdk6user", "pa:ss")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.load("localhost:5000") == ("mdk6user", "pa:ss")
    assert auth.load("other:1") is None
    auth.save("docker.io", "u", "p")
    with open(path) as f:
        assert "https://index.docker.io/v1/" in json.load(f)["auths"]
    os.chmod(path, 0o644)
    with pytest.raises(RegistryError, match="readable by others"):
        auth.load("localhost:5000")
    os.chmod(path, 0o600)
    assert auth.remove("localhost:5000") and not auth.remove("localhost:5000")
    assert auth.load("localhost:5000") is None and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_config_that_lies_about_diff_ids(fake, md_root):
    """Right blob, wrong promise in the config: refused at unpack, no image, no layer dir."""
    from minidocker.errors import ImageError
    from minidocker.image.store import Store
    from minidocker.image.transfer import pull
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.addfile(tarfile.TarInfo("empty"))
    layer = gzip.compress(buf.getvalue())
    wrong = sha(b"not the tar")
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [wrong]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha(layer), "size": len(layer)}]}).encode()
    fake.routes[("GET", "/v2/mdk6/cfg/manifests/latest")] = (200, {}, manifest)
    fake.blob("mdk6/cfg", config)
    fake.blob("mdk6/cfg", layer)
    store = Store()
    with pytest.raises(ImageError, match="diff_id"):
        pull(f"{fake.host}/mdk6/cfg", store=store, out=io.StringIO())
    assert store.images(all=True) == []
    assert not os.path.exists(store.layer_dir(wrong)) and not os.path.exists(store.layer_dir(sha(buf.getvalue())))


def test_manifest_layer_count_mismatch_and_bad_media_type(fake, md_root):
    from minidocker.image.transfer import pull
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": sha(b"x"), "size": 1}
    m = {"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                    "size": len(config)}, "layers": [layer_desc]}
    fake.routes[("GET", "/v2/mdk6/zstd/manifests/latest")] = (200, {}, json.dumps(m).encode())
    fake.blob("mdk6/zstd", config)
    with pytest.raises(RegistryError, match="cannot unpack"):
        pull(f"{fake.host}/mdk6/zstd", out=io.StringIO())
    layer_desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    fake.routes[("GET", "/v2/mdk6/zstd/manifests/latest")] = (200, {}, json.dumps(m).encode())
    with pytest.raises(RegistryError, match="1 layers but the config 0 diff_ids"):
        pull(f"{fake.host}/mdk6/zstd", out=io.StringIO())
