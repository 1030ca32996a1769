"""The pure parts of bench/: target verdicts, latest.json, the plot, the profile's arithmetic.

No root, no containers: fake samples in, text / JSON / PNG out.
"""
from __future__ import annotations

import pytest

from bench import harness
from bench.harness import Contender, Target, contenders_from, load_json, record, save_json, table, \
    target_from, verdict


@pytest.fixture(autouse=True)
def _fresh_record():
    harness.RECORDED.clear()
    yield
    harness.RECORDED.clear()


def _start(ours_ms: float, runc_ms: float = 30.0) -> list[Contender]:
    return [Contender("runc run (bundle)", samples=[runc_ms / 1000, (runc_ms + 2) / 1000, (runc_ms - 2) / 1000]),
            Contender("minidocker run --rm busybox true", samples=[ours_ms / 1000] * 3)]


# --- verdicts -------------------------------------------------------------------------

def test_ratio_target_met_and_missed_from_medians():
    t = harness.TARGETS["runc run (bundle)"]
    met = verdict(t, _start(59.0), "runc run (bundle)")
    assert met["met"] is True and met["value"] == pytest.approx(59 / 30)
    assert met["line"].endswith("— met (ratio 1.97)")
    missed = verdict(t, _start(128.1), "runc run (bundle)")
    assert missed["met"] is False and missed["line"].endswith("— MISSED (ratio 4.27)")


def test_ratio_exactly_at_the_limit_is_met():
    cs = [Contender("base", samples=[0.010]), Contender("ours", samples=[0.013])]
    v = verdict(Target("ours", 1.3, "x"), cs, "base")
    assert v["met"] is True and "met (ratio 1.30)" in v["line"]


def test_value_target_uses_the_display_unit():
    cs = [Contender("minidocker monitor PSS", samples=[15.2, 15.4, 14.0])]
    v = verdict(Target("minidocker monitor PSS", 15.0, "under 15 MB", "value"), cs, None, 1.0, "MB")
    assert v["met"] is False and v["line"] == "Target: under 15 MB — MISSED (15.20 MB)"
    secs = [Contender("build, fully cached", samples=[0.08, 0.09, 0.07])]
    assert verdict(Target("build, fully cached", 1.0, "< 1 s", "value"), secs, None, 1.0)["met"] is True


def test_no_samples_is_not_judged_never_met():
    cs = [Contender("runc run (bundle)", samples=[0.03]),
          Contender("minidocker run --rm busybox true", error="exit 125")]
    v = verdict(harness.TARGETS["runc run (bundle)"], cs, "runc run (bundle)")
    assert v["met"] is None and "not judged" in v["line"] and "exit 125" in v["line"]
    v = verdict(Target("ours", 1.0, "x"), [Contender("ours", samples=[1.0]), Contender("base")], "base")
    assert v["met"] is None


def test_target_contender_matched_by_prefix():
    cs = [Contender("skopeo copy (pull)", samples=[0.3]), Contender("minidocker pull (50 MB)", samples=[0.6])]
    v = verdict(harness.TARGETS["skopeo copy (pull)"], cs, "skopeo copy (pull)")
    assert v["met"] is False and v["value"] == pytest.approx(2.0)


def test_table_keeps_its_format_and_adds_the_computed_verdict():
    text = table("Container start + exit", _start(120.0), baseline="runc run (bundle)")
    lines = text.splitlines()
    assert lines[0] == "### Container start + exit"
    assert lines[2] == "| contender | median (ms) | min | max | n | ratio vs runc run (bundle) |"
    assert "| minidocker run --rm busybox true | 120.0 | 120.0 | 120.0 | 3 | 4.00 |" in lines
    assert lines[-1] == "Target: `minidocker run --rm` at most 2x `runc run` — MISSED (ratio 4.00)"
    assert len(harness.RECORDED) == 1 and harness.RECORDED[0]["verdict"]["met"] is False


def test_table_without_target_has_no_verdict_line():
    cs = [Contender("python -c pass", samples=[0.012]), Contender("import minidocker.cli", samples=[0.04])]
    assert "Target:" not in table("Python start-up", cs, baseline="python -c pass")


# --- latest.json -------------------------------------------------------------------------

