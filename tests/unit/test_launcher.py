"""The `minidocker` command the Makefile writes: python -I -S with sys.path set by hand."""
import os
import subprocess
import sys

from minidocker import launcher


def test_launcher_runs_isolated_and_finds_the_package(tmp_path):
    path = tmp_path / "minidocker"
    launcher.write(str(path))
    text = path.read_text()
    assert text.startswith(f"#!{sys.executable} -IS\n")
    assert os.access(path, os.X_OK)
    # PYTHONPATH is ignored (-I) and site is not imported (-S), yet the CLI works
    env = {**os.environ, "PYTHONPATH": "/nonexistent"}
    p = subprocess.run([str(path), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("minidocker version"), p.stderr
    code = "import sys; print('site' in sys.modules, sys.flags.isolated, sys.flags.no_site)"
    probe = tmp_path / "probe"
    probe.write_text(text.replace("from minidocker.cli import entry\nentry()\n", code + "\n"))
    probe.chmod(0o755)
    out = subprocess.run([str(probe)], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "1", "1"]


def test_launcher_usage_error():
    assert launcher.main([]) == 2
