"""cgroup v1: one directory per controller hierarchy.

Map of this file:
  ManagerV1(cid)   dirs like /sys/fs/cgroup/<controller>/minidocker/<cid>
    create()       mkdir in each hierarchy; copy cpuset.cpus/mems down (v1 starts them empty)
    set(res)       memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.cfs_quota_us,
                   cpu.cfs_period_us, cpu.shares, cpuset.cpus/mems, pids.max
    stats()        cpuacct.usage, cpu.stat, memory.*, memory.oom_control, pids.*, freezer.state
    freeze/thaw    freezer.state FROZEN / THAWED

v1 gives each controller its own tree of directories, mounted at its own
place. A container therefore has up to six directories with the same name,
and joining it means writing its PID into each one's cgroup.procs. Where cpu
and cpuacct share one mount ("cpu,cpuacct" on CentOS 7) both names point to
the same directory, which we then treat once.
"""
from __future__ import annotations

import os
import time

from ... import params
from ...errors import KernelError, StateError
from . import detect
from .base import Manager, Stats, make_dir, read, read_int, read_kv, remove_dir, write
from .resources import UNLIMITED, Resources

#: the controllers a container joins (devices/blkio/net_* are not managed here)
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "devices")


class ManagerV1(Manager):
    version = 1

    def __init__(self, container_id: str, parent: str | None = None, mounts: dict[str, str] | None = None):
        super().__init__(container_id, parent if parent is not None else detect.parent())
        mounts = mounts if mounts is not None else detect.v1_mounts()
        #: controller -> this cgroup's directory, e.g. "cpu" -> /sys/fs/cgroup/cpu/minidocker/<id>
        self.paths = {c: os.path.join(mounts[c], self.parent, self.id) for c in CONTROLLERS if c in mounts}
        self.mounts = {c: mounts[c] for c in self.paths}

    def dirs(self) -> list[str]:
        return list(dict.fromkeys(self.paths.values()))   # cpu,cpuacct combined -> once

    def enter(self) -> None:
        """Move the calling (single-threaded) process in: echo 0 > DIR/tasks, every hierarchy.

        Why `tasks` and not `cgroup.procs`? Moving a whole thread group takes
        the kernel's global cgroup_threadgroup_rwsem for writing, and taking a
        percpu rwsem for writing waits for an RCU grace period: measured on
        the course VM, 5-18 ms for the first write (runc pays it on every
        start). Writing "0" to `tasks` moves only the calling thread, which
        cannot exit or exec under the kernel's hands, so the kernel skips that
        lock (kernel/cgroup/cgroup.c, cgroup_procs_write_start): ~0.5 ms.
        For a process with one thread, as our stage process is right after
        fork(), "this thread" and "this process" are the same thing.
        """
        for d in self.dirs():
            write(os.path.join(d, "tasks"), 0)

    def _file(self, controller: str, name: str) -> str | None:
        d = self.paths.get(controller)
        return os.path.join(d, name) if d else None

    # --- create -----------------------------------------------------------------
    def create(self) -> None:
        """mkdir the parent and the container's cgroup in every hierarchy.

        Shell: mkdir -p /sys/fs/cgroup/{cpu,cpuacct,cpuset,memory,pids,freezer}/minidocker/<id>
        On failure, whatever this call made is removed again.
        """
        made: list[str] = []
        try:
            for c, d in self.paths.items():
                for path in (os.path.dirname(d), d):
                    if make_dir(path):
                        made.append(path)
                    if c == "cpuset":
                        self._cpuset_inherit(path)
        except BaseException:
            for path in reversed(made):
                try:
                    remove_dir(path, timeout=0)
                except KernelError:
                    pass
            raise

    def _cpuset_inherit(self, path: str) -> None:
        """A new v1 cpuset has empty cpuset.cpus and cpuset.mems, and a process
        cannot join it (ENOSPC) until they are filled: copy them from the parent.
        Shell: cat ../cpuset.cpus > cpuset.cpus (same for mems).
        """
        up = os.path.dirname(path)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read(os.path.join(path, name)):
                write(os.path.join(path, name), read(os.path.join(up, name)))

    # --- set --------------------------------------------------------------------
    def set(self, res: Resources) -> None:
        """Write every limit that `res` gives (None fields are left as they are)."""
        if res.memory is not None:
            self._set_memory(res.memory, res.swap_total())
        quota, period = res.cfs()
        if period is not None:
            write(self._need("cpu", "cpu.cfs_period_us"), period)
        if quota is not None:
            write(self._need("cpu", "cpu.cfs_quota_us"), quota)   # -1 = no limit, as v1 spells it
        if res.cpu_shares is not None:
            write(self._need("cpu", "cpu.shares"), res.cpu_shares)
        if res.cpuset_cpus is not None:
            write(self._need("cpuset", "cpuset.cpus"), res.cpuset_cpus)
        if res.cpuset_mems is not None:
            write(self._need("cpuset", "cpuset.mems"), res.cpuset_mems)
        if res.pids_limit is not None:
            write(self._need("pids", "pids.max"), "max" if res.pids_limit == UNLIMITED else res.pids_limit)

    def _need(self, controller: str, name: str) -> str:
        path = self._file(controller, name)
        if path is None:
            raise StateError(f"the {controller} cgroup controller is not mounted on this host",
                             hint=f"mount it: mkdir /sys/fs/cgroup/{controller} && "
                                  f"mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller}")
        return path

    def _set_memory(self, limit: int, memsw: int | None) -> None:
        """memory.limit_in_bytes and memory.memsw.limit_in_bytes (memory+swap).

        The kernel insists memsw >= limit at every moment, so the order of the
        two writes depends on whether we grow or shrink: try limit first, and
        if the kernel says EINVAL (it would pass memsw), raise memsw first.
        memsw exists only with swap accounting (swapaccount=1); without it
        the swap limit is skipped, as docker does with a warning.
        """
        lim = self._need("memory", "memory.limit_in_bytes")
        sw = self._file("memory", "memory.memsw.limit_in_bytes")
        have_sw = sw is not None and os.path.exists(sw)
        sw_val = -1 if memsw in (None, UNLIMITED) else memsw
        try:
            write(lim, limit)
        except KernelError as e:
            if not have_sw or e.errno != 22:
                raise
            write(sw, sw_val)
            write(lim, limit)
            return
        if have_sw:
            write(sw, sw_val)

    # --- read -------------------------------------------------------------------
    def cpu_usage_ns(self) -> int:
        """Total CPU time of everything inside, in ns. Shell: cat cpuacct/.../cpuacct.usage"""
        return int(read(self._need("cpuacct", "cpuacct.usage")))

    def stats(self) -> Stats:
        def f(c: str, name: str) -> str:
            return self._file(c, name) or "/nonexistent"
        cpu = read_kv(f("cpu", "cpu.stat"))
        oom = read_kv(f("memory", "memory.oom_control"))
        mstat = read_kv(f("memory", "memory.stat"))
        return Stats(
            cpu_usage_ns=self.cpu_usage_ns() if "cpuacct" in self.paths else 0,
            cpu_periods=cpu.get("nr_periods", 0), cpu_throttled=cpu.get("nr_throttled", 0),
            cpu_throttled_ns=cpu.get("throttled_time", 0),
            memory_usage=read_int(f("memory", "memory.usage_in_bytes")) or 0,
            memory_limit=read_int(f("memory", "memory.limit_in_bytes")),
            memory_max_usage=read_int(f("memory", "memory.max_usage_in_bytes")),
            memory_cache=mstat.get("total_inactive_file", mstat.get("inactive_file", 0)),
            oom_events=oom.get("oom_kill", 0),   # kernel 4.13+; CentOS 7's 3.10 lacks this line
            pids_current=read_int(f("pids", "pids.current")) or 0,
            pids_limit=read_int(f("pids", "pids.max")),
            frozen=self.frozen(),
        )

    def limits(self) -> dict[str, str]:
        """The raw limit files as the kernel shows them now (for notebooks and tests)."""
        names = {"cpu": ["cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"],
                 "cpuset": ["cpuset.cpus", "cpuset.mems"],
                 "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
                 "pids": ["pids.max"], "freezer": ["freezer.state"]}
        out = {}
        for c, files in names.items():
            for n in files:
                p = self._file(c, n)
                if p and os.path.exists(p):
                    out[n] = read(p)
        return out

    # --- freezer ----------------------------------------------------------------
    def frozen(self) -> bool:
        p = self._file("freezer", "freezer.state")
        return bool(p) and os.path.exists(p) and read(p) == "FROZEN"

    def freeze(self) -> None:
        """Stop every process inside. Shell: echo FROZEN > freezer/.../freezer.state

        The kernel answers FREEZING until the last task is stopped; we wait for FROZEN.
        """
        p = self._need("freezer", "freezer.state")
        write(p, "FROZEN")
        deadline = time.monotonic() + params.CGROUP_FREEZE_TIMEOUT
        while read(p) != "FROZEN":
            if time.monotonic() > deadline:
                raise StateError(f"{p} is still {read(p)} after {params.CGROUP_FREEZE_TIMEOUT}s",
                                 hint="a task is stuck in the kernel (e.g. D state); try again")
            write(p, "FROZEN")   # v1: re-writing retries the tasks that were busy
            time.sleep(0.01)

    def thaw(self) -> None:
        """Let them run again. Shell: echo THAWED > freezer/.../freezer.state"""
        write(self._need("freezer", "freezer.state"), "THAWED")


def leftovers(parent: str | None = None, mounts: dict[str, str] | None = None) -> list[str]:
    """Names of the cgroups under our parent in any v1 hierarchy (for system prune)."""
    parent = parent if parent is not None else detect.parent()
    mounts = mounts if mounts is not None else detect.v1_mounts()
    names: set[str] = set()
    for c in CONTROLLERS:
        if c in mounts:
            try:
                d = os.path.join(mounts[c], parent)
                names.update(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
            except FileNotFoundError:
                pass
    return sorted(names)


def parent_dirs(parent: str | None = None, mounts: dict[str, str] | None = None) -> list[str]:
    """The parent's directory in each hierarchy we use (exists or not)."""
    parent = parent if parent is not None else detect.parent()
    mounts = mounts if mounts is not None else detect.v1_mounts()
    return list(dict.fromkeys(os.path.join(mounts[c], parent) for c in CONTROLLERS if c in mounts))
