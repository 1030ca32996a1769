"""The grader's merge: the instructor's cells win, found by id, whatever the student did around them.

Pure logic on nbformat notebooks (no kernel, no root).
"""
from __future__ import annotations

import copy
import os

import nbformat

from labs import grade

LAB = os.path.join(os.path.dirname(os.path.abspath(grade.__file__)), "01_namespaces.ipynb")
SOL = os.path.join(os.path.dirname(LAB), "solutions", "01_namespaces.ipynb")


def _lab():
    return nbformat.read(LAB, as_version=4)


def _by_id(nb):
    return {c.get("id"): c for c in nb.cells}


def _code_ids(nb):
    return [c.get("id") for c in nb.cells]


def test_untouched_submission_runs_the_lab_code_cells_in_order():
    lab = _lab()
    merged = grade.merge(lab, copy.deepcopy(lab))
    assert _code_ids(merged) == [c.id for c in lab.cells if c.cell_type == "code"]
    assert all(c.outputs == [] for c in merged.cells)


def test_edited_check_cell_and_forged_outputs_are_replaced():
    lab, sub = _lab(), _lab()
    chk = _by_id(sub)["ex2-check"]
    chk.source = "print('ex2: 6/6 requirements met -> PASS')"
    chk.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ex2: PASS\n")]
    merged = _by_id(grade.merge(lab, sub))
    assert merged["ex2-check"].source == _by_id(lab)["ex2-check"].source
    assert merged["ex2-check"].outputs == []


def test_student_code_is_taken_and_added_cells_stay_after_the_cell_they_followed():
    lab, sub = _lab(), nbformat.read(SOL, as_version=4)
    mine = nbformat.v4.new_code_cell("helper = 42", id="student-helper")
    first = nbformat.v4.new_code_cell("import math", id="student-first")
    i = _code_ids(sub).index("ex1-code")
    sub.cells.insert(i + 1, mine)
    sub.cells.insert(0, first)
    merged = grade.merge(lab, sub)
    ids = _code_ids(merged)
    assert ids[0] == "student-first"
    assert ids[ids.index("ex1-code") + 1] == "student-helper"
    assert _by_id(merged)["ex1-code"].source == _by_id(sub)["ex1-code"].source   # the student's answer


def test_deleted_cells_shift_nothing():
    lab, sub = _lab(), nbformat.read(SOL, as_version=4)
    sub.cells = [c for c in sub.cells if c.get("id") not in ("ex1-check", "ex2-code", "intro", "ex3-md")]
    merged = _by_id(grade.merge(lab, sub))
    assert merged["ex1-check"].source == _by_id(lab)["ex1-check"].source          # checks come back
    assert merged["ex2-code"].source == _by_id(lab)["ex2-code"].source            # deleted answer = the TODO
    assert "raise NotImplementedError" in merged["ex2-code"].source
    assert merged["ex3-code"].source == _by_id(nbformat.read(SOL, as_version=4))["ex3-code"].source


def test_reordered_cells_run_in_the_lab_order_and_fake_checks_are_dropped():
    lab, sub = _lab(), nbformat.read(SOL, as_version=4)
    sub.cells.reverse()
    fake = nbformat.v4.new_code_cell("print('PASS')", id="my-check")
    fake.metadata = {grade.META: {"role": "check", "exercise": "ex1"}}
    sub.cells.append(fake)
    merged = grade.merge(lab, sub)
    lab_code = [c.id for c in lab.cells if c.cell_type == "code"]
    assert [i for i in _code_ids(merged) if i in lab_code] == lab_code
    assert "my-check" not in _code_ids(merged)
    assert sum(grade.role(c) == "check" for c in merged.cells) == 3


def test_matching_falls_back_to_the_metadata_id():
    lab, sub = _lab(), nbformat.read(SOL, as_version=4)
    for c in sub.cells:
        c["id"] = "regenerated-" + c["id"]            # e.g. cells pasted into a new notebook
    merged = _by_id(grade.merge(lab, sub))
    assert merged["ex3-code"].source == _by_id(nbformat.read(SOL, as_version=4))["ex3-code"].source


def test_the_documented_handout_command_strips_the_solutions(tmp_path):
    """Run the exact command labs/README.md documents; no solution text may survive."""
    import re
    import subprocess
    repo = os.path.dirname(os.path.dirname(os.path.abspath(grade.__file__)))
    readme = open(os.path.join(repo, "labs", "README.md"), encoding="utf-8").read()
    block = re.search(r"<!-- handout -->\s*```\s*\n(.*?)\n```", readme, re.S).group(1).strip()
    subprocess.run(block.replace("handout/", f"{tmp_path}/handout/"), shell=True, check=True, cwd=repo)
    out = tmp_path / "handout" / "labs"
    assert (out / "01_namespaces.ipynb").exists() and (out / "README.md").exists()
    assert not any(p.name in ("solutions", "fixtures", "_build") for p in out.rglob("*"))
    text = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert "libc.sethostname(hostname)    # changes the copy only" not in text      # lab01's solution
    assert "planted mistake" not in text
