"""Check helpers for the labs: PASS/FAIL per requirement, with what was expected and found.

Map of this file:
  CheckFailed          the exception a failed check cell ends with (short display, no traceback)
  Check                one exercise's requirements: .expect() .within() .contains() .true() .done()
  check(ex, title)     `with check("ex1", "...") as c:` -- a Check that also turns an exception
                       raised by the student's code (NotImplementedError, KernelError ...)
                       into a FAIL line, and calls .done() at the end
  nsenter(pid, ...)    run a command inside another process's namespaces (the checks'
                       independent way to look: it uses util-linux, not the student's code)
  wait_for(fn, ...)    poll until fn() is true or time runs out

How grading uses this (labs/grade.py): a check cell passes when it runs to
the end without an exception; `done()` raises CheckFailed when any
requirement failed. The grader re-imports this module before each check
cell, so a submission cannot patch it to always pass.

A check must be able to fail: every requirement compares a *measured*
effect (a hostname read with nsenter, a file read through the overlay, a
CPU share measured over seconds) with the expected value.
"""
from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["CheckFailed", "Check", "check", "nsenter", "wait_for"]


class CheckFailed(AssertionError):
    """Raised by Check.done() when at least one requirement failed."""

    def _render_traceback_(self) -> list[str]:
        # IPython prints this instead of a traceback: the lines above already say what failed
        return [f"CheckFailed: {self}"]


class Check:
    """The requirements of one exercise. Each method prints one PASS/FAIL line."""

    def __init__(self, exercise: str, title: str = ""):
        self.exercise, self.title = exercise, title
        self.results: list[tuple[bool, str]] = []
        print(f"[{exercise}] {title}" if title else f"[{exercise}]")

    def _record(self, ok: bool, what: str, expected: Any, found: Any) -> bool:
        line = f"  {'PASS' if ok else 'FAIL'}  {what}: expected {_show(expected)}, found {_show(found)}"
        print(line)
        self.results.append((ok, line))
        return ok

    def expect(self, what: str, found: Any, expected: Any) -> bool:
        """Requirement: found == expected."""
        return self._record(found == expected, what, expected, found)

    def within(self, what: str, found: float | None, lo: float, hi: float, unit: str = "") -> bool:
        """Requirement: lo <= found <= hi (a measurement with a tolerance)."""
        ok = found is not None and lo <= found <= hi
        shown = f"{found:.1f}{unit}" if isinstance(found, (int, float)) else found
        return self._record(ok, what, f"between {lo:g}{unit} and {hi:g}{unit}", _Raw(shown))

    def contains(self, what: str, container: Any, item: Any) -> bool:
        """Requirement: item in container."""
        try:
            ok = item in container
        except TypeError:
            ok = False
        return self._record(ok, what, _Raw(f"{_show(item)} among them"), container)

    def true(self, what: str, ok: bool, expected: Any, found: Any) -> bool:
        """Requirement with its own test: ok, described by expected/found."""
        return self._record(bool(ok), what, expected, found)

    def error(self, exc: BaseException) -> None:
        """The student's code raised: that is a failed requirement, never a crash of the check."""
        if isinstance(exc, NotImplementedError):
            found = _Raw("NotImplementedError (the TODO is not done yet)")
        else:
            found = _Raw(f"{type(exc).__name__}: {exc}")
        self._record(False, "your code runs", _Raw("no exception"), found)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for ok, _ in self.results)

    def done(self) -> None:
        n = sum(ok for ok, _ in self.results)
        verdict = "PASS" if self.passed else "FAIL"
        print(f"{self.exercise}: {n}/{len(self.results)} requirements met -> {verdict}")
        if not self.passed:
            raise CheckFailed(f"{self.exercise}: {len(self.results) - n} requirement(s) not met")


class _Raw(str):
    """A value printed as is (not repr'd)."""


def _show(v: Any) -> str:
    if isinstance(v, _Raw):
        return str(v)
    s = repr(v)
    return s if len(s) <= 300 else s[:297] + "..."


@contextmanager
def check(exercise: str, title: str = "") -> Iterator[Check]:
    """`with check("ex1", "what is checked") as c: ...`; ends with c.done().

    An exception inside the block (usually from calling the student's
    function) becomes a FAIL line; the cell then ends with CheckFailed.
    """
    c = Check(exercise, title)
    try:
        yield c
    except CheckFailed:
        raise
    except Exception as e:   # noqa: BLE001 -- any error of the student's code is a FAIL
        c.error(e)
    c.done()


def nsenter(pid: int, kinds: str, argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess:
    """Run argv inside process pid's namespaces with util-linux nsenter.

    kinds: nsenter's short options, e.g. "u" (UTS), "n" (net), "m" (mount), "p" (pid).
    Shell: nsenter -t PID -u -n ARGV
    """
    opts = [f"-{k}" for k in kinds]
    return subprocess.run(["nsenter", "-t", str(pid), *opts, "--", *argv],
                          capture_output=True, text=True, timeout=timeout)


def wait_for(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Call fn until it returns something true; return that (or the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)

