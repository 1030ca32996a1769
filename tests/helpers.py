"""Helpers for tests: run the CLI as a student would."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINIDOCKER = [sys.executable, "-m", "minidocker"]


def md(*args, input=None, timeout=60, check=False, env=None):
    """Run `minidocker ARGS...`; returns CompletedProcess with text stdout/stderr."""
    e = os.environ.copy()
    if env:
        e.update(env)
    p = subprocess.run(MINIDOCKER + [str(a) for a in args], capture_output=True, text=True, input=input,
                       timeout=timeout, env=e, cwd=REPO)
    if check and p.returncode != 0:
        raise AssertionError(f"minidocker {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def md_tty(args, keys: bytes, wait: float = 1.0, timeout: float = 20):
    """Run `minidocker ARGS` on a pseudo-terminal (as in a JupyterLab terminal), type `keys`.

    Returns (exit code, everything the terminal showed).
    """
    import select
    import time
    m, s = os.openpty()
    p = subprocess.Popen(MINIDOCKER + list(args), stdin=s, stdout=s, stderr=s, start_new_session=True, cwd=REPO)
    os.close(s)
    time.sleep(wait)
    os.write(m, keys)
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([m], [], [], 0.2)
        if r:
            try:
                d = os.read(m, 4096)
            except OSError:
                break
            if not d:
                break
            out += d
        elif p.poll() is not None:
            break
    os.close(m)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc, out.decode(errors="replace")


def private_network(net_env: dict):
    """Generator for a module fixture: run under our own bridge, subnet and iptables chains
    (MINIDOCKER_BRIDGE/SUBNET/CHAIN), then tear them down and restore the environment."""
    old = {k: os.environ.get(k) for k in net_env}
    os.environ.update(net_env)
    yield
    try:
        from minidocker.runtime import networks
        networks.teardown()          # our bridge and chains, if a test got that far
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def random_layer_image(store, tag: str, layers: int, size: int = 200_000, prefix: str = "mdk"):
    """An image of `layers` fresh random one-file layers (gzip), straight into `store`:
    bytes no registry has seen, so a push must upload them. Returns (image, layer descs)."""
    import gzip
    import io
    import tarfile
    descs = []
    for i in range(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = os.urandom(size + i)
            ti = tarfile.TarInfo(f"{prefix}-{i}")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        descs.append(store.add_layer(gzip.compress(buf.getvalue(), compresslevel=1)))
    cfg = {"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": [d.diff_id for d in descs]}}
    return store.add_image(cfg, descs, tags=[tag]), descs


def remove_new_cgroups(before: set[str], pattern: str) -> None:
    """rmdir the cgroup directories matching `pattern` (a glob, e.g.
    "/sys/fs/cgroup/*/docker") that are not in `before`, deepest first: a
    cgroup directory goes only once its children are gone, and one still
    holding a process stays (rmdir fails with EBUSY). For the parents peers
    leave behind (dockerd's docker/, podman's libpod_parent/).
    Shell: find /sys/fs/cgroup/*/docker -depth -type d -exec rmdir {} \\;"""
    for path in sorted(set(glob.glob(pattern)) - before, key=lambda p: -p.count("/")):
        for sub in sorted((d for d, _, _ in os.walk(path)), key=lambda p: -p.count("/")):
            try:
                os.rmdir(sub)
            except OSError:
                pass
