"""Resource limits as data: docker's flags -> a frozen `Resources`.

Map of this file:
  parse_bytes / parse_cpus / parse_cpuset   one flag value -> a number or a set, or UsageError
  Resources                                 the limits, frozen; None means "leave as it is"
  parse_resources(...)                      all the flags at once, checked against each other
  add_resource_flags / resources_from_args  the same flags on any command parser (run, update)
  to_docker / from_docker                   docker's HostConfig names (inspect, config.json)
  shares_to_weight / format_bytes           v1 -> v2 conversion, docker-style sizes

Nothing here touches the kernel except reading which CPUs and memory nodes
exist (/sys/devices/system/{cpu,node}/online), so a bad value is refused
before any cgroup is created.
"""
from __future__ import annotations

from ...plaindata import asdict, dataclass
TYPE_CHECKING = False   # importing typing costs ~4 ms at start-up; type checkers read this
if TYPE_CHECKING:
    from typing import Any

from ... import params
from ...errors import UsageError

UNLIMITED = -1   # docker's spelling of "no limit" for --memory-swap, --cpu-quota, --pids-limit

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _split_size(text: str) -> tuple[str, str] | None:
    """'1.5 GiB' -> ('1.5', 'g'): a number, then k m g t p with an optional (i)b, any case."""
    s = text.strip().lower()
    s = s[:-2] if s.endswith("ib") else s[:-1] if s.endswith("b") else s
    unit = s[-1:] if s[-1:] in ("k", "m", "g", "t", "p") else ""
    number = s[:len(s) - len(unit)].rstrip()
    whole, dot, frac = number.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (dot and not (frac.isascii() and frac.isdigit())):
        return None
    return number, unit


def parse_bytes(value: str | int, flag: str = "--memory") -> int:
    """'500m' -> 524288000, '1g', '1GiB', '4096' (bytes). Units are binary, like docker's."""
    if isinstance(value, int):
        return value
    m = _split_size(str(value))
    if m is None:
        raise UsageError(f"invalid value {value!r} for {flag}: not a size",
                         hint=f"write a number with an optional unit b, k, m or g, e.g. {flag} 500m or {flag} 1g")
    return int(float(m[0]) * _UNITS[m[1]])


def _parse_int(value: str | int, flag: str, lo: int, hi: int, allow_unlimited: bool = False) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid value {value!r} for {flag}: not an integer",
                         hint=f"{flag} takes a whole number between {lo} and {hi}") from None
    if allow_unlimited and n == UNLIMITED:
        return n
    if not lo <= n <= hi:
        extra = " (or -1 for no limit)" if allow_unlimited else ""
        raise UsageError(f"invalid value {n} for {flag}: out of range",
                         hint=f"{flag} takes a whole number between {lo} and {hi}{extra}")
    return n


