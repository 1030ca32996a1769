"""The v1 <-> v2 vocabulary in one table, as data (docs/cgroups.md and the notebooks render it).

    from minidocker.kernel.cgroups import MAPPING, mapping_markdown
    print(mapping_markdown())          # or pandas.DataFrame(MAPPING) in a notebook
"""
from __future__ import annotations

#: (what, docker flag, v1 file(s), v2 file(s), how a value converts)
MAPPING: list[dict[str, str]] = [
    {"what": "CPU time limit", "docker": "--cpus, --cpu-quota, --cpu-period",
     "v1": "cpu.cfs_quota_us + cpu.cfs_period_us", "v2": "cpu.max",
     "convert": "quota=20000 period=100000  <->  '20000 100000'; v1 -1 <-> v2 'max'"},
    {"what": "CPU weight", "docker": "--cpu-shares",
     "v1": "cpu.shares", "v2": "cpu.weight",
     "convert": "weight = 1 + (shares-2)*9999/262142 (1024 -> 39; v2 default is 100)"},
    {"what": "CPU usage", "docker": "stats CPU %",
     "v1": "cpuacct.usage (ns)", "v2": "cpu.stat usage_usec (us)", "convert": "ns = us * 1000"},
    {"what": "throttling", "docker": "-",
     "v1": "cpu.stat nr_periods, nr_throttled, throttled_time (ns)",
     "v2": "cpu.stat nr_periods, nr_throttled, throttled_usec (us)", "convert": "ns = us * 1000"},
    {"what": "CPUs / memory nodes", "docker": "--cpuset-cpus, --cpuset-mems",
     "v1": "cpuset.cpus, cpuset.mems (start empty: copy from parent)",
     "v2": "cpuset.cpus, cpuset.mems (empty = inherit)", "convert": "same list format '0-1,3'"},
    {"what": "memory limit", "docker": "--memory / -m",
     "v1": "memory.limit_in_bytes", "v2": "memory.max", "convert": "bytes; unlimited: huge number <-> 'max'"},
    {"what": "swap limit", "docker": "--memory-swap",
     "v1": "memory.memsw.limit_in_bytes (memory+swap)", "v2": "memory.swap.max (swap only)",
     "convert": "v2 swap.max = memory_swap - memory"},
    {"what": "memory usage", "docker": "stats MEM USAGE",
     "v1": "memory.usage_in_bytes", "v2": "memory.current", "convert": "bytes"},
    {"what": "peak memory", "docker": "-",
     "v1": "memory.max_usage_in_bytes", "v2": "memory.peak (kernel 5.19+)", "convert": "bytes"},
    {"what": "OOM kills", "docker": "inspect State.OOMKilled",
     "v1": "memory.oom_control: oom_kill N", "v2": "memory.events: oom_kill N", "convert": "count"},
    {"what": "process limit", "docker": "--pids-limit",
     "v1": "pids.max, pids.current", "v2": "pids.max, pids.current", "convert": "same; -1 <-> 'max'"},
    {"what": "pause / unpause", "docker": "pause, unpause",
     "v1": "freezer.state: FROZEN / THAWED (reads FREEZING meanwhile)",
     "v2": "cgroup.freeze: 1 / 0 (cgroup.events says frozen 1)", "convert": "-"},
    {"what": "member processes", "docker": "top",
     "v1": "cgroup.procs (processes), tasks (threads)", "v2": "cgroup.procs, cgroup.threads",
     "convert": "echo PID > cgroup.procs moves the whole process"},
    {"what": "which controllers", "docker": "-",
     "v1": "one mount per controller (mount -t cgroup)",
     "v2": "cgroup.controllers, cgroup.subtree_control (+cpu +memory ...)",
     "convert": "v2: a parent must enable a controller for its children"},
    {"what": "kill everything", "docker": "kill, rm -f",
     "v1": "freeze, kill each PID in cgroup.procs, thaw", "v2": "cgroup.kill: 1 (5.14+)", "convert": "-"},
    {"what": "a container's cgroup", "docker": "/docker/<id>",
     "v1": "/sys/fs/cgroup/<controller>/minidocker/<id> (one per controller)",
     "v2": "/sys/fs/cgroup/minidocker/<id> (one directory)", "convert": "-"},
]


def mapping_markdown() -> str:
    """The table as Markdown (docs/cgroups.md embeds exactly this)."""
    cols = ["what", "docker", "v1", "v2", "convert"]
    head = ["what", "docker flag / verb", "cgroup v1 file", "cgroup v2 file", "conversion"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in MAPPING:
        lines.append("| " + " | ".join(row[c].replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)