def test_json_round_trip_rebuilds_the_same_tables(tmp_path):
    t1 = table("Container start + exit", _start(50.0), baseline="runc run (bundle)")
    mem = [Contender("minidocker monitor PSS", samples=[7.9, 8.0]), Contender("conmon PSS", samples=[0.6])]
    record("Memory", mem, None, "MB", 1.0, Target("minidocker monitor PSS", 15.0, "under 15 MB", "value"))
    path = tmp_path / "latest.json"
    save_json(str(path), "2026-11-28 16:00 UTC", "2 cores, kernel 6.18", 10)
    doc = load_json(str(path))
    assert doc["date"] == "2026-11-28 16:00 UTC" and doc["machine"] == "2 cores, kernel 6.18"
    assert doc["rounds"] == 10 and len(doc["comparisons"]) == 2
    c0 = doc["comparisons"][0]
    assert c0["contenders"][1]["samples"] == [0.05, 0.05, 0.05]
    again = table(c0["title"], contenders_from(c0), c0["baseline"], c0["unit"], c0["scale"],
                  target_from(c0), keep=False)
    assert again == t1
    assert doc["comparisons"][1]["verdict"]["met"] is True
    assert len(harness.RECORDED) == 2          # keep=False recorded nothing more


# --- the plot ----------------------------------------------------------------------------------

def _fake_doc() -> dict:
    table("Container start + exit", _start(90.0) + [Contender("podman run --rm", error="not installed")],
          baseline="runc run (bundle)")
    record("Memory", [Contender("minidocker monitor PSS", samples=[7.9, 8.1])], None, "MB", 1.0,
           Target("minidocker monitor PSS", 15.0, "under 15 MB", "value"))
    record("Nothing ran", [Contender("x", error="boom")])
    return {"date": "2026-11-28", "machine": "test", "rounds": 3, "comparisons": list(harness.RECORDED)}


