"""The container's first process: from fork() to exec() (xv6's main.c, read top to bottom).

Who runs what:
  monitor  (host)        creates the cgroup, forks the "stage" process, wires the network,
                         then says "go" and waits for PID 1 to exit
  stage    (host PIDs)   joins the cgroup, unshare()s the namespaces, forks PID 1, exits
  PID 1    (container)   builds the root filesystem and pivots into it, waits for "go",
                         drops privileges, execs the command

PID 1 builds its root filesystem *while* the monitor wires the network and
writes the state record (runc splits the same way: `runc create` prepares,
`runc start` says go). Nothing PID 1 does before "go" runs the user's code,
so the network is in place before the command starts.

Everything in this file runs between fork() and exec(): it stays short, touches
no shared state, and reports failures to the monitor as one JSON line on a
close-on-exec pipe (if exec succeeds the pipe just closes: that EOF *is* the
success message).
"""
from __future__ import annotations

import fcntl
import os
import struct
import termios

# Everything PID 1 needs after pivot_root is imported here, at the top: by then
# the host's files (this package included) are gone, so a lazy import would fail.
# (Only code that runs before pivot_root, like volume mounts, imports lazily.)

from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from .. import params
from ..kernel import libc, mounts, namespaces, overlay
from ..kernel.mounts import secure_join
from ..trace import step
from . import security, tty
from .faults import crash_point


def stage(kinds: list[str], cgroup_enter, pid_w: int, child_main, join_netns: str | None = None) -> None:
    """Runs in the stage process. Never returns.

    Shell: `echo 0 > CGROUP/tasks; unshare --pid --mount ... --fork CHILD`.
    The cgroup comes first: a new cgroup namespace is rooted at the cgroup
    its creator is in, and children are born in their parent's cgroup.
    With --network container:NAME we first join that container's network
    namespace (`nsenter --net=/proc/PID/ns/net`), and do not make a new one.
    """
    code = 0
    try:
        if cgroup_enter is not None:
            cgroup_enter()
        if join_netns:
            fd = os.open(join_netns, os.O_RDONLY | os.O_CLOEXEC)
            step("setns", f"setns({join_netns}, CLONE_NEWNET)", f"nsenter --net={join_netns}")
            try:
                libc.setns(fd, libc.CLONE_NEWNET, join_netns)
            finally:
                os.close(fd)
        namespaces.unshare(kinds)
        pid = os.fork()
        if pid == 0:
            child_main()           # never returns
            os._exit(125)
        os.write(pid_w, f"{pid}\n".encode())
    except BaseException as e:  # report anything to the monitor, then die
        os.write(pid_w, ("error " + json.dumps(_describe(e)) + "\n").encode())
        code = 125
    os._exit(code)


def _describe(e: BaseException) -> dict:
    msg = str(e) or e.__class__.__name__
    expected = isinstance(e, (OSError, _ExecFailure)) or hasattr(e, "hint")   # ours or the kernel's
    if not expected or os.environ.get("MINIDOCKER_DEBUG"):   # a bug: show where it happened
        try:
            import traceback     # only for bugs; may fail after pivot_root, then the message must do
            msg += "\n" + "".join(traceback.format_exception(e)).rstrip()
        except ImportError:
            pass
    return {"error": msg, "code": getattr(e, "exit_code", 125)}


