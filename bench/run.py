"""minidocker's benchmarks, side by side with real tools, in one run.

    python -m bench.run [--rounds N] [--only start,exec,...] [--out bench/results]

Writes into --out (default bench/results):
  latest.md    tables with median / min / max / ratio, and under each table that has
               a target the verdict "Target: ... — met / MISSED (ratio x.xx)", computed
  latest.json  every contender's samples, the machine line and the date
  latest.png   one figure: per comparison, bars of medians with min–max whiskers,
               the ratio at each bar, the target as a dashed line (bench/plot.py)
Every number is measured here, now, on this machine; the header records cores,
kernel and cgroup mode. Peers that are missing or refuse to run are listed as
"not run" with the reason, never silently dropped. Where the time goes inside
minidocker: `python -m bench.profile` (bench/profile.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import harness
from bench.harness import Contender, Target, measure, record, sh, table, verdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the `minidocker` command as a user types it (the Makefile's -I -S launcher), else python -m
_LAUNCHER = os.path.join(os.path.dirname(sys.executable), "minidocker")
MD = [_LAUNCHER] if os.access(_LAUNCHER, os.X_OK) else [sys.executable, "-m", "minidocker"]


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
        # not in the ratio: what docker's default (a veth on a bridge) adds, on a bridge of our own
        Contender("minidocker run --rm, bridge network", lambda: sh(MD + ["run", "--rm", "busybox", "true"],
                                                                  env=_bridge_env()),
                  teardown=_bridge_teardown),
    ]
    if shutil.which("podman"):
        # podman's default runtime here is crun, which refuses this hybrid cgroup layout: use runc
        cs.append(Contender("podman run --rm (runc)", lambda: sh(
            "ulimit -n 1024; podman run --rm --runtime runc --network none --ulimit nofile=1024:1024 "
            "--ulimit nproc=1024:1024 mdkbench-busybox true"), setup=lambda: _podman_image(b),
            teardown=lambda: sh(["podman", "rmi", "-f", "mdkbench-busybox"])))
    else:
        cs.append(Contender("podman run --rm", lambda: None, setup=lambda: (_ for _ in ()).throw(
            RuntimeError("podman not installed (apt-get install podman)"))))
    measure(cs, rounds)
    return table("Container start + exit", cs, baseline="runc run (bundle)")


def _bridge_env() -> dict[str, str]:
    """The bench's state root (set in main) plus a bridge, subnet and chains of its own,
    so a real minidocker's mdk0 is never touched."""
    return {**os.environ, "MINIDOCKER_BRIDGE": "mdkbench0", "MINIDOCKER_SUBNET": "10.231.7.0/24",
            "MINIDOCKER_CHAIN": "MDKBENCH"}


def _bridge_teardown() -> None:
    """Remove the bench's bridge, its rules and chains (networks.teardown, same environment)."""
    sh([sys.executable, "-c", "from minidocker.runtime import networks; networks.teardown()"],
       env=_bridge_env(), cwd=REPO)


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


# --- joining a cgroup: cgroup.procs vs tasks ---------------------------------------------

def bench_cgroup_join(tmp: str, rounds: int) -> str:
    """A fresh process moving itself into a v1 cgroup, the two ways the kernel offers.

    `echo PID > cgroup.procs` moves a thread group and takes the global
    cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period;
    `echo 0 > tasks` moves only the calling thread and skips that lock. Each
    round waits 0.2 s first, so the kernel's rcu_sync is idle again (as it is
    between two `docker run`s); the join is timed inside the child.
    """
    from minidocker.kernel.cgroups import detect
    if detect.version() != 1:
        return "### Joining a cgroup\n\nnot run: this machine has cgroup v2 (only v1 has `tasks`)\n"
    mounts = detect.v1_mounts()
    hier = [h for h in ("cpu", "memory", "pids") if h in mounts]
    dirs = [os.path.join(mounts[h], f"mdkbench-join-{os.getpid()}") for h in hier]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    code = ("import os,sys,time\nt=time.perf_counter()\nfor d in sys.argv[2:]:\n"
            " f=os.open(os.path.join(d, 'tasks' if sys.argv[1]=='tasks' else 'cgroup.procs'), os.O_WRONLY)\n"
            " os.write(f, b'0' if sys.argv[1]=='tasks' else str(os.getpid()).encode()); os.close(f)\n"
            "print((time.perf_counter()-t)*1000)")
    samples = {"procs": [], "tasks": []}
    try:
        for _ in range(rounds):
            for how in ("procs", "tasks"):
                time.sleep(0.2)
                out = subprocess.run([sys.executable, "-S", "-c", code, how, *dirs], capture_output=True,
                                     text=True, check=True).stdout
                samples[how].append(float(out))
    finally:
        for d in dirs:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)
    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = [f"| `echo $PID > cgroup.procs` (runc, docker) | {med['procs']:.2f} | {min(samples['procs']):.2f} | "
            f"{max(samples['procs']):.2f} | {len(samples['procs'])} | 1.00 |",
            f"| `echo 0 > tasks` (minidocker's stage) | {med['tasks']:.2f} | {min(samples['tasks']):.2f} | "
            f"{max(samples['tasks']):.2f} | {len(samples['tasks'])} | {med['tasks'] / med['procs']:.2f} |"]
    return (f"### Joining a v1 cgroup in {len(dirs)} hierarchies (first write after an idle 0.2 s)\n\n"
            "| how | median (ms) | min | max | n | ratio |\n|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")


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
    cs = []
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
        cs.append(Contender(f"minidocker overlay, {n} layer{'s' if n > 1 else ''}", samples=samples))
    record("Overlay mount of N layers", cs, None, "ms", 1000.0)
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


