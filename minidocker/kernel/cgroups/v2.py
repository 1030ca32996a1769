"""cgroup v2 ("unified"): one tree, every controller in it.

Map of this file:
  ManagerV2(cid)   the directory /sys/fs/cgroup/minidocker/<cid>
    create()       enable controllers in cgroup.subtree_control down the path, mkdir
    set(res)       memory.max, memory.swap.max, cpu.max, cpu.weight, cpuset.cpus/mems, pids.max
    stats()        cpu.stat, memory.current/max/peak/events/stat, pids.*, cgroup.events
    freeze/thaw    cgroup.freeze 1 / 0 (wait for "frozen 1" in cgroup.events)
    kill()         cgroup.kill (kernel 5.14+), else the freezer trick from base.py

Two v2 rules shape this code:
  * a controller works in a cgroup only if its parent lists it in
    cgroup.subtree_control, so we write "+cpu", "+memory", ... into the
    root's and our parent's subtree_control before making the container's dir;
  * "no internal processes": a cgroup with processes in it cannot hand
    controllers to children. Our parent "minidocker" never holds a process,
    which is one reason it sits at the root and not under the caller's own
    cgroup (see __init__.py).
"""
from __future__ import annotations

import os
import time

from .. import signals as signal
from ... import params
from ...errors import StateError
from . import detect
from .base import Manager, Stats, make_dir, read, read_int, read_kv, remove_dir, write
from .resources import UNLIMITED, Resources, shares_to_weight

#: controllers a container gets, if the kernel offers them (cgroup.controllers)
CONTROLLERS = ("cpu", "cpuset", "memory", "pids")


