"""The container monitor: starts a container, babysits it, records how it ended.

One monitor per running container (docker has containerd-shim, podman has
conmon). In the foreground (`minidocker run` without -d) the CLI process is
the monitor; with -d it is a forked copy of it that has left the terminal.

  run_monitor(c)          start; wait; restart by policy; finish; --rm
    _start_once(c)        cgroup -> fork stage -> join cgroup, unshare -> fork PID 1 ->
                          network + state (while PID 1 mounts its root) -> "go"
    _pump(...)            copy the container's stdout/stderr to the log (and terminal)
    _finish(c, code)      record ExitCode/OOMKilled, remove network + cgroup

It is a *subreaper* (prctl PR_SET_CHILD_SUBREAPER): PID 1 is forked by the
short-lived stage process, and when that exits PID 1 is re-parented to us, so
we can waitpid() for its real exit status.
"""
from __future__ import annotations

import os
import select
import sys
import time

from ..kernel import signals as signal   # no IntEnum wrappers (see kernel/signals.py)
from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from ..plaindata import dataclass

from .. import params
from ..errors import ExecError, MinidockerError
from ..kernel import libc
from ..trace import step
from . import init as init_mod
from .faults import crash_point
from .records import Container, locked, now_iso

#: docker's default namespaces for a container (user is opt-in, like docker)
DEFAULT_NS = ["mnt", "uts", "ipc", "net", "pid", "cgroup"]


@dataclass
class Stdio:
    """Where the container's streams go: the terminal (foreground) and/or the log."""
    stdin_fd: int | None = None     # our stdin handed to the container (-i)
    echo: bool = True               # copy output to our own stdout/stderr
    log: bool = True


def namespaces_for(c) -> list[str]:
    """The namespace kinds a container (or a bare ContainerConfig) gets new ones of."""
    cfg = getattr(c, "config", c)
    kinds = list(DEFAULT_NS)
    if cfg.network == "host" or cfg.network.startswith("container:"):
        kinds.remove("net")
        if cfg.network == "host":
            kinds.remove("uts")   # docker: --network host shares the host's hostname too
    return kinds


def _cgroup_manager(c: Container):
    from ..kernel import cgroups
    return cgroups.manager(c.id)


