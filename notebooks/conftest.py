"""pytest --nbval notebooks: give the lessons a state of their own, and clean it up.

Students run the lessons with minidocker's defaults (/var/lib/minidocker,
bridge mdk0). Under pytest every name the lessons could share with another
run is moved, unless the caller already set it:
  MINIDOCKER_ROOT           /tmp/mdk-nb-XXXX   (state; nbval_sanitize.cfg maps it back)
  MINIDOCKER_CGROUP_PARENT  minidocker-nb-PID
  MINIDOCKER_BRIDGE/SUBNET/CHAIN  mdnbN / 10.206.N.0/24 / MDNBN
  MINIDOCKER_OFFLINE=1      cells that would pull from Docker Hub print "skipped"
The notebook kernel inherits this environment. At the end: `system prune`,
then this root's bridge and iptables chains, the state root and the
cgroup parent are removed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

_N = os.getpid() % 200 + 20
_DEFAULTS = {
    "MINIDOCKER_CGROUP_PARENT": f"minidocker-nb-{os.getpid()}",
    "MINIDOCKER_BRIDGE": f"mdnb{_N}",
    "MINIDOCKER_SUBNET": f"10.206.{_N}.0/24",
    "MINIDOCKER_CHAIN": f"MDNB{_N}",
    "MINIDOCKER_OFFLINE": "1",
}
_made_root = None
if not os.environ.get("MINIDOCKER_ROOT"):
    _made_root = tempfile.mkdtemp(prefix="mdk-nb-", dir="/tmp")
    os.environ["MINIDOCKER_ROOT"] = _made_root
for _k, _v in _DEFAULTS.items():
    os.environ.setdefault(_k, _v)
# the kernel must find `minidocker` and the venv's tools, as in JupyterLab
os.environ["PATH"] = os.path.dirname(sys.executable) + ":" + os.environ.get("PATH", "/usr/bin:/bin")


def pytest_sessionfinish(session, exitstatus):
    subprocess.run([sys.executable, "-m", "minidocker", "system", "prune", "-f"], capture_output=True)
    # our bridge, its rules and chains (only this state root's: see runtime/networks.teardown)
    subprocess.run([sys.executable, "-c", "from minidocker.runtime import networks; networks.teardown()"],
                   capture_output=True)
    parent = os.environ.get("MINIDOCKER_CGROUP_PARENT", "")
    if parent.startswith("minidocker-nb-"):
        base = "/sys/fs/cgroup"
        for d in [os.path.join(base, parent)] + [os.path.join(base, h, parent) for h in os.listdir(base)]:
            if os.path.isdir(d):
                for sub, dirs, _ in sorted(os.walk(d), reverse=True):
                    try:
                        os.rmdir(sub)
                    except OSError:
                        pass
    if _made_root:
        shutil.rmtree(_made_root, ignore_errors=True)
