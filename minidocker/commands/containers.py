"""Container verbs: run create start stop restart kill rm ps logs inspect exec wait cp top rename, container prune."""
from __future__ import annotations

from . import failed, print_inspect

import os
import sys
import time

from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from ..flags import REMAINDER
from ..errors import MinidockerError, NotFound, UsageError, need_root


def register(sub) -> None:
    p = sub.add_parser("run", help="create and start a container", add_help=False)
    p.add_argument("--help", action="help", help="show this help (-h is --hostname, as in docker)")
    _add_create_flags(p)
    p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the id")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("image")
    p.add_argument("args", nargs=REMAINDER)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("create", help="create a container without starting it", add_help=False)
    p.add_argument("--help", action="help", help="show this help")
    _add_create_flags(p)
    p.add_argument("--rm", action="store_true")
    p.add_argument("image")
    p.add_argument("args", nargs=REMAINDER)
    p.set_defaults(func=cmd_create, detach=True)

    p = sub.add_parser("start", help="start stopped containers")
    p.add_argument("-a", "--attach", action="store_true", help="attach output and return the exit code")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=cmd_start)

    for verb, hlp in (("stop", "stop containers: SIGTERM, then SIGKILL after -t seconds"),
                      ("restart", "stop then start containers")):
        p = sub.add_parser(verb, help=hlp)
        p.add_argument("-t", "--time", type=int, default=None, help="seconds to wait before SIGKILL (default 10)")
        p.add_argument("containers", nargs="+")
        p.set_defaults(func=cmd_stop if verb == "stop" else cmd_restart)

    p = sub.add_parser("kill", help="send a signal (default KILL) to containers")
    p.add_argument("-s", "--signal", default="KILL")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=cmd_kill)

    p = sub.add_parser("rm", help="remove containers")
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("-v", "--volumes", action="store_true", help="(accepted for docker compatibility)")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true", help="show stopped containers too")
    p.add_argument("-q", "--quiet", action="store_true", help="only ids")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default=None, help="Go template, e.g. '{{.Names}}'")
    p.set_defaults(func=cmd_ps)

    p = sub.add_parser("logs", help="print a container's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("container")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("inspect", help="print low-level information as JSON")
    p.add_argument("-f", "--format", default=None, help="Go template, e.g. '{{.State.Pid}}'")
    p.add_argument("--type", choices=["container", "image", "volume", "network"], default=None)
    p.add_argument("objects", nargs="+")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("exec", help="run a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-w", "--workdir", default=None)
    p.add_argument("-u", "--user", default=None)
    p.add_argument("container")
    p.add_argument("args", nargs=REMAINDER)
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("wait", help="block until containers stop; print their exit codes")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("cp", help="copy files between a container and the host")
    p.add_argument("src", help="CONTAINER:PATH or a host path")
    p.add_argument("dst", help="CONTAINER:PATH or a host path")
    p.set_defaults(func=cmd_cp)

    p = sub.add_parser("top", help="list a container's processes")
    p.add_argument("container")
    p.set_defaults(func=cmd_top)

    p = sub.add_parser("rename", help="rename a container")
    p.add_argument("container")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_rename)

    p = sub.add_parser("container", help="manage containers (prune)")
    csub = p.add_subparsers(dest="container_cmd", metavar="COMMAND")
    pp = csub.add_parser("prune", help="remove all stopped containers")
    pp.add_argument("-f", "--force", action="store_true")
    pp.set_defaults(func=cmd_container_prune)
    p.set_defaults(func=None)


def _add_create_flags(p) -> None:
    p.add_argument("--name", default=None)
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir", default=None)
    p.add_argument("-h", "--hostname", default=None)
    p.add_argument("-u", "--user", default=None)
    p.add_argument("--entrypoint", default=None)
    p.add_argument("--network", "--net", default="bridge")
    p.add_argument("--network-alias", action="append", default=[])
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("-P", "--publish-all", action="store_true")
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--restart", default="no")
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--security-opt", action="append", default=[], help="seccomp=unconfined, no-new-privileges[=false]")
    p.add_argument("--stop-signal", default=None)
    p.add_argument("--stop-timeout", type=int, default=None)
    from ..kernel.cgroups import add_resource_flags
    add_resource_flags(p)


