"""Linux capabilities: root's powers cut into ~41 named pieces, and how to keep only some.

Map of this file:
  NAMES, number(name), name(n)   CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40
  DOCKER_DEFAULT                  the 14 capabilities a docker container keeps
  resolve(add, drop, privileged)  docker's --cap-add/--cap-drop/--privileged rule -> set of numbers
  last_cap()                      the highest capability this kernel knows
  bounding_drop(n)                prctl(PR_CAPBSET_DROP)        capsh --drop=cap_x
  bounding_keep_only(keep)        the same for every capability not in keep
  ambient_clear()                 prctl(PR_CAP_AMBIENT_CLEAR_ALL)
  capget() / capset(e, p, i)      capget(2) / capset(2)          setpriv --caps / capsh --caps=
  from_status(text)               /proc/PID/status CapInh/CapPrm/CapEff/CapBnd/CapAmb -> sets

Five sets per thread (capabilities(7)):
  bounding     the ceiling: nothing can ever be gained beyond it, not even by exec'ing a
               setuid-root or file-capability binary. Dropping from it needs CAP_SETPCAP.
  permitted    what the thread may switch on.
  effective    what the kernel checks right now.
  inheritable  what may pass through execve() to a binary whose file caps ask for it.
  ambient      what passes through execve() of *any* binary (for non-root users).
The container runtime drops the bounding set first (while it is still full
root), then switches user, then sets the other four. After execve() a root
process gets permitted = bounding (root is treated as if every binary had all
file caps), so the bounding set is what really confines a root container.

Everything here is imported by the container's init *before* pivot_root: it
must not import anything lazily (the host's files are gone afterwards).
"""
from __future__ import annotations

import ctypes
import errno

from ..errors import KernelError, UsageError
from ..trace import step
from . import libc

#: capability numbers from include/uapi/linux/capability.h (index = number)
NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
_BY_NAME = {n: i for i, n in enumerate(NAMES)}

