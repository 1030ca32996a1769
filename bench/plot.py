"""One figure of a benchmark run: a horizontal bar chart per comparison.

    python -m bench.plot bench/results/latest.json OUT.png     # re-plot, no re-measuring

Map of this file:
  plot(doc, out)     doc = latest.json as a dict; writes one PNG, returns its path
  _panel(ax, cmp)    one comparison: bars = medians, whiskers = min..max, the
                     ratio to the baseline printed at each bar, a dashed line at the target
  main(argv)         the command line above

Colours: minidocker's bars in one colour, every peer (runc, crun, podman, skopeo,
GNU tar, the kernel floors) in another, so a student sees at a glance where we stand.
"""
from __future__ import annotations

import statistics
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")   # no display here, and none needed: we only write files
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

OURS, PEER, TARGET = "#d1495b", "#30638e", "#444444"


def _is_ours(name: str) -> bool:
    return "minidocker" in name


def _panel(ax, cmp: dict) -> None:
    scale, unit, baseline = cmp.get("scale", 1.0), cmp.get("unit", ""), cmp.get("baseline")
    rows = cmp["contenders"]
    base = next((c for c in rows if c["name"] == baseline and c["samples"]), None)
    base_med = statistics.median(base["samples"]) if base else None
    names, meds, lo, hi, colours = [], [], [], [], []
    for c in rows:
        s = c["samples"]
        names.append(c["name"] if s else f"{c['name']} (not run)")
        med = statistics.median(s) * scale if s else 0.0
        meds.append(med)
        lo.append(med - min(s) * scale if s else 0.0)
        hi.append(max(s) * scale - med if s else 0.0)
        colours.append(OURS if cmp.get("ours") or _is_ours(c["name"]) else PEER)
    y = list(range(len(rows)))[::-1]          # first contender on top, as in the table
    ax.barh(y, meds, color=colours, height=0.6, xerr=[lo, hi],
            error_kw={"ecolor": "#222222", "capsize": 3, "elinewidth": 1})
    ax.set_yticks(y)
    ax.set_yticklabels(["\n".join(textwrap.wrap(n, 34)) for n in names], fontsize=9)
    ax.set_xlabel(f"median ({unit}); whiskers: min – max", fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(cmp["title"], 60)), fontsize=10, loc="left")
    right = max((m + h for m, h in zip(meds, hi)), default=1.0) or 1.0

    t = cmp.get("target")
    if t:
        x = None
        if t.get("kind", "ratio") == "ratio" and base_med:
            x = t["limit"] * base_med * scale
        elif t.get("kind") in ("value", "each"):
            x = t["limit"]
        if x is not None:
            v = cmp.get("verdict") or {}
            word = {True: "met", False: "MISSED"}.get(v.get("met"), "not judged")
            ax.axvline(x, color=TARGET, linestyle="--", linewidth=1.2)
            shown = "" if v.get("value") is None else \
                (f" ({v['value']:.2f}×)" if t.get("kind", "ratio") == "ratio" else f" ({v['value']:.3g} {unit})")
            limit = f"≤ {t['limit']:g}× {baseline}" if t.get("kind", "ratio") == "ratio" else f"≤ {t['limit']:g} {unit}"
            ax.set_title(f"target {limit} (dashed): {word}{shown}", fontsize=9, loc="right",
                         color="#b00000" if word == "MISSED" else "#1a7f37" if word == "met" else TARGET)
            right = max(right, x)

    for yi, c, m, h in zip(y, rows, meds, hi):
        if not c["samples"]:
            ax.text(0, yi, "  not run", va="center", fontsize=8, color="#777777")
            continue
        label = f"{m:.3g} {unit}"
        if base_med and baseline:
            label += f"   {statistics.median(c['samples']) / base_med:.2f}×"
        ax.text(m + h + right * 0.01, yi, label, va="center", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.85})
    left = min([0.0] + [m - l for m, l in zip(meds, lo)])    # a noisy difference can be negative
    ax.set_xlim(left * 1.15, right * 1.28)   # room for the labels right of the whiskers
    if left < 0:
        ax.axvline(0, color="#222222", linewidth=0.8)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def plot(doc: dict, out: str) -> str:
    """Write one PNG of every comparison in doc that has samples; returns out."""
    cmps = [c for c in doc.get("comparisons", [])
            if c.get("plot", True) and any(x["samples"] for x in c["contenders"])]
    if not cmps:
        cmps = [{"title": "no comparison with samples in this run", "contenders": [], "unit": ""}]
    heights = [0.5 * max(1, len(c["contenders"])) + 1.3 for c in cmps]
    fig, axes = plt.subplots(len(cmps), 1, figsize=(11, sum(heights) + 0.8),
                             gridspec_kw={"height_ratios": heights}, squeeze=False, layout="constrained")
    for ax, c in zip(axes[:, 0], cmps):
        _panel(ax, c)
    fig.suptitle(f"minidocker benchmarks — {doc.get('date', '?')}\n{doc.get('machine', '')}", fontsize=11, x=0.02, ha="left")
    fig.legend(handles=[Patch(color=OURS, label="minidocker"), Patch(color=PEER, label="peers / floors"),
                        plt.Line2D([], [], color=TARGET, linestyle="--", label="target (issue 11)")],
               loc="outside upper right", fontsize=9, ncol=3, frameon=False)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m bench.plot RESULTS.json OUT.png", file=sys.stderr)
        return 2
    from bench.harness import load_json
    print(plot(load_json(argv[0]), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
