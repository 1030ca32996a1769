"""The cgroup v2 backend on a real pure-v2 kernel: pytest inside a qemu guest.

This host (and CI) is cgroup v1 hybrid, the students' EL9 VM is pure v2. The
session fixture boots ONE throwaway guest (Debian's kernel, the host's own /
read-only + tmpfs overlay, cgroup2 with cpu/memory/pids/cpuset delegated),
runs the selection there (tests/vm/v2guest.py: DEFAULT_SELECTION, or
$MINIDOCKER_V2GUEST_TESTS), and each test here reports one guest file:
failures show the guest's own failure text.

Map:
  v2_guest (session fixture)   build the cache if needed, boot once, register the summary line
  test_guest_reported          the guest booted, ran pytest and reported back
  test_in_guest[<file>]        every test of that file passed in the guest (at least one ran)

Skips (saying why) without root, qemu, kmod, busybox-static or the kernel
package; never passes when the guest ran nothing or did not report.
Timings (boot-to-result, TCG vs KVM) are in docs/v2-guest.md.
Run:  .venv/bin/pytest -v tests/integration/test_v2_guest.py
"""
from __future__ import annotations

import os

import pytest

from tests.vm import v2guest

SELECTION = v2guest.default_selection()
pytestmark = [pytest.mark.root, pytest.mark.slow]


class _SummaryLine:
    """pytest plugin registered by the fixture: one line in the terminal summary
    saying which backend ran on which real kernel, with the guest's counts."""

    def __init__(self, result: v2guest.GuestResult):
        self.r = result

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        tr.write_sep("-", "cgroup v2 guest")
        for f in SELECTION:
            c = self.r.counts(f)
            counts = ", ".join(f"{n} {k}" for k, n in sorted(c.items())) or "no results"
            what = "cgroup v2 backend" if "cgroups_v2" in f else f
            tr.write_line(f"{what}: ran on real kernel {self.r.facts.get('kernel', '?')} in qemu guest "
                          f"({self.r.accel}, {self.r.smp} vcpu, {self.r.seconds:.0f} s): {counts}")


@pytest.fixture(scope="session")
def v2_guest(request) -> v2guest.GuestResult:
    if os.geteuid() != 0:
        pytest.skip("the v2 guest needs root (9p export of /, cgroups inside)")
    if not SELECTION:
        pytest.skip("no test file of the v2 selection exists")
    try:
        manifest = v2guest.build()
    except v2guest.Unavailable as e:
        pytest.skip(f"no cgroup v2 guest on this host: {e}")
    result = v2guest.boot(SELECTION, v2guest.new_results_dir(), manifest=manifest)
    request.config.pluginmanager.register(_SummaryLine(result), "v2guest-summary")
    return result


def _describe(r: v2guest.GuestResult) -> str:
    return (f"guest: {r.summary()}; rc={r.rc}{' TIMED OUT' if r.timed_out else ''}\n"
            f"(console, log, results.json kept in {r.dir})\n"
            f"--- last lines of the guest's output ---\n{r.tail()}")


def test_guest_reported(v2_guest, record_testsuite_property):
    r = v2_guest
    record_testsuite_property("v2_guest", r.summary())
    record_testsuite_property("v2_guest_facts", r.facts)
    assert not r.timed_out, f"the guest did not finish in time\n{_describe(r)}"
    assert r.rc is not None, f"the guest never reported an exit code\n{_describe(r)}"
    assert r.facts.get("fstype") == "cgroup2", f"guest /sys/fs/cgroup is not cgroup2\n{_describe(r)}"
    assert r.results.get("collected"), f"the guest collected no tests\n{_describe(r)}"
    assert r.results.get("finished"), f"the guest's pytest did not finish\n{_describe(r)}"
    failed = [k for k, v in r.tests().items() if v["outcome"] in ("failed", "error")]
    # rc 1 = some test failed (test_in_guest says which); anything else non-zero
    # (usage error, internal error, a crash at session end) fails here
    assert r.rc == 0 or (r.rc == 1 and failed), f"the guest's pytest exited {r.rc}\n{_describe(r)}"


@pytest.mark.parametrize("path", SELECTION)
def test_in_guest(v2_guest, path, record_testsuite_property):
    r = v2_guest
    recs = r.tests(path)
    record_testsuite_property(f"v2_guest_counts {path}", r.counts(path))
    assert recs, f"no test of {path} ran in the guest\n{_describe(r)}"
    assert r.results.get("finished"), f"the guest's pytest stopped halfway\n{_describe(r)}"
    bad = {k: v for k, v in recs.items() if v["outcome"] in ("failed", "error")}
    if bad:
        text = "\n\n".join(f"=== {k} ({v['outcome']} in {v.get('when', 'call')}) ===\n{v.get('longrepr', '')}"
                           for k, v in bad.items())
        pytest.fail(f"{len(bad)} of {len(recs)} tests of {path} failed on kernel "
                    f"{r.facts.get('kernel')} in the guest:\n{text}\n\n{r.summary()}", pytrace=False)
    passed = [k for k, v in recs.items() if v["outcome"] == "passed"]
    skipped = {k: v.get("reason", "") for k, v in recs.items() if v["outcome"] == "skipped"}
    assert passed, f"every test of {path} was skipped in the guest: {skipped}"
    record_testsuite_property(f"v2_guest_skipped {path}", skipped)
    # what the guest tests printed (measured CPU shares ...) into the junit XML
    record_testsuite_property(f"v2_guest_stdout {path}",
                              {k: v["stdout"] for k, v in recs.items() if v.get("stdout")})
