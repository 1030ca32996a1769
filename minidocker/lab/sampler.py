"""Time series of a cgroup's CPU and memory, for the lessons' plots.

Map of this file:
  Sample, Series       one reading; a list of them plus labelled events ("echo 20000 > ...")
  CpuSampler           CPU % of one CPU, two ways: psutil (what top shows, per process)
                       and the cgroup's own usage counter (ground truth, all processes)
  measure_share(m, s)  CPU % over a window from the usage counter alone (the accuracy check)
  quota_steps(...)     the seed's deadloop under quota none -> 20% -> 50% -> none: a Series
  memory_series(...)   a memory hog climbing to --memory until the OOM killer stops it

"100%" means one whole CPU, as in top and docker stats. The usage counter
(v1 cpuacct.usage, v2 cpu.stat usage_usec) over wall-clock time is what
the scheduler actually granted, so it stays right on a busy machine as
long as one CPU is free for the cgroup; psutil's figure comes from the
process's own tick counts and jitters more.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..kernel import cgroups
from ..kernel.cgroups import Manager, Resources
from . import deadloop


@dataclass
class Sample:
    t: float                          # seconds since the series began
    cpu_psutil: float | None = None   # % of one CPU, psutil (top's view of one process)
    cpu_cgroup: float | None = None   # % of one CPU, the cgroup's usage counter
    quota: float | None = None        # % of one CPU allowed right now (None: no limit)
    mem: int = 0                      # cgroup memory usage, bytes
    mem_limit: int | None = None      # cgroup memory limit, bytes (None: unlimited)
    rss: int = 0                      # the process's resident memory (psutil)


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)   # (t, label) for annotations
    version: int = 0                  # cgroup version that produced it
    info: dict[str, Any] = field(default_factory=dict)              # oom_killed, exit code, ...

    def column(self, name: str) -> list:
        return [getattr(s, name) for s in self.samples]


class CpuSampler:
    """Successive readings of one cgroup (and optionally one process in it)."""

    def __init__(self, m: Manager, pid: int | None = None):
        import psutil
        self.m = m
        self.proc = psutil.Process(pid) if pid else None
        if self.proc:
            self.proc.cpu_percent(None)          # psutil's first call only starts its clock
        self.t0 = self.t = time.monotonic()
        self.u = m.cpu_usage_ns()

    def tick(self, quota: float | None = None) -> Sample:
        now, u = time.monotonic(), self.m.cpu_usage_ns()
        dt = now - self.t
        cg = 100.0 * (u - self.u) / (dt * 1e9) if dt > 0 else None
        ps = self.proc.cpu_percent(None) if self.proc else None
        self.t, self.u = now, u
        return Sample(t=now - self.t0, cpu_psutil=ps, cpu_cgroup=cg, quota=quota)


def measure_share(m: Manager, seconds: float = 3.0) -> float:
    """% of one CPU the cgroup got over the next `seconds`: usage delta / wall time."""
    u0, t0 = m.cpu_usage_ns(), time.monotonic()
    time.sleep(seconds)
    u1, t1 = m.cpu_usage_ns(), time.monotonic()
    return 100.0 * (u1 - u0) / ((t1 - t0) * 1e9)


def outweigh_others(m: Manager) -> str:
    """Give the cgroup's parent the highest CPU weight, so other load cannot hold it below its quota.

    A quota is a ceiling. On a busy machine the scheduler may give a cgroup
    less than its ceiling simply because others want the CPU too, and a
    measurement would then show the load, not the quota. Weight is what
    decides between competitors (v1 cpu.shares, v2 cpu.weight), and it is
    compared among siblings: so we raise it on our parent, the entry that
    competes with everything else at the root. Returns the file written.
    Shell: echo 262144 > /sys/fs/cgroup/cpu/minidocker/cpu.shares (v2: echo 10000 > .../cpu.weight)
    """
    from ..kernel.cgroups import base
    d = os.path.dirname(m.paths["cpu"] if m.version == 1 else m.path)   # type: ignore[attr-defined]
    path, value = (os.path.join(d, "cpu.shares"), 262144) if m.version == 1 else (os.path.join(d, "cpu.weight"), 10000)
    base.write(path, value)
    return path


def quota_shell(version: int, percent: float | None, period: int = 100000) -> str:
    """The one-line shell command that sets this quota (for the plot's annotations)."""
    if version == 1:
        return f"echo {-1 if percent is None else round(period * percent / 100)} > cpu.cfs_quota_us"
    q = "max" if percent is None else round(period * percent / 100)
    return f'echo "{q} {period}" > cpu.max'


def set_quota(m: Manager, percent: float | None) -> None:
    """Set the cgroup's CPU quota to `percent` of one CPU (None: no limit)."""
    quota = cgroups.UNLIMITED if percent is None else round(1000 * percent)   # of a 100000 us period
    m.set(Resources(cpu_quota=quota, cpu_period=100000))


def quota_steps(steps=((None, 3.0), (20, 3.0), (50, 3.0), (None, 3.0)), interval: float = 0.3,
                parent: str | None = None, outweigh: bool = False) -> Series:
    """Run a deadloop in a fresh cgroup while the quota steps through `steps`.

    steps: (percent of one CPU or None, seconds). The cgroup and the deadloop
    are removed afterwards, whatever happens. `interval` is a whole number of
    100 ms CFS periods (0.3 s) so each sample sees the same number of periods;
    0.25 s would alternate 2 and 3 periods and draw a zig-zag. outweigh=True
    raises the parent's CPU weight first (see outweigh_others) for busy machines.
    """
    m = cgroups.manager(f"lab-deadloop-{uuid.uuid4().hex[:8]}", parent)
    series = Series(version=m.version)
    proc = None
    m.create()
    try:
        if outweigh:
            outweigh_others(m)
        proc = deadloop.start()
        m.apply(proc.pid)
        sampler = CpuSampler(m, proc.pid)
        for percent, seconds in steps:
            set_quota(m, percent)
            series.events.append((time.monotonic() - sampler.t0, quota_shell(m.version, percent)))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(interval)
                series.samples.append(sampler.tick(percent))
        series.info["command"] = " ".join(proc.args)
    finally:
        if proc is not None:
            deadloop.stop(proc)
        m.destroy()
    return series


_HOG = """
import sys, time
step, delay = int(sys.argv[1]), float(sys.argv[2])
sys.stdin.readline()                      # wait until we are inside the cgroup
keep = []
while True:
    b = bytearray(step)
    b[::4096] = b"\\x01" * len(range(0, step, 4096))   # touch every page: now it is charged
    keep.append(b)
    time.sleep(delay)
"""


def memory_series(limit: str = "64m", step_mb: int = 2, delay: float = 0.05, interval: float = 0.02,
                  timeout: float = 20.0, parent: str | None = None) -> Series:
    """A memory hog grows by `step_mb` every `delay` s under --memory `limit` until OOM-killed.

    The hog waits for a line on stdin, so every byte it allocates is charged
    to the cgroup (v1 does not move old charges when a process moves in).
    """
    import psutil
    m = cgroups.manager(f"lab-memhog-{uuid.uuid4().hex[:8]}", parent)
    res = cgroups.parse_resources(memory=limit, memory_swap=limit)   # no swap: hit the wall
    series = Series(version=m.version)
    m.create()
    proc = None
    try:
        m.set(res)
        proc = subprocess.Popen([sys.executable, "-c", _HOG, str(step_mb << 20), str(delay)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m.apply(proc.pid)
        ps = psutil.Process(proc.pid)
        t0 = time.monotonic()
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            st = m.stats()
            try:
                rss = ps.memory_info().rss
            except psutil.Error:
                rss = 0
            series.samples.append(Sample(t=time.monotonic() - t0, mem=st.memory_usage,
                                         mem_limit=st.memory_limit, rss=rss))
            time.sleep(interval)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        t_end = time.monotonic() - t0
        st = m.stats()
        series.samples.append(Sample(t=t_end, mem=st.memory_usage, mem_limit=st.memory_limit))
        series.info.update(returncode=proc.returncode, exit_code=128 - proc.returncode if proc.returncode < 0
                           else proc.returncode, oom_events=st.oom_events, oom_killed=m.oom_killed(),
                           limit=res.memory, max_usage=st.memory_max_usage)
        series.events.append((t_end, f"OOM killer: SIGKILL, exit {series.info['exit_code']}"
                              if m.oom_killed() else f"exited {proc.returncode}"))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        m.destroy()
    return series


def cpu_series(m: Manager, pid: int | None = None, seconds: float = 5.0, interval: float = 0.25) -> Series:
    """Sample a cgroup someone else manages (a running container) for `seconds`."""
    s = CpuSampler(m, pid)
    series = Series(version=m.version)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(interval)
        series.samples.append(s.tick())
    return series


