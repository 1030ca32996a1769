"""Bad input across the CLI (issue 10): exit 125, a message naming the problem, no traceback,
nothing created.

One table, one test. Each row: an id, the argv (may name files the fixture
makes: {ctx}, {tmp}, {reg}), and a regex the error message must match.
"Nothing created" is checked by comparing, before and after each row, the
files under the state root, the host's mount table, our cgroups and the
host's network links.

Runs as root (minidocker's commands need it), against the real CLI.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile

import pytest

from minidocker import params
from tests.helpers import md, private_network

pytestmark = pytest.mark.usefixtures("root_only")

TAKEN = "hd-bad-taken"
#: docker itself exits 1 for these verbs (they take several objects and report each);
#: issue 10 asks 125 everywhere: left to the verbs' owners to decide, visible here
#: a pull that fails on a bad layer keeps the config blob it already stored


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, sym: bool = True) -> tuple[tarfile.TarInfo, None]:
    i = tarfile.TarInfo(name)
    i.type = tarfile.SYMTYPE if sym else tarfile.LNKTYPE
    i.linkname = target
    return i, None


def _docker_save_tar(layer: bytes) -> bytes:
    """A `docker save` archive whose one layer is `layer` (to smuggle bad entries in)."""
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": ["hd-evil:1"], "Layers": ["layer/layer.tar"]}]).encode()
    return _tar([_file(cfg_name, config), _file("layer/layer.tar", layer), _file("manifest.json", manifest)])


# --- the registry that lies ---------------------------------------------------------------

def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _registry_routes(fake) -> None:
    layer = gzip.compress(_tar([_file("hello.txt", b"hello\n")]))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(gzip.decompress(layer))]}}).encode()

    def manifest(layer_digest: str) -> bytes:
        return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": layer_digest, "size": len(layer)}]}).encode()

    oci = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    fake.routes[("GET", "/v2/")] = (200, {}, b"{}")
    for name in ("hd/wrongdigest", "hd/truncated"):
        fake.blob(name, config)
        fake.routes[("GET", f"/v2/{name}/manifests/v1")] = (200, oci, manifest(_sha(layer)))
        fake.routes[("HEAD", f"/v2/{name}/manifests/v1")] = (200, oci, manifest(_sha(layer)))
    fake.blob("hd/wrongdigest", layer + b"tampered", _sha(layer))
    d = fake.blob("hd/truncated", layer)
    fake.truncate[("GET", f"/v2/hd/truncated/blobs/{d}")] = 10
    err = b'{"errors":[{"code":"DENIED","message":"go away"}]}'
    for name, status in (("hd/unauth", 401), ("hd/missing", 404), ("hd/broken", 500)):
        for m in ("GET", "HEAD"):
            fake.routes[(m, f"/v2/{name}/manifests/v1")] = (status, {}, err)
    for m in ("GET", "HEAD"):
        fake.routes[(m, "/v2/hd/badjson/manifests/v1")] = (200, oci, b"{this is not json")


# --- the table ----------------------------------------------------------------------------------

CASES = [
    # references
    ("ref-uppercase", ["run", "--rm", "Busybox:HD"], r"invalid reference|repository name must be lowercase"),
    ("ref-empty-tag", ["run", "--rm", "busybox:"], r"invalid reference"),
    ("ref-bad-digest", ["run", "--rm", "busybox@sha256:abc"], r"digest"),
    ("ref-only-tag", ["create", ":latest"], r"invalid reference"),
    ("ref-spaces", ["pull", "hd bad/name"], r"invalid reference"),
    ("tag-bad-target", ["tag", "busybox", "hd:bad:tag:x"], r"invalid reference"),
    ("image-unknown-run", ["run", "--rm", "hd-no-such-image:1"], r"hd-no-such-image.*(not found|no such)|no such image"),
    pytest.param(("image-unknown-rmi", ["rmi", "hd-no-such-image:1"], r"no such image|not found"), id="image-unknown-rmi"),
    ("image-unknown-history", ["history", "hd-no-such-image:1"], r"no such image|not found"),
    ("image-unknown-save", ["save", "-o", "{tmp}/out.tar", "hd-no-such-image:1"], r"no such image|not found"),
    pytest.param(("inspect-unknown", ["inspect", "hd-no-such-thing"], r"no such object|not found|no such"), id="inspect-unknown"),
    # flag values
    ("memory-abc", ["run", "--rm", "--memory=abc", "busybox", "true"], r"memory|abc"),
    ("memory-too-small", ["run", "--rm", "--memory=1k", "busybox", "true"], r"memory|minimum"),
    ("cpus-zero", ["run", "--rm", "--cpus=0", "busybox", "true"], r"cpus"),
    ("cpus-abc", ["run", "--rm", "--cpus=abc", "busybox", "true"], r"cpus"),
    ("pids-abc", ["run", "--rm", "--pids-limit=abc", "busybox", "true"], r"pids"),
    ("port-70000", ["run", "--rm", "-p", "70000:80", "busybox", "true"], r"70000|port"),
    ("port-abc", ["run", "--rm", "-p", "abc", "busybox", "true"], r"port|abc"),
    ("volume-bad-mode", ["run", "--rm", "-v", "hdvol:/data:xx", "busybox", "true"], r"mode"),
    ("volume-relative-target", ["run", "--rm", "-v", "/tmp:data", "busybox", "true"], r"not absolute"),
    ("volume-bad-name", ["run", "--rm", "-v", "hd vol!:/data", "busybox", "true"], r"volume"),
    ("tmpfs-relative", ["run", "--rm", "--tmpfs", "tmp", "busybox", "true"], r"tmpfs"),
    ("workdir-relative", ["run", "--rm", "-w", "relative/dir", "busybox", "true"], r"working directory|not absolute"),
    ("restart-bad", ["run", "-d", "--restart", "sometimes", "busybox", "true"], r"restart policy"),
    ("restart-with-rm", ["run", "--rm", "--restart", "always", "busybox", "true"], r"conflicting"),
    ("env-no-name", ["run", "--rm", "-e", "=x", "busybox", "true"], r"environment variable"),
    ("env-file-missing", ["run", "--rm", "--env-file", "/nonexistent/hd.env", "busybox", "true"], r"env-file"),
    ("stop-timeout-abc", ["run", "--rm", "--stop-timeout", "abc", "busybox", "true"], r"stop-timeout|invalid int"),
    ("stop-signal-bad", ["run", "--rm", "--stop-signal", "NOPE", "busybox", "true"], r"invalid signal 'NOPE'"),
    ("kill-signal-99", ["kill", "-s", "99", "nosuch"], r"invalid signal '99'"),
    ("name-bad", ["create", "--name", "hd bad!", "busybox", "true"], r"invalid container name"),
    ("name-conflict", ["create", "--name", TAKEN, "busybox", "true"], r"already in use|conflict"),
    ("network-unknown", ["run", "--rm", "--network", "hd-no-such-net", "busybox", "true"], r"hd-no-such-net"),
    pytest.param(("cap-unknown", ["run", "--rm", "--network", "none", "--cap-add", "HD_FOO", "busybox", "true"],
                  r"unknown capability"), id="cap-unknown"),
    pytest.param(("security-opt-bad", ["run", "--rm", "--network", "none", "--security-opt", "hd=1", "busybox",
                                       "true"], r"security-opt"), id="security-opt-bad"),
    ("signal-bad", ["kill", "-s", "SIGHD", TAKEN], r"signal|not running"),
    # unknown containers, wrong states
    ("start-unknown", ["start", "hd-no-such-ctr"], r"no such container"),
    ("stop-unknown", ["stop", "hd-no-such-ctr"], r"no such container"),
    ("logs-unknown", ["logs", "hd-no-such-ctr"], r"no such container"),
    ("exec-unknown", ["exec", "hd-no-such-ctr", "true"], r"no such container"),
    ("rm-unknown", ["rm", "hd-no-such-ctr"], r"no such container"),
    ("rename-unknown", ["rename", "hd-no-such-ctr", "hd-x"], r"no such container"),
    ("cp-unknown", ["cp", "hd-no-such-ctr:/etc/hostname", "{tmp}/cp-out"], r"no such container"),
    ("exec-not-running", ["exec", TAKEN, "true"], r"not running"),
    ("rename-bad-name", ["rename", TAKEN, "hd bad!"], r"invalid container name"),
    pytest.param(("volume-rm-unknown", ["volume", "rm", "hd-no-such-vol"], r"no such volume|not found"), id="volume-rm-unknown"),
    pytest.param(("network-rm-unknown", ["network", "rm", "hd-no-such-net"], r"hd-no-such-net"), id="network-rm-unknown"),
    # Dockerfiles
    ("df-unknown-instruction", ["build", "-t", "hd-bad:1", "-f", "{ctx}/unknown.Dockerfile", "{ctx}"], r"unknown instruction"),
    ("df-bad-json", ["build", "-t", "hd-bad:1", "-f", "{ctx}/badjson.Dockerfile", "{ctx}"], r"JSON"),
    ("df-no-from", ["build", "-t", "hd-bad:1", "-f", "{ctx}/nofrom.Dockerfile", "{ctx}"], r"FROM"),
    ("df-copy-outside", ["build", "-t", "hd-bad:1", "-f", "{ctx}/outside.Dockerfile", "{ctx}"], r"outside|context"),
    ("df-empty", ["build", "-t", "hd-bad:1", "-f", "{ctx}/empty.Dockerfile", "{ctx}"], r"FROM|empty"),
    ("df-missing-file", ["build", "-t", "hd-bad:1", "-f", "{ctx}/nope.Dockerfile", "{ctx}"], r"nope.Dockerfile"),
    ("df-missing-context", ["build", "-t", "hd-bad:1", "{tmp}/no-such-context"], r"no-such-context|context"),
    # registries that lie or refuse
    pytest.param(("reg-wrong-digest", ["pull", "{reg}/hd/wrongdigest:v1"], r"digest|verification"), id="reg-wrong-digest"),
    ("reg-truncated", ["pull", "{reg}/hd/truncated:v1"], r"cut short|download failed|truncated|incomplete"),
    ("reg-401", ["pull", "{reg}/hd/unauth:v1"], r"401|unauthori[sz]ed|denied|login"),
    ("reg-404", ["pull", "{reg}/hd/missing:v1"], r"404|not found|unknown"),
    ("reg-500", ["pull", "{reg}/hd/broken:v1"], r"500"),
    ("reg-bad-json", ["pull", "{reg}/hd/badjson:v1"], r"JSON"),
    # malicious archives
    ("load-not-a-tar", ["load", "-i", "{tmp}/not-a-tar"], r"tar|archive"),
    ("load-layer-dotdot", ["load", "-i", "{tmp}/evil-dotdot.tar"], r"\.\./|outside|escape"),
    ("load-layer-abs-symlink-write", ["load", "-i", "{tmp}/evil-symlink.tar"], r"outside|escape|link"),
    ("load-layer-hardlink-out", ["load", "-i", "{tmp}/evil-hardlink.tar"], r"outside|escape|link"),
    ("import-dotdot", ["import", "{tmp}/evil-fs.tar", "hd-evil-import:1"], r"\.\./|outside|escape"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The files the table names, a container called TAKEN, and a lying registry."""
    tmp = tmp_path_factory.mktemp("hd-bad")
    ctx = tmp / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("x")
    (ctx / "unknown.Dockerfile").write_text("FROM busybox\nFROBNICATE now\n")
    (ctx / "badjson.Dockerfile").write_text('FROM busybox\nSHELL ["sh", "-c"\n')
    (ctx / "nofrom.Dockerfile").write_text("RUN echo hi\n")
    (ctx / "outside.Dockerfile").write_text("FROM busybox\nCOPY ../../etc/passwd /x\n")
    (ctx / "empty.Dockerfile").write_text("# nothing here\n")
    (tmp / "not-a-tar").write_bytes(b"this is not a tar archive at all\n" * 10)
    (tmp / "evil-dotdot.tar").write_bytes(_docker_save_tar(_tar([_file("../../hd-escaped", b"pwned")])))
    (tmp / "evil-symlink.tar").write_bytes(_docker_save_tar(_tar([_link("etc", "/tmp"),
                                                                  _file("etc/hd-escaped", b"pwned")])))
    (tmp / "evil-hardlink.tar").write_bytes(_docker_save_tar(_tar([_link("shadow", "../../../etc/shadow", sym=False)])))
    (tmp / "evil-fs.tar").write_bytes(_tar([_file("../hd-escaped-import", b"pwned")]))
    p = md("create", "--name", TAKEN, "--network", "none", "busybox", "true")
    assert p.returncode == 0, p.stderr
    from tests.registry_server import FakeRegistry
    fake = FakeRegistry()
    _registry_routes(fake)
    fake.__enter__()
    try:
        yield {"tmp": str(tmp), "ctx": str(ctx), "reg": fake.host}
    finally:
        fake.__exit__(None, None, None)
        md("rm", "-f", TAKEN)


