"""JSON through CPython's C core, without the `json` package around it.

Why: `import json` costs ~3.5 ms on the lab VM (a fourteenth of `minidocker
run`), most of it `re`, which json.decoder and json.encoder import to
compile a few patterns at import time. The parsing and the compact writing
are done in C by the `_json` module either way; this file calls it directly,
as the json package itself does (json/scanner.py, json/encoder.py). Modules on
`run`'s path write `from .. import fastjson as json` and read like json users.

Same results as json.loads/json.dumps for what minidocker stores (dicts,
lists, strings, numbers, booleans, None): tests/unit/test_fastjson.py checks
it on generated documents. Where `_json` is missing (another Python), the
real json package does the work.

Map:
  loads / load     text -> object (the C scanner; errors are ValueError, as json's are)
  dumps / dump     object -> text: compact in C; indent=N in Python, json's exact layout
"""
from __future__ import annotations

try:
    import _json
except ImportError:           # not CPython: fall back to the package
    _json = None

JSONDecodeError = ValueError   # json.JSONDecodeError is a ValueError; catch this name


class _Context:
    """What the C scanner reads from json.JSONDecoder: the default hooks."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_WS = " \t\n\r"
_scan = _json.make_scanner(_Context()) if _json else None


def loads(s: str | bytes):
    """Parse one JSON document; ValueError (json.JSONDecodeError) if it is not one."""
    if _scan is None:
        import json
        return json.loads(s)
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    i = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scan(s, i)
        if not s[end:].strip(_WS):
            return obj
    except Exception:
        # Not JSON. The C scanner builds its error from json.decoder, which is not
        # loaded (it fails with SystemError then): let the package re-read the text
        # and raise json.JSONDecodeError with the line and column.
        pass
    # (The scanner interns repeated keys in a dict of its own and empties it after
    # each call; it holds the GIL throughout, so threads may share it.)
    import json
    return json.loads(s)


def load(fp):
    return loads(fp.read())


def _floatstr(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    return float.__repr__(f)


def _no_default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj, *, indent: int | None = None, ensure_ascii: bool = True,
          separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """json.dumps with the options minidocker uses; the same text, character for character."""
    if _json is None:
        import json
        return json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, separators=separators,
                          sort_keys=sort_keys)
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    if indent is None:        # all in C: json.encoder's c_make_encoder, with json.dumps' defaults
        item_sep, key_sep = separators or (", ", ": ")
        enc = _json.make_encoder({}, _no_default, quote, None, key_sep, item_sep, sort_keys, False, True)
        return "".join(enc(obj, 0))
    item_sep, key_sep = separators or (",", ": ")
    out: list[str] = []
    _pretty(obj, out, quote, " " * indent, "\n", item_sep, key_sep, sort_keys)
    return "".join(out)


def _pretty(o, out, quote, step, nl, item_sep, key_sep, sort_keys) -> None:
    """json.encoder's indented layout: one item per line, `step` deeper per level."""
    if isinstance(o, str):
        out.append(quote(o))
    elif o is None:
        out.append("null")
    elif o is True or o is False:
        out.append("true" if o else "false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_floatstr(o))
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner = nl + step
        out.append("[" + inner)
        for n, v in enumerate(o):
            if n:
                out.append(item_sep + inner)
            _pretty(v, out, quote, step, inner, item_sep, key_sep, sort_keys)
        out.append(nl + "]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner = nl + step
        out.append("{" + inner)
        items = sorted(o.items()) if sort_keys else o.items()
        for n, (k, v) in enumerate(items):
            if n:
                out.append(item_sep + inner)
            out.append(quote(_key(k)) + key_sep)
            _pretty(v, out, quote, step, inner, item_sep, key_sep, sort_keys)
        out.append(nl + "}")
    else:
        _no_default(o)


def _key(k) -> str:
    """Dict keys as json writes them: strings as they are, numbers/booleans/None spelled out."""
    if isinstance(k, str):
        return k
    if k is True or k is False:
        return "true" if k else "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    if isinstance(k, float):
        return _floatstr(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def dump(obj, fp, **kw) -> None:
    fp.write(dumps(obj, **kw))
