"""CLI verb groups. Each module defines `register(subparsers)`.

Handlers take the parsed `args` and return an exit code; they raise
`MinidockerError`s for user mistakes (cli.main prints them). Import heavy
modules inside the handler, not at the top of the module.
"""
