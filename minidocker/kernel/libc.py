"""ctypes bindings for the syscalls Python's os module lacks (before 3.12).

Each wrapper raises `KernelError` (an OSError) that names the operation and
its arguments, with mount flags spelled as MS_* names, so an EINVAL from
pivot_root says *which* pivot_root failed.
"""
from __future__ import annotations

import ctypes
import os

from ..errors import KernelError

# "libc.so.6" directly: ctypes.util.find_library() runs ldconfig/gcc in a subprocess,
# which costs tens of milliseconds on every `minidocker run`.
_libc = ctypes.CDLL("libc.so.6", use_errno=True)

# --- constants, with the kernel's names (include/uapi/linux/sched.h, mount.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_MS_NAMES = {v: k for k, v in globals().items() if k.startswith("MS_") and isinstance(v, int)}
_CLONE_NAMES = {v: k for k, v in globals().items() if k.startswith("CLONE_") and isinstance(v, int)}


def flag_names(flags: int, names: dict[int, str] | None = None) -> str:
    """Spell a flag word as 'MS_BIND|MS_REC' (or CLONE_* names); '0' for none."""
    names = _MS_NAMES if names is None else names
    parts = [n for bit, n in sorted(names.items()) if bit and flags & bit == bit]
    rest = flags
    for bit, _ in names.items():
        if flags & bit == bit:
            rest &= ~bit
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) or "0"


def clone_names(flags: int) -> str:
    return flag_names(flags, _CLONE_NAMES)


def _check(ret: int, op: str, args: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise KernelError(err, op, args)
    return ret


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


# --- the syscalls -------------------------------------------------------------

def unshare(flags: int) -> None:
    """unshare(2): move this process into new namespaces.

    Shell: `unshare --mount --uts --ipc --net --pid --fork ...`.
    CLONE_NEWPID affects only the *children* created afterwards.
    """
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare", clone_names(flags))


def setns(fd: int, nstype: int = 0, what: str = "") -> None:
    """setns(2): join the namespace that the open /proc/PID/ns/X file `fd` is.

    Shell: `nsenter --target PID --mount --uts --ipc --net --pid`.
    """
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns",
           f"{what or fd}, {clone_names(nstype) if nstype else 0}")


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2). Shell: `mount -t FSTYPE -o DATA SOURCE TARGET`."""
    ret = _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    _check(ret, "mount", f"{source}, {target}, {fstype}, {flag_names(flags)}"
           + (f", {data}" if data else ""))


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2). Shell: `umount TARGET` (`umount -l` for MNT_DETACH)."""
    names = {MNT_FORCE: "MNT_FORCE", MNT_DETACH: "MNT_DETACH", MNT_EXPIRE: "MNT_EXPIRE",
             UMOUNT_NOFOLLOW: "UMOUNT_NOFOLLOW"}
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), "umount2",
           f"{target}, {flag_names(flags, names)}")


_SYS_pivot_root = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make new_root the root and move the old root to put_old.

    Shell: `cd NEW_ROOT && pivot_root . .old`. Fails with EINVAL when the
    current root or new_root is a shared mount (see mounts.make_private).
    """
    ret = _libc.syscall(ctypes.c_long(_SYS_pivot_root), _b(new_root), _b(put_old))
    _check(ret, "pivot_root", f"{new_root}, {put_old}")


def sethostname(name: str) -> None:
    """sethostname(2). Shell: `hostname NAME` (inside the new UTS namespace)."""
    b = name.encode()
    _check(_libc.sethostname(b, ctypes.c_size_t(len(b))), "sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2); e.g. PR_SET_NO_NEW_PRIVS (shell: `setpriv --no-new-privs`)."""
    return _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                              ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
                  "prctl", f"{option}, {arg2}")


def inet_dgram_socket() -> int:
    """socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, 0): an fd to hang interface ioctls on.

    (Python's `socket` module would do, but importing it costs ~3 ms, and PID 1
    needs the socket only to bring `lo` up.)
    """
    AF_INET, SOCK_DGRAM, SOCK_CLOEXEC = 2, 2, 0o2000000
    return _check(_libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", "AF_INET, SOCK_DGRAM")


def set_child_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to us.

    The container monitor uses it so that the container's PID 1 (a grandchild)
    becomes its child and it can waitpid() for the exit code.
    """
    prctl(PR_SET_CHILD_SUBREAPER, 1)
