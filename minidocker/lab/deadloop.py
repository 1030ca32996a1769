"""The seed's deadloop demo (section 1.6.2), one step at a time, on v1 or v2.

Map of this file:
  build()            gcc data/deadloop.c -> a cached binary (None without gcc)
  command()          the binary, or a Python busy loop when there is no compiler
  start()            run it on the host (outside any container): a Popen
  DeadloopDemo       the seed's flow as methods a notebook calls one per cell:
    .start()           ./deadloop &                          -> its PID
    .make_cgroup()     mkdir /sys/fs/cgroup/cpu/haoel        -> the files the kernel made
    .read_quota()      cat cpu.cfs_quota_us  (v2: cpu.max)   -> "-1" (v2: "max 100000")
    .write_quota(20)   echo 20000 > cpu.cfs_quota_us  (v2: echo "20000 100000" > cpu.max)
    .add_pid()         echo PID >> tasks  (v2: cgroup.procs)
    .watch(3)          CPU % by psutil and by the cgroup's own counter -> ~20
    .cleanup()         kill deadloop, rmdir the cgroup
  Each step returns a DemoStep: the shell line, the file, what was read or written.

The cgroup here is made by hand, not by the Manager, on purpose: the
lesson is that a cgroup is a directory and a limit is one `echo`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from .. import params
from ..errors import KernelError
from ..kernel.cgroups import base, detect, version

SOURCE = os.path.join(os.path.dirname(__file__), "data", "deadloop.c")
PY_LOOP = "while True: pass"   # the fallback: same effect, one CPU at 100%


def build(cc: str | None = None) -> str | None:
    """Compile deadloop.c once into a cache in /tmp; the binary's path, or None.

    Shell: gcc -O0 -o deadloop deadloop.c
    """
    cc = cc or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        return None
    with open(SOURCE, "rb") as f:
        tag = hashlib.sha256(f.read()).hexdigest()[:12]
    out = os.path.join(tempfile.gettempdir(), f"minidocker-deadloop-{tag}")
    if os.access(out, os.X_OK):
        return out
    tmp = f"{out}.{os.getpid()}"
    r = subprocess.run([cc, "-O0", "-o", tmp, SOURCE], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    os.rename(tmp, out)   # atomic: two builders at once both end with a whole binary
    return out


def command() -> list[str]:
    """argv that burns one CPU: the compiled deadloop, or `python -c 'while True: pass'`."""
    binary = build()
    return [binary] if binary else [sys.executable, "-c", PY_LOOP]


def start() -> subprocess.Popen:
    """Start a deadloop on the host. Shell: ./deadloop &"""
    return subprocess.Popen(command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """Kill it and reap it (no zombie left). Shell: kill -9 PID"""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


@dataclass
class DemoStep:
    """One step of the demo: what a student would type, and what the kernel answered."""

    title: str
    shell: str
    path: str = ""
    value: Any = None
    note: str = ""

    def __str__(self) -> str:
        out = f"# {self.title}\n$ {self.shell}"
        if self.value not in (None, ""):
            out += f"\n{self.value}"
        if self.note:
            out += f"\n# {self.note}"
        return out


class DeadloopDemo:
    """The seed's flow against the real kernel; `name` is the hand-made cgroup ("haoel")."""

    def __init__(self, name: str = "haoel", outweigh: bool = False):
        self.name = name
        self.outweigh = outweigh     # raise the cgroup's CPU weight: a busy VM cannot push it below quota
        self.version = version()
        self.proc: subprocess.Popen | None = None
        if self.version == 1:
            mounts = detect.v1_mounts()
            self.cpu_dir = os.path.join(mounts["cpu"], name)
            # cpuacct.usage: in the same directory on CentOS 7 ("cpu,cpuacct"),
            # in its own hierarchy on hosts that mount cpuacct separately.
            acct = mounts.get("cpuacct", mounts["cpu"])
            self.acct_dir = os.path.join(acct, name)
            self.quota_file = os.path.join(self.cpu_dir, "cpu.cfs_quota_us")
            self.join_file = "tasks"
        else:
            self.cpu_dir = self.acct_dir = os.path.join(params.CGROUP_ROOT, name)
            self.quota_file = os.path.join(self.cpu_dir, "cpu.max")
            self.join_file = "cgroup.procs"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "call start() first"
        return self.proc.pid

    def start(self) -> DemoStep:
        self.proc = start()
        how = "compiled with gcc" if self.proc.args[0] != sys.executable else "Python busy loop (no gcc)"
        return DemoStep("start the CPU burner on the host", f"{' '.join(self.proc.args[:1])} &",
                        value=f"PID {self.proc.pid}", note=how)

    def make_cgroup(self) -> DemoStep:
        """mkdir the cgroup; on v2 first let children of the root use the cpu controller."""
        note = ""
        if self.version == 2:
            ctl = os.path.join(params.CGROUP_ROOT, "cgroup.subtree_control")
            if "cpu" not in base.read(ctl).split():
                base.write(ctl, "+cpu")
                note = f"v2: first `echo +cpu > {ctl}` so child cgroups get cpu.max. "
        base.make_dir(self.cpu_dir)
        if self.acct_dir != self.cpu_dir:
            base.make_dir(self.acct_dir)
            note += f"cpuacct is its own hierarchy here, so also mkdir {self.acct_dir} for the usage counter"
        if self.outweigh:   # not in the seed: keeps a shared, busy machine from skewing the numbers
            wfile, wval = ("cpu.shares", 262144) if self.version == 1 else ("cpu.weight", 10000)
            base.write(os.path.join(self.cpu_dir, wfile), wval)
            note += f" Raised {wfile} to {wval} so other load cannot hold it below the quota."
        files = sorted(os.listdir(self.cpu_dir))
        return DemoStep("create a cgroup by hand: it is just a directory", f"mkdir {self.cpu_dir}",
                        self.cpu_dir, "  ".join(files), note.strip())

    def read_quota(self) -> DemoStep:
        v = base.read(self.quota_file)
        note = "-1 = no limit" if self.version == 1 else "'max 100000' = no limit, period 100 ms"
        return DemoStep("read the quota", f"cat {self.quota_file}", self.quota_file, v, note)

    def write_quota(self, percent: float | None = 20) -> DemoStep:
        """percent of one CPU per 100 ms period; None removes the limit."""
        period = 100000
        if self.version == 1:
            value = -1 if percent is None else round(period * percent / 100)
        else:
            value = f"max {period}" if percent is None else f"{round(period * percent / 100)} {period}"
        base.write(self.quota_file, value)
        shown = f'"{value}"' if " " in str(value) else value
        return DemoStep(f"limit to {percent}% of one CPU" if percent else "remove the limit",
                        f"echo {shown} > {self.quota_file}", self.quota_file, base.read(self.quota_file))

    def add_pid(self) -> DemoStep:
        """Move the deadloop in. v1: tasks (the seed's file; threads), v2: cgroup.procs."""
        for d in dict.fromkeys([self.cpu_dir, self.acct_dir]):
            base.write(os.path.join(d, self.join_file), self.pid)
        path = os.path.join(self.cpu_dir, self.join_file)
        return DemoStep("put the deadloop into the cgroup", f"echo {self.pid} >> {path}", path,
                        base.read(path))

    def usage_ns(self) -> int:
        """The cgroup's own CPU counter. v1: cpuacct.usage, v2: cpu.stat usage_usec."""
        if self.version == 1:
            return int(base.read(os.path.join(self.acct_dir, "cpuacct.usage")))
        return base.read_kv(os.path.join(self.cpu_dir, "cpu.stat"))["usage_usec"] * 1000

    def watch(self, seconds: float = 3.0) -> DemoStep:
        """CPU % over `seconds`: psutil (what top shows) and the cgroup's counter."""
        try:
            import psutil
            p = psutil.Process(self.pid)
        except ImportError:          # a bare guest without psutil: the cgroup's counter alone
            p = None
        inside = os.path.isdir(self.acct_dir) and str(self.pid) in base.read(
            os.path.join(self.acct_dir, "cgroup.procs")).split()
        if p:
            p.cpu_percent(None)
        u0, t0 = (self.usage_ns() if inside else 0), time.monotonic()
        time.sleep(seconds)
        u1, t1 = (self.usage_ns() if inside else 0), time.monotonic()
        top = p.cpu_percent(None) if p else float("nan")
        if not inside:   # before add_pid(): only what top sees
            return DemoStep(f"watch it for {seconds:g} s", f"top -p {self.pid}", value=round(top, 1),
                            note=f"psutil (top) says {top:.1f}% (not in the cgroup yet)")
        share = 100.0 * (u1 - u0) / ((t1 - t0) * 1e9)
        return DemoStep(f"watch it for {seconds:g} s", f"top -p {self.pid}", value=round(share, 1),
                        note=f"psutil (top) says {top:.1f}%, the cgroup's counter {share:.1f}%")

    def cleanup(self) -> DemoStep:
        """Kill the deadloop and rmdir the cgroup(s). Shell: kill -9 PID; rmdir DIR"""
        if self.proc is not None:
            stop(self.proc)
        for d in dict.fromkeys([self.cpu_dir, self.acct_dir]):
            base.remove_dir(d)
        return DemoStep("clean up", f"kill -9 {self.proc.pid if self.proc else ''}; rmdir {self.cpu_dir}")

    def run_all(self, percent: float = 20, seconds: float = 3.0) -> list[DemoStep]:
        """The whole flow; always cleans up."""
        steps = []
        try:
            steps.append(self.start())
            steps.append(self.make_cgroup())
            steps.append(self.read_quota())
            steps.append(self.write_quota(percent))
            steps.append(self.add_pid())
            steps.append(self.watch(seconds))
        finally:
            try:
                steps.append(self.cleanup())
            except KernelError:
                pass
        return steps

    def __enter__(self) -> "DeadloopDemo":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc)
        for d in dict.fromkeys([self.cpu_dir, self.acct_dir]):
            if os.path.isdir(d):
                base.remove_dir(d)
