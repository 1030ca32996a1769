"""OCI runtime bundles: runc runs what minidocker writes, minidocker runs what `runc spec` writes."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.helpers import md

pytestmark = [pytest.mark.usefixtures("root_only", "host_clean"),
              pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed (apt-get install runc)")]


def test_runc_runs_our_bundle(tmp_path):
    b = tmp_path / "bundle"
    p = md("bundle", "create", "busybox", str(b), "sh", "-c", "echo pid $$ on $(hostname)")
    assert p.returncode == 0, p.stderr
    doc = json.loads((b / "config.json").read_text())
    assert doc["ociVersion"] and doc["root"]["path"] == "rootfs"
    assert {"type": "pid"} in doc["linux"]["namespaces"]
    r = subprocess.run(["runc", "run", "mdk-bundle-t1"], cwd=b, capture_output=True, text=True, timeout=30)
    subprocess.run(["runc", "delete", "-f", "mdk-bundle-t1"], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pid 1 on minidocker\n"


def test_we_run_a_runc_spec_bundle(tmp_path):
    b = tmp_path / "bundle"
    assert md("bundle", "create", "busybox", str(b)).returncode == 0
    (b / "config.json").unlink()
    subprocess.run(["runc", "spec"], cwd=b, check=True)
    doc = json.loads((b / "config.json").read_text())
    doc["process"]["terminal"] = False
    doc["process"]["args"] = ["sh", "-c", "echo $$ $(hostname); exit 9"]
    (b / "config.json").write_text(json.dumps(doc))
    p = md("bundle", "run", "--rm", str(b))
    assert p.returncode == 9, p.stderr
    assert p.stdout == "1 runc\n"                 # runc spec's hostname, our PID namespace


def test_bad_bundle_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    p = md("bundle", "run", str(tmp_path))
    assert p.returncode == 125 and "not an OCI runtime spec" in p.stderr


def test_bundle_image_dir_is_short_for_bundle_create(tmp_path):
    """`minidocker bundle IMAGE DIR [COMMAND...]` (issue 11's spelling) writes the same
    bundle as `bundle create`; runc runs it. `bundle run`, flags and --help keep their meaning."""
    short, long = tmp_path / "short", tmp_path / "long"
    p = md("--explain", "bundle", "busybox", str(short), "echo", "hi")
    assert p.returncode == 0, p.stderr
    assert md("bundle", "create", "busybox", str(long), "echo", "hi").returncode == 0
    assert json.loads((short / "config.json").read_text()) == json.loads((long / "config.json").read_text())
    r = subprocess.run(["runc", "run", "mdk-bundle-t3"], cwd=short, capture_output=True, text=True, timeout=30)
    subprocess.run(["runc", "delete", "-f", "mdk-bundle-t3"], capture_output=True)
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert "unknown" in md("bundle", "--bogus", "busybox", str(tmp_path / "x")).stderr
    assert "create" in md("bundle", "--help").stdout
