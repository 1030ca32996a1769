"""`minidocker build` on the real kernel: every instruction, the cache, multi-stage, errors."""
from __future__ import annotations

import io
import os
import re
import tarfile

import pytest

from minidocker.errors import BuildError
from minidocker.image.build import build
from tests.helpers import md

pytestmark = pytest.mark.usefixtures("root_only")

EVERYTHING = """\
# escape=\\
# a Dockerfile that uses every instruction minidocker knows
ARG BASE=busybox
FROM ${BASE} AS builder
RUN mkdir -p /out && echo built-in-stage-one > /out/artifact

FROM busybox
MAINTAINER Yongxin Li <inspur_lyx@hotmail.com>
LABEL maintainer="603611653@qq.com" version=1.0 "com.example.two words"="a b"
ARG WHO=world
ENV LANG en_US.UTF-8
ENV APP_HOME=/opt/app GREETING="hello $WHO"
WORKDIR $APP_HOME
COPY app.txt .
COPY conf/ /etc/app/
ADD bundle.tar.gz /opt/bundle/
COPY --from=builder /out/artifact /opt/artifact
RUN echo "$GREETING" > greeting && \\
    cat app.txt >> greeting
EXPOSE 80 443/tcp 11211/udp
USER 1000:1000
VOLUME ["/data", "/logs"]
SHELL ["/bin/sh", "-c"]
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/cat"]
CMD ["greeting"]
"""


def _context(tmp_path, dockerfile=EVERYTHING):
    ctx = tmp_path / "ctx"
    (ctx / "conf").mkdir(parents=True)
    (ctx / "app.txt").write_text("app v1\n")
    (ctx / "conf" / "app.conf").write_text("port=80\n")
    (ctx / "conf" / "debug.log").write_text("must be ignored\n")
    (ctx / "secret.key").write_text("never in the image\n")
    (ctx / ".dockerignore").write_text("# comments are fine\n*.key\n**/*.log\n")
    src = tmp_path / "bundle"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "b.txt").write_text("from the tarball\n")
    with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as t:
        t.add(src / "lib", arcname="lib")
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def _files(img) -> dict[str, str]:
    """path -> content for regular files, top layer wins (no whiteouts in these builds)."""
    out = {}
    for d in img.layer_dirs:
        for dirpath, _, names in os.walk(d):
            for n in names:
                p = os.path.join(dirpath, n)
                if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 10000:
                    out["/" + os.path.relpath(p, d)] = open(p, errors="replace").read()
    return out


