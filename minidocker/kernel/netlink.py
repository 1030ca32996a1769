"""Links, addresses and routes over netlink (pyroute2), one `ip` command each.

Map of this file:
  _ipr(pid)                   an rtnetlink socket in the host netns or in /proc/PID/ns/net
  inside(pid)                 keep the one in /proc/PID/ns/net open for several steps (speed)
  link_exists / link_index / list_links / link_mac / link_alias / addresses / routes   questions
  set_alias                                            ip link set NAME alias TEXT (who owns a bridge)
  create_bridge / destroy_link                         ip link add NAME type bridge / ip link del
  create_veth / set_master / set_hairpin / move_to_netns   the host half of wiring a container
  rename_link / add_address / set_mac / link_up / link_down / add_default_route
                                                       the container half (pass pid=...)
  write_sysctl                                         echo 1 > /proc/sys/net/ipv4/ip_forward

Why a library and not `subprocess.run(["ip", ...])`: rtnetlink is the socket
`ip` itself talks to; pyroute2 speaks it directly, so we get errno values and
structured answers instead of parsing text meant for people.

How "inside the container" works: pyroute2 opens the netlink socket in a
short-lived child that setns(2)s into /proc/PID/ns/net; a netlink socket
stays bound to the namespace it was created in, so every request on it acts
inside the container while this process stays in the host namespace.
Shell: `nsenter --target PID --net ip ...`.
"""
from __future__ import annotations

import contextlib
import errno
import os
from typing import Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..errors import KernelError
from ..trace import step

__all__ = [
    "inside", "link_exists", "link_index", "list_links", "link_mac", "link_alias", "set_alias", "addresses", "routes",
    "create_bridge", "destroy_link", "create_veth", "set_master", "set_hairpin",
    "move_to_netns", "rename_link", "add_address", "set_mac", "link_up", "link_down",
    "add_default_route", "write_sysctl", "read_sysctl",
]


# --- plumbing ----------------------------------------------------------------

def _ns(pid: int | None) -> str:
    """The `nsenter` prefix a student types to run the same `ip` in the container."""
    return f"nsenter -t {pid} -n " if pid else ""


_inside: dict[int, IPRoute] = {}   # sockets kept open by `with inside(pid):`


@contextlib.contextmanager
def inside(pid: int) -> Iterator[None]:
    """Keep one netlink socket in /proc/PID/ns/net open for several steps.

    Opening one costs a fork + setns(2) (see the module doc); configuring
    eth0 takes six steps, so `_plug` opens it once. Only a speed-up: every
    function works the same without it.
    """
    if pid in _inside or _loop_running():
        yield          # (inside Jupyter each call opens its own socket in a worker thread)
        return
    _inside[pid] = IPRoute(netns=f"/proc/{pid}/ns/net", flags=0)
    try:
        yield
    finally:
        _inside.pop(pid).close()


@contextlib.contextmanager
def _ipr(pid: int | None = None) -> Iterator[IPRoute]:
    """An rtnetlink socket in the host netns, or in the netns of process `pid`."""
    if pid in _inside:
        yield _inside[pid]
        return
    if pid is None:
        ipr = IPRoute()
    else:
        path = f"/proc/{pid}/ns/net"
        if not os.path.exists(path):
            raise KernelError(errno.ESRCH, "open", path,
                              hint="the container's first process is gone; is it still running?")
        ipr = IPRoute(netns=path, flags=0)   # flags=0: never create a named netns
    try:
        yield ipr
    finally:
        ipr.close()


def _kernel(e: NetlinkError, op: str, args: str) -> KernelError:
    """Turn pyroute2's NetlinkError into our KernelError (keeps errno)."""
    return KernelError(e.code, op, args)


def _index(ipr: IPRoute, name: str, pid: int | None = None) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        where = f" in the netns of pid {pid}" if pid else ""
        raise KernelError(errno.ENODEV, "link_lookup", f"ifname={name}{where}")
    return found[0]


# --- questions (no trace: they change nothing) -------------------------------

def link_exists(name: str, pid: int | None = None) -> bool:
    """Is there a link called `name`? (`ip link show NAME`)"""
    with _ipr(pid) as ipr:
        return bool(ipr.link_lookup(ifname=name))


