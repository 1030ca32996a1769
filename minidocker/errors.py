"""Every error minidocker raises on purpose.

Map of this file:
  MinidockerError        base class: a message and a hint (what to do about it)
    UsageError           a bad flag value or argument            -> exit 125
    NotFound             no such container / image / network     -> exit 125
    Conflict             a name already in use, a port taken     -> exit 125
    StateError           a container in the wrong state          -> exit 125
    CorruptState         a state file we cannot read             -> exit 125
    ImageError           a bad image, layer or reference         -> exit 125
    BuildError           a bad Dockerfile (names file and line)  -> exit 125
    RegistryError        a registry said no, or lied             -> exit 125
    KernelError          a syscall failed; keeps errno           -> exit 125
    ExecError            the container's command could not start -> exit 126/127

`cli.main` is the one place that turns these into "minidocker: <message>" plus
a "hint:" line and an exit code; nothing else prints tracebacks for them.
"""
from __future__ import annotations

import errno as _errno
import os


class MinidockerError(Exception):
    """Base class. `hint` tells the user what to do; `exit_code` is docker's."""

    exit_code = 125
    hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MinidockerError):
    """A flag or argument has a value we cannot use."""


class NotFound(MinidockerError):
    """A container, image, volume or network that does not exist."""


class Conflict(MinidockerError):
    """Something already taken: a container name, a host port, a subnet."""


class StateError(MinidockerError):
    """The object exists but is in the wrong state (e.g. not running)."""


class CorruptState(MinidockerError):
    """A state file that is unreadable or of an unknown version."""

    hint = "run 'minidocker system prune -f' to remove broken records"


class ImageError(MinidockerError):
    """A bad image: reference, manifest, config, layer or tar entry."""


class BuildError(MinidockerError):
    """A Dockerfile problem; the message names the file and line."""


class RegistryError(MinidockerError):
    """A registry refused us, answered nonsense, or served a wrong digest."""


class ExecError(MinidockerError):
    """The container's command could not be executed (126) or found (127)."""

    def __init__(self, message: str, exit_code: int = 127, hint: str | None = None):
        super().__init__(message, hint)
        self.exit_code = exit_code


class KernelError(MinidockerError, OSError):
    """A system call failed. Keeps errno, the operation and its arguments.

    str() reads like: "mount(overlay, /x/merged, overlay, MS_NODEV|MS_NOSUID,
    lowerdir=...): [Errno 22] Invalid argument".
    """

    def __init__(self, err: int, op: str, args: str = "", hint: str | None = None):
        text = f"{op}({args}): [Errno {err}] {os.strerror(err)}"
        MinidockerError.__init__(self, text, hint)
        # OSError's own fields, so `except OSError as e: e.errno` works too.
        self.errno = err
        self.strerror = os.strerror(err)
        self.op = op
        self.op_args = args
        self.args = (err, text)

    def __str__(self) -> str:
        return self.message

    @property
    def errname(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


def need_root() -> None:
    """Raise a clear error when not running as root (namespaces need it)."""
    if os.geteuid() != 0:
        raise MinidockerError(
            "minidocker needs root: namespaces, mounts and cgroups are root-only here",
            hint="run it with sudo, or as root inside the lab VM",
        )
