"""Image references, parsed and normalized exactly like docker does.

Map of this file:
  grammar          docker's reference grammar, one small function per rule
  Reference        a parsed reference: domain, path, tag, digest; str() is the
                   full form, familiar() the short form docker prints
  parse()          text -> Reference (normalizes `nginx` to docker.io/library/nginx:latest)
  is_image_id()    "sha256:<64 hex>" or 64 hex: an image ID, not a name

The grammar (github.com/distribution/reference, which docker uses):

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [domain "/"] path
    domain      := host [":" port]          host: DNS name, IPv4, or [IPv6]
    path        := component ("/" component)*
    component   := [a-z0-9]+ (separator [a-z0-9]+)*   separator: . _ __ or -+
    tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest      := algorithm ":" hex        (sha256 needs exactly 64 hex digits)

How docker decides whether the first part is a registry (splitDockerDomain):
the text before the first "/" is a domain only if it contains "." or ":", is
"localhost", or has an uppercase letter. So `user/app` is a Docker Hub user,
`localhost:5000/app` a local registry. Names on Docker Hub without a "/" get
the "library/" prefix (the official images), and a missing tag means "latest"
(unless a digest is given: a digest pins the content, the tag is decoration).
"""
from __future__ import annotations

from ..plaindata import dataclass

from .. import params
from ..errors import ImageError

__all__ = ["Reference", "parse", "is_image_id", "parse_digest"]

# --- grammar ------------------------------------------------------------------
# distribution/reference writes this grammar as regular expressions (they are
# spelled out in tests/unit/test_reference.py, which checks these functions
# against them on thousands of generated strings). Here each rule is a few
# lines of plain Python instead: importing `re` and compiling the five
# expressions cost ~3 ms of every `minidocker run` on the lab VM.
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")            # [a-z0-9]
_ALNUM = _LOWER | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")              # [a-zA-Z0-9]
_WORD = _ALNUM | {"_"}                                                 # \w in ASCII
_HEX = frozenset("0123456789abcdefABCDEF")
_LOWER_HEX = frozenset("0123456789abcdef")


def _component(s: str) -> bool:
    """[a-z0-9]+ (separator [a-z0-9]+)*, separator one of  .  _  __  -+"""
    i, n = 0, len(s)
    while True:
        start = i
        while i < n and s[i] in _LOWER:
            i += 1
        if i == start:
            return False                   # empty, or a separator not between two runs
        if i == n:
            return True
        if s.startswith("__", i):
            i += 2
        elif s[i] in "._":
            i += 1
        elif s[i] == "-":
            while i < n and s[i] == "-":
                i += 1
        else:
            return False


def _path_ok(path: str) -> bool:
    """component ("/" component)*"""
    return all(_component(c) for c in path.split("/"))


def _domain_ok(domain: str) -> bool:
    """host [":" port]: DNS labels joined by ".", or [IPv6]; the port is digits."""
    host, port = domain, None
    if not domain.startswith("["):
        host, colon, port = domain.partition(":")
        port = port if colon else None
    elif "]" in domain:
        end = domain.index("]") + 1
        host, port = domain[:end], (domain[end + 1:] if domain[end:end + 1] == ":" else None)
        if domain[end:] and port is None:
            return False
    if port is not None and not (port.isascii() and port.isdigit()):
        return False
    if host.startswith("["):
        inner = host[1:-1]
        return host.endswith("]") and bool(inner) and all(c in _HEX or c == ":" for c in inner)
    labels = host.split(".")
    return all(lb and lb[0] in _ALNUM and lb[-1] in _ALNUM and all(c in _ALNUM or c == "-" for c in lb)
               for lb in labels)


def _tag_ok(tag: str) -> bool:
    """[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"""
    return (0 < len(tag) <= 128 and tag[0] in _WORD
            and all(c in _WORD or c in ".-" for c in tag))


def _digest_shape_ok(text: str) -> bool:
    """algorithm ":" at least 32 hex digits; algorithm = letters/digits joined by - _ + ."""
    algo, colon, hexpart = text.partition(":")
    if not colon or len(hexpart) < 32 or not all(c in _HEX for c in hexpart):
        return False
    part = ""
    for c in algo + "+":                   # the "+" closes the last part
        if c in "-_+.":
            if not part or not part[0].isascii() or not part[0].isalpha():
                return False
            part = ""
        elif c in _ALNUM:
            part += c
        else:
            return False
    return True


def _hex64(text: str) -> bool:
    return len(text) == 64 and all(c in _LOWER_HEX for c in text)


NAME_TOTAL_LENGTH_MAX = 255       # docker's limit on the name part (domain/path)
LEGACY_DOMAIN = "index.docker.io"  # old spelling of Docker Hub, normalized away
OFFICIAL_PREFIX = "library/"       # Docker Hub's namespace for official images


