"""Helpers for tests: run the CLI as a student would."""
from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINIDOCKER = [sys.executable, "-m", "minidocker"]


def md(*args, input=None, timeout=60, check=False, env=None):
    """Run `minidocker ARGS...`; returns CompletedProcess with text stdout/stderr."""
    e = os.environ.copy()
    if env:
        e.update(env)
    p = subprocess.run(MINIDOCKER + [str(a) for a in args], capture_output=True, text=True, input=input,
                       timeout=timeout, env=e, cwd=REPO)
    if check and p.returncode != 0:
        raise AssertionError(f"minidocker {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p
