"""v1 and v2 backends against a temporary tree shaped like /sys/fs/cgroup (no root needed).

The real kernel fills a new cgroup directory with its control files at
mkdir(2) and lets rmdir(2) remove a directory full of them. A plain temp
directory does neither, so the `fake_kernel` fixture below does just those
two things; every read and write goes through the real backend code, and
the trace records what a student would type. These tests check the file
logic (which file, which value, in which order); the kernel's own behaviour
is checked by tests/integration/test_cgroups_v1.py (this host) and
test_cgroups_v2.py (a pure-v2 guest).
"""
from __future__ import annotations

import os

import pytest

from minidocker.trace import trace
from minidocker.errors import KernelError, StateError
from minidocker.kernel.cgroups import Resources, base, parse_resources, v1, v2

P = dict(ncpu=2, cpus_online={0, 1}, mems_online={0})

V2_FILES = {"cgroup.procs": "", "cgroup.controllers": "cpuset cpu io memory pids",
            "cgroup.subtree_control": "", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0",
            "cgroup.kill": "", "cpu.max": "max 100000", "cpu.weight": "100",
            "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0",
            "cpuset.cpus": "", "cpuset.mems": "", "memory.max": "max", "memory.swap.max": "max",
            "memory.current": "0", "memory.peak": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0",
            "memory.stat": "anon 0\nfile 0\ninactive_file 0", "pids.max": "max", "pids.current": "0"}

V1_FILES = {"cpu": {"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000", "cpu.shares": "1024",
                    "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0"},
            "cpuacct": {"cpuacct.usage": "0"},
            "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
            "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
                       "memory.usage_in_bytes": "0", "memory.max_usage_in_bytes": "0",
                       "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0",
                       "memory.stat": "cache 0\ntotal_inactive_file 0"},
            "pids": {"pids.max": "max", "pids.current": "0"},
            "freezer": {"freezer.state": "THAWED"}}


def _seed(path: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text + "\n" if text else "")


@pytest.fixture
def fake_kernel(monkeypatch):
    """mkdir seeds the control files (by hierarchy, for v1); rmdir may remove them."""
    files_for: dict[str, dict[str, str]] = {}   # hierarchy root -> files

    def mkdir(path: str) -> bool:
        made = real_make_dir(path)
        if made:
            root = next(r for r in sorted(files_for, key=len, reverse=True) if path.startswith(r))
            _seed(path, files_for[root])
        return made

    def rmdir(path: str, timeout: float = 0) -> None:
        if os.path.isdir(path):
            for n in os.listdir(path):
                if os.path.isfile(os.path.join(path, n)):
                    os.unlink(os.path.join(path, n))
        real_remove_dir(path, timeout=0)

    real_make_dir, real_remove_dir = base.make_dir, base.remove_dir
    for mod in (base, v1, v2):
        monkeypatch.setattr(mod, "make_dir", mkdir, raising=False)
        monkeypatch.setattr(mod, "remove_dir", rmdir, raising=False)
    return files_for


@pytest.fixture
def v2root(tmp_path, fake_kernel):
    root = str(tmp_path / "cgroup")
    os.mkdir(root)
    _seed(root, V2_FILES)
    fake_kernel[root] = V2_FILES
    return root


def test_v2_create_enables_controllers_along_the_path(v2root):
    m = v2.ManagerV2("c1", parent="minidocker-t", root=v2root)
    with trace() as t:
        m.create()
    sh = t.shell()
    parent = f"{v2root}/minidocker-t"
    assert sh == [f"echo +cpu > {v2root}/cgroup.subtree_control",
                  f"echo +cpuset > {v2root}/cgroup.subtree_control",
                  f"echo +memory > {v2root}/cgroup.subtree_control",
                  f"echo +pids > {v2root}/cgroup.subtree_control",
                  f"mkdir {parent}",
                  f"echo +cpu > {parent}/cgroup.subtree_control",
                  f"echo +cpuset > {parent}/cgroup.subtree_control",
                  f"echo +memory > {parent}/cgroup.subtree_control",
                  f"echo +pids > {parent}/cgroup.subtree_control",
                  f"mkdir {parent}/c1"]
    assert m.exists() and m.dirs() == [f"{parent}/c1"]


