"""OCI bundle verbs: `bundle create IMAGE DIR` (for runc) and `bundle run DIR` (from runc spec)."""
from __future__ import annotations

import os

from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from ..flags import REMAINDER
from ..errors import UsageError, need_root


def register(sub) -> None:
    p = sub.add_parser("bundle", help="write or run an OCI runtime bundle (config.json + rootfs/)")
    bs = p.add_subparsers(dest="bundle_cmd", metavar="COMMAND")
    c = bs.add_parser("create", help="write IMAGE as an OCI bundle that 'runc run' accepts")
    c.add_argument("--network", default="none", help="none (own netns) or host")
    c.add_argument("-u", "--user", default="0:0")
    c.add_argument("image")
    c.add_argument("directory")
    c.add_argument("args", nargs=REMAINDER)
    c.set_defaults(func=cmd_create)
    c = bs.add_parser("run", help="run an OCI bundle (e.g. made by 'runc spec') like 'runc run'")
    c.add_argument("--name", default=None)
    c.add_argument("--rm", action="store_true")
    c.add_argument("-d", "--detach", action="store_true")
    c.add_argument("directory")
    c.set_defaults(func=cmd_run)
    p.set_defaults(func=None)


def cmd_create(args) -> int:
    need_root()
    from ..runtime import oci
    from ..runtime.config import ContainerConfig, effective_command
    from ..runtime.container import resolve_image
    from ..runtime.monitor import namespaces_for
    img = resolve_image(args.image)
    icfg = (img.config or {}).get("config") or {}
    argv = effective_command(icfg.get("Entrypoint"), icfg.get("Cmd"), args.args, None)
    cfg = ContainerConfig(image=args.image, argv=tuple(argv), env=tuple(icfg.get("Env") or ()),
                          workdir=icfg.get("WorkingDir") or "/", hostname="minidocker",
                          user=args.user, network=args.network)
    path = oci.write_bundle(args.image, args.directory, cfg, namespaces_for(cfg))
    print(path)
    return 0


def cmd_run(args) -> int:
    need_root()
    from ..runtime import lifecycle, oci
    from ..runtime.records import new_record
    from ..plaindata import replace
    path = os.path.join(args.directory, "config.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}", hint="make one with 'runc spec'") from None
    cfg = replace(oci.from_oci(doc, os.path.abspath(args.directory)), auto_remove=args.rm, detach=args.detach)
    c = new_record(cfg, args.name)     # hostname: the short id unless the bundle names one
    from ..runtime.container import _write_etc_files
    _write_etc_files(c)
    if args.detach:
        lifecycle.start(c, attach=False)
        print(c.id)
        return 0
    return lifecycle.start(c, attach=True, stdin_fd=0 if cfg.interactive else None)
