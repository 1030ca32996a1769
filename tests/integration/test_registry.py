"""Push and pull against Debian's real registry (docker-registry = registry:2) on 127.0.0.1,
with no auth, htpasswd Basic auth and Bearer tokens; and real peers (skopeo) agreeing."""
from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess

import pytest

from minidocker.errors import NotFound, RegistryError
from minidocker.image import auth
from minidocker.image.registry import Registry
from minidocker.image.transfer import pull, push
from tests.helpers import md, random_layer_image
from tests.registry_server import RegistryServer

pytestmark = pytest.mark.usefixtures("root_only")


@pytest.fixture
def store(md_root):
    from minidocker.image.base import ensure_base_image
    from minidocker.image.store import Store
    s = Store()
    ensure_base_image(s)
    return s


@pytest.fixture
def registry():
    with RegistryServer() as reg:
        yield reg


def _fresh_store(tmp_path, name="fresh"):
    """An empty store laid out as MINIDOCKER_ROOT=tmp_path/name would have it."""
    from minidocker.image.store import Store
    return Store(str(tmp_path / name / "lib" / "image"))


def test_seed_workflow_push_catalog_tags_pull(store, registry, tmp_path):
    """seed 1.5.5: tag, push, curl _catalog and tags/list, pull into a fresh store."""
    ref = f"{registry.host}/mdk6/busybox:latest"
    store.tag("busybox", ref)
    out = io.StringIO()
    r = push(ref, store=store, out=out)
    assert r.uploaded and not r.existed
    text = out.getvalue()
    assert f"The push refers to repository [{registry.host}/mdk6/busybox]" in text
    assert f"latest: digest: {r.digest} size: {r.size}" in text and ": Pushed" in text
    from minidocker.image import registry as regmod
    assert regmod.catalog(registry.host) == ["mdk6/busybox"]
    assert regmod.tags(registry.host, "mdk6/busybox") == ["latest"]
    # what `curl -X GET localhost:5000/v2/_catalog` shows in the seed
    raw = subprocess.run(["curl", "-s", f"http://{registry.host}/v2/_catalog"], capture_output=True, text=True)
    assert json.loads(raw.stdout) == {"repositories": ["mdk6/busybox"]}

    # a second push uploads nothing
    r2 = push(ref, store=store, out=io.StringIO())
    assert r2.uploaded == [] and len(r2.existed) == len(r.uploaded) and r2.digest == r.digest

    fresh = _fresh_store(tmp_path)
    out = io.StringIO()
    p = pull(ref, store=fresh, out=out)
    original = store.resolve("busybox")
    assert p.image_id == original.id and p.digest == r.digest
    assert "Pull complete" in out.getvalue() and f"Digest: {r.digest}" in out.getvalue()
    img = fresh.resolve(ref)
    assert os.path.isfile(os.path.join(img.layer_dirs[0], "bin", "busybox"))
    again = pull(ref, store=fresh, out=io.StringIO())
    assert again.up_to_date
    # by digest
    fresh2 = _fresh_store(tmp_path, "fresh2")
    byd = pull(f"{registry.host}/mdk6/busybox@{r.digest}", store=fresh2, out=io.StringIO())
    assert byd.image_id == original.id
    assert fresh2.resolve(f"{registry.host}/mdk6/busybox@{r.digest}").id == original.id


def test_chunked_upload_and_present_layers_skipped(store, registry, tmp_path):
    ref = f"{registry.host}/mdk6/chunky:v1"
    store.tag("busybox", ref)
    r = push(ref, store=store, out=io.StringIO(), chunk=64 * 1024)
    assert len(r.uploaded) == 2
    fresh = _fresh_store(tmp_path)
    pull(ref, store=fresh, out=io.StringIO())
    # the same layers under another name: nothing is downloaded again
    store.tag("busybox", f"{registry.host}/mdk6/other:v2")
    push(f"{registry.host}/mdk6/other:v2", store=store, out=io.StringIO())
    out = io.StringIO()
    p = pull(f"{registry.host}/mdk6/other:v2", store=fresh, out=out)
    assert p.downloaded == [] and len(p.skipped) == 1 and "Already exists" in out.getvalue()


def test_push_unknown_image_and_pull_unknown_tag(store, registry):
    with pytest.raises(NotFound, match="does not exist locally"):
        push(f"{registry.host}/mdk6/nope:1", store=store, out=io.StringIO())
    with pytest.raises(RegistryError, match="404") as e:
        pull(f"{registry.host}/mdk6/nope:1", store=store, out=io.StringIO())
    assert "MANIFEST_UNKNOWN" in str(e.value) or "NAME_UNKNOWN" in str(e.value)


