"""Volume verbs: volume create/ls/inspect/rm/prune."""
from __future__ import annotations

from . import failed

import json
import sys

from ..errors import MinidockerError, need_root


def register(sub) -> None:
    p = sub.add_parser("volume", help="manage named volumes")
    vs = p.add_subparsers(dest="volume_cmd", metavar="COMMAND")
    c = vs.add_parser("create", help="create a volume")
    c.add_argument("name")
    c.set_defaults(func=cmd_create)
    c = vs.add_parser("ls", help="list volumes")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_ls)
    c = vs.add_parser("inspect", help="show a volume as JSON")
    c.add_argument("names", nargs="+")
    c.set_defaults(func=cmd_inspect)
    c = vs.add_parser("rm", help="remove volumes (and their data)")
    c.add_argument("-f", "--force", action="store_true")
    c.add_argument("names", nargs="+")
    c.set_defaults(func=cmd_rm)
    c = vs.add_parser("prune", help="remove volumes no container uses")
    c.add_argument("-f", "--force", action="store_true")
    c.set_defaults(func=cmd_prune)
    p.set_defaults(func=None)


def cmd_create(args) -> int:
    need_root()
    from ..runtime import volumes
    print(volumes.create(args.name)["Name"])
    return 0


def cmd_ls(args) -> int:
    from ..runtime import volumes
    vols = volumes.list_all()
    if args.quiet:
        for v in vols:
            print(v["Name"])
        return 0
    from .containers import print_table
    print_table([("DRIVER", "Driver"), ("VOLUME NAME", "Name")], vols)
    return 0


def cmd_inspect(args) -> int:
    from ..runtime import volumes
    print(json.dumps([volumes.inspect(n) for n in args.names], indent=4))
    return 0


def cmd_rm(args) -> int:
    need_root()
    from ..runtime import volumes
    rc = 0
    for n in args.names:
        try:
            volumes.remove(n, force=args.force)
            print(n)
        except MinidockerError as e:
            sys.stderr.write(f"Error response from daemon: {e.message}\n")
            rc = failed(e, len(args.names))
    return rc


def cmd_prune(args) -> int:
    need_root()
    from ..runtime import volumes
    gone = []
    for v in volumes.list_all():
        if not volumes.users(v["Name"]):
            volumes.remove(v["Name"])
            gone.append(v["Name"])
    if gone:
        print("Deleted Volumes:\n" + "\n".join(gone) + "\n")
    print(f"Total reclaimed space: {len(gone)} volumes")
    return 0
