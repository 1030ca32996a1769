"""Crashes and cleanup (issue 10): kill -9 at each step of `run`, torn state files, 50 at once.

The host is compared before and after with `host_state()`: mounts under our
state root, cgroups under our parent (every hierarchy), veths on our bridge,
named netns, our iptables rules, IPAM leases, container directories and any
process that carries our MINIDOCKER_ROOT. Our bridge and chains themselves
are infrastructure (docker keeps docker0 too); the module removes them at
the end with networks.teardown().
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import subprocess
import time

import pytest

from minidocker import params
from minidocker.runtime.faults import CRASH_ENV, STEPS
from tests.helpers import MINIDOCKER, REPO, md, private_network

pytestmark = pytest.mark.usefixtures("root_only")

NET_ENV = {"MINIDOCKER_BRIDGE": "mdhd1", "MINIDOCKER_SUBNET": "10.211.8.0/24", "MINIDOCKER_CHAIN": "MDHDC"}


@pytest.fixture(scope="module", autouse=True)
def own_network():
    yield from private_network(NET_ENV)


def host_state() -> dict:
    root = os.environ["MINIDOCKER_ROOT"]
    lib = params.lib_root()
    with open("/proc/self/mounts") as f:
        mounts = sorted(mp for mp in (ln.split()[1] for ln in f) if mp.startswith(root))
    parent = os.environ.get("MINIDOCKER_CGROUP_PARENT", "minidocker")
    cgroups = []
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, parent)
        if os.path.isdir(d):
            cgroups += sorted(os.path.join(d, x) for x in os.listdir(d) if os.path.isdir(os.path.join(d, x)))
    veths = subprocess.run(["ip", "-o", "link", "show", "master", NET_ENV["MINIDOCKER_BRIDGE"]],
                           capture_output=True, text=True).stdout
    veths = sorted(ln.split(":")[1].strip().split("@")[0] for ln in veths.splitlines())
    netns = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    # per-container rules (DNAT of published ports ...), not the chains' fixed skeleton
    rules = sorted(ln for ln in rules.splitlines()
                   if ln.startswith(f"-A {NET_ENV['MINIDOCKER_CHAIN']} ") or
                   (NET_ENV["MINIDOCKER_CHAIN"] in ln and "DNAT" in ln))
    leases = []
    ldir = os.path.join(lib, "network", "leases")
    for n in sorted(os.listdir(ldir)) if os.path.isdir(ldir) else []:
        try:
            leases += sorted(json.load(open(os.path.join(ldir, n))).get("leases", {}))
        except ValueError:
            leases.append(f"{n}: unreadable")
    cdir = os.path.join(lib, "containers")
    dirs = sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []
    procs = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if f"MINIDOCKER_ROOT={root}\0".encode() in f.read():
                        procs.append(p)
            except OSError:
                pass
    return {"mounts": mounts, "cgroups": cgroups, "veths": veths, "netns": netns, "rules": rules,
            "leases": leases, "dirs": dirs, "procs": sorted(procs)}


def wait_clean(before: dict, timeout: float = 10) -> dict:
    """The difference to `before` (new things only), after up to `timeout` s of settling."""
    deadline = time.monotonic() + timeout
    while True:
        after = host_state()
        diff = {k: sorted(set(after[k]) - set(before[k])) for k in before}
        if not any(diff.values()) or time.monotonic() > deadline:
            return diff
        time.sleep(0.2)


# --- kill -9 at each step of run ----------------------------------------------------------------

def _wired(step: str) -> bool:
    """Has the runtime placed crash_point(step) somewhere? (read from its source)"""
    d = os.path.join(REPO, "minidocker", "runtime")
    for n in os.listdir(d):
        if n.endswith(".py") and n != "faults.py":
            with open(os.path.join(d, n), encoding="utf-8") as f:
                if f'crash_point("{step}")' in f.read():
                    return True
    return False


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("cleaner", ["next-command", "prune"])
def test_kill_9_at_each_step_leaves_nothing(step, cleaner):
    if not _wired(step):
        pytest.skip(f"the runtime does not call crash_point({step!r}) yet (lead: see faults.py)")
    name = f"hd-crash-{step}-{cleaner}"
    before = host_state()
    env = os.environ.copy()
    env[CRASH_ENV] = step
    p = subprocess.run(MINIDOCKER + ["run", "--rm", "--name", name, "busybox", "sleep", "20"],
                       capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    crashed = p.returncode == -signal.SIGKILL or (step == "after-mount" and p.returncode == 137)
    if not crashed:
        md("rm", "-f", name)
        pytest.skip(f"crash_point({step!r}) is not wired into the runtime yet (exit {p.returncode}: {p.stderr[-200:]})")
    assert "Traceback" not in p.stderr
    if cleaner == "next-command":
        # what a user does next: look, then remove the container by name
        ps = md("ps", "-a")
        assert ps.returncode == 0 and "Traceback" not in ps.stderr, ps.stderr
        if name in ps.stdout:
            r = md("rm", "-f", name)
            assert r.returncode == 0, r.stderr
        r = md("run", "--rm", "--network", "none", "busybox", "true")   # and the next run works
        assert r.returncode == 0, r.stderr
    else:
        r = md("system", "prune", "-f")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        ps = md("ps", "-a")
        if name in ps.stdout:   # prune keeps running containers, as docker's does
            assert md("rm", "-f", name).returncode == 0
    left = wait_clean(before)
    assert not any(left.values()), f"kill -9 at {step}, cleaned by {cleaner}, left: {left}"


def test_monitor_killed_from_outside_while_running():
    """The same as after-exec, without the hook: kill -9 a detached container's monitor."""
    before = host_state()
    name = "hd-crash-monitor"
    p = md("run", "-d", "--name", name, "busybox", "sleep", "30")
    assert p.returncode == 0, p.stderr
    try:
        mon = json.loads(md("inspect", name).stdout)[0]
        cdir = os.path.join(params.lib_root(), "containers", mon["Id"])
        st = json.load(open(os.path.join(cdir, "state.json")))
        mpid = st.get("MonitorPid")
        assert mpid, st
        os.kill(mpid, signal.SIGKILL)
        os.kill(st["State"]["Pid"], signal.SIGKILL)     # and PID 1, so nobody sees its exit
        time.sleep(0.5)
        ps = md("ps", "-a")
        assert "Traceback" not in ps.stderr
        line = next(ln for ln in ps.stdout.splitlines() if ln.endswith(name))
        assert "Exited (255)" in line, line      # nobody saw PID 1 die: docker's "unknown" code
    finally:
        md("rm", "-f", name)
    left = wait_clean(before)
    assert not any(left.values()), left


