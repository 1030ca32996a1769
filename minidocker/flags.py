"""Command-line flags the way docker reads them (spf13/pflag + cobra), in one file.

Why not argparse: it imports `re`, `enum`, `gettext` and `locale` (~8 ms on
the lab VM, a sixth of `minidocker run`'s whole start-up, measured in
docs/performance.md), and its rules are not docker's. This parser keeps
argparse's *building* calls (`add_parser`, `add_argument`, `set_defaults`),
so each command module reads as before, and applies docker's *reading* rules,
so what students type here works with docker:

  --name web  --name=web          a long flag and its value, two ways
  -e A=1  -eA=1  -e=A=1           a short flag's value: next word, glued, or after '='
  -it  -dit  -dp 8080:80          short booleans cluster; the last may take a value
  --rm  --rm=true  --rm=false     booleans take an optional =VALUE (Go's ParseBool)
  run [FLAGS] IMAGE CMD -l ...    flags end at IMAGE: the rest is the command's own
  rm c1 -f c2                     elsewhere flags and arguments may mix
  --                              ends the flags

Errors use docker's wording ("unknown flag: --nope", '"minidocker rm"
requires at least 1 argument.') and exit 125 through Parser.error().

Map:
  Namespace           the parsed values (args.name, args.func, ...)
  Parser              one command: its flags, positionals, sub-commands, help
  Parser.parse_args   the reading rules above
  Parser.format_help  `minidocker run --help`, laid out like docker's
"""
from __future__ import annotations

import sys

REMAINDER = "..."             # nargs: every word from here on, flags included (run's COMMAND)
SUPPRESS = "==SUPPRESS=="     # a default meaning "leave the attribute unset"

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}         # Go's strconv.ParseBool
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


class Namespace:
    """Attributes set by parsing; `vars(args)` gives them as a dict."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())) + ")"


class _Flag:
    """One flag (`-e/--env`) or positional (`IMAGE`), with argparse's keyword names."""

    def __init__(self, names, dest=None, action="store", default=None, type=None, choices=None,
                 metavar=None, help=None, nargs=None, required=False, group=None):
        self.names, self.action, self.type, self.choices = names, action, type, choices
        self.metavar, self.help, self.nargs, self.required, self.group = metavar, help, nargs, required, group
        self.positional = not names[0].startswith("-")
        if dest is None:
            longs = [n for n in names if n.startswith("--")]
            dest = (longs or names)[0].lstrip("-").replace("-", "_")
        self.dest = dest
        if action == "store_true" and default is None:
            default = False
        self.default = default

    @property
    def takes_value(self) -> bool:
        return self.action in ("store", "append")

    def convert(self, parser: "Parser", name: str, text: str):
        """The word as the handler wants it (type=int, choices=...), or a usage error."""
        value = text
        if self.type is not None:
            try:
                value = self.type(text)
            except (TypeError, ValueError) as e:
                why = "not an integer" if self.type is int else (str(e) or "invalid value")
                parser.error(f'invalid argument "{text}" for "{name}" flag: {why}')
        if self.choices is not None and value not in self.choices:
            parser.error(f'invalid argument "{text}" for "{name}" flag: '
                         f'choose from {", ".join(map(str, self.choices))}')
        return value


class _Group:
    """`add_argument_group(title)`: the same parser, with a heading in --help."""

    def __init__(self, parser: "Parser", title: str):
        self._parser, self.title = parser, title

    def add_argument(self, *names, **kw):
        return self._parser.add_argument(*names, group=self.title, **kw)


class _Commands:
    """`add_subparsers(dest=...)`: the verbs under a parser (`network create`, ...)."""

    def __init__(self, parent: "Parser", dest: str | None, metavar: str | None):
        self.parent, self.dest, self.metavar = parent, dest, metavar
        self.choices: dict[str, Parser] = {}        # every name, aliases included
        self.helps: list[tuple[str, str]] = []      # (names, help) in order, for --help

    def add_parser(self, name: str, help: str | None = None, aliases=(), **kw) -> "Parser":
        p = Parser(prog=f"{self.parent.prog} {name}", help=help, **kw)
        for n in (name, *aliases):
            self.choices[n] = p
        self.helps.append((", ".join((name, *aliases)), help or ""))
        return p


