"""Write every lab's notebooks from its source in this folder.

    python -m labs._build.make            # all labs
    python -m labs._build.make lab01      # one

For each labs/_build/labNN.py (NAME, TITLE, CELLS) it writes
  labs/NAME.ipynb                         the student's handout (TODO cells)
  labs/solutions/NAME.ipynb               the reference solution
  labs/fixtures/NAME/wrong-EX.ipynb       one planted wrong answer per exercise
                                          (the solution, except exercise EX)
CI grades all three (tests/test_labs.py). Edit the .py, never the notebooks.
"""
from __future__ import annotations

import importlib
import os
import sys

import nbformat

from .cells import render

HERE = os.path.dirname(os.path.abspath(__file__))
LABS = os.path.dirname(HERE)
ALL = ["lab01", "lab02", "lab03", "lab04", "lab05"]


def _write(path: str, cells, title: str) -> None:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}, "minidocker_lab": {"title": title}}
    nbformat.validate(nb)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)


def build(mod_name: str) -> list[str]:
    mod = importlib.import_module(f"labs._build.{mod_name}")
    name, cells = mod.NAME, mod.CELLS
    exs = sorted({c.exercise for c in cells if c.role == "check"})
    written = [os.path.join(LABS, f"{name}.ipynb"), os.path.join(LABS, "solutions", f"{name}.ipynb")]
    _write(written[0], render(cells, "handout"), mod.TITLE)
    _write(written[1], render(cells, "solution"), mod.TITLE)
    fix = os.path.join(LABS, "fixtures", name)
    for ex in exs:
        if not any(c.exercise == ex and c.wrong for c in cells if c.role == "exercise"):
            raise SystemExit(f"{mod_name}: exercise {ex} has no planted wrong answer")
        p = os.path.join(fix, f"wrong-{ex}.ipynb")
        _write(p, render(cells, ("wrong", ex)), mod.TITLE)
        written.append(p)
    return written


def main(argv: list[str]) -> int:
    for m in argv or ALL:
        if os.path.exists(os.path.join(HERE, f"{m}.py")):
            for p in build(m):
                print("wrote", os.path.relpath(p))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
