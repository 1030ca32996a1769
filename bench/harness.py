"""Interleaved A/B timing, target verdicts, and the structured record of a run.

Map of this file:
  Contender, sh, measure   run A B C A B C ... and keep every sample
  Target, TARGETS          issue 11's targets, in one place; verdict() judges one
  table()                  a markdown table (median / min / max / ratio) + the verdict line
  record(), RECORDED       every table also lands here as a plain dict -> latest.json
  save_json(), load_json() write / read latest.json; contenders_from() rebuilds Contenders

Running A B C A B C ... (not AAA BBB CCC) spreads the machine's drift (other
load, caches, thermal) over all contenders equally, so the *ratio* is fair
even when absolute times wobble. Two more rules make every sample start from
the same machine state, whoever runs it:
  * the order is counterbalanced: A B C in even rounds, C B A in odd ones.
    With a fixed order, B always runs right after A and pays for what A left
    behind (the page cache A dirtied being written back, a registry still
    flushing A's upload); in the first runs of this harness that cost landed
    on minidocker every time, because it always ran second.
  * a pause of SETTLE seconds, then sync(2), before every sample, outside the
    timed part. Much of what a contender costs the kernel happens after it
    exits, in kernel threads: a network namespace is torn down by a workqueue
    (cleanup_net: unregistering its devices, RCU grace periods under the
    rtnl lock, tens of ms when it held a veth), and dirty pages are written
    back 30 s later (an extraction writes 220 MB). Without the pause and the
    sync that work lands in whichever sample runs next and is charged to it.
We report median, min and max per contender and the ratio of medians against
a named baseline.

Verdicts are computed from the medians here, never typed by hand: a table with
a target always ends with "Target: ... — met (ratio x.xx)" or "— MISSED (...)".
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


SETTLE = 0.2     # seconds of quiet before each sample (see top)


@dataclass
class Contender:
    name: str
    run: Callable[[], None] | None = None      # one measured operation; raises on failure
    setup: Callable[[], None] | None = None     # once, before all rounds
    teardown: Callable[[], None] | None = None  # once, after
    samples: list[float] = field(default_factory=list)
    error: str = ""


def sh(cmd: list[str] | str, detached: bool = False, **kw) -> None:
    """Run a command for its effect; raise with its stderr if it fails.

    detached=True for commands that leave a daemon behind holding our pipes
    (runc run -d): their output goes to /dev/null so we do not wait for EOF.
    """
    if detached:
        p = subprocess.run(cmd, shell=isinstance(cmd, str), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd!r} -> {p.returncode}")
        return
    p = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd!r} -> {p.returncode}: {p.stderr.strip()[:300]}")


def measure(contenders: list[Contender], rounds: int, warmup: int = 1) -> list[Contender]:
    live = []
    for c in contenders:
        try:
            if c.setup:
                c.setup()
            for _ in range(warmup):
                c.run()
            live.append(c)
        except Exception as e:   # a peer that cannot run here is reported, not hidden
            c.error = str(e)[:300]
    for r in range(rounds):
        for c in (live if r % 2 == 0 else live[::-1]):     # counterbalanced (see top)
            if c.error:
                continue
            time.sleep(SETTLE)                                # untimed: a clean start (see top)
            os.sync()
            t0 = time.perf_counter()
            try:
                c.run()
            except Exception as e:
                c.error = str(e)[:300]
                continue
            c.samples.append(time.perf_counter() - t0)
    for c in contenders:
        if c.teardown:
            try:
                c.teardown()
            except Exception:
                pass
    return contenders


# --- targets ------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What one contender must achieve.

    kind "ratio": median(contender) / median(baseline) <= limit  (the table's baseline)
    kind "value": median(contender) * scale <= limit, in the table's display unit
    kind "each":  the same for every contender with samples (contender is ignored): the worst counts
    """
    contender: str        # exact name, or the prefix of one ("minidocker pull" matches "minidocker pull (x)")
    limit: float
    text: str             # what the issue asks, in words
    kind: str = "ratio"


#: Issue 11's targets, keyed by the baseline of the table they judge. table() looks
#: here when it is not given a target, so every bench gets its verdict the same way.
TARGETS: dict[str, Target] = {
    "runc run (bundle)": Target("minidocker run --rm busybox true", 2.0,
                                "`minidocker run --rm` at most 2x `runc run`"),
    "GNU tar -x": Target("minidocker tarsafe.extract_layer", 1.3, "extraction at most 1.3x GNU tar"),
    "skopeo copy (pull)": Target("minidocker pull", 1.0, "pull no slower than skopeo"),
    "skopeo copy (push)": Target("minidocker push", 1.0, "push no slower than skopeo"),
}


def _find(contenders: list[Contender], name: str) -> Contender | None:
    exact = [c for c in contenders if c.name == name]
    if exact:
        return exact[0]
    return next((c for c in contenders if c.name.startswith(name)), None)


