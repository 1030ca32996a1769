"""Resource verbs: update, stats, pause, unpause (all of them are cgroup writes and reads).

  update [--cpus ...] CONTAINER...   new limits for a running container, now (and remembered)
  stats [--no-stream] [CONTAINER...] CPU %, memory, PIDs, like docker stats
  pause CONTAINER...                 freeze every process (freezer.state / cgroup.freeze)
  unpause CONTAINER...               thaw them

The kernel work is in minidocker/kernel/cgroups; this file only finds the
containers, checks their state and prints docker-shaped output.
"""
from __future__ import annotations

from .. import plaindata
import sys
import time

from ..errors import MinidockerError, StateError, UsageError, need_root

STATS_INTERVAL = 1.0   # seconds between the two readings a CPU % needs (docker: ~1 s)


def register(sub) -> None:
    from ..kernel.cgroups import add_resource_flags
    p = sub.add_parser("update", help="update the resource limits of one or more containers")
    add_resource_flags(p)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("stats", help="show live resource usage of containers")
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running)")
    p.add_argument("--no-stream", action="store_true", help="print one reading and exit")
    p.add_argument("--no-trunc", action="store_true", help="do not shorten ids")
    p.add_argument("--format", default=None, help="Go template, e.g. '{{.Name}} {{.CPUPerc}}'")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.set_defaults(func=cmd_stats)

    for verb, help_ in (("pause", "pause all processes within one or more containers"),
                        ("unpause", "unpause all processes within one or more containers")):
        p = sub.add_parser(verb, help=help_)
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(func=cmd_pause if verb == "pause" else cmd_unpause)


def _each(names: list[str], fn) -> int:
    """Run fn on every named container; like docker, report failures and go on."""
    errors = []
    for name in names:
        try:
            fn(name)
            print(name)
        except MinidockerError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise MinidockerError("; ".join(e.message for e in errors), hint=errors[-1].hint)
    return 0


# --- update -------------------------------------------------------------------

def merge_resources(old: dict, new) -> dict:
    """The container's stored limits with `new`'s given fields on top.

    --cpus and --cpu-quota/--cpu-period are two spellings of one limit: the
    newer spelling replaces the older one instead of conflicting with it.
    """
    given = {k: v for k, v in plaindata.asdict(new).items() if v is not None}
    out = dict(old or {})
    if "nano_cpus" in given:
        out.pop("cpu_quota", None)
        out.pop("cpu_period", None)
    if "cpu_quota" in given or "cpu_period" in given:
        out.pop("nano_cpus", None)
    if "memory" in given and "memory_swap" not in given:
        out.pop("memory_swap", None)    # docker: a new -m alone resets swap to its default
    out.update(given)
    return out


def cmd_update(args) -> int:
    from ..kernel import cgroups
    from ..runtime import container as ctr
    res = cgroups.resources_from_args(args)
    if res.is_empty():
        raise UsageError("you must provide one or more flags when using this command",
                         hint="e.g. minidocker update --cpus 0.5 --memory 200m CONTAINER")
    need_root()

    def one(name: str) -> None:
        c = ctr.lookup(name)
        merged = merge_resources(c.config.resources, res)
        if c.running:
            cgroups.manager(c.id).set(res)     # the live write: what the lesson is about
        _remember(c, merged)

    return _each(args.containers, one)


def _remember(c, resources: dict) -> None:
    """Store the new limits in the container's config.json, so a restart keeps them.

    Uses the runtime's config writer under the container's lock.
    """
    from ..runtime.container import rewrite_config
    from ..runtime.records import locked
    with locked(c) as rec:
        rec.config = plaindata.replace(rec.config, resources=resources)
        rewrite_config(rec)


# --- stats --------------------------------------------------------------------

def _host_memory() -> int:
    """MemTotal from /proc/meminfo: docker shows it as the limit of an unlimited container."""
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _net_io(pid: int) -> tuple[int, int] | None:
    """(rx, tx) bytes of every interface but lo in the process's network namespace.

    /proc/PID/net/dev shows the namespace of PID, so this reads the container's view.
    """
    try:
        with open(f"/proc/{pid}/net/dev", encoding="ascii") as f:
            lines = f.readlines()[2:]
    except OSError:
        return None
    rx = tx = 0
    for line in lines:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return rx, tx


