"""Where does `minidocker run` spend its time? A profiler you can re-run.

    python -m bench.profile [--out DIR] [--runs N]      (as root; DIR defaults to bench/results)

Profiles `minidocker run --rm --network none busybox true` and `minidocker exec C true`
four ways and writes DIR/profile.md (a short summary) plus the raw outputs in DIR/profile/:

  phases       N plain runs, each split by timestamps into interpreter start-up, imports,
               argument parsing, work before the fork, the container's set-up, its own run,
               teardown and interpreter exit (see split_phases)
  importtime   `python -X importtime`: every import, summarised as cumulative ms
  pyinstrument its text tree, in the CLI process only (the forked children are not in it)
  py-spy       `py-spy record --subprocesses --format speedscope` over N runs: every
               process, sampled from outside (open the .json at https://www.speedscope.app)

Map of this file:
  DRIVER, time_phases, split_phases      the phase split (minidocker.trace step timestamps)
  parse_importtime, importtime_table     -X importtime -> sorted table
  speedscope_top                         py-spy's speedscope JSON -> the top functions
  main                                   run everything, write the summary
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
#: how the `minidocker` command starts Python (minidocker/launcher.py): -I -S, sys.path set by hand
PY_FAST = [PY, "-I", "-S"]


def _fast_env(env: dict) -> dict:
    from minidocker.launcher import launcher_paths
    return {**env, "MDK_PROFILE_PATH": json.dumps(launcher_paths())}

# Runs the CLI as `python -m minidocker ARGS` does (through cli.entry(), which may end
# with os._exit), noting time.monotonic() (one clock for every process on the machine,
# the one trace.Step.t uses) when the interpreter is up, when `minidocker.cli` is
# imported, when the flags are parsed and when main() returns.
#   python -c DRIVER MARKS.json PYI_OUT|- ARGS...
# With PYI_OUT, pyinstrument profiles this process from our first line to main()'s end
# and writes its text tree there (not `pyinstrument -m minidocker`: os._exit would
# end the process before pyinstrument writes anything).
DRIVER = r"""
import sys, time, os, json
t_main = time.monotonic()
sys.path[:0] = json.loads(os.environ.get("MDK_PROFILE_PATH", "[]"))   # -I -S: as the launcher does
me, marks_file, pyi_out = os.getpid(), sys.argv[1], sys.argv[2]
prof = None
if pyi_out != "-":
    from pyinstrument import Profiler
    prof = Profiler(interval=0.0002)
    prof.start()
marks = {}
import minidocker.cli as cli                # (minidocker.flags comes with it: counted as an import)
t_imported = time.monotonic()
_build = cli.build_parser
def _build_timed(*a, **k):                  # note when the parser has parsed, without importing
    parser = _build(*a, **k)                # the verb's parser (imports its command module)
    parse = parser.parse_args
    def parse_timed(*pa, **pk):
        r = parse(*pa, **pk)
        marks["parsed"] = time.monotonic()
        return r
    parser.parse_args = parse_timed
    return parser
cli.build_parser = _build_timed
_main = cli.main
def main(argv=None):
    try:
        return _main(argv)
    finally:
        if os.getpid() == me:               # not in a forked child that got here
            done = time.monotonic()
            with open(marks_file, "w") as f:
                json.dump({"pid": me, "main": t_main, "imported": t_imported,
                           "parsed": marks.get("parsed", t_imported), "done": done}, f)
            if prof is not None:
                prof.stop()
                with open(pyi_out, "w") as f:
                    f.write(prof.output_text(unicode=True, color=False))
cli.main = main                             # entry() looks main up when it runs
sys.argv = ["minidocker"] + sys.argv[3:]
if hasattr(cli, "entry"):
    cli.entry()