def link_index(name: str, pid: int | None = None) -> int:
    """The ifindex of `name` (the number before the colon in `ip -o link`)."""
    with _ipr(pid) as ipr:
        return _index(ipr, name, pid)


def list_links(pid: int | None = None) -> list[dict]:
    """Every link as {name, index, kind, master, mac, up} (`ip -d -o link`).

    `master` is the *name* of the bridge the link is enslaved to, or None.
    """
    with _ipr(pid) as ipr:
        raw = list(ipr.get_links())
    by_index = {m["index"]: m.get_attr("IFLA_IFNAME") for m in raw}
    out = []
    for m in raw:
        info = m.get_attr("IFLA_LINKINFO")
        master = m.get_attr("IFLA_MASTER")
        out.append({
            "name": m.get_attr("IFLA_IFNAME"),
            "index": m["index"],
            "kind": info.get_attr("IFLA_INFO_KIND") if info else None,
            "master": by_index.get(master) if master else None,
            "mac": m.get_attr("IFLA_ADDRESS"),
            "up": bool(m["flags"] & 1),
        })
    return out


def link_alias(name: str) -> str | None:
    """The link's free-text alias (`ip -d link show NAME`, the "alias" line), or None."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        return ipr.get_links(found[0])[0].get_attr("IFLA_IFALIAS") if found else None


def set_alias(name: str, text: str) -> None:
    """Label a link with free text. Netlink RTM_NEWLINK(IFLA_IFALIAS).

    Shell: `ip link set NAME alias TEXT`. We write the owning state root on
    our bridges, so two minidockers never share one bridge by accident.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_IFALIAS={text}", f"ip link set {name} alias {text}")
    with _ipr() as ipr:
        ipr.link("set", index=_index(ipr, name), ifalias=text)


def link_mac(name: str, pid: int | None = None) -> str:
    """The MAC address of `name` (`ip link show NAME`, the link/ether field)."""
    with _ipr(pid) as ipr:
        return ipr.get_links(_index(ipr, name, pid))[0].get_attr("IFLA_ADDRESS")


def addresses(pid: int | None = None) -> list[tuple[str, str]]:
    """IPv4 addresses as (ifname, 'A.B.C.D/N') (`ip -4 -o addr`)."""
    with _ipr(pid) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        return [(names.get(a["index"], "?"), f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
                for a in ipr.get_addr(family=2)]


def routes(pid: int | None = None) -> list[dict]:
    """IPv4 main-table routes as {dst, gateway, dev} (`ip -4 route`)."""
    with _ipr(pid) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        out = []
        for r in ipr.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            out.append({"dst": f"{dst}/{r['dst_len']}" if dst else "default",
                        "gateway": r.get_attr("RTA_GATEWAY"),
                        "dev": names.get(r.get_attr("RTA_OIF"))})
        return out


# --- the host side -----------------------------------------------------------

def create_bridge(name: str, cidr: str) -> None:
    """Create bridge `name`, give it the gateway address `cidr`, bring it up.

    Netlink RTM_NEWLINK(kind=bridge), RTM_NEWADDR, RTM_NEWLINK(IFF_UP).
    Shell: `ip link add NAME type bridge && ip addr add CIDR dev NAME && ip link set NAME up`.
    An existing bridge is kept (idempotent): two containers may race to make it.
    """
    with _ipr() as ipr:
        step("ip", f"RTM_NEWLINK ifname={name} kind=bridge", f"ip link add {name} type bridge")
        try:
            ipr.link("add", ifname=name, kind="bridge")
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise _kernel(e, "RTM_NEWLINK", f"ifname={name}, kind=bridge") from None
        idx = _index(ipr, name)
        addr, plen = cidr.split("/")
        step("ip", f"RTM_NEWADDR {cidr} dev {name}", f"ip addr add {cidr} dev {name}")
        try:
            ipr.addr("add", index=idx, address=addr, prefixlen=int(plen))
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise _kernel(e, "RTM_NEWADDR", f"{cidr} dev {name}") from None
        step("ip", f"RTM_NEWLINK {name} IFF_UP", f"ip link set {name} up")
        ipr.link("set", index=idx, state="up")


def destroy_link(name: str, pid: int | None = None) -> bool:
    """Delete link `name`; True if it existed. Deleting one end of a veth deletes both.

    Netlink RTM_DELLINK. Shell: `ip link del NAME`. Idempotent: a missing link is fine.
    """
    with _ipr(pid) as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        step("ip", f"RTM_DELLINK {name}", f"{_ns(pid)}ip link del {name}")
        try:
            ipr.link("del", index=found[0])
        except NetlinkError as e:
            if e.code == errno.ENODEV:    # someone else deleted it a moment ago
                return False
            raise _kernel(e, "RTM_DELLINK", name) from None
        return True


def create_veth(host: str, peer: str) -> None:
    """Create a veth pair: two interfaces joined by a virtual cable.

    Netlink RTM_NEWLINK(kind=veth, peer=...). Shell: `ip link add HOST type veth peer name PEER`.
    """
    step("ip", f"RTM_NEWLINK ifname={host} kind=veth peer={peer}",
         f"ip link add {host} type veth peer name {peer}")
    with _ipr() as ipr:
        try:
            ipr.link("add", ifname=host, kind="veth", peer=peer)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"ifname={host}, kind=veth, peer={peer}") from None


