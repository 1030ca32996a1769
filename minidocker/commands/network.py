"""Network verbs: network create|ls|inspect|rm|connect|disconnect|prune, and `port`.

Output copies docker's: `network ls` columns NETWORK ID / NAME / DRIVER /
SCOPE, `network create` prints the new id, `port` prints "80/tcp -> 0.0.0.0:8080".
The work is in minidocker/runtime/networks.py (network objects) and
minidocker/runtime/network.py (containers on networks).
"""
from __future__ import annotations

from . import failed, print_inspect

import sys

from ..errors import MinidockerError, NotFound, StateError, UsageError, need_root


def register(sub) -> None:
    net = sub.add_parser("network", help="manage networks (create, ls, inspect, rm, connect, ...)")
    nsub = net.add_subparsers(dest="network_command", metavar="COMMAND")
    net.set_defaults(func=lambda args: (net.print_help(), 0)[1])

    p = nsub.add_parser("create", help="create a bridge network")
    p.add_argument("-d", "--driver", default="bridge", help="only 'bridge' is supported")
    p.add_argument("--subnet", default=None, help="CIDR, e.g. 10.90.0.0/24 (default: next free /24)")
    p.add_argument("--gateway", default=None, help="the bridge's address (default: first of subnet)")
    p.add_argument("-o", "--opt", action="append", default=[],
                   help="com.docker.network.bridge.name=NAME sets the bridge's name")
    p.add_argument("name")
    p.set_defaults(func=cmd_create)

    p = nsub.add_parser("ls", aliases=["list"], help="list networks")
    p.add_argument("-q", "--quiet", action="store_true", help="only ids")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default=None, help="Go template, e.g. '{{.Name}}'")
    p.set_defaults(func=cmd_ls)

    p = nsub.add_parser("inspect", help="print networks as JSON")
    p.add_argument("-f", "--format", default=None, help="Go template, e.g. '{{.IPAM.Config}}'")
    p.add_argument("networks", nargs="+")
    p.set_defaults(func=cmd_inspect)

    p = nsub.add_parser("rm", aliases=["remove"], help="remove networks")
    p.add_argument("networks", nargs="+")
    p.set_defaults(func=cmd_rm)

    p = nsub.add_parser("connect", help="connect a running container to a network")
    p.add_argument("--alias", action="append", default=[], help="extra name on this network")
    p.add_argument("network")
    p.add_argument("container")
    p.set_defaults(func=cmd_connect)

    p = nsub.add_parser("disconnect", help="disconnect a container from a network")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("network")
    p.add_argument("container")
    p.set_defaults(func=cmd_disconnect)

    p = nsub.add_parser("prune", help="remove user networks no container uses")
    p.add_argument("-f", "--force", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("port", help="list a container's published ports")
    p.add_argument("container")
    p.add_argument("private_port", nargs="?", help="e.g. 80 or 80/udp")
    p.set_defaults(func=cmd_port)


def cmd_create(args) -> int:
    need_root()
    from ..runtime import networks
    if args.driver != "bridge":
        raise UsageError(f"network driver {args.driver!r} is not supported",
                         hint="minidocker has the bridge driver only (plus the predefined host and none)")
    bridge = None
    for opt in args.opt:
        key, _, value = opt.partition("=")
        if key == "com.docker.network.bridge.name":
            bridge = value
        else:
            raise UsageError(f"unsupported network option {key!r}",
                             hint="only -o com.docker.network.bridge.name=NAME is supported")
    rec = networks.create_network(args.name, args.subnet, args.gateway, bridge)
    print(rec["Id"])
    return 0


def cmd_ls(args) -> int:
    from ..runtime import networks
    rows = [{"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"],
             "Driver": n["Driver"], "Scope": n.get("Scope", "local")} for n in networks.list_networks()]
    rows.sort(key=lambda r: r["Name"])
    if args.quiet:
        print("\n".join(r["ID"] for r in rows))
        return 0
    if args.format:
        from ..template import render
        for r in rows:
            print(render(args.format, r))
        return 0
    w = max(len(r["ID"]) for r in rows)
    wn = max(15, *(len(r["Name"]) for r in rows))
    print(f"{'NETWORK ID':<{w}}   {'NAME':<{wn}}   {'DRIVER':<10}SCOPE")
    for r in rows:
        print(f"{r['ID']:<{w}}   {r['Name']:<{wn}}   {r['Driver']:<10}{r['Scope']}")
    return 0


def cmd_inspect(args) -> int:
    from ..runtime import networks
    return print_inspect(args.networks, networks.inspect, args.format)


def cmd_rm(args) -> int:
    need_root()
    from ..runtime import networks
    rc = 0
    for name in args.networks:
        try:
            networks.remove_network(name)
            print(name)
        except MinidockerError as e:
            sys.stderr.write(f"Error response: {e.message}\n" + (f"hint: {e.hint}\n" if e.hint else ""))
            rc = failed(e, len(args.networks))
    return rc


def _store_settings(c, settings: dict) -> None:
    """Keep the container's own record (what `inspect` and `ps` show) in step."""
    from ..runtime import records
    with records.locked(c) as rec:
        rec.network_settings = settings


def cmd_connect(args) -> int:
    need_root()
    from ..runtime import network
    from ..runtime.container import lookup
    c = lookup(args.container)
    if not c.running:
        raise StateError(f"container {c.name} is not running",
                         hint=f"start it first: minidocker start {c.name}")
    _store_settings(c, network.attach(c, args.network, c.state["Pid"], args.alias))
    return 0


def cmd_disconnect(args) -> int:
    need_root()
    from ..runtime import network
    from ..runtime.container import lookup
    c = lookup(args.container)
    _store_settings(c, network.detach(c, args.network))
    return 0


def cmd_prune(args) -> int:
    need_root()
    from ..runtime import networks
    if not args.force:
        sys.stderr.write("WARNING! This will remove all custom networks not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    gone = networks.prune_networks()
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def cmd_port(args) -> int:
    from ..runtime import network
    from ..runtime.container import lookup
    c = lookup(args.container)
    binds = network.published(c.id)
    if args.private_port:
        num, _, proto = args.private_port.partition("/")
        key = f"{num}/{proto or 'tcp'}"
        binds = [b for b in binds if b.key == key]
        if not binds:
            raise NotFound(f"no public port '{key}' published for {c.name}",
                           hint=f"see all of them: minidocker port {c.name}")
        for b in binds:
            print(f"{b.host_ip}:{b.host_port}")
        return 0
    for b in sorted(binds, key=lambda b: (b.container_port, b.proto)):
        print(b)
    return 0