def stats_row(cid: str, name: str, s0, s1, seconds: float, host_mem: int, net=None, trunc: bool = True) -> dict:
    """One docker-stats row from two readings `seconds` apart (None readings -> zeros)."""
    from ..kernel.cgroups import format_bytes
    if s1 is None:
        return {"Container": cid[:12] if trunc else cid, "ID": cid, "Name": name, "CPUPerc": "0.00%",
                "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B", "PIDs": "0"}
    cpu = 100.0 * (s1.cpu_usage_ns - s0.cpu_usage_ns) / (seconds * 1e9) if s0 and seconds > 0 else 0.0
    used = max(s1.memory_usage - s1.memory_cache, 0)
    limit = min(s1.memory_limit, host_mem) if s1.memory_limit else host_mem
    mem_pct = 100.0 * used / limit if limit else 0.0
    net_text = f"{format_bytes(net[0])} / {format_bytes(net[1])}" if net else "0B / 0B"
    return {"Container": cid[:12] if trunc else cid, "ID": cid, "Name": name, "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{format_bytes(used)} / {format_bytes(limit)}", "MemPerc": f"{mem_pct:.2f}%",
            "NetIO": net_text, "PIDs": str(s1.pids_current)}


_COLS = [("CONTAINER ID", "Container"), ("NAME", "Name"), ("CPU %", "CPUPerc"),
         ("MEM USAGE / LIMIT", "MemUsage"), ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("PIDS", "PIDs")]


def _table(rows: list[dict]) -> str:
    widths = [max([len(h)] + [len(r[k]) for r in rows]) for h, k in _COLS]
    fmt = lambda vals: "   ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt([h for h, _ in _COLS])] + [fmt([r[k] for _, k in _COLS]) for r in rows])


def _read(c):
    """Stats of a running container's cgroup, or None (stopped, or its cgroup is gone)."""
    from ..kernel import cgroups
    if not c.running:
        return None
    m = cgroups.manager(c.id)
    try:
        return m.stats() if m.exists() else None
    except (OSError, ValueError):
        return None


def cmd_stats(args) -> int:
    from ..runtime import container as ctr
    need_root()
    if args.containers:
        targets = [ctr.lookup(n) for n in args.containers]
    else:
        targets = [c for c in ctr.list_all() if args.all or c.running]
    host_mem = _host_memory()
    before = {c.id: _read(c) for c in targets}
    t0 = time.monotonic()
    try:
        while True:
            time.sleep(STATS_INTERVAL)
            now = {c.id: _read(c) for c in targets}
            dt, t0 = time.monotonic() - t0, time.monotonic()
            rows = [stats_row(c.id, c.name, before[c.id], now[c.id], dt, host_mem,
                              _net_io(c.pid) if now[c.id] else None, not args.no_trunc) for c in targets]
            before = now
            if args.format:
                from ..template import render
                out = "\n".join(render(args.format, r) for r in rows)
            else:
                out = _table(rows)
            if not args.no_stream:
                sys.stdout.write("\033[2J\033[H")    # clear the screen, like docker's live view
            print(out, flush=True)
            if args.no_stream:
                return 0
    except KeyboardInterrupt:
        return 0


# --- pause / unpause ----------------------------------------------------------

def cmd_pause(args) -> int:
    need_root()
    return _each(args.containers, lambda n: _set_paused(n, True))


def cmd_unpause(args) -> int:
    need_root()
    return _each(args.containers, lambda n: _set_paused(n, False))


def _set_paused(name: str, pause: bool) -> None:
    """Freeze or thaw the container's cgroup, then record Status paused/running."""
    from ..kernel import cgroups
    from ..runtime import container as ctr
    c = ctr.lookup(name)
    if not c.running:
        raise StateError(f"container {c.id} is not running",
                         hint=f"'minidocker start {c.name}' first")
    if pause and c.state.get("Paused"):
        raise StateError(f"container {c.id} is already paused", hint=f"'minidocker unpause {c.name}'")
    if not pause and not c.state.get("Paused"):
        raise StateError(f"container {c.id} is not paused", hint=f"'minidocker pause {c.name}' pauses it")
    m = cgroups.manager(c.id)
    if pause:
        m.freeze()
    else:
        m.thaw()
    ctr.set_paused(c, pause)


