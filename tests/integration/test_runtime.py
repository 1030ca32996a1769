"""The runtime core on the real kernel (issue 2): namespaces, rootfs, lifecycle, exit codes."""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import socket
import time

import pytest

from tests.helpers import md

pytestmark = pytest.mark.usefixtures("root_only", "host_clean")


def host_ns():
    return {k: os.stat(f"/proc/self/ns/{k}").st_ino for k in ("mnt", "uts", "ipc", "net", "pid", "cgroup", "user")}


def test_pid1_hostname_and_ps():
    p = md("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo $$; hostname; ps -o pid,comm; true")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "1"                                  # the shell is PID 1
    assert lines[1] != socket.gethostname() and len(lines[1]) == 12   # short container id
    procs = [ln.split() for ln in lines[3:]]
    assert sorted(p[1] for p in procs) == ["ps", "sh"]          # nothing of the host's
    assert ["1", "sh"] in procs


def test_hostname_change_stays_inside():
    before = socket.gethostname()
    p = md("run", "--rm", "--network", "none", "--hostname", "inside", "--cap-add", "SYS_ADMIN", "busybox",
           "sh", "-c", "hostname; hostname changed; hostname")
    assert p.stdout.split() == ["inside", "changed"]
    assert socket.gethostname() == before
    # without CAP_SYS_ADMIN (docker's default set) the container may not even try
    p = md("run", "--rm", "--network", "none", "busybox", "hostname", "changed")
    assert p.returncode != 0 and "not permitted" in p.stderr


def test_namespace_inodes_differ_except_user():
    p = md("run", "--rm", "--network", "none", "busybox", "sh", "-c",
           "for n in mnt uts ipc net pid cgroup user; do echo $n $(stat -L -c %i /proc/$$/ns/$n); done")
    assert p.returncode == 0, p.stderr
    inside = {ln.split()[0]: int(ln.split()[1]) for ln in p.stdout.splitlines()}
    host = host_ns()
    for kind in ("mnt", "uts", "ipc", "net", "pid", "cgroup"):
        assert inside[kind] != host[kind], kind
    assert inside["user"] == host["user"]


def test_host_files_invisible_and_mount_table_unchanged(tmp_path):
    marker = tmp_path / "host-only-marker"
    marker.write_text("x")
    with open("/proc/self/mounts") as f:
        before = f.read()
    p = md("run", "--rm", "--network", "none", "busybox", "sh", "-c",
           f"ls {marker} 2>&1; ls /.old 2>&1; cat /proc/1/mountinfo | wc -l")
    assert "No such file" in p.stdout.splitlines()[0]
    assert "No such file" in p.stdout.splitlines()[1]       # the old root is gone
    with open("/proc/self/mounts") as f:
        assert f.read() == before


@pytest.mark.parametrize("cmd,code", [("exit 0", 0), ("exit 1", 1), ("exit 42", 42),
                                      # PID 1 cannot be SIGKILLed from inside its own namespace:
                                      # the kernel drops the signal, so the shell goes on to exit 0
                                      ("kill -9 $$; exit 0", 0)])
def test_exit_codes(cmd, code):
    p = md("run", "--rm", "--network", "none", "busybox", "sh", "-c", cmd)
    assert p.returncode == code, p.stderr


def test_exec_failures_126_127():
    p = md("run", "--rm", "--network", "none", "busybox", "no-such-binary")
    assert p.returncode == 127 and "executable file not found" in p.stderr
    p = md("run", "--rm", "--network", "none", "busybox", "/etc/passwd")
    assert p.returncode == 126 and "permission denied" in p.stderr


def test_env_workdir_user():
    p = md("run", "--rm", "--network", "none", "-e", "GREETING=hello", "-w", "/tmp/work", "-u", "65534:65534",
           "busybox", "sh", "-c", "echo $GREETING; pwd; id -u; id -g")
    assert p.stdout.split() == ["hello", "/tmp/work", "65534", "65534"], p.stderr