def test_v2_skips_controllers_already_enabled_or_missing(v2root):
    with open(f"{v2root}/cgroup.subtree_control", "w") as f:
        f.write("cpu memory\n")
    with open(f"{v2root}/cgroup.controllers", "w") as f:
        f.write("cpu memory\n")       # a kernel without pids and cpuset
    m = v2.ManagerV2("c1", parent="minidocker-t", root=v2root)
    with trace() as t:
        m.create()
    assert not any(v2root + "/cgroup.subtree_control" in s for s in t.shell())


def test_v2_set_writes_dockers_values(v2root):
    m = v2.ManagerV2("c1", parent="minidocker-t", root=v2root)
    m.create()
    m.set(parse_resources(memory="100m", memory_swap="300m", cpus="0.5", cpu_shares="1024",
                          cpuset_cpus="1", cpuset_mems="0", pids_limit="50", **P))
    assert m.limits() == {"cpu.max": "50000 100000", "cpu.weight": "39", "cpuset.cpus": "1", "cpuset.mems": "0",
                          "memory.max": str(100 << 20), "memory.swap.max": str(200 << 20),
                          "pids.max": "50", "cgroup.freeze": "0"}
    # a later update of the quota alone keeps the period; -1 means max
    m.set(Resources(cpu_quota=20000))
    assert m.limits()["cpu.max"] == "20000 100000"
    m.set(Resources(cpu_quota=-1, pids_limit=-1, memory=64 << 20, memory_swap=-1))
    lim = m.limits()
    assert (lim["cpu.max"], lim["pids.max"], lim["memory.swap.max"]) == ("max 100000", "max", "max")
    m.set(Resources(memory=64 << 20))            # -m alone: docker's swap = as much again
    assert m.limits()["memory.swap.max"] == str(64 << 20)


def test_v2_stats_and_oom(v2root):
    m = v2.ManagerV2("c1", parent="minidocker-t", root=v2root)
    m.create()
    _seed(m.path, {"cpu.stat": "usage_usec 1500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 7",
                   "memory.current": "4096", "memory.max": "8192", "memory.peak": "5000",
                   "memory.events": "oom 1\noom_kill 1", "memory.stat": "inactive_file 96",
                   "pids.current": "3", "pids.max": "max", "cgroup.procs": "11\n12"})
    s = m.stats()
    assert (s.cpu_usage_ns, s.cpu_periods, s.cpu_throttled, s.cpu_throttled_ns) == (1_500_000, 10, 4, 7000)
    assert (s.memory_usage, s.memory_limit, s.memory_max_usage, s.memory_cache) == (4096, 8192, 5000, 96)
    assert (s.pids_current, s.pids_limit, s.oom_events, s.frozen) == (3, None, 1, False)
    assert m.oom_killed() and m.procs() == [11, 12]


def test_v2_freeze_waits_for_the_kernel(v2root, monkeypatch):
    m = v2.ManagerV2("c1", parent="minidocker-t", root=v2root)
    m.create()
    monkeypatch.setattr(v2.params, "CGROUP_FREEZE_TIMEOUT", 0.1)
    with pytest.raises(StateError, match="did not become frozen"):
        m.freeze()                        # nobody flips cgroup.events: we must not claim success
    assert base.read(f"{m.path}/cgroup.freeze") == "1"
    _seed(m.path, {"cgroup.events": "populated 1\nfrozen 1"})
    m.freeze()
    assert m.frozen()


def test_v2_missing_controller_is_a_clear_error(v2root):
    m = v2.ManagerV2("c1", parent="minidocker-t", root=v2root)
    m.create()
    os.unlink(f"{m.path}/pids.max")
    with pytest.raises(StateError, match="pids controller") as e:
        m.set(Resources(pids_limit=5))
    assert "cgroup.controllers" in e.value.hint


def test_v2_destroy_and_leftovers(v2root):
    a = v2.ManagerV2("aaa", parent="minidocker-t", root=v2root)
    b = v2.ManagerV2("bbb", parent="minidocker-t", root=v2root)
    a.create()
    b.create()
    assert v2.leftovers("minidocker-t", root=v2root) == ["aaa", "bbb"]
    a.destroy()
    assert not a.exists() and v2.leftovers("minidocker-t", root=v2root) == ["bbb"]
    a.destroy()                           # twice is fine


