"""Finding v1 controllers and telling v1 from v2, from mountinfo text (no root needed)."""
from __future__ import annotations

import pytest

from minidocker.errors import MinidockerError
from minidocker.kernel.cgroups import detect

# this lab machine: cpu and cpuacct are separate hierarchies, empty cgroup2 at unified/
THIS_VM = """\
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
33 30 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
36 30 0:32 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 30 0:33 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
38 30 0:34 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

# CentOS 7 (the seed): one "cpu,cpuacct" hierarchy (the cpu and cpuacct symlinks are not mounts)
CENTOS7 = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:6 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid - cgroup cgroup rw,net_prio,net_cls
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpuacct,cpu
32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset
36 25 0:33 / /sys/fs/cgroup/freezer rw,nosuid - cgroup cgroup rw,freezer
38 25 0:35 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
"""

# EL9 lab VM: pure v2
EL9 = """\
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot
"""


def test_this_vm_layout():
    mounts = detect.parse_mountinfo(THIS_VM)
    assert detect.version(mounts) == 1          # hybrid: the controllers are on v1
    m = detect.v1_mounts(mounts)
    assert m["cpu"] == "/sys/fs/cgroup/cpu" and m["cpuacct"] == "/sys/fs/cgroup/cpuacct"
    assert "systemd" not in m and "name=systemd" not in m


def test_centos7_combined_mount():
    m = detect.v1_mounts(detect.parse_mountinfo(CENTOS7))
    assert m["cpu"] == m["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert m["net_cls"] == m["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio"
    assert detect.version(detect.parse_mountinfo(CENTOS7)) == 1


def test_pure_v2():
    assert detect.version(detect.parse_mountinfo(EL9)) == 2
    assert detect.v1_mounts(detect.parse_mountinfo(EL9)) == {}


def test_no_cgroups_at_all_is_a_clear_error():
    with pytest.raises(MinidockerError, match="no cgroup"):
        detect.version(detect.parse_mountinfo("20 1 0:5 / /proc rw - proc proc rw\n"))


def test_full_mount_beats_a_bind_of_a_subdirectory():
    text = ("50 30 0:27 /docker/abc /mnt/cpu rw - cgroup cgroup rw,cpu\n"
            "31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")
    assert detect.v1_mounts(detect.parse_mountinfo(text))["cpu"] == "/sys/fs/cgroup/cpu"


def test_escaped_mountpoints():
    text = "31 30 0:27 / /sys/fs/cgroup/my\\040cpu rw - cgroup cgroup rw,cpu\n"
    assert detect.parse_mountinfo(text)[0].mountpoint == "/sys/fs/cgroup/my cpu"


def test_parent_override(monkeypatch):
    monkeypatch.delenv("MINIDOCKER_CGROUP_PARENT", raising=False)
    assert detect.parent() == "minidocker"
    monkeypatch.setenv("MINIDOCKER_CGROUP_PARENT", "/minidocker-t1/")
    assert detect.parent() == "minidocker-t1"


def test_this_host_is_detected():
    """Whatever the host is, the live mountinfo parses and gives 1 or 2."""
    assert detect.version() in (1, 2)
