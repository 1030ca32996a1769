"""Smoke tests of the v2 guest itself (run inside it by tests/vm/v2guest.py).

They prove the guest is what the v2 tests need: a pure cgroup v2 host with
the controllers delegated, a cpu.max that really throttles, overlayfs, and
the project's own code importable. On any other host they skip (this file is
not named test_*.py, so a plain `pytest tests` never collects it anyway).

Map: test_pure_v2 / test_controllers / test_cpu_max_throttles / test_overlay / test_imports
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("MINIDOCKER_V2GUEST") != "1",
                                reason="runs only inside the v2 guest (tests/vm/v2guest.py)")

CG = "/sys/fs/cgroup"
TAG = "v2smoke"    # names unique to this file


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_pure_v2():
    """/sys/fs/cgroup is cgroup2 and no v1 hierarchy is mounted anywhere."""
    mounts = [line.split() for line in _read("/proc/self/mounts").splitlines()]
    at_cg = [m[2] for m in mounts if m[1] == CG]
    assert at_cg == ["cgroup2"], at_cg
    assert not [m for m in mounts if m[2] == "cgroup"], "a cgroup v1 hierarchy is mounted"


def test_controllers():
    """cpu, memory, pids, cpuset are available and enabled for children."""
    sub = set(_read(f"{CG}/cgroup.subtree_control").split())
    assert {"cpu", "memory", "pids", "cpuset"} <= sub, sub
    # we run in a child like a systemd session scope, not in the root
    assert _read("/proc/self/cgroup") == "0::/v2guest.scope"


def test_cpu_max_throttles():
    """cpu.max 20000 100000 holds a busy loop to ~20% of one cpu.

    The share is measured as the cgroup's own usage counter (cpu.stat
    usage_usec) over the guest's wall clock, like the deadloop demo does."""
    cg = f"{CG}/{TAG}-cpu"
    os.mkdir(cg)
    p = None
    try:
        with open(f"{cg}/cpu.max", "w") as f:
            f.write("20000 100000")
        p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        with open(f"{cg}/cgroup.procs", "w") as f:
            f.write(str(p.pid))
        time.sleep(1.0)    # let the interpreter start and the first periods pass

        def usage() -> int:
            stat = dict(line.split() for line in _read(f"{cg}/cpu.stat").splitlines())
            return int(stat["usage_usec"])
        u0, t0 = usage(), time.monotonic()
        time.sleep(3.0)
        share = (usage() - u0) / 1e6 / (time.monotonic() - t0)
        stat = _read(f"{cg}/cpu.stat")
        assert 0.18 <= share <= 0.22, f"share {share:.3f}\n{stat}"
        assert "nr_throttled 0" not in stat
    finally:
        if p:
            p.kill()
            p.wait()
        time.sleep(0.1)
        os.rmdir(cg)


def test_overlay(tmp_path):
    """overlayfs mounts with its upper dir on the guest's /tmp tmpfs."""
    for d in ("lower", "upper", "work", "merged"):
        (tmp_path / d).mkdir()
    (tmp_path / "lower" / "f").write_text("lower")
    m = str(tmp_path / "merged")
    opts = f"lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,workdir={tmp_path}/work"
    subprocess.run(["mount", "-t", "overlay", "-o", opts, "overlay", m], check=True)
    try:
        with open(f"{m}/f", "a") as f:
            f.write("+upper")
        assert (tmp_path / "upper" / "f").read_text() == "lower+upper"
        assert (tmp_path / "lower" / "f").read_text() == "lower"
    finally:
        subprocess.run(["umount", m], check=True)


def test_imports():
    """The project's own package is the checkout the host shared."""
    import minidocker
    assert os.path.dirname(os.path.dirname(minidocker.__file__)) == os.getcwd()