def bench_memory(tmp: str, rounds: int, n: int = 8) -> str:
    """Marginal resident memory per running detached container: ours against conmon
    (podman) and containerd-shim-runc-v2 (docker, on a dockerd started for the bench).

    For each runtime, `n` detached `sleep 1000` containers run at once; per container
    we sum the runtime's own processes (the monitor / shim and any helper it keeps,
    not the container's processes) as RSS and PSS from /proc/PID/status and
    /proc/PID/smaps_rollup, and we take two machine-wide changes from /proc/meminfo,
    divided by n: "used" (MemTotal - MemAvailable) and "pinned" (anonymous pages,
    shmem, kernel stacks, page tables, unreclaimable slab). Three rounds, A B A B A B.
    """
    b = bundle_for(tmp, ["true"])
    mem_rounds = 3                      # not --rounds: each round starts 2 x n containers
    runtimes = [("minidocker", "monitor (python)", _md_detached)]
    if shutil.which("podman") and shutil.which("conmon"):
        runtimes.append(("podman --runtime runc", "conmon", _podman_detached))
    # docker's engine (Debian's docker.io), started privately for this bench: its
    # containerd keeps one containerd-shim-runc-v2 per container (tests/dockerd.py)
    from tests.dockerd import PrivateDockerd, Unavailable
    engine, docker_missing = PrivateDockerd(os.path.join(tmp, "dockerd")), ""
    try:
        denv = engine.start()
        sh(f"tar -C {b}/rootfs -c . | docker import - mdkbench-busybox", env=denv)
        runtimes.append(("docker (containerd)", "containerd-shim-runc-v2", _docker_detached(denv)))
    except (Unavailable, RuntimeError) as e:
        engine.stop()
        engine, docker_missing = None, str(e)[:200]
    got = {name: {"rss": [], "pss": [], "used": [], "pinned": [], "error": ""} for name, _, _ in runtimes}
    image_ok = False
    try:
        if any(name.startswith("podman") for name, _, _ in runtimes):
            try:
                _podman_image(b)
                image_ok = True
            except Exception as e:
                got["podman --runtime runc"]["error"] = str(e)[:200]
        for r in range(mem_rounds):
            for name, _, start in runtimes:
                if got[name]["error"]:
                    continue
                try:
                    m = _marginal(start, n, f"mdkbench-mem{os.getpid()}-{r}")
                except Exception as e:
                    got[name]["error"] = str(e)[:200]
                    continue
                for k in ("rss", "pss"):
                    got[name][k] += m[k]
                for k in ("used", "pinned"):
                    got[name][k].append(m[k])
    finally:
        if image_ok:
            subprocess.run(["podman", "rmi", "-f", "mdkbench-busybox"], capture_output=True)
        if engine is not None:
            engine.stop()

    def cell(xs: list[float]) -> str:
        return f"{statistics.median(xs):.1f} ({min(xs):.1f} – {max(xs):.1f})" if xs else "–"
    title = f"Resident memory per running detached container ({n} at once, {mem_rounds} rounds)"
    lines = [f"### {title}", "",
             "| runtime | kept per container | RSS (MB) | PSS (MB) | machine-wide pinned (MB) | "
             "machine-wide used (MB) |", "|---|---|---:|---:|---:|---:|"]
    cs = []
    for name, proc, _ in runtimes:
        g = got[name]
        if g["error"] and not g["rss"]:
            lines.append(f"| {name} | {proc} | not run: {g['error']} | | | |")
        else:
            lines.append(f"| {name} | {proc} | {cell(g['rss'])} | {cell(g['pss'])} | {cell(g['pinned'])} | "
                         f"{cell(g['used'])} |")
        short = "minidocker monitor" if name == "minidocker" else proc
        cs += [Contender(f"{short} RSS", samples=g["rss"], error=g["error"]),
               Contender(f"{short} PSS", samples=g["pss"], error=g["error"]),
               Contender(f"{name}: machine-wide pinned", samples=g["pinned"], error=g["error"]),
               Contender(f"{name}: machine-wide used", samples=g["used"], error=g["error"])]
    if not any(name.startswith("podman") for name, _, _ in runtimes):
        lines.append("| podman --runtime runc | conmon | not run: podman or conmon not installed | | | |")
    if docker_missing:
        lines.append(f"| docker (containerd) | containerd-shim-runc-v2 | not run: {docker_missing} | | | |")
    t_pss = Target("minidocker monitor PSS", 15.0, "resident overhead under 15 MB per container (monitor PSS)",
                   "value")
    t_pin = Target("minidocker: machine-wide pinned", 15.0,
                   "the same, read strictly (machine-wide pinned memory per container)", "value")
    record(title, cs, None, "MB", 1.0, t_pss)
    lines += ["", "Median (min – max): RSS and PSS over every container of every round, the machine-wide "
              "columns over the rounds. RSS counts shared pages (libpython, libc) in full in each process; "
              "PSS divides them among the processes sharing them: it is what the machine really pays per "
              "monitor. The machine-wide columns are /proc/meminfo with the containers running minus the "
              f"mean of before and after, divided by {n}, so they also count the container's own `sleep` and "
              "its kernel objects (namespaces, cgroups, overlay mount, page tables), and whatever else the "
              "machine did meanwhile. *pinned* = AnonPages + Shmem + KernelStack + PageTables + SUnreclaim, "
              "memory nobody can reclaim; *used* = MemTotal - MemAvailable, which also moves with the page "
              "cache: with other work on the machine writing files it swings by megabytes per container "
              "either way (negative values are that noise), so the verdict reads the pinned column.", "",
              verdict(t_pss, cs, None, 1.0, "MB")["line"], "", verdict(t_pin, cs, None, 1.0, "MB")["line"]]
    return "\n".join(lines) + "\n"


