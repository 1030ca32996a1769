"""Namespaces: the seven kinds, their inodes, comparing and entering them.

Map:
  NAMESPACES        the table from the course (seed 1.6.1) plus cgroup and time
  ns_inodes(pid)    {kind: inode} read from the /proc/PID/ns/* symlinks
  compare(a, b)     which namespaces two processes share and which differ
  unshare_flags()   the CLONE_NEW* word for a list of kinds
  enter(pid, kinds) setns(2) into another process's namespaces (nsenter)

A namespace is identified by the inode number of its /proc/PID/ns/KIND file:
two processes are in the same namespace exactly when the inodes are equal
(`ls -l /proc/$$/ns` prints them as `uts:[4026531838]`).
"""
from __future__ import annotations

import os
from ..plaindata import dataclass

from . import libc
from ..errors import KernelError, NotFound
from ..trace import step


@dataclass(frozen=True)
class NamespaceKind:
    name: str        # the file name in /proc/PID/ns
    flag: int        # the CLONE_NEW* constant for unshare(2)/clone(2)/setns(2)
    flag_name: str
    since: str       # kernel version that introduced it
    isolates: str    # what it isolates
    unshare_opt: str  # the unshare(1)/nsenter(1) option


#: In the order the seed lists them, then the two newer kinds.
NAMESPACES: list[NamespaceKind] = [
    NamespaceKind("mnt", libc.CLONE_NEWNS, "CLONE_NEWNS", "2.4.19", "mount points", "--mount"),
    NamespaceKind("uts", libc.CLONE_NEWUTS, "CLONE_NEWUTS", "2.6.19", "hostname and domain name", "--uts"),
    NamespaceKind("ipc", libc.CLONE_NEWIPC, "CLONE_NEWIPC", "2.6.19", "System V IPC, POSIX message queues", "--ipc"),
    NamespaceKind("pid", libc.CLONE_NEWPID, "CLONE_NEWPID", "2.6.24", "process IDs", "--pid"),
    NamespaceKind("net", libc.CLONE_NEWNET, "CLONE_NEWNET", "2.6.24 (complete in 2.6.29)", "network devices, addresses, ports, routes, firewall", "--net"),
    NamespaceKind("user", libc.CLONE_NEWUSER, "CLONE_NEWUSER", "2.6.23 (complete in 3.8)", "user and group IDs", "--user"),
    NamespaceKind("cgroup", libc.CLONE_NEWCGROUP, "CLONE_NEWCGROUP", "4.6", "the cgroup root a process sees", "--cgroup"),
    NamespaceKind("time", libc.CLONE_NEWTIME, "CLONE_NEWTIME", "5.6", "boot and monotonic clocks", "--time"),
]
BY_NAME = {k.name: k for k in NAMESPACES}


def ns_inode(pid: int | str, kind: str) -> int:
    """Inode of /proc/PID/ns/KIND. Shell: `readlink /proc/PID/ns/KIND`."""
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except FileNotFoundError:
        raise NotFound(f"no process {pid} (or no {kind} namespace support)") from None


def ns_inodes(pid: int | str = "self") -> dict[str, int]:
    """{kind: inode} for every namespace kind this kernel has.

    Shell: `ls -l /proc/PID/ns`.
    """
    out = {}
    for k in NAMESPACES:
        try:
            out[k.name] = os.stat(f"/proc/{pid}/ns/{k.name}").st_ino
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}"):
                raise NotFound(f"no process with pid {pid}") from None
    return out


@dataclass(frozen=True)
class NsRow:
    kind: str
    a: int
    b: int

    @property
    def shared(self) -> bool:
        return self.a == self.b


def compare(pid_a: int | str, pid_b: int | str) -> list[NsRow]:
    """One row per namespace kind: both inodes and whether they are shared.

    Shell: `diff <(ls -l /proc/A/ns) <(ls -l /proc/B/ns)`.
    """
    a, b = ns_inodes(pid_a), ns_inodes(pid_b)
    return [NsRow(k, a[k], b[k]) for k in a if k in b]


def unshare_flags(kinds: list[str]) -> int:
    """The CLONE_NEW* flag word for these kinds (e.g. ["pid", "mnt"])."""
    flags = 0
    for k in kinds:
        flags |= BY_NAME[k].flag
    return flags


def unshare(kinds: list[str]) -> None:
    """unshare(2) into new namespaces of these kinds.

    Shell: `unshare --pid --mount ... --fork` (a new PID namespace applies to
    the children of the caller, which is why `--fork` is needed with --pid).
    """
    flags = unshare_flags(kinds)
    opts = " ".join(BY_NAME[k].unshare_opt for k in kinds)
    step("unshare", f"unshare({libc.clone_names(flags)})", f"unshare {opts}" + (" --fork" if "pid" in kinds else ""))
    libc.unshare(flags)


def open_ns_fds(pid: int, kinds: list[str]) -> dict[str, int]:
    """Open /proc/PID/ns/KIND for each kind (the handles setns(2) needs)."""
    fds = {}
    try:
        for k in kinds:
            fds[k] = os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        for fd in fds.values():
            os.close(fd)
        raise NotFound(f"process {pid} is gone") from None
    return fds


def enter(pid: int, kinds: list[str]) -> None:
    """setns(2) into the namespaces of process `pid`.

    Shell: `nsenter --target PID --mount --uts --ipc --net --pid`.
    Contract: the mount namespace is entered last, because after it the
    caller's root and cwd are the container's and /proc/PID/ns of the host
    may no longer resolve. Entering a PID namespace only affects children:
    fork() after this to get a process inside it.
    """
    order = [k for k in ("cgroup", "ipc", "uts", "net", "pid", "time", "user", "mnt") if k in kinds]
    fds = open_ns_fds(pid, order)
    opts = " ".join(BY_NAME[k].unshare_opt for k in order)
    step("setns", f"setns(/proc/{pid}/ns/{{{','.join(order)}}})", f"nsenter --target {pid} {opts}")
    try:
        for k in order:
            libc.setns(fds[k], BY_NAME[k].flag, f"/proc/{pid}/ns/{k}")
    finally:
        for fd in fds.values():
            os.close(fd)


__all__ = ["NAMESPACES", "BY_NAME", "ns_inode", "ns_inodes", "compare", "NsRow",
           "unshare", "unshare_flags", "enter", "KernelError"]
