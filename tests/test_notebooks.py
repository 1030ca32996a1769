"""The lessons' structure and helpers, without running a kernel (fast, no root).

Executing the lessons is nbval's job (see notebooks/README.md):
    .venv/bin/pytest --nbval notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg

Here:
  - the shipped notebooks are exactly what notebooks/_build generates (no hand edits that
    the next regeneration would lose), and they ship with outputs;
  - every lesson starts by cleaning up and ends with a clean-up cell; names are unique per lesson;
  - every nbval-ignore-output cell says why, and no lesson ignores most of its cells;
  - cells that could reach the internet are tagged nbval-skip and guarded by online();
  - nbval_sanitize.cfg is NBVAL_PATTERNS, and the patterns do what they claim;
  - the doctor's pure logic (kernel versions, report verdict).
"""
from __future__ import annotations

import configparser
import glob
import json
import os
import re
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB_DIR = os.path.join(REPO, "notebooks")
sys.path.insert(0, os.path.join(NB_DIR, "_build"))

from minidocker.lab import doctor, render  # noqa: E402

NOTEBOOKS = sorted(glob.glob(os.path.join(NB_DIR, "[0-9][0-9]-*.ipynb")))


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _src(cell) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_matches_its_generator(path):
    """Cell sources and tags equal what notebooks/_build writes (regenerate, do not hand-edit)."""
    import importlib.util   # by path: "build" is also the name of pypa's package
    spec = importlib.util.spec_from_file_location("notebooks_build", os.path.join(NB_DIR, "_build", "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    name = os.path.basename(path)
    lessons = {L.filename: L for L in build.lessons()}
    assert name in lessons, f"{name} has no generator in notebooks/_build"
    want = lessons[name].notebook()
    got = _load(path)
    assert [(c["cell_type"], _src(c), _tags(c)) for c in got["cells"]] == \
           [(c["cell_type"], _src(c), _tags(c)) for c in want["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_ships_with_outputs(path):
    cells = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    with_out = [c for c in cells if c.get("outputs")]
    assert len(with_out) >= len(cells) // 2, "execute it in place: see notebooks/README.md"
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"a stored output is an error: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_lesson_starts_clean_and_ends_clean(path):
    code = [_src(c) for c in _load(path)["cells"] if c["cell_type"] == "code"]
    assert "cleanup(PREFIX" in code[0], "the first cell removes what a failed earlier run left"
    assert "cleanup(PREFIX" in code[-1], "the last cell removes what the lesson made"
    prefix = re.search(r'PREFIX = "([^"]+)"', code[0]).group(1)
    assert prefix == f"l{os.path.basename(path)[:2]}-", prefix
    for src in code:   # every container it names carries the lesson's prefix
        for name in re.findall(r"--name\s+([\w.-]+)", src):
            if "{" not in name:
                assert name.startswith(prefix), f"container {name} does not start with {prefix}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_ignored_outputs_say_why_and_are_few(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    ignored = [c for c in code if "nbval-ignore-output" in _tags(c)]
    for c in ignored:
        assert re.search(r"#\s*nbval-ignore-output:\s*\S", _src(c)), f"no reason given in:\n{_src(c)[:200]}"
    assert len(ignored) <= len(code) // 3, "most of the lesson's outputs would go unchecked"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_internet_cells_are_skipped_and_guarded(path):
    for c in _load(path)["cells"]:
        src = _src(c)
        if c["cell_type"] == "code" and re.search(r"\bpull (?!localhost)", src):
            assert "nbval-skip" in _tags(c) and "online()" in src, src[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_lesson_shows_an_explain_trace(path):
    code = "\n".join(_src(c) for c in _load(path)["cells"] if c["cell_type"] == "code")
    assert "minidocker.trace()" in code and "explain(" in code


def test_sanitize_cfg_is_the_patterns():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(os.path.join(NB_DIR, "nbval_sanitize.cfg"))
    got = [(s, cfg[s]["regex"], cfg[s]["replace"]) for s in cfg.sections()]
    assert got == render.NBVAL_PATTERNS


@pytest.mark.parametrize("text,want", [
    ("mnt -> mnt:[4026532530]", "mnt -> mnt:[<new-ns-inode>]"),
    ("mnt -> mnt:[4026531840]", "mnt -> mnt:[4026531840]"),          # the host's: constant, kept
    ("echo 27591 > /sys/fs/cgroup/pids/x/cgroup.procs", "echo <pid> > /sys/fs/cgroup/pids/x/cgroup.procs"),
    ("echo 0 > /sys/fs/cgroup/cpu/x/tasks", "echo 0 > /sys/fs/cgroup/cpu/x/tasks"),   # 0 is "me", not a pid
    ("nsenter --target 6237 --net", "nsenter --target <pid> --net"),
    ("kill -TERM 9812", "kill -TERM <pid>"),
    ("$ ps -o user,comm -p 23844", "$ ps -o user,comm -p <pid>"),
    ("-p 8080:80 busybox", "-p 8080:80 busybox"),                      # a port mapping is not a pid
    ("Exited (0) 2 seconds ago", "Exited (0) <duration>"),
    ("Up Less than a second", "Up <duration>"),
    ("busybox      latest   ecf7b3bd6c95   6 months ago", "busybox<pad>latest<pad><id12><pad><duration>"),
    ("veth mdv23f9433f peer mdv23f9433fp", "veth mdv<hex> peer mdv<hex>"),
    ("/tmp/mdk-nb-ab_12/lib/containers", "/var/lib/minidocker/containers"),
    ("tasks\n27591\n", "tasks\n<pid>\n"),
])
def test_redact(text, want):
    assert render.redact(text) == want


def test_localize_maps_test_names_back(monkeypatch):
    monkeypatch.setenv("MINIDOCKER_ROOT", "/tmp/mdk-nb-x")
    monkeypatch.setenv("MINIDOCKER_BRIDGE", "mdnb7")
    monkeypatch.setenv("MINIDOCKER_SUBNET", "10.206.7.0/24")
    monkeypatch.setenv("MINIDOCKER_CHAIN", "MDNB7")
    monkeypatch.setenv("MINIDOCKER_CGROUP_PARENT", "minidocker-nb-1")
    text = ("/tmp/mdk-nb-x/lib/image mdnb7 10.206.7.1/24 10.206.7.9 -A MDNB7 -j MDNB7-POSTROUTING "
            "/sys/fs/cgroup/cpu/minidocker-nb-1/abc")
    assert render.localize(text) == ("/var/lib/minidocker/image mdk0 10.88.0.1/16 10.88.0.9 -A MINIDOCKER "
                                     "-j MINIDOCKER-POSTROUTING /sys/fs/cgroup/cpu/minidocker/abc")


def test_localize_is_a_noop_with_defaults(monkeypatch):
    for k in ("MINIDOCKER_ROOT", "MINIDOCKER_BRIDGE", "MINIDOCKER_SUBNET", "MINIDOCKER_CHAIN",
              "MINIDOCKER_CGROUP_PARENT"):
        monkeypatch.delenv(k, raising=False)
    text = "/var/lib/minidocker mdk0 10.88.0.1/16"
    assert render.localize(text) == text


def test_explain_collapses_and_filters():
    from minidocker.trace import Step

    class T:
        steps = [Step("cgroup", "c", f"mkdir /sys/fs/cgroup/{k}/minidocker/{'a' * 64}")
                 for k in ("cpu", "memory", "pids", "freezer", "blkio")] + \
                [Step("unshare", "u", "unshare --pid --fork"), Step("mount", "m", "mount -t proc proc /proc")]
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        render.explain(T(), collapse=4)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[cgroup  ] mkdir /sys/fs/cgroup/cpu/minidocker/<id>"
    assert lines[2] == "[cgroup  ] ... and 3 more steps like these"   # explain() itself keeps the padding
    assert lines[-1] == "[mount   ] mount -t proc proc /proc"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        render.explain(T(), kinds=("unshare",), grep="-t proc")
    assert out.getvalue().splitlines() == ["[unshare ] unshare --pid --fork", "[mount   ] mount -t proc proc /proc"]


def test_explain_sides_orders_host_then_container_whatever_the_interleaving():
    import contextlib
    import io
    from minidocker.trace import Step
    host = [Step("unshare", "u", "unshare --pid --fork", pid=4242), Step("ip", "i", "ip link add a", pid=4242)]
    pid1 = [Step("mount", "m", "mount -t overlay x", pid=1), Step("exec", "e", "true", pid=1)]
    outs = []
    for order in ([host[0], pid1[0], host[1], pid1[1]], [host[0], host[1], pid1[0], pid1[1]]):
        T = type("T", (), {"steps": order})
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            render.explain(T(), sides=True)
        outs.append(out.getvalue().splitlines())
    assert outs[0] == outs[1]
    assert outs[0][0].startswith("# on the host") and outs[0][3].startswith("# inside the container")
    assert outs[0][1:3] == ["[unshare ] unshare --pid --fork", "[ip      ] ip link add a"]


def test_ns_table_marks_what_differs():
    from minidocker.kernel.namespaces import NsRow
    t = render.NsTable([NsRow("uts", 4026531838, 4026532531), NsRow("user", 4026531837, 4026531837)])
    assert t.differ == ["uts"] and t.shared == ["user"]
    assert "DIFFERENT" in repr(t).splitlines()[1] and "same namespace" in repr(t).splitlines()[2]
    assert 'style="background' in t._repr_html_().split("<tr")[2]      # the uts row is highlighted
    assert 'style="background' not in t._repr_html_().split("<tr")[3]


@pytest.mark.parametrize("release,want", [("6.1.0-18-amd64", (6, 1)), ("5.14.0-427.el9.x86_64", (5, 14)),
                                          ("3.10.0-1160.el7.x86_64", (3, 10)), ("garbage", (0, 0))])
def test_kernel_version(release, want):
    assert doctor.kernel_version(release) == want


def test_doctor_kernel_verdicts():
    assert doctor.check_kernel("6.1.0").status == doctor.OK
    assert doctor.check_kernel("5.4.0").status == doctor.WARN       # no time namespace
    old = doctor.check_kernel("3.10.0-1160.el7.x86_64")
    assert old.status == doctor.FAIL and old.fix


def test_doctor_report_verdict():
    r = doctor.Report([doctor.Check("a", doctor.OK, "x", "y"), doctor.Check("b", doctor.WARN, "x", "y", "do z")])
    assert r.ok and [c.name for c in r.problems()] == ["b"] and "ready for the lessons" in str(r)
    r.append(doctor.Check("c", doctor.FAIL, "x", "y", "fix it"))
    assert not r.ok and "NOT ready" in str(r) and "fix it" in str(r)


def test_doctor_runs_here():
    """Every check returns a verdict on this machine (read-only, about a second)."""
    r = doctor.run_all()
    assert {c.status for c in r} <= {doctor.OK, doctor.WARN, doctor.FAIL}
    assert all(c.fix for c in r if c.status != doctor.OK), [c for c in r if not c.fix and c.status != "ok"]