#: docker's default set (moby oci/caps/defaults.go): enough to run a normal
#: service as root (chown files, bind port 80, switch user, ping), nothing that
#: reaches the kernel as a whole (no SYS_ADMIN = no mount, no SYS_MODULE, no
#: SYS_TIME, no NET_ADMIN, no SYS_PTRACE ...).
DOCKER_DEFAULT = frozenset(_BY_NAME[n] for n in (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"))

PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
_CAP_VERSION_3 = 0x20080522   # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set


def number(name: str) -> int:
    """'net_admin', 'NET_ADMIN' or 'CAP_NET_ADMIN' -> 12; UsageError for an unknown name."""
    n = name.strip().upper()
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in _BY_NAME:
        raise UsageError(f"unknown capability {name!r}",
                         hint="use a name from capabilities(7) such as NET_ADMIN or SYS_TIME, or ALL")
    return _BY_NAME[n]


def name(n: int) -> str:
    return NAMES[n] if 0 <= n < len(NAMES) else f"cap_{n}"


def names(caps) -> list[str]:
    """Numbers -> sorted names, the way `capsh --print` lists them."""
    return [name(n) for n in sorted(caps)]


def all_caps() -> frozenset[int]:
    """Every capability this kernel has (0 .. last_cap())."""
    return frozenset(range(last_cap() + 1))


def resolve(add=(), drop=(), privileged: bool = False) -> frozenset[int]:
    """docker's rule (moby TweakCapabilities) for the set a container keeps.

      --privileged        every capability
      --cap-add ALL       every capability except the dropped ones
      --cap-drop ALL      only the added ones
      otherwise           (default - dropped) + added  (an add wins over a drop)
    Raises UsageError for an unknown name, before anything is created.
    """
    add_u = {a.strip().upper() for a in add}
    drop_u = {d.strip().upper() for d in drop}
    adds = {number(a) for a in add_u if a not in ("ALL", "CAP_ALL")}
    drops = {number(d) for d in drop_u if d not in ("ALL", "CAP_ALL")}
    if privileged:
        return all_caps()
    if add_u & {"ALL", "CAP_ALL"}:
        return frozenset(all_caps() - drops)
    if drop_u & {"ALL", "CAP_ALL"}:
        return frozenset(adds & all_caps())
    return frozenset(((DOCKER_DEFAULT - drops) | adds) & all_caps())


_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability number this kernel knows.

    Shell: `cat /proc/sys/kernel/cap_last_cap`. Asked with prctl(PR_CAPBSET_READ)
    instead, which also works where /proc/sys is hidden.
    """
    global _last_cap
    if _last_cap is None:
        n = 0
        while n < 64:
            try:
                libc.prctl(libc.PR_CAPBSET_READ, n + 1)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                break
            n += 1
        _last_cap = n
    return _last_cap


def in_bounding(n: int) -> bool:
    """prctl(PR_CAPBSET_READ, n). Shell: `grep CapBnd /proc/self/status` (bit n)."""
    return bool(libc.prctl(libc.PR_CAPBSET_READ, n))


def bounding_drop(n: int) -> None:
    """prctl(PR_CAPBSET_DROP, n): remove one capability from the bounding set, for good.

    Shell: `capsh --drop=cap_sys_admin --` (or `setpriv --bounding-set -sys_admin`).
    Needs CAP_SETPCAP in the effective set, so it is done while still full root.
    """
    step("capabilities", f"prctl(PR_CAPBSET_DROP, {name(n)})", f"capsh --drop={name(n).lower()} --")
    libc.prctl(libc.PR_CAPBSET_DROP, n)


def bounding_keep_only(keep) -> list[int]:
    """Drop every capability not in `keep` from the bounding set; returns the dropped ones.

    One prctl(PR_CAPBSET_DROP, n) per capability, traced as one step.
    Shell: `capsh --drop=cap_a,cap_b,... --` (or `setpriv --bounding-set -all,+chown,...`).
    """
    drop = [n for n in range(last_cap() + 1) if n not in keep and in_bounding(n)]
    if drop:
        step("capabilities", f"prctl(PR_CAPBSET_DROP, n) for {names(drop)}",
             f"capsh --drop={','.join(name(n).lower() for n in drop)} --")
    for n in drop:
        libc.prctl(libc.PR_CAPBSET_DROP, n)
    return drop


def ambient_clear() -> None:
    """prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL). Shell: `setpriv --ambient-caps -all`."""
    step("capabilities", "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", "setpriv --ambient-caps -all")
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _to_set(lo: int, hi: int) -> frozenset[int]:
    word = lo | (hi << 32)
    return frozenset(i for i in range(64) if word >> i & 1)


def _words(caps) -> tuple[int, int]:
    word = 0
    for c in caps:
        word |= 1 << c
    return word & 0xFFFFFFFF, word >> 32


def capget(pid: int = 0) -> dict[str, frozenset[int]]:
    """capget(2): this thread's (pid 0) effective, permitted and inheritable sets.

    Shell: `grep Cap /proc/self/status` or `capsh --print`.
    """
    hdr = _Header(_CAP_VERSION_3, pid)
    data = (_Data * 2)()
    if libc._libc.capget(ctypes.byref(hdr), data) < 0:
        raise KernelError(ctypes.get_errno(), "capget", str(pid))
    return {k: _to_set(getattr(data[0], k), getattr(data[1], k))
            for k in ("effective", "permitted", "inheritable")}


def capset(effective, permitted, inheritable) -> None:
    """capset(2): set this thread's effective, permitted and inheritable sets.

    Shell: `setpriv --inh-caps=-all ...` / `capsh --caps="cap_chown,cap_kill+ep" --`.
    The kernel refuses (EPERM) to add to permitted what is not already there.
    """
    step("capabilities",
         f"capset(effective={names(effective)}, permitted={names(permitted)}, inheritable={names(inheritable)})",
         f"capsh --caps=\"{','.join(n.lower() for n in names(permitted)) or '='}{'+ep' if permitted else ''}\" --")
    hdr = _Header(_CAP_VERSION_3, 0)
    data = (_Data * 2)()
    for key, caps in (("effective", effective), ("permitted", permitted), ("inheritable", inheritable)):
        lo, hi = _words(caps)
        setattr(data[0], key, lo)
        setattr(data[1], key, hi)
    if libc._libc.capset(ctypes.byref(hdr), data) < 0:
        raise KernelError(ctypes.get_errno(), "capset",
                          f"effective={names(effective)}, permitted={names(permitted)}")


def from_status(text: str) -> dict[str, frozenset[int]]:
    """/proc/PID/status -> {"CapInh": {...}, "CapPrm": ..., "CapEff": ..., "CapBnd": ..., "CapAmb": ...}.

    Shell: `grep Cap /proc/PID/status`, decoded with `capsh --decode=HEX`.
    """
    out = {}
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            word = int(val.strip(), 16)
            out[key] = frozenset(i for i in range(64) if word >> i & 1)
    return out


def to_hex(caps) -> str:
    """A set -> the 16-hex-digit form /proc/PID/status prints (what `capsh --decode` reads)."""
    lo, hi = _words(caps)
    return f"{lo | hi << 32:016x}"


__all__ = ["NAMES", "DOCKER_DEFAULT", "number", "name", "names", "all_caps", "resolve", "last_cap",
           "in_bounding", "bounding_drop", "bounding_keep_only", "ambient_clear", "capget", "capset", "from_status", "to_hex"]
