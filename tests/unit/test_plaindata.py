"""minidocker.plaindata: the subset of dataclasses the runtime uses, without its import cost."""
import dataclasses
import subprocess
import sys

import pytest

from minidocker.plaindata import FrozenInstanceError, asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class Inner:
    a: int
    b: str = "x"


@dataclass
class Outer:
    name: str
    inner: Inner = Inner(1)
    items: list = field(default_factory=list)
    tags: tuple = ()


@dataclass(frozen=True)
class Child(Inner):
    c: int = 3


def test_construction_defaults_and_factories():
    o1, o2 = Outer("a"), Outer("b", Inner(2, "y"), tags=("t",))
    o1.items.append(1)
    assert o2.items == [] and o1.items == [1]          # a fresh list per instance
    assert o2.inner == Inner(2, "y") and o2.tags == ("t",)
    with pytest.raises(TypeError, match="missing required argument 'name'"):
        Outer()
    with pytest.raises(TypeError, match="unexpected keyword"):
        Outer("a", nope=1)
    with pytest.raises(TypeError, match="multiple values"):
        Outer("a", name="b")
    with pytest.raises(TypeError, match="positional"):
        Inner(1, "b", 3)


def test_frozen_hash_eq_repr():
    i = Inner(1)
    with pytest.raises(FrozenInstanceError):
        i.a = 2
    assert isinstance(FrozenInstanceError("x"), AttributeError)
    assert hash(Inner(1, "x")) == hash(Inner(1, "x")) and {Inner(1), Inner(1)} == {Inner(1)}
    assert Inner(1) != Inner(2) and Inner(1) != (1, "x")
    assert repr(Inner(1)) == "Inner(a=1, b='x')"
    with pytest.raises(TypeError):
        hash(Outer("a"))                                # mutable + eq: unhashable, like dataclasses


def test_asdict_replace_fields_match_dataclasses():
    @dataclasses.dataclass(frozen=True)
    class RealInner:
        a: int
        b: str = "x"

    @dataclasses.dataclass
    class RealOuter:
        name: str
        inner: RealInner = RealInner(1)
        items: list = dataclasses.field(default_factory=list)
        tags: tuple = ()

    ours = Outer("n", Inner(5, "z"), [Inner(6)], ("a", "b"))
    real = RealOuter("n", RealInner(5, "z"), [RealInner(6)], ("a", "b"))
    assert asdict(ours) == dataclasses.asdict(real)
    assert asdict(ours)["items"] is not ours.items                 # a copy
    r = replace(ours, name="m")
    assert r.name == "m" and r.inner is ours.inner and ours.name == "n"
    with pytest.raises(TypeError):
        replace(ours, nope=1)
    assert [f.name for f in fields(Outer)] == ["name", "inner", "items", "tags"]
    assert [f.name for f in fields(Child)] == ["a", "b", "c"] and Child(1).c == 3


def test_non_default_after_default_is_refused():
    with pytest.raises(TypeError, match="follows a default"):
        @dataclass
        class Bad:
            a: int = 1
            b: int


def test_cli_import_does_not_load_dataclasses_or_typing():
    code = ("import sys, minidocker.cli, minidocker.runtime.lifecycle, minidocker.runtime.container, "
            "minidocker.image.store; print(sorted(m for m in ('dataclasses', 'typing', 'inspect', 'hashlib', "
            "'tarfile', 'socket', 'subprocess', 'tempfile') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
