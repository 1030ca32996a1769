"""Signal numbers and names, straight from the C module under Python's `signal`.

Why not `import signal`: that module wraps these same numbers in IntEnum
classes, and `enum` (with functools and collections behind it) costs ~4 ms
of every `minidocker run` on the lab VM. The numbers and `signal()` itself
come from `_signal`, the C part, which Python has already loaded at start-up.
Modules write `from ..kernel import signals as signal` and read as usual:
`signal.SIGKILL`, `signal.signal(signal.SIGINT, signal.SIG_IGN)`.

  name(15) -> "SIGTERM"       what `signal.Signals(15).name` gives
  number("term") -> 15        docker's spellings: TERM, SIGTERM, term, 15; ValueError otherwise
                              (kill, --stop-signal and STOPSIGNAL all read signals through it)
"""
from __future__ import annotations

import _signal
from _signal import *  # noqa: F401,F403  (SIGKILL, SIGTERM, ..., signal, SIG_IGN, pthread_sigmask)

#: every signal name -> its number (SIGRTMIN+n and SIGRTMAX-n as the kernel numbers them)
NUMBERS = {n: getattr(_signal, n) for n in dir(_signal)
           if n.startswith("SIG") and not n.startswith("SIG_") and n.isupper()}

#: number -> name; where two names share a number (SIGABRT/SIGIOT) the first
#: in alphabetical order, as `signal.Signals` picks it
NAMES: dict[int, str] = {}
for _n in sorted(NUMBERS):
    NAMES.setdefault(NUMBERS[_n], _n)


def name(signum: int) -> str:
    """15 -> 'SIGTERM'; a number without a name (34..64 in between) -> 'SIG<n>'."""
    return NAMES.get(int(signum), f"SIG{int(signum)}")


def number(text: str | int) -> int:
    """'TERM', 'SIGTERM', 'term' or '15' -> 15; ValueError for anything else,
    numbers outside 1..64 included (kill(2) would refuse them only later)."""
    s = str(text).upper()
    if s.isascii() and s.isdigit():
        if not 0 < int(s) < _signal.NSIG:
            raise ValueError(f"signal {text!r} out of range (1-{_signal.NSIG - 1})")
        return int(s)
    key = s if s.startswith("SIG") else "SIG" + s
    if key not in NUMBERS:
        raise ValueError(f"unknown signal {text!r}")
    return NUMBERS[key]
