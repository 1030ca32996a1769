"""Cross-repository blob mount against the real registry:2 (docker-registry) on 127.0.0.1:
a second push of the same layers to another repository mounts them (one POST answered
201, no upload), a mount the registry cannot do (202) falls back to uploading into the
session it opened, and pulls teach the store where blobs live too."""
from __future__ import annotations

import io
import os
import re

import pytest

from minidocker.image import blobsources
from minidocker.image.registry import Registry
from minidocker.image.transfer import pull, push
from tests.helpers import random_layer_image
from tests.registry_server import RegistryServer

pytestmark = pytest.mark.usefixtures("root_only")

_ACCESS = re.compile(r'"(GET|HEAD|POST|PATCH|PUT|DELETE) (\S+) HTTP/1\.1" (\d+)')


@pytest.fixture
def registry():
    with RegistryServer() as reg:
        yield reg


def requests(reg, repo: str) -> list[tuple[str, str, int]]:
    """(method, uri, status) of every request the registry logged for `repo`."""
    return [(m, uri, int(st)) for m, uri, st in _ACCESS.findall(reg.read_log())
            if uri.startswith(f"/v2/{repo}/")]


def _image(store, tag: str, layers: int = 2):
    """An image of fresh random layers (no registry has seen them)."""
    img, descs = random_layer_image(store, tag, layers, prefix="mdk11")
    return img, [d.digest for d in descs]


@pytest.fixture
def store(md_root):
    from minidocker.image.store import Store
    return Store()


def test_second_push_mounts_instead_of_uploading(store, registry):
    host = registry.host
    img, layers = _image(store, f"{host}/mdk11/first:1")
    config = img.id
    r1 = push(f"{host}/mdk11/first:1", store=store, out=io.StringIO())
    assert sorted(r1.uploaded) == sorted(layers + [config]) and r1.mounted == []
    store.tag(f"{host}/mdk11/first:1", f"{host}/mdk11/second:1")
    out = io.StringIO()
    r2 = push(f"{host}/mdk11/second:1", store=store, out=out)
    assert sorted(r2.mounted) == sorted(layers + [config])
    assert r2.uploaded == [] and r2.existed == []
    assert "Mounted from mdk11/first" in out.getvalue()
    # what the registry saw for the second repository: mounts answered 201, no upload at all
    seen = requests(registry, "mdk11/second")
    mounts = [(m, u, s) for m, u, s in seen if m == "POST" and "mount=" in u]
    assert len(mounts) == 3 and all(s == 201 and "from=mdk11%2Ffirst" in u for _, u, s in mounts)
    assert not [x for x in seen if x[0] in ("PATCH", "PUT") and "/blobs/uploads/" in x[1]]
    # ... and the mounted blobs really are in the new repository
    reg = Registry(host)
    assert all(reg.blob_exists("mdk11/second", d) for d in layers + [config])
    assert reg.get_manifest("mdk11/second", "1").digest == r2.digest


def test_refused_mount_falls_back_to_upload_in_the_same_session(store, registry):
    """A stale hint: the store thinks mdk11/gone has the blobs, the registry answers 202."""
    host = registry.host
    img, layers = _image(store, f"{host}/mdk11/target:1", layers=1)
    blobsources.remember(store, host, "mdk11/gone", layers + [img.id])
    r = push(f"{host}/mdk11/target:1", store=store, out=io.StringIO())
    assert sorted(r.uploaded) == sorted(layers + [img.id]) and r.mounted == []
    seen = requests(registry, "mdk11/target")
    posts = [(u, s) for m, u, s in seen if m == "POST"]
    assert len(posts) == 2 and all("mount=" in u and s == 202 for u, s in posts)   # no second POST
    puts = [s for m, u, s in seen if m == "PUT" and "/blobs/uploads/" in u]
    assert puts == [201, 201]                       # uploaded into the sessions the 202s opened
    assert Registry(host).blob_exists("mdk11/target", layers[0])
    # the store now knows the truth: target has them
    assert blobsources.sources(store, host)[layers[0]][0] == "mdk11/target"


def test_pull_records_where_blobs_live_so_a_push_elsewhere_mounts(store, registry, tmp_path):
    from minidocker.image.store import Store
    host = registry.host
    img, layers = _image(store, f"{host}/mdk11/src:1", layers=1)
    push(f"{host}/mdk11/src:1", store=store, out=io.StringIO())
    other = Store(str(tmp_path / "other" / "lib" / "image"))
    pull(f"{host}/mdk11/src:1", store=other, out=io.StringIO())
    assert blobsources.sources(other, host)[layers[0]] == ["mdk11/src"]
    other.tag(f"{host}/mdk11/src:1", f"{host}/mdk11/copy:1")
    r = push(f"{host}/mdk11/copy:1", store=other, out=io.StringIO())
    assert sorted(r.mounted) == sorted(layers + [img.id])


def test_push_to_the_same_repository_again_finds_blobs_present(store, registry):
    """The repository itself is among the known places: HEAD first, nothing mounted or sent."""
    host = registry.host
    _image(store, f"{host}/mdk11/again:1", layers=1)
    push(f"{host}/mdk11/again:1", store=store, out=io.StringIO())
    r = push(f"{host}/mdk11/again:1", store=store, out=io.StringIO())
    assert r.uploaded == [] and r.mounted == [] and len(r.existed) == 2


#: what `push` and `pull` must not import (bench: push that only mounts is mostly
#: interpreter start-up, so every import counts): http.client (and the email package
#: behind it), urllib, ssl and the socket wrapper are replaced by image/http11.py
_NEVER = ["http", "email", "urllib", "ssl", "socket", "selectors", "platform", "base64", "json",
          "concurrent", "typing", "dataclasses", "logging"]
_NEVER_ON_PUSH = _NEVER + ["threading", "queue", "hashlib", "re", "contextlib", "tempfile", "shutil"]


def _modules_after(argv: list[str], env: dict | None = None) -> set[str]:
    """Run the CLI's main(argv) as the `minidocker` launcher does (python -I -S); list sys.modules."""
    import ast
    import subprocess
    import sys
    from minidocker.launcher import launcher_paths
    code = ("import sys\nsys.path[:0] = %r\nfrom minidocker.cli import main\nrc = main(%r)\n"
            "sys.stdout.write('\\n' + repr(sorted(sys.modules)))\nsys.exit(rc)" % (launcher_paths(), argv))
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **(env or {})})
    assert p.returncode == 0, p.stderr
    return set(ast.literal_eval(p.stdout.strip().splitlines()[-1]))


def _loaded(mods: set[str], names: list[str]) -> list[str]:
    return sorted(n for n in names if n in mods or any(m.startswith(n + ".") for m in mods))


def test_push_and_pull_import_nothing_heavy(store, registry, tmp_path):
    host = registry.host
    _image(store, f"{host}/mdk11/light:1", layers=2)
    push(f"{host}/mdk11/light:1", store=store, out=io.StringIO())
    store.tag(f"{host}/mdk11/light:1", f"{host}/mdk11/light-copy:1")
    mods = _modules_after(["push", f"{host}/mdk11/light-copy:1"])         # mounts only
    assert "minidocker.image.http11" in mods and _loaded(mods, _NEVER_ON_PUSH) == []
    mods = _modules_after(["pull", f"{host}/mdk11/light:1"], env={"MINIDOCKER_ROOT": str(tmp_path / "light")})
    assert "minidocker.image.tarsafe" in mods and _loaded(mods, _NEVER + ["threading", "queue"]) == []
