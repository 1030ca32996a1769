"""The runtime's public face: turn `run`'s options into a container and drive it.

  create(image, argv, ...)  resolve the image, merge its config with the flags
                            (docker's rules), validate, write the record
  lookup / list_all         find records (runtime/records.py)
  start/stop/kill/wait/remove/set_paused   (runtime/lifecycle.py)

Read runtime/monitor.py and runtime/init.py next: they are the start sequence.
"""
from __future__ import annotations

import os

from ..errors import MinidockerError, UsageError
from .config import ContainerConfig, effective_command
from .lifecycle import (alive, kill, parse_signal, refresh, remove, set_paused, start, stop,  # noqa: F401
                        teardown, wait)
from .records import Container, list_all, locked, lookup  # noqa: F401


def resolve_image(ref: str):
    """Find the image; the offline base image is built on first use (like docker's implicit pull)."""
    from ..errors import NotFound
    from ..image.store import Store
    store = Store()
    try:
        return store.resolve(ref)
    except NotFound:
        from ..image import base
        from ..image.reference import parse
        if parse(ref).familiar() in (f"{base.BASE_NAME}:latest", base.BASE_NAME):
            base.ensure_base_image(store)
            return store.resolve(ref)
        raise


def create(image: str, args: list[str] | None = None, *, name: str | None = None,
           entrypoint: str | None = None, env: list[str] | None = None, env_files: list[str] | None = None,
           workdir: str | None = None, hostname: str | None = None, user: str | None = None,
           stop_signal: str | None = None, **options) -> Container:
    """Create a container record (docker create). Nothing runs yet.

    `options` are ContainerConfig fields (tty, interactive, detach, auto_remove,
    network, ports, publish_all, mounts, read_only, restart, resources, ...).
    Everything is validated *before* the record is written, so a bad flag
    leaves nothing behind.
    """
    from .config import check_name, parse_env
    if name:
        name = check_name(name)          # before anything else is looked up or written
        from .records import check_name_free
        check_name_free(name)
    img = resolve_image(image)
    icfg = (img.config or {}).get("config") or {}
    argv = effective_command(icfg.get("Entrypoint"), icfg.get("Cmd"), list(args or []), entrypoint)
    if not argv:
        raise UsageError("no command specified", hint=f"the image {image} has no CMD: give one after the image name")
    cmd = list(args) if args else ([] if entrypoint is not None else list(icfg.get("Cmd") or []))
    ep = ([entrypoint] if entrypoint else []) if entrypoint is not None else list(icfg.get("Entrypoint") or [])
    merged_env = parse_env(list(env or []), list(env_files or []), list(icfg.get("Env") or []))
    cfg = ContainerConfig(
        image=image, image_id=img.id, argv=tuple(argv), cmd=tuple(cmd), entrypoint=tuple(ep),
        env=tuple(merged_env), workdir=workdir or icfg.get("WorkingDir") or "/",
        hostname=hostname or "", user=user if user is not None else (icfg.get("User") or ""),
        exposed_ports=tuple(sorted((icfg.get("ExposedPorts") or {}).keys())),
        stop_signal=stop_signal or icfg.get("StopSignal") or "SIGTERM",
        labels={**(icfg.get("Labels") or {}), **options.pop("labels", {})},
        **options)
    parse_signal(cfg.stop_signal)        # a bad --stop-signal fails now, as docker's does, not at stop
    if cfg.workdir and not cfg.workdir.startswith("/"):
        raise UsageError(f"the working directory {cfg.workdir!r} is not absolute", hint="use -w /path")
    for m in cfg.mounts:
        if m.kind == "volume":
            from . import volumes
            volumes.create(m.source)
    if cfg.network in ("none", "host") and not (cfg.ports or cfg.publish_all or cfg.network_aliases):
        pass    # nothing to check: the network code (iptables, IPAM) is not even imported
    else:
        from . import network
        network.validate(cfg)  # -p with container:NAME is refused, with none/host warned
    from . import security
    security.validate(cfg)    # --cap-add FOO, --security-opt typos: refused before anything exists
    from .records import new_record
    c = new_record(cfg, name)
    try:
        _write_etc_files(c)
    except BaseException:
        from .records import delete_record
        delete_record(c)
        raise
    return c


def rewrite_config(c: Container) -> None:
    from .. import state
    state.write_json(os.path.join(c.dir, "config.json"),
                     {"Id": c.id, "Name": c.name, "Created": c.created, "Config": c.config.to_dict()})


def _write_etc_files(c: Container) -> None:
    """hostname, and default hosts/resolv.conf (the network code rewrites them in place)."""
    with open(os.path.join(c.dir, "hostname"), "w") as f:
        f.write(c.config.hostname + "\n")
    if c.config.network == "host":
        import shutil
        for name in ("hosts", "resolv.conf"):
            if os.path.exists(f"/etc/{name}"):
                shutil.copyfile(f"/etc/{name}", os.path.join(c.dir, name))
        return
    with open(os.path.join(c.dir, "hosts"), "w") as f:
        f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    with open(os.path.join(c.dir, "resolv.conf"), "w") as f:
        f.write("# minidocker: no DNS server is configured for this container\n")


__all__ = ["create", "lookup", "list_all", "start", "stop", "kill", "wait", "remove", "refresh",
           "set_paused", "alive", "teardown", "Container", "MinidockerError"]
