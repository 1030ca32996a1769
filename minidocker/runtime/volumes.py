"""Named volumes: directories under L/volumes/<name>/_data that outlive containers.

Shell equivalent of a named volume: `mkdir -p /var/lib/minidocker/volumes/NAME/_data`
and later `mount --bind` it into the container (runtime/init.py).
"""
from __future__ import annotations

import os

from .. import params, state
from ..errors import Conflict, NotFound, UsageError
from ..trace import step



def volumes_dir() -> str:
    return os.path.join(params.lib_root(), "volumes")


def data_dir(name: str) -> str:
    return os.path.join(volumes_dir(), name, "_data")


def create(name: str, labels: dict[str, str] | None = None) -> dict:
    """Create (or return) the volume NAME. Shell: `mkdir -p L/volumes/NAME/_data`."""
    if not state.valid_name(name):
        raise UsageError(f"invalid volume name {name!r}", hint="use [a-zA-Z0-9][a-zA-Z0-9_.-]")
    meta = os.path.join(volumes_dir(), name, "volume.json")
    with state.lock("volumes"):
        if not os.path.exists(meta):
            step("mkdir", f"mkdir({data_dir(name)})", f"mkdir -p {data_dir(name)}")
            os.makedirs(data_dir(name), exist_ok=True)
            from .records import now_iso
            state.write_json(meta, {"Name": name, "Driver": "local", "CreatedAt": now_iso(),
                                    "Labels": labels or {}, "Scope": "local"})
    return inspect(name)


def inspect(name: str) -> dict:
    try:
        doc = state.read_json(os.path.join(volumes_dir(), name, "volume.json"))
    except FileNotFoundError:
        raise NotFound(f"no such volume: {name}", hint="'minidocker volume ls' lists volumes") from None
    doc.pop("version", None)
    doc["Mountpoint"] = data_dir(name)
    return doc


def list_all() -> list[dict]:
    d = volumes_dir()
    names = sorted(os.listdir(d)) if os.path.isdir(d) else []
    return [inspect(n) for n in names if os.path.exists(os.path.join(d, n, "volume.json"))]


def users(name: str) -> list[str]:
    from .records import list_all as containers
    return [c.name for c in containers() if any(m.kind == "volume" and m.source == name for m in c.config.mounts)]


def remove(name: str, force: bool = False) -> None:
    """Delete a volume and its data. Refused while a container uses it (docker's rule)."""
    inspect(name)
    in_use = users(name)
    if in_use and not force:
        raise Conflict(f"volume {name} is in use by container(s) {', '.join(in_use)}",
                       hint="remove those containers first ('minidocker rm')")
    path = os.path.join(volumes_dir(), name)
    step("rm", f"rmdir -r {path}", f"rm -rf {path}")
    state.remove_tree(path)
    if os.path.lexists(path):
        raise Conflict(f"volume {name} could not be removed completely: {path} is not empty",
                       hint=f"look at what is left (lsattr -R {path}: immutable files?) and remove it by hand")


def seed_from(src: str, dst: str) -> None:
    """Copy the image's files at a mount point into a new, empty volume (docker does this)."""
    step("cp", f"copy {src} -> {dst}", f"cp -a {src}/. {dst}/")
    import shutil
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
