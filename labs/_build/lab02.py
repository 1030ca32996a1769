"""Lab 02 -- cgroups: a CPU quota measured on a deadloop, a memory limit and the OOM kill."""
from .cells import check, cleanup, exercise, free, md, setup

NAME = "02_cgroups"
TITLE = "Lab 02 — CGroups 资源限制"

CELLS = [
    md("intro", """
    # Lab 02 — CGroups 资源限制

    **Goal.** Create cgroups with the library's cgroup manager, hold the course's `deadloop` at a
    CPU share you choose (the check *measures* it), and set a memory limit that the kernel's OOM
    killer enforces (the check *watches* the kill).

    **Background.** Course section 1.6.2 (CGroup 资源限制, the `deadloop` demo with
    `cpu.cfs_quota_us`); lesson notebook [`notebooks/07-cgroups.ipynb`](../notebooks/07-cgroups.ipynb);
    the library's [`minidocker/kernel/cgroups/`](../minidocker/kernel/cgroups/__init__.py) (read
    `base.py`'s `Manager` and `resources.py`'s `Resources`) and
    [`minidocker/lab/deadloop.py`](../minidocker/lab/deadloop.py).

    **How this lab works.** Replace each `# TODO` + `raise NotImplementedError` with your code and
    run the grey **check** cell after it (PASS/FAIL per requirement, with what was expected and
    what was found). The grader re-runs your notebook with its own check cells. Name your cgroups
    as the exercises say (`lab02-...`); the last cell kills what is left and removes them.
    """),
    setup("setup", """
    import os, subprocess, sys, time
    from minidocker.kernel import cgroups
    from minidocker.kernel.cgroups import Resources
    from minidocker.lab import deadloop
    from minidocker.lab.checks import check, wait_for

    assert os.geteuid() == 0, "the labs need root: start jupyter with sudo"
    print("cgroup version", cgroups.version(), "- our cgroups go under", cgroups.manager("lab02-x").dirs())
    deadloop.command()                 # compile the deadloop once, now
    STARTED, MANAGERS = [], []         # what the checks started; cleanup_all() removes it

    def cpu_share(pid, seconds=2.5):
        \"\"\"% of one CPU process `pid` used over `seconds`, from its own /proc/PID/stat
        (utime + stime: the kernel's count, independent of any cgroup file).\"\"\"
        def used():
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        u0, t0 = used(), time.monotonic()
        time.sleep(seconds)
        u1, t1 = used(), time.monotonic()
        return 100 * (u1 - u0) / (t1 - t0)

    def oom_kills():
        \"\"\"The kernel's count of OOM kills since boot (/proc/vmstat oom_kill).\"\"\"
        with open("/proc/vmstat") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("oom_kill "))

    def outweigh_others(m):
        \"\"\"Give our cgroups' parent the top CPU weight, so a busy machine cannot hold the
        deadloop *below* its quota (a quota is a ceiling; weight decides among competitors).\"\"\"
        if cgroups.version() == 1:
            path, value = os.path.join(os.path.dirname(m.paths["cpu"]), "cpu.shares"), 262144
        else:
            path, value = os.path.join(os.path.dirname(m.dirs()[0]), "cpu.weight"), 10000
        with open(path, "w") as f:
            f.write(str(value))

    def cleanup_all():
        for p in STARTED:
            if isinstance(p, subprocess.Popen) and p.poll() is None:
                p.kill()
            if isinstance(p, subprocess.Popen):
                p.wait()
        STARTED.clear()
        for name in ("lab02-cpu", "lab02-mem", "lab02-mem-small"):
            m = cgroups.manager(name)
            if m.exists():
                m.kill()
                m.destroy()
    """),

    md("ex1-md", """
    ## Exercise 1 — hold a deadloop at a CPU share

    Write `start_limited_deadloop(name, percent)`: create the cgroup `name`, give it a CPU quota of
    `percent` % of **one** CPU with a period of 100 000 µs, start a deadloop
    (`deadloop.command()`, a program that burns 100 % of a CPU) **inside** the cgroup, and return
    `(manager, popen)`.

    *Hints.* `m = cgroups.manager(name)`, `m.create()`, `m.set(Resources(cpu_period=..., cpu_quota=...))`
    (both in **microseconds**: the quota is the CPU time the group may use per period),
    `m.apply(pid)`. To be inside from the first instruction, join in `preexec_fn`:
    `subprocess.Popen(argv, preexec_fn=lambda: m.apply(os.getpid()))`.
    Shell (v1): `mkdir /sys/fs/cgroup/cpu/NAME; echo 100000 > cpu.cfs_period_us; echo QUOTA > cpu.cfs_quota_us; echo PID > tasks`.
    The check asks for 30 % and measures the deadloop for 2.5 s.
    """),
    exercise("ex1-code", "ex1", todo="""
    def start_limited_deadloop(name, percent):
        \"\"\"A deadloop in cgroup `name`, limited to `percent` % of one CPU; returns (manager, popen).\"\"\"
        # TODO: create the cgroup, set the quota, start deadloop.command() inside it
        raise NotImplementedError
    """, solution="""
    def start_limited_deadloop(name, percent):
        \"\"\"A deadloop in cgroup `name`, limited to `percent` % of one CPU; returns (manager, popen).\"\"\"
        m = cgroups.manager(name)
        m.create()
        period = 100_000                                   # us
        m.set(Resources(cpu_period=period, cpu_quota=round(period * percent / 100)))
        p = subprocess.Popen(deadloop.command(), preexec_fn=lambda: m.apply(os.getpid()))
        return m, p
    """, wrong="""
    def start_limited_deadloop(name, percent):
        \"\"\"A deadloop in cgroup `name`, limited to `percent` % of one CPU; returns (manager, popen).\"\"\"
        m = cgroups.manager(name)
        m.create()
        m.set(Resources(cpu_period=100_000, cpu_quota=percent * 100))   # planted mistake: wrong unit
        p = subprocess.Popen(deadloop.command(), preexec_fn=lambda: m.apply(os.getpid()))
        return m, p
    """),
    free("ex1-free"),
    check("ex1-check", "ex1", """
    with check("ex1", "a deadloop held at 30 % of one CPU", ) as c:
        try:
            m, p = start_limited_deadloop("lab02-cpu", 30)
            STARTED.append(p)
            c.true("the cgroup exists", m.exists(), "its directories", m.dirs())
            c.contains("the deadloop is inside (cgroup.procs)", m.procs(), p.pid)
            outweigh_others(m)
            time.sleep(0.3)
            share = cpu_share(p.pid, 2.5)
            c.within("the deadloop's CPU share, measured over 2.5 s (/proc/PID/stat)", share, 22, 36, " %")
            c.true("the deadloop is still running (throttled, not killed)", p.poll() is None, "running", p.poll())
        finally:
            cleanup_all()
    """),

    md("ex2-md", """
    ## Exercise 2 — a memory limit, and the OOM kill

    Write `run_with_memory_limit(name, limit_bytes, argv)`: create the cgroup `name` with a memory
    limit of `limit_bytes` and **no swap on top** (memory+swap = the same number), run `argv`
    inside it, wait for it, **remove the cgroup**, and return `(returncode, oom_killed)` where
    `oom_killed` says whether the kernel's OOM killer killed something in that cgroup.

    *Hints.* `Resources(memory=..., memory_swap=...)` (docker's `-m` and `--memory-swap`);
    `m.oom_killed()` reads the cgroup's OOM counter — read it **before** `m.destroy()`. A process
    killed by the OOM killer dies of SIGKILL: `Popen.wait()` returns `-9`.
    Shell (v1): `echo 48M > /sys/fs/cgroup/memory/NAME/memory.limit_in_bytes`;
    `grep oom_kill memory.oom_control`. The check runs a program that wants 96 MiB under a
    48 MiB limit, and one that needs 8 MiB.
    """),
    exercise("ex2-code", "ex2", todo="""
    def run_with_memory_limit(name, limit_bytes, argv):
        \"\"\"Run argv in cgroup `name` limited to limit_bytes; remove the cgroup; return (returncode, oom_killed).\"\"\"
        # TODO
        raise NotImplementedError
    """, solution="""
    def run_with_memory_limit(name, limit_bytes, argv):
        \"\"\"Run argv in cgroup `name` limited to limit_bytes; remove the cgroup; return (returncode, oom_killed).\"\"\"
        m = cgroups.manager(name)
        m.create()
        try:
            m.set(Resources(memory=limit_bytes, memory_swap=limit_bytes))
            p = subprocess.Popen(argv, preexec_fn=lambda: m.apply(os.getpid()))
            rc = p.wait()
            return rc, m.oom_killed()
        finally:
            m.destroy()
    """, wrong="""
    def run_with_memory_limit(name, limit_bytes, argv):
        \"\"\"Run argv in cgroup `name` limited to limit_bytes; remove the cgroup; return (returncode, oom_killed).\"\"\"
        m = cgroups.manager(name)
        m.create()
        try:
            m.set(Resources(memory=limit_bytes, memory_swap=limit_bytes))
            p = subprocess.Popen(argv)             # planted mistake: the process never joins the cgroup
            rc = p.wait()
            return rc, m.oom_killed()
        finally:
            m.destroy()
    """),
    free("ex2-free"),
    check("ex2-check", "ex2", """
    with check("ex2", "the OOM killer enforces the memory limit") as c:
        try:
            hog = [sys.executable, "-c", "x = b'x' * (96 << 20); print('survived')"]
            small = [sys.executable, "-c", "x = b'x' * (8 << 20); print('fine')"]
            before = oom_kills()
            rc, oom = run_with_memory_limit("lab02-mem", 48 << 20, hog)
            after = oom_kills()
            c.expect("exit of a 96 MiB program under 48 MiB (killed by SIGKILL)", rc, -9)
            c.expect("oom_killed you returned", oom, True)
            c.true("the kernel counted an OOM kill (/proc/vmstat oom_kill)", after > before,
                   f"more than {before}", after)
            c.expect("the cgroup was removed afterwards", cgroups.manager("lab02-mem").exists(), False)
            rc2, oom2 = run_with_memory_limit("lab02-mem-small", 48 << 20, small)
            c.expect("exit of an 8 MiB program under 48 MiB", rc2, 0)
            c.expect("oom_killed for it", oom2, False)
        finally:
            cleanup_all()
    """),

    cleanup("cleanup", """
    cleanup_all()
    print("lab02: deadloops stopped, lab02-* cgroups removed")
    """),
]
