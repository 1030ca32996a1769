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