def test_plot_writes_a_png(tmp_path):
    from bench.plot import plot
    out = tmp_path / "latest.png"
    assert plot(_fake_doc(), str(out)) == str(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_command_replots_from_json(tmp_path):
    from bench.plot import main
    _fake_doc()
    save_json(str(tmp_path / "r.json"), "d", "m", 3)
    assert main([str(tmp_path / "r.json"), str(tmp_path / "o.png")]) == 0
    assert (tmp_path / "o.png").stat().st_size > 10_000
    assert main([str(tmp_path / "r.json")]) == 2


def test_plot_of_an_empty_run_still_writes_a_png(tmp_path):
    from bench.plot import plot
    plot({"comparisons": []}, str(tmp_path / "e.png"))
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


# --- the profile's arithmetic ---------------------------------------------------------------

def test_split_phases_from_marks_and_steps():
    from bench.profile import split_phases
    marks = {"pid": 100, "main": 1.020, "imported": 1.025, "parsed": 1.035, "done": 1.150}
    steps = [{"kind": "cgroup", "pid": 100, "t": 1.040},     # CLI, before the fork
             {"kind": "cgroup", "pid": 101, "t": 1.060},     # the child: fork
             {"kind": "mount", "pid": 1, "t": 1.070},
             {"kind": "exec", "pid": 1, "t": 1.090},         # the command starts
             {"kind": "cgroup", "pid": 100, "t": 1.140}]     # CLI again: teardown
    ph = split_phases(1.000, marks, steps, 1.160)
    want = {"interpreter start-up": 20, "imports": 5, "argument parsing": 10, "work before fork": 25,
            "container set-up": 30, "container's own run": 50, "teardown": 10, "interpreter exit": 10}
    assert {k: round(v * 1000) for k, v in ph.items()} == want
    assert sum(ph.values()) == pytest.approx(0.160)


def test_split_phases_without_steps_puts_everything_before_fork():
    from bench.profile import split_phases
    marks = {"pid": 7, "main": 0.02, "imported": 0.03, "parsed": 0.04, "done": 0.09}
    ph = split_phases(0.0, marks, [], 0.1)
    assert ph["work before fork"] == pytest.approx(0.05)
    assert ph["container set-up"] == ph["container's own run"] == ph["teardown"] == 0


def test_importtime_parsed_and_split():
    from bench.profile import import_split, importtime_table, parse_importtime
    err = ("import time: self [us] | cumulative | imported package\n"
           "import time:      1000 |       3000 | site\n"
           "import time:       500 |        500 |   os\n"
           "import time:       100 |       2000 | minidocker.cli\n"
           "import time:      4000 |       4000 | minidocker.runtime.lifecycle\n"
           "not an import line\n")
    rows = parse_importtime(err)
    assert [(r["name"], r["depth"]) for r in rows] == [("site", 0), ("os", 1), ("minidocker.cli", 0),
                                                       ("minidocker.runtime.lifecycle", 0)]
    assert import_split(rows) == {"start-up": 3.0, "minidocker.cli": 2.0, "lazy": 4.0}
    tab, total = importtime_table(rows)
    assert total == 9.0
    assert tab.splitlines()[2].startswith("| `minidocker.runtime.lifecycle` | 4.0 |")


def test_speedscope_summary_leaves_out_the_root_loop():
    from bench.profile import speedscope_top
    frames = [{"name": 'process 1:"python -c loop"'}, {"name": 'process 2:"python -m minidocker"'},
              {"name": "main", "file": "/nowhere/x.py", "line": 1}, {"name": "waitpid", "file": "/nowhere/y.py"}]
    doc = {"shared": {"frames": frames}, "profiles": [
        {"name": 'Process 1 Thread 1 ""', "samples": [[0, 3]] * 5, "weights": [0.001] * 5},
        {"name": 'Process 2 Thread 2 ""', "samples": [[0, 1, 2], [0, 1, 2, 3], [0, 1]], "weights": [0.001] * 3}]}
    top = speedscope_top(doc)
    assert top["ms"] == pytest.approx(3.0)
    got = {name.split(" (")[0]: ms for name, ms, _ in top["self"]}
    assert got == pytest.approx({"main": 1.0, "waitpid": 1.0, "(no Python frame: native code, fork or execve)": 1.0})


def test_each_target_judges_the_worst_contender():
    cs = [Contender("00.ipynb", samples=[12.0]), Contender("07.ipynb", samples=[181.0]), Contender("x", error="e")]
    v = verdict(Target("", 180.0, "each lesson under 180 s", "each"), cs, None, 1.0, "s")
    assert v["met"] is False and v["line"] == "Target: each lesson under 180 s — MISSED (worst 181.00 s)"
    v = verdict(Target("", 180.0, "each", "each"), cs[:1], None, 1.0, "s")
    assert v["met"] is True


def test_unplotted_comparisons_stay_out_of_the_figure(tmp_path, monkeypatch):
    import bench.plot as bp
    seen = []
    monkeypatch.setattr(bp, "_panel", lambda ax, cmp: seen.append(cmp["title"]))
    record("shown", [Contender("a", samples=[1.0])])
    record("hidden", [Contender("b", samples=[1.0])], plot=False)
    bp.plot({"comparisons": list(harness.RECORDED)}, str(tmp_path / "p.png"))
    assert seen == ["shown"]


def test_measure_counterbalances_the_order_and_settles_before_every_sample(monkeypatch):
    """A B in even rounds, B A in odd ones; each timed sample preceded by the
    untimed pause and sync(2), and the warm-up runs are not samples."""
    events = []
    monkeypatch.setattr(harness.os, "sync", lambda: events.append("sync"))
    monkeypatch.setattr(harness.time, "sleep", lambda s: events.append(f"sleep {s}"))
    a = harness.Contender("A", run=lambda: events.append("A"))
    b = harness.Contender("B", run=lambda: events.append("B"))
    harness.measure([a, b], rounds=3)
    runs = [e for e in events if e in ("A", "B")]
    assert runs == ["A", "B"] + ["A", "B", "B", "A", "A", "B"]        # warm-ups, then ABBA...
    timed = events[events.index("B") + 1:]                               # after the warm-ups
    assert timed == [f"sleep {harness.SETTLE}", "sync", "A", f"sleep {harness.SETTLE}", "sync", "B",
                     f"sleep {harness.SETTLE}", "sync", "B", f"sleep {harness.SETTLE}", "sync", "A",
                     f"sleep {harness.SETTLE}", "sync", "A", f"sleep {harness.SETTLE}", "sync", "B"]
    assert len(a.samples) == len(b.samples) == 3
