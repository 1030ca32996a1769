"""The grader against submissions that misbehave: loops, ignored interrupts, forged checks,
patched helpers, and leftovers on the host. Uses lab 01 (fast: ~1 s per submission).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET

import nbformat
import pytest

from labs import grade

LABS_DIR = os.path.dirname(os.path.abspath(grade.__file__))
LAB = os.path.join(LABS_DIR, "01_namespaces.ipynb")
SOL = os.path.join(LABS_DIR, "solutions", "01_namespaces.ipynb")

pytestmark = [pytest.mark.root]


def _variant(tmp_path, name, base=SOL, replace=None, insert_after=None):
    """A submission: `base` with cell sources replaced ({id: src}) and extra cells inserted."""
    nb = nbformat.read(base, as_version=4)
    for c in nb.cells:
        if replace and c.get("id") in replace:
            c.source = replace[c.id]
    for after, src in (insert_after or {}).items():
        i = [c.get("id") for c in nb.cells].index(after)
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell(src))
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return str(path)


def _verdict(r):
    return {c.exercise: c.status for c in r.checks}


def test_infinite_loop_fails_that_exercise_and_the_rest_is_graded(tmp_path, host_unchanged):
    loop = _variant(tmp_path, "loop", replace={"ex1-code": "def start_in_new_uts(h):\n    pass\nwhile True:\n    pass\n"})
    [r] = grade.grade_all(LAB, [loop], student_timeout=3)
    assert _verdict(r) == {"ex1": "error", "ex2": "ok", "ex3": "ok"}, grade.table([r])
    assert r.seconds < 30


def test_a_cell_that_ignores_sigint_gets_a_new_kernel_and_the_rest_is_graded(tmp_path, host_unchanged):
    stuck = _variant(tmp_path, "stuck", replace={"ex2-code": (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n")})
    [r] = grade.grade_all(LAB, [stuck], student_timeout=3)
    # ex1 passed before; ex2's answer never ran; ex3 is graded in the restarted kernel
    assert _verdict(r) == {"ex1": "ok", "ex2": "error", "ex3": "ok"}, grade.table([r]) + str(r.checks)


def test_a_cell_that_kills_the_kernel_gets_a_new_one(tmp_path, host_unchanged):
    dead = _variant(tmp_path, "dead", replace={"ex2-code": "import os\nos._exit(3)\n"})
    [r] = grade.grade_all(LAB, [dead])
    assert _verdict(r) == {"ex1": "ok", "ex2": "error", "ex3": "ok"}, grade.table([r])
    assert r.seconds < 30


def test_forged_check_cells_and_patched_helpers_do_not_pass(tmp_path, host_unchanged):
    forged = _variant(tmp_path, "forged", base=LAB, replace={
        "ex1-check": "print('ex1: 4/4 requirements met -> PASS')",
        "ex2-code": ("import minidocker.lab.checks as ck\n"
                     "ck.Check.done = lambda self: None\nck.Check._record = lambda self, *a: True\n"),
        "ex3-code": ("import contextlib\n"
                     "@contextlib.contextmanager\n"
                     "def check(*a, **kw):\n"
                     "    class C:\n"
                     "        def __getattr__(self, n): return lambda *a, **k: True\n"
                     "    try:\n        yield C()\n    except Exception:\n        pass\n"),
    })
    [r] = grade.grade_all(LAB, [forged])
    assert _verdict(r) == {"ex1": "error", "ex2": "error", "ex3": "error"}, grade.table([r])
    assert "NotImplementedError" in r.checks[0].output


def test_leftovers_are_cleaned_and_only_the_submissions(tmp_path, host_unchanged):
    token = uuid.uuid4().hex[:8]
    pidfile = f"/tmp/lab01-leak-{token}.pid"
    leak = (
        "import os, subprocess\n"
        "p = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        f"open({pidfile!r}, 'w').write(str(p.pid))\n"
        f"os.makedirs('/sys/fs/cgroup/pids/lab01-leak-{token}', exist_ok=True)\n"
        "q = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        f"open('/sys/fs/cgroup/pids/lab01-leak-{token}/cgroup.procs', 'w').write(str(q.pid))\n"
        "os.makedirs('/tmp/lab01-mnt', exist_ok=True)\n"
        "subprocess.run(['mount', '-t', 'tmpfs', 'lab01-tmpfs', '/tmp/lab01-mnt'], check=True)\n"
        "subprocess.run(['ip', 'link', 'add', 'lab01-dummy', 'type', 'dummy'], check=True)\n"
    )
    other = f"/sys/fs/cgroup/pids/lab01-notmine-{token}"     # made by someone else during grading
    sub = _variant(tmp_path, "leaky", insert_after={"ex3-check": leak})
    try:
        os.makedirs(other)
        [r] = grade.grade_all(LAB, [sub])
        assert r.score == 3, grade.table([r])
        with open(pidfile) as f:
            pid = int(f.read())
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        assert not os.path.exists(f"/sys/fs/cgroup/pids/lab01-leak-{token}")
        assert os.path.isdir(other), "a cgroup that existed before grading was removed"
        assert any(p.endswith(f"lab01-leak-{token}") for p in r.cleaned)
    finally:
        os.rmdir(other)
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        if os.path.isdir("/tmp/lab01-mnt"):
            os.rmdir("/tmp/lab01-mnt")      # the mount itself died with the kernel's namespace


def test_cli_table_and_junit_xml(tmp_path, host_unchanged):
    xml, js = tmp_path / "report.xml", tmp_path / "report.json"
    p = subprocess.run([sys.executable, "-m", "labs.grade", LAB, SOL, LAB, "-j", "2",
                        "--junit-xml", str(xml), "--json", str(js)],
                       capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(LABS_DIR))
    assert p.returncode == 0, p.stderr
    assert "3/3 100 %" in p.stdout and "0/3   0 %" in p.stdout, p.stdout
    assert "ex1: passed by 1/2" in p.stdout
    root = ET.parse(xml).getroot()
    suites = root.findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", "3"]
    assert len(root.findall(".//testcase")) == 6
    assert "NotImplementedError" in root.findall(".//failure")[0].text


def test_an_unreadable_submission_scores_zero_and_says_why(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{ this is not json")
    [r] = grade.grade_all(LAB, [str(bad)])
    assert r.score == 0 and [c.status for c in r.checks] == ["unreadable"] * 3
    assert "cannot read" in r.errors[0]
