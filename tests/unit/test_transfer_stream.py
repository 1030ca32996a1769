"""Pull unpacks a layer while it downloads (transfer._download_layer, _Pipe). The bytes are
untrusted until the whole blob hashed right: against a registry that lies (tests/registry_server
FakeRegistry) nothing may become visible, and the error must name the real cause."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time

import pytest

from minidocker.errors import RegistryError
from minidocker.image.registry import MEDIA_OCI_MANIFEST
from minidocker.image.transfer import _parallel, _Pipe, pull
from tests.registry_server import FakeRegistry

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer(files: dict[str, bytes], gz: bool = True) -> tuple[bytes, str]:
    """(blob, diff_id) of a tar holding `files` (gzip-compressed unless gz=False)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return (gzip.compress(buf.getvalue()) if gz else buf.getvalue()), sha(buf.getvalue())


def serve(fake, name: str, layers: list[tuple[bytes, str]], media: str = LAYER) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": media, "digest": sha(b), "size": len(b)}
                                      for b, _ in layers]}).encode()
    fake.routes[("GET", f"/v2/{name}/manifests/latest")] = (200, {}, manifest)
    fake.blob(name, config)
    for b, _ in layers:
        fake.blob(name, b)


@pytest.fixture
def fake():
    with FakeRegistry() as f:
        f.routes[("GET", "/v2/")] = (200, {}, b"{}")
        yield f


@pytest.fixture
def store(md_root):
    from minidocker.image.store import Store
    return Store()


def nothing_left(store, blob_digest: str, diff_id: str) -> None:
    blobs = os.listdir(store.layout.blobs)
    assert blob_digest[7:] not in blobs and not [b for b in blobs if b.startswith(".")]
    assert not os.path.exists(store.layer_dir(diff_id))
    assert not [d for d in os.listdir(store.layers_dir) if d.startswith(".tmp")]
    assert store.images(all=True) == []


@pytest.mark.parametrize("size", [4, 5 << 20])     # read inline / read ahead by the _Pipe thread
def test_a_valid_but_different_layer_is_refused_and_nothing_is_visible(fake, store, size):
    """The swapped blob is a perfectly good tar of the same size: only the digest can
    tell, and only at the end; by then its files were unpacked, into a private temp dir."""
    good, diff_id = layer({"etc/motd": b"r" * size}, gz=False)
    evil, _ = layer({"etc/motd": b"e" * size}, gz=False)
    assert len(good) == len(evil) and good != evil
    serve(fake, "mdk11/swap", [(good, diff_id)], media="application/vnd.oci.image.layer.v1.tar")
    fake.blob("mdk11/swap", evil, sha(good))
    with pytest.raises(RegistryError, match="failed verification"):
        pull(f"{fake.host}/mdk11/swap", store=store, out=io.StringIO())
    nothing_left(store, sha(good), diff_id)


def test_garbage_under_a_digest_is_reported_as_a_digest_error(fake, store):
    """Not even gzip: unpacking fails first, but the digest is the better explanation."""
    good, diff_id = layer({"a": b"a"})
    serve(fake, "mdk11/junk", [(good, diff_id)])
    fake.blob("mdk11/junk", os.urandom(5000), sha(good))
    with pytest.raises(RegistryError, match="failed verification|larger than"):
        pull(f"{fake.host}/mdk11/junk", store=store, out=io.StringIO())
    nothing_left(store, sha(good), diff_id)


def test_more_bytes_than_the_manifest_promised_are_refused(fake, store):
    good, diff_id = layer({"a": os.urandom(3000)})
    serve(fake, "mdk11/long", [(good, diff_id)])
    fake.blob("mdk11/long", good + os.urandom(2 << 20), sha(good))      # endless-ish stream
    with pytest.raises(RegistryError, match="larger than"):
        pull(f"{fake.host}/mdk11/long", store=store, out=io.StringIO())
    nothing_left(store, sha(good), diff_id)


def test_truncated_layer_is_refused(fake, store):
    good, diff_id = layer({"a": os.urandom(300_000)})
    serve(fake, "mdk11/cut", [(good, diff_id)])
    fake.truncate[("GET", f"/v2/mdk11/cut/blobs/{sha(good)}")] = 1000
    with pytest.raises(RegistryError, match="cut short|download failed"):
        pull(f"{fake.host}/mdk11/cut", store=store, out=io.StringIO())
    nothing_left(store, sha(good), diff_id)


def test_many_layers_in_parallel_and_a_repeated_layer_once(fake, store):
    layers = [layer({f"l{i}/f": os.urandom(50_000 + i)}) for i in range(7)]
    layers.append(layers[2])                    # the same layer listed twice, as images do
    serve(fake, "mdk11/many", layers)
    r = pull(f"{fake.host}/mdk11/many", store=store, out=io.StringIO())
    assert r.downloaded == [sha(b) for b, _ in layers[:7]]            # manifest order, once each
    img = store.resolve(f"{fake.host}/mdk11/many")
    assert len(img.layer_dirs) == 8
    for i, d in enumerate(img.layer_dirs[:7]):
        assert os.path.getsize(os.path.join(d, f"l{i}/f")) == 50_000 + i
    assert sorted(os.listdir(store.layout.blobs)) == sorted({sha(b)[7:] for b, _ in layers} |
                                                            {img.id[7:], img.manifest_digest[7:]})


