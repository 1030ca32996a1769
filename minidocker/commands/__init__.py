"""CLI verb groups. Each module defines `register(subparsers)`.

Handlers take the parsed `args` and return an exit code; they raise
`MinidockerError`s for user mistakes (cli.main prints them). Import heavy
modules inside the handler, not at the top of the module.
"""


def failed(err, count: int) -> int:
    """Exit code after `err` for a verb given `count` objects (rm a b c, inspect x ...).

    One object: the error's own code (125 for minidocker's errors, as the
    issue tracker's rule and docker's `run` do). Several: 1, as docker's
    multi-object verbs do, since some of them may have worked.
    """
    return err.exit_code if count == 1 else 1


def print_inspect(names: list[str], inspect_one, fmt: str | None) -> int:
    """The shared shape of every `inspect`: a JSON list, or one template line per object.

    Errors are reported per name ("Error: No such object: x") and the rest
    still printed, as docker does; the exit code follows `failed()`.
    """
    import json
    import sys

    from ..errors import MinidockerError
    docs, rc = [], 0
    for name in names:
        try:
            docs.append(inspect_one(name))
        except MinidockerError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            rc = failed(e, len(names))
    if fmt:
        from ..template import render
        for d in docs:
            print(render(fmt, d))
    else:
        print(json.dumps(docs, indent=4))
    return rc
