"""The Dockerfile parser: text -> stages of instructions, checked before any work.

Map of this file:
  parse(text, path)          lines -> directives, comments, continuations -> Dockerfile
  Instruction, Stage,        what the parser hands to the builder (minidocker.image.build)
  Dockerfile
  _check_<instr>             per-instruction syntax checks (JSON arrays, flags, KEY=VALUE)
  split_words / expand       docker's shell-word lexer: quotes, escapes, $VAR, ${VAR:-x}
  key_values                 ENV/LABEL arguments (both forms) -> [(key, value)]
  effective_command          the CMD/ENTRYPOINT table from docker's documentation

Every problem is a BuildError whose message starts with "FILE:LINE:" so the
user can jump to it; nothing but BuildError ever leaves parse() (a property
test feeds it random text). Variables are NOT expanded here: their values
depend on the base image's Env and on --build-arg, which the builder knows.
"""
from __future__ import annotations

from ..runtime.config import effective_command  # noqa: F401  (the rule lives with the runtime)

import json
import re
from dataclasses import dataclass, field

from ..errors import BuildError

__all__ = ["Instruction", "Stage", "Dockerfile", "parse", "split_words", "expand",
           "key_values", "effective_command", "INSTRUCTIONS"]

#: instructions we implement, with the docker reference's one-line meaning
INSTRUCTIONS = {
    "FROM": "start a stage from a base image (or scratch)",
    "MAINTAINER": "author (deprecated: becomes the 'Author' field)",
    "LABEL": "key=value metadata in the image config",
    "COPY": "copy files from the context or another stage",
    "ADD": "like COPY, and unpacks local tar archives",
    "WORKDIR": "working directory for RUN/CMD/ENTRYPOINT/COPY",
    "RUN": "run a command in a container of the image so far -> new layer",
    "CMD": "default command (or default ENTRYPOINT arguments)",
    "ENTRYPOINT": "the executable every container of the image runs",
    "ENV": "environment variables, build time and run time",
    "EXPOSE": "documents ports (run -P publishes them)",
    "ARG": "build-time variable, set with --build-arg",
    "USER": "user[:group] for RUN/CMD/ENTRYPOINT",
    "VOLUME": "mount points that get an anonymous volume",
    "SHELL": "the shell used by shell-form RUN/CMD/ENTRYPOINT",
    "STOPSIGNAL": "signal 'stop' sends instead of SIGTERM",
}
#: docker knows these too; we say so instead of calling them unknown
_NOT_SUPPORTED = {"ONBUILD", "HEALTHCHECK"}
#: instructions whose arguments get $VAR expansion (docker's list)
EXPANDS = {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER",
           "VOLUME", "WORKDIR", "ARG"}
_FLAGS = {"FROM": {"platform"}, "COPY": {"from", "chown", "chmod"},
          "ADD": {"chown", "chmod"}}
_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]*$")       # stage names (docker's rule)
_ARGNAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass
class Instruction:
    """One instruction, continuation lines joined.

    cmd       upper-case name ("RUN")
    args      the text after the name and flags, not yet expanded
    exec_form the JSON array for exec form (RUN/CMD/ENTRYPOINT/SHELL/VOLUME/COPY/ADD), else None
    flags     {"from": "builder", "chown": "1:1"} from --flag=value
    line      1-based line of the instruction's first line; path: the Dockerfile
    original  the text as `Step N/M : ...` prints it
    """
    cmd: str
    args: str
    line: int
    path: str
    original: str
    exec_form: list[str] | None = None
    flags: dict[str, str] = field(default_factory=dict)

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def error(self, what: str, hint: str | None = None) -> BuildError:
        return BuildError(f"{self.where()}: {self.cmd}: {what}", hint)


@dataclass
class Stage:
    """FROM <base> [AS <name>] and the instructions after it."""
    index: int
    base: str                 # raw, may contain $ARG
    name: str | None
    from_instr: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: str
    escape: str
    global_args: list[Instruction]       # ARGs before the first FROM
    stages: list[Stage]

    def stage_index(self, name_or_index: str) -> int | None:
        """Index of a stage named `name` (or given by number, as COPY --from=0 allows)."""
        for s in self.stages:
            if s.name is not None and s.name == name_or_index.lower():
                return s.index
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return int(name_or_index)
        return None


# --- the line-level parser ---------------------------------------------------

