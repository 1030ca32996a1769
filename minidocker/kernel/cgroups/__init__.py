"""cgroups: limit, count and freeze a container's processes, on v1 and v2 alike.

Map of this package:
  resources.py  docker's flags -> frozen Resources (--memory, --cpus, --pids-limit, ...)
  detect.py     v1 or v2? where is each v1 controller mounted? (from /proc/self/mountinfo)
  base.py       traced file access, Stats, the Manager verbs both versions share
  v1.py         one directory per controller: cpu.cfs_quota_us, memory.limit_in_bytes, ...
  v2.py         one directory: cpu.max, memory.max, cgroup.subtree_control, cgroup.freeze
  mapping.py    the v1 <-> v2 table (MAPPING), rendered in docs/cgroups.md and the notebooks

Use:
    from minidocker.kernel import cgroups
    res = cgroups.parse_resources(memory="100m", cpus="0.5", pids_limit=50)
    m = cgroups.manager(container_id)
    m.create(); m.set(res); m.apply(pid)
    m.stats().cpu_usage_ns; m.freeze(); m.thaw()
    m.oom_killed(); m.destroy()

Where our cgroups live, and why. Every container gets <hierarchy root>/
minidocker/<id>, e.g. /sys/fs/cgroup/cpu/minidocker/<id> on v1 and
/sys/fs/cgroup/minidocker/<id> on v2 -- the layout of docker's cgroupfs
driver (/docker/<id>), which is what the course's seed shows. runc instead
nests under the caller's own cgroup (read from /proc/self/cgroup); we do not:
  1. the caller is a short-lived CLI in some login session's cgroup (here even
     a sandbox's memory cgroup, /process_api/...): containers would inherit
     that session's limits and live in a different place per terminal, so
     stats, update and `system prune` after a crash would have to search;
  2. v2's "no internal processes" rule: the caller's cgroup has processes in
     it, so it cannot enable controllers for a child without moving them;
  3. one fixed place is easy to teach: `ls /sys/fs/cgroup/cpu/minidocker`.
The cost: on a systemd host the containers sit outside systemd's slices
(as docker's cgroupfs driver's do). MINIDOCKER_CGROUP_PARENT moves the
parent (tests use a name of their own).
"""
from __future__ import annotations

from .base import Manager, Stats
from .detect import parent
from .detect import version as _detect_version
from .resources import (UNLIMITED, Resources, add_resource_flags, format_bytes, parse_bytes,
                        parse_resources, resources_from_args, shares_to_weight)

__all__ = ["Manager", "Stats", "Resources", "UNLIMITED", "manager", "version", "leftovers", "prune",
           "parse_resources", "parse_bytes", "add_resource_flags", "resources_from_args",
           "shares_to_weight", "format_bytes", "MAPPING", "mapping_markdown", "parent"]


def __getattr__(name: str):
    """MAPPING and mapping_markdown load on first use: lessons need them, `run` does not."""
    if name in ("MAPPING", "mapping_markdown"):
        from . import mapping
        return getattr(mapping, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_version: int | None = None


def version() -> int:
    """1 or 2: which cgroup version carries the controllers on this host (cached)."""
    global _version
    if _version is None:
        _version = _detect_version()
    return _version


def manager(container_id: str, parent: str | None = None) -> Manager:
    """The Manager for one container's cgroup on this host's version (nothing is created yet)."""
    if version() == 2:
        from .v2 import ManagerV2
        return ManagerV2(container_id, parent)
    from .v1 import ManagerV1
    return ManagerV1(container_id, parent)


def leftovers(parent: str | None = None) -> list[str]:
    """Container ids that have a cgroup under our parent (docker system prune's view)."""
    if version() == 2:
        from .v2 import leftovers as lo
    else:
        from .v1 import leftovers as lo
    return lo(parent)


def prune(keep: set[str] | list[str] = (), parent: str | None = None) -> list[str]:
    """Destroy our cgroups whose id is not in `keep` (and the parent, if then empty).

    For `system prune` after a crash: cgroups with processes still inside
    are left alone (destroy kills nothing) and not returned. Returns the ids removed.
    """
    from .base import remove_dir
    from ...errors import KernelError
    removed = []
    for cid in leftovers(parent):
        if cid in keep:
            continue
        m = manager(cid, parent)
        if m.procs():
            continue
        try:
            m.destroy()
            removed.append(cid)
        except KernelError:
            pass
    if not leftovers(parent):
        if version() == 2:
            from .v2 import parent_dirs
        else:
            from .v1 import parent_dirs
        for d in parent_dirs(parent):
            try:
                remove_dir(d, timeout=0)
            except KernelError:
                pass
    return removed
