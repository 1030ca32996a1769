"""The `minidocker` command: argument parsing, and the one place errors become exit codes.

Each group of verbs lives in `minidocker/commands/<group>.py` with a
`register(subparsers)` function; handlers import heavy modules lazily so that
`minidocker run` starts fast (no matplotlib, no registry client).

Exit codes, as docker's:
  125  minidocker's own error (bad flag, unknown image, name in use, ...)
  126  the container's command could not be executed
  127  the container's command was not found
  N    otherwise, the container's own exit code
"""
from __future__ import annotations

import os
import sys

from . import __version__
from .errors import MinidockerError
from .flags import Parser

#: the command modules, in the order `minidocker --help` lists them
COMMAND_MODULES = ["containers", "images", "build", "registry", "network",
                   "volumes", "resources", "bundle", "system"]


#: top-level verb -> the module that defines it. Lets `minidocker run` import
#: one command module instead of all nine (their imports, and building ~70
#: sub-commands, would cost more than the rest of start-up). tests/unit checks it.
VERB_MODULE = {
    **dict.fromkeys(["run", "create", "start", "stop", "restart", "kill", "rm", "ps", "logs", "inspect",
                     "exec", "wait", "cp", "top", "rename", "container"], "containers"),
    **dict.fromkeys(["images", "image", "tag", "rmi", "import", "history", "save", "load", "diff",
                     "commit", "export"], "images"),
    "build": "build", **dict.fromkeys(["pull", "push", "login", "logout"], "registry"),
    "network": "network", "port": "network", "volume": "volumes",
    **dict.fromkeys(["update", "stats", "pause", "unpause"], "resources"),
    "bundle": "bundle", **dict.fromkeys(["info", "version", "system"], "system"),
}


def _verb(argv: list[str]) -> str | None:
    for a in argv:
        if not a.startswith("-"):
            return a
        if a in ("-h", "--help"):
            return None
    return None


def build_parser(argv: list[str] | None = None) -> Parser:
    """The parser for `argv`'s verb (all verbs when argv is None or has none).

    minidocker/flags.py reads flags by docker's rules; see why it is not argparse there.
    """
    p = Parser(prog="minidocker", description="A container runtime written to be read.")
    p.add_argument("--explain", action="store_true",
                   help="print every kernel step and its shell equivalent as it happens")
    p.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    verb = _verb(argv) if argv is not None else None
    modules = [VERB_MODULE[verb]] if verb in VERB_MODULE else COMMAND_MODULES
    for name in modules:
        try:
            # __import__, not importlib.import_module: importlib's package imports warnings
            mod = __import__(f"{__package__}.commands.{name}", fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(f"commands.{name}"):
                continue  # a command group not written yet
            raise
        mod.register(sub)
    return p


def _bundle_shorthand(argv: list[str]) -> list[str]:
    """`minidocker bundle IMAGE DIR [COMMAND...]` is `minidocker bundle create IMAGE DIR ...`
    (issue 11 spells it so; `bundle create` is what `--help` lists)."""
    verb = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if verb is not None and argv[verb] == "bundle" and len(argv) > verb + 2 \
            and argv[verb + 1] not in ("create", "run") and not argv[verb + 1].startswith("-"):
        return argv[:verb + 1] + ["create"] + argv[verb + 1:]
    return argv


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv in (["--version"], ["-v"]):     # without building ~70 sub-parsers first
        print(f"minidocker version {__version__}")
        return 0
    argv = _bundle_shorthand(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.version:
        print(f"minidocker version {__version__}")
        return 0
    if not getattr(args, "func", None):      # `minidocker`, `minidocker network`: what is there
        args._parser.print_help()
        return 0
    if args.explain:
        from .trace import enable_explain
        enable_explain()
    try:
        rc = args.func(args)
        return int(rc or 0)
    except MinidockerError as e:
        sys.stderr.write(f"minidocker: {e.message}\n")
        if e.hint:
            sys.stderr.write(f"hint: {e.hint}\n")
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `minidocker ps | head`: the reader went away; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def entry() -> None:
    """Console-script entry point.

    Ends with os._exit(): the interpreter's orderly tear-down (freeing ~130
    modules one by one) costs ~4 ms here, a tenth of `minidocker run`. We
    flush what we printed first. When something did register exit work
    (coverage measuring the tests, a live helper thread), exit normally.
    """
    rc = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    import atexit
    threads = sys.modules.get("threading")
    if getattr(atexit, "_ncallbacks", lambda: 1)() == 0 and (threads is None or threads.active_count() == 1):
        os._exit(rc & 0xFF)
    sys.exit(rc)