def set_master(name: str, bridge: str) -> None:
    """Plug link `name` into `bridge` (make it a bridge port) and bring it up.

    Netlink RTM_NEWLINK(IFLA_MASTER). Shell: `ip link set NAME master BRIDGE up`.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_MASTER={bridge} IFF_UP", f"ip link set {name} master {bridge} up")
    with _ipr() as ipr:
        try:
            ipr.link("set", index=_index(ipr, name), master=_index(ipr, bridge), state="up")
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} master {bridge}") from None


def set_hairpin(name: str, on: bool = True) -> None:
    """Let the bridge send a frame back out of the port it came in on.

    Needed when a container talks to its *own* published port through the
    host: the DNATed packet must leave by the same bridge port it entered.
    File: /sys/class/net/NAME/brport/hairpin_mode.
    Shell: `echo 1 > /sys/class/net/NAME/brport/hairpin_mode` (or `bridge link set dev NAME hairpin on`).
    """
    path = f"/sys/class/net/{name}/brport/hairpin_mode"
    step("sysfs", f"write {path} <- {int(on)}", f"echo {int(on)} > {path}")
    try:
        with open(path, "w") as f:
            f.write("1" if on else "0")
    except OSError as e:
        raise KernelError(e.errno or errno.EIO, "write", path) from None


def move_to_netns(name: str, pid: int) -> None:
    """Move link `name` from the host into the network namespace of process `pid`.

    Netlink RTM_NEWLINK(IFLA_NET_NS_PID). Shell: `ip link set NAME netns PID`.
    After this the host no longer sees `name`; the container does.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_NET_NS_PID={pid}", f"ip link set {name} netns {pid}")
    with _ipr() as ipr:
        try:
            ipr.link("set", index=_index(ipr, name), net_ns_pid=pid)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} netns {pid}") from None


# --- either side (pid=None: host; pid=N: inside /proc/N/ns/net) ---------------

def rename_link(old: str, new: str, pid: int | None = None) -> None:
    """Rename a (down) link. Netlink RTM_NEWLINK(IFLA_IFNAME).

    Shell: `ip link set OLD name NEW` (inside: `nsenter -t PID -n ip link set OLD name NEW`).
    """
    step("ip", f"RTM_NEWLINK {old} IFLA_IFNAME={new}", f"{_ns(pid)}ip link set {old} name {new}")
    with _ipr(pid) as ipr:
        try:
            ipr.link("set", index=_index(ipr, old, pid), ifname=new)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{old} name {new}") from None


