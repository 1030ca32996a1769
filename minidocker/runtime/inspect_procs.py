"""`minidocker top`: the host's view of a container's processes.

A process belongs to the container when its /proc/PID/ns/pid inode equals
PID 1's (shell: `for p in /proc/[0-9]*; do [ $(readlink $p/ns/pid) = $(readlink /proc/PID/ns/pid) ] && echo $p; done`).
"""
from __future__ import annotations

import os
import time

import psutil

from ..errors import StateError
from ..kernel.namespaces import ns_inode


def container_pids(c) -> list[int]:
    """Host PIDs of every process in the container's PID namespace."""
    if not c.running:
        raise StateError(f"container {c.name} is not running")
    target = ns_inode(c.pid, "pid")
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}/ns/pid").st_ino == target:
                    out.append(int(p))
            except OSError:
                pass
    return sorted(out)


def top(c) -> list[dict]:
    rows = []
    for pid in container_pids(c):
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                cpu = p.cpu_times()
                t = int(cpu.user + cpu.system)
                rows.append({"UID": p.username(), "PID": pid, "PPID": p.ppid(), "C": 0,
                             "STIME": time.strftime("%H:%M", time.localtime(p.create_time())),
                             "TTY": p.terminal().replace("/dev/", "") if p.terminal() else "?",
                             "TIME": f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}",
                             "CMD": " ".join(p.cmdline()) or p.name()})
        except psutil.Error:
            continue
    return rows
