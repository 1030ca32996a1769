"""update/stats helpers and the v1<->v2 table (pure logic, no root needed)."""
from __future__ import annotations

import os

from minidocker.commands.resources import _table, merge_resources, stats_row
from minidocker.kernel.cgroups import MAPPING, Resources, Stats, mapping_markdown

CID = "ab" * 32


def test_stats_row_like_docker():
    s0 = Stats(cpu_usage_ns=1_000_000_000)
    s1 = Stats(cpu_usage_ns=1_500_000_000, memory_usage=60 << 20, memory_cache=10 << 20,
               memory_limit=100 << 20, pids_current=3)
    r = stats_row(CID, "web", s0, s1, 1.0, host_mem=8 << 30, net=(1536, 0))
    assert r["Container"] == CID[:12] and r["CPUPerc"] == "50.00%"
    assert r["MemUsage"] == "50MiB / 100MiB" and r["MemPerc"] == "50.00%"   # cache not counted
    assert r["PIDs"] == "3" and r["NetIO"] == "1.5KiB / 0B"


def test_stats_row_unlimited_shows_host_memory_and_stopped_shows_zeros():
    s = Stats(cpu_usage_ns=0, memory_usage=1 << 30, memory_limit=None)
    r = stats_row(CID, "db", s, s, 1.0, host_mem=4 << 30)
    assert r["MemUsage"] == "1GiB / 4GiB" and r["MemPerc"] == "25.00%" and r["CPUPerc"] == "0.00%"
    z = stats_row(CID, "db", None, None, 1.0, host_mem=4 << 30, trunc=False)
    assert z["Container"] == CID and z["CPUPerc"] == "0.00%" and z["PIDs"] == "0"
    table = _table([r, z]).splitlines()
    assert table[0].split("   ")[0] == "CONTAINER ID" and "MEM USAGE / LIMIT" in table[0] and len(table) == 3


def test_update_merges_and_replaces_the_other_cpu_spelling():
    old = {"memory": 100 << 20, "memory_swap": 300 << 20, "nano_cpus": 5 * 10**8, "pids_limit": 10}
    new = merge_resources(old, Resources(cpu_quota=20000, cpu_period=100000))
    assert "nano_cpus" not in new and new["cpu_quota"] == 20000 and new["pids_limit"] == 10
    back = merge_resources(new, Resources(nano_cpus=10**9))
    assert back["nano_cpus"] == 10**9 and "cpu_quota" not in back and "cpu_period" not in back
    m = merge_resources(old, Resources(memory=50 << 20))
    assert m["memory"] == 50 << 20 and "memory_swap" not in m       # docker resets swap with a new -m
    assert Resources(**m).swap_total() == 100 << 20


def test_mapping_table_is_in_the_docs():
    """docs/cgroups.md embeds mapping_markdown() verbatim: change one, change both."""
    assert {"cpu.cfs_quota_us + cpu.cfs_period_us", "memory.limit_in_bytes"} <= {r["v1"] for r in MAPPING}
    assert {"cpu.max", "memory.max", "cpu.weight"} <= {r["v2"] for r in MAPPING}
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "cgroups.md")
    with open(doc, encoding="utf-8") as f:
        assert mapping_markdown() in f.read()
