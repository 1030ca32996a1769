"""Test and bench helper: Debian's real docker engine (docker.io), started privately.

    with PrivateDockerd(base_dir) as env:          # env: os.environ + DOCKER_HOST
        subprocess.run(["docker", "info"], env=env)

or, where the engine must outlive a `with` block (a pytest fixture, a bench
that records its rows later): env = engine.start() ... engine.stop().

dockerd runs on its own socket, data root, exec root and pid file under
`base_dir`, with no iptables rules and no bridge (--iptables=false
--ip6tables=false --bridge=none): it changes nothing of the host's network.
It starts its own containerd (under exec root). Leaving, it stops dockerd,
unmounts whatever is left under the data root, removes `base_dir`'s files and
the cgroup parents dockerd made that were not there before (it creates
/sys/fs/cgroup/<controller>/docker in every v1 hierarchy and leaves them, empty,
when it exits; a test must leave no cgroup behind).

Raises Unavailable when there is no docker engine or it does not start (the
caller skips, or reports "not measured" with the reason).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time

from tests.helpers import remove_new_cgroups

CGROUP_PARENT = "docker"       # dockerd's default --cgroup-parent (cgroupfs driver)


class Unavailable(Exception):
    """No docker engine here, or it would not start; the message says which."""


def _cgroup_parents() -> set[str]:
    return set(glob.glob(f"/sys/fs/cgroup/*/{CGROUP_PARENT}"))


class PrivateDockerd:
    def __init__(self, base: str, start_timeout: float = 20.0):
        self.base = str(base)
        self.sock = f"unix://{self.base}/docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": self.sock}
        self.start_timeout = start_timeout
        self.proc = None
        self._log = None
        self._cgroups_before: set[str] = set()

    def __enter__(self) -> dict:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> dict:
        """Start dockerd and wait until `docker info` answers; returns the env for `docker`."""
        if not (shutil.which("dockerd") and shutil.which("docker")):
            raise Unavailable("no docker engine here (apt-get install docker.io)")
        os.makedirs(self.base, exist_ok=True)
        self._cgroups_before = _cgroup_parents()
        self._log = open(os.path.join(self.base, "log"), "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
             "--data-root", f"{self.base}/data", "--exec-root", f"{self.base}/exec",
             "--pidfile", f"{self.base}/docker.pid", "-H", self.sock],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if subprocess.run(["docker", "info"], env=self.env, capture_output=True).returncode == 0:
                return self.env
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        why = open(os.path.join(self.base, "log")).read()[-500:]
        self.stop()
        raise Unavailable(f"dockerd did not start: {why}")

    def stop(self) -> None:
        """Remove every container, stop dockerd, and leave nothing of it (safe to call twice)."""
        if self.proc is not None:
            ids = subprocess.run(["docker", "ps", "-aq"], env=self.env, capture_output=True,
                                 text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], env=self.env, capture_output=True)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        subprocess.run(["umount", "-R", "-l", f"{self.base}/data"], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        remove_new_cgroups(self._cgroups_before, f"/sys/fs/cgroup/*/{CGROUP_PARENT}")
