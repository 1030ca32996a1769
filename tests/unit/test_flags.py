"""minidocker.flags reads command lines by docker's (pflag/cobra) rules."""
import pytest

from minidocker.flags import REMAINDER, Parser


def run_parser():
    p = Parser(prog="minidocker run", add_help=False)
    p.add_argument("--help", action="help")
    p.add_argument("--name")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("--network", "--net", default="bridge")
    p.add_argument("--stop-timeout", type=int)
    p.add_argument("image")
    p.add_argument("args", nargs=REMAINDER)
    return p


@pytest.mark.parametrize("argv, want", [
    (["busybox"], dict(image="busybox", args=[], env=[], interactive=False, network="bridge")),
    (["-it", "busybox", "sh"], dict(interactive=True, tty=True, args=["sh"])),
    (["-dit", "--name=web", "busybox"], dict(detach=True, interactive=True, name="web")),
    (["-dp", "8080:80", "busybox"], dict(detach=True, publish=["8080:80"])),
    (["-p8080:80", "-e", "A=1", "-eB=2", "-e=C=3", "busybox"], dict(publish=["8080:80"], env=["A=1", "B=2", "C=3"])),
    (["--net", "none", "busybox"], dict(network="none")),
    (["-i=false", "--tty=true", "busybox"], dict(interactive=False, tty=True)),
    (["--stop-timeout", "-1", "busybox"], dict(stop_timeout=-1)),
    (["busybox", "ls", "-l", "--name", "x"], dict(args=["ls", "-l", "--name", "x"], name=None)),
    (["--", "busybox", "-x"], dict(image="busybox", args=["-x"])),
])
def test_dockers_reading_rules(argv, want):
    ns = run_parser().parse_args(argv)
    for k, v in want.items():
        assert getattr(ns, k) == v, (k, vars(ns))


def test_defaults_are_not_shared_between_parses():
    p = run_parser()
    p.parse_args(["-e", "A=1", "busybox"])
    assert p.parse_args(["busybox"]).env == []


@pytest.mark.parametrize("argv, message", [
    (["--nope", "busybox"], "unknown flag: --nope"),
    (["-z", "busybox"], "unknown shorthand flag: 'z' in -z"),
    (["-iz", "busybox"], "unknown shorthand flag: 'z' in -iz"),
    (["busybox", "--name"], None),                               # after IMAGE it is the command's
    (["--name"], "flag needs an argument: --name"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["--stop-timeout", "soon", "busybox"], 'invalid argument "soon" for "--stop-timeout" flag'),
    (["-i=maybe", "busybox"], 'invalid argument "maybe" for "-i" flag'),
    ([], '"minidocker run" requires at least 1 argument.'),
])
def test_usage_errors_exit_125(argv, message, capsys):
    if message is None:
        assert run_parser().parse_args(argv).args == ["--name"]
        return
    with pytest.raises(SystemExit) as e:
        run_parser().parse_args(argv)
    assert e.value.code == 125
    err = capsys.readouterr().err
    assert message in err and "See 'minidocker run --help'." in err


def test_positional_counts_and_interspersed_flags(capsys):
    p = Parser(prog="minidocker rm")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(["a", "-f", "b"])                          # docker allows flags between names
    assert ns.force and ns.containers == ["a", "b"]
    q = Parser(prog="minidocker port")
    q.add_argument("container")
    q.add_argument("private_port", nargs="?", default=None)
    assert q.parse_args(["c"]).private_port is None and q.parse_args(["c", "80"]).private_port == "80"
    with pytest.raises(SystemExit):
        q.parse_args(["c", "80", "x"])
    assert '"minidocker port" requires at least 1 and at most 2 arguments.' in capsys.readouterr().err
    r = Parser(prog="minidocker ps")
    with pytest.raises(SystemExit):
        r.parse_args(["x"])
    assert '"minidocker ps" accepts no arguments.' in capsys.readouterr().err


def test_subcommands_aliases_and_defaults():
    top = Parser(prog="minidocker")
    top.add_argument("--explain", action="store_true")
    sub = top.add_subparsers(dest="command")
    net = sub.add_parser("network", help="manage networks")
    net.set_defaults(func="help")
    nsub = net.add_subparsers(dest="network_command")
    ls = nsub.add_parser("ls", aliases=["list"], help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.set_defaults(func="ls")
    ns = top.parse_args(["--explain", "network", "list", "-q"])
    assert (ns.explain, ns.command, ns.network_command, ns.quiet, ns.func) == (True, "network", "list", True, "ls")
    ns = top.parse_args(["network"])
    assert ns.func == "help" and ns._parser is net
    assert "  ls, list   list networks" in net.format_help()


def test_help_exits_0_and_shows_groups(capsys):
    p = run_parser()
    g = p.add_argument_group("resources (cgroups)")
    g.add_argument("--cpus", metavar="N", help="how many CPUs")
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "Usage:  minidocker run [OPTIONS] IMAGE [COMMAND] [ARG...]" in out
    assert "Resources (cgroups):\n      --cpus N" in out and "  -e, --env list" in out


def test_what_the_parser_does_not_do_is_refused_when_defined():
    p = Parser(prog="minidocker x")
    with pytest.raises(ValueError, match="count"):
        p.add_argument("-v", action="count")
    with pytest.raises(ValueError, match="nargs on flag --many"):
        p.add_argument("--many", nargs="+")
    p.add_argument("--name")
    with pytest.raises(ValueError, match="defined twice"):
        p.add_argument("--name")
