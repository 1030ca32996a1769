"""`minidocker build`: docker's classic builder (see minidocker/image/build.py)."""
from __future__ import annotations

import io
import os
import sys

from ..errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("build", help="build an image from a Dockerfile",
                       description="Build an image from a Dockerfile and a context directory.")
    p.add_argument("-t", "--tag", action="append", default=[], metavar="REF",
                   help="name and optionally a tag (name:tag); may be given more than once")
    p.add_argument("-f", "--file", metavar="FILE",
                   help="the Dockerfile (default: CONTEXT/Dockerfile)")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached steps")
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V",
                   help="set a build-time variable (ARG); 'K' alone takes K from the environment")
    p.add_argument("--target", metavar="STAGE", help="build up to this stage of a multi-stage Dockerfile")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    p.add_argument("context", metavar="CONTEXT", help="the build context directory (e.g. .)")
    p.set_defaults(func=cmd_build)


def parse_build_args(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid --build-arg {item!r}", hint="write --build-arg NAME=value")
        if eq:
            out[k] = v
        elif k in os.environ:      # docker: `--build-arg HTTP_PROXY` copies it from the environment
            out[k] = os.environ[k]
    return out


def cmd_build(args) -> int:
    from ..errors import need_root
    from ..image.build import build
    need_root()
    if args.context == "-":
        raise UsageError("a context from stdin is not supported", hint="give a directory, e.g. '.'")
    out = io.StringIO() if args.quiet else sys.stdout
    result = build(args.context, dockerfile_path=args.file, tags=args.tag, no_cache=args.no_cache,
                   build_args=parse_build_args(args.build_arg), target=args.target, out=out)
    if args.quiet:
        print(result.image_id)
    return 0
