"""Image references, parsed and normalized exactly like docker does.

Map of this file:
  grammar          the regular expressions of docker's reference grammar
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

import re
from ..plaindata import dataclass

from .. import params
from ..errors import ImageError

__all__ = ["Reference", "parse", "is_image_id", "parse_digest"]

# --- grammar ------------------------------------------------------------------
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN_RE = re.compile(rf"^{_HOST}(?::[0-9]+)?$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{64}$")

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
    return bool(_ID_RE.match(text))


def parse_digest(text: str) -> str:
    """Check a digest ("sha256:<64 lowercase hex>") and return it; ImageError if bad."""
    if not _DIGEST_RE.match(text):
        raise ImageError(
            f"invalid reference format: digest {text!r} is not ALGORITHM:HEX "
            "(at least 32 hex digits)",
            hint="a digest looks like sha256: followed by 64 hex digits")
    algo, hexpart = text.split(":", 1)
    if algo == "sha256" and not re.fullmatch(r"[a-f0-9]{64}", hexpart):
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
        if not _TAG_RE.match(tag):
            raise ImageError(
                f"invalid reference format: tag {tag!r} in {text!r} must match "
                "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
                hint="tags use letters, digits, '_', '.', '-' and are at most 128 characters")

    domain, path = _split_domain(rest)
    if not _DOMAIN_RE.match(domain):
        raise ImageError(f"invalid reference format: registry {domain!r} in {text!r} "
                         "is not a host name, IP address or host:port",
                         hint="write the registry as host[:port], e.g. localhost:5000")
    if path != path.lower() and _PATH_RE.match(path.lower()):
        fixed = rest[:len(rest) - len(path)] + path.lower() if rest.endswith(path) else rest.lower()
        fixed += (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        raise ImageError(
            f"invalid reference format: repository name ({path}) must be lowercase",
            hint=f"repository names are lowercase (tags may not be): try {fixed!r}")
    if not path or not _PATH_RE.match(path):
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