def container_main(c, lower_dirs: list[str], go_r: int, err_w: int, stdio: tuple[int, int, int] | None,
                   console_sock=None, own_namespaces: tuple[str, ...] = ()) -> None:
    """PID 1 of the container, up to exec(). Never returns.

    The steps, each a call into kernel/:
      1. make every mount private                      mount --make-rprivate /
      2. mount the image layers + upper dir             mount -t overlay ...
      3. volumes, /etc/hosts, /etc/resolv.conf, tmpfs   mount --bind / mount -t tmpfs
      4. /proc, /sys (read-only), /dev                  mount -t proc ...
      5. pivot_root into the new root, drop the old     pivot_root . .old; umount -l /.old
      6. hostname; look up the user, make the workdir   hostname ID; mkdir -p DIR
      7. wait for the monitor's "go" (network wired, state recorded)
      8. drop privileges, enter the working directory   setpriv / cd / env
      9. exec the command                               exec CMD
    """
    try:
        cfg = c.config
        rootfs = c.merged_dir

        if "net" in own_namespaces:
            loopback_up()                  # a new netns starts with lo DOWN
        mounts.make_private("/")
        if cfg.rootfs:       # an OCI bundle: its rootfs directory is the root, as with runc
            mounts.bind_mount(cfg.rootfs, rootfs)
        else:
            overlay.mount_overlay(lower_dirs, c.upper_dir, c.work_dir, rootfs)
        _mount_volumes(c, rootfs)
        _mount_etc_files(c, rootfs)
        mounts.mount_proc(rootfs)
        mounts.mount_sys(rootfs)
        mounts.mount_dev(rootfs)
        for m in cfg.mounts:
            if m.kind == "tmpfs":
                target = secure_join(rootfs, m.target)
                mounts.mount_fs("tmpfs", target, libc.MS_NOSUID | libc.MS_NODEV, m.options or "mode=1777")
        mounts.pivot_root_to(rootfs)
        security.after_pivot(cfg)          # masked /proc paths, read-only /proc/sys ...
        crash_point("after-mount")
        if cfg.read_only:
            mounts.remount_readonly("/")

        if cfg.network != "host":
            step("hostname", f"sethostname({cfg.hostname})", f"hostname {cfg.hostname}")
            libc.sethostname(cfg.hostname)

        env = dict(e.split("=", 1) for e in cfg.env)
        uid, gid, groups, home = resolve_user(cfg.user)
        env.setdefault("HOME", home)
        env.setdefault("HOSTNAME", cfg.hostname)
        env.setdefault("PATH", params.DEFAULT_PATH)
        if cfg.tty:
            env.setdefault("TERM", "xterm")
        workdir = cfg.workdir or "/"
        os.makedirs(workdir, exist_ok=True)   # docker creates a missing WORKDIR too

        if os.read(go_r, 2) != b"go":
            os._exit(125)   # the monitor gave up on us
        os.close(go_r)

        if console_sock is not None:
            # -t: the terminal comes from the container's own /dev/pts; the monitor gets the master
            master, slave = tty.open_pty_here()
            tty.send_fd(console_sock, master)
            os.close(master)
            console_sock.close()
            stdio = (slave, slave, slave)
        _setup_stdio(stdio, console_sock is not None)
        security.confine(cfg, uid, gid, groups)
        os.chdir(workdir)
        argv = list(cfg.argv)
        if not argv:
            raise _exec_error("no command specified", 125)
        step("exec", f"execve({argv[0]}, {argv})", " ".join(argv))
        try:
            execvpe(argv, env)
        except FileNotFoundError:
            raise _exec_error(f'exec: "{argv[0]}": executable file not found in $PATH', 127) from None
        except PermissionError:
            raise _exec_error(f'exec: "{argv[0]}": permission denied', 126) from None
        except OSError as e:
            raise _exec_error(f'exec: "{argv[0]}": {e.strerror}', 126) from None
    except BaseException as e:
        try:
            os.write(err_w, (json.dumps(_describe(e)) + "\n").encode())
        finally:
            os._exit(getattr(e, "exit_code", 125))


class _ExecFailure(Exception):
    def __init__(self, msg: str, code: int):
        super().__init__(msg)
        self.exit_code = code