_PINNED = ("AnonPages", "Shmem", "KernelStack", "PageTables", "SUnreclaim")


def _meminfo_kb() -> dict[str, float]:
    """{"used": MemTotal - MemAvailable, "pinned": sum of _PINNED} from /proc/meminfo, in kB.

    Each the median of three readings 0.1 s apart, to damp other users' short spikes."""
    reads = []
    for i in range(3):
        if i:
            time.sleep(0.1)
        info = {}
        with open("/proc/meminfo") as f:
            for line in f:
                k, v = line.split(":", 1)
                info[k] = int(v.split()[0])
        reads.append({"used": info["MemTotal"] - info["MemAvailable"], "pinned": sum(info[k] for k in _PINNED)})
    return {k: statistics.median(r[k] for r in reads) for k in ("used", "pinned")}


def _descendants(pid: int) -> set[int]:
    """pid and every process below it (from the ppid field of /proc/*/stat)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += kids.get(p, [])
    return out


def _marginal(start, n: int, prefix: str) -> dict:
    """Start n containers with start(name) -> (monitor_pid, container_pid, remove); measure; remove them.

    Returns {"rss": [MB per container], "pss": [...], "used": MB per container, "pinned": MB per container}.
    """
    before = _meminfo_kb()
    started: list = []
    try:
        for i in range(n):
            started.append(start(f"{prefix}-{i}"))
        time.sleep(1.0)                 # let the monitors finish starting (lazy imports, first faults)
        during = _meminfo_kb()
        rss, pss = [], []
        for mon, ctr, _ in started:
            mine = _descendants(mon) - _descendants(ctr)     # the runtime's, not the container's
            rss.append(sum(_rss_kb(p) for p in mine) / 1024)
            pss.append(sum(_pss_kb(p) for p in mine) / 1024)
    finally:
        for _, _, remove in started:
            try:
                remove()
            except Exception:
                pass
    time.sleep(0.5)
    after = _meminfo_kb()
    per = {k: (during[k] - (before[k] + after[k]) / 2) / n / 1024 for k in ("used", "pinned")}
    return {"rss": rss, "pss": pss, **per}


def _md_detached(name: str):
    try:                                # a failed `run -d` may still have left a record
        sh(MD + ["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "1000"])
        root = os.environ.get("MINIDOCKER_ROOT")
        lib = os.path.join(root, "lib") if root else "/var/lib/minidocker"
        cid = subprocess.check_output(MD + ["inspect", "-f", "{{.Id}}", name], text=True).strip()
        with open(os.path.join(lib, "containers", cid, "state.json")) as f:
            st = json.load(f)
        return int(st["MonitorPid"]), int(st["State"]["Pid"]), lambda: sh(MD + ["rm", "-f", name])
    except BaseException:
        subprocess.run(MD + ["rm", "-f", name], capture_output=True)
        raise


def _docker_detached(env: dict):
    """start(name) for _marginal: `docker run -d`; the monitor is the container's parent,
    the containerd-shim-runc-v2 that containerd started for it."""
    def start(name: str):
        try:
            sh(["docker", "run", "-d", "--name", name, "--network", "none", "mdkbench-busybox", "sleep", "1000"],
               env=env)
            ctr = int(subprocess.check_output(["docker", "inspect", "-f", "{{.State.Pid}}", name], env=env,
                                              text=True))
            with open(f"/proc/{ctr}/stat") as f:
                shim = int(f.read().rpartition(")")[2].split()[1])     # field 4, after "(comm)"
            return shim, ctr, lambda: sh(["docker", "rm", "-f", name], env=env)
        except BaseException:
            subprocess.run(["docker", "rm", "-f", name], env=env, capture_output=True)
            raise
    return start


def _podman_detached(name: str):
    # called as bench_start calls podman: with runc (crun refuses this hybrid cgroup layout), same ulimits
    try:
        sh(f"ulimit -n 1024; podman run -d --name {name} --runtime runc --network none "
           f"--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 mdkbench-busybox sleep 1000", detached=True)
        out = subprocess.check_output(["podman", "inspect", "-f", "{{.State.ConmonPid}} {{.State.Pid}}", name],
                                      text=True).split()
        return int(out[0]), int(out[1]), lambda: sh(["podman", "rm", "-f", "-t", "0", name])
    except BaseException:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
        raise


# --- python start-up ------------------------------------------------------------------

def bench_import(tmp: str, rounds: int) -> str:
    cs = [Contender("python -c pass", lambda: sh([sys.executable, "-c", "pass"])),
          Contender("import minidocker.cli", lambda: sh([sys.executable, "-c", "import minidocker.cli"])),
          Contender("minidocker --version", lambda: sh(MD + ["--version"]))]
    measure(cs, rounds)
    return table("Python start-up (lazy imports keep `run` light)", cs, baseline="python -c pass")


# --- layer extraction vs GNU tar ------------------------------------------------------

def _make_tarball(path: str, mb: int) -> None:
    """A layer-like tarball: many small files plus a few large ones, ~mb MB in all."""
    import tarfile
    import io
    rnd = os.urandom(1 << 20)
    with tarfile.open(path, "w") as tar:
        for i in range(mb // 2):                       # half the bytes in 1 MB files
            ti = tarfile.TarInfo(f"big/f{i}")
            ti.size = len(rnd)
            tar.addfile(ti, io.BytesIO(rnd))
        small = rnd[:4096]
        for i in range(mb * 128):                      # the other half in 4 KB files
            ti = tarfile.TarInfo(f"small/d{i % 64}/f{i}")
            ti.size = len(small)
            tar.addfile(ti, io.BytesIO(small))


def bench_extract(tmp: str, rounds: int, mb: int = 200) -> str:
    tarball = os.path.join(tmp, "layer.tar")
    _make_tarball(tarball, mb)
    code = ("import sys; from minidocker.image import tarsafe;"
            "f=open(sys.argv[1],'rb'); tarsafe.extract_layer(f, sys.argv[2])")
    n = {"i": 0}

    def fresh() -> str:
        # A new directory every run; the trees are deleted only after the last run
        # (with the scratch file system). Deleting 25,700 files between two runs
        # would put their journal commits and freed blocks inside the next sample;
        # on a journal-less ext4 it was worse: see _scratch_fs.
        n["i"] += 1
        d = os.path.join(tmp, f"x{n['i']}")
        os.makedirs(d)
        return d

    def gnu():
        sh(["tar", "-xpf", tarball, "--xattrs", "--numeric-owner", "-C", fresh()])

    def ours():
        sh([sys.executable, "-c", code, tarball, fresh()], cwd=REPO)

    cs = [Contender("GNU tar -x", gnu), Contender("minidocker tarsafe.extract_layer", ours)]
    measure(cs, max(4, rounds // 2))
    # The trees (~2 GB) stay until main() removes the scratch file system (see fresh()).
    return table(f"Layer extraction of a {mb} MB tarball ({mb * 128 + mb // 2} files)", cs, baseline="GNU tar -x")


# --- push / pull vs skopeo -----------------------------------------------------------

def _image_with_fresh_layers(store, tag: str, layers: int, mb: float) -> None:
    """An image of `layers` new random layers (mb MB each plus 20 small files, gzip)
    written straight into the store: bytes no registry has seen, so nobody can mount them."""
    import gzip
    import io
    import tarfile
    descs = []
    for i in range(layers):
        data = os.urandom(int(mb * (1 << 20)))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            ti = tarfile.TarInfo(f"l{i}/data")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
            for j in range(20):
                ti = tarfile.TarInfo(f"l{i}/small{j}")
                ti.size = 4096
                t.addfile(ti, io.BytesIO(data[j * 4096:(j + 1) * 4096]))
        descs.append(store.add_layer(gzip.compress(buf.getvalue(), compresslevel=1)))
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "rootfs": {"type": "layers", "diff_ids": [d.diff_id for d in descs]}}
    store.add_image(config, descs, tags=[tag])


def _push_pair(store, host: str, name: str, need: int, layers: int, mb: float) -> list[Contender]:
    """skopeo and minidocker each pushing a never-seen image per run (both must upload)."""
    n = {"sk": 0, "md": 0}
    for k in range(need):
        _image_with_fresh_layers(store, f"{name}-sk{k}:1", layers, mb)
        _image_with_fresh_layers(store, f"{host}/bench/{name}-md{k}:1", layers, mb)

    def skopeo_push():
        k = n["sk"] = n["sk"] + 1
        sh(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{_store_layout()}:{name}-sk{k - 1}:1",
            f"docker://{host}/bench/{name}-sk{k - 1}:1"])

    def md_push():
        k = n["md"] = n["md"] + 1
        sh(MD + ["push", f"{host}/bench/{name}-md{k - 1}:1"])

    return [Contender("skopeo copy (push)", skopeo_push), Contender("minidocker push", md_push)]


def _pull_trio(tmp: str, host: str, ref: str) -> list[Contender]:
    """Pull `ref` into fresh directories (nothing is deleted inside a timed run)."""
    n = {"sk": 0, "um": 0, "md": 0}

    def fresh(kind: str) -> str:
        n[kind] += 1
        return os.path.join(tmp, f"pull-{kind}-{n[kind]}")

    def skopeo_pull():
        sh(["skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/{ref}", f"oci:{fresh('sk')}:x"])

    def skopeo_umoci():
        d = fresh("um")
        sh(["skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/{ref}", f"oci:{d}:x"])
        sh(["umoci", "unpack", "--image", f"{d}:x", d + "-bundle"])

    def md_pull():
        sh(MD + ["pull", f"{host}/{ref}"], env={**os.environ, "MINIDOCKER_ROOT": fresh("md")})

    return [Contender("skopeo copy (pull)", skopeo_pull),
            Contender("skopeo copy + umoci unpack (pull)", skopeo_umoci),
            Contender("minidocker pull", md_pull)]


def _ratio_note(cs: list[Contender], ours: str, peer: str) -> str:
    a = next((c for c in cs if c.name == ours and c.samples), None)
    b = next((c for c in cs if c.name == peer and c.samples), None)
    if not (a and b):
        return ""
    return (f"Equal work (download, verify and unpack): {ours} / {peer} = "
            f"{statistics.median(a.samples) / statistics.median(b.samples):.2f}.\n")


def bench_registry(tmp: str, rounds: int) -> str:
    """Push and pull against Debian's registry:2 on 127.0.0.1, skopeo (+ umoci) alongside."""
    import io
    sys.path.insert(0, REPO)
    from minidocker.image import transfer
    from minidocker.image.store import Store
    from tests.registry_server import RegistryServer
    # every round of these (unlike the start-up benches) moves 50 MB, and the machine's
    # noise (other work writing back, the registry's garbage) is large against a ratio
    # near 1: all the rounds, not half, so a median of 10 decides the verdict
    need = rounds + 1                 # one image per timed run, plus the warm-up run
    store = Store()
    out = []
    with RegistryServer() as reg:
        host = reg.host

        # 1. push, equal work: a fresh random layer every run, so neither tool can mount
        cs = _push_pair(store, host, "up50", need, 1, 50)
        measure(cs, rounds)
        out.append(table("Push a 50 MB single-layer image, both upload (a never-seen layer each run)",
                         cs, baseline="skopeo copy (push)"))

        # 2. push to a fresh repository of a registry that has the blob elsewhere: both may mount
        _image_with_fresh_layers(store, "bench50:1", 1, 50)
        sh(MD + ["tag", "bench50:1", f"{host}/bench/base:1"])
        sh(MD + ["push", f"{host}/bench/base:1"])     # now our store knows where the blob lives
        sh(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{_store_layout()}:bench50:1",
            f"docker://{host}/bench/base-sk:1"])       # ... and skopeo's blob-info cache too
        for k in range(need):
            store.tag("bench50:1", f"{host}/bench/mnt-md{k}:1")
            store.tag("bench50:1", f"{host}/bench/mnt-ip{k}:1")
        n = {"sk": 0, "md": 0, "ip": 0}

        def nxt(kind: str) -> int:
            n[kind] += 1
            return n[kind] - 1

        cs = [Contender("skopeo copy (push)", lambda: sh(
                  ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{_store_layout()}:bench50:1",
                   f"docker://{host}/bench/mnt-sk{nxt('sk')}:1"])),
              Contender("minidocker push", lambda: sh(MD + ["push", f"{host}/bench/mnt-md{nxt('md')}:1"])),
              Contender("transfer.push() in-process (no interpreter start-up)", lambda: transfer.push(
                  f"{host}/bench/mnt-ip{nxt('ip')}:1", store=store, out=io.StringIO()))]
        measure(cs, rounds)
        out.append(table("Push a 50 MB single-layer image to a fresh repository, both may mount "
                         "(cross-repository mount: the registry has the blob in another repository)",
                         cs, baseline="skopeo copy (push)"))
        out.append("Note: both tools now send two mount requests and a manifest, no layer bytes; the "
                   "in-process row is that work alone, the rest of `minidocker push` is the Python "
                   "interpreter starting up (our HTTP client, image/http11.py, imports only `_socket`), "
                   "where skopeo is one Go binary.\n")

        # 3. push 20 layers, equal work
        cs = _push_pair(store, host, "up20x", need, 20, 2.5)
        measure(cs, rounds)
        out.append(table("Push a 20-layer image (20 x 2.5 MB), both upload (never-seen layers each run)",
                         cs, baseline="skopeo copy (push)"))

        # 4. and 5. pull: plain skopeo stores the blobs only; + umoci unpack does our whole job
        _image_with_fresh_layers(store, f"{host}/bench/pull20:1", 20, 2.5)
        sh(MD + ["push", f"{host}/bench/pull20:1"])
        sh(MD + ["tag", "bench50:1", f"{host}/bench/pullme:1"])
        sh(MD + ["push", f"{host}/bench/pullme:1"])
        for title, ref in (("Pull a 50 MB single-layer image into an empty store", "bench/pullme:1"),
                           ("Pull a 20-layer image (20 x 2.5 MB) into an empty store", "bench/pull20:1")):
            cs = _pull_trio(tmp, host, ref)
            measure(cs, rounds)
            out.append(table(title, cs, baseline="skopeo copy (pull)"))
            out.append("Note: `skopeo copy` only stores the blobs; minidocker also verifies and unpacks "
                       "every layer. But skopeo makes each blob durable before renaming it into place "
                       "(an fsync per blob, and fdatasync of its blob-info cache: 22 fsync + 124 "
                       "fdatasync for the 20-layer image, by `strace -c`), and minidocker calls no "
                       "fsync at all, like `tar -x`. " +
                       _ratio_note(cs, "minidocker pull", "skopeo copy + umoci unpack (pull)"))
            for d in os.listdir(tmp):
                if d.startswith("pull-"):
                    shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
    return "\n".join(out)