def set_mac(name: str, mac: str, pid: int | None = None) -> None:
    """Set the link's MAC address. Netlink RTM_NEWLINK(IFLA_ADDRESS).

    Shell: `ip link set NAME address MAC`.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_ADDRESS={mac}", f"{_ns(pid)}ip link set {name} address {mac}")
    with _ipr(pid) as ipr:
        try:
            ipr.link("set", index=_index(ipr, name, pid), address=mac)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} address {mac}") from None


def add_address(name: str, cidr: str, pid: int | None = None) -> None:
    """Give link `name` the address `cidr` (e.g. 10.88.0.2/16). Netlink RTM_NEWADDR.

    Shell: `ip addr add CIDR dev NAME`. The kernel also adds the connected
    route for the subnet (`10.88.0.0/16 dev NAME proto kernel`).
    """
    addr, plen = cidr.split("/")
    step("ip", f"RTM_NEWADDR {cidr} dev {name}", f"{_ns(pid)}ip addr add {cidr} dev {name}")
    with _ipr(pid) as ipr:
        try:
            ipr.addr("add", index=_index(ipr, name, pid), address=addr, prefixlen=int(plen))
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWADDR", f"{cidr} dev {name}") from None


def link_up(name: str, pid: int | None = None) -> None:
    """Bring a link up. Netlink RTM_NEWLINK(IFF_UP). Shell: `ip link set NAME up`."""
    step("ip", f"RTM_NEWLINK {name} IFF_UP", f"{_ns(pid)}ip link set {name} up")
    with _ipr(pid) as ipr:
        ipr.link("set", index=_index(ipr, name, pid), state="up")


def link_down(name: str, pid: int | None = None) -> None:
    """Bring a link down. Netlink RTM_NEWLINK(~IFF_UP). Shell: `ip link set NAME down`."""
    step("ip", f"RTM_NEWLINK {name} ~IFF_UP", f"{_ns(pid)}ip link set {name} down")
    with _ipr(pid) as ipr:
        ipr.link("set", index=_index(ipr, name, pid), state="down")


def add_default_route(gateway: str, pid: int | None = None) -> None:
    """Send everything without a more specific route to `gateway`. Netlink RTM_NEWROUTE.

    Shell: `ip route add default via GATEWAY`. In a container the gateway is
    the bridge's address: the host, which forwards (and NATs) onwards.
    """
    step("ip", f"RTM_NEWROUTE default via {gateway}", f"{_ns(pid)}ip route add default via {gateway}")
    with _ipr(pid) as ipr:
        try:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise _kernel(e, "RTM_NEWROUTE", f"default via {gateway}") from None


# --- sysctls -----------------------------------------------------------------

def read_sysctl(key: str) -> str:
    """Read a sysctl such as 'net/ipv4/ip_forward' (`sysctl net.ipv4.ip_forward`)."""
    with open(f"/proc/sys/{key}") as f:
        return f.read().strip()


def write_sysctl(key: str, value: str) -> None:
    """Write a sysctl, e.g. write_sysctl('net/ipv4/ip_forward', '1').

    File: /proc/sys/KEY. Shell: `sysctl -w net.ipv4.ip_forward=1`
    (same as `echo 1 > /proc/sys/net/ipv4/ip_forward`). Skipped if already set.
    """
    path = f"/proc/sys/{key}"
    try:
        if read_sysctl(key) == value:
            return
    except OSError:
        pass
    step("sysctl", f"write {path} <- {value}", f"sysctl -w {key.replace('/', '.')}={value}")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise KernelError(e.errno or errno.EIO, "write", path) from None


# --- running under Jupyter ------------------------------------------------------
# pyroute2 (0.9) drives its sockets with its own asyncio loop; a Jupyter kernel
# already runs a loop in the main thread, where pyroute2's sync API then fails
# with "This event loop is already running". When that is the case, each public
# function below runs in a short-lived worker thread instead (same result).

def _loop_running() -> bool:
    import asyncio
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _off_the_event_loop(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _loop_running():
            return fn(*args, **kwargs)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(1) as ex:
            return ex.submit(fn, *args, **kwargs).result()
    return wrapper


for _name in __all__:
    _fn = globals().get(_name)
    if callable(_fn) and _name not in ("inside", "read_sysctl", "write_sysctl"):
        globals()[_name] = _off_the_event_loop(_fn)
del _name, _fn
