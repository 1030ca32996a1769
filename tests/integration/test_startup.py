"""`minidocker run` stays light: what it imports, and that it still works (issue 11).

The start-up budget is measured in bench/ (python -m bench.run --only start,import);
here we pin what must *not* be imported on the way, so a stray top-level
import cannot silently bring the cost back.
"""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from minidocker.launcher import launcher_paths
from tests.helpers import REPO, md

pytestmark = pytest.mark.usefixtures("root_only", "host_clean", "md_root")

#: modules `run --network none` must never import: the heavy or unrelated ones, and the
#: standard library's costly foundations (re, enum, functools, ...: docs/performance.md)
FORBIDDEN = ["matplotlib", "pyroute2", "minidocker.kernel.netlink", "minidocker.kernel.iptables",
             "minidocker.image.registry", "minidocker.image.transfer", "minidocker.image.tarsafe",
             "minidocker.lab", "dataclasses", "typing", "inspect", "tarfile", "hashlib", "socket",
             "subprocess", "tempfile", "datetime", "random", "ipaddress",
             "argparse", "re", "enum", "json", "signal", "contextlib", "functools", "collections",
             "gettext", "locale", "warnings", "importlib", "selectors", "shutil"]


def _modules_after(argv: list[str]) -> tuple[int, set[str]]:
    """Run main(argv) as the `minidocker` launcher does (python -I -S) and list sys.modules."""
    code = ("import sys\nsys.path[:0] = %r\nfrom minidocker.cli import main\nrc = main(%r)\n"
            "sys.stdout.write('\\n' + repr(sorted(sys.modules)))\nsys.exit(rc)" % (launcher_paths(), argv))
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.returncode, set(ast.literal_eval(p.stdout.strip().splitlines()[-1]))


def test_run_imports_nothing_heavy():
    md("run", "--rm", "--network", "none", "busybox", "true", check=True)   # base image built once
    rc, mods = _modules_after(["run", "--rm", "--network", "none", "busybox", "true"])
    assert rc == 0
    assert not [m for m in FORBIDDEN if m in mods or any(x.startswith(m + ".") for x in mods)], \
        sorted(m for m in FORBIDDEN if m in mods)


def test_exec_imports_nothing_heavy():
    md("run", "-d", "--name", "startup-exec", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        rc, mods = _modules_after(["exec", "startup-exec", "true"])
        assert rc == 0
        assert not [m for m in FORBIDDEN if m in mods], sorted(m for m in FORBIDDEN if m in mods)
    finally:
        md("rm", "-f", "startup-exec")


def test_bundle_run_imports_nothing_heavy(tmp_path):
    """`bundle run` is what the start benchmark times against `runc run` on the same bundle."""
    bundle = str(tmp_path / "bundle")
    md("bundle", "create", "busybox", bundle, "true", check=True)
    rc, mods = _modules_after(["bundle", "run", "--rm", bundle])
    assert rc == 0
    assert not [m for m in FORBIDDEN if m in mods], sorted(m for m in FORBIDDEN if m in mods)