@dataclass(frozen=True)
class Reference:
    """A normalized image reference: docker.io/library/busybox:latest."""

    domain: str                 # "docker.io", "localhost:5000"
    path: str                   # "library/busybox", "user/app"
    tag: str | None = None      # "latest"; None only when a digest pins the image
    digest: str | None = None   # "sha256:<64 hex>" or None

    @property
    def name(self) -> str:
        """The repository: domain/path, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    def familiar_name(self) -> str:
        """The repository as docker prints it: busybox, user/app, localhost:5000/app."""
        if self.domain == params.DEFAULT_REGISTRY:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.name

    def familiar(self) -> str:
        """docker's short form: "busybox:latest", "localhost:5000/app:v1@sha256:..."."""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        """The same repository with another tag (and no digest)."""
        return parse(f"{self.name}:{tag}")

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def is_image_id(text: str) -> bool:
    """True for a full image ID ("sha256:<64 hex>" or just the 64 hex digits)."""
    return _hex64(text[7:] if text.startswith("sha256:") else text)


def parse_digest(text: str) -> str:
    """Check a digest ("sha256:<64 lowercase hex>") and return it; ImageError if bad."""
    if not _digest_shape_ok(text):
        raise ImageError(
            f"invalid reference format: digest {text!r} is not ALGORITHM:HEX "
            "(at least 32 hex digits)",
            hint="a digest looks like sha256: followed by 64 hex digits")
    algo, hexpart = text.split(":", 1)
    if algo == "sha256" and not _hex64(hexpart):
        raise ImageError(
            f"invalid reference format: sha256 digest {text!r} must have exactly "
            f"64 lowercase hex digits (it has {len(hexpart)})",
            hint="copy the digest again from 'minidocker images --digests' or the registry")
    if algo != "sha256":
        raise ImageError(f"unsupported digest algorithm {algo!r} in {text!r}",
                         hint="minidocker verifies content with sha256 only")
    return text


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalize an image reference the way `docker pull TEXT` does.

    `nginx` -> docker.io/library/nginx:latest; `localhost:5000/x:v1` keeps its
    registry; `name@sha256:...` and `name:tag@sha256:...` keep the digest.
    With default_tag=False a reference without tag keeps tag=None (for
    "all tags of this repository" questions). Raises ImageError naming the
    rule that was broken.
    """
    if not isinstance(text, str) or not text:
        raise ImageError("invalid reference format: empty image name",
                         hint="give an image name like busybox or busybox:latest")
    if is_image_id(text) and not text.startswith("sha256:"):
        raise ImageError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings",
            hint="that is an image ID; use it where an image is expected, not as a name")

    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        digest = parse_digest(digest)

    # A tag is after the last ":" that comes after the last "/" (a ":" before
    # a "/" is a registry port, as in localhost:5000/app).
    tag = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _tag_ok(tag):
            raise ImageError(
                f"invalid reference format: tag {tag!r} in {text!r} must match "
                "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
                hint="tags use letters, digits, '_', '.', '-' and are at most 128 characters")

    domain, path = _split_domain(rest)
    if not _domain_ok(domain):
        raise ImageError(f"invalid reference format: registry {domain!r} in {text!r} "
                         "is not a host name, IP address or host:port",
                         hint="write the registry as host[:port], e.g. localhost:5000")
    if path != path.lower() and _path_ok(path.lower()):
        fixed = rest[:len(rest) - len(path)] + path.lower() if rest.endswith(path) else rest.lower()
        fixed += (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        raise ImageError(
            f"invalid reference format: repository name ({path}) must be lowercase",
            hint=f"repository names are lowercase (tags may not be): try {fixed!r}")
    if not path or not _path_ok(path):
        raise ImageError(
            f"invalid reference format: repository {path!r} in {text!r}: each part "
            "separated by '/' must be lowercase letters and digits joined by '.', '_', '__' or '-'",
            hint="e.g. busybox, user/app, localhost:5000/team/app")
    if len(f"{domain}/{path}") > NAME_TOTAL_LENGTH_MAX:
        raise ImageError(f"invalid reference format: repository name is longer than "
                         f"{NAME_TOTAL_LENGTH_MAX} characters",
                         hint="use a shorter name")
    if tag is None and digest is None and default_tag:
        tag = params.DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    """docker's splitDockerDomain: is the first part a registry or a Hub user?"""
    first, slash, remainder = name.partition("/")
    if not slash or not (("." in first or ":" in first) or first == "localhost"
                         or first.lower() != first):
        domain, remainder = params.DEFAULT_REGISTRY, name
    else:
        domain = first
    if domain == LEGACY_DOMAIN:
        domain = params.DEFAULT_REGISTRY
    if domain == params.DEFAULT_REGISTRY and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder
