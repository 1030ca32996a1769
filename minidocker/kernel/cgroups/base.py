"""What both backends share: traced file access, Stats, and the Manager verbs.

Map of this file:
  write / read / read_int / read_kv   one cgroup control file; every write is traced
  make_dir / remove_dir               mkdir(2) / rmdir(2), rmdir waits for tasks to leave
  Stats                               one reading of a cgroup's counters, same fields on v1 and v2
  Manager                             the verbs (create, apply, set, stats, freeze, thaw,
                                      oom_killed, destroy, exists, procs, kill); v1.py and
                                      v2.py fill in the kernel files

A cgroup is just a directory in a special filesystem: mkdir makes one, a
write to a file in it sets a limit or moves a process in, rmdir removes it
once no process is left. Everything below is that and nothing more.
"""
from __future__ import annotations

import errno
import os
import time
from .. import signals as signal   # no IntEnum wrappers (see kernel/signals.py)
from ...plaindata import asdict, dataclass

from ... import params
from ...errors import KernelError
from ...trace import step
from .resources import Resources


def write(path: str, value: object) -> None:
    """Write one value to a cgroup file: open(2)+write(2). Shell: echo VALUE > PATH.

    One write(2) per value: the kernel parses each write as a whole command
    (e.g. "+cpu" in cgroup.subtree_control), so no buffering may split it.
    """
    text = str(value)
    step("cgroup", f"write({path}, {text!r})", f'echo "{text}" > {path}' if " " in text else f"echo {text} > {path}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise KernelError(e.errno, "write", f"{path}, {text!r}", hint=_hint(e.errno, path)) from None


def _hint(err: int, path: str) -> str:
    name = os.path.basename(path)
    if err == errno.EINVAL:
        return f"the kernel refused that value for {name}; check its range (cat {path})"
    if err == errno.EBUSY:
        return f"{name} cannot change now (e.g. memory limit below current usage, or processes inside)"
    if err == errno.ENOENT:
        return f"this kernel has no {name} (controller not enabled or not compiled in)"
    if err == errno.ENOSPC:
        return "cpuset.cpus/cpuset.mems of the cgroup are empty, or the pids limit is reached"
    if err in (errno.EPERM, errno.EACCES):
        return "cgroups need root"
    return f"see the kernel's cgroup documentation for {name}"


def read(path: str) -> str:
    """The contents of a cgroup file, stripped. Shell: cat PATH."""
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def read_int(path: str) -> int | None:
    """A number, or None for "max" / a huge "unlimited" v1 value / a missing file."""
    try:
        text = read(path)
    except FileNotFoundError:
        return None
    if text == "max" or text == "-1":
        return None if text == "max" else -1
    n = int(text.split()[0])
    return None if n >= 1 << 62 else n   # v1 prints unlimited memory as 9223372036854771712


def read_kv(path: str) -> dict[str, int]:
    """'key value' lines (cpu.stat, memory.stat, memory.events) -> dict; {} if missing."""
    try:
        text = read(path)
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out


def make_dir(path: str) -> bool:
    """mkdir(2) a cgroup; the kernel fills it with control files. Shell: mkdir PATH.

    Returns True if we made it, False if it was already there.
    """
    if os.path.isdir(path):
        return False
    step("cgroup", f"mkdir({path})", f"mkdir {path}")
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    except OSError as e:
        raise KernelError(e.errno, "mkdir", path, hint="cgroups need root, and the hierarchy must be mounted") from None
    return True


def remove_dir(path: str, timeout: float = params.CGROUP_RMDIR_TIMEOUT) -> None:
    """rmdir(2) a cgroup, retrying while it is busy. Shell: rmdir PATH.

    rmdir fails with EBUSY while a process is still inside; a process that
    was just killed leaves only after the kernel reaps it, so we retry a
    little. Files inside need no removal: they belong to the kernel.
    """
    step("cgroup", f"rmdir({path})", f"rmdir {path}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                raise KernelError(e.errno, "rmdir", path,
                                  hint=f"processes are still inside (cat {path}/cgroup.procs); stop them first") from None
            time.sleep(0.02)


@dataclass(frozen=True)
class Stats:
    """One reading. Same fields on both versions; None = this kernel does not say."""

    cpu_usage_ns: int                 # v1 cpuacct.usage           v2 cpu.stat usage_usec*1000
    cpu_periods: int = 0              # CFS periods with the quota active (cpu.stat nr_periods)
    cpu_throttled: int = 0            # of those, periods where it ran out (nr_throttled)
    cpu_throttled_ns: int = 0         # time spent waiting for the next period
    memory_usage: int = 0             # v1 memory.usage_in_bytes   v2 memory.current
    memory_limit: int | None = None   # v1 memory.limit_in_bytes   v2 memory.max (None = unlimited)
    memory_max_usage: int | None = None  # v1 memory.max_usage_in_bytes  v2 memory.peak
    memory_cache: int = 0             # inactive file pages: docker stats subtracts these
    oom_events: int = 0               # processes the OOM killer killed in here
    pids_current: int = 0             # pids.current
    pids_limit: int | None = None     # pids.max (None = unlimited)
    frozen: bool = False              # freezer.state / cgroup.events frozen

    def to_dict(self) -> dict:
        return asdict(self)


class Manager:
    """One container's cgroup(s). Same verbs on v1 and v2; subclasses know the files.

    Lifecycle used by the runtime:
        m = manager(cid); m.create(); m.set(res)      before the container starts
        m.enter()                                       the container's first process joins
                                                        (itself; m.apply(pid) moves another one)
        m.stats(); m.freeze(); m.thaw(); m.set(res)     while it runs (stats, pause, update)
        m.oom_killed()                                  after it exited
        m.destroy()                                     on rm (kills nothing)
    """

    version = 0

    def __init__(self, container_id: str, parent: str):
        self.id = container_id
        self.parent = parent

    # --- filled in by v1.py / v2.py -------------------------------------------
    def dirs(self) -> list[str]:
        """Every directory this cgroup has (v1: one per hierarchy, v2: one)."""
        raise NotImplementedError

    def create(self) -> None: raise NotImplementedError
    def set(self, res: Resources) -> None: raise NotImplementedError
    def stats(self) -> Stats: raise NotImplementedError
    def cpu_usage_ns(self) -> int: raise NotImplementedError
    def freeze(self) -> None: raise NotImplementedError
    def thaw(self) -> None: raise NotImplementedError
    def frozen(self) -> bool: raise NotImplementedError
    def oom_killed(self) -> bool: return self.stats().oom_events > 0

    # --- shared ---------------------------------------------------------------
    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs())

    def apply(self, pid: int) -> None:
        """Move process `pid` (all its threads) in: write it to cgroup.procs in every dir.

        Shell: echo PID > DIR/cgroup.procs. Children it forks later are born inside.
        """
        for d in self.dirs():
            write(os.path.join(d, "cgroup.procs"), pid)

    def enter(self) -> None:
        """Move the calling process in. Shell: echo 0 > DIR/cgroup.procs ("0" means "me").

        v1 overrides this with the `tasks` file: see ManagerV1.enter for why.
        """
        for d in self.dirs():
            write(os.path.join(d, "cgroup.procs"), 0)

    def procs(self) -> list[int]:
        """PIDs inside, from cgroup.procs of every dir (union, sorted). Shell: cat DIR/cgroup.procs."""
        pids: set[int] = set()
        for d in self.dirs():
            try:
                pids.update(int(x) for x in read(os.path.join(d, "cgroup.procs")).split())
            except FileNotFoundError:
                pass
        return sorted(pids)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 5.0) -> int:
        """Signal every process inside, even a fork bomb's newest children; returns how many.

        Freeze first so nobody can fork while we list and signal (the classic
        freezer trick), then thaw so the signals are delivered. Shell:
        echo FROZEN > freezer.state; kill -9 $(cat cgroup.procs); echo THAWED > freezer.state
        """
        if not self.exists():
            return 0
        count = 0
        deadline = time.monotonic() + timeout
        while True:
            self.freeze()
            pids = self.procs()
            for pid in pids:
                step("kill", f"kill({pid}, {signal.name(sig)})", f"kill -{int(sig)} {pid}")
                try:
                    os.kill(pid, sig)
                    count += 1
                except ProcessLookupError:
                    pass
            self.thaw()
            if sig != signal.SIGKILL or not pids or time.monotonic() > deadline:
                return count
            time.sleep(0.02)
            if not self.procs():
                return count

    def destroy(self) -> None:
        """Remove the cgroup dirs (rmdir). Kills nothing: the processes must have left.

        A frozen cgroup is thawed first, so tasks killed while paused can exit.
        """
        if not self.exists():
            return
        try:
            if self.frozen():
                self.thaw()
        except (OSError, KernelError):
            pass
        for d in self.dirs():
            remove_dir(d)

    def __repr__(self) -> str:
        return f"<cgroup v{self.version} {self.parent}/{self.id}>"
