"""Image references parse and normalize like docker's (distribution/reference)."""
import pytest

from minidocker.errors import ImageError
from minidocker.image import reference as r

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, full, familiar", [
    ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
    ("nginx:alpine", "docker.io/library/nginx:alpine", "nginx:alpine"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1", "busybox:1"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("localhost:5000/nginx:alpine", "localhost:5000/nginx:alpine", "localhost:5000/nginx:alpine"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("registry.devops.com/demo/hello:latest", "registry.devops.com/demo/hello:latest",
     "registry.devops.com/demo/hello:latest"),
    ("127.0.0.1:5000/a/b/c:v1.0-rc_1", "127.0.0.1:5000/a/b/c:v1.0-rc_1",
     "127.0.0.1:5000/a/b/c:v1.0-rc_1"),
    ("[::1]:5000/app:v1", "[::1]:5000/app:v1", "[::1]:5000/app:v1"),
    ("a__b/c-d--e.f:T_1", "docker.io/a__b/c-d--e.f:T_1", "a__b/c-d--e.f:T_1"),
    (f"nginx@{D}", f"docker.io/library/nginx@{D}", f"nginx@{D}"),
    (f"nginx:1.25@{D}", f"docker.io/library/nginx:1.25@{D}", f"nginx:1.25@{D}"),
    (f"localhost:5000/x@{D}", f"localhost:5000/x@{D}", f"localhost:5000/x@{D}"),
])
def test_normalize(text, full, familiar):
    ref = r.parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    # parsing the full form again is a fixed point
    assert r.parse(full) == ref
    assert r.parse(familiar) == ref


def test_fields():
    ref = r.parse(f"localhost:5000/team/app:v2@{D}")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "team/app", "v2", D)
    assert ref.name == "localhost:5000/team/app"
    assert r.parse(f"busybox@{D}").tag is None          # a digest alone gets no default tag
    assert r.parse("busybox", default_tag=False).tag is None
    assert r.parse("busybox").with_tag("1.36").familiar() == "busybox:1.36"


def test_uppercase_first_part_is_a_registry():
    # docker's rule: an uppercase first component can only be a host name
    ref = r.parse("MyRegistry/app")
    assert ref.domain == "MyRegistry" and ref.path == "app"


@pytest.mark.parametrize("text, rule", [
    ("Nginx", "must be lowercase"),
    ("user/MyApp:1", "must be lowercase"),
    ("busybox:", "tag"),
    ("busybox:-bad", "tag"),
    ("busybox:" + "a" * 129, "tag"),
    ("busybox:a+b", "tag"),
    ("busybox@sha256:1234", "digest"),
    ("busybox@sha256:" + "AB" * 32, "64 lowercase hex"),
    ("busybox@sha256:" + "ab" * 31, "64 lowercase hex"),
    ("busybox@md5:" + "ab" * 16, "unsupported digest algorithm"),
    ("busybox@", "digest"),
    ("", "empty"),
    ("bad//path", "repository"),
    ("-lead/app", "repository"),
    ("app_", "repository"),
    ("a" * 64, "64-byte hexadecimal"),
    ("0123456789abcdef" * 4, "64-byte hexadecimal"),
    ("my-.registry:5000/app", "registry"),
    ("x/" + "a" * 260, "longer than 255"),
])
def test_invalid(text, rule):
    with pytest.raises(ImageError) as e:
        r.parse(text)
    assert rule in str(e.value)
    assert e.value.hint


def test_image_id_detection():
    assert r.is_image_id("sha256:" + "0" * 64)
    assert r.is_image_id("f" * 64)
    assert not r.is_image_id("busybox")
    assert not r.is_image_id("sha256:" + "0" * 63)


def test_uppercase_hint_suggests_the_fix():
    with pytest.raises(ImageError) as e:
        r.parse("localhost:5000/My/App:V1")
    assert "'localhost:5000/my/app:V1'" in e.value.hint
    assert str(r.parse("localhost:5000/my/app:V1")) == "localhost:5000/my/app:V1"


