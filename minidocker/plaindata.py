"""Plain data classes, without importing `dataclasses`.

    from minidocker.plaindata import dataclass, field, asdict, replace, fields

    @dataclass(frozen=True)
    class Mount:
        kind: str
        target: str = "/"
        options: dict = field(default_factory=dict)

Why not the standard library's `dataclasses`? Measured on the course VM
(`python -X importtime`): importing it costs ~12 ms, because it imports
`inspect` (and with it `ast`, `dis`, `tokenize`), and each @dataclass then
writes Python source for __init__/__eq__/... and compiles it with exec(),
~0.7 ms per class. `minidocker run` defines about a dozen such classes on
its way to fork(); together that was a third of its start-up time, for
containers that start in tens of milliseconds. (DESIGN.md asks for
dataclasses for plain data; this keeps the spelling and drops the cost.)

This module does the same job for the part of the API minidocker uses, in
plain Python: the class's annotated names are the fields, in order;
__init__ walks that list instead of running generated code.

Supported: defaults, field(default_factory=...), frozen=True, positional and
keyword construction, __repr__, __eq__, __hash__ (frozen classes),
asdict() (recursive), replace(), fields(), and fields inherited from a base
class made with this decorator. Not supported: everything else (no
__post_init__, no InitVar, no ordering, no slots, no kw_only).
"""
from __future__ import annotations

__all__ = ["dataclass", "field", "fields", "asdict", "replace", "FrozenInstanceError", "Field"]

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen instance (same name as dataclasses')."""


class Field:
    __slots__ = ("name", "default", "default_factory")

    def __init__(self, default=_MISSING, default_factory=None, name: str = ""):
        self.name = name
        self.default = default
        self.default_factory = default_factory

    def value(self):
        """The default for one new instance (a fresh object from the factory)."""
        if self.default_factory is not None:
            return self.default_factory()
        return self.default

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default=_MISSING, default_factory=None) -> Field:
    """Like dataclasses.field: a default, or a factory for mutable defaults (lists, dicts)."""
    return Field(default, default_factory)


def fields(obj_or_cls) -> tuple[Field, ...]:
    return obj_or_cls.__plain_fields__


def _is_plain(obj) -> bool:
    return hasattr(type(obj), "__plain_fields__")


def asdict(obj) -> dict:
    """Fields as a dict, recursing into nested plain data, lists, tuples and dicts (copies)."""
    return {f.name: _copy(getattr(obj, f.name)) for f in obj.__plain_fields__}


def _copy(v):
    if _is_plain(v):
        return asdict(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_copy(x) for x in v)
    if isinstance(v, dict):
        return {_copy(k): _copy(x) for k, x in v.items()}
    return v


def replace(obj, **changes):
    """A new instance with some fields changed (the original is untouched)."""
    kw = {f.name: getattr(obj, f.name) for f in obj.__plain_fields__}
    unknown = set(changes) - set(kw)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {sorted(unknown)}")
    kw.update(changes)
    return type(obj)(**kw)


def _init(self, *args, **kw) -> None:
    flds = self.__plain_fields__
    if len(args) > len(flds):
        raise TypeError(f"{type(self).__name__}() takes {len(flds)} positional arguments, {len(args)} given")
    setter = object.__setattr__           # works for frozen classes too
    for f, v in zip(flds, args):
        if f.name in kw:
            raise TypeError(f"{type(self).__name__}() got multiple values for {f.name!r}")
        setter(self, f.name, v)
    for f in flds[len(args):]:
        if f.name in kw:
            setter(self, f.name, kw.pop(f.name))
        else:
            v = f.value()
            if v is _MISSING:
                raise TypeError(f"{type(self).__name__}() missing required argument {f.name!r}")
            setter(self, f.name, v)
    if kw:
        raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(kw)}")


def _values(self) -> tuple:
    return tuple(getattr(self, f.name) for f in self.__plain_fields__)


def _repr(self) -> str:
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__plain_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")


def _hash(self) -> int:
    return hash(_values(self))


def dataclass(cls=None, *, frozen: bool = False):
    """Class decorator: make `cls` a plain data class (see the module docstring)."""
    def wrap(cls):
        inherited = list(getattr(cls, "__plain_fields__", ()))
        own = []
        for name, ann in cls.__dict__.get("__annotations__", {}).items():
            if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
                continue
            default = cls.__dict__.get(name, _MISSING)
            f = default if isinstance(default, Field) else Field(default)
            f.name = name
            if isinstance(default, Field):       # the class attribute becomes the plain default
                if f.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, f.default)
            inherited = [g for g in inherited if g.name != name]
            own.append(f)
        all_fields = tuple(inherited + own)
        seen_default = False
        for f in all_fields:
            has_default = f.default is not _MISSING or f.default_factory is not None
            if seen_default and not has_default:
                raise TypeError(f"{cls.__name__}: non-default field {f.name!r} follows a default one")
            seen_default = seen_default or has_default
        cls.__plain_fields__ = all_fields
        cls.__init__ = _init
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = _repr
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = _eq
        if frozen:
            cls.__setattr__ = _frozen_setattr
            cls.__delattr__ = _frozen_setattr
            cls.__hash__ = _hash
        elif "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            cls.__hash__ = None                  # mutable and comparable: unhashable, as dataclasses does
        return cls
    return wrap if cls is None else wrap(cls)