def parse_idlist(text: str) -> set[int]:
    """The kernel's list format '0-2,5' -> {0, 1, 2, 5}; ValueError if malformed."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if a > b or a < 0:
            raise ValueError(part)
        out.update(range(a, b + 1))
    return out


def _online(path: str) -> set[int]:
    """CPUs or memory nodes that exist now (/sys/devices/system/cpu/online); {0} if unknown."""
    try:
        with open(path, encoding="ascii") as f:
            return parse_idlist(f.read()) or {0}
    except OSError:
        return {0}


def online_cpus() -> set[int]:
    return _online("/sys/devices/system/cpu/online")


def online_mems() -> set[int]:
    return _online("/sys/devices/system/node/online")


def parse_cpuset(value: str, flag: str, available: set[int]) -> str:
    """Check '0-1,3' names only CPUs (or memory nodes) this machine has; return it unchanged."""
    try:
        ids = parse_idlist(value)
    except ValueError:
        ids = set()
    have = ",".join(str(i) for i in sorted(available))
    if not ids:
        raise UsageError(f"invalid value {value!r} for {flag}: not a list like 0-1,3",
                         hint=f"this machine has {have}; write e.g. {flag} 0 or {flag} 0-1")
    missing = sorted(ids - available)
    if missing:
        raise UsageError(f"invalid value {value!r} for {flag}: this machine has no {missing[0]} "
                         f"(it has {have})", hint=f"pick from {have}")
    return value.strip()


def parse_cpus(value: str | float, ncpu: int | None = None) -> int:
    """--cpus 0.5 -> nano-CPUs (500000000), as docker stores it; 0 < cpus <= CPUs online."""
    ncpu = ncpu or len(online_cpus())
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid value {value!r} for --cpus: not a number",
                         hint="--cpus takes a number of CPUs, e.g. --cpus 0.5 for half of one CPU") from None
    if not 0.01 <= cpus <= ncpu:
        raise UsageError(f"invalid value {value!r} for --cpus: range of CPUs is from 0.01 to "
                         f"{ncpu:.2f}, as there are only {ncpu} CPUs available",
                         hint="e.g. --cpus 0.5 for half of one CPU, --cpus 1 for a whole one")
    return round(cpus * 1e9)


@dataclass(frozen=True)
class Resources:
    """Limits for one cgroup. None = not given (keep what is there); -1 = unlimited.

    memory_swap is docker's: memory + swap together. cpu time is either
    nano_cpus (--cpus) or cpu_quota/cpu_period, never both (docker's rule).
    """

    memory: int | None = None          # bytes  v1 memory.limit_in_bytes   v2 memory.max
    memory_swap: int | None = None     # bytes  v1 memory.memsw.limit...   v2 memory.swap.max (= swap - memory)
    nano_cpus: int | None = None       # 1e9 = one CPU; becomes quota/period
    cpu_period: int | None = None      # us     v1 cpu.cfs_period_us       v2 cpu.max (2nd field)
    cpu_quota: int | None = None       # us     v1 cpu.cfs_quota_us        v2 cpu.max (1st field)
    cpu_shares: int | None = None      # 2..262144  v1 cpu.shares          v2 cpu.weight (converted)
    cpuset_cpus: str | None = None     # "0-1"  cpuset.cpus (both)
    cpuset_mems: str | None = None     # "0"    cpuset.mems (both)
    pids_limit: int | None = None      # v1 and v2 pids.max

    def cfs(self) -> tuple[int | None, int | None]:
        """(quota_us, period_us) to write; quota -1 = unlimited, None = leave alone."""
        if self.nano_cpus is not None:
            period = self.cpu_period or params.CPU_PERIOD_DEFAULT
            return round(self.nano_cpus * period / 1e9), period
        return self.cpu_quota, self.cpu_period

    def swap_total(self) -> int | None:
        """memory+swap to write (v1 memsw). Docker's default when only -m is given: twice -m."""
        if self.memory_swap is not None:
            return self.memory_swap
        if self.memory is not None:
            return 2 * self.memory
        return None

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def to_docker(self) -> dict[str, Any]:
        """docker inspect's HostConfig fields (0/"" where docker prints them for 'unset')."""
        return {"Memory": self.memory or 0, "MemorySwap": self.memory_swap or 0,
                "NanoCpus": self.nano_cpus or 0, "CpuPeriod": self.cpu_period or 0,
                "CpuQuota": self.cpu_quota or 0, "CpuShares": self.cpu_shares or 0,
                "CpusetCpus": self.cpuset_cpus or "", "CpusetMems": self.cpuset_mems or "",
                "PidsLimit": self.pids_limit}

    @classmethod
    def from_docker(cls, hc: dict[str, Any]) -> "Resources":
        """The inverse of to_docker (zeros and "" back to None)."""
        def g(key: str) -> Any:
            return hc.get(key) or None
        return cls(memory=g("Memory"), memory_swap=g("MemorySwap"), nano_cpus=g("NanoCpus"),
                   cpu_period=g("CpuPeriod"), cpu_quota=g("CpuQuota"), cpu_shares=g("CpuShares"),
                   cpuset_cpus=g("CpusetCpus"), cpuset_mems=g("CpusetMems"), pids_limit=g("PidsLimit"))


def parse_resources(memory=None, memory_swap=None, cpus=None, cpu_period=None, cpu_quota=None,
                    cpu_shares=None, cpuset_cpus=None, cpuset_mems=None, pids_limit=None,
                    *, ncpu: int | None = None, cpus_online: set[int] | None = None,
                    mems_online: set[int] | None = None) -> Resources:
    """Docker's flag strings (None = flag absent) -> Resources, or UsageError naming the flag."""
    r: dict[str, Any] = {}
    if memory is not None:
        r["memory"] = parse_bytes(memory, "--memory")
        if r["memory"] < params.MEMORY_MIN:
            raise UsageError(f"invalid value {memory!r} for --memory: minimum memory limit allowed is 6MB",
                             hint="give at least --memory 6m (a container needs some memory to start)")
    if memory_swap is not None:
        r["memory_swap"] = UNLIMITED if str(memory_swap).strip() == "-1" else parse_bytes(memory_swap, "--memory-swap")
        if "memory" not in r:
            raise UsageError("--memory-swap needs --memory: it is memory plus swap together",
                             hint="e.g. --memory 100m --memory-swap 200m (100m of it may be swap)")
        if r["memory_swap"] != UNLIMITED and r["memory_swap"] < r["memory"]:
            raise UsageError(f"--memory-swap {memory_swap} is smaller than --memory {memory}",
                             hint="--memory-swap counts memory plus swap, so it must be at least --memory (or -1)")
    if cpus is not None:
        if cpu_period is not None or cpu_quota is not None:
            raise UsageError("conflicting options: --cpus and --cpu-period/--cpu-quota cannot both be set",
                             hint="--cpus 0.5 is the same as --cpu-period 100000 --cpu-quota 50000; use one form")
        r["nano_cpus"] = parse_cpus(cpus, ncpu)
    if cpu_period is not None:
        r["cpu_period"] = _parse_int(cpu_period, "--cpu-period", 1000, 1000000)
    if cpu_quota is not None:
        r["cpu_quota"] = _parse_int(cpu_quota, "--cpu-quota", 1000, 1 << 40, allow_unlimited=True)
    if cpu_shares is not None:
        r["cpu_shares"] = _parse_int(cpu_shares, "--cpu-shares", 2, 262144)
    if cpuset_cpus is not None:
        r["cpuset_cpus"] = parse_cpuset(cpuset_cpus, "--cpuset-cpus", cpus_online or online_cpus())
    if cpuset_mems is not None:
        r["cpuset_mems"] = parse_cpuset(cpuset_mems, "--cpuset-mems", mems_online or online_mems())
    if pids_limit is not None:
        n = _parse_int(pids_limit, "--pids-limit", -(1 << 31), 1 << 31)
        r["pids_limit"] = UNLIMITED if n <= 0 else n    # docker: 0 or negative = unlimited
    return Resources(**r)


# (dest, flags, metavar, help) -- docker's wording, so `--help` reads the same
_FLAGS = [
    ("memory", ("-m", "--memory"), "BYTES", "memory limit, e.g. 500m or 1g"),
    ("memory_swap", ("--memory-swap",), "BYTES", "memory plus swap; -1 for unlimited swap"),
    ("cpus", ("--cpus",), "DECIMAL", "number of CPUs, e.g. 0.5"),
    ("cpu_period", ("--cpu-period",), "US", "CFS scheduler period in microseconds"),
    ("cpu_quota", ("--cpu-quota",), "US", "CFS scheduler quota in microseconds (-1: none)"),
    ("cpu_shares", ("-c", "--cpu-shares"), "N", "CPU shares (relative weight, default 1024)"),
    ("cpuset_cpus", ("--cpuset-cpus",), "LIST", "CPUs in which to allow execution (0-3, 0,1)"),
    ("cpuset_mems", ("--cpuset-mems",), "LIST", "memory nodes in which to allow execution (0-3, 0,1)"),
    ("pids_limit", ("--pids-limit",), "N", "maximum number of processes (-1: unlimited)"),
]


def add_resource_flags(parser) -> None:
    """Add docker's resource flags to `parser` (a minidocker.flags.Parser; run, create, update)."""
    g = parser.add_argument_group("resources (cgroups)")
    for dest, flags, metavar, help_ in _FLAGS:
        g.add_argument(*flags, dest=dest, metavar=metavar, default=None, help=help_)


def resources_from_args(args) -> Resources:
    """Parsed flags (strings) -> Resources; UsageError (exit 125) for bad values."""
    return parse_resources(**{dest: getattr(args, dest, None) for dest, *_ in _FLAGS})


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000), runc's linear map: 1024 -> 39."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def format_bytes(n: float) -> str:
    """1536 -> '1.5KiB', docker stats' style (4 significant digits, binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}"
        n /= 1024
    return f"{n}B"
