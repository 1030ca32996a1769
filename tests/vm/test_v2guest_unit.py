"""The v2 guest harness's own logic, on the host, without booting anything (fast, no root).

Map: cpio writer (read back by busybox cpio) / result collection (never a silent
pass) / selection and accel choice / missing tools / the kernel cmdline.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.vm import v2guest


def test_cpio_reads_back_with_busybox(tmp_path):
    """The newc archive we write is what a real cpio reader (busybox's) sees."""
    if not os.access(v2guest.BUSYBOX, os.X_OK):
        pytest.skip("busybox-static is not installed")
    path = str(tmp_path / "a.cpio")
    v2guest.write_cpio(path, [
        ("bin", 0o040755, b"", (0, 0)),
        ("bin/hello", 0o100755, b"#!/bin/sh\necho hi\n", (0, 0)),
        ("bin/sh", 0o120777, b"busybox", (0, 0)),
        ("dev/console", 0o020600, b"", (5, 1)),
        ("odd", 0o100644, b"x" * 5, (0, 0)),          # sizes not multiple of 4: padding
    ])
    listing = subprocess.run([v2guest.BUSYBOX, "cpio", "-tv", "-F", path],
                             capture_output=True, text=True, check=True).stdout
    lines = {ln.split()[-1] if "->" not in ln else ln.split()[-3]: ln for ln in listing.splitlines()}
    assert set(lines) == {"bin", "bin/hello", "bin/sh", "dev/console", "odd"}, listing
    assert lines["bin/sh"].startswith("l") and lines["bin/sh"].endswith("-> busybox")
    assert lines["dev/console"].startswith("c")
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run([v2guest.BUSYBOX, "cpio", "-i", "-d", "-F", path, "bin/hello", "odd"],
                   cwd=out, check=True, capture_output=True)
    assert (out / "bin" / "hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (out / "odd").read_bytes() == b"xxxxx"


def test_collect_with_nothing_reported_is_not_a_result(tmp_path):
    r = v2guest._collect(str(tmp_path), 1.0, False, "tcg", 2, {})
    assert r.rc is None and r.counts() == {} and "no test results" in r.summary()


def test_collect_reads_rc_facts_results(tmp_path):
    (tmp_path / "rc").write_text("1\n")
    (tmp_path / "facts.json").write_text(json.dumps({"kernel": "6.1.0-x", "fstype": "cgroup2"}))
    (tmp_path / "results.json").write_text(json.dumps({"tests": {
        "tests/a.py::t1": {"outcome": "passed"},
        "tests/a.py::t2": {"outcome": "failed", "longrepr": "boom"},
        "tests/b.py::t3": {"outcome": "skipped", "reason": "no"}}, "finished": True}))
    (tmp_path / "log").write_text("line\n" * 100)
    r = v2guest._collect(str(tmp_path), 42.0, False, "tcg", 2, {})
    assert r.rc == 1
    assert r.counts("tests/a.py") == {"passed": 1, "failed": 1}
    assert r.counts() == {"passed": 1, "failed": 1, "skipped": 1}
    assert "6.1.0-x" in r.summary() and "42 s" in r.summary()
    assert len(r.tail(10).splitlines()) == 10
    assert "6.1.0-x" in repr(r) and "line" not in repr(r)      # short repr for pytest


def test_collect_garbage_is_not_a_result(tmp_path):
    (tmp_path / "rc").write_text("")
    (tmp_path / "results.json").write_text("{half a json")
    r = v2guest._collect(str(tmp_path), 1.0, True, "tcg", 2, {})
    assert r.rc is None and r.results == {} and r.timed_out


def test_default_selection_keeps_existing_files_only(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDOCKER_V2GUEST_TESTS", raising=False)
    (tmp_path / "tests" / "vm").mkdir(parents=True)
    (tmp_path / "tests" / "vm" / "smoke_v2.py").write_text("")
    assert v2guest.default_selection(str(tmp_path)) == ["tests/vm/smoke_v2.py"]
    monkeypatch.setenv("MINIDOCKER_V2GUEST_TESTS", "a.py b.py::t")
    assert v2guest.default_selection(str(tmp_path)) == ["a.py", "b.py::t"]


def test_accel_is_tcg_without_a_vendor_kvm_module(monkeypatch):
    monkeypatch.delenv("MINIDOCKER_V2GUEST_ACCEL", raising=False)
    vendor = any(os.path.isdir(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd"))
    assert v2guest.pick_accel() == ("kvm" if vendor and os.access("/dev/kvm", os.W_OK) else "tcg")
    monkeypatch.setenv("MINIDOCKER_V2GUEST_ACCEL", "kvm")
    assert v2guest.pick_accel() == "kvm"


def test_missing_tools_are_named_with_their_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    missing = " ".join(v2guest.missing_tools())
    assert "qemu-system-x86_64 (qemu-system-x86)" in missing


def test_build_without_tools_is_unavailable_not_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(v2guest.Unavailable, match="missing host tools"):
        v2guest.build(str(tmp_path))


def test_cmdline_makes_a_pure_v2_guest_that_powers_off_on_panic():
    assert "cgroup_no_v1=all" in v2guest.CMDLINE and "panic=-1" in v2guest.CMDLINE


def test_results_dirs_rotate_keeping_the_newest(tmp_path):
    base = str(tmp_path)
    for i in range(7):
        d = tmp_path / f"run-old{i}"
        d.mkdir()
        age = 10_000 - i if i < 6 else 10              # the newest old one is 10 s old
        os.utime(d, (os.path.getmtime(d) - age,) * 2)
    new = v2guest.new_results_dir(base, keep=3)
    left = sorted(os.listdir(base))
    assert os.path.basename(new) in left and os.path.basename(new).startswith("run-")
    # kept: the 3 newest of the old ones + the new one; all older ones are gone
    assert left == sorted(["run-old4", "run-old5", "run-old6", os.path.basename(new)])


def test_guest_scripts_are_shellcheck_clean():
    import shutil
    sc = shutil.which("shellcheck")
    if not sc:
        pytest.skip("shellcheck is not installed")
    scripts = [os.path.join(v2guest.HERE, f) for f in ("guest_init.sh", "guest_run.sh")]
    r = subprocess.run([sc, "-s", "sh", *scripts], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
