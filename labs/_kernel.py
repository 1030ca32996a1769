"""The grader's kernel launcher: an ipykernel in its own mount, network, UTS and IPC namespaces.

    python labs/_kernel.py -f CONNECTION_FILE      (started by labs/grade.py, by path)

Why: a submission mounts overlays, adds bridges, veths and iptables rules.
Run in private namespaces, all of that disappears with the kernel process,
whatever the student's code did, and it can never collide with the host's
(or another submission's) names; a `sethostname` without its `unshare`
renames only the kernel's own UTS namespace, not the grading machine.
The kernel talks to the grader over Unix sockets (jupyter's "ipc" transport),
which work across network namespaces where 127.0.0.1 would not. Cgroups are not namespaced: the grader cleans
those itself (labs/grade.py, `Sandbox`).

Steps (before any thread exists -- unshare(CLONE_NEWNS) refuses a threaded process):
  echo $$ > $LAB_GRADE_CGROUP/cgroup.procs   every process the submission starts is
                                             born in the grader's tracking cgroup
  unshare(CLONE_NEWNS|CLONE_NEWNET|      unshare --mount --net --uts --ipc
          CLONE_NEWUTS|CLONE_NEWIPC)
  mount --make-rprivate /                nothing we mount propagates back to the host
  mount --make-rshared /                 ...but inside the kernel's namespace mounts are
                                         shared again, as on a systemd host: a lab check can
                                         then see the classic bug of a student who forgot
                                         `mount --make-rprivate /` in a child namespace
  ip link set lo up                      the lab's servers listen on 127.0.0.1
  exec ipykernel                         same process, same namespaces
"""
from __future__ import annotations

import os
import runpy
import sys

from minidocker.kernel import libc, mounts, namespaces, netlink
from minidocker.trace import step


def isolate() -> None:
    """Join the tracking cgroup, unshare(2) new mount/net/UTS/IPC namespaces, make mounts private."""
    track = os.environ.get("LAB_GRADE_CGROUP")
    if track:
        step("cgroup", f"write {track}/cgroup.procs", f"echo $$ > {track}/cgroup.procs")
        with open(os.path.join(track, "cgroup.procs"), "w") as f:   # echo $$ > .../cgroup.procs
            f.write(str(os.getpid()))
    namespaces.unshare(["mnt", "net", "uts", "ipc"])
    mounts.make_private("/")
    step("mount", "mount(NULL, /, NULL, MS_REC|MS_SHARED)", "mount --make-rshared /")
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_SHARED)
    netlink.link_up("lo")


if __name__ == "__main__":
    isolate()
    sys.argv = ["ipykernel_launcher"] + sys.argv[1:]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
