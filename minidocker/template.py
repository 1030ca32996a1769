"""A small subset of Go's text/template, enough for `inspect -f` and `--format`.

Supported: literal text, `{{.Field.Sub}}`, `{{json .Field}}`, `{{index .Map "key"}}`,
`{{upper .X}}`/`{{lower .X}}`, and `{{range .List}}...{{end}}` over a list or map
values (`{{.}}` inside). Unknown syntax raises UsageError naming the template.
Go prints maps as map[k:v] and nil as <no value>; we copy those shapes.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import UsageError

_TOKEN = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)


def _lookup(obj: Any, path: str, tmpl: str) -> Any:
    if path == ".":
        return obj
    if not path.startswith("."):
        raise UsageError(f"template {tmpl!r}: cannot evaluate {path!r}", hint="field paths start with a dot: {{.State.Pid}}")
    cur = obj
    for part in path[1:].split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise UsageError(f"template {tmpl!r}: map has no entry for key {part!r}",
                             hint="field names are case-sensitive, as in `inspect`'s JSON")
    return cur


def _go_str(v: Any) -> str:
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_str(x)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_str(x) for x in v) + "]"
    return str(v)


def _eval(expr: str, data: Any, tmpl: str) -> Any:
    words = re.findall(r'"[^"]*"|\S+', expr)
    if not words:
        return ""
    fn, args = words[0], words[1:]
    if fn.startswith(".") and not args:
        return _lookup(data, fn, tmpl)
    vals = [a[1:-1] if a.startswith('"') else _lookup(data, a, tmpl) for a in args]
    if fn == "json" and len(vals) == 1:
        return _Raw(json.dumps(vals[0]))
    if fn == "index" and len(vals) == 2:
        c, k = vals
        try:
            return c[k] if isinstance(c, dict) else c[int(k)]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    if fn in ("upper", "lower") and len(vals) == 1:
        return getattr(str(vals[0]), fn)()
    if fn == "len" and len(vals) == 1:
        return len(vals[0])
    raise UsageError(f"template {tmpl!r}: unsupported action {{{{{expr}}}}}",
                     hint="supported: {{.A.B}}, {{json .X}}, {{index .M \"k\"}}, {{range .L}}..{{end}}")


class _Raw(str):
    pass


def render(tmpl: str, data: Any) -> str:
    """Render a Go-style template against `data` (a dict as `inspect` prints)."""
    out: list[str] = []
    tokens = list(_TOKEN.finditer(tmpl))

    def emit(s: str) -> None:
        out.append(s)

    def run(start: int, end_token: int | None, ctx: Any) -> int:
        nonlocal out
        i = start
        pos = tokens[start - 1].end() if start > 0 else 0
        while i < len(tokens):
            m = tokens[i]
            emit(tmpl[pos:m.start()])
            expr = m.group(1).strip()
            if expr == "end":
                return i
            if expr.startswith("range "):
                items = _eval(expr[6:].strip(), ctx, tmpl)
                seq = list(items.values()) if isinstance(items, dict) else list(items or [])
                body_start = i + 1
                end_i = None
                if not seq:
                    saved = out
                    out = []
                    end_i = run(body_start, None, None)
                    out = saved
                for item in seq:
                    end_i = run(body_start, None, item)
                if end_i is None or end_i >= len(tokens):
                    raise UsageError(f"template {tmpl!r}: range without end")
                i = end_i + 1
                pos = tokens[end_i].end()
                continue
            val = _eval(expr, ctx, tmpl)
            emit(val if isinstance(val, _Raw) else _go_str(val))
            pos = m.end()
            i += 1
        emit(tmpl[pos:])
        return len(tokens)

    end = run(0, None, data)
    if end < len(tokens):
        raise UsageError(f"template {tmpl!r}: unexpected {{{{end}}}}")
    return "".join(out)