#: our own bridge, subnet and chains, so other engineers' tests running at the same
#: time (their veths, their mounts) never show up in our before/after comparison
NET_ENV = {"MINIDOCKER_BRIDGE": "mdhd0", "MINIDOCKER_SUBNET": "10.211.7.0/24", "MINIDOCKER_CHAIN": "MDHD"}


@pytest.fixture(scope="module", autouse=True)
def own_network():
    yield from private_network(NET_ENV)


def _snapshot() -> dict:
    """What this test run owns: files of its state root, mounts under it, veths on its
    bridge, cgroups under its parent, rules in its iptables chains."""
    lib = params.lib_root()
    root = os.environ["MINIDOCKER_ROOT"]
    files = set()
    for dirpath, _dirs, names in os.walk(lib):
        for n in names:
            if not n.endswith(".lock"):
                files.add(os.path.relpath(os.path.join(dirpath, n), lib))
    with open("/proc/self/mounts") as f:
        mounts = sorted(mp for mp in (line.split()[1] for line in f) if mp.startswith(root))
    links = subprocess.run(["ip", "-o", "link", "show", "master", NET_ENV["MINIDOCKER_BRIDGE"]],
                           capture_output=True, text=True).stdout
    links = sorted(ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines())
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    links += sorted(ln for ln in rules.splitlines() if NET_ENV["MINIDOCKER_CHAIN"] in ln and ln.startswith("-A"))
    parent = os.environ.get("MINIDOCKER_CGROUP_PARENT", "minidocker")
    cgroups = []
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, parent)
        if os.path.isdir(d):
            cgroups += [os.path.join(d, x) for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))]
    return {"files": files, "mounts": mounts, "links": links, "cgroups": sorted(cgroups)}


def test_table_has_forty_rows():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] if isinstance(c, tuple) else None)
def test_bad_input(world, case):
    name, argv, pattern = case
    argv = [a.format(**world) for a in argv]
    before = _snapshot()
    p = md(*argv, timeout=60)
    after = _snapshot()
    out = p.stdout + p.stderr
    assert p.returncode == 125, f"exit {p.returncode}\n{out}"
    assert "Traceback" not in out, out
    assert re.search(pattern, p.stderr, re.I), f"message does not name the problem:\n{p.stderr}"
    created = {k: sorted(set(after[k]) - set(before[k])) for k in before}
    assert not any(created.values()), f"left behind: {created}"
    assert not os.path.exists(os.path.join(world["tmp"], "out.tar"))
    assert not os.path.exists("/hd-escaped") and not os.path.exists("/tmp/hd-escaped")
