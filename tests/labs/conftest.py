"""Fixtures for the lab tests: what the host looks like, to prove grading leaves nothing behind."""
from __future__ import annotations

import os
import subprocess

import pytest


def host_state() -> dict:
    """Mounts, cgroups, links and nat rules that a lab or the grader could leave behind."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(l.split()[4] for l in f if "lab0" in l or "lab-grade-" in l)
    cgroups = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith(("lab-grade-", "lab0")):
                cgroups.append(os.path.join(root, d))
        if root.count("/") > 5:
            dirs[:] = []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    tmp = sorted(x for x in os.listdir("/tmp") if x.startswith("lab-grade-"))
    return {"mounts": mounts, "cgroups": sorted(cgroups),
            "links": sorted(l.split(":")[1].strip() for l in links.splitlines() if "lab0" in l),
            "nat": sorted(l for l in nat.splitlines() if "10.204." in l),
            "tmp": tmp}


@pytest.fixture
def host_unchanged():
    """The test's grading must leave the host as it found it (compared on lab names only)."""
    if os.geteuid() != 0:
        pytest.skip("grading runs namespaces, mounts and cgroups: needs root")
    before = host_state()
    yield
    after = host_state()
    assert after == before, f"grading left things behind: before={before} after={after}"