sys.exit(main())
"""

PHASES = [
    ("interpreter start-up", "python itself (`python -I -S`, as the `minidocker` command starts it), "
                             "before the first line of ours runs"),
    ("imports", "`import minidocker.cli` and what it pulls in"),
    ("argument parsing", "building the parser (imports the verb's command module) and parsing"),
    ("work before fork", "from parsed arguments to the first trace step of another process"),
    ("container set-up", "in the child: namespaces, mounts, security, until execve"),
    ("container's own run", "execve of the command until the runtime acts again (the command runs, "
                            "exits, and the runtime notices)"),
    ("teardown", "from the runtime's first step after the command until main() returns"),
    ("interpreter exit", "from main() returning until the process is gone"),
]


# --- the phase split ---------------------------------------------------------------

def split_phases(launch: float, marks: dict, steps: list[dict], exit_: float) -> dict[str, float]:
    """Seconds per phase of one run, from the driver's marks and the trace steps.

    launch/exit_: time.monotonic() around the process; marks: the DRIVER's JSON;
    steps: trace.Step dicts (kind, pid, t). The fork is placed at the first step of a
    process other than the CLI's; the command starts at the last "exec" step after it
    (or, with none, the last step of a process other than the CLI's); teardown starts
    at the CLI's first step after that. A boundary with no step to
    mark it merges its phase into the next one (its time is then 0 here).
    """
    cli = marks["pid"]
    parsed, done = marks["parsed"], marks["done"]
    steps = sorted(steps, key=lambda s: s["t"])
    fork = next((s["t"] for s in steps if s["pid"] != cli and s["t"] >= parsed), None)
    execve = None
    if fork is not None:
        ex = [s["t"] for s in steps if s["kind"] == "exec" and s["t"] >= fork]
        # no execve step (exec's child does not trace one): its last step before the exec is close
        ex = ex or [s["t"] for s in steps if s["pid"] != cli and s["t"] >= fork]
        execve = ex[-1] if ex else None
    after = execve if execve is not None else fork
    teardown = next((s["t"] for s in steps if after is not None and s["pid"] == cli and s["t"] > after), None)
    fork = fork if fork is not None else done
    execve = execve if execve is not None else fork
    teardown = teardown if teardown is not None else done
    bounds = [launch, marks["main"], marks["imported"], parsed, fork, execve, teardown, done, exit_]
    return {name: max(0.0, b - a) for (name, _), a, b in zip(PHASES, bounds, bounds[1:])}


def slowest_gaps(steps: list[dict], cli: int, top: int = 6) -> list[tuple[float, str, str]]:
    """The longest waits between consecutive trace steps: (seconds, step before, step after)."""
    steps = sorted(steps, key=lambda s: s["t"])

    def label(s: dict) -> str:
        who = "CLI" if s["pid"] == cli else f"pid {s['pid']}" if s["pid"] < 10 else "child"
        return f"{who}: {re.sub(r'[0-9a-f]{12,}', '<id>', s['call'])[:90]}"
    gaps = [(b["t"] - a["t"], label(a), label(b)) for a, b in zip(steps, steps[1:])]
    return sorted(gaps, key=lambda g: -g[0])[:top]


def time_phases(argv: list[str], runs: int, workdir: str) -> list[dict[str, float]]:
    """Run `minidocker ARGV` runs times under the DRIVER with a trace file; split each run.

    Each run's dict also holds "_gaps": slowest_gaps() of its trace.
    """
    out = []
    for i in range(runs):
        trace_file = os.path.join(workdir, f"trace-{i}.jsonl")
        marks_file = os.path.join(workdir, f"marks-{i}.json")
        open(trace_file, "w").close()           # trace.py only appends to a file that exists
        env = _fast_env({**os.environ, "MINIDOCKER_TRACE_FILE": trace_file})
        launch = time.monotonic()
        p = subprocess.run([*PY_FAST, "-c", DRIVER, marks_file, "-", *argv], env=env, cwd=REPO,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        exit_ = time.monotonic()
        if p.returncode != 0:
            raise RuntimeError(f"minidocker {' '.join(argv)} -> {p.returncode}: {p.stderr.strip()[-300:]}")
        with open(marks_file) as f:
            marks = json.load(f)
        with open(trace_file) as f:
            steps = [json.loads(line) for line in f if line.strip()]
        phases = split_phases(launch, marks, steps, exit_)
        phases["total (wall)"] = exit_ - launch
        phases["_gaps"] = slowest_gaps(steps, marks["pid"])
        out.append(phases)
    return out


# --- python -X importtime ---------------------------------------------------------------

def parse_importtime(stderr: str) -> list[dict]:
    """Lines "import time: self | cumulative | <2*depth spaces>name" -> [{name, self_us, cum_us, depth}]."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3:
            continue
        self_us, cum_us, raw = parts
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2     # one space, then two per level
        rows.append({"name": raw.strip(), "self_us": int(self_us), "cum_us": int(cum_us), "depth": depth})
    return rows


def importtime_table(rows: list[dict], top: int = 12) -> tuple[str, float]:
    """The top-level imports (depth 0: they add up to the whole) sorted by cumulative ms."""
    tops = sorted((r for r in rows if r["depth"] == 0), key=lambda r: -r["cum_us"])
    total = sum(r["cum_us"] for r in tops) / 1000
    lines = ["| import (top level) | cumulative (ms) | share |", "|---|---:|---:|"]
    for r in tops[:top]:
        lines.append(f"| `{r['name']}` | {r['cum_us'] / 1000:.1f} | {r['cum_us'] / 1000 / total:.0%} |"
                     if total else f"| `{r['name']}` | {r['cum_us'] / 1000:.1f} | – |")
    rest = tops[top:]
    if rest:
        lines.append(f"| {len(rest)} others | {sum(r['cum_us'] for r in rest) / 1000:.1f} | |")
    lines.append(f"| **all imports** | **{total:.1f}** | |")
    return "\n".join(lines) + "\n", total


def import_split(rows: list[dict]) -> dict[str, float]:
    """Top-level import ms in three groups, by the order they finished in:
    "start-up" (site, encodings: before anything of ours), "minidocker.cli" (the package
    and the CLI module), "lazy" (everything after: imported inside main(), in any process)."""
    tops = [r for r in rows if r["depth"] == 0]
    first = next((i for i, r in enumerate(tops) if r["name"].startswith("minidocker")), len(tops))
    cli = next((i for i, r in enumerate(tops) if r["name"] == "minidocker.cli"), first)
    ms = lambda rs: sum(r["cum_us"] for r in rs) / 1000    # noqa: E731
    return {"start-up": ms(tops[:first]), "minidocker.cli": ms(tops[first:cli + 1]), "lazy": ms(tops[cli + 1:])}


def slowest_self(rows: list[dict], top: int = 8) -> str:
    """The modules whose own body (not their imports) is slowest."""
    rs = sorted(rows, key=lambda r: -r["self_us"])[:top]
    return ", ".join(f"`{r['name']}` {r['self_us'] / 1000:.1f}" for r in rs)


# --- py-spy's speedscope JSON ------------------------------------------------------------

def speedscope_top(doc: dict, top: int = 12) -> dict:
    """py-spy's speedscope JSON -> {"ms": sampled ms, "self": [...], "ours": [...]}.

    self: the functions the samples were *in* (leaf frames), any file;
    ours: minidocker's functions with the time spent in them and below.
    Each list holds (label, ms, share). py-spy puts a pseudo-frame `process PID:"cmd"`
    on top of each stack (the parent's first): the root process (our loop, waiting
    for its children) is left out, and the pseudo-frames are not counted as functions.
    """
    frames = doc["shared"]["frames"]
    incl: dict[int, float] = {}
    self_: dict[int, float] = {}
    total = 0.0
    for prof in doc.get("profiles", []):
        samples = prof.get("samples", [])
        weights = prof.get("weights") or [0.001] * len(samples)
        pid = prof.get("name", "").split()[1] if prof.get("name", "").startswith("Process ") else None
        for stack, w in zip(samples, weights):
            if stack and pid and frames[stack[0]]["name"].startswith(f"process {pid}:"):
                continue                                  # the root loop itself
            real = [f for f in stack if not frames[f]["name"].startswith("process ")]
            total += w
            for f in set(real):
                incl[f] = incl.get(f, 0) + w
            leaf = real[-1] if real else -1
            self_[leaf] = self_.get(leaf, 0) + w

    def label(i: int) -> str:
        if i < 0:
            return "(no Python frame: native code, fork or execve)"
        fr = frames[i]
        f = fr.get("file", "") or "?"
        where = os.path.relpath(f, REPO) if f.startswith(REPO) else os.path.basename(f)
        line = fr.get("line")
        return f"{fr['name']} ({where}:{line})" if line else f"{fr['name']} ({where})"

    def ours(i: int) -> bool:
        f = frames[i].get("file", "") or ""
        return f.startswith(os.path.join(REPO, "minidocker")) and not f.endswith("__main__.py")
    unit = 1000.0    # speedscope weights from py-spy are in seconds
    by_self = sorted(self_, key=lambda i: -self_[i])[:top]
    by_incl = sorted((i for i in incl if ours(i)), key=lambda i: -incl[i])[:top]
    return {"ms": total * unit,
            "self": [(label(i), self_[i] * unit, self_[i] / total) for i in by_self] if total else [],
            "ours": [(label(i), incl[i] * unit, incl[i] / total) for i in by_incl] if total else []}


def _pyspy() -> str | None:
    near = os.path.join(os.path.dirname(PY), "py-spy")
    return near if os.access(near, os.X_OK) else shutil.which("py-spy")


# --- main ---------------------------------------------------------------------------

from bench.run import MD       # noqa: E402  the `minidocker` command as users type it


def _ms(x: float) -> str:
    return f"{x * 1000:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--runs", type=int, default=10, help="runs per command for the phases and py-spy")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.profile: run as root", file=sys.stderr)
        return 1
    raw = os.path.join(a.out, "profile")
    os.makedirs(raw, exist_ok=True)
    subprocess.run([PY, "-m", "compileall", "-q", os.path.join(REPO, "minidocker")], capture_output=True)
    tmp = tempfile.mkdtemp(prefix="mdkprof-")
    os.environ.setdefault("MINIDOCKER_ROOT", os.path.join(tmp, "root"))
    os.environ.setdefault("MINIDOCKER_CGROUP_PARENT", f"minidocker-prof-{os.getpid()}")
    name = f"mdkprof-exec-{os.getpid()}"
    run_args = ["run", "--rm", "--network", "none", "busybox", "true"]
    exec_args = ["exec", name, "true"]
    cases = {"run": run_args, "exec": exec_args}
    report: dict = {"phases": {}, "imports": {}, "pyinstrument": {}, "pyspy": {}}
    try:
        subprocess.run(MD + run_args, check=True, capture_output=True, cwd=REPO)   # builds the base image
        subprocess.run(MD + ["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "1000"],
                       check=True, capture_output=True, cwd=REPO)
        for key, args in cases.items():
            print(f"profile: phases of {key}", file=sys.stderr)
            report["phases"][key] = time_phases(args, a.runs, tmp)
            print(f"profile: importtime of {key}", file=sys.stderr)
            p = subprocess.run([*PY_FAST, "-X", "importtime", "-c", "from minidocker.cli import entry; entry()",
                                *args], capture_output=True, text=True, cwd=REPO, env=_fast_env(
                                    {**os.environ, "PYTHONPATH": ""}))
            with open(os.path.join(raw, f"importtime-{key}.txt"), "w") as f:
                f.write(p.stderr)
            report["imports"][key] = parse_importtime(p.stderr)
            print(f"profile: pyinstrument of {key}", file=sys.stderr)
            txt = os.path.join(raw, f"pyinstrument-{key}.txt")
            p = subprocess.run([*PY_FAST, "-c", DRIVER, os.path.join(tmp, "pyi-marks.json"), txt, *args],
                               capture_output=True, text=True, cwd=REPO, env=_fast_env(dict(os.environ)))
            tree = open(txt).read() if os.path.exists(txt) else ""
            report["pyinstrument"][key] = tree.strip() or f"(pyinstrument wrote nothing: {p.stderr.strip()[-300:]})"
            spy = _pyspy()
            if spy:
                print(f"profile: py-spy over {a.runs} runs of {key}", file=sys.stderr)
                out = os.path.join(raw, f"pyspy-{key}.speedscope.json")
                loop = "import subprocess, sys\nfor _ in range(int(sys.argv[1])): subprocess.run(sys.argv[2:])"
                p = subprocess.run([spy, "record", "--subprocesses", "--nolineno", "--rate", "1000",
                                    "--format", "speedscope",
                                    "-o", out, "--", PY, "-c", loop, str(a.runs), *MD, *args],
                                   capture_output=True, text=True, cwd=REPO)
                if p.returncode == 0 and os.path.exists(out):
                    with open(out) as f:
                        report["pyspy"][key] = speedscope_top(json.load(f))
                else:
                    report["pyspy"][key] = f"py-spy failed: {p.stderr.strip()[-300:]}"
            else:
                report["pyspy"][key] = "py-spy not installed (pip install py-spy)"
    finally:
        subprocess.run(MD + ["rm", "-f", name], capture_output=True, cwd=REPO)
        subprocess.run(MD + ["system", "prune", "-f"], capture_output=True, cwd=REPO)
        shutil.rmtree(tmp, ignore_errors=True)
    text = render(report, a.runs, os.path.relpath(raw, REPO) if raw.startswith(REPO) else raw)
    with open(os.path.join(a.out, "profile.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


def _trim(tree: str, lines: int = 45) -> str:
    body = [ln for ln in tree.splitlines() if ln.strip()]
    return "\n".join(body[:lines] + ([f"... ({len(body) - lines} more lines in the raw file)"]
                                      if len(body) > lines else []))


def render(report: dict, runs: int, raw: str) -> str:
    """The markdown summary: phases first (where the wall time goes), then each tool."""
    from bench.run import machine
    med = {k: {p: statistics.median(r[p] for r in rs) for p in rs[0] if not p.startswith("_")}
           for k, rs in report["phases"].items()}
    out = ["# Where minidocker's time goes", "",
           f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}. "
           f"Reproduce: `sudo .venv/bin/python -m bench.profile` ({runs} runs per command). "
           f"Raw outputs in `{raw}/`.", "",
           "## Phases of the wall time (median of each phase over the runs, ms)", "",
           "| phase | `run --rm busybox true` | `exec C true` | what it is |", "|---|---:|---:|---|"]
    for p, what in PHASES + [("total (wall)", "launch to exit, as a shell sees it")]:
        cells = [(_ms(med[k][p]) if k in med else "–") for k in ("run", "exec")]
        out.append(f"| {p} | {cells[0]} | {cells[1]} | {what} |")
    out += ["", "Boundaries: the driver (bench/profile.py DRIVER) notes `time.monotonic()` when "
            "Python runs our first line, after `import minidocker.cli`, after parsing the flags and when main() "
            "returns; the rest come from `minidocker.trace` steps (`Step.t`, the same clock, from "
            "every process): the first step of a process other than the CLI marks the fork, the last "
            "`exec` step the command's start, the CLI's next step the start of teardown. Medians of "
            "each phase do not add up exactly to the median total.", ""]
    for k in ("run", "exec"):
        if k not in med:
            continue
        tot = med[k]["total (wall)"]
        py = med[k]["interpreter start-up"] + med[k]["imports"] + med[k]["argument parsing"] + \
            med[k]["interpreter exit"]
        biggest = sorted(((v, p) for p, v in med[k].items() if p != "total (wall)"), reverse=True)[:3]
        out.append(f"- `{k}`: {_ms(tot)} ms in all; Python itself (start-up, imports, parsing, exit) "
                   f"{_ms(py)} ms ({py / tot:.0%}); the three largest phases: " +
                   ", ".join(f"{p} {_ms(v)} ms" for v, p in biggest) + ".")
    out.append("")
    for k, rs in report["phases"].items():
        typical = sorted(rs, key=lambda r: r["total (wall)"])[len(rs) // 2]
        out += [f"Longest waits between two consecutive kernel steps of `{k}` (the run with the median "
                f"total, {_ms(typical['total (wall)'])} ms):", "",
                "| ms | after this step | until this one |", "|---:|---|---|"]
        out += [f"| {_ms(g)} | {a} | {b} |" for g, a, b in typical["_gaps"]]
        out.append("")
    for k in ("run", "exec"):
        rows = report["imports"].get(k)
        if not rows:
            continue
        tab, total = importtime_table(rows)
        sp = import_split(rows)
        out += [f"## Imports of `{k}` (`python -X importtime`, one run)", "",
                f"All imports: {total:.1f} ms (under -X importtime, which adds its own cost): "
                f"{sp['start-up']:.1f} ms while Python starts (site, encodings, runpy), "
                f"{sp['minidocker.cli']:.1f} ms for `minidocker.cli`, {sp['lazy']:.1f} ms lazily inside "
                "main() (so in the phases above they count under argument parsing and the work before "
                "the fork; a forked child's own imports are here too). "
                f"Slowest module bodies (self ms): {slowest_self(rows)}.", "", tab]
    for k in ("run", "exec"):
        top = report["pyspy"].get(k)
        out += [f"## py-spy over {runs} runs of `{k}` (every process, 1000 samples/s)", ""]
        if isinstance(top, str):
            out += [top, ""]
            continue
        out += [f"{top['ms']:.0f} ms of samples in all ({top['ms'] / runs:.0f} ms a run, every process "
                f"that was not idle); open `{raw}/pyspy-{k}.speedscope.json` at https://www.speedscope.app "
                "for the flame graph. py-spy samples from outside and finds each new process only after "
                "it has started, so it misses the first milliseconds of every process (Python's own "
                "start-up) and does not count time spent waiting: read it for *which code* is hot, "
                "the phases above for *how long*.", "",
                "| where the samples were (leaf function) | ms | share |", "|---|---:|---:|"]
        out += [f"| `{n}` | {ms:.0f} | {sh:.0%} |" for n, ms, sh in top["self"]]
        out += ["", "| minidocker function, with what it calls | ms | share |", "|---|---:|---:|"]
        out += [f"| `{n}` | {ms:.0f} | {sh:.0%} |" for n, ms, sh in top["ours"]]
        out.append("")
    for k in ("run", "exec"):
        if k in report["pyinstrument"]:
            out += [f"## pyinstrument, CLI process of `{k}` (trimmed; full tree in `{raw}/pyinstrument-{k}.txt`)",
                    "", "```", _trim(report["pyinstrument"][k]), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