def pid_start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: start time in clock ticks (tells pid reuse apart).

    0 when the process is gone *or a zombie* (dead, waiting for a parent that
    may never reap it, e.g. when the host's PID 1 is not a real init).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return 0
        return int(fields[19])
    except (OSError, ValueError, IndexError):
        return 0


class _Started:
    """What _start_once hands back: PID 1, its output fds, and the tty master."""

    def __init__(self, pid: int, out_fds: dict[int, str], master: int | None):
        self.pid = pid
        self.out_fds = out_fds
        self.master = master


def _start_once(c: Container, lower_dirs: list[str], stdio: Stdio) -> _Started:
    """Create cgroup, namespaces and PID 1; wire the network; let PID 1 exec.

    Raises ExecError (126/127) when the command cannot run, MinidockerError
    for anything else; in both cases nothing of this start is left behind.
    """
    cfg = c.config
    mgr = _cgroup_manager(c)
    cleanup: list = []
    try:
        if mgr is not None:
            mgr.create()
            cleanup.append(mgr.destroy)
            if cfg.resources:
                from ..kernel.cgroups import Resources
                mgr.set(Resources(**cfg.resources))
            from . import security
            security.restrict_devices(cfg, mgr)    # the device cgroup: no mknod+open of host disks
            crash_point("after-cgroup")

        # the container's stdio: a pty (-t) or pipes we read, or our own stdin (-i)
        master = None
        console_parent = console_child = None
        out_fds: dict[int, str] = {}
        child_stdio: tuple = ()
        if cfg.tty:
            import socket
            console_parent, console_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w_ = os.pipe()
            stdin = stdio.stdin_fd if (cfg.interactive and stdio.stdin_fd is not None) else os.open(os.devnull, os.O_RDONLY)
            child_stdio = (stdin, out_w, err_w_)
            out_fds[out_r] = "stdout"
            out_fds[err_r] = "stderr"

        pid_r, pid_w = os.pipe()
        go_r, go_w = os.pipe()
        err_r, err_w = os.pipe2(0)
        kinds = namespaces_for(c)
        join_netns = None
        if cfg.network.startswith("container:"):
            from . import network
            join_netns = network.netns_to_join(cfg)
        libc.set_child_subreaper()

        def child_main():
            os.close(go_w)
            os.close(err_r)
            os.set_inheritable(err_w, False)   # close-on-exec: EOF tells the monitor exec worked
            if console_parent is not None:
                console_parent.close()
            init_mod.container_main(c, lower_dirs, go_r, err_w, child_stdio or None, console_child, tuple(kinds))

        stage_pid = os.fork()
        if stage_pid == 0:
            os.close(pid_r)
            for fd in out_fds:
                os.close(fd)
            init_mod.stage(kinds, mgr.enter if mgr is not None else None, pid_w, child_main, join_netns)
        os.close(pid_w)
        os.close(go_r)
        os.close(err_w)
        for fd in set(child_stdio):
            if fd > 2 and fd != stdio.stdin_fd:
                os.close(fd)
        _, st = os.waitpid(stage_pid, 0)
        with os.fdopen(pid_r) as f:
            line = f.readline().strip()
        if not line or line.startswith("error"):
            detail = json.loads(line[6:]) if line.startswith("error ") else {"error": "the stage process died"}
            raise MinidockerError(f"cannot create the container's namespaces: {detail['error']}")
        pid = int(line)
        crash_point("after-namespaces")
        cleanup.append(lambda: _kill_quietly(pid))

        # PID 1 is now mounting its root filesystem; meanwhile, from the host side,
        # the network goes into PID 1's network namespace
        try:
            settings = {}
            if cfg.network not in ("none", "host") and not cfg.network.startswith("container:"):
                from . import network
                settings = network.connect(c, pid)
                crash_point("after-network")
                cleanup.append(lambda: network.disconnect(c))
            with locked(c) as rec:
                rec.state.update(Status="running", Running=True, Paused=False, Restarting=False,
                                 Pid=pid, ExitCode=0, Error="", OOMKilled=False, StartedAt=now_iso(),
                                 FinishedAt=rec.state.get("FinishedAt"))
                rec.monitor_pid = os.getpid()
                rec.pid_start = pid_start_time(pid)
                rec.network_settings = settings
            c.reload()
            os.write(go_w, b"go")
        except BaseException:
            # PID 1 may have failed first (say a volume could not be mounted) and be
            # gone, which is why we failed: its own report names the real cause.
            _kill_quietly(pid)
            _raise_report(err_r, pid, c)
            raise
        finally:
            os.close(go_w)
        if console_parent is not None:
            from .tty import copy_winsize, recv_fd
            console_child.close()
            master = recv_fd(console_parent)
            console_parent.close()
            if master is not None:
                out_fds[master] = "stdout"
                if stdio.stdin_fd is not None:
                    copy_winsize(stdio.stdin_fd, master)
        _raise_report(err_r, pid, c)
        crash_point("after-exec")
        return _Started(pid, out_fds, master)
    except BaseException:
        for undo in reversed(cleanup):
            try:
                undo()
            except Exception:
                pass
        raise


def _raise_report(err_r: int, pid: int, c: Container) -> None:
    """Read PID 1's report pipe to EOF: nothing means exec() worked; a JSON line
    is its error, raised as ExecError (126/127) or MinidockerError. Closes err_r."""
    with os.fdopen(err_r, "rb") as f:
        report = f.read()
    if not report:
        return
    detail = json.loads(report.decode(errors="replace").splitlines()[0])
    code = int(detail.get("code", 125))
    _wait_exit(pid)
    if code in (126, 127):
        raise ExecError(detail["error"], code)
    raise MinidockerError(f"cannot start container {c.short_id}: {detail['error']}")


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _wait_exit(pid: int) -> int:
    """waitpid(PID 1) -> docker's exit code (128+N when killed by signal N)."""
    while True:
        try:
            _, st = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
    if os.WIFSIGNALED(st):
        return 128 + os.WTERMSIG(st)
    return os.WEXITSTATUS(st)


def _log_line(logf, stream: str, data: bytes) -> None:
    """docker's json-file format: {"log": "...", "stream": "stdout", "time": "..."}."""
    text = data.decode("utf-8", errors="replace")
    for line in text.splitlines(keepends=True):
        logf.write(json.dumps({"log": line, "stream": stream, "time": now_iso()}) + "\n")
    logf.flush()


def _pump(c: Container, started: _Started, stdio: Stdio) -> int:
    """Copy output to log/terminal until PID 1 exits; return its exit code.

    One poll(2) over the container's stdout/stderr pipes (or tty master), our
    stdin (-it), and a pidfd (pidfd_open(2)), which becomes readable when
    PID 1 exits. (poll directly, not the selectors module: same call, ~1 ms
    less start-up.)
    """
    poller = select.poll()
    names: dict[int, str] = {}

    def watch(fd: int, name: str) -> None:
        names[fd] = name
        poller.register(fd, select.POLLIN)

    def unwatch(fd: int) -> None:
        poller.unregister(fd)
        names.pop(fd, None)

    for fd, name in started.out_fds.items():
        watch(fd, name)
    pidfd = os.pidfd_open(started.pid)
    watch(pidfd, "exit")
    if started.master is not None and stdio.stdin_fd is not None and c.config.interactive:
        watch(stdio.stdin_fd, "stdin")
    logf = open(c.log_path, "a", encoding="utf-8") if stdio.log else None
    out = {"stdout": sys.stdout.buffer if stdio.echo else None,
           "stderr": sys.stderr.buffer if stdio.echo else None}
    exited_at = None
    open_outputs = set(started.out_fds)
    try:
        while open_outputs:
            timeout = None if exited_at is None else max(0.0, exited_at + 0.5 - time.monotonic())
            if exited_at is not None and timeout == 0:
                break   # a leftover process still holds the pipe; PID 1 is gone, so stop
            for fd, _events in poller.poll(None if timeout is None else timeout * 1000):
                name = names.get(fd)
                if name is None:
                    continue
                if name == "exit":
                    unwatch(pidfd)
                    exited_at = time.monotonic()
                    continue
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""   # EIO: the tty's slave side closed; like EOF
                if name == "stdin":
                    if data:
                        os.write(started.master, data)
                    else:
                        unwatch(fd)
                    continue
                if not data:
                    unwatch(fd)
                    open_outputs.discard(fd)
                    continue
                if logf:
                    _log_line(logf, name, data)
                stream = out[name]
                if stream is not None:
                    try:
                        stream.write(data)
                        stream.flush()
                    except (BrokenPipeError, ValueError):
                        out[name] = None
        return _wait_exit(started.pid)
    finally:
        os.close(pidfd)
        for fd in started.out_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if logf:
            logf.close()


def _finish(c: Container, code: int, error: str = "") -> None:
    """PID 1 is gone: record the exit, then remove its network and cgroup."""
    mgr = _cgroup_manager(c)
    oom = False
    if mgr is not None:
        try:
            oom = bool(mgr.oom_killed())
        except Exception:
            oom = False
    if c.config.network not in ("none", "host") and not c.config.network.startswith("container:"):
        from . import network
        try:
            network.disconnect(c)
        except Exception as e:   # record it; prune will retry
            error = error or f"network teardown: {e}"
    if mgr is not None:
        try:
            mgr.destroy()
        except Exception as e:
            error = error or f"cgroup teardown: {e}"
    with locked(c) as rec:
        rec.state.update(Status="exited", Running=False, Paused=False, Restarting=False, Pid=0,
                         ExitCode=code, OOMKilled=oom, FinishedAt=now_iso(), Error=error)
        rec.network_settings = {}
    c.reload()


def run_monitor(c: Container, lower_dirs: list[str], stdio: Stdio, report_w: int | None = None) -> int:
    """Start the container and look after it until it is done. Returns the exit code.

    `report_w` (detached mode): after the first start we write "ok" or an error
    there, so the CLI that forked us can print the id or the error and exit.
    """
    forward = _install_signal_forwarding(c) if stdio.echo else None
    code = 125
    try:
        while True:
            try:
                started = _start_once(c, lower_dirs, stdio)
            except MinidockerError as e:
                if report_w is not None:
                    os.write(report_w, json.dumps({"error": e.message, "code": e.exit_code}).encode())
                    os.close(report_w)
                    report_w = None
                    _finish(c, e.exit_code, e.message)
                    return e.exit_code
                _finish(c, e.exit_code, e.message)
                raise
            if report_w is not None:
                os.write(report_w, b'{"ok": true}')
                os.close(report_w)
                report_w = None
            if forward is not None:
                forward["pid"] = started.pid
            code = _pump(c, started, stdio)
            if forward is not None:
                forward["pid"] = 0
            _finish(c, code)
            policy = c.config.restart
            if not policy.should_restart(code, c.restart_count, c.stop_requested):
                break
            with locked(c) as rec:
                rec.restart_count += 1
                rec.state.update(Status="restarting", Restarting=True)
            delay = min(1.0, 0.1 * (2 ** min(rec.restart_count, 4)))   # docker backs off too
            step("restart", f"restart policy {policy.name}: restart #{rec.restart_count}", "")
            time.sleep(delay)
            c.reload()
            if c.stop_requested:
                _finish(c, code)
                break
    finally:
        if c.config.auto_remove:
            from .lifecycle import remove
            try:
                c.reload()
                remove(c, force=True)
            except Exception:
                pass
    return code


def _install_signal_forwarding(c: Container) -> dict:
    """Foreground run: Ctrl-C and SIGTERM to us go to the container's PID 1 (docker's --sig-proxy)."""
    target = {"pid": 0}

    def handler(signum, frame):
        if target["pid"]:
            try:
                os.kill(target["pid"], signum)
            except ProcessLookupError:
                pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, handler)
    return target


__all__ = ["run_monitor", "Stdio", "namespaces_for", "pid_start_time", "DEFAULT_NS", "params"]
