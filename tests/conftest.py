"""Shared fixtures.

- Every test session gets its own state root (MINIDOCKER_ROOT) and its own
  cgroup parent, so test runs never touch /var/lib/minidocker or each other.
- `md_root`: a fresh, empty state root for one test.
- `host_clean`: asserts the test left no mount, cgroup or process behind.
- `root_only`: skip (saying why) when not root.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.helpers import MINIDOCKER, md  # noqa: F401

_SESSION_ROOT = tempfile.mkdtemp(prefix="mdk-test-")
# Some tests (the VM provisioning run in a debootstrap root) use minidocker's default cgroup
# parent on this host's real hierarchies; remember whether it existed, to leave it as we found it.
_DEFAULT_PARENT_EXISTED = bool(glob.glob("/sys/fs/cgroup/*/minidocker")) or os.path.isdir("/sys/fs/cgroup/minidocker")
os.environ["MINIDOCKER_ROOT"] = _SESSION_ROOT
os.environ.setdefault("MINIDOCKER_CGROUP_PARENT", f"minidocker-test-{os.getpid()}")
# the default bridge network of this session: its own bridge, subnet and iptables chains,
# so test sessions (and a student's real containers) never share addresses or rules
_N = os.getpid() % 200 + 20
os.environ.setdefault("MINIDOCKER_BRIDGE", f"mdkt{_N}")
os.environ.setdefault("MINIDOCKER_SUBNET", f"10.212.{_N}.0/24")
os.environ.setdefault("MINIDOCKER_CHAIN", f"MDKT{_N}")


def pytest_sessionfinish(session, exitstatus):
    # containers are removed by each test; anything left is a bug, but do not leave it on disk
    subprocess.run(MINIDOCKER + ["system", "prune", "-f"], capture_output=True, env=os.environ.copy())
    if os.geteuid() == 0:
        try:
            from minidocker.runtime import networks
            networks.teardown()          # the session's bridge, NAT rules and chains
        except Exception as e:  # never hide it: a leak shows in the report
            print(f"\nconftest: network teardown failed: {e}")
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)
    if not _DEFAULT_PARENT_EXISTED:
        for d in glob.glob("/sys/fs/cgroup/*/minidocker") + glob.glob("/sys/fs/cgroup/minidocker"):
            try:
                os.rmdir(d)          # only if empty: a real container's cgroup keeps it
            except OSError:
                pass
    parent = os.environ.get("MINIDOCKER_CGROUP_PARENT", "")
    if parent.startswith("minidocker-test-"):
        for d in _cgroup_dirs(parent):
            for sub in sorted((os.path.join(d, x) for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))),
                              reverse=True):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass


def _cgroup_dirs(parent: str) -> list[str]:
    out = []
    base = "/sys/fs/cgroup"
    if os.path.isdir(os.path.join(base, parent)):
        out.append(os.path.join(base, parent))
    for h in os.listdir(base) if os.path.isdir(base) else []:
        p = os.path.join(base, h, parent)
        if os.path.isdir(p):
            out.append(p)
    return out


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, mounts and cgroups are root-only")


@pytest.fixture
def md_root(tmp_path, monkeypatch):
    """A fresh state root for this test only."""
    root = tmp_path / "mdroot"
    root.mkdir()
    monkeypatch.setenv("MINIDOCKER_ROOT", str(root))
    yield str(root)
    subprocess.run(MINIDOCKER + ["system", "prune", "-f"], capture_output=True, env=os.environ.copy())


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return sorted(line.split()[1] for line in f)


def _our_cgroups() -> list[str]:
    parent = os.environ.get("MINIDOCKER_CGROUP_PARENT", "minidocker")
    out = []
    for d in _cgroup_dirs(parent):
        out += [os.path.join(d, x) for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))]
    return sorted(out)


def _our_processes() -> list[str]:
    root = os.environ["MINIDOCKER_ROOT"]
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if f"MINIDOCKER_ROOT={root}".encode() in f.read():
                        out.append(p)
            except OSError:
                pass
    return out


@pytest.fixture
def host_clean():
    """Fail the test if it leaves mounts, our cgroups, or processes of our state root behind."""
    before_m, before_c = _mounts(), _our_cgroups()
    yield
    import time
    deadline = time.monotonic() + 5
    while True:
        leaks = {"mounts": sorted(set(_mounts()) - set(before_m)),
                 "cgroups": sorted(set(_our_cgroups()) - set(before_c)),
                 "processes": _our_processes()}
        if not any(leaks.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not any(leaks.values()), f"test left things behind: {leaks}"
