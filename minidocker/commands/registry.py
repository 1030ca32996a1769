"""Registry verbs: pull, push, login, logout (see minidocker/image/transfer.py and registry.py)."""
from __future__ import annotations

import io
import sys

from ..errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("pull", help="download an image from a registry")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="pick this platform from a multi-platform image (default: this machine)")
    p.add_argument("image", metavar="NAME[:TAG|@DIGEST]")
    p.set_defaults(func=cmd_pull)
    p = sub.add_parser("push", help="upload an image to a registry")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the digest")
    p.add_argument("image", metavar="NAME[:TAG]")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("login", help="log in to a registry (credentials saved with mode 0600)")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password", help="insecure: it shows in `ps`; prefer --password-stdin")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("server", nargs="?", default="docker.io")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="forget a registry's saved credentials")
    p.add_argument("server", nargs="?", default="docker.io")
    p.set_defaults(func=cmd_logout)


def _platform(text: str | None) -> dict | None:
    if not text:
        return None
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid --platform {text!r}", hint="write os/arch, e.g. linux/amd64 or linux/arm64/v8")
    p = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        p["variant"] = parts[2]
    return p


def cmd_pull(args) -> int:
    from ..image.transfer import pull
    from ..image.reference import parse
    out = io.StringIO() if args.quiet else sys.stdout
    pull(args.image, out=out, platform=_platform(args.platform))
    if args.quiet:
        print(parse(args.image))
    return 0


def cmd_push(args) -> int:
    from ..image.transfer import push
    out = io.StringIO() if args.quiet else sys.stdout
    r = push(args.image, out=out)
    if args.quiet:
        print(r.digest)
    return 0


def _server(text: str) -> str:
    """docker accepts 'https://host/v1/' style server names; keep the host[:port]."""
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    host = text.split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def cmd_login(args) -> int:
    import getpass
    from ..image import auth
    from ..image.registry import Registry
    server = _server(args.server)
    user = args.username
    if args.password_stdin:
        if args.password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\n")
        if not user:
            raise UsageError("--password-stdin needs --username", hint="minidocker login -u NAME --password-stdin")
    else:
        if args.password:
            sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
        user = user or input("Username: ")
        password = args.password if args.password is not None else getpass.getpass("Password: ")
    if not user or not password:
        raise UsageError("a user name and a password are required")
    Registry(server, credentials=(user, password)).ping()   # refuses bad credentials
    path = auth.save(server, user, password)
    print(f"WARNING! Your password will be stored unencrypted in {path}.")
    print("Login Succeeded")
    return 0


def cmd_logout(args) -> int:
    from ..image import auth
    server = _server(args.server)
    if auth.remove(server):
        print(f"Removing login credentials for {server}")
    else:
        print(f"Not logged in to {server}")
    return 0