class ManagerV2(Manager):
    version = 2

    def __init__(self, container_id: str, parent: str | None = None, root: str = params.CGROUP_ROOT):
        super().__init__(container_id, parent if parent is not None else detect.parent())
        self.root = root
        self.path = os.path.join(root, self.parent, self.id)

    def dirs(self) -> list[str]:
        return [self.path]

    def _f(self, name: str) -> str:
        return os.path.join(self.path, name)

    # --- create -----------------------------------------------------------------
    def create(self) -> None:
        """Enable our controllers along the path, then mkdir the cgroup.

        Shell: echo +cpu > /sys/fs/cgroup/cgroup.subtree_control   (and +cpuset +memory +pids)
               mkdir /sys/fs/cgroup/minidocker
               echo +cpu > /sys/fs/cgroup/minidocker/cgroup.subtree_control  (...)
               mkdir /sys/fs/cgroup/minidocker/<id>
        """
        parent_dir = os.path.dirname(self.path)
        made_parent = False
        try:
            wanted = [c for c in CONTROLLERS if c in read(os.path.join(self.root, "cgroup.controllers")).split()]
            enable_controllers(self.root, wanted)
            made_parent = make_dir(parent_dir)
            enable_controllers(parent_dir, wanted)
            make_dir(self.path)
        except BaseException:
            if made_parent:
                remove_dir(parent_dir, timeout=0)
            raise

    # --- set --------------------------------------------------------------------
    def set(self, res: Resources) -> None:
        """Write every limit `res` gives; None fields are left as they are."""
        if res.memory is not None:
            self._set_memory(res.memory, res.swap_total())
        quota, period = res.cfs()
        if quota is not None or period is not None:
            old_quota, old_period = read(self._need("cpu.max")).split()
            q = old_quota if quota is None else ("max" if quota == UNLIMITED else quota)
            write(self._f("cpu.max"), f"{q} {period or old_period}")
        if res.cpu_shares is not None:
            write(self._need("cpu.weight"), shares_to_weight(res.cpu_shares))
        if res.cpuset_cpus is not None:
            write(self._need("cpuset.cpus"), res.cpuset_cpus)
        if res.cpuset_mems is not None:
            write(self._need("cpuset.mems"), res.cpuset_mems)
        if res.pids_limit is not None:
            write(self._need("pids.max"), "max" if res.pids_limit == UNLIMITED else res.pids_limit)

    def _need(self, name: str) -> str:
        """The path of a controller's file, or a StateError saying the controller is missing."""
        path = self._f(name)
        if not os.path.exists(path):
            ctrl = name.split(".")[0]
            raise StateError(f"the {ctrl} controller is not available in {self.path} (no {name})",
                             hint=f"cat {self.root}/cgroup.controllers lists what the kernel offers; "
                                  f"on a hybrid v1/v2 host the controllers live on v1")
        return path

    def _set_memory(self, limit: int, total: int | None) -> None:
        """memory.max, and memory.swap.max = (memory+swap) - memory.

        v2 limits swap on its own (not memory+swap as v1 and docker's flag do),
        so docker's --memory-swap 300m with -m 100m becomes swap.max = 200m.
        Unlike v1 the two files are independent: no ordering dance.
        """
        write(self._need("memory.max"), limit)
        if os.path.exists(self._f("memory.swap.max")):
            swap = "max" if total in (None, UNLIMITED) else max(total - limit, 0)
            write(self._f("memory.swap.max"), swap)

    # --- read -------------------------------------------------------------------
    def cpu_usage_ns(self) -> int:
        """Total CPU time of everything inside, in ns. Shell: grep usage_usec cpu.stat"""
        return read_kv(self._f("cpu.stat")).get("usage_usec", 0) * 1000

    def stats(self) -> Stats:
        cpu = read_kv(self._f("cpu.stat"))
        mstat = read_kv(self._f("memory.stat"))
        events = read_kv(self._f("memory.events"))
        return Stats(
            cpu_usage_ns=cpu.get("usage_usec", 0) * 1000,
            cpu_periods=cpu.get("nr_periods", 0), cpu_throttled=cpu.get("nr_throttled", 0),
            cpu_throttled_ns=cpu.get("throttled_usec", 0) * 1000,
            memory_usage=read_int(self._f("memory.current")) or 0,
            memory_limit=read_int(self._f("memory.max")),
            memory_max_usage=read_int(self._f("memory.peak")),   # kernel 5.19+
            memory_cache=mstat.get("inactive_file", 0),
            oom_events=events.get("oom_kill", 0),
            pids_current=read_int(self._f("pids.current")) or 0,
            pids_limit=read_int(self._f("pids.max")),
            frozen=self.frozen(),
        )

    def limits(self) -> dict[str, str]:
        """The raw limit files as the kernel shows them now (for notebooks and tests)."""
        out = {}
        for n in ("cpu.max", "cpu.weight", "cpuset.cpus", "cpuset.mems", "memory.max",
                  "memory.swap.max", "pids.max", "cgroup.freeze"):
            if os.path.exists(self._f(n)):
                out[n] = read(self._f(n))
        return out

    # --- freezer ----------------------------------------------------------------
    def frozen(self) -> bool:
        return read_kv(self._f("cgroup.events")).get("frozen", 0) == 1

    def freeze(self) -> None:
        """Stop every process inside. Shell: echo 1 > cgroup.freeze

        Done when cgroup.events says "frozen 1" (it can take a moment).
        """
        write(self._f("cgroup.freeze"), 1)
        self._wait_frozen(True)

    def thaw(self) -> None:
        """Let them run again. Shell: echo 0 > cgroup.freeze"""
        write(self._f("cgroup.freeze"), 0)
        self._wait_frozen(False)

    def _wait_frozen(self, want: bool) -> None:
        deadline = time.monotonic() + params.CGROUP_FREEZE_TIMEOUT
        while self.frozen() != want:
            if time.monotonic() > deadline:
                raise StateError(f"{self.path} did not become {'frozen' if want else 'thawed'} "
                                 f"within {params.CGROUP_FREEZE_TIMEOUT}s",
                                 hint="a task is stuck in the kernel; try again")
            time.sleep(0.005)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 5.0) -> int:
        """SIGKILL everything inside with one write (kernel 5.14+). Shell: echo 1 > cgroup.kill"""
        if sig == signal.SIGKILL and os.path.exists(self._f("cgroup.kill")):
            n = len(self.procs())
            write(self._f("cgroup.kill"), 1)
            deadline = time.monotonic() + timeout
            while self.procs() and time.monotonic() < deadline:
                time.sleep(0.01)
            return n
        return super().kill(sig, timeout)


def enable_controllers(cgroup_dir: str, wanted: list[str]) -> None:
    """Let children of `cgroup_dir` use `wanted`: write "+name" to its cgroup.subtree_control.

    Only missing ones are written, one at a time, so an error names the controller.
    Shell: echo +cpu > DIR/cgroup.subtree_control
    """
    path = os.path.join(cgroup_dir, "cgroup.subtree_control")
    have = read(path).split()
    for c in wanted:
        if c not in have:
            write(path, f"+{c}")


def leftovers(parent: str | None = None, root: str = params.CGROUP_ROOT) -> list[str]:
    """Names of the cgroups under our parent (for system prune)."""
    d = os.path.join(root, parent if parent is not None else detect.parent())
    try:
        return sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
    except FileNotFoundError:
        return []


def parent_dirs(parent: str | None = None, root: str = params.CGROUP_ROOT) -> list[str]:
    return [os.path.join(root, parent if parent is not None else detect.parent())]