def execvpe(argv: list[str], env: dict[str, str]) -> None:
    """execve(2) argv[0], looked up in the container's $PATH as execvp(3) does.

    Shell: `exec CMD ARGS...` (the shell searches PATH the same way). Not
    os.execvpe: it imports `warnings` on the way, and after pivot_root the
    host's Python library is out of reach. Returns only by raising what the
    last execve raised: FileNotFoundError when no directory has the file,
    PermissionError when one had it but not executable (that wins, as in execvp).
    """
    name = argv[0]
    if "/" in name:
        os.execve(name, argv, env)
    denied = None
    for d in (env.get("PATH") or params.DEFAULT_PATH).split(":"):
        try:
            os.execve(os.path.join(d or ".", name), argv, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError as e:
            denied = e
    raise denied or FileNotFoundError(2, "executable file not found in $PATH", name)


def _exec_error(msg: str, code: int) -> _ExecFailure:
    return _ExecFailure(msg, code)


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """ioctl(SIOCSIFFLAGS, IFF_UP) on "lo" of the current network namespace.

    Shell: `ip link set lo up`. (Plain ioctl rather than netlink, so PID 1
    imports neither `socket` nor kernel/rtnl.py.)
    """
    step("ip", "ioctl(SIOCSIFFLAGS, lo, IFF_UP)", "ip link set lo up")
    s = libc.inet_dgram_socket()
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        os.close(s)


def _setup_stdio(stdio: tuple[int, int, int], setsid_tty: bool) -> None:
    """dup2 the prepared fds onto 0, 1, 2; with a tty, make it our controlling terminal.

    Shell equivalent: `setsid --ctty CMD <TTY >TTY 2>TTY`.
    """
    if setsid_tty:
        os.setsid()
        fcntl.ioctl(stdio[0], termios.TIOCSCTTY, 0)
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)
    for fd in set(stdio):
        if fd > 2:
            os.close(fd)


def _mount_volumes(c, rootfs: str) -> None:
    """Bind mounts (-v /host:/ctr) and named volumes (-v name:/ctr) into the new root.

    A named volume that is still empty is first filled with what the image
    has at that path, as docker does (so `-v data:/etc/x` starts with x's files).
    """
    for m in c.config.mounts:
        if m.kind == "tmpfs":
            continue
        from . import volumes      # only with -v; still before pivot_root, so the import works
        target = secure_join(rootfs, m.target)
        src = m.source if m.kind == "bind" else volumes.data_dir(m.source)
        if os.path.isdir(src) or not os.path.exists(src):
            if m.kind == "volume" and os.path.isdir(target) and not os.listdir(src):
                volumes.seed_from(target, src)
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        mounts.bind_mount(src, target, readonly=m.readonly)


def _mount_etc_files(c, rootfs: str) -> None:
    """Bind the container's own hosts, resolv.conf and hostname files over /etc's.

    Shell: `mount --bind L/containers/ID/hosts ROOTFS/etc/hosts` (three times).
    The files live in the container's directory, so the network code can
    update them in place while the container runs (e.g. a new peer name).
    """
    etc = secure_join(rootfs, "/etc")
    os.makedirs(etc, exist_ok=True)
    for name in ("hosts", "resolv.conf", "hostname"):
        src = os.path.join(c.dir, name)
        if not os.path.exists(src):
            continue
        target = secure_join(rootfs, f"/etc/{name}")
        if not os.path.exists(target):
            open(target, "a").close()
        mounts.bind_mount(src, target, recursive=False)


def resolve_user(spec: str) -> tuple[int, int, list[int], str]:
    """--user NAME|UID[:GROUP|GID] -> (uid, gid, supplementary gids, home), read from the
    container's /etc/passwd and /etc/group (we are already inside its root)."""
    user, _, group = (spec or "0").partition(":")
    # rows with non-numeric ids are skipped: an image's files are input, not trusted
    passwd = [r for r in _read_db("/etc/passwd") if len(r) >= 6 and r[2].isdigit() and r[3].isdigit()]
    groups_db = [r for r in _read_db("/etc/group") if len(r) >= 3 and r[2].isdigit()]
    row = next((r for r in passwd if user in (r[0], r[2])), None)
    if row is not None:
        name, uid, gid, home = row[0], int(row[2]), int(row[3]), row[5] or "/"
    elif user.isdigit():
        name, uid, gid = None, int(user), 0
        home = "/root" if uid == 0 else "/"
    else:
        raise _ExecFailure(f"unable to find user {user}: no matching entries in passwd file", 125)
    if group.isdigit():
        gid = int(group)
    elif group:
        match = next((r for r in groups_db if r[0] == group), None)
        if match is None:
            raise _ExecFailure(f"unable to find group {group}: no matching entries in group file", 125)
        gid = int(match[2])
    extra = [int(r[2]) for r in groups_db if len(r) > 3 and name and name in r[3].split(",")]
    return uid, gid, extra, home


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [ln.rstrip("\n").split(":") for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError:
        return []


__all__ = ["stage", "container_main", "resolve_user"]
