"""Pseudo-terminal plumbing for `-it`: raw mode, window size, and copying bytes.

Shell analogy: `script -q /dev/null` or `socat - PTY`: our terminal goes raw, every
key goes to the pty master, everything the container writes comes back.
"""
from __future__ import annotations

import fcntl
import os
import struct
import sys
import termios
import tty as _tty


class raw_terminal:
    """`with raw_terminal(fd):` our terminal in raw mode (keys are sent one by one,
    Ctrl-C goes to the container), restored on the way out. Shell: `stty raw -echo`
    ... `stty sane`. (A class: PID 1 imports this module, and contextlib costs ~2 ms.)
    """

    def __init__(self, fd: int, enabled: bool = True):
        self.fd = fd
        self.old = termios.tcgetattr(fd) if enabled and os.isatty(fd) else None

    def __enter__(self) -> None:
        if self.old is not None:
            _tty.setraw(self.fd)

    def __exit__(self, *exc) -> None:
        if self.old is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.old)


def copy_winsize(src_fd: int, dst_fd: int) -> None:
    """ioctl(TIOCGWINSZ) on our terminal, ioctl(TIOCSWINSZ) on the container's (`stty size`)."""
    if not os.isatty(src_fd):
        return
    size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)


def proxy(master: int, interactive: bool) -> None:
    """Copy stdin -> master and master -> stdout until the container side closes."""
    stdin = sys.stdin.fileno()
    stdout = sys.stdout.fileno()
    copy_winsize(stdin, master)
    import selectors    # only for `exec -it` / `attach`; PID 1 imports this module too
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ)
    if interactive:
        sel.register(stdin, selectors.EVENT_READ)
    with raw_terminal(stdin, enabled=interactive):
        while True:
            for key, _ in sel.select():
                try:
                    data = os.read(key.fd, 65536)
                except OSError:
                    data = b""
                if key.fd == master:
                    if not data:
                        sel.close()
                        os.close(master)
                        return
                    os.write(stdout, data)
                elif data:
                    os.write(master, data)
                else:
                    sel.unregister(stdin)


# <asm-generic/ioctls.h>; the termios module does not export these two
TIOCGPTN = 0x80045430     # _IOR('T', 0x30, unsigned int): which /dev/pts/N is this master's
TIOCSPTLCK = 0x40045431   # _IOW('T', 0x31, int): (un)lock the slave


def open_pty_here() -> tuple[int, int]:
    """Open a new pty pair from the devpts instance mounted at /dev/pts *of this mount namespace*.

    Shell-ish: `exec 3<>/dev/ptmx` then unlock and open /dev/pts/N.
    Syscalls: open("/dev/ptmx"), ioctl(TIOCSPTLCK, 0) to unlock, ioctl(TIOCGPTN) for N,
    open("/dev/pts/N"). Called by the container's PID 1 after pivot_root, so the
    terminal lives in the container's own /dev/pts and `tty` inside prints
    /dev/pts/0 (a pty from the host's devpts would not exist in there).
    """
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("i", fcntl.ioctl(master, TIOCGPTN, struct.pack("i", 0)))[0]
    slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY)
    return master, slave


def send_fd(sock, fd: int) -> None:
    """sendmsg(2) with SCM_RIGHTS: hand an open fd to another process (runc's --console-socket)."""
    import socket as _s
    _s.send_fds(sock, [b"pty"], [fd])


def recv_fd(sock) -> int | None:
    """recvmsg(2) SCM_RIGHTS: receive the pty master; None if the sender died first."""
    import socket as _s
    msg, fds, _, _ = _s.recv_fds(sock, 16, 1)
    return fds[0] if fds else None