def _create_from_args(args) -> "object":
    from ..runtime import config as cfgmod
    from ..runtime.container import create
    from ..kernel.cgroups import resources_from_args
    from ..plaindata import asdict
    res = resources_from_args(args)
    resources = {k: v for k, v in asdict(res).items() if v is not None} if res else {}
    mounts = [cfgmod.parse_volume(v) for v in args.volume] + [cfgmod.parse_tmpfs(t) for t in args.tmpfs]
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    argv = list(args.args)
    if argv and argv[0] == "--":
        argv = argv[1:]
    opts = dict(tty=args.tty, interactive=args.interactive, detach=bool(getattr(args, "detach", False)),
                auto_remove=args.rm, network=args.network, network_aliases=tuple(args.network_alias),
                ports=tuple(args.publish), publish_all=args.publish_all, mounts=tuple(mounts),
                read_only=args.read_only, restart=cfgmod.parse_restart(args.restart),
                resources=resources, cap_add=tuple(args.cap_add), cap_drop=tuple(args.cap_drop),
                privileged=args.privileged, labels=labels, stop_timeout=args.stop_timeout,
                security_opt=tuple(args.security_opt))
    if args.rm and opts["restart"].name != "no":
        raise UsageError("conflicting options: --restart and --rm", hint="pick one of them")
    c = create(args.image, argv, name=args.name, entrypoint=args.entrypoint, env=args.env,
               env_files=args.env_file, workdir=args.workdir, hostname=args.hostname, user=args.user,
               stop_signal=args.stop_signal, **opts)
    return c


def cmd_run(args) -> int:
    need_root()
    from ..runtime import lifecycle
    c = _create_from_args(args)
    if args.detach:
        lifecycle.start(c, attach=False)
        print(c.id)
        return 0
    if c.config.tty and c.config.interactive:
        from ..runtime.tty import raw_terminal
        with raw_terminal(0):
            return lifecycle.start(c, attach=True, stdin_fd=0)
    return lifecycle.start(c, attach=True, stdin_fd=0 if args.interactive else None)


def cmd_create(args) -> int:
    need_root()
    c = _create_from_args(args)
    print(c.id)
    return 0


def _each(names, fn) -> int:
    """Apply fn to each container; like docker, report errors per name and exit 1 if any failed."""
    from ..runtime.container import lookup
    rc = 0
    for n in names:
        try:
            fn(lookup(n))
            print(n)
        except MinidockerError as e:
            sys.stderr.write(f"Error response from daemon: {e.message}\n")
            rc = failed(e, len(names))
    return rc


def cmd_start(args) -> int:
    need_root()
    from ..runtime import lifecycle
    from ..runtime.container import lookup
    if args.attach:
        if len(args.containers) != 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        return lifecycle.start(lookup(args.containers[0]), attach=True,
                               stdin_fd=0 if args.interactive else None)
    return _each(args.containers, lambda c: lifecycle.start(c, attach=False))


def cmd_stop(args) -> int:
    need_root()
    from ..runtime import lifecycle
    return _each(args.containers, lambda c: lifecycle.stop(c, args.time))


def cmd_restart(args) -> int:
    need_root()
    from ..runtime import lifecycle

    def again(c):
        lifecycle.stop(c, args.time)
        c.reload()
        lifecycle.start(c, attach=False)
    return _each(args.containers, again)


def cmd_kill(args) -> int:
    need_root()
    from ..runtime import lifecycle
    sig = lifecycle.parse_signal(args.signal)
    return _each(args.containers, lambda c: lifecycle.kill(c, sig))


def cmd_rm(args) -> int:
    need_root()
    from ..runtime import lifecycle
    return _each(args.containers, lambda c: lifecycle.remove(c, force=args.force))


def cmd_wait(args) -> int:
    from ..runtime import lifecycle
    from ..runtime.container import lookup
    rc = 0
    for n in args.containers:
        try:
            print(lifecycle.wait(lookup(n)))
        except MinidockerError as e:
            sys.stderr.write(f"Error response from daemon: {e.message}\n")
            rc = failed(e, len(args.containers))
    return rc


