"""cgroup v1 on this host's real kernel: limits written, enforced and read back.

Runs as root on a v1 (or hybrid) host; skips elsewhere. Every test uses its
own parent cgroup (minidocker-cgtest-<pid>-<n>) and leaves no cgroup or
process behind: the `parent` fixture kills what is left and checks.

Accuracy figures (the CPU share within 2 points of the quota) are printed
with -s and recorded in docs/cgroups.md. This VM is shared with other busy
users, so CPU tests first raise their parent's cpu.shares (outweigh_others):
the quota is a ceiling, and we measure the ceiling, not the neighbours.
"""
from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import time
import uuid

import pytest

from minidocker.errors import KernelError
from minidocker.kernel import cgroups
from minidocker.kernel.cgroups import Resources, detect, parse_resources
from minidocker.lab import deadloop, sampler
from minidocker.trace import trace

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root"),
    pytest.mark.skipif(detect.version() != 1, reason="this file tests cgroup v1; the host runs v2"),
]


@pytest.fixture
def parent(monkeypatch):
    name = f"minidocker-cgtest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("MINIDOCKER_CGROUP_PARENT", name)
    yield name
    for cid in cgroups.leftovers(name):      # a failed test may leave processes: kill, then remove
        m = cgroups.manager(cid, name)
        m.kill()
        m.destroy()
    cgroups.prune(parent=name)
    left = [os.path.join(d, name) for d in detect.v1_mounts().values() if os.path.exists(os.path.join(d, name))]
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def burner():
    """Deadloops started by a test; all killed and reaped afterwards."""
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        procs.append(deadloop.start())
        return procs[-1]
    yield start
    for p in procs:
        deadloop.stop(p)


def _cgroup_of(pid: int, controller: str) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return path
    return ""


def test_limits_are_written_and_read_back(parent):
    m = cgroups.manager("c-limits")
    m.create()
    try:
        m.set(parse_resources(memory="64m", memory_swap="128m", cpus="0.5", cpu_shares="512",
                              cpuset_cpus="0", cpuset_mems="0", pids_limit="30"))
        lim = m.limits()
        assert lim["cpu.cfs_quota_us"] == "50000" and lim["cpu.cfs_period_us"] == "100000"
        assert lim["cpu.shares"] == "512" and lim["cpuset.cpus"] == "0" and lim["pids.max"] == "30"
        assert lim["memory.limit_in_bytes"] == str(64 << 20)
        if "memory.memsw.limit_in_bytes" in lim:
            assert lim["memory.memsw.limit_in_bytes"] == str(128 << 20)
        s = m.stats()
        assert s.memory_limit == 64 << 20 and s.pids_limit == 30 and s.pids_current == 0
        # every hierarchy has the directory, under our parent at the hierarchy root
        for c, d in m.paths.items():
            assert d == os.path.join(detect.v1_mounts()[c], parent, "c-limits") and os.path.isdir(d)
    finally:
        m.destroy()
    assert not m.exists()


def test_apply_moves_the_process_into_every_hierarchy(parent, burner):
    m = cgroups.manager("c-apply")
    m.create()
    p = burner()
    m.apply(p.pid)
    assert m.procs() == [p.pid]
    for c in ("cpu", "cpuacct", "memory", "pids", "freezer", "cpuset"):
        assert _cgroup_of(p.pid, c) == f"/{parent}/c-apply", c
    deadloop.stop(p)
    m.destroy()


@pytest.mark.slow
def test_cpu_quota_accuracy(parent, burner):
    """Measured share over 3 s is within 2 points of the quota at 10/20/50/100 % of one CPU."""
    m = cgroups.manager("c-quota")
    m.create()
    sampler.outweigh_others(m)       # shared VM: others' load must not hold us below the quota
    p = burner()
    m.apply(p.pid)
    got = {}
    for pct in (10, 20, 50, 100):
        sampler.set_quota(m, pct)
        time.sleep(0.3)                              # let the old period's budget run out
        got[pct] = sampler.measure_share(m, 3.0)
    print("\ncgroup v1 CPU share over 3 s windows: " + ", ".join(f"quota {q}% -> {v:.2f}%" for q, v in got.items()))
    for pct, share in got.items():
        assert abs(share - pct) <= 2.0, f"quota {pct}%: measured {share:.2f}%"
    s = m.stats()
    assert s.cpu_throttled > 0 and s.cpu_throttled_ns > 0   # the kernel says it held us back
    deadloop.stop(p)
    m.destroy()


