"""state files, the template language, errors, trace (no root needed)."""
import json
import os
import threading

import pytest

from minidocker import state, trace
from minidocker.errors import CorruptState, KernelError, MinidockerError, UsageError
from minidocker.kernel import libc
from minidocker.template import render


def test_atomic_write_and_versions(tmp_path):
    p = str(tmp_path / "s.json")
    state.write_json(p, {"a": 1})
    assert state.read_json(p)["a"] == 1
    with open(p, "w") as f:
        f.write('{"a": ')
    with pytest.raises(CorruptState, match="corrupt"):
        state.read_json(p)
    with open(p, "w") as f:
        json.dump({"version": 99}, f)
    with pytest.raises(CorruptState, match="version 99"):
        state.read_json(p)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_lock_serializes(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path))
    p = str(tmp_path / "counter.json")
    state.write_json(p, {"n": 0})

    def bump():
        for _ in range(20):
            with state.lock("counter"):
                n = state.read_json(p)["n"]
                state.write_json(p, {"n": n + 1})
    ts = [threading.Thread(target=bump) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert state.read_json(p)["n"] == 80


def test_lock_timeout_is_a_message_and_leaves_no_fd_open(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path))
    with state.lock("held"):
        fds = len(os.listdir("/proc/self/fd"))
        for _ in range(3):
            with pytest.raises(MinidockerError, match="timed out .* waiting for the lock 'held'"):
                with state.lock("held", timeout=0.05):
                    pass
        assert len(os.listdir("/proc/self/fd")) == fds
        # Ctrl-C while waiting for the lock: the interrupt goes through, the fd is closed
        import signal

        def interrupt(*_):
            raise KeyboardInterrupt
        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(KeyboardInterrupt):
                with state.lock("held", timeout=5):
                    pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert len(os.listdir("/proc/self/fd")) == fds
    with state.lock("held", timeout=0.05):       # released: free again at once
        pass


def test_template():
    d = {"State": {"Pid": 42, "Running": True}, "GraphDriver": {"Name": "overlay2"}, "L": [1, 2]}
    assert render("{{.State.Pid}}", d) == "42"
    assert render("{{.GraphDriver.Name}}", d) == "overlay2"
    assert render("{{.State.Running}}", d) == "true"
    assert render("{{json .L}}", d) == "[1, 2]"
    assert render("{{range .L}}x{{.}} {{end}}", d) == "x1 x2 "
    with pytest.raises(UsageError, match="no entry for key"):
        render("{{.State.Nope}}", d)


def test_kernel_error_names_flags():
    with pytest.raises(KernelError) as e:
        libc.mount("none", "/nonexistent-dir-xyz", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV)
    assert e.value.errno in (2, 1)
    assert "MS_NOSUID|MS_NODEV" in str(e.value) and "/nonexistent-dir-xyz" in str(e.value)
    assert isinstance(e.value, OSError)


def test_trace_records_steps_from_children():
    with trace() as t:
        trace_mod = __import__("minidocker.trace", fromlist=["step"])
        trace_mod.step("test", "call()", "echo parent")
        pid = os.fork()
        if pid == 0:
            trace_mod.step("test", "call()", "echo child")
            os._exit(0)
        os.waitpid(pid, 0)
    assert t.shell() == ["echo parent", "echo child"]


def test_remove_tree_deletes_everything_but_follows_no_symlink(tmp_path):
    import os
    from minidocker.state import remove_tree
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    victim = tmp_path / "victim"
    (victim / "a" / "b").mkdir(parents=True)
    (victim / "a" / "b" / "f").write_text("x")
    (victim / "link-dir").symlink_to(outside)       # planted by a container
    (victim / "a" / "link-file").symlink_to(outside / "keep")
    os.mkfifo(victim / "fifo")
    remove_tree(str(victim))
    assert not victim.exists()
    assert (outside / "keep").read_text() == "precious"
    remove_tree(str(tmp_path / "does-not-exist"))   # no error


def test_remove_tree_survives_a_tree_deeper_than_the_recursion_limit(tmp_path):
    import os
    import sys
    from minidocker.state import remove_tree
    top = tmp_path / "deep"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(sys.getrecursionlimit() + 500):        # what `mkdir -p a/a/a/...` in a container leaves
        os.mkdir("a", dir_fd=fd)
        child = os.open("a", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    (top / "a" / "f").write_text("x")
    remove_tree(str(top))
    assert not top.exists()
