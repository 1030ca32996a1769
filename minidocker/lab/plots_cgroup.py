"""Plots for the cgroup lessons (matplotlib): CPU under a changing quota, memory up to OOM.

Map of this file:
  plot_cpu(series)     CPU % of one CPU over time: the cgroup's counter, psutil, the quota
                       as a step line, and each `echo ... > cpu.cfs_quota_us` as an annotation
  plot_memory(series)  memory usage climbing to the limit, then the OOM kill
  both return a matplotlib Figure (a notebook shows it; tests save it as PNG)
"""
from __future__ import annotations

import math

from .sampler import Series

_CG = "#1f77b4"      # cgroup counter: the truth
_PS = "#ff7f0e"      # psutil: what top shows
_Q = "#d62728"       # the limit


def _fig(ax, size):
    import matplotlib.pyplot as plt
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def plot_cpu(series: Series, ax=None, title: str | None = None):
    """CPU % over time with the quota as a step line and the shell writes annotated."""
    fig, ax = _fig(ax, (10, 4.8))
    t = series.column("t")
    ax.plot(t, series.column("cpu_cgroup"), color=_CG, lw=2.2, marker="o", ms=3,
            label="cgroup usage counter (" + ("cpuacct.usage" if series.version == 1 else "cpu.stat usage_usec") + ")")
    ps = series.column("cpu_psutil")
    if any(v is not None for v in ps):
        ax.plot(t, ps, color=_PS, lw=1, ls="--", label="psutil cpu_percent (what top shows)")
    # the quota as a step line: from each event until the next one
    ends = [e[0] for e in series.events[1:]] + [t[-1] if t else 0]
    first = True
    for (t0, _), t1, q in zip(series.events, ends, _event_quotas(series)):
        if q is not None:
            ax.hlines(q, t0, t1, color=_Q, lw=2.5, label="quota" if first else None)
            first = False
    ax.axhline(100, color="grey", lw=0.8, ls=":")
    ax.text(0.003, 101.5, "one whole CPU", color="grey", fontsize=8, transform=ax.get_yaxis_transform())
    top = 135
    for i, (te, label) in enumerate(series.events):
        ax.axvline(te, color="black", lw=0.7, ls=":")
        ax.annotate(label, xy=(te, top - 6 - 11 * (i % 2)), xytext=(4, 0), textcoords="offset points",
                    fontsize=8.5, family="monospace", va="center",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.7"))
    ax.set_ylim(0, top)
    ax.set_xlim(0, (t[-1] if t else 1) * 1.01)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("CPU (% of one CPU)")
    ax.set_title(title or f"deadloop under a CPU quota (cgroup v{series.version})")
    if ax is fig.axes[0] and len(fig.axes) == 1:
        fig.legend(loc="outside lower center", ncol=3, fontsize=8.5)
    else:
        ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _event_quotas(series: Series) -> list[float | None]:
    """The quota in force after each event, read back from the samples that follow it."""
    out = []
    for te, _ in series.events:
        after = [s.quota for s in series.samples if s.t > te]
        out.append(after[0] if after else None)
    return out


def plot_memory(series: Series, ax=None, title: str | None = None):
    """Usage climbing to the limit; the OOM kill marked where it happened."""
    fig, ax = _fig(ax, (10, 4.5))
    mib = 1 << 20
    t = series.column("t")
    ax.plot(t, [m / mib for m in series.column("mem")], color=_CG, lw=2.2, marker="o", ms=2.5,
            label="cgroup memory usage (" + ("memory.usage_in_bytes" if series.version == 1 else "memory.current") + ")")
    rss = series.column("rss")
    if any(rss):
        ax.plot(t, [r / mib if r else math.nan for r in rss], color=_PS, lw=1, ls="--",
                label="process RSS (psutil; includes the interpreter, charged before it joined)")
    limit = series.info.get("limit")
    if limit:
        ax.axhline(limit / mib, color=_Q, lw=2.5,
                   label=f"limit {limit / mib:.0f} MiB (" + ("memory.limit_in_bytes" if series.version == 1 else "memory.max") + ")")
    for te, label in series.events:
        ax.axvline(te, color="black", lw=1, ls=":")
        ax.annotate(label + f"\noom_kill = {series.info.get('oom_events', 0)}",
                    xy=(te, (limit or 1) / mib * 0.5), xytext=(-8, 0), textcoords="offset points",
                    ha="right", fontsize=9, family="monospace",
                    bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=_Q))
    top = max([limit or 0] + series.column("mem") + [r or 0 for r in rss] + [mib])
    ax.set_ylim(0, top / mib * 1.1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("memory (MiB)")
    ax.set_title(title or f"a memory hog under --memory (cgroup v{series.version})")
    if ax is fig.axes[0] and len(fig.axes) == 1:
        fig.legend(loc="outside lower center", ncol=2, fontsize=8.5)
    else:
        ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig
