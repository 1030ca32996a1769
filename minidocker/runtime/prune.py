"""`minidocker system prune`: remove stopped containers and whatever a crash left.

A `kill -9` of minidocker in the middle of `run` can leave, depending on when:
  a half-written record dir (.new-*, .rm-*)   -> removed
  a record that says "running" with no live PID 1 and no monitor -> finished and removed
  a cgroup under /sys/fs/cgroup/*/minidocker whose container is gone -> rmdir
  mounts under the state root (a cp of a stopped container, say)   -> umount -l
  veths, leases, iptables rules of gone containers                 -> runtime/network.prune()
Mounts made *inside* a container's mount namespace need nothing: the kernel
drops them with the namespace when its last process exits.
"""
from __future__ import annotations

import os

from .. import params, state
from ..kernel import mounts
from . import lifecycle, records


def prune(all_stopped: bool = True) -> dict[str, list[str]]:
    report: dict[str, list[str]] = {"containers": [], "leftovers": []}
    d = records.containers_dir()
    for entry in os.listdir(d) if os.path.isdir(d) else []:
        if entry.startswith((".new-", ".rm-")):
            state.remove_tree(os.path.join(d, entry))
            report["leftovers"].append(f"directory {entry}")
        elif not os.path.exists(os.path.join(d, entry, "config.json")):
            state.remove_tree(os.path.join(d, entry))
            report["leftovers"].append(f"directory {entry}")
    for cid in records.broken_records():      # unreadable state: nothing can use it any more
        state.remove_tree(os.path.join(d, cid))
        report["leftovers"].append(f"corrupt container record {cid}")
    live = set()
    for c in records.list_all():
        lifecycle.refresh(c)
        c.reload()
        if c.running:
            live.add(c.id)
            continue
        if all_stopped:
            lifecycle.remove(c)
            report["containers"].append(c.id)
        else:
            lifecycle.teardown(c)
    for mp in mounts.mounts_under(params.lib_root()):
        try:
            mounts.unmount(mp, lazy=True)
            report["leftovers"].append(f"mount {mp}")
        except OSError:
            pass
    from ..kernel import cgroups
    for cg in cgroups.prune(keep=live):       # also removes the parent once it is empty
        report["leftovers"].append(f"cgroup {cg}")
    from ..image.store import Store
    for item in Store().clean_leftovers():      # temp files of interrupted pulls/loads/commits
        report["leftovers"].append(f"image store {item}")
    from . import network
    for item in network.prune(live):
        report["leftovers"].append(str(item))
    return report