def verdict(target: Target, contenders: list[Contender], baseline: str | None = None,
            scale: float = 1.0, unit: str = "") -> dict:
    """Judge a target from the medians: {"met": True/False/None, "value": x, "line": "Target: ..."}.

    met is None when it cannot be judged (the contender or the baseline has no samples).
    """
    if target.kind == "each":
        meds = [statistics.median(c.samples) * scale for c in contenders if c.samples]
        if not meds:
            return {"met": None, "value": None, "line": f"Target: {target.text} — not judged (no samples)"}
        value = max(meds)
        met = value <= target.limit
        return {"met": met, "value": value, "line": f"Target: {target.text} — {'met' if met else 'MISSED'} "
                                                    f"(worst {value:.2f} {unit})".replace(" )", ")")}
    c = _find(contenders, target.contender)
    if c is None or not c.samples:
        why = c.error if c is not None and c.error else "no samples"
        return {"met": None, "value": None,
                "line": f"Target: {target.text} — not judged ({target.contender}: {why})"}
    med = statistics.median(c.samples)
    if target.kind == "ratio":
        base = _find(contenders, baseline or "")
        if base is None or not base.samples:
            return {"met": None, "value": None,
                    "line": f"Target: {target.text} — not judged (baseline {baseline}: no samples)"}
        value = med / statistics.median(base.samples)
        shown = f"ratio {value:.2f}"
    else:
        value = med * scale
        shown = f"{value:.2f} {unit}".strip()
    met = value <= target.limit
    return {"met": met, "value": value,
            "line": f"Target: {target.text} — {'met' if met else 'MISSED'} ({shown})"}


# --- the markdown table, and the record of it --------------------------------------------

#: every comparison of this run, as plain dicts (see record()); bench.run saves it as JSON
RECORDED: list[dict] = []


def record(title: str, contenders: list[Contender], baseline: str | None = None, unit: str = "ms",
           scale: float = 1000.0, target: Target | None = None, note: str = "", plot: bool = True,
           ours: bool = False) -> dict:
    """Keep one comparison for latest.json (samples in seconds or the bench's own unit).

    plot=False keeps it out of latest.png; ours=True colours every bar as minidocker's
    (for contenders whose names do not say "minidocker", e.g. lesson files)."""
    d = {"title": title, "unit": unit, "scale": scale, "baseline": baseline,
         "contenders": [{"name": c.name, "samples": list(c.samples), "error": c.error} for c in contenders],
         "target": asdict(target) if target else None,
         "verdict": verdict(target, contenders, baseline, scale, unit) if target else None,
         "note": note, "plot": plot, "ours": ours}
    RECORDED.append(d)
    return d


def table(title: str, contenders: list[Contender], baseline: str, unit: str = "ms",
          scale: float = 1000.0, target: Target | None = None, keep: bool = True) -> str:
    """Markdown table: median / min / max and ratio of medians to the baseline.

    A target (given, or TARGETS[baseline]) adds the computed verdict line under it.
    keep=False: do not record it (re-rendering a table from latest.json).
    """
    target = target or TARGETS.get(baseline)
    base = next((c for c in contenders if c.name == baseline and c.samples), None)
    base_med = statistics.median(base.samples) if base else None
    lines = [f"### {title}", "", f"| contender | median ({unit}) | min | max | n | ratio vs {baseline} |",
             "|---|---:|---:|---:|---:|---:|"]
    for c in contenders:
        if not c.samples:
            lines.append(f"| {c.name} | – | – | – | 0 | not run: {c.error or 'no samples'} |")
            continue
        med = statistics.median(c.samples)
        ratio = f"{med / base_med:.2f}" if base_med else "–"
        lines.append(f"| {c.name} | {med * scale:.1f} | {min(c.samples) * scale:.1f} | "
                     f"{max(c.samples) * scale:.1f} | {len(c.samples)} | {ratio} |")
    if keep:
        record(title, contenders, baseline, unit, scale, target)
    if target:
        lines += ["", verdict(target, contenders, baseline, scale, unit)["line"]]
    return "\n".join(lines) + "\n"


# --- latest.json ---------------------------------------------------------------------------

def save_json(path: str, date: str, machine: str, rounds: int, comparisons: list[dict] | None = None) -> dict:
    """Write every comparison with all its samples, the machine line and the date."""
    doc = {"date": date, "machine": machine, "rounds": rounds,
           "comparisons": RECORDED if comparisons is None else comparisons}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return doc


def load_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def contenders_from(comparison: dict) -> list[Contender]:
    """The Contenders of one recorded comparison (samples and errors, no callables)."""
    return [Contender(c["name"], samples=list(c["samples"]), error=c.get("error", ""))
            for c in comparison["contenders"]]


def target_from(comparison: dict) -> Target | None:
    t = comparison.get("target")
    return Target(**t) if t else None
