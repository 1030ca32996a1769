"""Write the `minidocker` command as a launcher that starts Python with -I -S.

    python -m minidocker.launcher PATH      (the Makefile runs this after pip install)

pip's console script for `minidocker` starts a plain `python`, whose first
act is `import site`: reading every .pth file in site-packages and running the
imports some of them contain (setuptools' distutils hack, coverage's hook, the
editable-install path). On the course VM that is ~4 ms, about a tenth of
`minidocker run --rm busybox true`. This launcher starts Python with
  -I   isolated: no PYTHON* variables, no user site, not the current directory
  -S   no `site` at start-up
and puts the two directories minidocker needs on sys.path itself: where the
`minidocker` package is, and site-packages (for psutil). The
other .pth files are not run; nothing in the runtime needs them. `python -m
minidocker` keeps working the ordinary way.
"""
from __future__ import annotations

import os
import sys
import sysconfig

TEMPLATE = """#!{python} -IS
# The `minidocker` command, written by `python -m minidocker.launcher`: Python
# started with -I -S and sys.path set by hand (~4 ms faster; see that module).
import sys
sys.path[:0] = {paths!r}
from minidocker.cli import entry
entry()
"""


def launcher_paths() -> list[str]:
    """What the launcher puts on sys.path: the package's parent, then site-packages."""
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    for key in ("purelib", "platlib"):
        p = sysconfig.get_paths()[key]
        if p not in paths:
            paths.append(p)
    return paths


def launcher_text(python: str | None = None) -> str:
    return TEMPLATE.format(python=python or sys.executable, paths=launcher_paths())


def write(path: str, python: str | None = None) -> None:
    """Write the launcher to `path` (atomically, mode 0755)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(launcher_text(python))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m minidocker.launcher PATH\n")
        return 2
    write(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
