"""Property tests (issue 10): the reference parser, the Dockerfile parser and the layer tar
filter raise nothing but minidocker's own errors, whatever they are fed.

No root needed. hypothesis generates the input; each test also checks one
positive property so that it cannot pass by doing nothing:
  reference: a parsed reference parses again to itself (str() round-trips)
  dockerfile: a parsed file's first stage starts with FROM
  tarsafe: nothing is ever written outside the extraction root
"""
from __future__ import annotations

import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minidocker.errors import MinidockerError
from minidocker.image import dockerfile, reference, tarsafe

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.function_scoped_fixture])

# --- references ------------------------------------------------------------------------------

_ref_alphabet = st.sampled_from(list("abcXYZ019-_.:/@") + ["sha256:", "localhost", "docker.io/", "library/",
                                                           "a" * 64, "[::1]", ":5000", "\x00", " ", "é"])
ref_texts = st.one_of(st.text(max_size=80), st.lists(_ref_alphabet, max_size=20).map("".join))


@SETTINGS
@given(ref_texts)
def test_reference_parse_raises_only_image_errors(text):
    try:
        ref = reference.parse(text)
    except MinidockerError:
        return
    again = reference.parse(str(ref))
    assert again == ref and str(again) == str(ref)


@SETTINGS
@given(ref_texts)
def test_parse_digest_raises_only_image_errors(text):
    try:
        assert reference.parse_digest(text) == text
    except MinidockerError:
        pass


# --- Dockerfiles -------------------------------------------------------------------------------

_words = ["FROM", "from", "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER",
          "EXPOSE", "LABEL", "SHELL", "STOPSIGNAL", "VOLUME", "ONBUILD", "HEALTHCHECK", "MAINTAINER",
          "busybox", "AS", "as", "base", "--from=base", "--chown=1:1", "--platform=x", "$X", "${X}",
          "${X:-d}", "${X:+a}", "${", "}", "[", "]", '"', "'", ",", "\\", "`", "=", "a=b", "#", "\n",
          "\\\n", " ", "\t", "# escape=`", "# syntax=x", "/app", "..", "*", "\r\n", '["sh","-c"]']
dockerfiles = st.one_of(st.text(max_size=300),
                        st.lists(st.sampled_from(_words), max_size=40).map(" ".join),
                        st.lists(st.sampled_from(_words), max_size=40).map("".join))


@SETTINGS
@given(dockerfiles)
def test_dockerfile_parse_raises_only_build_errors(text):
    try:
        df = dockerfile.parse(text, "Dockerfile")
    except MinidockerError:
        return
    assert df.stages and df.stages[0].from_instr.cmd.upper() == "FROM"


@SETTINGS
@given(st.text(max_size=60), st.dictionaries(st.text("ABCX_", min_size=1, max_size=3), st.text(max_size=5),
                                             max_size=3))
def test_dockerfile_expand_raises_only_build_errors(word, env):
    try:
        dockerfile.expand(word, env)
    except MinidockerError:
        pass


# --- the tar filter -------------------------------------------------------------------------------

_names = st.lists(st.sampled_from(["a", "b", "..", ".", "", "etc", ".wh.a", ".wh..wh..opq", "/", "dev",
                                   "x" * 20, "é"]), min_size=1, max_size=5).map("/".join)
_targets = st.one_of(_names, st.sampled_from(["/", "/etc", "/tmp", "../../..", "/etc/passwd", "a/../../..",
                                              ".", "a"]))


@st.composite
def tar_members(draw):
    kind = draw(st.sampled_from(["file", "dir", "sym", "hard", "chr", "blk", "fifo"]))
    info = tarfile.TarInfo(draw(_names))
    info.mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o000, 0o7777]))
    data = None
    if kind == "file":
        data = draw(st.binary(max_size=64))
        info.size = len(data)
    elif kind == "dir":
        info.type = tarfile.DIRTYPE
    elif kind in ("sym", "hard"):
        info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
        info.linkname = draw(_targets)
    elif kind in ("chr", "blk"):
        info.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
        info.devmajor, info.devminor = draw(st.sampled_from([(0, 0), (1, 3), (8, 0)]))
    else:
        info.type = tarfile.FIFOTYPE
    return info, data


def _tar_bytes(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _tree(path: str) -> set[str]:
    out = set()
    for dirpath, dirs, files in os.walk(path):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(dirpath, n), path))
    return out


@SETTINGS
@given(st.lists(tar_members(), max_size=8), st.sampled_from(["overlay", "keep"]))
def test_tar_filter_raises_only_image_errors_and_stays_inside(tmp_path_factory, members, whiteouts):
    base = tmp_path_factory.mktemp("hd-tar")
    root = base / "root"
    root.mkdir()
    try:
        tarsafe.extract_layer(io.BytesIO(_tar_bytes(members)), str(root), whiteouts=whiteouts)
    except MinidockerError:
        pass
    except PermissionError:
        if os.geteuid() != 0:   # whiteouts (mknod 0:0) need root; that is the kernel, not the filter
            return
        raise
    outside = {p for p in _tree(str(base)) if not p.startswith("root")}
    assert outside == set(), outside


@SETTINGS
@given(st.binary(max_size=2048))
def test_tar_filter_on_garbage_raises_image_error(tmp_path_factory, blob):
    root = tmp_path_factory.mktemp("hd-garbage")
    try:
        tarsafe.extract_layer(io.BytesIO(blob), str(root))
    except MinidockerError:
        pass


def test_tar_filter_refuses_the_classics(tmp_path):
    """Known-bad entries are refused (so the properties above are about a filter that filters)."""
    for members in ([(tarfile.TarInfo("../evil"), b"")],
                    [(_sym("l", "/etc"), None), (tarfile.TarInfo("l/passwd"), b"")]):
        root = tmp_path / f"r{len(os.listdir(tmp_path))}"
        root.mkdir()
        with pytest.raises(MinidockerError):
            tarsafe.extract_layer(io.BytesIO(_tar_bytes(members)), str(root))


def _sym(name: str, target: str) -> tarfile.TarInfo:
    i = tarfile.TarInfo(name)
    i.type = tarfile.SYMTYPE
    i.linkname = target
    return i
