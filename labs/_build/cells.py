"""The cell kinds a lab is made of, and how each becomes a notebook cell.

Map:
  md(id, text)                                  explanation for the student
  setup(id, code)                               instructor code run first (imports, fixtures)
  exercise(id, ex, todo, solution, wrong)       the student's cell: the handout has `todo`,
                                                the reference solution `solution`, the
                                                planted-wrong fixture for `ex` has `wrong`
  free(id)                                      an empty scratch cell for the student
  check(id, ex, code, timeout)                  instructor check cell after an exercise
  cleanup(id, code)                             instructor code run last
  render(cells, variant)                        -> list of nbformat cells; variant is
                                                "handout", "solution" or ("wrong", ex)

Every cell carries metadata["minidocker_lab"] = {"role", "id", "exercise"?, "timeout"?}
and the same `id` as its nbformat cell id, so the grader can find it again
whatever the student added or deleted around it.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import nbformat

META = "minidocker_lab"


@dataclass(frozen=True)
class Cell:
    id: str
    role: str                    # markdown, setup, exercise, free, check, cleanup
    text: str                    # markdown text, or code (handout version for exercises)
    exercise: str = ""
    solution: str = ""
    wrong: str = ""
    timeout: float = 0


def _d(s: str) -> str:
    return textwrap.dedent(s).strip("\n")


def md(id: str, text: str) -> Cell:
    return Cell(id, "markdown", _d(text))


def setup(id: str, code: str, timeout: float = 120) -> Cell:
    return Cell(id, "setup", _d(code), timeout=timeout)


def exercise(id: str, ex: str, todo: str, solution: str, wrong: str | None = None, timeout: float = 20) -> Cell:
    return Cell(id, "exercise", _d(todo), ex, _d(solution), _d(wrong) if wrong is not None else "", timeout)


def free(id: str) -> Cell:
    return Cell(id, "free", "")


def check(id: str, ex: str, code: str, timeout: float = 30) -> Cell:
    return Cell(id, "check", _d(code), ex, timeout=timeout)


def cleanup(id: str, code: str, timeout: float = 60) -> Cell:
    return Cell(id, "cleanup", _d(code), timeout=timeout)


def _meta(c: Cell) -> dict:
    m = {"role": c.role, "id": c.id}
    if c.exercise:
        m["exercise"] = c.exercise
    if c.timeout:
        m["timeout"] = c.timeout
    out = {META: m}
    if c.role in ("setup", "check", "cleanup"):
        out["tags"] = [f"lab-{c.role}"]
        out["editable"] = False          # JupyterLab greys them out; the grader restores them anyway
        out["deletable"] = False
    elif c.role == "exercise":
        out["tags"] = ["lab-exercise"]
    return out


def render(cells: list[Cell], variant) -> list:
    out = []
    for c in cells:
        if c.role == "markdown":
            nc = nbformat.v4.new_markdown_cell(c.text, id=c.id)
            nc.metadata = _meta(c)
        else:
            src = c.text
            if c.role == "exercise" and variant != "handout":
                src = c.solution
                if variant == ("wrong", c.exercise) and c.wrong:
                    src = c.wrong
            nc = nbformat.v4.new_code_cell(src, id=c.id)
            nc.metadata = _meta(c)
        out.append(nc)
    return out
