"""The CLI's shape: verbs map to modules, usage errors exit 125 like docker's."""
import subprocess
import sys

from minidocker import cli


def test_verb_map_matches_registered_commands():
    registered = set(cli.build_parser().commands.choices)
    assert registered == set(cli.VERB_MODULE), registered ^ set(cli.VERB_MODULE)
    for verb, module in cli.VERB_MODULE.items():
        built = set(cli.build_parser([verb]).commands.choices)
        same_module = {v for v, m in cli.VERB_MODULE.items() if m == module}
        assert verb in built and built == same_module, (verb, module, built)   # one module's verbs only


def _run(*argv):
    return subprocess.run([sys.executable, "-m", "minidocker", *argv], capture_output=True, text=True)


def test_usage_errors_exit_125_with_dockers_wording():
    p = _run("run", "--no-such-flag", "busybox")
    assert p.returncode == 125 and "unknown flag: --no-such-flag" in p.stderr
    assert "See 'minidocker run --help'." in p.stderr
    p = _run("frobnicate")
    assert p.returncode == 125 and "'frobnicate' is not a minidocker command" in p.stderr
    p = _run("rm")
    assert p.returncode == 125 and '"minidocker rm" requires at least 1 argument.' in p.stderr
    p = _run("stop", "-t", "soon", "x")
    assert p.returncode == 125 and 'invalid argument "soon" for "-t" flag' in p.stderr


def test_help_is_dockers_shape_and_exits_0():
    p = _run("run", "--help")
    assert p.returncode == 0
    assert "Usage:  minidocker run [OPTIONS] IMAGE [COMMAND] [ARG...]" in p.stdout
    assert "  -e, --env K=V" in p.stdout and "      --rm " in p.stdout
    p = _run("network")
    assert p.returncode == 0 and "Usage:  minidocker network COMMAND" in p.stdout and "  create " in p.stdout
