"""The Dockerfile parser, the shell-word lexer and the CMD/ENTRYPOINT table (no root)."""
from __future__ import annotations

import pytest

from minidocker.errors import BuildError, UsageError
from minidocker.image.dockerfile import effective_command, expand, key_values, parse, split_words

SEED_DJANGO = """\
# This my first django Dockerfile
# Version 1.0

# Base images 基础镜像
FROM centos:centos7.5.1804

#MAINTAINER 维护者信息
LABEL maintainer="603611653@qq.com"

#ENV 设置环境变量
ENV LANG en_US.UTF-8
ENV LC_ALL en_US.UTF-8

RUN curl -so /etc/yum.repos.d/Centos-7.repo http://x/Centos-7.repo && rpm -Uvh http://x/a.rpm
RUN yum install -y  python36 python3-devel gcc pcre-devel zlib-devel make net-tools nginx

WORKDIR /opt/myblog
COPY . .
COPY myblog.conf /etc/nginx
RUN chmod +x run.sh && rm -rf ~/.cache/pip
EXPOSE 8002
CMD ["./run.sh"]
"""


def test_seed_django_dockerfile_parses():
    df = parse(SEED_DJANGO)
    (stage,) = df.stages
    assert stage.base == "centos:centos7.5.1804"
    cmds = [i.cmd for i in stage.instructions]
    assert cmds == ["LABEL", "ENV", "ENV", "RUN", "RUN", "WORKDIR", "COPY", "COPY", "RUN", "EXPOSE", "CMD"]
    assert stage.instructions[-1].exec_form == ["./run.sh"]
    assert stage.instructions[3].exec_form is None          # shell form
    assert stage.instructions[1].line == 11


def test_continuations_comments_and_lines():
    df = parse("FROM busybox\nRUN echo a \\\n  # a comment inside\n\n  && echo b\nCMD x\n")
    run, cmd = df.stages[0].instructions
    assert run.args == "echo a   && echo b"
    assert run.line == 2 and cmd.line == 6


def test_escape_directive_backtick():
    df = parse("# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY c:\\path d\n")
    run, copy = df.stages[0].instructions
    assert run.args == "echo a   b"
    assert df.escape == "`"
    # with ` as escape, a backslash is an ordinary character (Windows paths)
    assert [expand(w, {}, "`") for w in split_words(copy.args, "`")] == ["c:\\path", "d"]


def test_directive_only_at_top():
    # after an instruction "# escape=`" is just a comment
    df = parse("FROM busybox\n# escape=`\nRUN echo \\\n b\n")
    assert df.escape == "\\" and df.stages[0].instructions[0].args == "echo  b"


def test_multistage_names_and_flags():
    df = parse("ARG V=1\nFROM busybox AS Build\nRUN x\nFROM scratch\n"
               "COPY --from=build --chown=1:2 /a /b\n")
    assert [a.args for a in df.global_args] == ["V=1"]
    assert df.stages[0].name == "build" and df.stages[1].base == "scratch"
    copy = df.stages[1].instructions[0]
    assert copy.flags == {"from": "build", "chown": "1:2"} and copy.args == "/a /b"
    assert df.stage_index("build") == 0 and df.stage_index("1") == 1 and df.stage_index("x") is None


@pytest.mark.parametrize("words, text", [
    ("unknown instruction: FORM", "FORM busybox"),
    ("Dockerfile:1: RUN", "RUN x"),                      # before FROM
    ("no FROM", "# only a comment\n"),
    ("bad JSON array", 'FROM busybox\nCMD ["a", b]'),
    ("every element must be a string", 'FROM busybox\nCMD ["a", 1]'),
    ("unknown flag '--form'", "FROM busybox\nCOPY --form=x a b"),
    ("at least one source", "FROM busybox\nCOPY onlyone"),
    ("unclosed", 'FROM busybox\nENV a="x'),
    ("duplicate stage name", "FROM busybox AS a\nFROM busybox AS a"),
    ("invalid escape", "# escape=x\nFROM busybox"),
    ("mixing both forms", "FROM busybox\nENV a=1 b"),
    ("JSON array", "FROM busybox\nSHELL /bin/bash -c"),
    ("does not implement", "FROM busybox\nHEALTHCHECK NONE"),
    ("invalid stage name", "FROM busybox AS 1x"),
    ("ADD: unknown flag '--from'", "FROM busybox\nADD --from=a x y"),
])
def test_errors_name_file_line_and_problem(text, words):
    with pytest.raises(BuildError) as e:
        parse(text, "ctx/Dockerfile")
    assert words in str(e.value)
    assert str(e.value).startswith("ctx/Dockerfile")