def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text. Raises BuildError naming path:line on any mistake."""
    lines = text.replace("\r\n", "\n").split("\n")
    escape, first = _directives(lines, path)
    instrs = list(_logical_lines(lines, first, escape, path))
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instrs:
        _check(ins, escape)
        if ins.cmd == "FROM":
            base, name = _from_parts(ins)
            if name is not None and any(s.name == name for s in stages):
                raise ins.error(f"duplicate stage name {name!r}", "give each stage its own AS name")
            stages.append(Stage(len(stages), base, name, ins))
        elif not stages:
            if ins.cmd != "ARG":
                raise ins.error("the first instruction must be FROM (only ARG may come before it)",
                                "start the Dockerfile with e.g. 'FROM busybox'")
            global_args.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise BuildError(f"{path}: no FROM instruction: a Dockerfile must have at least one",
                         "start the Dockerfile with e.g. 'FROM busybox' (or 'FROM scratch')")
    return Dockerfile(path, escape, global_args, stages)


def _directives(lines: list[str], path: str) -> tuple[str, int]:
    """Parser directives (`# escape=`` `, `# syntax=...`) at the very top only.

    Returns the escape character and the index of the first line after them.
    Docker stops looking at the first line that is not a directive.
    """
    escape, seen = "\\", set()
    for i, line in enumerate(lines):
        m = _DIRECTIVE_RE.match(line.strip()) if line.strip().startswith("#") else None
        if not m:
            return escape, i
        key, value = m.group(1).lower(), m.group(2)
        if key in seen:
            raise BuildError(f"{path}:{i + 1}: parser directive {key!r} given twice")
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise BuildError(f"{path}:{i + 1}: invalid escape character {value!r}",
                                 "only '\\' and '`' are allowed: '# escape=`'")
            escape = value
        # other directives (syntax, check) are valid for docker; we ignore them
    return escape, len(lines)


def _logical_lines(lines, start, escape, path):
    """Yield Instructions: skip blanks/comments, join `escape`-ended lines."""
    i = start
    while i < len(lines):
        raw = lines[i]
        if not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        first, parts = i, []
        text = raw
        while True:
            stripped = text.rstrip()
            if stripped.endswith(escape):
                parts.append(stripped[:-1])
                i += 1
                # comment and empty lines inside a continuation are dropped (docker does too)
                while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                text = lines[i]
            else:
                parts.append(text)
                i += 1
                break
        joined = "".join(parts).strip()
        if not joined:
            continue
        yield _instruction(joined, first + 1, path)


def _instruction(text: str, line: int, path: str) -> Instruction:
    m = re.match(r"^(\S+)\s*(.*)$", text, re.S)
    name, rest = m.group(1), m.group(2)  # type: ignore[union-attr]
    cmd = name.upper()
    if cmd in _NOT_SUPPORTED:
        raise BuildError(f"{path}:{line}: {cmd} is a docker instruction minidocker does not implement",
                         "remove it; the course's Dockerfiles do not need it")
    if cmd not in INSTRUCTIONS:
        raise BuildError(f"{path}:{line}: unknown instruction: {name}",
                         "instructions are: " + ", ".join(INSTRUCTIONS))
    return Instruction(cmd, rest.strip(), line, path, f"{cmd} {rest.strip()}".strip())


# --- per-instruction checks --------------------------------------------------

def _take_flags(ins: Instruction) -> None:
    """Move leading --name=value flags into ins.flags (FROM/COPY/ADD only)."""
    allowed = _FLAGS.get(ins.cmd, set())
    while ins.args.startswith("--"):
        word, rest = (ins.args.split(None, 1) + [""])[:2]
        m = re.match(r"^--([a-z-]+)=(.*)$", word)
        if not m or m.group(1) not in allowed:
            known = ", ".join(f"--{f}=" for f in sorted(allowed)) or "none"
            raise ins.error(f"unknown flag {word.split('=')[0]!r} (allowed: {known})")
        if not m.group(2):
            raise ins.error(f"flag --{m.group(1)} needs a value")
        ins.flags[m.group(1)] = m.group(2)
        ins.args = rest.strip()


def _json_array(ins: Instruction, required: bool = False) -> list[str] | None:
    """Exec form: a JSON array of strings. None when the text is shell form.

    Docker silently treats text that fails to parse as JSON as shell form; we
    only do that when it cannot have been meant as JSON (`RUN [ -f x ]` is the
    shell's test command), and refuse `["a", b]` with a clear message.
    """
    s = ins.args
    looks_json = bool(re.match(r'^\[\s*("|\])', s))
    if not looks_json and not required:
        return None
    try:
        value = json.loads(s)
    except ValueError as e:
        raise ins.error(f"bad JSON array {s!r}: {e.msg} at column {e.pos + 1}",
                        'exec form needs double quotes: ["executable", "arg1"]') from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ins.error(f"bad JSON array {s!r}: every element must be a string",
                        'write e.g. ["nginx", "-g", "daemon off;"]')
    return value


def _check(ins: Instruction, escape: str) -> None:
    c = ins.cmd
    if c in ("FROM", "COPY", "ADD"):
        _take_flags(ins)
    if not ins.args and c not in ("CMD", "ENTRYPOINT", "RUN"):
        raise ins.error("needs at least one argument")
    if c in ("RUN", "CMD", "ENTRYPOINT"):
        ins.exec_form = _json_array(ins)
        if c == "RUN" and not ins.args:
            raise ins.error("needs a command")
    elif c == "SHELL":
        ins.exec_form = _json_array(ins, required=True)
        if not ins.exec_form:
            raise ins.error("needs a non-empty JSON array", 'write e.g. SHELL ["/bin/sh", "-c"]')
    elif c in ("VOLUME",):
        ins.exec_form = _json_array(ins)
    elif c in ("COPY", "ADD"):
        ins.exec_form = _json_array(ins)
        n = len(ins.exec_form) if ins.exec_form is not None else len(split_words(ins.args, escape, ins))
        if n < 2:
            raise ins.error("needs at least one source and a destination", f"write e.g. {c} app.py /app/")
    elif c in ("ENV", "LABEL"):
        key_values(ins, escape)       # raises on a bad form
    elif c == "ARG":
        words = split_words(ins.args, escape, ins)
        for w in words:
            name = w.split("=", 1)[0]
            if not _ARGNAME_RE.match(name):
                raise ins.error(f"invalid ARG name {name!r}", "names are letters, digits and '_'")
    elif c in ("WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER", "EXPOSE"):
        split_words(ins.args, escape, ins)   # unclosed quotes are an error here too


def _from_parts(ins: Instruction) -> tuple[str, str | None]:
    words = ins.args.split()
    if len(words) == 1:
        return words[0], None
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _NAME_RE.match(name):
            raise ins.error(f"invalid stage name {words[2]!r}",
                            "stage names start with a letter: letters, digits, '_', '-', '.'")
        return words[0], name
    raise ins.error(f"expected 'FROM <image> [AS <name>]', got {ins.args!r}")


# --- docker's shell-word lexer -----------------------------------------------

def split_words(s: str, escape: str = "\\", ins: Instruction | None = None) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes (expand() removes them)."""
    words, cur, quote, i, in_word = [], [], "", 0, False
    while i < len(s):
        ch = s[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch.isspace():
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            in_word = True
            cur.append(ch)
            if ch == escape and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif ch in "'\"":
                quote = ch
        i += 1
    if quote:
        msg = f"unclosed {quote} quote in {s!r}"
        raise ins.error(msg) if ins else BuildError(msg)
    if in_word:
        words.append("".join(cur))
    return words


def expand(word: str, env: dict[str, str], escape: str = "\\",
           ins: Instruction | None = None) -> str:
    """Remove quotes and escapes and substitute $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}.

    Single quotes stop expansion; an escaped '$' stays literal (docker's rules).
    """
    out, i, quote = [], 0, ""
    n = len(word)

    def fail(msg: str) -> BuildError:
        return ins.error(msg) if ins else BuildError(msg)

    while i < n:
        ch = word[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                out.append(ch)
        elif ch == escape and i + 1 < n:
            nxt = word[i + 1]
            if quote == '"' and nxt not in ('"', "$", escape):
                out.append(ch)      # inside "", only \" \$ \\ are escapes
            out.append(nxt)
            i += 1
        elif ch in "'\"" and not quote:
            quote = ch
        elif ch == '"' and quote == '"':
            quote = ""
        elif ch == "$" and i + 1 < n:
            value, i = _variable(word, i + 1, env, fail)
            out.append(value)
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _variable(word, i, env, fail):
    """Parse the variable after '$' at word[i]; return (value, index after it)."""
    if word[i] == "{":
        end = word.find("}", i)
        if end < 0:
            raise fail(f"missing '}}' in {word!r}")
        body = word[i + 1:end]
        m = re.match(r"^([a-zA-Z_][a-zA-Z0-9_]*)(?::([-+?])(.*))?$", body, re.S)
        if not m:
            raise fail(f"bad substitution ${{{body}}} in {word!r}")
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        value = env.get(name, "")
        if op == "-":
            value = value or arg
        elif op == "+":
            value = arg if value else ""
        elif op == "?" and not value:
            raise fail(f"{name}: {arg or 'parameter not set'}")
        return value, end + 1
    m = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", word[i:])
    if not m:
        return "$", i
    return env.get(m.group(0), ""), i + m.end()


def key_values(ins: Instruction, escape: str = "\\",
               env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """ENV/LABEL arguments -> [(key, value)], both forms, expanded with `env`.

      ENV myName John Doe      -> [("myName", "John Doe")]     (legacy: one pair)
      ENV a=1 b="two words"    -> [("a", "1"), ("b", "two words")]
    """
    env = env or {}
    words = split_words(ins.args, escape, ins)
    if not words:
        raise ins.error("needs KEY=VALUE or KEY VALUE")
    if "=" not in words[0] or words[0].startswith("="):
        if len(words) < 2:
            raise ins.error(f"{words[0]!r} has no value", f"write {ins.cmd} {words[0]}=value")
        key = expand(words[0], env, escape, ins)
        # legacy form: the value is the rest of the line, as written
        value = ins.args.split(None, 1)[1]
        return [(key, expand(value, env, escape, ins) if ins.cmd == "ENV" else value.strip())]
    pairs = []
    for w in words:
        if "=" not in w or w.startswith("="):
            raise ins.error(f"{w!r} is not KEY=VALUE (mixing both forms is not allowed)",
                            f"write {ins.cmd} a=1 b=2, or one '{ins.cmd} KEY VALUE' per line")
        k, v = w.split("=", 1)
        pairs.append((expand(k, env, escape, ins), expand(v, env, escape, ins)))
    return pairs


# --- CMD and ENTRYPOINT ------------------------------------------------------