def test_cpu_shares_split_one_contended_cpu(parent, burner):
    """Two deadloops pinned to one CPU: shares 2048 vs 1024 get about 2:1 of it."""
    big, small = cgroups.manager("c-big"), cgroups.manager("c-small")
    cpu = str(max(cgroups.resources.online_cpus()))
    for m, shares in ((big, "2048"), (small, "1024")):
        m.create()
        sampler.outweigh_others(m)
        m.set(parse_resources(cpu_shares=shares, cpuset_cpus=cpu))
        p = burner()
        m.apply(p.pid)
        assert os.sched_getaffinity(p.pid) == {int(cpu)}   # cpuset enforced
    u0 = big.cpu_usage_ns(), small.cpu_usage_ns()
    time.sleep(2.0)
    ratio = (big.cpu_usage_ns() - u0[0]) / max(small.cpu_usage_ns() - u0[1], 1)
    print(f"\nshares 2048:1024 on CPU {cpu} -> usage ratio {ratio:.2f}")
    assert 1.6 <= ratio <= 2.5


_HOG = """
import sys
sys.stdin.readline()
keep = []
while True:
    b = bytearray(1 << 20); b[::4096] = b"\\x01" * 256; keep.append(b)
"""


def test_memory_hog_is_oom_killed(parent):
    m = cgroups.manager("c-oom")
    m.create()
    hog = subprocess.Popen([sys.executable, "-c", _HOG], stdin=subprocess.PIPE)
    try:
        m.set(parse_resources(memory="32m", memory_swap="32m"))
        m.apply(hog.pid)
        assert not m.oom_killed()
        hog.stdin.write(b"go\n")
        hog.stdin.flush()
        assert hog.wait(timeout=20) == -signal.SIGKILL     # docker reports 128+9 = 137
        s = m.stats()
        assert m.oom_killed() and s.oom_events >= 1
        assert s.memory_max_usage >= 30 << 20               # it did reach the wall
    finally:
        if hog.poll() is None:
            hog.kill()
        hog.wait()
        m.destroy()


_BOMB = """
import os, sys, time
sys.stdin.readline()
depth = 0
while depth < 9:                  # bounded: a binary tree of at most 1023 processes
    try:
        if os.fork() == 0:
            depth += 1
            continue
        if os.fork() == 0:
            depth += 1
            continue
    except OSError:
        os.write(1, b"F")         # EAGAIN: the pids controller said no
    break
time.sleep(60)
"""


