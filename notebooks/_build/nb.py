"""A tiny notebook writer: lessons are Python lists of cells, turned into .ipynb with nbformat.

    L = Lesson("06-namespaces.ipynb", "Namespaces", prefix="l06-")
    L.md("Some *why*.")
    L.code("sh('minidocker run --rm busybox hostname')")
    L.code("...", tags=["nbval-ignore-output"])   # say why in a comment in the cell
    L.save(outdir)

setup() and teardown() add the cells every lesson starts and ends with:
clean leftovers of a failed earlier run, and leave the host as it was.
"""
from __future__ import annotations

import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {"display_name": "Python 3 (minidocker)", "language": "python", "name": "python3"}


class Lesson:
    def __init__(self, filename: str, title: str, prefix: str, minutes: int, teaches: str):
        self.filename, self.title, self.prefix = filename, title, prefix
        self.minutes, self.teaches = minutes, teaches
        self.cells = []

    def md(self, text: str) -> None:
        self.cells.append(new_markdown_cell(text.strip("\n")))

    def code(self, src: str, tags: list[str] | tuple[str, ...] = ()) -> None:
        c = new_code_cell(src.strip("\n"))
        if tags:
            c.metadata["tags"] = list(tags)
        self.cells.append(c)

    def setup(self, extra_imports: str = "", images=(), networks=(), volumes=(), extra: str = "") -> None:
        args = self._cleanup_args(images, networks, volumes)
        self.code(f'''
# Setup: the helpers every lesson uses, and a clean start.
import os, minidocker
from minidocker.lab.render import sh, explain, cleanup
{extra_imports}
PREFIX = "{self.prefix}"   # every container this lesson makes is named {self.prefix}...
# If an earlier run of this notebook stopped half-way, remove what it left behind:
cleanup(PREFIX{args});
sh("minidocker run --rm busybox true", show=False)   # builds the offline base image on first use
{extra}
print("ready")'''.replace("\n\n", "\n"))

    def teardown(self, images=(), networks=(), volumes=(), extra: str = "") -> None:
        args = self._cleanup_args(images, networks, volumes)
        self.md("## Clean up\n\nRemove everything this lesson made, so the host is as it was "
                "(run this cell even if you stopped half-way).")
        self.code(f'''
{extra}
removed = cleanup(PREFIX{args})
print("removed:", ", ".join(sorted(removed)) or "nothing")
left = [n for n in sh("minidocker ps -a --format '{{{{.Names}}}}'", show=False).stdout.split() if n.startswith(PREFIX)]
print("containers of this lesson still there:", left or "none")''')

    @staticmethod
    def _cleanup_args(images, networks, volumes) -> str:
        out = ""
        if images:
            out += f", images={tuple(images)!r}"
        if networks:
            out += f", networks={tuple(networks)!r}"
        if volumes:
            out += f", volumes={tuple(volumes)!r}"
        return out

    def notebook(self):
        nb = new_notebook(cells=self.cells)
        nb.metadata["kernelspec"] = KERNEL
        nb.metadata["language_info"] = {"name": "python"}
        return nb

    def save(self, outdir: str) -> str:
        path = os.path.join(outdir, self.filename)
        nbformat.write(self.notebook(), path)
        return path