class Parser:
    """One command: what it accepts and how `--help` shows it."""

    def __init__(self, prog: str = "minidocker", description: str | None = None, help: str | None = None,
                 add_help: bool = True):
        self.prog, self.description, self.summary = prog, description, help
        self.flags: list[_Flag] = []
        self.positionals: list[_Flag] = []
        self.by_name: dict[str, _Flag] = {}
        self.defaults: dict = {}
        self.commands: _Commands | None = None
        if add_help:
            self.add_argument("-h", "--help", action="help", help="show this help")

    # -- building (argparse's names) ------------------------------------------------

    def add_argument(self, *names: str, **kw) -> _Flag:
        f = _Flag(names, **kw)
        # what this parser does not do, refused when a command is defined (not when a user types it)
        if f.action not in ("store", "store_true", "append", "help"):
            raise ValueError(f"{self.prog}: action {f.action!r} is not supported by minidocker.flags")
        if f.nargs is not None and not f.positional:
            raise ValueError(f"{self.prog}: nargs on flag {names[0]} is not supported (docker flags take one value)")
        if f.positional:
            self.positionals.append(f)
            return f
        for n in names:
            if n in self.by_name:
                raise ValueError(f"{self.prog}: flag {n} defined twice")
            self.by_name[n] = f
        self.flags.append(f)
        return f

    def add_argument_group(self, title: str, description: str | None = None) -> _Group:
        return _Group(self, title)

    def set_defaults(self, **kw) -> None:
        self.defaults.update(kw)

    def add_subparsers(self, dest: str | None = None, metavar: str | None = None) -> _Commands:
        self.commands = _Commands(self, dest, metavar)
        return self.commands

    # -- reading -------------------------------------------------------------------

    def parse_args(self, argv: list[str] | None = None, ns: Namespace | None = None) -> Namespace:
        """Parse `argv` (default sys.argv[1:]) by docker's rules; usage errors exit 125."""
        args = list(sys.argv[1:] if argv is None else argv)
        ns = ns if ns is not None else Namespace()
        for f in self.flags + self.positionals:
            if f.default is not SUPPRESS and f.action != "help":
                setattr(ns, f.dest, list(f.default) if isinstance(f.default, list) else f.default)
        if self.commands and self.commands.dest:
            setattr(ns, self.commands.dest, None)
        for k, v in self.defaults.items():
            setattr(ns, k, v)
        ns._parser = self                       # the deepest command reached: main() prints its help

        words: list[str] = []                   # positional words, in order
        self._seen: set[str] = set()
        stop_at = self._words_before_remainder()
        i = 0
        while i < len(args):
            a = args[i]
            i += 1
            if a == "--":
                words += args[i:]
                break
            if a.startswith("--"):
                i = self._long(a, args, i, ns)
            elif a.startswith("-") and a != "-":
                i = self._short(a, args, i, ns)
            elif self.commands is not None and not words:
                sub = self.commands.choices.get(a)
                if sub is None:
                    self.error(f"'{a}' is not a {self.prog} command")
                if self.commands.dest:
                    setattr(ns, self.commands.dest, a)
                return sub.parse_args(args[i:], ns)
            else:
                words.append(a)
                if len(words) == stop_at:       # run IMAGE ...: the rest is the command's
                    words += args[i:]
                    break
        missing = [f.names[-1] for f in self.flags if f.required and f.dest not in self._seen]
        if missing:
            self.error(f'required flag(s) "{", ".join(missing)}" not set')
        self._assign(words, ns)
        return ns

    def _words_before_remainder(self) -> int | None:
        for n, f in enumerate(self.positionals):
            if f.nargs == REMAINDER:
                return n
        return None

    def _long(self, a: str, args: list[str], i: int, ns: Namespace) -> int:
        name, eq, value = a.partition("=")
        f = self.by_name.get(name)
        if f is None:
            self.error(f"unknown flag: {name}")
        if f.takes_value and not eq:
            if i >= len(args):
                self.error(f"flag needs an argument: {name}")
            value, i = args[i], i + 1
        self._apply(f, name, value if (eq or f.takes_value) else None, ns)
        return i

    def _short(self, a: str, args: list[str], i: int, ns: Namespace) -> int:
        j = 1
        while j < len(a):
            name = "-" + a[j]
            f = self.by_name.get(name)
            if f is None:
                self.error(f"unknown shorthand flag: '{a[j]}' in {a}")
            rest = a[j + 1:]
            if f.takes_value:
                value = rest[1:] if rest.startswith("=") else rest
                if not rest:
                    if i >= len(args):
                        self.error(f"flag needs an argument: '{a[j]}' in {a}")
                    value, i = args[i], i + 1
                self._apply(f, name, value, ns)
                return i
            if rest.startswith("="):             # -d=false
                self._apply(f, name, rest[1:], ns)
                return i
            self._apply(f, name, None, ns)
            j += 1
        return i

    def _apply(self, f: _Flag, name: str, value: str | None, ns: Namespace) -> None:
        self._seen.add(f.dest)
        if f.action == "help":
            sys.stdout.write(self.format_help())
            raise SystemExit(0)
        if f.action == "store_true":
            if value is None or value in _TRUE:
                setattr(ns, f.dest, True)
            elif value in _FALSE:
                setattr(ns, f.dest, False)
            else:
                self.error(f'invalid argument "{value}" for "{name}" flag: write true or false')
        elif f.action == "append":
            cur = getattr(ns, f.dest, None)
            setattr(ns, f.dest, (list(cur) if cur else []) + [f.convert(self, name, value)])
        else:
            setattr(ns, f.dest, f.convert(self, name, value))

    def _assign(self, words: list[str], ns: Namespace) -> None:
        """Hand the positional words to IMAGE, [ARG...] etc., as argparse's nargs say."""
        lo, hi = self._arity()
        if not lo <= len(words) <= hi:
            self.error(self._arity_message(lo, hi))
        left = len(words)
        for n, f in enumerate(self.positionals):
            later = self._arity(self.positionals[n + 1:])[0]
            if f.nargs is None:
                take = 1
            elif f.nargs == "?":
                take = 1 if left > later else 0
            else:                                # "+", "*", REMAINDER
                take = left - later
            got, words, left = words[:take], words[take:], left - take
            if f.nargs is None:
                setattr(ns, f.dest, got[0])
            elif f.nargs == "?":
                setattr(ns, f.dest, got[0] if got else f.default)
            else:
                setattr(ns, f.dest, got)

    def _arity(self, positionals: list[_Flag] | None = None) -> tuple[int, float]:
        lo, hi = 0, 0.0
        for f in self.positionals if positionals is None else positionals:
            lo += 1 if f.nargs in (None, "+") else 0
            hi += 1 if f.nargs in (None, "?") else float("inf")
        return lo, hi

    def _arity_message(self, lo: int, hi: float) -> str:
        what = f'"{self.prog}"'
        plural = lambda n: f"{n} argument" + ("" if n == 1 else "s")   # noqa: E731
        if hi == 0:
            return f"{what} accepts no arguments."
        if lo == hi:
            return f"{what} requires exactly {plural(lo)}."
        if hi == float("inf"):
            return f"{what} requires at least {plural(lo)}."
        if lo == 0:
            return f"{what} requires at most {plural(int(hi))}."
        return f"{what} requires at least {lo} and at most {plural(int(hi))}."

    def error(self, message: str) -> None:
        """A usage error, as docker prints it: the message, where to look, exit 125."""
        sys.stderr.write(f"minidocker: {message}\nSee '{self.prog} --help'.\n")
        raise SystemExit(125)

    # -- help ----------------------------------------------------------------------

    def usage(self) -> str:
        parts = [self.prog]
        if [f for f in self.flags if f.action != "help"]:
            parts.append("[OPTIONS]")
        if self.commands is not None:
            parts.append(self.commands.metavar or "COMMAND")
        for f in self.positionals:
            m = f.metavar or f.dest.upper()
            parts.append({None: m, "?": f"[{m}]", "+": f"{m} [{m}...]", "*": f"[{m}...]",
                          REMAINDER: "[COMMAND] [ARG...]"}[f.nargs])
        return " ".join(parts)

    def format_help(self) -> str:
        out = [f"\nUsage:  {self.usage()}\n"]
        about = self.description or self.summary
        if about:
            out.append(f"\n{about}\n")
        groups: dict[str | None, list[tuple[str, str]]] = {}
        for f in self.flags:
            shorts = [n for n in f.names if not n.startswith("--")]
            longs = [n for n in f.names if n.startswith("--")]
            left = (f"{shorts[0]}, " if shorts else "    ") + ", ".join(longs or shorts[1:])
            if f.takes_value:
                left += " " + (f.metavar or ("list" if f.action == "append" else
                                             "int" if f.type is int else "string"))
            groups.setdefault(f.group, []).append((left, f.help or ""))
        for title, rows in groups.items():
            out.append(f"\n{'Options' if title is None else title[:1].upper() + title[1:]}:\n")
            out.append(_table(rows))
        if self.commands is not None:
            out.append("\nCommands:\n" + _table(self.commands.helps))
            out.append(f"\nRun '{self.prog} COMMAND --help' for more information on a command.\n")
        return "".join(out)

    def print_help(self, file=None) -> None:
        (file or sys.stdout).write(self.format_help())


def _table(rows: list[tuple[str, str]]) -> str:
    width = min(max((len(a) for a, _ in rows), default=0), 30)
    lines = []
    for a, b in rows:
        if len(a) > width:
            lines.append(f"  {a}\n  {'':{width}}   {b}".rstrip())
        else:
            lines.append(f"  {a:{width}}   {b}".rstrip())
    return "\n".join(lines) + "\n"