def test_error_line_number_points_at_instruction():
    with pytest.raises(BuildError, match=r"^Dockerfile:4: unknown instruction: RUNN"):
        parse("FROM busybox\n\n# c\nRUNN x\n")


def test_shell_test_bracket_is_shell_form():
    # "[ -f x ]" is the shell's test command, not a broken JSON array
    run = parse("FROM busybox\nRUN [ -f /etc/passwd ]").stages[0].instructions[0]
    assert run.exec_form is None


def test_env_and_label_forms():
    df = parse('FROM busybox\nENV myName John Doe\nENV a=1 b="two words" c=$a\n'
               'LABEL "com.x.y"="v 1" k=v\n')
    e1, e2, lab = df.stages[0].instructions
    assert key_values(e1) == [("myName", "John Doe")]
    assert key_values(e2, env={"a": "0"}) == [("a", "1"), ("b", "two words"), ("c", "0")]
    assert key_values(lab) == [("com.x.y", "v 1"), ("k", "v")]


@pytest.mark.parametrize("word, out", [
    ("$A", "x"), ("${A}", "x"), ("${B:-def}", "def"), ("${A:-def}", "x"),
    ("${A:+alt}", "alt"), ("${B:+alt}", ""), ("'$A'", "$A"), ('"$A y"', "x y"),
    ("\\$A", "$A"), ("a$", "a$"), ("pre${A}post", "prexpost"), ('"a\\"b"', 'a"b'),
])
def test_expand(word, out):
    assert expand(word, {"A": "x"}) == out


def test_expand_errors_are_build_errors():
    with pytest.raises(BuildError):
        expand("${A", {})
    with pytest.raises(BuildError):
        expand("${1bad}", {})
    with pytest.raises(BuildError, match="must be set"):
        expand("${Q:?must be set}", {})


# --- docker's CMD/ENTRYPOINT table, row by row --------------------------------
SH = ["/bin/sh", "-c"]


@pytest.mark.parametrize("entrypoint, cmd, expected", [
    (None, ["exec_cmd", "p1_cmd"], ["exec_cmd", "p1_cmd"]),
    (None, SH + ["exec_cmd p1_cmd"], SH + ["exec_cmd p1_cmd"]),
    (SH + ["exec_entry p1_entry"], None, SH + ["exec_entry p1_entry"]),
    (["exec_entry", "p1_entry"], None, ["exec_entry", "p1_entry"]),
    (SH + ["exec_entry p1_entry"], ["exec_cmd", "p1_cmd"], SH + ["exec_entry p1_entry", "exec_cmd", "p1_cmd"]),
    (["exec_entry", "p1_entry"], ["exec_cmd", "p1_cmd"], ["exec_entry", "p1_entry", "exec_cmd", "p1_cmd"]),
    (["exec_entry", "p1_entry"], SH + ["exec_cmd p1_cmd"], ["exec_entry", "p1_entry"] + SH + ["exec_cmd p1_cmd"]),
])
def test_cmd_entrypoint_table(entrypoint, cmd, expected):
    assert effective_command(entrypoint, cmd) == expected


def test_no_cmd_no_entrypoint_is_an_error():
    with pytest.raises(UsageError, match="no command"):
        effective_command(None, None)


def test_run_args_replace_cmd_not_entrypoint():
    assert effective_command(["ep"], ["c"], ["x", "y"]) == ["ep", "x", "y"]
    assert effective_command(None, ["c"], ["x"]) == ["x"]


def test_entrypoint_override_drops_cmd():
    assert effective_command(["ep"], ["c"], [], "/bin/other") == ["/bin/other"]
    assert effective_command(["ep"], ["c"], ["a"], "/bin/other") == ["/bin/other", "a"]
    assert effective_command(["ep"], ["c"], ["sh"], "") == ["sh"]
    with pytest.raises(UsageError):
        effective_command(["ep"], ["c"], [], "")
