"""Config-only instructions (buildsteps.META) on an image config, no root, no store."""
from __future__ import annotations

import pytest

from minidocker.errors import BuildError
from minidocker.image import buildsteps as S
from minidocker.image.dockerfile import parse


def apply(lines: str, config: dict | None = None) -> dict:
    df = parse("FROM busybox\n" + lines, "Dockerfile")
    st = S.State({"config": dict(config or {})}, None)
    for ins in df.stages[0].instructions:
        if ins.cmd == "ARG":
            S.declare_args(ins, st, df, {}, {}, set())
        else:
            S.META[ins.cmd](ins, st, df, st.env())
    return st.c


def test_env_replaces_and_expands():
    c = apply("ENV A=1\nENV B=${A}2 A=3\nENV C $B-$A", {"Env": ["PATH=/bin", "A=0"]})
    assert c["Env"] == ["PATH=/bin", "B=12", "A=3", "C=12-3"]


def test_arg_is_visible_but_env_wins():
    c = apply("ARG X=arg\nENV Y=$X\nENV X=env\nENV Z=$X")
    assert "Y=arg" in c["Env"] and "Z=env" in c["Env"] and not any(e.startswith("X=arg") for e in c["Env"])


def test_shell_forms_use_shell_instruction():
    c = apply('CMD echo hi\nSHELL ["/bin/bash", "-ec"]\nENTRYPOINT run me')
    assert c["Entrypoint"] == ["/bin/bash", "-ec", "run me"]
    assert c["Cmd"] == ["/bin/sh", "-c", "echo hi"]          # CMD set in this stage is kept


def test_entrypoint_resets_inherited_cmd():
    c = apply('ENTRYPOINT ["/bin/app"]', {"Cmd": ["sh"]})
    assert c["Entrypoint"] == ["/bin/app"] and c["Cmd"] is None
    assert apply("ENTRYPOINT []", {"Entrypoint": ["x"]})["Entrypoint"] is None


def test_expose_forms():
    c = apply("EXPOSE 80 443/tcp 11211/udp\nEXPOSE 8000-8002")
    assert sorted(c["ExposedPorts"]) == ["11211/udp", "443/tcp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
    for bad in ("EXPOSE 70000", "EXPOSE http", "EXPOSE 80/xyz", "EXPOSE 0"):
        with pytest.raises(BuildError, match=r"^Dockerfile:2: EXPOSE"):
            apply(bad)


def test_user_volume_stopsignal_label_maintainer():
    c = apply('USER app:staff\nVOLUME /a /b\nVOLUME ["/c"]\nSTOPSIGNAL SIGQUIT\n'
              'LABEL a=1\nLABEL b="x y" a=2')
    assert c["User"] == "app:staff" and c["Volumes"] == {"/a": {}, "/b": {}, "/c": {}}
    assert c["StopSignal"] == "SIGQUIT" and c["Labels"] == {"a": "2", "b": "x y"}
    assert apply("STOPSIGNAL 9")["StopSignal"] == "9"
    with pytest.raises(BuildError, match="invalid signal"):
        apply("STOPSIGNAL SIGNOPE")
    with pytest.raises(BuildError, match="exactly one argument"):
        apply("USER a b")