def _store_layout() -> str:
    root = os.environ.get("MINIDOCKER_ROOT")
    return os.path.join(root, "lib", "image") if root else "/var/lib/minidocker/image"


# --- builds ------------------------------------------------------------------------

def bench_build(tmp: str, rounds: int) -> str:
    ctx = os.path.join(tmp, "buildctx")
    os.makedirs(ctx, exist_ok=True)
    for i in range(3):
        with open(os.path.join(ctx, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n")
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nLABEL a=b\nENV X=1\nWORKDIR /app\nCOPY f0.txt .\nRUN echo one > /one\n"
                "COPY f1.txt .\nRUN echo two > /two\nCOPY f2.txt .\nCMD [\"cat\", \"f0.txt\"]\n")
    tag = f"benchbuild:{os.getpid()}"
    t0 = time.perf_counter()
    sh(MD + ["build", "--no-cache", "-t", tag, ctx])
    cold = time.perf_counter() - t0
    cached = []
    for _ in range(max(3, rounds // 2)):
        t0 = time.perf_counter()
        sh(MD + ["build", "-t", tag, ctx])
        cached.append(time.perf_counter() - t0)
    changed = []
    for i in range(max(3, rounds // 2)):
        with open(os.path.join(ctx, "f1.txt"), "w") as f:
            f.write(f"changed {i} {time.time()}\n")
        t0 = time.perf_counter()
        sh(MD + ["build", "-t", tag, ctx])
        changed.append(time.perf_counter() - t0)
    title = "Build: a 10-step Dockerfile (2 RUN, 3 COPY)"
    cs = [Contender("minidocker build, cold (--no-cache)", samples=[cold]),
          Contender("minidocker build, fully cached", samples=cached),
          Contender("minidocker build, one COPY source changed", samples=changed)]
    target = Target("minidocker build, fully cached", 1.0, "a fully cached build under 1 s", "value")
    record(title, cs, None, "s", 1.0, target)
    return (f"### {title}\n\n| case | median (s) | min | max | n |\n|---|---:|---:|---:|---:|\n"
            f"| cold (--no-cache) | {cold:.2f} | {cold:.2f} | {cold:.2f} | 1 |\n"
            f"| fully cached | {statistics.median(cached):.2f} | {min(cached):.2f} | {max(cached):.2f} | {len(cached)} |\n"
            f"| one COPY source changed | {statistics.median(changed):.2f} | {min(changed):.2f} | {max(changed):.2f} | {len(changed)} |\n"
            f"\n{verdict(target, cs, None, 1.0, 's')['line']}\n")


# --- CPU quota fidelity --------------------------------------------------------------

def bench_quota(tmp: str, rounds: int) -> str:
    """Measured CPU share of a busy loop under a quota of 10/20/50/100 % of one CPU.

    Ground truth is the cgroup's own usage counter over wall time (3 s windows).
    """
    from minidocker.kernel import cgroups
    from minidocker.lab import deadloop, sampler
    m = cgroups.manager("quota")
    m.create()
    lines = ["### CPU quota fidelity (deadloop, 3 s windows, cgroup usage counter)", "",
             f"cgroup v{cgroups.version()}", "",
             "| quota (% of one CPU) | measured (%) | error (points) | within 2 points |", "|---:|---:|---:|---|"]
    p = deadloop.start()
    errors = []
    try:
        sampler.outweigh_others(m)
        m.apply(p.pid)
        for pct in (10, 20, 50, 100):
            sampler.set_quota(m, pct)
            time.sleep(0.3)
            got = sampler.measure_share(m, 3.0)
            errors.append(got - pct)
            lines.append(f"| {pct} | {got:.2f} | {got - pct:+.2f} | {'yes' if abs(got - pct) <= 2 else '**no**'} |")
    finally:
        deadloop.stop(p)
        m.destroy()
    worst = max(errors, key=abs)
    record("CPU quota fidelity: measured share (%) at quotas of 10/20/50/100 %",
           [Contender(f"quota {q} %", samples=[q + e]) for q, e in zip((10, 20, 50, 100), errors)],
           None, "%", 1.0, plot=False)
    lines += ["", f"Target: within 2 points at every quota — {'met' if abs(worst) <= 2 else 'MISSED'} "
              f"(worst error {worst:+.2f} points)"]
    return "\n".join(lines) + "\n"


# --- lessons ---------------------------------------------------------------------------

def bench_notebooks(tmp: str, rounds: int) -> str:
    """Wall time of every lesson under nbval (one run), and of the whole suite."""
    import re
    rows, total, times = [], 0.0, []
    nbs = sorted(glob.glob(os.path.join(REPO, "notebooks", "[0-9]*.ipynb")))
    for nb in nbs:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", nb,
                            "--nbval-sanitize-with", os.path.join(REPO, "notebooks", "nbval_sanitize.cfg")],
                           capture_output=True, text=True, cwd=REPO, env={k: v for k, v in os.environ.items()
                                                                          if k != "MINIDOCKER_ROOT"})
        took = time.perf_counter() - t0
        total += took
        times.append(took)
        tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-200:]
        rows.append(f"| {os.path.basename(nb)} | {took:.1f} | {re.sub(r' in [0-9.]+s.*', '', tail)} |")
    met = bool(times) and max(times) < 180 and total < 1200
    record("Lessons under nbval, wall time of each (target: each < 180 s)",
           [Contender(os.path.basename(nb), samples=[t]) for nb, t in zip(nbs, times)], None, "s", 1.0,
           Target("", 180.0, "each lesson under 180 s", "each"), ours=True)
    return ("### Lessons under nbval (wall time, target: each < 180 s, all < 1200 s)\n\n"
            "| lesson | seconds | result |\n|---|---:|---|\n" + "\n".join(rows) +
            f"\n| **all** | **{total:.1f}** | |\n\nTarget: each lesson < 180 s, all < 1200 s — "
            f"{'met' if met else 'MISSED'} (slowest {max(times, default=0):.1f} s, all {total:.1f} s)\n")


BENCHES = {"start": bench_start, "exec": bench_exec, "overlay": bench_overlay, "memory": bench_memory,
           "import": bench_import, "extract": bench_extract, "registry": bench_registry, "build": bench_build,
           "quota": bench_quota, "notebooks": bench_notebooks, "cgroupjoin": bench_cgroup_join}


def _scratch_fs(base: str, gb: int = 24):
    """A fresh ext4 (with a journal) on a loop device, for every file the benches write.
    Returns (mount point, a note for the report, a function that removes it all).

    Why: this VM's root file system is ext4 *without* a journal, and there the
    inode allocator skips every inode freed in the last 5 to 10 minutes, reading
    each one to check (fs/ext4/ialloc.c, recently_deleted()). A file create then
    costs up to 0.9 ms depending on what the machine deleted before (measured:
    440 creates right after a test suite's clean-up, 131 us each; on tmpfs 6 us),
    and one `tar -x` of the extraction bench took from 0.8 to 4.2 s. That is the
    bench's own history, not the tools. A fresh journaled ext4 is what a docker
    host's /var/lib usually is, and it starts every run in the same state.
    Shell: truncate -s 24G IMG; mkfs.ext4 -i 65536 IMG; losetup --direct-io=on -f IMG;
    mount /dev/loopN MNT (inode tables written now, not by a lazy-init thread
    during the benches; direct I/O: no second copy of every page in the page cache).
    Where no loop device can be had, the benches run on `base` and say so."""
    undo: list = []

    def unmount() -> None:
        for fn in reversed(undo):
            try:
                fn()
            except Exception as e:          # say it: a leftover mount or loop device is a bug
                print(f"bench: clean-up step failed: {e}", file=sys.stderr)
        undo.clear()

    try:
        fd, img = tempfile.mkstemp(prefix="mdkbench-", suffix=".ext4", dir=base)   # a name of its own
        undo.append(lambda: os.unlink(img))
        try:
            os.ftruncate(fd, gb << 30)    # sparse: only what the benches write takes disk space
        finally:
            os.close(fd)
        mnt = img[:-5] + "-mnt"
        sh(["mkfs.ext4", "-q", "-F", "-i", "65536", "-E", "lazy_itable_init=0,lazy_journal_init=0", img])
        dev = subprocess.check_output(["losetup", "--find", "--show", "--direct-io=on", img], text=True).strip()
        undo.append(lambda: sh(["losetup", "-d", dev]))
        os.mkdir(mnt)
        undo.append(lambda: os.rmdir(mnt))
        sh(["mount", "-t", "ext4", dev, mnt])
        undo.append(lambda: sh(["umount", mnt]))
    except Exception as e:
        unmount()
        return base, f"{base} (no scratch file system: {str(e)[:120]})", lambda: None
    return mnt, f"a fresh {gb} GB ext4 with a journal on a loop device (bench/run.py _scratch_fs says why)", unmount


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--only", default=",".join(BENCHES))
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    a = ap.parse_args(argv)
    unknown = [n for n in a.only.split(",") if n not in BENCHES]
    if unknown:
        print(f"bench: no bench named {', '.join(unknown)} (there are: {', '.join(BENCHES)})", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 1
    # byte-compile first: with PYTHONDONTWRITEBYTECODE set, every run would recompile the sources
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "minidocker")],
                   capture_output=True)
    # Scratch space: the state root, registry storage, skopeo's, umoci's and tar's
    # outputs, TMPDIR: all on a file system made for this run (see _scratch_fs).
    base = "/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir()
    from tests.helpers import remove_new_cgroups
    # podman (cgroupfs manager) makes a libpod_parent cgroup in every hierarchy and leaves it
    podman_cgroups = set(glob.glob("/sys/fs/cgroup/*/libpod_parent"))
    mnt, scratch_note, unmount = _scratch_fs(base)
    tmp = None
    try:                                # from here on, everything made is undone in `finally`
        tmp = tempfile.mkdtemp(prefix="mdkbench-", dir=mnt)
        os.environ["TMPDIR"] = tmp           # the registry's storage, skopeo's temp files
        tempfile.tempdir = None
        os.environ.setdefault("MINIDOCKER_ROOT", os.path.join(tmp, "root"))
        # a cgroup parent of our own, removed at the end by `system prune` (it drops the parent once empty)
        os.environ.setdefault("MINIDOCKER_CGROUP_PARENT", f"minidocker-bench-{os.getpid()}")
        date, where = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", machine()
        parts = [f"# minidocker benchmarks\n\n{date}; {where}; "
                 f"{a.rounds} interleaved rounds per comparison; scratch: {scratch_note}.\n\nReproduce: "
                 f"`sudo make bench` (or `.venv/bin/python -m bench.run --rounds {a.rounds}`). Every sample "
                 "is in latest.json; the figure is latest.png (`python -m bench.plot latest.json OUT.png` "
                 "redraws it).\n"]
        harness.RECORDED.clear()
        sh(MD + ["run", "--rm", "--network", "none", "busybox", "true"])   # builds the base image once
        for name in a.only.split(","):
            t0 = time.monotonic()
            try:
                parts.append(BENCHES[name](tmp, a.rounds))
            except Exception as e:      # one broken bench must not lose the others' numbers
                parts.append(f"### {name}\n\nfailed: {type(e).__name__}: {str(e)[:300]}\n")
            print(f"bench {name}: {time.monotonic() - t0:.1f}s", file=sys.stderr)
    finally:
        subprocess.run(MD + ["system", "prune", "-f"], capture_output=True)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        unmount()
        remove_new_cgroups(podman_cgroups, "/sys/fs/cgroup/*/libpod_parent")
    os.makedirs(a.out, exist_ok=True)
    text = "\n".join(parts)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(text)
    doc = harness.save_json(os.path.join(a.out, "latest.json"), date, where, a.rounds)
    from bench.plot import plot          # matplotlib only now: the benches above run without it
    plot(doc, os.path.join(a.out, "latest.png"))
    print(text)
    print(f"wrote {a.out}/latest.md, latest.json, latest.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