def test_detached_lifecycle_logs_inspect_exec_stop():
    p = md("run", "-d", "--name", "rt-life", "--network", "none", "busybox",
           "sh", "-c", "echo started; trap 'echo bye; exit 3' TERM; while true; do sleep 0.1; done")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        assert len(cid) == 64
        assert md("ps", "-q").stdout.split() == [cid[:12]]
        assert md("ps", "--format", "{{.Names}} {{.Image}} {{.ID}}").stdout.split() == \
            ["rt-life", "busybox", cid[:12]]
        pid = int(md("inspect", "-f", "{{.State.Pid}}", "rt-life").stdout)
        assert os.path.exists(f"/proc/{pid}")
        assert md("inspect", "-f", "{{.GraphDriver.Name}}", "rt-life").stdout.strip() == "overlay2"
        doc = json.loads(md("inspect", "rt-life").stdout)[0]
        assert doc["State"]["Running"] is True and doc["Name"] == "/rt-life"
        # exec joins the same PID namespace: it sees PID 1
        e = md("exec", "rt-life", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
        assert e.returncode == 0, e.stderr
        assert e.stdout.splitlines()[0].startswith("sh -c echo started")
        assert int(e.stdout.splitlines()[1]) > 1
        assert md("exec", "rt-life", "sh", "-c", "exit 5").returncode == 5
        assert md("exec", "rt-life", "nope").returncode == 127
        time.sleep(0.3)
        assert md("logs", "rt-life").stdout == "started\n"
        t0 = time.monotonic()
        assert md("stop", "rt-life").returncode == 0
        assert time.monotonic() - t0 < 5                         # the trap ran: no 10 s wait
        assert md("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "rt-life").stdout.split() == ["3", "exited"]
        assert md("logs", "rt-life").stdout == "started\nbye\n"
        assert md("ps", "-q").stdout.strip() == ""
        assert cid[:12] in md("ps", "-a").stdout
    finally:
        md("rm", "-f", "rt-life")
    assert not os.path.exists(os.path.join(os.environ["MINIDOCKER_ROOT"], "lib", "containers", cid))


def test_stop_ignoring_sigterm_waits_for_timeout():
    md("run", "-d", "--name", "rt-stubborn", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        t0 = time.monotonic()
        assert md("stop", "-t", "1", "rt-stubborn").returncode == 0
        took = time.monotonic() - t0
        assert 0.9 < took < 6, took          # PID 1 ignores SIGTERM: SIGKILL after 1 s
        assert md("inspect", "-f", "{{.State.ExitCode}}", "rt-stubborn").stdout.strip() == "137"
    finally:
        md("rm", "-f", "rt-stubborn")


def test_kill_then_wait_137():
    md("run", "-d", "--name", "rt-kill", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        assert md("kill", "rt-kill").returncode == 0
        w = md("wait", "rt-kill")
        assert w.stdout.strip() == "137"
    finally:
        md("rm", "-f", "rt-kill")


def test_name_conflict_and_errors_exit_125():
    md("create", "--name", "rt-dup", "--network", "none", "busybox", check=True)
    try:
        p = md("create", "--name", "rt-dup", "--network", "none", "busybox")
        assert p.returncode == 125 and "already in use" in p.stderr and "Traceback" not in p.stderr
    finally:
        md("rm", "rt-dup")
    for args, words in [(("run", "no-such-image:1"), "No such image"),
                        (("stop", "no-such-container"), "No such container"),
                        (("run", "--restart", "sometimes", "busybox"), "restart policy"),
                        (("run", "-v", "relative:dir", "busybox"), "not absolute"),
                        (("run", "--name", "bad name!", "busybox"), "invalid container name")]:
        p = md(*args)
        assert p.returncode in (125, 1) and "Traceback" not in p.stderr, (args, p.stderr)
        assert words.lower() in p.stderr.lower(), (args, p.stderr)
    assert md("ps", "-aq").stdout.strip() == ""                 # nothing half-created


def test_rm_running_refused_then_forced():
    md("run", "-d", "--name", "rt-rm", "--network", "none", "busybox", "sleep", "60", check=True)
    p = md("rm", "rt-rm")
    assert p.returncode != 0 and "running" in p.stderr
    assert md("rm", "-f", "rt-rm").returncode == 0
    assert md("ps", "-aq").stdout.strip() == ""


def test_volumes_bind_named_tmpfs_readonly(tmp_path):
    host_dir = tmp_path / "data"
    host_dir.mkdir()
    (host_dir / "in.txt").write_text("from host\n")
    p = md("run", "--rm", "--network", "none", "-v", f"{host_dir}:/data", "-v", "rtvol:/vol",
           "--tmpfs", "/scratch", "busybox", "sh", "-c",
           "cat /data/in.txt; echo out > /data/out.txt; echo kept > /vol/file; grep -c scratch /proc/mounts")
    assert p.stdout.split() == ["from", "host", "1"], p.stderr
    assert (host_dir / "out.txt").read_text() == "out\n"
    p = md("run", "--rm", "--network", "none", "-v", "rtvol:/again", "busybox", "cat", "/again/file")
    assert p.stdout == "kept\n"                                  # the named volume outlived the container
    p = md("run", "--rm", "--network", "none", "-v", f"{host_dir}:/data:ro", "busybox", "sh", "-c",
           "echo x > /data/new 2>&1 || echo refused")
    assert "refused" in p.stdout
    p = md("run", "--rm", "--network", "none", "--read-only", "busybox", "sh", "-c", "touch /x 2>&1 || echo ro")
    assert "ro" in p.stdout.split()[-1]
    assert md("volume", "ls", "-q").stdout.split() == ["rtvol"]
    assert md("volume", "rm", "rtvol").returncode == 0


def test_cp_both_ways(tmp_path):
    src = tmp_path / "hello.txt"
    src.write_text("hi there\n")
    md("run", "-d", "--name", "rt-cp", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        assert md("cp", str(src), "rt-cp:/tmp/").returncode == 0
        assert md("exec", "rt-cp", "cat", "/tmp/hello.txt").stdout == "hi there\n"
        md("exec", "rt-cp", "sh", "-c", "echo back > /tmp/back.txt; ln -s /etc/shadow /tmp/evil", check=True)
        assert md("cp", "rt-cp:/tmp/back.txt", str(tmp_path / "got.txt")).returncode == 0
        assert (tmp_path / "got.txt").read_text() == "back\n"
        # a symlink pointing at /etc/shadow is refused, never followed into the host's file
        p = md("cp", "rt-cp:/tmp/evil", str(tmp_path / "evil"))
        assert p.returncode == 125 and "refusing to copy" in p.stderr, p.stderr
        assert not os.path.lexists(tmp_path / "evil")
    finally:
        md("rm", "-f", "rt-cp")


def test_restart_on_failure_counts():
    md("run", "-d", "--name", "rt-restart", "--network", "none", "--restart", "on-failure:2",
       "busybox", "sh", "-c", "exit 7", check=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            out = md("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "rt-restart").stdout.split()
            if out == ["2", "exited"]:
                break
            time.sleep(0.2)
        assert out == ["2", "exited"]
        assert md("inspect", "-f", "{{.State.ExitCode}}", "rt-restart").stdout.strip() == "7"
    finally:
        md("rm", "-f", "rt-restart")


def test_top_and_explain():
    md("run", "-d", "--name", "rt-top", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        out = md("top", "rt-top").stdout
        assert "sleep 60" in out and out.startswith("UID")
    finally:
        md("rm", "-f", "rt-top")
    p = md("--explain", "run", "--rm", "--network", "none", "busybox", "true")
    needles = ("echo 0 > /sys/fs/cgroup/", "unshare --mount --uts --ipc --net --pid --cgroup --fork",
               "mount -t overlay", "pivot_root . .old", "umount -l /.old", "] hostname ", "] true ")
    at = [p.stderr.find(n) for n in needles]
    assert -1 not in at, [n for n, i in zip(needles, at) if i < 0]
    assert at == sorted(at), at      # in this order: the cgroup first, so the cgroup namespace is rooted there


def test_ten_parallel_runs():
    def one(i):
        return md("run", "--rm", "--network", "none", "--name", f"rt-par-{i}", "busybox", "sh", "-c", f"echo {i}")
    with cf.ThreadPoolExecutor(10) as ex:
        results = list(ex.map(one, range(10)))
    assert [r.returncode for r in results] == [0] * 10, [r.stderr for r in results if r.returncode]
    assert sorted(int(r.stdout) for r in results) == list(range(10))
    assert md("ps", "-aq").stdout.strip() == ""


def test_run_it_and_exec_it_get_a_container_tty():
    from tests.helpers import md_tty
    rc, screen = md_tty(["run", "-it", "--rm", "--network", "none", "busybox", "sh"],
                        b"tty; echo $((6*7)); exit 3\n")
    assert rc == 3, screen
    assert "/dev/pts/0" in screen and "42" in screen
    md("run", "-d", "--name", "rt-tty", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        rc, screen = md_tty(["exec", "-it", "rt-tty", "sh"], b"tty; echo $((7*6)); exit 4\n")
        assert rc == 4, screen
        assert "/dev/pts/" in screen and "42" in screen
    finally:
        md("rm", "-f", "rt-tty")


def test_network_host_shares_host_net_and_uts():
    p = md("run", "--rm", "--network", "host", "busybox", "sh", "-c",
           "stat -L -c %i /proc/$$/ns/net; stat -L -c %i /proc/$$/ns/uts; stat -L -c %i /proc/$$/ns/pid")
    net, uts, pid = (int(x) for x in p.stdout.split())
    host = host_ns()
    assert net == host["net"] and uts == host["uts"] and pid != host["pid"]


def test_start_restart_logs_tail_follow():
    md("run", "-d", "--name", "rt-logs", "--network", "none", "busybox", "sh", "-c",
       "for i in 1 2 3; do echo line$i; done", check=True)
    try:
        assert md("wait", "rt-logs").stdout.strip() == "0"
        assert md("logs", "--tail", "2", "rt-logs").stdout == "line2\nline3\n"
        assert md("start", "rt-logs").returncode == 0          # a stopped container starts again
        assert md("wait", "rt-logs").stdout.strip() == "0"
        assert md("logs", "rt-logs").stdout.count("line1") == 2
        ts = md("logs", "-t", "--tail", "1", "rt-logs").stdout
        assert ts.startswith("20") and ts.rstrip().endswith("line3")
    finally:
        md("rm", "-f", "rt-logs")
    md("run", "-d", "--name", "rt-follow", "--network", "none", "busybox", "sh", "-c",
       "echo a; sleep 1; echo b", check=True)
    try:
        assert md("logs", "-f", "rt-follow", timeout=20).stdout == "a\nb\n"   # returns when it exits
    finally:
        md("rm", "-f", "rt-follow")


def test_restart_verb_gives_new_pid():
    md("run", "-d", "--name", "rt-rs", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        pid1 = md("inspect", "-f", "{{.State.Pid}}", "rt-rs").stdout.strip()
        assert md("restart", "-t", "0", "rt-rs").returncode == 0
        pid2 = md("inspect", "-f", "{{.State.Pid}}", "rt-rs").stdout.strip()
        assert pid1 != pid2 and md("inspect", "-f", "{{.State.Running}}", "rt-rs").stdout.strip() == "true"
    finally:
        md("rm", "-f", "rt-rs")


def test_restart_always_until_stopped():
    md("run", "-d", "--name", "rt-always", "--network", "none", "--restart", "always",
       "busybox", "sh", "-c", "sleep 0.2; exit 1", check=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if int(md("inspect", "-f", "{{.RestartCount}}", "rt-always").stdout) >= 2:
                break
            time.sleep(0.2)
        assert int(md("inspect", "-f", "{{.RestartCount}}", "rt-always").stdout) >= 2
        assert md("stop", "-t", "1", "rt-always").returncode == 0
        time.sleep(1.5)
        assert md("inspect", "-f", "{{.State.Status}}", "rt-always").stdout.strip() == "exited"
    finally:
        md("rm", "-f", "rt-always")


def test_system_prune_after_monitor_killed():
    import signal
    md("run", "-d", "--name", "rt-crash", "--network", "none", "busybox", "sleep", "60", check=True)
    doc = json.loads(md("inspect", "rt-crash").stdout)[0]
    pid = doc["State"]["Pid"]
    root = os.environ["MINIDOCKER_ROOT"]
    with open(os.path.join(root, "lib", "containers", doc["Id"], "state.json")) as f:
        monitor = json.load(f)["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)     # the shim dies: nobody will record the exit
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    # the next command notices: the record is finished, not "running" forever
    assert md("inspect", "-f", "{{.State.Status}}", "rt-crash").stdout.strip() == "exited"
    p = md("system", "prune", "-f")
    assert p.returncode == 0 and doc["Id"] in p.stdout
    assert md("ps", "-aq").stdout.strip() == ""


def test_info_version_and_container_prune():
    assert "Cgroup Version:" in md("info").stdout
    assert md("version").returncode == 0
    md("run", "--name", "rt-prune", "--network", "none", "busybox", "true", check=True)
    p = md("container", "prune", "-f")
    assert "Deleted Containers" in p.stdout
    assert md("ps", "-aq").stdout.strip() == ""


def test_python_trace_api():
    import minidocker
    from minidocker.runtime import container, lifecycle
    with minidocker.trace() as t:
        c = container.create("busybox", ["true"], network="none", auto_remove=True)
        assert lifecycle.start(c, attach=True) == 0
    shell = t.shell()
    assert any(s.startswith("unshare ") for s in shell)
    assert "pivot_root . .old" in shell


def test_unknown_user_is_a_message_not_a_traceback():
    p = md("run", "--rm", "--network", "none", "-u", "nosuchuser", "busybox", "true")
    assert p.returncode == 125 and "unable to find user nosuchuser" in p.stderr
    assert "Traceback" not in p.stderr


def test_rm_removes_a_tree_deeper_than_pythons_recursion_limit(md_root):
    """`mkdir -p a/a/a/...` 1500 deep inside a container: rm must still delete the record."""
    p = md("run", "--name", "rt-deep", "--network", "none", "busybox", "sh", "-c",
           "i=0; while [ $i -lt 1500 ]; do mkdir a && cd a; i=$((i+1)); done; echo ok")
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
    r = md("rm", "rt-deep")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    containers = os.path.join(md_root, "lib", "containers")
    assert os.listdir(containers) == [], os.listdir(containers)


def test_stop_signal_flag_is_recorded():
    md("create", "--name", "rt-stopsig", "--network", "none", "--stop-signal", "SIGUSR1", "busybox", "true",
       check=True)
    try:
        assert md("inspect", "-f", "{{.Config.StopSignal}}", "rt-stopsig").stdout.strip() == "SIGUSR1"
    finally:
        md("rm", "-f", "rt-stopsig")
