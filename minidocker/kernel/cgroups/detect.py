"""Which cgroup version this host runs, and where each v1 controller is mounted.

Map of this file:
  parse_mountinfo(text)   /proc/self/mountinfo -> [Mount]  (pure, unit-tested)
  v1_mounts()             {"cpu": "/sys/fs/cgroup/cpu", "cpuacct": ..., ...}
  version()               2 if /sys/fs/cgroup itself is cgroup2 ("unified"), else 1
  parent()                the parent cgroup name, params.CGROUP_PARENT or $MINIDOCKER_CGROUP_PARENT

Why mountinfo and not fixed paths: v1 layouts differ. This lab machine
mounts cpu and cpuacct as two hierarchies (/sys/fs/cgroup/cpu and
/sys/fs/cgroup/cpuacct); CentOS 7 (the course's seed) mounts one
"cpu,cpuacct" hierarchy and adds symlinks cpu -> cpu,cpuacct. The kernel's
own list of mounts, with each mount's controllers in its super options,
covers both. A "hybrid" host (v1 controllers + an empty cgroup2 at
/sys/fs/cgroup/unified, like this one) counts as v1: the controllers are on v1.
"""
from __future__ import annotations

import os
from ...plaindata import dataclass

from ... import params
from ...errors import MinidockerError

#: v1 controllers a kernel may offer (a named hierarchy like name=systemd has none)
V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices",
                  "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}


@dataclass(frozen=True)
class Mount:
    root: str            # which directory of the hierarchy is mounted ("/" normally)
    mountpoint: str      # where, e.g. /sys/fs/cgroup/cpu
    fstype: str          # "cgroup" (v1) or "cgroup2"
    controllers: tuple[str, ...]


def _unescape(path: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal: \040
    return path.encode().decode("unicode_escape") if "\\" in path else path


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse proc(5)'s mountinfo, keep only cgroup and cgroup2 mounts."""
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
            continue
        opts = rfields[2].split(",")
        ctrls = tuple(o for o in opts if o in V1_CONTROLLERS) if rfields[0] == "cgroup" else ()
        out.append(Mount(_unescape(fields[3]), _unescape(fields[4]), rfields[0], ctrls))
    return out


def _read_mountinfo() -> list[Mount]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return parse_mountinfo(f.read())


def v1_mounts(mounts: list[Mount] | None = None) -> dict[str, str]:
    """{controller: mountpoint} for every mounted v1 controller.

    A mount of the whole hierarchy (root "/") wins over a bind mount of one
    of its subdirectories; among equals the first listed wins. A combined
    "cpu,cpuacct" mount gives both names the same directory.
    """
    mounts = mounts if mounts is not None else _read_mountinfo()
    v1 = [m for m in mounts if m.fstype == "cgroup"]
    found: dict[str, str] = {}
    for m in sorted(v1, key=lambda m: m.root != "/"):   # stable: full mounts first
        for c in m.controllers:
            found.setdefault(c, m.mountpoint)
    return found


def version(mounts: list[Mount] | None = None, root: str = params.CGROUP_ROOT) -> int:
    """1 or 2. Pure v2 = a cgroup2 filesystem mounted at /sys/fs/cgroup itself.

    Shell: `stat -fc %T /sys/fs/cgroup` prints cgroup2fs on v2, tmpfs on v1.
    """
    mounts = mounts if mounts is not None else _read_mountinfo()
    if any(m.fstype == "cgroup2" and m.mountpoint == root for m in mounts):
        return 2
    if any(m.fstype == "cgroup" and m.controllers for m in mounts):
        return 1
    if any(m.fstype == "cgroup2" for m in mounts):
        return 2
    raise MinidockerError("no cgroup filesystem is mounted, so resource limits cannot work",
                          hint="mount one: mount -t cgroup2 none /sys/fs/cgroup")


def parent() -> str:
    """The one parent of all our container cgroups (relative to each hierarchy's root)."""
    name = os.environ.get(params.CGROUP_PARENT_ENV) or params.CGROUP_PARENT
    return name.strip("/")
