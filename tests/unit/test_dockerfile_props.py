"""Property tests: no input makes the Dockerfile parser fail with anything but BuildError."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from minidocker.errors import BuildError
from minidocker.image.dockerfile import INSTRUCTIONS, expand, key_values, parse, split_words

_words = st.sampled_from(sorted(INSTRUCTIONS) + ["run", "from", "FORM", "#", "# escape=`", "\\",
                                                 "`", "[", "]", '"', "'", "=", "$", "${", "}",
                                                 "--from=a", "--chown=", "AS", "scratch", "\n", " "])
_text = st.lists(st.one_of(_words, st.text(max_size=8)), max_size=30).map(" ".join)


def _all_paths(text: str) -> None:
    df = parse(text, "Dockerfile")
    for stage in df.stages:
        for ins in stage.instructions:
            for w in split_words(ins.args, df.escape, ins):
                expand(w, {"A": "1"}, df.escape, ins)
            if ins.cmd in ("ENV", "LABEL"):
                key_values(ins, df.escape, {"A": "1"})


@settings(max_examples=400, deadline=None)
@given(st.one_of(_text, st.text(max_size=200)))
def test_parser_raises_only_build_error(text):
    try:
        _all_paths(text)
    except BuildError as e:
        assert str(e)           # a message, never empty


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_from_first_then_anything(text):
    try:
        _all_paths("FROM busybox\n" + text)
    except BuildError as e:
        assert str(e).startswith("Dockerfile")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab*?[]^!\\/.-\n#", max_size=12), max_size=5),
       st.text(alphabet="ab/.-", max_size=12))
def test_dockerignore_never_crashes(tmp_path_factory, patterns, path):
    from minidocker.image.buildcontext import Context
    d = tmp_path_factory.mktemp("ign")
    (d / ".dockerignore").write_text("\n".join(patterns))
    try:
        Context(str(d)).ignored(path)
    except BuildError as e:
        assert ".dockerignore" in str(e)
