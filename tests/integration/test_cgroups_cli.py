"""The resource flags and verbs end to end: run -m/--cpus/--pids-limit, update, stats, pause, OOM, rm.

Real kernel, as root, through the `minidocker` CLI as a student types it
(tests.helpers.md). Container names start with "cgx-" (this part's tag);
they run with --network none: cgroups need no network, and the shared bridge
belongs to the network tests;
`host_clean` fails a test that leaves a cgroup, mount or process behind.
"""
from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from minidocker.kernel import cgroups
from tests.helpers import md

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture(scope="module", autouse=True)
def _base_image():
    """The first `run` of a session builds the busybox image: do it once, with time to spare
    (minutes in the emulated v2 guest), so no test's own timeout pays for it."""
    warm = f"cgx-warm-{uuid.uuid4().hex[:6]}"
    md("create", "--network", "none", "--name", warm, "busybox", "true", timeout=600)
    md("rm", "-f", warm)


@pytest.fixture
def name(host_clean):
    n = f"cgx-{uuid.uuid4().hex[:6]}"
    yield n
    md("rm", "-f", n)


def _cg(cid: str):
    return cgroups.manager(cid)


def _inspect(n: str) -> dict:
    return json.loads(md("inspect", n, check=True).stdout)[0]


def test_run_limits_update_stats_pause_rm(name):
    cid = md("run", "-d", "--network", "none", "--name", name, "--cpus", "0.5", "-m", "64m", "--pids-limit", "30",
             "busybox", "sh", "-c", "while :; do :; done", check=True).stdout.strip()
    m = _cg(cid)
    lim = m.limits()
    if m.version == 1:
        assert lim["cpu.cfs_quota_us"] == "50000" and lim["memory.limit_in_bytes"] == str(64 << 20)
    else:
        assert lim["cpu.max"] == "50000 100000" and lim["memory.max"] == str(64 << 20)
    assert lim["pids.max"] == "30"
    hc = _inspect(name)["HostConfig"]
    assert hc["NanoCpus"] == 500_000_000 and hc["Memory"] == 64 << 20 and hc["PidsLimit"] == 30

    out = md("stats", "--no-stream", name, check=True).stdout.splitlines()
    assert out[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "MEM USAGE / LIMIT" in out[0]
    row = out[1].split()
    assert row[0] == cid[:12] and row[1] == name and row[-1] == "1"    # PIDS
    assert "/ 64MiB" in out[1]
    cpu = float(row[2].rstrip("%"))
    assert 0 < cpu <= 55                                               # capped at --cpus 0.5

    assert md("update", "--cpus", "0.2", "--pids-limit", "10", name, check=True).stdout.strip() == name
    lim = m.limits()
    assert lim.get("cpu.cfs_quota_us", lim.get("cpu.max", "").split(" ")[0]) == "20000"
    assert lim["pids.max"] == "10"
    hc = _inspect(name)["HostConfig"]
    assert hc["NanoCpus"] == 200_000_000 and hc["PidsLimit"] == 10 and hc["Memory"] == 64 << 20

    assert md("pause", name, check=True).stdout.strip() == name
    st = _inspect(name)["State"]
    assert st["Status"] == "paused" and st["Paused"] is True and m.frozen()
    u = m.cpu_usage_ns()
    time.sleep(0.4)
    assert m.cpu_usage_ns() == u
    again = md("pause", name)
    assert again.returncode == 125 and "already paused" in again.stderr and "hint:" in again.stderr
    assert md("unpause", name, check=True).returncode == 0
    assert _inspect(name)["State"]["Status"] == "running" and not m.frozen()

    md("rm", "-f", name, check=True)
    assert not m.exists()


def test_update_and_pause_errors(name):
    r = md("update", "--memory=abc", "nosuch-cgx")
    assert r.returncode == 125 and "--memory" in r.stderr and "Traceback" not in r.stderr
    r = md("update", "--cpus", "0.5", "nosuch-cgx")
    assert r.returncode == 125 and "No such container" in r.stderr
    md("create", "--network", "none", "--name", name, "busybox", "true", check=True)
    r = md("pause", name)
    assert r.returncode == 125 and "not running" in r.stderr
    r = md("run", "--network", "none", "--cpuset-cpus", "64", "busybox", "true")
    assert r.returncode == 125 and "--cpuset-cpus" in r.stderr


def test_memory_hog_oom_killed_137(name):
    r = md("run", "--network", "none", "--name", name, "-m", "16m", "--memory-swap", "16m", "busybox", "tail", "/dev/zero", timeout=60)
    assert r.returncode == 137
    st = _inspect(name)["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


def test_fork_bomb_contained_by_pids_limit(name):
    cid = md("run", "-d", "--network", "none", "--name", name, "--pids-limit", "50", "busybox", "sh", "-c",
             "(for i in $(seq 200); do sleep 100 & done) 2>/dev/null; exec sleep 1000", check=True).stdout.strip()
    m = _cg(cid)
    deadline = time.monotonic() + 10
    while m.stats().pids_current < 49 and time.monotonic() < deadline:
        time.sleep(0.1)
    s = m.stats()
    assert 49 <= s.pids_current <= 50 and s.pids_limit == 50
    t0 = time.monotonic()
    assert md("ps", "-q", check=True).returncode == 0            # the host stays responsive
    assert time.monotonic() - t0 < 10
    row = md("stats", "--no-stream", name, check=True).stdout.splitlines()[1].split()
    assert int(row[-1]) >= 49
    md("rm", "-f", name, check=True)
    assert not m.exists()


def test_system_prune_finds_a_crashed_containers_cgroup(host_clean):
    """A cgroup whose container record is gone (a crash) is removed by system prune."""
    cid = "cgx" + uuid.uuid4().hex
    m = _cg(cid)
    m.create()
    assert cid in cgroups.leftovers()
    md("system", "prune", "-f", check=True)
    assert not m.exists()


def test_quota_slider_on_a_running_container(name):
    pytest.importorskip("ipywidgets")
    pytest.importorskip("matplotlib").use("Agg")
    from minidocker.lab.widgets_cgroup import QuotaSlider
    cid = md("run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c", "while :; do :; done",
             check=True).stdout.strip()
    w = QuotaSlider(container=name, start_percent=40)
    try:
        lim = w.m.limits()
        assert w.m.id == cid and lim.get("cpu.cfs_quota_us", lim.get("cpu.max", "").split(" ")[0]) == "40000"
        w.refresh(draw=True)
    finally:
        w.stop()
    assert w.m.exists()                     # the container's cgroup is not the slider's to remove
    md("rm", "-f", name, check=True)
    assert not w.m.exists()