def test_htpasswd_basic_auth(store, tmp_path):
    with RegistryServer(auth="htpasswd") as registry:
        ref = f"{registry.host}/mdk6/private:1"
        store.tag("busybox", ref)
        with pytest.raises(RegistryError, match="requires a login") as e:
            push(ref, store=store, out=io.StringIO())
        assert e.value.hint == f"minidocker login {registry.host}"
        # the CLI: a wrong password is refused and nothing is saved
        bad = md("login", "-u", "mdk6user", "--password-stdin", registry.host, input="wrong\n")
        assert bad.returncode == 125 and "401" in bad.stderr
        assert not os.path.exists(auth.auth_file())
        ok = md("login", "-u", "mdk6user", "--password-stdin", registry.host, input="mdk6-secret\n")
        assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
        assert stat.S_IMODE(os.stat(auth.auth_file()).st_mode) == 0o600
        r = push(ref, store=store, out=io.StringIO())
        assert len(r.uploaded) == 2
        p = pull(ref, store=_fresh_store(tmp_path), out=io.StringIO())
        assert p.image_id == store.resolve("busybox").id
        out = md("logout", registry.host)
        assert "Removing login credentials" in out.stdout
        with pytest.raises(RegistryError):
            Registry(registry.host, credentials=auth.load(registry.host)).tags("mdk6/private")


def test_bearer_token_flow(store, tmp_path):
    with RegistryServer(auth="token", anonymous_pull=True) as registry:
        ref = f"{registry.host}/mdk6/tok:1"
        store.tag("busybox", ref)
        # anonymous token: pull only, so the push is refused
        with pytest.raises(RegistryError, match="401|denied|UNAUTHORIZED"):
            push(ref, store=store, out=io.StringIO(), client=Registry(registry.host))
        creds = ("mdk6user", "mdk6-secret")
        r = push(ref, store=store, out=io.StringIO(), client=Registry(registry.host, credentials=creds))
        assert len(r.uploaded) == 2
        asked = registry.token.requests
        assert any(q["user"] == "mdk6user" and "repository:mdk6/tok:pull,push" in q["scope"] for q in asked)
        assert all(q["service"] == ["mdk6-registry"] for q in asked)
        # anonymous pull works with an anonymous token (as on Docker Hub)
        p = pull(ref, store=_fresh_store(tmp_path), out=io.StringIO(), client=Registry(registry.host))
        assert p.image_id == store.resolve("busybox").id
        assert any(q["user"] is None for q in registry.token.requests)
        with pytest.raises(RegistryError, match="refused the login"):
            Registry(registry.host, credentials=("mdk6user", "wrong")).tags("mdk6/tok")
        # the CLI: login checks the password with the token service, push uses the saved login
        bad = md("login", "-u", "mdk6user", "--password-stdin", registry.host, input="wrong\n")
        assert bad.returncode == 125 and "refused the login for mdk6user" in bad.stderr
        ok = md("login", "-u", "mdk6user", "--password-stdin", registry.host, input="mdk6-secret\n")
        assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
        store.tag("busybox", f"{registry.host}/mdk6/tok:cli")
        p = md("push", f"{registry.host}/mdk6/tok:cli")
        assert p.returncode == 0 and "Layer already exists" in p.stdout, p.stderr


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo not installed")
def test_skopeo_reads_what_we_push_and_we_pull_what_skopeo_pushes(store, registry, tmp_path, host_clean):
    ref = f"{registry.host}/mdk6/peer:1"
    store.tag("busybox", ref)
    r = push(ref, store=store, out=io.StringIO())
    insp = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                          capture_output=True, text=True, timeout=60)
    assert insp.returncode == 0, insp.stderr
    data = json.loads(insp.stdout)
    assert data["Digest"] == r.digest and data["Architecture"] == "amd64" and len(data["Layers"]) == 1
    # skopeo copies the store's OCI layout (oci:DIR:NAME) to the registry; we pull that
    src = f"oci:{store.root}:busybox:latest"
    cp = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", src,
                         f"docker://{registry.host}/mdk6/fromskopeo:v1"],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    fresh = _fresh_store(tmp_path)
    p = pull(f"{registry.host}/mdk6/fromskopeo:v1", store=fresh, out=io.StringIO())
    img = fresh.resolve(f"{registry.host}/mdk6/fromskopeo:v1")
    assert p.image_id == img.id
    assert os.path.isfile(os.path.join(img.layer_dirs[0], "bin", "busybox"))
    assert Registry(registry.host).tags("mdk6/fromskopeo") == ["v1"]
    # and it runs, from that other state root
    other = {"MINIDOCKER_ROOT": str(tmp_path / "fresh")}
    try:
        run = md("run", "--rm", "--network", "none", f"{registry.host}/mdk6/fromskopeo:v1",
                 "echo", "copied by skopeo", env=other)
        assert run.stdout == "copied by skopeo\n", run.stderr
    finally:
        md("system", "prune", "-f", env=other)


def test_cli_push_pull(store, registry):
    ref = f"{registry.host}/mdk6/cli:2"
    store.tag("busybox", ref)
    r = md("push", ref)
    assert r.returncode == 0 and "2: digest: sha256:" in r.stdout, r.stderr
    r = md("pull", ref)
    assert r.returncode == 0 and "Status: Image is up to date" in r.stdout
    r = md("pull", f"{registry.host}/mdk6/cli:missing")
    assert r.returncode == 125 and "manifest unknown" in r.stderr.lower()