def _ago(iso: str) -> str:
    import datetime as dt
    if not iso or iso.startswith("0001"):
        return ""
    t = dt.datetime.strptime(iso[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
    s = (dt.datetime.now(dt.timezone.utc) - t).total_seconds()
    for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if s >= 2 * n:
            return f"{int(s // n)} {unit}"
    if s >= 3600:
        return "About an hour"
    if s >= 60:
        return "About a minute"
    return "Less than a second" if s < 1 else f"{int(s)} seconds"


def status_text(c) -> str:
    """docker ps's STATUS column: Up 3 seconds / Exited (0) 2 minutes ago / Created."""
    st = c.state
    if st.get("Status") == "restarting":
        return f"Restarting ({st.get('ExitCode', 0)}) {_ago(st.get('FinishedAt'))} ago"
    if st.get("Running"):
        return f"Up {_ago(st.get('StartedAt'))}" + (" (Paused)" if st.get("Paused") else "")
    if st.get("Status") == "exited":
        return f"Exited ({st.get('ExitCode', 0)}) {_ago(st.get('FinishedAt'))} ago"
    return st.get("Status", "created").capitalize()


def _ports_text(c) -> str:
    out = []
    for cport, binds in sorted((c.network_settings.get("Ports") or {}).items()):
        for b in binds or []:
            out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{cport}")
    return ", ".join(out)


def cmd_ps(args) -> int:
    from ..runtime.container import list_all, refresh
    rows = []
    for c in list_all():
        refresh(c)
        if not args.all and not c.running:
            continue
        cmd = " ".join(c.config.argv)
        rows.append({"ID": c.id if args.no_trunc else c.short_id, "Image": c.config.image,
                     "Command": json.dumps(cmd if args.no_trunc or len(cmd) <= 20 else cmd[:19] + "…", ensure_ascii=False),
                     "CreatedAt": c.created, "RunningFor": _ago(c.created) + " ago",
                     "Status": status_text(c), "Ports": _ports_text(c), "Names": c.name})
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    if args.format:
        from ..template import render    # only here: it imports re and json (~14 ms of every `ps`)
        for r in rows:
            print(render(args.format, r))
        return 0
    cols = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
            ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")]
    print_table(cols, rows)
    return 0


def print_table(cols, rows) -> None:
    """docker's tables: columns padded to the widest cell plus three spaces."""
    widths = [max([len(h)] + [len(str(r[k])) for r in rows]) for h, k in cols]
    line = lambda vals: "   ".join(str(v).ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    print(line([h for h, _ in cols]))
    for r in rows:
        print(line([r[k] for _, k in cols]))


def cmd_logs(args) -> int:
    from ..runtime.container import lookup
    c = lookup(args.container)
    tail = None if args.tail == "all" else _int_flag("--tail", args.tail)

    def emit(entry):
        text = entry.get("log", "")
        if args.timestamps:
            text = f"{entry.get('time')} {text}"
        stream = sys.stdout if entry.get("stream") == "stdout" else sys.stderr
        stream.write(text)
        stream.flush()

    try:
        f = open(c.log_path, encoding="utf-8")
    except FileNotFoundError:
        return 0
    with f:
        lines = f.readlines()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for ln in lines:
            emit(json.loads(ln))
        while args.follow:
            ln = f.readline()
            if ln:
                emit(json.loads(ln))
                continue
            c.reload()
            if not c.running and c.state.get("Status") != "restarting":
                for ln in f.readlines():
                    emit(json.loads(ln))
                break
            time.sleep(0.1)
    return 0


def _int_flag(flag: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"invalid value {value!r} for {flag}: not a number", hint=f"use {flag} 10") from None


def container_inspect(c) -> dict:
    """The JSON docker inspect prints for a container (the fields minidocker has)."""
    from ..runtime import volumes
    from ..runtime.container import refresh
    refresh(c)
    cfg = c.config
    lower = []
    try:
        from ..runtime.lifecycle import lower_dirs_for
        lower = lower_dirs_for(c)
    except MinidockerError:
        pass
    return {
        "Id": c.id, "Created": c.created, "Path": cfg.argv[0] if cfg.argv else "",
        "Args": list(cfg.argv[1:]), "State": dict(c.state), "Image": cfg.image_id,
        "ResolvConfPath": os.path.join(c.dir, "resolv.conf"), "HostnamePath": os.path.join(c.dir, "hostname"),
        "HostsPath": os.path.join(c.dir, "hosts"), "LogPath": c.log_path, "Name": "/" + c.name,
        "RestartCount": c.restart_count, "Driver": "overlay2",
        "HostConfig": {
            "Binds": [f"{m.source}:{m.target}{':ro' if m.readonly else ''}" for m in cfg.mounts if m.kind != "tmpfs"],
            "NetworkMode": cfg.network, "PortBindings": _port_bindings(cfg.ports),
            "RestartPolicy": {"Name": cfg.restart.name, "MaximumRetryCount": cfg.restart.maximum_retry_count},
            "AutoRemove": cfg.auto_remove, "Privileged": cfg.privileged, "PublishAllPorts": cfg.publish_all,
            "ReadonlyRootfs": cfg.read_only, "CapAdd": list(cfg.cap_add) or None, "CapDrop": list(cfg.cap_drop) or None,
            "SecurityOpt": list(cfg.security_opt) or None,
            "Tmpfs": {m.target: m.options for m in cfg.mounts if m.kind == "tmpfs"} or None,
            **_resources_for_inspect(cfg.resources),
        },
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(reversed(lower)), "UpperDir": c.upper_dir,
            "WorkDir": c.work_dir, "MergedDir": c.merged_dir}},
        "Mounts": [{"Type": m.kind, "Source": m.source if m.kind == "bind" else
                    (volumes.data_dir(m.source) if m.kind == "volume" else ""),
                    "Destination": m.target, "RW": not m.readonly, "Name": m.source if m.kind == "volume" else ""}
                   for m in cfg.mounts],
        "Config": {"Hostname": cfg.hostname, "User": cfg.user, "Tty": cfg.tty, "OpenStdin": cfg.interactive,
                   "Env": list(cfg.env), "Cmd": list(cfg.cmd) or None, "Image": cfg.image,
                   "WorkingDir": cfg.workdir, "Entrypoint": list(cfg.entrypoint) or None, "Labels": cfg.labels,
                   "ExposedPorts": {p: {} for p in cfg.exposed_ports} or None, "StopSignal": cfg.stop_signal},
        "NetworkSettings": c.network_settings or {"IPAddress": "", "Ports": {}, "Networks": {}},
    }


def _resources_for_inspect(res: dict) -> dict:
    """HostConfig's resource fields, as docker prints them (0/"" for unset)."""
    from ..kernel.cgroups import Resources
    return Resources(**(res or {})).to_docker()


def _port_bindings(ports) -> dict:
    out: dict = {}
    for spec in ports:
        parts = spec.split(":")
        cport = parts[-1] if "/" in parts[-1] else parts[-1] + "/tcp"
        host_port = parts[-2] if len(parts) >= 2 else ""
        host_ip = parts[0] if len(parts) == 3 else ""
        out.setdefault(cport, []).append({"HostIp": host_ip, "HostPort": host_port})
    return out


def cmd_inspect(args) -> int:
    return print_inspect(args.objects, lambda name: _inspect_one(name, args.type), args.format)


def _inspect_one(name: str, kind: str | None) -> dict:
    from ..runtime.container import lookup
    if kind in (None, "container"):
        try:
            return container_inspect(lookup(name))
        except NotFound:
            if kind == "container":
                raise
    if kind in (None, "image"):
        try:
            from ..image.store import Store
            return Store().inspect(name)
        except (NotFound, ImportError, AttributeError):
            if kind == "image":
                raise
        except MinidockerError:
            if kind == "image":
                raise
    if kind in (None, "volume"):
        from ..runtime import volumes
        try:
            return volumes.inspect(name)
        except NotFound:
            if kind == "volume":
                raise
    if kind in (None, "network"):
        try:
            from ..runtime import network
            return network.inspect(name)
        except (NotFound, ImportError, AttributeError):
            pass
    raise NotFound(f"No such object: {name}")


def cmd_exec(args) -> int:
    need_root()
    from ..runtime.container import lookup
    from ..runtime.exec import exec_in
    argv = list(args.args)
    if argv and argv[0] == "--":
        argv = argv[1:]
    c = lookup(args.container)
    if args.detach:
        pid = os.fork()
        if pid == 0:
            os.setsid()
            os._exit(exec_in(c, argv, args.env, args.workdir, args.user, False, False) & 0xFF)
        return 0
    return exec_in(c, argv, args.env, args.workdir, args.user, args.tty, args.interactive)


def cmd_cp(args) -> int:
    need_root()
    from ..runtime import copy
    return copy.copy(args.src, args.dst)


def cmd_top(args) -> int:
    from ..runtime.container import lookup
    from ..runtime import inspect_procs
    c = lookup(args.container)
    rows = inspect_procs.top(c)
    print_table([("UID", "UID"), ("PID", "PID"), ("PPID", "PPID"), ("C", "C"), ("STIME", "STIME"),
                 ("TTY", "TTY"), ("TIME", "TIME"), ("CMD", "CMD")], rows)
    return 0


def cmd_rename(args) -> int:
    from .. import state
    from ..errors import Conflict
    from ..runtime.config import check_name
    from ..runtime.container import list_all, lookup, rewrite_config
    c = lookup(args.container)
    new = check_name(args.new_name)
    with state.lock("containers"):
        if any(o.name == new for o in list_all()):
            raise Conflict(f'the container name "/{new}" is already in use', hint="pick another name")
        c.name = new
        rewrite_config(c)
    return 0


def cmd_container_prune(args) -> int:
    need_root()
    from ..runtime import lifecycle
    from ..runtime.container import list_all, refresh
    removed = []
    for c in list_all():
        refresh(c)
        if not c.running:
            lifecycle.remove(c)
            removed.append(c.id)
    if removed:
        print("Deleted Containers:")
        print("\n".join(removed))
        print()
    print(f"Total reclaimed space: {len(removed)} containers")
    return 0