def test_pids_limit_holds_a_fork_bomb(parent):
    m = cgroups.manager("c-bomb")
    m.create()
    bomb = subprocess.Popen([sys.executable, "-c", _BOMB], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        m.set(Resources(pids_limit=50))
        m.apply(bomb.pid)
        bomb.stdin.write(b"go\n")
        bomb.stdin.flush()
        failures = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(failures) < 5:
            if select.select([bomb.stdout], [], [], 0.2)[0]:
                failures += os.read(bomb.stdout.fileno(), 4096)
        s = m.stats()
        assert s.pids_current == 50 and s.pids_limit == 50
        assert len(failures) >= 5                      # forks were refused
        t0 = time.monotonic()
        subprocess.run(["true"], check=True)           # the host can still start processes
        assert time.monotonic() - t0 < 2.0
    finally:
        killed = m.kill()
        bomb.wait()
        m.destroy()
    assert killed >= 49 and not m.exists()


def test_freezer_stops_and_resumes(parent, burner):
    m = cgroups.manager("c-freeze")
    m.create()
    p = burner()
    m.apply(p.pid)
    m.freeze()
    assert m.frozen() and m.stats().frozen
    u = m.cpu_usage_ns()
    time.sleep(0.5)
    assert m.cpu_usage_ns() == u                       # not one nanosecond while frozen
    m.thaw()
    assert not m.frozen()
    time.sleep(0.3)
    assert m.cpu_usage_ns() > u
    deadloop.stop(p)
    m.destroy()


def test_live_update(parent, burner):
    """Change limits of a running process: quota up, memory up and down (v1's memsw order)."""
    m = cgroups.manager("c-update")
    m.create()
    sampler.outweigh_others(m)
    p = burner()
    m.set(parse_resources(cpus="0.2", memory="50m"))
    m.apply(p.pid)
    time.sleep(0.3)
    before = sampler.measure_share(m, 1.5)
    m.set(parse_resources(cpus="0.6"))
    time.sleep(0.3)
    after = sampler.measure_share(m, 1.5)
    assert abs(before - 20) <= 3 and abs(after - 60) <= 3, (before, after)
    m.set(parse_resources(memory="500m"))   # above the old memsw (100m): memsw must be raised first
    assert m.stats().memory_limit == 500 << 20
    m.set(parse_resources(memory="20m", memory_swap="20m"))
    assert m.limits()["memory.limit_in_bytes"] == str(20 << 20)
    m.set(Resources(cpu_quota=-1))
    assert m.limits()["cpu.cfs_quota_us"] == "-1"
    deadloop.stop(p)
    m.destroy()


def test_destroy_kills_nothing_and_cleans_up(parent, burner):
    m = cgroups.manager("c-destroy")
    m.create()
    p = burner()
    m.apply(p.pid)
    with pytest.raises(KernelError) as e:
        cgroups.base.remove_dir(m.dirs()[0], timeout=0.2)
    assert e.value.errno == errno.EBUSY and "cgroup.procs" in e.value.hint
    assert p.poll() is None                            # still alive: destroy does not kill
    assert cgroups.leftovers() == ["c-destroy"]
    assert cgroups.prune() == []                       # busy cgroups are left alone
    deadloop.stop(p)
    assert cgroups.prune(keep={"other"}) == ["c-destroy"]
    assert cgroups.leftovers() == [] and not m.exists()


def test_destroy_of_a_frozen_cgroup_after_kill(parent, burner):
    m = cgroups.manager("c-frozen-rm")
    m.create()
    p = burner()
    m.apply(p.pid)
    m.freeze()
    os.kill(p.pid, signal.SIGKILL)           # a frozen task cannot die until thawed...
    m.destroy()                              # ...so destroy thaws first
    p.wait()
    assert not m.exists()


def test_every_write_is_traced_with_its_shell_line(parent):
    m = cgroups.manager("c-trace")
    with trace() as t:
        m.create()
        m.set(Resources(cpu_quota=20000))
        m.destroy()
    cpu = os.path.join(detect.v1_mounts()["cpu"], parent, "c-trace")
    sh = t.shell()
    assert f"mkdir {cpu}" in sh and f"echo 20000 > {cpu}/cpu.cfs_quota_us" in sh and f"rmdir {cpu}" in sh
    assert set(t.kinds()) == {"cgroup"}


def test_seed_deadloop_demo(parent):
    """The seed's flow, by hand, in a cgroup named like the seed's (haoel) but unique."""
    demo = deadloop.DeadloopDemo(f"{parent}-haoel", outweigh=True)
    steps = demo.run_all(percent=20, seconds=3.0)
    by = {s.title.split(" ")[0]: s for s in steps}
    assert by["read"].value == "-1"
    assert by["limit"].shell.startswith("echo 20000 > ") and by["limit"].value == "20000"
    assert by["put"].shell.endswith("/tasks")
    print(f"\nseed demo: {by['watch'].note}")
    assert abs(by["watch"].value - 20) <= 2
    assert not os.path.exists(demo.cpu_dir) and not os.path.exists(demo.acct_dir)
    assert demo.proc.poll() is not None


def test_python_fallback_burns_a_cpu(parent, monkeypatch):
    monkeypatch.setattr(deadloop, "build", lambda cc=None: None)     # as if there were no gcc
    assert deadloop.command()[0] == sys.executable
    m = cgroups.manager("c-pyloop")
    m.create()
    sampler.outweigh_others(m)
    p = deadloop.start()
    try:
        m.apply(p.pid)
        sampler.set_quota(m, 30)
        time.sleep(0.3)
        assert abs(sampler.measure_share(m, 1.5) - 30) <= 3
    finally:
        deadloop.stop(p)
        m.destroy()
