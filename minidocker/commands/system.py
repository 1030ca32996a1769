"""System verbs: info, version, system prune, system df."""
from __future__ import annotations

import os
import platform

from .. import __version__, params
from ..errors import need_root


def register(sub) -> None:
    p = sub.add_parser("info", help="show system-wide information")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("version", help="show the version")
    p.set_defaults(func=cmd_version)
    p = sub.add_parser("system", help="manage minidocker (prune)")
    ss = p.add_subparsers(dest="system_cmd", metavar="COMMAND")
    pp = ss.add_parser("prune", help="remove stopped containers and everything a crash left behind")
    pp.add_argument("-f", "--force", action="store_true", help="do not prompt")
    pp.add_argument("-a", "--all", action="store_true", help="also remove unused images")
    pp.set_defaults(func=cmd_prune)
    pp = ss.add_parser("info", help="same as 'minidocker info'")
    pp.set_defaults(func=cmd_info)
    p.set_defaults(func=None)


def _cgroup_info() -> tuple[str, str]:
    try:
        from ..kernel import cgroups
        return str(cgroups.version()), "cgroupfs"
    except Exception:
        return ("2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"), "cgroupfs"


def cmd_info(args) -> int:
    from ..runtime.container import list_all
    cs = list_all()
    running = sum(1 for c in cs if c.running)
    try:
        from ..image.store import Store
        n_images = len(Store().images())
    except Exception:
        n_images = 0
    ver, driver = _cgroup_info()
    print(f"""Client: minidocker {__version__}

Server:
 Containers: {len(cs)}
  Running: {running}
  Paused: {sum(1 for c in cs if c.state.get('Paused'))}
  Stopped: {len(cs) - running}
 Images: {n_images}
 Server Version: {__version__}
 Storage Driver: overlay2
 Logging Driver: {params.LOG_DRIVER}
 Cgroup Driver: {driver}
 Cgroup Version: {ver}
 Kernel Version: {platform.release()}
 Operating System: {_os_name()}
 Architecture: {platform.machine()}
 CPUs: {os.cpu_count()}
 Minidocker Root Dir: {params.lib_root()}
 Runtime Dir: {params.run_root()}""")
    return 0


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def cmd_version(args) -> int:
    print(f"""Client:
 Version:    {__version__}
 Python:     {platform.python_version()}
 OS/Arch:    linux/{platform.machine()}

Server:
 Engine:
  Version:   {__version__} (minidocker, no daemon: each container has its own monitor process)
  Kernel:    {platform.release()}""")
    return 0


def cmd_prune(args) -> int:
    need_root()
    from ..runtime.prune import prune
    rep = prune()
    if rep["containers"]:
        print("Deleted Containers:\n" + "\n".join(rep["containers"]) + "\n")
    if rep["leftovers"]:
        print("Cleaned up after crashes:\n" + "\n".join(rep["leftovers"]) + "\n")
    if getattr(args, "all", False):
        from ..image.store import Store
        lines, reclaimed = Store().prune(all=True)
        for line in lines:
            print(line)
    print(f"Total reclaimed: {len(rep['containers'])} containers, {len(rep['leftovers'])} leftovers")
    return 0
