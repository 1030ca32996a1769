"""Every lab three ways, through the real grader (issue 8's CI contract):

  the reference solution scores 100 %;
  the untouched handout scores 0 on every exercise check;
  each planted wrong answer (labs/fixtures/LAB/wrong-EX.ipynb) fails its own check and no other.

The notebooks are generated (python -m labs._build.make); the first test
proves the committed ones are what the generator makes, so a hand edit of a
notebook cannot drift from its source.
"""
from __future__ import annotations

import glob
import os

import nbformat
import pytest

from labs import grade
from labs._build import make

LABS_DIR = os.path.dirname(os.path.abspath(grade.__file__))
LABS = ["01_namespaces", "02_cgroups", "03_unionfs", "04_networking", "05_images"]

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _exercises(lab_path: str) -> list[str]:
    nb = nbformat.read(lab_path, as_version=4)
    return [c.metadata[grade.META]["exercise"] for c in nb.cells if grade.role(c) == "check"]


def test_generated_notebooks_match_their_source(tmp_path, monkeypatch):
    monkeypatch.setattr(make, "LABS", str(tmp_path))
    for m in make.ALL:
        for p in make.build(m):
            rel = os.path.relpath(p, tmp_path)
            committed = os.path.join(LABS_DIR, rel)
            assert os.path.exists(committed), f"{rel} missing: run python -m labs._build.make"
            a = nbformat.read(p, as_version=4)
            b = nbformat.read(committed, as_version=4)
            assert [c.source for c in a.cells] == [c.source for c in b.cells], \
                f"{rel} differs from labs/_build: run python -m labs._build.make"


@pytest.mark.parametrize("lab", LABS)
def test_lab_three_ways(lab, host_unchanged):
    lab_path = os.path.join(LABS_DIR, f"{lab}.ipynb")
    solution = os.path.join(LABS_DIR, "solutions", f"{lab}.ipynb")
    wrongs = sorted(glob.glob(os.path.join(LABS_DIR, "fixtures", lab, "wrong-*.ipynb")))
    exs = _exercises(lab_path)
    assert exs and len(wrongs) == len(exs), f"{lab}: one planted wrong answer per exercise"
    results = grade.grade_all(lab_path, [solution, lab_path] + wrongs, jobs=2)
    report = grade.table(results)
    for r in results:
        assert not r.errors, f"{r.path}: {r.errors}\n{report}"
        assert r.seconds < 300, f"{r.path} took {r.seconds}s (a lab must run in under 5 minutes)"
    sol, handout, planted = results[0], results[1], results[2:]
    assert [c.exercise for c in sol.checks] == exs
    assert all(c.passed for c in sol.checks), report + _outputs(sol)
    assert not any(c.passed for c in handout.checks), report + _outputs(handout)
    for path, r in zip(wrongs, planted):
        ex = os.path.basename(path)[len("wrong-"):-len(".ipynb")]
        verdict = {c.exercise: c.passed for c in r.checks}
        assert verdict == {e: e != ex for e in exs}, f"{path}: {verdict}\n" + report + _outputs(r)


def _outputs(r) -> str:
    return "".join(f"\n--- {c.exercise} ({c.status})\n{c.output}" for c in r.checks)


def test_solutions_run_as_a_student_runs_them(tmp_path, host_unchanged):
    """`pytest --nbval-lax` on the reference solutions: a plain kernel in the host's own
    namespaces, as in a student's JupyterLab (no grader sandbox); every cell runs without error
    and the labs' own cleanup cells leave nothing behind (host_unchanged)."""
    import shutil
    import subprocess
    import sys
    parent = f"lab0-nbval-{os.getpid()}"
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "root"), MINIDOCKER_CGROUP_PARENT=parent)
    try:
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider",
                            os.path.join(LABS_DIR, "solutions")], capture_output=True, text=True,
                           timeout=600, env=env, cwd=str(tmp_path))
        assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    finally:
        for d in glob.glob(f"/sys/fs/cgroup/*/{parent}"):     # the managers' parent dir (empty)
            os.rmdir(d)
        shutil.rmtree(tmp_path / "root", ignore_errors=True)
