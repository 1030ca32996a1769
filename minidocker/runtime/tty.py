"""Pseudo-terminal plumbing for `-it`: raw mode, window size, and copying bytes.

Shell analogy: `script -q /dev/null` or `socat - PTY`: our terminal goes raw, every
key goes to the pty master, everything the container writes comes back.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import struct
import sys
import termios
import tty as _tty


@contextlib.contextmanager
def raw_terminal(fd: int):
    """Put our terminal in raw mode (keys are sent one by one, Ctrl-C goes to the container)."""
    if not os.isatty(fd):
        yield
        return
    old = termios.tcgetattr(fd)
    try:
        _tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


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
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ)
    if interactive:
        sel.register(stdin, selectors.EVENT_READ)
    with raw_terminal(stdin) if interactive else contextlib.nullcontext():
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
