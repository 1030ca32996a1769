"""The lab grader: re-run every submission with the instructor's checks put back in.

    python -m labs.grade labs/01_namespaces.ipynb submissions/*.ipynb [-j 2]
           [--junit-xml report.xml] [--json report.json] [--student-timeout 20]

Map of this file:
  merge(lab, submission)   the notebook that is run: the instructor's cells in the
                           instructor's order (setup, checks, cleanup are always the
                           instructor's text), the student's exercise cells matched by
                           cell id (or metadata id), the student's own extra cells kept
                           after the cell they followed
  Kernel                   one ipykernel per submission, in its own mount, net, UTS
                           and IPC namespaces (labs/_kernel.py), driven cell by cell with a
                           per-cell timeout: SIGINT on timeout, a restart if even that fails
                           (or if the kernel died), then the setup cells again
  Sandbox                  what a submission may leave on the host and its cleanup:
                           a tracking cgroup for every process it starts, its own
                           MINIDOCKER_ROOT and cgroup parent, a before/after snapshot
  grade_one / grade_all    run, score, clean up
  table / junit_xml        the reports

Why not `pytest --nbval-lax` on the merged notebook: nbval reports one pass/fail per
cell to pytest, stops a cell at a timeout by failing the whole notebook run, and
gives no per-check score we could add up per student. Running the kernel ourselves
(jupyter_client, as nbval and nbclient do underneath) gives a per-cell timeout that
interrupts just that cell and goes on, a kernel in private namespaces, and a result
per check cell. A check cell passes when it runs to the end without an exception --
the same rule as nbval's lax mode, and the outputs stored in the submission are
never looked at (they are the student's, and could say anything).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import escape, quoteattr

import nbformat

from minidocker.trace import step

META = "minidocker_lab"            # cell metadata key the labs use: role, exercise, id, timeout
INSTRUCTOR_ROLES = ("setup", "check", "cleanup")
KERNEL_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernel.py")
DEFAULT_TIMEOUT = 60               # seconds per cell, unless the cell's metadata says otherwise
INTERRUPT_GRACE = 5                # seconds a cell gets to stop after SIGINT before a restart
# prepended to every check cell: a submission that patched the check helpers gets them back
# (and the names a lab imports from it, in case a student cell rebound `check` itself)
RELOAD = ("import importlib as _il, minidocker.lab.checks as _ck; _il.reload(_ck); "
          "from minidocker.lab.checks import *; del _il, _ck\n")


# --- merging -------------------------------------------------------------------------

def role(cell) -> str:
    return cell.get("metadata", {}).get(META, {}).get("role", "")


def _ids(cell) -> list[str]:
    out = [cell.get("id")] if cell.get("id") else []
    meta_id = cell.get("metadata", {}).get(META, {}).get("id")
    if meta_id and meta_id not in out:
        out.append(meta_id)
    return out


def merge(lab, sub):
    """The notebook to run for one submission (both are nbformat notebooks).

    Instructor cells (setup/check/cleanup) come from `lab`, whatever the
    submission holds under the same id; exercise cells come from the
    submission when it has a cell with that id, else the untouched TODO
    from the lab (a deleted exercise fails, it does not shift anything).
    Code cells the student added are kept, after the lab cell they followed.
    """
    lab_ids = {}
    for c in lab.cells:
        for i in _ids(c):
            lab_ids.setdefault(i, c)
    student: dict[str, object] = {}
    extras: dict[str | None, list] = {None: []}
    last: str | None = None
    for c in sub.cells:
        match = next((i for i in _ids(c) if i in lab_ids), None)
        if match is not None:
            key = _ids(lab_ids[match])[0]
            student.setdefault(key, c)
            last = key
        elif c.get("cell_type") == "code" and role(c) not in INSTRUCTOR_ROLES:
            extras.setdefault(last, []).append(c)
    out = []
    out.extend(_clean(c) for c in extras[None])
    for c in lab.cells:
        key = _ids(c)[0] if _ids(c) else None
        if role(c) in INSTRUCTOR_ROLES or c.get("cell_type") != "code":
            new = copy.deepcopy(c)
        else:
            new = _clean(student.get(key, c))
            new.setdefault("metadata", {})[META] = copy.deepcopy(c.get("metadata", {}).get(META, {}))
            if key:
                new["id"] = key                    # the lab's id, even when matched by metadata
        if c.get("cell_type") == "code":
            out.append(_clean(new))
        out.extend(_clean(x) for x in extras.get(key, []))
    nb = nbformat.v4.new_notebook(cells=out, metadata=copy.deepcopy(lab.metadata))
    return nb


def _clean(cell):
    c = copy.deepcopy(cell)
    if c.get("cell_type") == "code":
        c["outputs"], c["execution_count"] = [], None
    return c


# --- the kernel ------------------------------------------------------------------------

@dataclass
class CellRun:
    status: str          # "ok", "error", "timeout"
    seconds: float
    text: str            # stdout/stderr/error text the cell produced


class Kernel:
    """An ipykernel in private mount+net namespaces, talking over Unix sockets."""

    def __init__(self, workdir: str, env: dict[str, str]):
        from jupyter_client.kernelspec import KernelSpec
        from jupyter_client.manager import KernelManager
        self.workdir, self.env = workdir, env
        self.km = KernelManager(transport="ipc", ip=os.path.join(workdir, "kernel"))
        self.km._kernel_spec = KernelSpec(argv=[sys.executable, KERNEL_SCRIPT, "-f", "{connection_file}"],
                                          display_name="minidocker-grade", language="python",
                                          interrupt_mode="signal")
        self.kc = None

    def start(self) -> None:
        # what the submission's child processes print to the kernel's own stdout/stderr
        # (not the notebook) goes to a log, not into the grader's report
        self.log = open(os.path.join(self.workdir, "kernel.log"), "ab")
        self.km.start_kernel(cwd=self.workdir, env=self.env, stdout=self.log, stderr=self.log)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int | None:
        p = getattr(self.km.provisioner, "process", None)
        return p.pid if p else None

    def run(self, code: str, timeout: float) -> CellRun:
        """Execute one cell; interrupt it after `timeout` seconds (SIGINT, like the stop button)."""
        t0 = time.monotonic()
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False)
        deadline, interrupted, text, status = t0 + timeout, False, [], "ok"
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if not self.km.is_alive():     # os._exit(), a segfault...: a new kernel for the rest
                    raise _Stuck(CellRun("error", time.monotonic() - t0,
                                         "".join(text) + "\nthe kernel died; it was restarted"))
                if time.monotonic() < deadline:
                    continue
                if interrupted:
                    raise _Stuck(CellRun("timeout", time.monotonic() - t0,
                                         "".join(text) + f"\ntimed out after {timeout:g}s; "
                                         "it ignored the interrupt, the kernel was restarted"))
                os.kill(self.pid, signal.SIGINT)
                interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind == "error":
                status = "error"
                text.append(f"{content['ename']}: {content['evalue']}\n")
            elif kind in ("execute_result", "display_data"):
                text.append(content.get("data", {}).get("text/plain", "") + "\n")
            elif kind == "status" and content["execution_state"] == "idle":
                if interrupted:
                    text.append(f"\ntimed out after {timeout:g}s (interrupted)\n")
                    status = "timeout"
                return CellRun(status, time.monotonic() - t0, "".join(text))

    def stop(self) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        except Exception:   # noqa: BLE001 -- a dead kernel is already stopped
            pass
        if getattr(self, "log", None):
            self.log.close()


class _Stuck(Exception):
    """The kernel is dead or ignores interrupts: the caller starts a new one."""

    def __init__(self, run: CellRun):
        self.run = run


# --- what a submission leaves behind ----------------------------------------------------

CGROUP_ROOT = "/sys/fs/cgroup"
LAB_PREFIX = "lab0"      # every name the labs create starts with it (lab01-, lab02- ...)


def _hierarchies() -> list[str]:
    """Every cgroup hierarchy root on this host (v1 controllers, the unified v2 tree)."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            fstype = parts[parts.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                roots.append(parts[4])
    return sorted(set(roots))