def test_pipe_hands_errors_to_the_reader_and_stops_cleanly():
    class Source(io.RawIOBase):
        def __init__(self, n_ok):
            self.n_ok = n_ok

        def readinto(self, b):
            if self.n_ok == 0:
                raise RegistryError("boom in the reading thread")
            self.n_ok -= 1
            b[:3] = b"abc"
            return 3

    p = _Pipe(Source(2))
    assert p.read(3) == b"abc" and p.read(3) == b"abc"
    with pytest.raises(RegistryError, match="boom"):
        p.read(3)
    p.stop()
    # a reader that walks away while the writer is blocked on a full queue: stop() returns
    endless = _Pipe(Source(10 ** 9), chunk=16, depth=2)
    time.sleep(0.2)
    t0 = time.monotonic()
    endless.stop()
    assert time.monotonic() - t0 < 2


def test_parallel_runs_everything_and_raises_the_first_error():
    seen, lock = [], threading.Lock()

    def fn(i):
        with lock:
            seen.append(i)
        if i == 3:
            raise ValueError("three")

    with pytest.raises(ValueError, match="three"):
        _parallel(fn, list(range(4)), 2)
    assert 3 in seen
    seen.clear()
    _parallel(fn, [0, 1, 2], 5)
    assert sorted(seen) == [0, 1, 2]
    _parallel(fn, [], 3)



def test_one_lying_layer_among_many_leaves_nothing(fake, store):
    """Layers download in parallel: when one is refused, the good ones that already landed
    (blobs and unpacked dirs) are removed again, and no temp file or dir stays."""
    layers = [layer({f"l{i}/f": os.urandom(200_000 + i)}) for i in range(8)]
    serve(fake, "mdk11/onebad", layers)
    bad = layers[5][0]
    fake.blob("mdk11/onebad", bad[:-1] + bytes([bad[-1] ^ 1]), sha(bad))
    with pytest.raises(RegistryError, match="failed verification"):
        pull(f"{fake.host}/mdk11/onebad", store=store, out=io.StringIO())
    for b, d in layers:
        nothing_left(store, sha(b), d)
    left = [os.listdir(d) for d in (store.layers_dir, store.links_dir) if os.path.isdir(d)]
    assert left in ([], [[]], [[], []]), left      # no layer dir, .json record or short link


def test_parallel_raises_only_after_every_worker_stopped():
    """A failure must not leave a worker still writing while pull cleans up."""
    finished = []

    def fn(i):
        if i == 0:
            time.sleep(0.05)        # both workers hold an item by now
            raise RegistryError("first item fails at once")
        time.sleep(0.3)
        finished.append(i)

    with pytest.raises(RegistryError, match="at once"):
        _parallel(fn, [0, 1, 2, 3], 2)
    assert finished == [1]          # the running item finished; no new one started after the error


def test_a_config_longer_than_its_descriptor_says_is_refused(fake, store):
    """The config is read up to the size the manifest gave it, not for as long as the
    registry keeps sending (a lying registry could otherwise fill the disk)."""
    good, diff_id = layer({"a": b"a"})
    serve(fake, "mdk11/bigcfg", [(good, diff_id)])
    (status, headers, manifest) = fake.routes[("GET", "/v2/mdk11/bigcfg/manifests/latest")]
    cfg = json.loads(manifest)["config"]
    key = ("GET", f"/v2/mdk11/bigcfg/blobs/{cfg['digest']}")
    fake.routes[key] = (200, {}, fake.routes[key][2] + b" " * (3 << 20))
    with pytest.raises(RegistryError, match="larger than"):
        pull(f"{fake.host}/mdk11/bigcfg", store=store, out=io.StringIO())
    assert os.listdir(store.layout.blobs) == [] and store.images(all=True) == []


def test_the_biggest_layers_start_first(fake, store, monkeypatch):
    """A big base layer started last would finish alone while the other workers idle."""
    from minidocker import params
    from minidocker.image import transfer
    sizes = [10_000, 400_000, 50_000, 200_000]
    layers = [layer({f"l{i}": os.urandom(n)}) for i, n in enumerate(sizes)]
    serve(fake, "mdk11/order", layers)
    started = []
    real = transfer._download_layer
    monkeypatch.setattr(transfer, "_download_layer",
                        lambda reg, repo, desc, *a: started.append(desc["size"]) or real(reg, repo, desc, *a))
    monkeypatch.setattr(params, "PULL_PARALLEL", 1)
    r = pull(f"{fake.host}/mdk11/order", store=store, out=io.StringIO())
    assert started == sorted(started, reverse=True) and len(started) == 4
    assert r.downloaded == [sha(b) for b, _ in layers]          # still reported in manifest order


def test_parallel_works_when_no_thread_can_start(monkeypatch):
    import _thread

    def refuse(*a):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_thread, "start_new_thread", refuse)
    seen = []
    _parallel(seen.append, [1, 2, 3], 3)
    assert seen == [1, 2, 3]
