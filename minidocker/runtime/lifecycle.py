"""Container lifecycle verbs: create, start, stop, kill, wait, remove, refresh.

  create(config, name)      resolve nothing, validate network, write the record ("created")
  start(c, attach=...)      foreground: this process becomes the monitor; detached: fork one
  stop(c, timeout)          SIGTERM (or STOPSIGNAL), then SIGKILL after `timeout` s
  kill(c, sig)              send one signal to PID 1
  wait(c)                   block until the container is not running; its exit code
  remove(c, force)          tear down whatever is left and delete the record
  refresh(c)                notice a container whose monitor died (kill -9) and record it

PID 1 is special in a PID namespace: the kernel does not deliver signals it
has no handler for, so `stop` of a plain `sleep` only ends at SIGKILL,
after the timeout, exactly as with docker.
"""
from __future__ import annotations

import os
import time

from ..kernel import signals as signal
from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from .. import params
from ..errors import Conflict, MinidockerError, StateError
from ..trace import step
from . import records
from .monitor import Stdio, pid_start_time, run_monitor
from .records import Container, locked


def alive(c: Container) -> bool:
    """Is PID 1 still the process we started? (checks /proc/PID/stat start time)"""
    return bool(c.pid) and pid_start_time(c.pid) == c.pid_start and c.pid_start != 0


def monitor_alive(c: Container) -> bool:
    """Is the container's monitor process still alive (not gone, not a zombie)?"""
    return bool(c.monitor_pid) and pid_start_time(c.monitor_pid) != 0


def refresh(c: Container) -> Container:
    """If the record says running but nothing runs any more, clean up and record it."""
    if c.state.get("Status") in ("running", "paused", "restarting") and not alive(c) and not monitor_alive(c):
        from .monitor import _finish
        # nobody saw PID 1's exit status: 255, like docker's "unknown"
        _finish(c, 255, "the container's monitor died (was it killed?)")
    return c


def lower_dirs_for(c: Container) -> list[str]:
    if c.config.rootfs:
        return []
    from ..image.store import Store
    return Store().resolve(c.config.image_id or c.config.image).layer_dirs


def start(c: Container, attach: bool, stdin_fd: int | None = None) -> int:
    """Start a created or exited container. Returns PID 1's exit code when attached,
    0 once it is running when detached."""
    refresh(c)
    if c.running:
        if attach:
            raise StateError(f"container {c.name} is already running",
                             hint="use 'minidocker exec' or 'minidocker logs -f'")
        return 0
    with locked(c) as rec:
        rec.stop_requested = False
    lower = lower_dirs_for(c)
    if attach:
        return run_monitor(c, lower, Stdio(stdin_fd=stdin_fd, echo=True, log=True))
    return _start_detached(c, lower)


def _start_detached(c: Container, lower: list[str]) -> int:
    """Fork a monitor that leaves our session; wait until it says the container runs."""
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the monitor
        try:
            os.close(report_r)
            os.setsid()
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_RDWR)
            logfd = os.open(os.path.join(c.dir, "monitor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(devnull, 0)
            os.dup2(logfd, 1)
            os.dup2(logfd, 2)
            if os.fork() != 0:   # double fork: the monitor is nobody's child, init reaps it
                os._exit(0)
            code = run_monitor(c, lower, Stdio(stdin_fd=None, echo=False, log=True), report_w)
            os._exit(code & 0xFF)
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(125)
    os.close(report_w)
    os.waitpid(pid, 0)
    with os.fdopen(report_r, "rb") as f:
        data = f.read()
    if not data:
        raise MinidockerError(f"the monitor of {c.short_id} died before the container started",
                              hint=f"see {os.path.join(c.dir, 'monitor.log')}")
    msg = json.loads(data)
    if "error" in msg:
        err = MinidockerError(msg["error"])
        err.exit_code = msg.get("code", 125)
        raise err
    return 0


def kill(c: Container, sig: int | str = signal.SIGKILL) -> None:
    """kill(2) PID 1. Shell: `kill -SIG PID` (PID from `minidocker inspect -f '{{.State.Pid}}'`)."""
    refresh(c)
    if not c.running:
        raise StateError(f"container {c.name} is not running", hint="'minidocker start' it first")
    signum = parse_signal(sig)
    step("kill", f"kill({c.pid}, {signal.name(signum)})", f"kill -{signal.name(signum)[3:]} {c.pid}")
    try:
        os.kill(c.pid, signum)
    except ProcessLookupError:
        pass


def parse_signal(sig: int | str) -> int:
    try:
        return signal.number(sig)
    except ValueError:
        from ..errors import UsageError
        raise UsageError(f"invalid signal {sig!r}", hint="use a name like TERM, KILL, HUP or a number") from None


def wait(c: Container, timeout: float | None = None) -> int:
    """Block until the container is not running; return its exit code (docker wait)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        c.reload()
        refresh(c)
        if c.state.get("Status") in ("exited", "created", "dead"):
            return int(c.state.get("ExitCode") or 0)
        if deadline is not None and time.monotonic() > deadline:
            raise StateError(f"container {c.name} still running after {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def stop(c: Container, timeout: int | None = None) -> None:
    """SIGTERM (the image's STOPSIGNAL), wait `timeout` s, then SIGKILL (docker stop)."""
    refresh(c)
    with locked(c) as rec:
        rec.stop_requested = True
    if not c.running:
        return
    t = timeout if timeout is not None else (c.config.stop_timeout if c.config.stop_timeout is not None
                                            else params.STOP_TIMEOUT)
    if c.state.get("Paused"):
        _thaw(c)
    kill(c, c.config.stop_signal or "SIGTERM")
    try:
        wait(c, timeout=t)
        return
    except StateError:
        pass
    c.reload()
    if c.running:
        kill(c, signal.SIGKILL)
    wait(c, timeout=30)


def _thaw(c: Container) -> None:
    try:
        from ..kernel import cgroups
        cgroups.manager(c.id).thaw()
    except Exception:
        pass


def set_paused(c: Container, paused: bool) -> None:
    """Record pause/unpause (the freezer itself is kernel/cgroups' freeze/thaw)."""
    with locked(c) as rec:
        if rec.state.get("Running"):
            rec.state.update(Paused=paused, Status="paused" if paused else "running")


def remove(c: Container, force: bool = False) -> None:
    """Delete a container: kill it if forced, tear down leftovers, remove its files (docker rm)."""
    refresh(c)
    c.reload()
    if c.running:
        if not force:
            raise Conflict(f"you cannot remove a running container {c.id}. Stop the container before "
                           "attempting removal or force remove",
                           hint=f"'minidocker stop {c.name}' first, or 'minidocker rm -f {c.name}'")
        with locked(c) as rec:
            rec.stop_requested = True
        if c.state.get("Paused"):
            _thaw(c)
        try:
            kill(c, signal.SIGKILL)
        except StateError:
            pass
        wait(c, timeout=30)
        c.reload()
    teardown(c)
    records.delete_record(c)


def teardown(c: Container) -> None:
    """Remove what a (possibly crashed) container may still hold: network, cgroup, mounts."""
    if c.config.network not in ("none", "host") and not c.config.network.startswith("container:"):
        from . import network
        network.disconnect(c)
    from ..kernel import cgroups
    cgroups.manager(c.id).destroy()
    from ..kernel import mounts
    for mp in mounts.mounts_under(c.dir):
        try:
            mounts.unmount(mp, lazy=True)
        except OSError:
            pass
