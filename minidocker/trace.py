"""The explain recorder: every kernel step and its shell equivalent.

Every function in `minidocker.kernel` calls `step(...)` right before it does
the real thing, e.g.

    step("unshare", "unshare(CLONE_NEWPID|CLONE_NEWNS)", "unshare --pid --mount --fork")

`minidocker --explain run ...` prints these lines to stderr as they happen;
from Python (a notebook) use

    with minidocker.trace() as t:
        ...
    t.steps        # list of Step
    print(t)       # the shell script a student could type instead

Steps happen in several processes (the CLI, the container monitor, the
container's init before exec). They all append JSON lines to one file opened
with O_APPEND, so a trace started in the parent sees what its children did.
The file descriptor is close-on-exec: the container's command never sees it.
"""
from __future__ import annotations

import os
import sys
import time

__all__ = ["Step", "Trace", "step", "trace", "enable_explain", "active"]

_ENV = "MINIDOCKER_TRACE_FILE"   # lets a child process (exec'd python) keep tracing
_sinks: list[int] = []           # fds we append JSON lines to
_echo = False                    # also print each step to stderr (--explain)


class Step:
    """One kernel step. A plain class, not a dataclass: every minidocker
    command imports this module, and `dataclasses` alone costs ~12 ms of
    import time here (it pulls in `inspect`), a fifth of `run`'s budget."""
    __slots__ = ("kind", "call", "shell", "pid", "t")

    def __init__(self, kind: str, call: str, shell: str = "", pid: int = 0, t: float = 0.0):
        self.kind = kind     # short tag: "unshare", "mount", "cgroup", "ip", "iptables" ...
        self.call = call     # the syscall or file write, as the kernel sees it
        self.shell = shell   # what a student types in a root shell to do the same
        self.pid = pid
        self.t = t           # time.monotonic() when it happened (to see where the time goes)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def __eq__(self, other) -> bool:
        return isinstance(other, Step) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Step({self.kind!r}, {self.call!r}, {self.shell!r}, pid={self.pid}, t={self.t})"

    def __str__(self) -> str:
        return f"{self.shell:<60}  # {self.call}" if self.shell else f"# {self.call}"


def step(kind: str, call: str, shell: str = "") -> None:
    """Record one kernel step. Cheap when nobody listens."""
    if not _sinks and not _echo:
        return
    s = Step(kind, call, shell, os.getpid(), time.monotonic())
    if _echo:
        try:
            sys.stderr.write(f"[explain] {s}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    if _sinks:
        from . import fastjson as json
        line = (json.dumps(s.as_dict(), ensure_ascii=False) + "\n").encode()
        for fd in list(_sinks):
            try:
                os.write(fd, line)
            except OSError:
                pass


def active() -> bool:
    """Is anybody recording (a trace() or --explain)? Lets a hot loop skip
    building step strings nobody will read (layer extraction: one per file)."""
    return bool(_sinks) or _echo


def enable_explain(on: bool = True) -> None:
    """Print every step to stderr from now on (the CLI's --explain)."""
    global _echo
    _echo = on
    if on:
        os.environ["MINIDOCKER_EXPLAIN"] = "1"


class Trace:
    """A recording of steps; use through `with trace() as t:`."""

    def __init__(self) -> None:
        import tempfile   # only when someone records (keeps `minidocker run` start-up light)
        fd, self.path = tempfile.mkstemp(prefix="minidocker-trace-", suffix=".jsonl")
        os.close(fd)
        self._fd = -1
        self.steps: list[Step] = []

    def __enter__(self) -> "Trace":
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        _sinks.append(self._fd)
        self._old_env = os.environ.get(_ENV)
        os.environ[_ENV] = self.path
        return self

    def __exit__(self, *exc) -> None:
        _sinks.remove(self._fd)
        os.close(self._fd)
        if self._old_env is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = self._old_env
        time.sleep(0)  # children that already exited have written everything
        from . import fastjson as json
        with open(self.path, encoding="utf-8") as f:
            self.steps = [Step(**json.loads(line)) for line in f if line.strip()]
        os.unlink(self.path)

    def shell(self) -> list[str]:
        """Just the shell equivalents, in order, without duplicates in a row."""
        out: list[str] = []
        for s in self.steps:
            if s.shell and (not out or out[-1] != s.shell):
                out.append(s.shell)
        return out

    def kinds(self) -> list[str]:
        return [s.kind for s in self.steps]

    def __str__(self) -> str:
        return "\n".join(str(s) for s in self.steps)


def trace() -> Trace:
    """Start recording kernel steps (see the module docstring)."""
    return Trace()


def _inherit_from_env() -> None:
    """A process started with MINIDOCKER_TRACE_FILE set keeps tracing into it."""
    global _echo
    path = os.environ.get(_ENV)
    if path and os.path.exists(path):
        try:
            _sinks.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC))
        except OSError:
            pass
    if os.environ.get("MINIDOCKER_EXPLAIN") == "1":
        _echo = True


_inherit_from_env()