def _tracking_root() -> str:
    """Where the grader keeps its tracking cgroups: the controller-less v2 tree if there is one."""
    for r in _hierarchies():
        if os.path.exists(os.path.join(r, "cgroup.subtree_control")):
            return r
    return os.path.join(CGROUP_ROOT, "pids")


def _lab_cgroups() -> set[str]:
    """Cgroup dirs named like the labs' (two levels deep: <root>/lab02-x, <root>/<parent>/lab02-x).

    Those under another submission's `lab-grade-*` parent are left out: that
    submission's own cleanup removes them (submissions may be graded in parallel).
    """
    out = set()
    for r in _hierarchies():
        for d1 in _subdirs(r):
            if os.path.basename(d1).startswith("lab-grade-"):
                continue
            if os.path.basename(d1).startswith(LAB_PREFIX):
                out.add(d1)
            for d2 in _subdirs(d1):
                if os.path.basename(d2).startswith(LAB_PREFIX):
                    out.add(d2)
    return out


def _subdirs(d: str) -> list[str]:
    try:
        return [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _kill_and_remove(cg: str) -> list[str]:
    """Kill every process in cgroup dir `cg` and below, then rmdir bottom-up. Returns what was removed.

    Shell: kill -9 $(cat CG/**/cgroup.procs); find CG -depth -type d -exec rmdir {} +
    """
    removed = []
    dirs = [p for p, _, _ in os.walk(cg)]
    step("cgroup", f"kill -9 and rmdir the cgroup tree {cg}",
         f"kill -9 $(cat {cg}/cgroup.procs); find {cg} -depth -type d -exec rmdir {{}} +")
    for d in dirs:                         # a frozen cgroup cannot die: thaw it
        for f, v in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            try:
                with open(os.path.join(d, f), "w") as fh:
                    fh.write(v)
            except OSError:
                pass
    for _ in range(100):
        pids = set()
        for d in dirs:
            try:
                with open(os.path.join(d, "cgroup.procs")) as fh:
                    pids.update(int(x) for x in fh.read().split())
            except OSError:
                pass
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    for d in sorted(dirs, key=len, reverse=True):
        for _ in range(40):
            try:
                os.rmdir(d)
                removed.append(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
    return removed


class Sandbox:
    """One submission's tmp dir, state root, cgroup names; cleans what differs afterwards."""

    def __init__(self, tag: str):
        self.tag = tag                                   # e.g. lab-grade-1234-3
        self.dir = tempfile.mkdtemp(prefix=f"{tag}-")
        # not `tag` itself: on a v2-only host that is the managers' parent, which must stay
        # free of processes to delegate controllers ("no internal processes" rule)
        self.track = os.path.join(_tracking_root(), f"{tag}-track")
        self.before = _lab_cgroups()
        step("cgroup", f"mkdir({self.track})", f"mkdir {self.track}")
        os.makedirs(self.track, exist_ok=True)
        self.env = dict(os.environ, MINIDOCKER_ROOT=os.path.join(self.dir, "root"),
                        MINIDOCKER_CGROUP_PARENT=tag, LAB_GRADE_CGROUP=self.track,
                        MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", TMPDIR=self.dir)
        self.env.pop("MINIDOCKER_TRACE_FILE", None)

    def cleanup(self) -> list[str]:
        """Kill and remove everything the submission started or made; returns what was removed."""
        removed = _kill_and_remove(self.track)
        for r in _hierarchies():
            for name in (self.tag, f"{self.tag}-track"):
                d = os.path.join(r, name)
                if os.path.isdir(d):
                    removed += _kill_and_remove(d)
        for d in sorted(_lab_cgroups() - self.before, key=len, reverse=True):
            if os.path.isdir(d):
                removed += _kill_and_remove(d)
        shutil.rmtree(self.dir, ignore_errors=True)
        return removed


# --- grading ----------------------------------------------------------------------------

@dataclass
class CheckResult:
    exercise: str
    cell: str
    passed: bool
    status: str
    seconds: float
    output: str


@dataclass
class Result:
    student: str
    path: str
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)     # grader-side problems (bad file ...)
    cleaned: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(c.passed for c in self.checks)


def _timeout(cell, default: float, student: float | None = None) -> float:
    """The cell's own timeout (lab metadata), else the default; --student-timeout caps the
    student's cells (exercise and added ones), never the instructor's."""
    t = cell.get("metadata", {}).get(META, {}).get("timeout")
    t = float(t) if t else default
    if student is not None and role(cell) not in INSTRUCTOR_ROLES:
        t = min(t, student)
    return t


def grade_one(lab, path: str, tag: str, default_timeout: float = DEFAULT_TIMEOUT,
              student_timeout: float | None = None) -> Result:
    """Merge, run in a fresh sandboxed kernel, score every check cell, clean up."""
    res = Result(student=os.path.splitext(os.path.basename(path))[0], path=path)
    t0 = time.monotonic()
    checks = [c for c in lab.cells if role(c) == "check"]
    try:
        sub = nbformat.read(path, as_version=4)
    except Exception as e:   # noqa: BLE001 -- a broken file scores 0, and says why
        res.errors.append(f"cannot read {path}: {e}")
        res.checks = [CheckResult(_ex(c), c.get("id", ""), False, "unreadable", 0.0, "") for c in checks]
        return res
    nb = merge(lab, sub)
    box = Sandbox(tag)
    kernel = Kernel(box.dir, box.env)
    setups = [c for c in nb.cells if role(c) == "setup"]
    try:
        kernel.start()
        for cell in nb.cells:
            r = role(cell)
            code = (RELOAD + cell.source) if r == "check" else cell.source
            try:
                run = kernel.run(code, _timeout(cell, default_timeout, student_timeout))
            except _Stuck as s:            # dead, or deaf to SIGINT: new kernel, setup again
                run = s.run
                kernel.stop()
                _kill_and_remove(box.track)
                os.makedirs(box.track, exist_ok=True)
                kernel = Kernel(box.dir, box.env)
                kernel.start()
                for sc in setups:
                    kernel.run(sc.source, _timeout(sc, default_timeout))
            if r == "check":
                res.checks.append(CheckResult(_ex(cell), cell.get("id", ""), run.status == "ok",
                                              run.status, round(run.seconds, 2), run.text))
            elif r == "setup" and run.status != "ok":
                res.errors.append(f"setup cell {cell.get('id')} failed: {run.text[-500:]}")
    except Exception as e:   # noqa: BLE001 -- the grader goes on with the next submission
        res.errors.append(f"grading stopped: {type(e).__name__}: {e}")
    finally:
        kernel.stop()
        res.cleaned = box.cleanup()
    done = {c.cell for c in res.checks}
    for c in checks:
        if c.get("id", "") not in done:
            res.checks.append(CheckResult(_ex(c), c.get("id", ""), False, "not run", 0.0, ""))
    res.seconds = round(time.monotonic() - t0, 1)
    return res


def _ex(cell) -> str:
    return cell.get("metadata", {}).get(META, {}).get("exercise", cell.get("id", "?"))


_runs = iter(range(1 << 30))      # tags stay unique across several grade_all() in one process


def grade_all(lab_path: str, paths: list[str], jobs: int = 1, default_timeout: float = DEFAULT_TIMEOUT,
              student_timeout: float | None = None) -> list[Result]:
    """Grade every submission (`jobs` at once, each in its own kernel and sandbox)."""
    lab = nbformat.read(lab_path, as_version=4)
    base = f"lab-grade-{os.getpid()}-{next(_runs)}"
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(grade_one, lab, p, f"{base}-{i}", default_timeout, student_timeout)
                   for i, p in enumerate(paths)]
        results = [f.result() for f in futures]
    names = [r.student for r in results]
    for r in results:                     # two alice.ipynb from two folders: show the paths
        if names.count(r.student) > 1:
            r.student = os.path.relpath(r.path)
    return results


# --- reports ----------------------------------------------------------------------------

def table(results: list[Result]) -> str:
    if not results:
        return "no submissions"
    exs = [c.exercise for c in results[0].checks]
    w = max([len(r.student) for r in results] + [7])
    lines = [f"{'student':<{w}}  " + "  ".join(f"{e:>7}" for e in exs) + "    score   time"]
    for r in results:
        by = {c.exercise: c for c in r.checks}
        cells = "  ".join(f"{_mark(by.get(e)):>7}" for e in exs)
        pct = 100 * r.score / len(exs) if exs else 0
        lines.append(f"{r.student:<{w}}  {cells}  {r.score}/{len(exs)} {pct:3.0f} %  {r.seconds:5.1f}s")
    lines.append("")
    for e in exs:
        n = sum(1 for r in results for c in r.checks if c.exercise == e and c.passed)
        lines.append(f"{e}: passed by {n}/{len(results)}")
    for r in results:
        for err in r.errors:
            lines.append(f"{r.student}: {err}")
    return "\n".join(lines)


def _mark(c: CheckResult | None) -> str:
    if c is None:
        return "-"
    return "PASS" if c.passed else ("TIMEOUT" if c.status == "timeout" else "FAIL")


def junit_xml(lab_name: str, results: list[Result]) -> str:
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<testsuites>"]
    for r in results:
        fails = sum(not c.passed for c in r.checks)
        out.append(f"  <testsuite name={quoteattr(f'{lab_name}.{r.student}')} tests=\"{len(r.checks)}\" "
                   f"failures=\"{fails}\" errors=\"{len(r.errors)}\" time=\"{r.seconds}\">")
        for c in r.checks:
            out.append(f"    <testcase classname={quoteattr(f'{lab_name}.{r.student}')} "
                       f"name={quoteattr(c.exercise)} time=\"{c.seconds}\">")
            if not c.passed:
                out.append(f"      <failure message={quoteattr(c.status)}>{escape(c.output[-4000:])}</failure>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m labs.grade", description=__doc__.split("\n\n")[0])
    p.add_argument("lab", help="the instructor's lab notebook, e.g. labs/02_cgroups.ipynb")
    p.add_argument("submissions", nargs="+", help="students' notebooks")
    p.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds per cell when the lab does not say (default {DEFAULT_TIMEOUT})")
    p.add_argument("--student-timeout", type=float, default=None,
                   help="cap, in seconds, for each of the student's cells (default: the lab's own, 60)")
    p.add_argument("--junit-xml", metavar="PATH", help="also write JUnit XML here")
    p.add_argument("--json", metavar="PATH", help="also write the full results as JSON here")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("grade: the labs use namespaces, mounts and cgroups: run as root", file=sys.stderr)
        return 125
    if not os.path.exists(args.lab):
        print(f"grade: no lab notebook {args.lab}", file=sys.stderr)
        return 125
    t0 = time.monotonic()
    results = grade_all(args.lab, args.submissions, args.jobs, args.timeout, args.student_timeout)
    name = os.path.splitext(os.path.basename(args.lab))[0]
    print(table(results))
    print(f"\ngraded {len(results)} submission(s) of {name} in {time.monotonic() - t0:.1f}s")
    if args.junit_xml:
        with open(args.junit_xml, "w") as f:
            f.write(junit_xml(name, results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(asdict(r), score=r.score) for r in results], f, indent=1)
    return 0


def entry() -> None:
    """The console script (proposed: minidocker-grade = "labs.grade:entry")."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