def test_manifest_list_platform_selection(store, registry, tmp_path):
    """An OCI index with two platforms: pull takes this machine's, --platform the other."""
    from minidocker.image.registry import MEDIA_OCI_INDEX
    amd = push_as(store, registry, "busybox", "mdk6/multi:amd64")
    other = _scratch_image(store)
    arm = push_as(store, registry, other, "mdk6/multi:arm64")
    index = {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.digest, "size": arm.size,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.digest, "size": amd.size,
         "platform": {"os": "linux", "architecture": "amd64"}}]}
    raw = json.dumps(index).encode()
    index_digest = Registry(registry.host).put_manifest("mdk6/multi", "latest", raw, MEDIA_OCI_INDEX)
    fresh = _fresh_store(tmp_path)
    p = pull(f"{registry.host}/mdk6/multi", store=fresh, out=io.StringIO(),
             platform={"os": "linux", "architecture": "amd64"})
    assert p.digest == index_digest and p.image_id == store.resolve("busybox").id
    q = pull(f"{registry.host}/mdk6/multi", store=_fresh_store(tmp_path, "arm"), out=io.StringIO(),
             platform={"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert q.image_id == store.resolve(other).id
    with pytest.raises(RegistryError, match="no image for linux/s390x"):
        pull(f"{registry.host}/mdk6/multi", store=fresh, out=io.StringIO(),
             platform={"os": "linux", "architecture": "s390x"})


def push_as(store, registry, source, name_tag):
    ref = f"{registry.host}/{name_tag}"
    store.tag(source, ref)
    return push(ref, store=store, out=io.StringIO())


def _scratch_image(store) -> str:
    """A second, different image: one file on scratch (built by the builder)."""
    import tempfile
    from minidocker.image.build import build
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "hello.txt"), "w") as f:
            f.write("the arm64 one\n")
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write("FROM scratch\nCOPY hello.txt /\n")
        return build(d, out=io.StringIO(), store=store).image_id


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo not installed")
def test_pull_docker_schema2_written_by_skopeo(store, registry, tmp_path):
    """skopeo converts to Docker's schema 2 (--format v2s2); we pull that format too."""
    src = f"oci:{store.root}:busybox:latest"
    cp = subprocess.run(["skopeo", "copy", "--format", "v2s2", "--dest-tls-verify=false", src,
                         f"docker://{registry.host}/mdk6/v2s2:1"], capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    m = Registry(registry.host).get_manifest("mdk6/v2s2", "1")
    assert m.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    fresh = _fresh_store(tmp_path)
    p = pull(f"{registry.host}/mdk6/v2s2:1", store=fresh, out=io.StringIO())
    img = fresh.resolve(f"{registry.host}/mdk6/v2s2:1")
    assert p.image_id == img.id and os.path.isfile(os.path.join(img.layer_dirs[0], "bin", "busybox"))
    assert img.diff_ids == store.resolve("busybox").diff_ids


def test_push_and_pull_keep_connections_alive(store, registry, tmp_path, monkeypatch):
    """registry:2 keeps HTTP/1.1 connections open: a push of 8 layers (HEAD, POST, PUT each)
    and a pull of them open one connection per worker thread, not one per request."""
    from minidocker import params
    from minidocker.image import http11
    opened = []
    real = http11._connect
    monkeypatch.setattr(http11, "_connect", lambda *a: opened.append(a) or real(*a))
    ref = f"{registry.host}/mdk6/keep:1"
    random_layer_image(store, ref, 8, 100_000, "mdk6-keep")
    r = push(ref, store=store, out=io.StringIO())
    assert len(r.uploaded) == 9                           # 8 layers and the config: 27 requests + 1
    pushed = len(opened)
    assert 1 <= pushed <= params.PUSH_PARALLEL
    p = pull(ref, store=_fresh_store(tmp_path), out=io.StringIO())
    assert len(p.downloaded) == 8                         # manifest, config, 8 layers: 10 requests
    assert 1 <= len(opened) - pushed <= params.PULL_PARALLEL


def test_explain_shows_the_upload_and_the_unpack(store, registry, tmp_path):
    """`--explain` on push and pull prints the kernel steps: sendfile(2) of each layer
    uploaded, and the unpack of each layer pulled."""
    ref = f"{registry.host}/mdk6/explain:1"
    store.tag("busybox", ref)
    r = md("--explain", "push", ref)
    assert r.returncode == 0, r.stderr
    assert "[explain]" in r.stderr and "sendfile(socket," in r.stderr and "curl -T" in r.stderr
    r = md("--explain", "pull", ref, env={"MINIDOCKER_ROOT": str(tmp_path / "explain-root")})
    assert r.returncode == 0, r.stderr
    assert "unpack layer sha256:" in r.stderr and "tar -xp" in r.stderr