# --- v1, in the seed's CentOS 7 layout (cpu and cpuacct share one directory) ---

@pytest.fixture
def v1mounts(tmp_path, fake_kernel):
    combined = str(tmp_path / "cpu,cpuacct")
    mounts = {"cpu": combined, "cpuacct": combined}
    for c in ("cpuset", "memory", "pids", "freezer"):
        mounts[c] = str(tmp_path / c)
    for c, d in mounts.items():
        os.makedirs(d, exist_ok=True)
        files = {**V1_FILES["cpu"], **V1_FILES["cpuacct"]} if d == combined else V1_FILES[c]
        _seed(d, {**files, "cgroup.procs": "", "tasks": ""})
        fake_kernel[d] = {**files, "cgroup.procs": "", "tasks": ""}
    _seed(mounts["cpuset"], {"cpuset.cpus": "0-1", "cpuset.mems": "0"})
    return mounts


def test_v1_combined_cpu_cpuacct_is_one_directory(v1mounts):
    m = v1.ManagerV1("c1", parent="minidocker-t", mounts=v1mounts)
    assert m.paths["cpu"] == m.paths["cpuacct"]
    assert len(m.dirs()) == 5                     # cpu,cpuacct + cpuset + memory + pids + freezer
    with trace() as t:
        m.create()
        m.apply(4242)
    joins = [s for s in t.shell() if s.startswith("echo 4242")]
    assert len(joins) == 5                        # one write per hierarchy, not six


def test_v1_cpuset_is_copied_down(v1mounts):
    m = v1.ManagerV1("c1", parent="minidocker-t", mounts=v1mounts)
    m.create()
    for d in (os.path.dirname(m.paths["cpuset"]), m.paths["cpuset"]):
        assert base.read(f"{d}/cpuset.cpus") == "0-1" and base.read(f"{d}/cpuset.mems") == "0"


def test_v1_set_and_stats(v1mounts):
    m = v1.ManagerV1("c1", parent="minidocker-t", mounts=v1mounts)
    m.create()
    m.set(parse_resources(memory="100m", cpus="0.2", cpu_shares="512", cpuset_cpus="1", pids_limit="-1", **P))
    lim = m.limits()
    assert (lim["cpu.cfs_quota_us"], lim["cpu.cfs_period_us"], lim["cpu.shares"]) == ("20000", "100000", "512")
    assert lim["memory.limit_in_bytes"] == str(100 << 20)
    assert lim["memory.memsw.limit_in_bytes"] == str(200 << 20)
    assert (lim["cpuset.cpus"], lim["pids.max"]) == ("1", "max")
    s = m.stats()
    assert s.memory_limit == 100 << 20 and s.pids_limit is None and s.oom_events == 0 and not s.frozen
    _seed(m.paths["memory"], {"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2"})
    assert m.oom_killed()


def test_v1_missing_controller_is_a_clear_error(v1mounts):
    del v1mounts["pids"]
    m = v1.ManagerV1("c1", parent="minidocker-t", mounts=v1mounts)
    m.create()
    with pytest.raises(StateError, match="pids cgroup controller is not mounted") as e:
        m.set(Resources(pids_limit=5))
    assert "mount -t cgroup -o pids" in e.value.hint


def test_v1_create_failure_leaves_nothing(v1mounts):
    os.unlink(os.path.join(v1mounts["cpuset"], "cpuset.mems"))     # parent has no mems to copy
    m = v1.ManagerV1("c1", parent="minidocker-t", mounts=v1mounts)
    with pytest.raises(FileNotFoundError):
        m.create()
    assert not m.exists() and not os.path.exists(os.path.join(v1mounts["cpu"], "minidocker-t"))


def test_real_write_errors_keep_errno(tmp_path):
    with pytest.raises(KernelError) as e:
        base.write(str(tmp_path / "nosuch" / "cpu.max"), "1 2")
    assert e.value.errno == 2 and "cpu.max" in e.value.message and e.value.hint
