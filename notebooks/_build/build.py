"""Write the lesson notebooks (without outputs) and nbval_sanitize.cfg; optionally run them.

    .venv/bin/python notebooks/_build/build.py              # every lesson
    .venv/bin/python notebooks/_build/build.py 06 07        # just these
    .venv/bin/python notebooks/_build/build.py --execute 06 # and execute in place (as root)

--execute runs each notebook with `jupyter nbconvert --execute --inplace` in a fresh
state root with its own cgroup parent, bridge, subnet and chain (as notebooks/conftest.py
gives nbval), offline, then removes that state: the stored outputs are what a test sees.
"""
from __future__ import annotations

import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(OUT))   # the repository, for minidocker.lab.render

MODULES = ["l00_welcome", "l01_architecture", "l02_images", "l03_dockerfile", "l04_operations",
           "l05_pid1", "l06_namespaces", "l07_cgroups", "l08_unionfs", "l09_network", "l10_capstone"]


def lessons(only: list[str] | None = None):
    for m in MODULES:
        if only and not any(m.startswith("l" + o) for o in only):
            continue
        if not os.path.exists(os.path.join(HERE, m + ".py")):
            continue
        yield importlib.import_module(m).lesson()


def execute(path: str) -> int:
    """Run one notebook in place in a throw-away state root; returns the exit code."""
    import shutil
    import subprocess
    import tempfile
    import time
    root = tempfile.mkdtemp(prefix="mdk-nb-", dir="/tmp")
    n = os.getpid() % 200 + 20
    env = dict(os.environ, MINIDOCKER_ROOT=root, MINIDOCKER_CGROUP_PARENT=f"minidocker-nb-{os.getpid()}",
               MINIDOCKER_BRIDGE=f"mdnb{n}", MINIDOCKER_SUBNET=f"10.206.{n}.0/24", MINIDOCKER_CHAIN=f"MDNB{n}",
               MINIDOCKER_OFFLINE="1")
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + ":" + env.get("PATH", "/usr/bin:/bin")
    t0 = time.monotonic()
    try:
        rc = subprocess.run([os.path.join(bindir, "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                             "--inplace", path], env=env, capture_output=True, text=True)
        if rc.returncode:
            print(rc.stderr[-3000:])
        return rc.returncode
    finally:
        print(f"executed {os.path.basename(path)} in {time.monotonic() - t0:.0f} s")
        py = [sys.executable, "-c"]
        subprocess.run([sys.executable, "-m", "minidocker", "system", "prune", "-f"], env=env, capture_output=True)
        subprocess.run(py + ["from minidocker.runtime import networks; networks.teardown()"], env=env,
                       capture_output=True)
        for d in [os.path.join("/sys/fs/cgroup", h, env["MINIDOCKER_CGROUP_PARENT"])
                  for h in os.listdir("/sys/fs/cgroup")]:
            for sub, _, _ in sorted(os.walk(d), reverse=True):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    from minidocker.lab.render import nbval_cfg
    run = "--execute" in argv
    argv = [a for a in argv if a != "--execute"]
    with open(os.path.join(OUT, "nbval_sanitize.cfg"), "w") as f:
        f.write(nbval_cfg())
    rc = 0
    for L in lessons(argv):
        path = L.save(OUT)
        print("wrote", path)
        if run:
            rc = execute(path) or rc
    return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