# --- the state store ----------------------------------------------------------------------------

def test_interrupted_writes_leave_old_or_new(tmp_path):
    """kill -9 a writer in the middle of write_json, many times: the file is always whole."""
    path = tmp_path / "state.json"
    from minidocker import state
    state.write_json(str(path), {"n": -1, "pad": "x"})
    writer = (f"import sys; sys.path.insert(0, {REPO!r})\n"
              "from minidocker import state\n"
              "i = 0\n"
              "while True:\n"
              f"    state.write_json({str(path)!r}, {{'n': i, 'pad': 'x' * (200000 + i % 7)}})\n"
              "    i += 1\n")
    seen = set()
    for k in range(15):
        proc = subprocess.Popen([MINIDOCKER[0], "-c", writer])
        time.sleep(0.05 + 0.013 * k)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = state.read_json(str(path))          # CorruptState would fail the test
        assert data["pad"].startswith("x") and data["version"] == params.STATE_VERSION
        seen.add(data["n"])
    assert len(seen) > 1     # the writer did get to replace the file between kills
    leftovers = [n for n in os.listdir(tmp_path) if n != "state.json"]
    # a killed writer may leave its temp file (never the real one); they are named .tmp-*
    assert all(n.startswith(".tmp-") for n in leftovers), leftovers


@pytest.mark.parametrize("damage", ["garbage", "truncated", "future-version", "not-an-object", "empty"])
def test_corrupt_state_gives_a_clear_error(damage):
    name = f"hd-corrupt-{damage}"
    p = md("create", "--name", name, "--network", "none", "busybox", "true")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip().splitlines()[-1]
    path = os.path.join(params.lib_root(), "containers", cid, "state.json")
    text = open(path).read()
    bad = {"garbage": "\x00\xff{{{ not json", "truncated": text[: len(text) // 2],
           "future-version": json.dumps({**json.loads(text), "version": 99}),
           "not-an-object": "[1, 2, 3]", "empty": ""}[damage]
    with open(path, "w") as f:
        f.write(bad)
    try:
        for argv in (["ps", "-a"], ["inspect", name], ["start", name], ["rm", name], ["logs", name]):
            r = md(*argv)
            out = r.stdout + r.stderr
            assert "Traceback" not in out, (argv, out)
            if argv != ["ps", "-a"]:
                assert r.returncode != 0, (argv, out)
                assert "corrupt" in out.lower() or "version" in out.lower(), (argv, out)
        r = md("system", "prune", "-f")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert not os.path.exists(os.path.dirname(path)), "prune did not remove the broken record"
    finally:
        if os.path.exists(os.path.dirname(path)):
            import shutil
            shutil.rmtree(os.path.dirname(path))


# --- many at once -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_fifty_services_in_parallel_then_nothing_left():
    n = int(os.environ.get("HD_PARALLEL_N", "50"))   # smaller only to debug
    before = host_state()
    names = [f"hd-par-{i:02d}" for i in range(n)]
    t0 = time.monotonic()

    def start(name):
        return md("run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c",
                  f"mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www",
                  timeout=90)

    deadline = t0 + 150     # fail, never hang, on a machine shared with others

    def probe(name):
        err = ""
        while time.monotonic() < deadline:
            try:
                r = md("exec", name, "wget", "-qO-", "127.0.0.1:8080/index.html", timeout=30)
            except subprocess.TimeoutExpired:
                return f"{name}: exec hung for 30 s"
            if r.returncode == 0:
                return r.stdout.strip()
            err = r.stderr.strip()
            time.sleep(0.25)
        return f"{name} unreachable: {err}"

    assert md("run", "--rm", "--network", "none", "busybox", "true").returncode == 0   # image ready
    t0 = time.monotonic()
    try:
        with cf.ThreadPoolExecutor(max_workers=10) as ex:
            started = list(ex.map(start, names))
            bad = [(nm, p.stderr) for nm, p in zip(names, started) if p.returncode != 0]
            assert not bad, bad[:3]
            answers = list(ex.map(probe, names))
        assert answers == names, [a for a in answers if a not in names][:3]
        t_up = time.monotonic() - t0
    finally:
        with cf.ThreadPoolExecutor(max_workers=10) as ex:
            removed = list(ex.map(lambda nm: md("rm", "-f", nm, timeout=120), names))
    assert all(r.returncode == 0 for r in removed), [r.stderr for r in removed if r.returncode][:3]
    left = wait_clean(before, timeout=20)
    assert not any(left.values()), left
    print(f"\n50 services: up and answering in {t_up:.1f}s, all removed in {time.monotonic() - t0:.1f}s total")
