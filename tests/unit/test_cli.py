"""The CLI's shape: verbs map to modules, usage errors exit 125 like docker's."""
import subprocess
import sys

from minidocker import cli


def test_verb_map_matches_registered_commands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    registered = set(sub.choices)
    assert registered == set(cli.VERB_MODULE), registered ^ set(cli.VERB_MODULE)
    for verb, module in cli.VERB_MODULE.items():
        one = cli.build_parser([verb])
        choices = next(a for a in one._actions if a.dest == "command").choices
        assert set(choices) == {verb}, (verb, module, set(choices))   # only the verb asked for is built


def test_usage_error_exit_125():
    p = subprocess.run([sys.executable, "-m", "minidocker", "run", "--no-such-flag", "busybox"],
                       capture_output=True, text=True)
    assert p.returncode == 125 and "unrecognized arguments" in p.stderr
    p = subprocess.run([sys.executable, "-m", "minidocker", "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 125 and "invalid choice" in p.stderr
