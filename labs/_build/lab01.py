"""Lab 01 -- namespaces: a hostname of its own, PID 1, and comparing namespace inodes."""
from .cells import check, cleanup, exercise, free, md, setup

NAME = "01_namespaces"
TITLE = "Lab 01 — Namespaces 命名空间"

CELLS = [
    md("intro", """
    # Lab 01 — Namespaces 命名空间

    **Goal.** Start processes in new namespaces with the library's kernel layer (not with
    `minidocker run`), and prove the isolation from *outside*: a hostname of their own, a
    process that is PID 1, and which namespaces two processes share.

    **Background.** Course section 1.6.1 (Namespace 资源隔离); lesson notebook
    [`notebooks/06-namespaces.ipynb`](../notebooks/06-namespaces.ipynb); the library's
    [`minidocker/kernel/namespaces.py`](../minidocker/kernel/namespaces.py) and
    [`minidocker/kernel/libc.py`](../minidocker/kernel/libc.py); `man 2 unshare`, `man 7 namespaces`.

    **How this lab works.** Run the cells top to bottom (as root). Each exercise is a
    cell with `# TODO` and `raise NotImplementedError`: replace that with your code. The
    grey **check** cell after it prints `PASS`/`FAIL` for each requirement, with what was
    expected and what was found. Run the check as often as you like. Do not edit the check
    cells: the grader puts its own copy back and runs your notebook again from the top, so
    only your code counts, not the outputs saved in the file. Add your own cells freely.
    Everything this lab creates is named `lab01-...`; the last cell removes it.
    """),
    setup("setup", """
    import os, subprocess, sys, time
    from minidocker.kernel import libc, mounts, namespaces as ns
    from minidocker.lab.checks import check, nsenter, wait_for

    assert os.geteuid() == 0, "the labs need root: start jupyter with sudo"
    STARTED = []                       # processes the checks start; stop_all() ends them

    def stop_all():
        while STARTED:
            p = STARTED.pop()
            if isinstance(p, subprocess.Popen):
                if p.poll() is None:
                    p.kill()
                p.wait()

    print("kernel layer ready; our namespaces:", ns.ns_inodes())
    """),

    md("ex1-md", """
    ## Exercise 1 — a hostname of its own (UTS namespace)

    Write `start_in_new_uts(hostname)`: start `sleep 600` in a **new UTS namespace** whose
    hostname is `hostname`, and return the `subprocess.Popen`. The host's hostname must not change.

    *Hints.* `subprocess.Popen(argv, preexec_fn=f)` calls `f()` in the child after `fork()`
    and before `exec()` — exactly where a runtime does its `unshare`. The kernel layer gives you
    `ns.unshare(["uts"])` (unshare(2) with `CLONE_NEWUTS`) and `libc.sethostname(name)`.
    Shell equivalent: `unshare --uts sh -c 'hostname lab01-box; exec sleep 600'`.
    """),
    exercise("ex1-code", "ex1", todo="""
    def start_in_new_uts(hostname):
        \"\"\"Start `sleep 600` in a new UTS namespace named `hostname`; return the Popen.\"\"\"
        # TODO: a function for preexec_fn that unshares the UTS namespace and sets the hostname
        raise NotImplementedError
    """, solution="""
    def start_in_new_uts(hostname):
        \"\"\"Start `sleep 600` in a new UTS namespace named `hostname`; return the Popen.\"\"\"
        def in_child():                   # runs between fork() and exec()
            ns.unshare(["uts"])           # unshare(CLONE_NEWUTS): a copy of the host's names
            libc.sethostname(hostname)    # changes the copy only
        return subprocess.Popen(["sleep", "600"], preexec_fn=in_child)
    """, wrong="""
    def start_in_new_uts(hostname):
        \"\"\"Start `sleep 600` in a new UTS namespace named `hostname`; return the Popen.\"\"\"
        def in_child():
            ns.unshare(["uts"])           # planted mistake: the hostname is never set
        return subprocess.Popen(["sleep", "600"], preexec_fn=in_child)
    """),
    free("ex1-free"),
    check("ex1-check", "ex1", """
    with check("ex1", "a process with its own UTS namespace and hostname") as c:
        host_before = os.uname().nodename
        try:
            p = start_in_new_uts("lab01-box")
            STARTED.append(p)
            c.true("start_in_new_uts returns a running Popen",
                   isinstance(p, subprocess.Popen) and p.poll() is None, "a running subprocess.Popen", p)
            inside = nsenter(p.pid, "u", ["hostname"]).stdout.strip()
            c.expect("hostname inside (nsenter -t PID -u hostname)", inside, "lab01-box")
            theirs, ours = ns.ns_inode(p.pid, "uts"), ns.ns_inode("self", "uts")
            c.true("its UTS namespace is not ours (inode of /proc/PID/ns/uts)", theirs != ours,
                   f"an inode other than {ours}", theirs)
            c.expect("the host's hostname is unchanged", os.uname().nodename, host_before)
        finally:
            stop_all()
    """),

    md("ex2-md", """
    ## Exercise 2 — PID 1, with a /proc of its own (PID + mount namespaces)

    Complete `run_as_pid1(argv)`: run `argv` as **PID 1 of a new PID namespace**, in a **new
    mount namespace** with a fresh `/proc` mounted, wait for it, and return its stdout.

    *Why two forks.* `unshare(CLONE_NEWPID)` does not move the caller: the *next child it
    forks* is PID 1 of the new namespace — that is `unshare --pid --fork`. And `/proc` shows
    the PID namespace of whoever mounted it, so PID 1 mounts it. Before mounting, make `/`
    private (`mounts.make_private("/")`): on a systemd host `/` is shared, and without it your
    `/proc` mount would propagate back over the host's `/proc` (the check looks).
    Shell equivalent: `unshare --pid --mount --fork sh -c 'mount --make-rprivate /; mount -t proc proc /proc; exec ARGV'`.
    """),
    exercise("ex2-code", "ex2", todo="""
    def run_as_pid1(argv):
        \"\"\"Run argv as PID 1 of new PID + mount namespaces with its own /proc; return its stdout.\"\"\"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                      # the child: keep it short, and always leave by os._exit
            try:
                os.close(r)
                os.dup2(w, 1)             # its stdout goes into our pipe
                # TODO 1: new PID and mount namespaces for what this child forks next
                # TODO 2: fork; in the grandchild (PID 1): make / private, mount proc on /proc
                #         (libc.mount("proc", "/proc", "proc")), then os.execvp(argv[0], argv);
                #         here: wait for the grandchild, then os._exit with its exit code
                raise NotImplementedError
            except BaseException as e:
                os.write(2, f"run_as_pid1: {e!r}\\n".encode())
                os._exit(127)
        os.close(w)
        with os.fdopen(r) as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out
    """, solution="""
    def run_as_pid1(argv):
        \"\"\"Run argv as PID 1 of new PID + mount namespaces with its own /proc; return its stdout.\"\"\"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                      # the child: keep it short, and always leave by os._exit
            try:
                os.close(r)
                os.dup2(w, 1)             # its stdout goes into our pipe
                ns.unshare(["pid", "mnt"])            # unshare(CLONE_NEWPID|CLONE_NEWNS)
                child = os.fork()                     # the first child in the new PID namespace: PID 1
                if child == 0:
                    mounts.make_private("/")          # mount --make-rprivate /
                    libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
                    os.execvp(argv[0], argv)
                _, status = os.waitpid(child, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            except BaseException as e:
                os.write(2, f"run_as_pid1: {e!r}\\n".encode())
                os._exit(127)
        os.close(w)
        with os.fdopen(r) as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out
    """, wrong="""
    def run_as_pid1(argv):
        \"\"\"Run argv as PID 1 of new PID + mount namespaces with its own /proc; return its stdout.\"\"\"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.dup2(w, 1)
                ns.unshare(["pid", "mnt"])
                # planted mistake: no second fork -- this process is not in the new PID namespace
                mounts.make_private("/")
                libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
                os.execvp(argv[0], argv)
            except BaseException as e:
                os.write(2, f"run_as_pid1: {e!r}\\n".encode())
                os._exit(127)
        os.close(w)
        with os.fdopen(r) as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out
    """),
    free("ex2-free"),
    check("ex2-check", "ex2", """
    with check("ex2", "PID 1 of a new PID namespace, with its own /proc") as c:
        script = "echo $$; ls /proc | grep -c '^[0-9]'; readlink /proc/1/ns/pid; readlink /proc/self/ns/mnt"
        out = run_as_pid1(["sh", "-c", script])
        lines = (out or "").split()
        c.expect("lines printed by the shell", len(lines), 4)
        pid_seen, nprocs, pidns, mntns = (lines + ["?"] * 4)[:4]
        c.expect("the shell's own PID ($$)", pid_seen, "1")
        c.true("processes listed in its /proc", nprocs.isdigit() and int(nprocs) <= 3,
               "at most 3 (sh, ls, grep)", nprocs)
        c.true("its PID namespace (from its /proc) is new", pidns not in ("?", os.readlink("/proc/self/ns/pid")),
               f"not {os.readlink('/proc/self/ns/pid')}", pidns)
        c.true("its mount namespace is new", mntns not in ("?", os.readlink("/proc/self/ns/mnt")),
               f"not {os.readlink('/proc/self/ns/mnt')}", mntns)
        ours = os.path.exists(f"/proc/{os.getpid()}/ns/pid")
        c.true("our /proc still shows our own processes (nothing propagated back)", ours,
               f"/proc/{os.getpid()} exists", ours)
    """),

    md("ex3-md", """
    ## Exercise 3 — which namespaces do two processes share?

    Write `shared_namespaces(pid_a, pid_b)`: the **set** of namespace kinds (`"uts"`, `"net"`, ...
    — the names in `ns.NAMESPACES`) that the two processes share. Two processes are in the same
    namespace exactly when `/proc/PID/ns/KIND` is the **same namespace inode** (`ls -l /proc/PID/ns`
    prints it as `uts:[4026531838]`).

    *Hints.* `os.stat()` follows the symlink to the namespace; `os.lstat()` would look at the
    symlink itself. The library's `ns.ns_inodes(pid)` returns `{kind: inode}`.
    """),
    exercise("ex3-code", "ex3", todo="""
    def shared_namespaces(pid_a, pid_b):
        \"\"\"The set of namespace kinds processes pid_a and pid_b share.\"\"\"
        # TODO: compare the namespace inodes of the two processes, kind by kind
        raise NotImplementedError
    """, solution="""
    def shared_namespaces(pid_a, pid_b):
        \"\"\"The set of namespace kinds processes pid_a and pid_b share.\"\"\"
        a, b = ns.ns_inodes(pid_a), ns.ns_inodes(pid_b)
        return {kind for kind in a if kind in b and a[kind] == b[kind]}
    """, wrong="""
    def shared_namespaces(pid_a, pid_b):
        \"\"\"The set of namespace kinds processes pid_a and pid_b share.\"\"\"
        kinds = [k.name for k in ns.NAMESPACES]
        # planted mistake: lstat looks at the symlink in /proc, not the namespace it points to
        ino = lambda pid, k: os.lstat(f"/proc/{pid}/ns/{k}").st_ino
        return {k for k in kinds if ino(pid_a, k) == ino(pid_b, k)}
    """),
    free("ex3-free"),
    check("ex3-check", "ex3", """
    with check("ex3", "which namespaces two processes share") as c:
        try:
            p = subprocess.Popen(["unshare", "--uts", "--ipc", "sleep", "600"])
            STARTED.append(p)
            wait_for(lambda: os.readlink(f"/proc/{p.pid}/ns/uts") != os.readlink("/proc/self/ns/uts"))
            kinds = {k.name for k in ns.NAMESPACES if os.path.exists(f"/proc/self/ns/{k.name}")}
            same = lambda k: os.readlink(f"/proc/{p.pid}/ns/{k}") == os.readlink(f"/proc/self/ns/{k}")
            expected = {k for k in kinds if same(k)}
            found = shared_namespaces(p.pid, os.getpid())
            c.expect("shared with `unshare --uts --ipc sleep 600`", found, expected)
            c.expect("shared by a process with itself", shared_namespaces(os.getpid(), os.getpid()), kinds)
        finally:
            stop_all()
    """),

    cleanup("cleanup", """
    stop_all()
    print("lab01: nothing left running")
    """),
]
