"""pytest plugin loaded inside the v2 guest (`-p guest_report`): results as JSON.

Map:
  pytest_collectreport      -> a test file that cannot even be imported
  pytest_runtest_logreport  -> one record per test (outcome, duration, failure text)
  pytest_sessionfinish      -> final summary (collected, exit status)
  _dump                     -> rewrite results.json atomically after each test

The host (tests/integration/test_v2_guest.py) reads `$V2GUEST_RESULTS/results.json`
from the results 9p share. It is rewritten after every test, so even a guest
that hangs or crashes halfway leaves the results of the tests that did finish.
"""
from __future__ import annotations

import json
import os
import time

_state: dict = {"tests": {}, "collected": None, "exitstatus": None, "finished": False}


def _dump() -> None:
    out = os.environ.get("V2GUEST_RESULTS")
    if not out:
        return
    path = os.path.join(out, "results.json")
    with open(path + ".tmp", "w") as f:
        json.dump(_state, f, indent=1)
    os.replace(path + ".tmp", path)


def pytest_collection_finish(session) -> None:
    _state["collected"] = len(session.items)
    _state["t_collected"] = time.monotonic()
    _dump()


def pytest_collectreport(report) -> None:
    if report.failed:   # an import error in a test file: nothing of it runs
        _state["tests"][report.nodeid or "<collection>"] = {
            "outcome": "error", "when": "collect", "duration": 0.0,
            "longrepr": str(report.longrepr)[-6000:]}
        _dump()


def pytest_runtest_logreport(report) -> None:
    rec = _state["tests"].setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0})
    rec["duration"] += report.duration
    if report.when == "call" and hasattr(report, "wasxfail"):
        rec["outcome"] = "xpassed" if report.passed else "xfailed"
    elif report.skipped:
        rec["outcome"] = "skipped"
        # longrepr of a skip is (file, line, reason)
        lr = report.longrepr
        rec["reason"] = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    elif report.failed:
        rec["outcome"] = "failed" if report.when == "call" else "error"
        rec["when"] = report.when
        rec["longrepr"] = str(report.longrepr)[-6000:]
        for name, text in report.sections:
            rec.setdefault("sections", []).append([name, text[-3000:]])
    if report.when == "call" and report.passed and report.capstdout:
        rec["stdout"] = report.capstdout[-1000:]      # e.g. the measured CPU shares
    if report.when == "teardown":
        _dump()


def pytest_sessionfinish(session, exitstatus) -> None:
    _state["exitstatus"] = int(exitstatus)
    _state["finished"] = True
    _dump()
