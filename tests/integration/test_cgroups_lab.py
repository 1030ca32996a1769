"""The lesson helpers on the real kernel: quota time series, memory-to-OOM series, plots, slider.

Plots are saved as PNG into pytest's tmp dir (set CGROUP_PLOTS_DIR to keep them).
"""
from __future__ import annotations

import os
import statistics
import uuid

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from minidocker.kernel import cgroups  # noqa: E402
from minidocker.lab import plots_cgroup, sampler  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture
def parent(monkeypatch):
    name = f"minidocker-cgtest-lab-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("MINIDOCKER_CGROUP_PARENT", name)
    yield name
    for cid in cgroups.leftovers(name):
        m = cgroups.manager(cid, name)
        m.kill()
        m.destroy()
    cgroups.prune(parent=name)
    assert cgroups.leftovers(name) == []


def _outdir(tmp_path) -> str:
    return os.environ.get("CGROUP_PLOTS_DIR") or str(tmp_path)


def test_quota_steps_series_and_plot(parent, tmp_path):
    s = sampler.quota_steps(steps=((None, 1.5), (20, 1.5), (50, 1.5)), outweigh=True)
    assert [e[1] for e in s.events][1:] == (["echo 20000 > cpu.cfs_quota_us", "echo 50000 > cpu.cfs_quota_us"]
                                           if s.version == 1 else
                                           ['echo "20000 100000" > cpu.max', 'echo "50000 100000" > cpu.max'])
    for q, lo, hi in ((None, 80, 101), (20, 17, 23), (50, 46, 54)):
        phase = [x.cpu_cgroup for x in s.samples if x.quota == q][1:]      # skip the step's first sample
        assert lo <= statistics.mean(phase) <= hi, (q, phase)
    psu = [x.cpu_psutil for x in s.samples if x.quota == 20][1:]
    assert 12 <= statistics.mean(psu) <= 28                                 # top agrees, roughly
    fig = plots_cgroup.plot_cpu(s)
    path = os.path.join(_outdir(tmp_path), "cgroup_cpu.png")
    fig.savefig(path, dpi=80)
    assert os.path.getsize(path) > 10_000
    assert cgroups.leftovers() == []                                        # it cleaned up


def test_memory_series_to_oom_and_plot(parent, tmp_path):
    s = sampler.memory_series(limit="32m", step_mb=2, delay=0.03)
    assert s.info["oom_killed"] and s.info["exit_code"] == 137 and s.info["oom_events"] >= 1
    mems = [x.mem for x in s.samples]
    assert max(mems) <= 32 << 20 and max(mems) > 24 << 20                  # climbed to the wall, not past it
    assert mems[len(mems) // 2] < max(mems)                                 # and it was a climb
    fig = plots_cgroup.plot_memory(s)
    path = os.path.join(_outdir(tmp_path), "cgroup_memory.png")
    fig.savefig(path, dpi=80)
    assert os.path.getsize(path) > 10_000


def test_quota_slider_rewrites_the_quota(parent):
    pytest.importorskip("ipywidgets")
    import time

    from minidocker.lab.widgets_cgroup import QuotaSlider
    w = QuotaSlider(start_percent=30)
    try:
        sampler.outweigh_others(w.m)
        quota_file = "cpu.cfs_quota_us" if w.m.version == 1 else "cpu.max"
        assert w.m.limits()[quota_file].split()[0] == "30000"
        w.slider.value = 70                           # what a student's drag does
        assert w.m.limits()[quota_file].split()[0] == "70000"
        assert "70000" in w.label.value
        time.sleep(0.3)
        w.refresh(draw=False)
        time.sleep(1.0)
        w.refresh(draw=True)
        assert 60 <= w.series.samples[-1].cpu_cgroup <= 75
        w.unlimited.value = True
        assert w.m.limits()[quota_file].split()[0] in ("-1", "max")
    finally:
        w.stop()
    assert not w.m.exists() and w._proc.poll() is not None