# --- property: normalizing is idempotent, and the short form means the same image ----
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

_alnum = hs.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_comp = hs.builds(lambda a, sep, b: a + sep + b if b else a, _alnum,
                  hs.sampled_from([".", "_", "__", "-", "--"]), hs.one_of(hs.just(""), _alnum))
_path = hs.lists(_comp, min_size=1, max_size=3).map("/".join)
_domain = hs.sampled_from(["", "localhost/", "localhost:5000/", "registry.example.com/",
                           "docker.io/", "index.docker.io/", "10.0.0.1:443/"])
_tag = hs.one_of(hs.just(""), hs.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z").map(lambda t: ":" + t))
_dig = hs.one_of(hs.just(""), hs.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "@sha256:" + h))


@settings(max_examples=300, deadline=None)
@given(_domain, _path, _tag, _dig)
def test_normalize_is_a_fixed_point(domain, path, tag, dig):
    text = domain + path + tag + dig
    if r.is_image_id(text):
        return
    ref = r.parse(text)
    assert r.parse(str(ref)) == ref
    first = ref.familiar().split("/")[0]
    if ref.domain != "docker.io" or "/" not in ref.familiar() or not ("." in first or ":" in first
                                                                      or first == "localhost"):
        # docker.io/0.0/app familiarizes to "0.0/app", which reads back as registry 0.0:
        # docker's FamiliarString has the same ambiguity, so we keep it
        assert r.parse(ref.familiar()) == ref
    assert ref.tag == (tag[1:] if tag else (None if dig else "latest"))
    assert ref.digest == (dig[1:] if dig else None)


# --- the grammar functions against distribution/reference's regular expressions ---------
# reference.py checks names with small functions (no `re` on `minidocker run`'s path);
# these are the expressions docker's grammar is written in, as the specification.
import re  # noqa: E402

_COMP = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DCOMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
SPEC = {
    r._path_ok: re.compile(rf"{_COMP}(?:/{_COMP})*"),
    r._domain_ok: re.compile(rf"(?:{_DCOMP}(?:\.{_DCOMP})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"),
    r._tag_ok: re.compile(r"[\w][\w.-]{0,127}", re.ASCII),
    r._digest_shape_ok: re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"),
}
# alphabets dense in the characters the rules care about, so most strings come near the edge
_ALPHABET = "ab09AZ._-_/:[]+@" + "\n é"
_near = hs.one_of(hs.text(alphabet=_ALPHABET, max_size=12),
                  hs.builds(lambda a, b: a + ":" + b, hs.text(alphabet="aZ9-_+.", max_size=6),
                            hs.text(alphabet="0af9F", min_size=30, max_size=34)))


@settings(max_examples=3000, deadline=None)
@given(_near)
def test_grammar_functions_match_docker_regexes(text):
    for fn, rx in SPEC.items():
        assert fn(text) == bool(rx.fullmatch(text)), (fn.__name__, text)


@pytest.mark.parametrize("text", ["a", "a.b", "a__b", "a---b", "a_b.c-d", "a/b/c", "0"])
def test_path_examples_accepted(text):
    assert r._path_ok(text) and SPEC[r._path_ok].fullmatch(text)


@pytest.mark.parametrize("text", ["", "a.", ".a", "a___b", "a._b", "A", "a//b", "a/", "a\n", "é"])
def test_path_examples_refused(text):
    assert not r._path_ok(text) and not SPEC[r._path_ok].fullmatch(text)


@pytest.mark.parametrize("text, ok", [("localhost:5000", True), ("[::1]:5000", True), ("[::1]", True),
                                      ("a-b.c", True), ("-a", False), ("a-", False), ("a:", False),
                                      ("[]", False), ("[::1]x", False), ("a..b", False), ("a:5000\n", False)])
def test_domain_examples(text, ok):
    assert r._domain_ok(text) is ok and bool(SPEC[r._domain_ok].fullmatch(text)) is ok
