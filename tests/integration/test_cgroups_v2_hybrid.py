"""The v2 backend's core files on a real cgroup2 kernel, even on a hybrid v1 host.

A hybrid host (this lab machine) mounts cgroup2 at /sys/fs/cgroup/unified
with no controllers: they all belong to v1. The v2 *core* still works
there -- cgroup.procs, cgroup.freeze/cgroup.events, cgroup.kill and
cpu.stat's usage_usec need no controller -- so ManagerV2 is run for real
on those. Limits (cpu.max, memory.max, pids.max) need the controllers and
are tested for real by test_cgroups_v2.py on a pure-v2 kernel.
"""
from __future__ import annotations

import os
import time
import uuid

import pytest

from minidocker.errors import StateError
from minidocker.kernel.cgroups import Resources, base, detect
from minidocker.kernel.cgroups.v2 import ManagerV2, leftovers
from minidocker.lab import deadloop


def _unified() -> str | None:
    if os.geteuid() != 0:
        return None
    for m in detect.parse_mountinfo(open("/proc/self/mountinfo").read()):
        if m.fstype == "cgroup2" and m.mountpoint != "/sys/fs/cgroup":
            return m.mountpoint
    return None


UNIFIED = _unified()
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(UNIFIED is None, reason="needs root and a hybrid host's cgroup2 mount "
                                 "(pure-v2 hosts run test_cgroups_v2.py instead)")]


@pytest.fixture
def m():
    parent = f"minidocker-cgtest-hy-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    mgr = ManagerV2("c1", parent=parent, root=UNIFIED)
    mgr.create()
    proc = deadloop.start()
    mgr.apply(proc.pid)
    yield mgr
    mgr.kill()
    deadloop.stop(proc)
    mgr.destroy()
    base.remove_dir(os.path.join(UNIFIED, parent), timeout=0.5)
    assert not os.path.exists(os.path.join(UNIFIED, parent))


def test_v2_core_freeze_usage_kill(m):
    assert len(m.procs()) == 1
    u = m.cpu_usage_ns()
    time.sleep(0.3)
    assert m.cpu_usage_ns() > u                      # cpu.stat usage_usec counts without a controller
    m.freeze()
    assert m.frozen() and "frozen 1" in base.read(f"{m.path}/cgroup.events")
    u = m.cpu_usage_ns()
    time.sleep(0.3)
    assert m.cpu_usage_ns() == u
    m.thaw()
    assert not m.frozen()
    assert m.kill() == 1 and m.procs() == []        # cgroup.kill
    assert leftovers(m.parent, root=UNIFIED) == ["c1"]


def test_v2_limits_need_controllers_clear_error(m):
    with pytest.raises(StateError, match="controller is not available") as e:
        m.set(Resources(cpu_quota=20000))
    assert "hybrid" in e.value.hint
