"""`minidocker exec`: run one more process inside a running container.

Shell equivalent:
  echo 0 > CGROUP/tasks          (v1; v2: echo 0 > CGROUP/cgroup.procs)
  nsenter --target PID --mount --uts --ipc --net --pid --cgroup -- env -i K=V... sh -c 'cd DIR && exec CMD'

How: we fork a helper that joins the container's cgroup and setns(2)s into
each of PID 1's namespaces. Joining a PID namespace only applies to
children, so the helper forks once more; that grandchild *is* in the
container's PID namespace (PID 1 is its ancestor there) and execs the
command. The helper exits at once; we are a subreaper, so the grandchild
becomes our child and we wait for its exit code.
"""
from __future__ import annotations

import os

from ..kernel import signals as signal
from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from ..errors import ExecError, MinidockerError, StateError
from ..kernel import libc, namespaces
from . import security
from . import tty as tty_mod
from .init import _describe, _setup_stdio, execvpe, resolve_user
from .lifecycle import refresh
from .monitor import namespaces_for
from .records import Container


def exec_in(c: Container, argv: list[str], env: list[str] | None = None, workdir: str | None = None,
            user: str | None = None, tty: bool = False, interactive: bool = False) -> int:
    """Run argv in container c; return its exit code (126/127 if it cannot start)."""
    refresh(c)
    if not c.running:
        raise StateError(f"container {c.name} is not running", hint=f"'minidocker start {c.name}' first")
    if c.state.get("Paused"):
        raise StateError(f"container {c.name} is paused", hint=f"'minidocker unpause {c.name}' first")
    if not argv:
        raise MinidockerError("no command given", hint="minidocker exec CONTAINER CMD [ARG...]")
    kinds = namespaces_for(c)
    base_env = dict(e.split("=", 1) for e in c.config.env)
    for item in env or []:
        k, eq, v = item.partition("=")
        base_env[k] = v if eq else os.environ.get(k, "")
    base_env.setdefault("HOSTNAME", c.config.hostname)
    wd = workdir or c.config.workdir or "/"
    spec_user = user if user is not None else c.config.user

    master = None
    sock_parent = sock_child = None
    if tty:
        import socket
        sock_parent, sock_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stdio = ()
    else:
        stdio = (0 if interactive else os.open(os.devnull, os.O_RDONLY), 1, 2)
    err_r, err_w = os.pipe()
    libc.set_child_subreaper()
    from ..kernel import cgroups
    mgr = cgroups.manager(c.id)
    helper = os.fork()
    if helper == 0:
        try:
            os.close(err_r)
            if mgr is not None:
                mgr.enter()      # v1: via `tasks`, no RCU wait (see ManagerV1.enter)
            namespaces.enter(c.pid, kinds)
            child = os.fork()
            if child == 0:
                try:
                    os.set_inheritable(err_w, False)
                    uid, gid, groups, home = resolve_user(spec_user)
                    base_env.setdefault("HOME", home)
                    os.chdir(wd)
                    child_stdio = stdio
                    if sock_child is not None:
                        # the pty comes from the container's /dev/pts (see runtime/tty.py)
                        m, sl = tty_mod.open_pty_here()
                        tty_mod.send_fd(sock_child, m)
                        os.close(m)
                        sock_child.close()
                        child_stdio = (sl, sl, sl)
                    _setup_stdio(child_stdio, tty)
                    security.confine(c.config, uid, gid, groups)
                    try:
                        execvpe(argv, base_env)
                    except FileNotFoundError:
                        raise ExecError(f'exec: "{argv[0]}": executable file not found in $PATH', 127) from None
                    except PermissionError:
                        raise ExecError(f'exec: "{argv[0]}": permission denied', 126) from None
                except BaseException as e:
                    os.write(err_w, json.dumps(_describe(e)).encode())
                    os._exit(getattr(e, "exit_code", 126))
            os._exit(0)
        except BaseException as e:
            os.write(err_w, json.dumps(_describe(e)).encode())
            os._exit(125)
    os.close(err_w)
    if tty:
        sock_child.close()
        master = tty_mod.recv_fd(sock_parent)
        sock_parent.close()
    elif not interactive:
        os.close(stdio[0])
    _, st = os.waitpid(helper, 0)
    if master is not None:
        tty_mod.proxy(master, interactive)
    with os.fdopen(err_r, "rb") as f:
        report = f.read()
    if report:
        detail = json.loads(report)
        # wait for the failed child so it does not linger as a zombie
        _reap_any()
        code = int(detail.get("code", 126))
        if code in (126, 127):
            raise ExecError(detail["error"], code)
        raise MinidockerError(detail["error"])
    if os.WEXITSTATUS(st) != 0:
        raise MinidockerError("exec failed before the command started")
    return _reap_any()


def _reap_any() -> int:
    """Wait for our re-parented grandchild (the exec'd command)."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C belongs to the command
    try:
        while True:
            try:
                _, st = os.waitpid(-1, 0)
            except ChildProcessError:
                return 0
            except InterruptedError:
                continue
            if os.WIFSIGNALED(st):
                return 128 + os.WTERMSIG(st)
            return os.WEXITSTATUS(st)
    finally:
        signal.signal(signal.SIGINT, old)
