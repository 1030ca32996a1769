"""minidocker's benchmarks, side by side with real tools, in one run.

    python -m bench.run [--rounds N] [--only start,exec,...] [--out bench/results]

Writes bench/results/latest.md (tables with median/min/max/ratio) and
bench/results/latest.png. Every number is measured here, now, on this machine;
the header records cores, kernel and cgroup mode. Peers that are missing or
refuse to run are listed as "not run" with the reason, never silently dropped.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench.harness import Contender, measure, sh, table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MD = [sys.executable, "-m", "minidocker"]


def machine() -> str:
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1 (hybrid)" \
        if os.path.isdir("/sys/fs/cgroup/unified") else "v1"
    return (f"{os.cpu_count()} cores, kernel {platform.release()}, cgroup {cg}, "
            f"Python {platform.python_version()}, load average at start {os.getloadavg()[0]:.2f}")


def bundle_for(tmp: str, args: list[str]) -> str:
    d = os.path.join(tmp, "bundle")
    if not os.path.exists(d):
        sh(MD + ["bundle", "create", "busybox", d])
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        doc = json.load(f)
    doc["process"]["args"] = args
    with open(cfg_path, "w") as f:
        json.dump(doc, f)
    return d


# --- start + exit --------------------------------------------------------------

def bench_start(tmp: str, rounds: int) -> str:
    b = bundle_for(tmp, ["true"])
    n = {"i": 0}

    def uniq() -> str:
        n["i"] += 1
        return f"mdkbench{os.getpid()}-{n['i']}"

    crun_cmd = ("unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; "
                f"crun run -b {b} {{}}'")
    cs = [
        Contender("unshare (floor)", lambda: sh(["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc",
                                                 "--net", "true"])),
        Contender("runc run (bundle)", lambda: sh(["runc", "run", "-b", b, uniq()])),
        Contender("crun run (bundle)", lambda: sh(crun_cmd.format(uniq()))),
        Contender("minidocker bundle run", lambda: sh(MD + ["bundle", "run", "--rm", b])),
        Contender("minidocker run --rm busybox true",
                  lambda: sh(MD + ["run", "--rm", "--network", "none", "busybox", "true"])),
    ]
    if shutil.which("podman"):
        cs.append(Contender("podman run --rm", lambda: sh(
            "ulimit -n 1024; podman run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "
            "mdkbench-busybox true"), setup=lambda: _podman_image(b)))
    else:
        cs.append(Contender("podman run --rm", lambda: None, setup=lambda: (_ for _ in ()).throw(
            RuntimeError("podman not installed (apt-get install podman)"))))
    measure(cs, rounds)
    return table("Container start + exit", cs, baseline="runc run (bundle)")


def _podman_image(bundle: str) -> None:
    sh(f"tar -C {bundle}/rootfs -c . | podman import - mdkbench-busybox")


# --- exec ------------------------------------------------------------------------

def bench_exec(tmp: str, rounds: int) -> str:
    name = f"mdkbench-exec-{os.getpid()}"
    b = bundle_for(tmp, ["sleep", "1000"])
    rid = f"mdkbench-exec-runc-{os.getpid()}"
    state = {}

    def setup_md():
        sh(MD + ["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "1000"])
        state["pid"] = subprocess.check_output(MD + ["inspect", "-f", "{{.State.Pid}}", name], text=True).strip()

    def setup_runc():
        sh(["runc", "run", "-d", "-b", b, rid], detached=True)

    cs = [
        Contender("nsenter (floor)", lambda: sh(["nsenter", "-t", state["pid"], "-m", "-u", "-i", "-n", "-p", "true"])),
        Contender("runc exec", lambda: sh(["runc", "exec", rid, "true"]), setup=setup_runc,
                  teardown=lambda: sh(["runc", "delete", "-f", rid])),
        Contender("minidocker exec", lambda: sh(MD + ["exec", name, "true"]), setup=setup_md,
                  teardown=lambda: sh(MD + ["rm", "-f", name])),
    ]
    # nsenter needs the minidocker container's pid: run its setup first
    cs = [cs[2], cs[1], cs[0]]
    measure(cs, rounds)
    return table("Exec into a running container", cs, baseline="runc exec")


# --- overlay mount depth ------------------------------------------------------------

def bench_overlay(tmp: str, rounds: int) -> str:
    """Mount time of an overlay of 1, 20 and 120 layers (in a private mount namespace)."""
    code = ("import sys,os; from minidocker.kernel import overlay, namespaces, mounts;"
            "namespaces.unshare(['mnt']); mounts.make_private('/');"
            "d=sys.argv[1]; n=int(sys.argv[2]);"
            "low=[os.path.join(d,'l%d'%i) for i in range(n)];"
            "import time; t=time.perf_counter();"
            "overlay.mount_overlay(low, d+'/u', d+'/w', d+'/m');"
            "print(time.perf_counter()-t)")
    out = ["### Overlay mount of N layers", "", "| layers | median (ms) | min | max | n |", "|---:|---:|---:|---:|---:|"]
    for n in (1, 20, 120):
        d = os.path.join(tmp, f"ov{n}")
        for i in range(n):
            os.makedirs(os.path.join(d, f"l{i}"), exist_ok=True)
            with open(os.path.join(d, f"l{i}", f"f{i}"), "w") as f:
                f.write(str(i))
        samples = []
        for r in range(rounds):
            for sub in ("u", "w", "m"):
                shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
                os.makedirs(os.path.join(d, sub))
            p = subprocess.run([sys.executable, "-c", code, d, str(n)], capture_output=True, text=True, cwd=REPO)
            if p.returncode != 0:
                out.append(f"| {n} | failed: {p.stderr.strip().splitlines()[-1][:200]} | | | |")
                break
            samples.append(float(p.stdout))
        if samples:
            out.append(f"| {n} | {statistics.median(samples)*1000:.2f} | {min(samples)*1000:.2f} | "
                       f"{max(samples)*1000:.2f} | {len(samples)} |")
    return "\n".join(out) + "\n"


# --- resident memory per detached container ----------------------------------------

def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_memory(tmp: str, rounds: int) -> str:
    name = f"mdkbench-mem-{os.getpid()}"
    sh(MD + ["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "1000"])
    try:
        root = os.environ.get("MINIDOCKER_ROOT")
        lib = os.path.join(root, "lib") if root else "/var/lib/minidocker"
        cid = subprocess.check_output(MD + ["inspect", "-f", "{{.Id}}", name], text=True).strip()
        with open(os.path.join(lib, "containers", cid, "state.json")) as f:
            mon = json.load(f)["MonitorPid"]
        rss, pss = _rss_kb(mon), _pss_kb(mon)
    finally:
        sh(MD + ["rm", "-f", name])
    lines = ["### Resident memory of the per-container monitor (shim)", "",
             "| process | RSS (MB) | PSS (MB) |", "|---|---:|---:|",
             f"| minidocker monitor | {rss/1024:.1f} | {pss/1024:.1f} |"]
    for proc in ("conmon", "containerd-shim-runc-v2"):
        pids = subprocess.run(["pgrep", "-x", proc], capture_output=True, text=True).stdout.split()
        if pids:
            lines.append(f"| {proc} | {_rss_kb(int(pids[0]))/1024:.1f} | {_pss_kb(int(pids[0]))/1024:.1f} |")
        else:
            lines.append(f"| {proc} | not running here | |")
    return "\n".join(lines) + "\n"


# --- python start-up ------------------------------------------------------------------

def bench_import(tmp: str, rounds: int) -> str:
    cs = [Contender("python -c pass", lambda: sh([sys.executable, "-c", "pass"])),
          Contender("import minidocker.cli", lambda: sh([sys.executable, "-c", "import minidocker.cli"])),
          Contender("minidocker --version", lambda: sh(MD + ["--version"]))]
    measure(cs, rounds)
    return table("Python start-up (lazy imports keep `run` light)", cs, baseline="python -c pass")


BENCHES = {"start": bench_start, "exec": bench_exec, "overlay": bench_overlay, "memory": bench_memory,
           "import": bench_import}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--only", default=",".join(BENCHES))
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="mdkbench-")
    os.environ.setdefault("MINIDOCKER_ROOT", os.path.join(tmp, "root"))
    sh(MD + ["run", "--rm", "--network", "none", "busybox", "true"])   # builds the base image once
    parts = [f"# minidocker benchmarks\n\n{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}; "
             f"{a.rounds} interleaved rounds per comparison.\n\nReproduce: `sudo make bench` "
             f"(or `.venv/bin/python -m bench.run --rounds {a.rounds}`).\n"]
    try:
        for name in a.only.split(","):
            t0 = time.monotonic()
            parts.append(BENCHES[name](tmp, a.rounds))
            print(f"bench {name}: {time.monotonic() - t0:.1f}s", file=sys.stderr)
    finally:
        subprocess.run(MD + ["system", "prune", "-f"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(a.out, exist_ok=True)
    text = "\n".join(parts)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