def test_every_instruction_config_and_files(md_root, tmp_path, host_clean):
    from minidocker.image.store import Store
    ctx = _context(tmp_path)
    out = io.StringIO()
    r = build(str(ctx), tags=["mdk6/every:1"], build_args={"WHO": "students"}, out=out)
    text = out.getvalue()
    assert text.count("Step ") == 22 and "Step 1/22 : ARG BASE=busybox\nStep 2/22 : FROM ${BASE} AS builder" in text
    assert re.search(r"Successfully built [0-9a-f]{12}\n", text)
    assert "Successfully tagged mdk6/every:1" in text
    img = Store().resolve("mdk6/every:1")
    assert img.id == r.image_id
    c = img.config["config"]
    env = dict(e.split("=", 1) for e in c["Env"])
    assert env["LANG"] == "en_US.UTF-8" and env["APP_HOME"] == "/opt/app"
    assert env["GREETING"] == "hello students" and "WHO" not in env      # ARGs are not kept
    assert c["Cmd"] == ["greeting"] and c["Entrypoint"] == ["/bin/cat"]
    assert c["WorkingDir"] == "/opt/app"
    assert c["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}, "11211/udp": {}}
    assert c["Labels"] == {"maintainer": "603611653@qq.com", "version": "1.0", "com.example.two words": "a b"}
    assert c["User"] == "1000:1000" and c["Volumes"] == {"/data": {}, "/logs": {}}
    assert c["StopSignal"] == "SIGQUIT" and c["Shell"] == ["/bin/sh", "-c"]
    assert img.config["author"] == "Yongxin Li <inspur_lyx@hotmail.com>"
    files = _files(img)
    assert files["/opt/app/greeting"] == "hello students\napp v1\n"
    assert files["/etc/app/app.conf"] == "port=80\n"
    assert "/etc/app/debug.log" not in files and not any(p.endswith("secret.key") for p in files)
    assert files["/opt/bundle/lib/b.txt"] == "from the tarball\n"          # ADD unpacked it
    assert files["/opt/artifact"] == "built-in-stage-one\n"               # COPY --from
    # history: metadata steps are empty layers, like docker's #(nop) lines
    assert any("#(nop)" in h["created_by"] and h.get("empty_layer") for h in img.history)

    # the image runs: ENTRYPOINT + CMD
    run = md("run", "--rm", "--network", "none", "mdk6/every:1")
    assert run.returncode == 0 and run.stdout == "hello students\napp v1\n", run.stderr

    # second build: every step after FROM comes from the cache, same image
    out2 = io.StringIO()
    r2 = build(str(ctx), tags=["mdk6/every:1"], build_args={"WHO": "students"}, out=out2)
    assert r2.image_id == r.image_id and r2.cache_hits == 19
    assert out2.getvalue().count(" ---> Using cache") == 19 and "Running in" not in out2.getvalue()

    # change one COPY source: the steps before it are cached, it and all after are rebuilt
    (ctx / "app.txt").write_text("app v2\n")
    out3 = io.StringIO()
    r3 = build(str(ctx), tags=["mdk6/every:1"], build_args={"WHO": "students"}, out=out3)
    steps = re.split(r"(?m)^Step ", out3.getvalue())[1:]
    cached = [s.split(" : ")[1].split("\n")[0] for s in steps if "Using cache" in s]
    rebuilt = [s.split(" : ")[1].split("\n")[0] for s in steps
               if "Using cache" not in s and not s.split(" : ")[1].startswith(("FROM", "ARG BASE"))]
    assert cached[-1] == "WORKDIR $APP_HOME"
    assert rebuilt[0] == "COPY app.txt ." and rebuilt[-1] == 'CMD ["greeting"]' and len(rebuilt) == 12
    assert r3.image_id != r.image_id
    assert _files(Store().resolve(r3.image_id))["/opt/app/greeting"] == "hello students\napp v2\n"

    # --no-cache: nothing reused
    out4 = io.StringIO()
    build(str(ctx), no_cache=True, build_args={"WHO": "students"}, out=out4)
    assert "Using cache" not in out4.getvalue()

    # a different build-arg changes RUN's cache key but not the steps before ARG's use
    out5 = io.StringIO()
    build(str(ctx), build_args={"WHO": "teachers"}, out=out5)
    assert "Running in" in out5.getvalue()


def test_multistage_target_and_scratch(md_root, tmp_path, host_clean):
    from minidocker.image.store import Store
    ctx = tmp_path / "ms"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS build\nRUN echo compiled > /prog\n"
        "FROM scratch AS final\nCOPY --from=build /prog /prog\nCOPY --from=build /bin/busybox /busybox\n"
        'ENTRYPOINT ["/busybox", "cat"]\nCMD ["/prog"]\n')
    r = build(str(ctx), tags=["mdk6/ms:final"], out=io.StringIO())
    img = Store().resolve("mdk6/ms:final")
    assert len(img.layer_dirs) == 2 and _files(img)["/prog"] == "compiled\n"
    run = md("run", "--rm", "--network", "none", "mdk6/ms:final")
    assert run.stdout == "compiled\n", run.stderr
    t = build(str(ctx), tags=["mdk6/ms:build"], target="build", out=io.StringIO())
    assert t.image_id == r.stage_ids[0] and len(Store().resolve("mdk6/ms:build").layer_dirs) == 2
    with pytest.raises(BuildError, match="target stage 'nope' not found"):
        build(str(ctx), target="nope", out=io.StringIO())


