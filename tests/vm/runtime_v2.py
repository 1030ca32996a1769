"""The runtime on a pure cgroup v2 host, through the CLI (run inside the v2 guest only).

What only a v2 host can show: a container's cgroup is one directory of the
unified tree, its limits are v2 files (cpu.max, memory.max, pids.max), and
`exec` lands in the same cgroup (inside the container's cgroup namespace,
/proc/self/cgroup reads exactly "0::/"). The rest of the runtime (namespaces,
overlay rootfs, bridge network) runs here from the runtime's own test files;
see DEFAULT_SELECTION in v2guest.py.

Map: test_run_rm_echo / test_exec_joins_the_containers_v2_cgroup
"""
from __future__ import annotations

import os
import uuid

import pytest

from tests.helpers import md

pytestmark = pytest.mark.skipif(os.environ.get("MINIDOCKER_V2GUEST") != "1",
                                reason="runs only inside the v2 guest (tests/vm/v2guest.py)")


def _procs_cgroup(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().strip()


def test_run_rm_echo(host_clean):
    # the first run of a session may build the busybox image: minutes under TCG
    p = md("run", "--rm", "--network", "none", "busybox", "echo", "hi", timeout=600)
    assert (p.returncode, p.stdout) == (0, "hi\n"), p.stderr


def test_exec_joins_the_containers_v2_cgroup(host_clean):
    from minidocker.kernel import cgroups
    name = f"v2rt-{uuid.uuid4().hex[:6]}"
    cid = md("run", "-d", "--network", "none", "--name", name, "--cpus", "0.5", "-m", "32m",
             "busybox", "sleep", "300", check=True, timeout=600).stdout.strip()
    try:
        m = cgroups.manager(cid)
        assert m.version == 2
        pid = int(md("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)
        # on the host: one line, "0::" + the container's directory in the unified tree
        assert _procs_cgroup(pid) == "0::" + m.path[len("/sys/fs/cgroup"):]
        with open(os.path.join(m.path, "cpu.max")) as f:
            assert f.read().split() == ["50000", "100000"]
        with open(os.path.join(m.path, "memory.max")) as f:
            assert f.read().strip() == str(32 << 20)
        e = md("exec", name, "cat", "/proc/self/cgroup", check=True)
        assert e.stdout.strip() == "0::/", "exec did not land in the container's cgroup"
    finally:
        md("rm", "-f", name)
    assert not m.exists()
