"""Interleaved A/B timing: every contender runs once per round, rounds repeat.

Running A B C A B C ... (not AAA BBB CCC) spreads the machine's drift (other
load, caches, thermal) over all contenders equally, so the *ratio* is fair
even when absolute times wobble. We report median, min and max per contender
and the ratio of medians against a named baseline.
"""
from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Contender:
    name: str
    run: Callable[[], None]            # one measured operation; raises on failure
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
    for _ in range(rounds):
        for c in live:
            if c.error:
                continue
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


def table(title: str, contenders: list[Contender], baseline: str, unit: str = "ms",
          scale: float = 1000.0) -> str:
    """Markdown table: median / min / max and ratio of medians to the baseline."""
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
    return "\n".join(lines) + "\n"