@pytest.mark.parametrize("dockerfile, words", [
    ("FROM busybox\nCOPY missing.txt /\n", "Dockerfile:2: COPY: source 'missing.txt' not found"),
    ("FROM busybox\nCOPY ../outside /\n", "Dockerfile:2: COPY: source '../outside' is outside the build context"),
    ("FROM busybox\nCOPY secret.key /\n", "excluded by .dockerignore"),
    ("FROM busybox\nRUN true\nBOGUS x\n", "Dockerfile:3: unknown instruction: BOGUS"),
    ("RUN true\n", "Dockerfile:1: RUN: the first instruction must be FROM"),
    ('FROM busybox\nCMD ["a", \'b\']\n', "Dockerfile:2: CMD: bad JSON array"),
    ("FROM busybox\nRUN echo ran\nCOPY --from=later /x /\nFROM busybox AS later\n", "names this stage or a later one"),
])
def test_errors_before_any_work(md_root, tmp_path, dockerfile, words):
    from minidocker.image.store import Store
    ctx = tmp_path / "bad"
    ctx.mkdir()
    (ctx / "secret.key").write_text("x")
    (ctx / ".dockerignore").write_text("*.key\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    out = io.StringIO()
    with pytest.raises(BuildError) as e:
        build(str(ctx), out=out)
    assert words in str(e.value)
    assert "Step" not in out.getvalue()          # nothing ran
    assert [i for i in Store().images(all=True) if "busybox:latest" not in i.repo_tags] == []


def test_failing_run_names_the_command_and_cleans_up(md_root, tmp_path, host_clean):
    ctx = tmp_path / "fail"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo before\nRUN exit 3\n")
    r = md("build", "-t", "mdk6/fail:1", str(ctx))
    assert r.returncode == 125
    assert "Dockerfile:3: RUN: the command '/bin/sh -c exit 3' returned a non-zero code: 3" in r.stderr
    assert "Removing intermediate container" in r.stdout
    assert md("ps", "-aq").stdout.strip() == ""


def test_cli_build_quiet_and_file_flag(md_root, tmp_path, host_clean):
    ctx = tmp_path / "cli"
    ctx.mkdir()
    (ctx / "other.Dockerfile").write_text("# escape=`\nFROM busybox\nENV A=1 `\n    B=2\nCMD echo $A$B\n")
    r = md("build", "-q", "-f", str(ctx / "other.Dockerfile"), "-t", "mdk6/cli:q", str(ctx))
    assert r.returncode == 0 and re.fullmatch(r"sha256:[0-9a-f]{64}\n", r.stdout), r.stderr
    run = md("run", "--rm", "--network", "none", "mdk6/cli:q")
    assert run.stdout == "12\n", run.stderr


def test_copy_chown_chmod_and_from_image(md_root, tmp_path, host_clean):
    from minidocker.image.store import Store
    ctx = tmp_path / "own"
    ctx.mkdir()
    (ctx / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    os.chmod(ctx / "tool.sh", 0o644)
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "COPY --chown=nobody:nobody --chmod=755 tool.sh /usr/local/bin/tool\n"
        "COPY --chown=1234:5678 tool.sh /opt/numeric\n"
        "COPY --from=busybox /etc/passwd /copied-passwd\n"
        "RUN stat -c '%U %a' /usr/local/bin/tool /opt/numeric\n")
    out = io.StringIO()
    r = build(str(ctx), out=out)
    assert "nobody 755\nUNKNOWN 644\n" in out.getvalue()     # RUN's output, through `out`
    img = Store().resolve(r.image_id)
    top = img.layer_dirs
    tool = os.stat(os.path.join(top[1], "usr/local/bin/tool"))
    assert (tool.st_uid, tool.st_gid, tool.st_mode & 0o7777) == (65534, 65534, 0o755)
    num = os.stat(os.path.join(top[2], "opt/numeric"))
    assert (num.st_uid, num.st_gid, num.st_mode & 0o777) == (1234, 5678, 0o644)
    assert open(os.path.join(top[3], "copied-passwd")).read().startswith("root:x:0:0")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --chown=nosuchuser tool.sh /x\n")
    with pytest.raises(BuildError, match="no user 'nosuchuser'"):
        build(str(ctx), out=io.StringIO())


def test_copy_never_writes_or_reads_through_symlinks(md_root, tmp_path, host_clean):
    """Two sources: the first puts `a -> /host/dir` in the layer, the second writes a/pwned.
    The host dir must stay empty; and a --from source behind an absolute symlink in the
    image resolves inside the image, not on the host."""
    from minidocker.image.store import Store
    victim = tmp_path / "victim"
    victim.mkdir()
    ctx = tmp_path / "sym"
    (ctx / "x").mkdir(parents=True)
    (ctx / "y" / "a").mkdir(parents=True)
    os.symlink(str(victim), ctx / "x" / "a")
    (ctx / "y" / "a" / "pwned").write_text("oops\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS one\nCOPY x/ y/ /dst/\nRUN ln -s / /rootlink\n"
        "FROM busybox\nCOPY --from=one /rootlink/etc/passwd /from-image-passwd\n")
    r = build(str(ctx), out=io.StringIO())
    assert os.listdir(victim) == []
    img = Store().resolve(r.stage_ids[0])
    assert open(os.path.join(img.layer_dirs[-2], "dst", "a", "pwned")).read() == "oops\n"
    final = Store().resolve(r.image_id)
    copied = open(os.path.join(final.layer_dirs[-1], "from-image-passwd")).read()
    assert copied == open(os.path.join(final.layer_dirs[0], "etc", "passwd")).read()   # the image's, not ours
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY x/* /z/\n")
    with pytest.raises(BuildError, match="outside the build context"):
        build(str(ctx), out=io.StringIO())
