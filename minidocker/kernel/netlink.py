"""Links, addresses and routes over rtnetlink, one `ip` command each.

Map of this file:
  _nl(pid)                    an rtnetlink socket in the host netns or in /proc/PID/ns/net
  inside(pid)                 keep the one in /proc/PID/ns/net open for several steps (speed)
  link_exists / link_index / list_links / link_mac / link_alias / addresses / routes   questions
  set_alias                                            ip link set NAME alias TEXT (who owns a bridge)
  create_bridge / destroy_link                         ip link add NAME type bridge / ip link del
  create_veth / set_master / set_hairpin / move_to_netns   the host half of wiring a container
  rename_link / add_address / set_mac / link_up / link_down / add_default_route
                                                       the container half (pass pid=...)
  write_sysctl                                         echo 1 > /proc/sys/net/ipv4/ip_forward

Why netlink and not `subprocess.run(["ip", ...])`: rtnetlink is the socket
`ip` itself talks to; speaking it directly gives errno values and structured
answers instead of text meant for people. The messages are built in plain
sight below, with the helpers of kernel/rtnl.py (a few hundred lines of
`struct`): each function shows the header and attributes its `ip` command
sends. To compare, `strace -e trace=sendmsg ip link set lo up` decodes what
`ip` sends, and `ip monitor` in another terminal shows every change as it happens.

How "inside the container" works: rtnl.open_in_netns() setns(2)s this thread
into /proc/PID/ns/net, creates the netlink socket, and setns(2)s straight
back; a netlink socket stays bound to the namespace it was created in, so
every request on it acts inside the container while this process stays in
the host namespace. Shell: `nsenter --target PID --net ip ...`.

A plain blocking socket needs no event loop, so these functions work the same
in a script, in a thread, and inside Jupyter's running asyncio loop.
"""
from __future__ import annotations

import contextlib
import errno

from ..errors import KernelError
from ..trace import step
from . import rtnl
from .rtnl import IFF_UP, IFLA_IFNAME, NetlinkError

__all__ = [
    "inside", "link_exists", "link_index", "list_links", "link_mac", "link_alias", "set_alias", "addresses", "routes",
    "create_bridge", "destroy_link", "create_veth", "set_master", "set_hairpin",
    "move_to_netns", "rename_link", "add_address", "set_mac", "link_up", "link_down",
    "add_default_route", "write_sysctl", "read_sysctl",
]

_EXCL = rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL     # "add": create, and fail with EEXIST if it exists
# the body of every RTM_GETLINK: ifinfomsg + "skip the statistics" (what `ip link show` sends too)
_GETLINK = rtnl.ifinfomsg() + rtnl.attr_u32(rtnl.IFLA_EXT_MASK, rtnl.RTEXT_FILTER_SKIP_STATS)


# --- plumbing ----------------------------------------------------------------

def _ns(pid: int | None) -> str:
    """The `nsenter` prefix a student types to run the same `ip` in the container."""
    return f"nsenter -t {pid} -n " if pid else ""


_inside: dict[int, rtnl.Rtnl] = {}   # sockets kept open by `with inside(pid):`


@contextlib.contextmanager
def inside(pid: int):
    """Keep one netlink socket in /proc/PID/ns/net open for several steps.

    Opening one costs two setns(2) calls (see the module doc); configuring
    eth0 takes six steps, so `_plug` opens it once. Only a speed-up: every
    function works the same without it.
    """
    if pid in _inside:
        yield
        return
    _inside[pid] = _open(pid)
    try:
        yield
    finally:
        _inside.pop(pid).close()


def _open(pid: int | None) -> rtnl.Rtnl:
    """A netlink socket in our own netns, or in /proc/PID/ns/net (rtnl.open_in_netns:
    setns, socket, setns back; shell: `nsenter -t PID -n`); ESRCH when PID is gone."""
    if pid is None:
        return rtnl.Rtnl()
    path = f"/proc/{pid}/ns/net"
    try:
        return rtnl.open_in_netns(path)
    except FileNotFoundError:
        raise KernelError(errno.ESRCH, "open", path,
                          hint="the container's first process is gone; is it still running?") from None


@contextlib.contextmanager
def _nl(pid: int | None = None):
    """An rtnetlink socket in the host netns, or in the netns of process `pid`."""
    if pid in _inside:
        yield _inside[pid]
        return
    nl = _open(pid)
    try:
        yield nl
    finally:
        nl.close()


def _kernel(e: NetlinkError, op: str, args: str) -> KernelError:
    """Turn the kernel's NLMSG_ERROR into our KernelError (keeps errno; the kernel's
    own reason, when it gives one, becomes the hint)."""
    return KernelError(e.errno, op, args, hint=f"the kernel says: {e.extack}" if e.extack else None)


def _lookup(nl: rtnl.Rtnl, name: str) -> rtnl.Msg | None:
    """RTM_GETLINK with IFLA_IFNAME: the kernel finds the link by name (`ip link show NAME`)."""
    if not name or len(name.encode()) > 15:           # IFNAMSIZ - 1: no such link can exist
        return None
    try:
        found = nl.request(rtnl.RTM_GETLINK, 0, _GETLINK + rtnl.attr_str(IFLA_IFNAME, name))
    except NetlinkError as e:
        if e.errno == errno.ENODEV:
            return None
        raise _kernel(e, "RTM_GETLINK", f"ifname={name}") from None
    return found[0] if found else None


def _link(nl: rtnl.Rtnl, name: str, pid: int | None = None) -> rtnl.Msg:
    """Like _lookup, but a missing link is an error (ENODEV, as `ip` says "Cannot find device")."""
    found = _lookup(nl, name)
    if found is None:
        where = f" in the netns of pid {pid}" if pid else ""
        raise KernelError(errno.ENODEV, "link_lookup", f"ifname={name}{where}")
    return found


def _index(nl: rtnl.Rtnl, name: str, pid: int | None = None) -> int:
    return _link(nl, name, pid).head["index"]


def _setlink(nl: rtnl.Rtnl, index: int, *attrs: bytes, up: bool | None = None) -> None:
    """RTM_NEWLINK on an existing link (no NLM_F_CREATE): what every `ip link set` sends.
    up=True/False sets IFF_UP through ifi_change (only the bits in change are touched)."""
    flags, change = (0, 0) if up is None else (IFF_UP if up else 0, IFF_UP)
    nl.request(rtnl.RTM_NEWLINK, 0, rtnl.ifinfomsg(index, flags, change) + b"".join(attrs))


def _names(nl: rtnl.Rtnl) -> dict[int, str]:
    """{ifindex: name} from one RTM_GETLINK dump."""
    return {m.head["index"]: rtnl.as_str(m.get(IFLA_IFNAME)) for m in nl.dump(rtnl.RTM_GETLINK, _GETLINK)}


# --- questions (no trace: they change nothing) -------------------------------

def link_exists(name: str, pid: int | None = None) -> bool:
    """Is there a link called `name`? (`ip link show NAME`)"""
    with _nl(pid) as nl:
        return _lookup(nl, name) is not None


def link_index(name: str, pid: int | None = None) -> int:
    """The ifindex of `name` (the number before the colon in `ip -o link`)."""
    with _nl(pid) as nl:
        return _index(nl, name, pid)


def list_links(pid: int | None = None) -> list[dict]:
    """Every link as {name, index, kind, master, mac, up} (`ip -d -o link`).

    `master` is the *name* of the bridge the link is enslaved to, or None.
    Netlink: one RTM_GETLINK dump (NLM_F_DUMP), read until NLMSG_DONE.
    """
    with _nl(pid) as nl:
        raw = nl.dump(rtnl.RTM_GETLINK, _GETLINK)
    by_index = {m.head["index"]: rtnl.as_str(m.get(IFLA_IFNAME)) for m in raw}
    out = []
    for m in raw:
        info = m.get(rtnl.IFLA_LINKINFO)
        master = rtnl.as_u32(m.get(rtnl.IFLA_MASTER))
        out.append({
            "name": by_index[m.head["index"]],
            "index": m.head["index"],
            "kind": rtnl.as_str(rtnl.parse_attrs(info).get(rtnl.IFLA_INFO_KIND)) if info else None,
            "master": by_index.get(master) if master else None,
            "mac": rtnl.as_mac(m.get(rtnl.IFLA_ADDRESS)),
            "up": bool(m.head["flags"] & IFF_UP),
        })
    return out


def link_alias(name: str) -> str | None:
    """The link's free-text alias (`ip -d link show NAME`, the "alias" line), or None."""
    with _nl() as nl:
        found = _lookup(nl, name)
        return rtnl.as_str(found.get(rtnl.IFLA_IFALIAS)) if found else None


def set_alias(name: str, text: str) -> None:
    """Label a link with free text. Netlink RTM_NEWLINK(IFLA_IFALIAS).

    Shell: `ip link set NAME alias TEXT`. We write the owning state root on
    our bridges, so two minidockers never share one bridge by accident.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_IFALIAS={text}", f"ip link set {name} alias {text}")
    with _nl() as nl:
        try:
            _setlink(nl, _index(nl, name), rtnl.attr_str(rtnl.IFLA_IFALIAS, text))
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} alias {text}") from None


def link_mac(name: str, pid: int | None = None) -> str:
    """The MAC address of `name` (`ip link show NAME`, the link/ether field)."""
    with _nl(pid) as nl:
        return rtnl.as_mac(_link(nl, name, pid).get(rtnl.IFLA_ADDRESS))


def addresses(pid: int | None = None) -> list[tuple[str, str]]:
    """IPv4 addresses as (ifname, 'A.B.C.D/N') (`ip -4 -o addr`).

    Netlink: an RTM_GETADDR dump with ifaddrmsg.family=AF_INET (and one of links, for the names).
    """
    with _nl(pid) as nl:
        names = _names(nl)
        return [(names.get(a.head["index"], "?"), f"{rtnl.as_ipv4(a.get(rtnl.IFA_ADDRESS))}/{a.head['prefixlen']}")
                for a in nl.dump(rtnl.RTM_GETADDR, rtnl.ifaddrmsg(0, family=rtnl.AF_INET))]


def routes(pid: int | None = None) -> list[dict]:
    """IPv4 main-table routes as {dst, gateway, dev} (`ip -4 route`).

    Netlink: an RTM_GETROUTE dump (AF_INET) answers with every table (main, local);
    we keep table 254, "main", the one `ip route` shows.
    """
    with _nl(pid) as nl:
        names = _names(nl)
        out = []
        for r in nl.dump(rtnl.RTM_GETROUTE, rtnl.rtmsg(table=0, protocol=0)):
            table = rtnl.as_u32(r.get(rtnl.RTA_TABLE)) or r.head["table"]
            if table != rtnl.RT_TABLE_MAIN:
                continue
            dst = rtnl.as_ipv4(r.get(rtnl.RTA_DST))
            out.append({"dst": f"{dst}/{r.head['dst_len']}" if dst else "default",
                        "gateway": rtnl.as_ipv4(r.get(rtnl.RTA_GATEWAY)),
                        "dev": names.get(rtnl.as_u32(r.get(rtnl.RTA_OIF)))})
        return out


# --- the host side -----------------------------------------------------------

def create_bridge(name: str, cidr: str) -> None:
    """Create bridge `name`, give it the gateway address `cidr`, bring it up.

    Netlink RTM_NEWLINK(kind=bridge), RTM_NEWADDR, RTM_NEWLINK(IFF_UP).
    Shell: `ip link add NAME type bridge && ip addr add CIDR dev NAME && ip link set NAME up`.
    An existing bridge is kept (idempotent): two containers may race to make it.
    """
    with _nl() as nl:
        step("ip", f"RTM_NEWLINK ifname={name} kind=bridge", f"ip link add {name} type bridge")
        try:       # ifinfomsg + IFLA_IFNAME + IFLA_LINKINFO { IFLA_INFO_KIND "bridge" }
            nl.request(rtnl.RTM_NEWLINK, _EXCL, rtnl.ifinfomsg() + rtnl.attr_str(IFLA_IFNAME, name)
                       + rtnl.nest(rtnl.IFLA_LINKINFO, rtnl.attr_str(rtnl.IFLA_INFO_KIND, "bridge")))
        except NetlinkError as e:
            if e.errno != errno.EEXIST:
                raise _kernel(e, "RTM_NEWLINK", f"ifname={name}, kind=bridge") from None
        idx = _index(nl, name)
        addr, plen = cidr.split("/")
        step("ip", f"RTM_NEWADDR {cidr} dev {name}", f"ip addr add {cidr} dev {name}")
        try:       # ifaddrmsg(prefixlen, index) + IFA_LOCAL + IFA_ADDRESS, as `ip addr add` sends
            nl.request(rtnl.RTM_NEWADDR, _EXCL, rtnl.ifaddrmsg(idx, int(plen))
                       + rtnl.attr_ipv4(rtnl.IFA_LOCAL, addr) + rtnl.attr_ipv4(rtnl.IFA_ADDRESS, addr))
        except NetlinkError as e:
            if e.errno != errno.EEXIST:
                raise _kernel(e, "RTM_NEWADDR", f"{cidr} dev {name}") from None
        step("ip", f"RTM_NEWLINK {name} IFF_UP", f"ip link set {name} up")
        try:
            _setlink(nl, idx, up=True)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} up") from None


def destroy_link(name: str, pid: int | None = None) -> bool:
    """Delete link `name`; True if it existed. Deleting one end of a veth deletes both.

    Netlink RTM_DELLINK. Shell: `ip link del NAME`. Idempotent: a missing link is fine.
    """
    with _nl(pid) as nl:
        found = _lookup(nl, name)
        if found is None:
            return False
        step("ip", f"RTM_DELLINK {name}", f"{_ns(pid)}ip link del {name}")
        try:
            nl.request(rtnl.RTM_DELLINK, 0, rtnl.ifinfomsg(found.head["index"]))
        except NetlinkError as e:
            if e.errno == errno.ENODEV:    # someone else deleted it a moment ago
                return False
            raise _kernel(e, "RTM_DELLINK", name) from None
        return True


def create_veth(host: str, peer: str, peer_pid: int | None = None) -> None:
    """Create a veth pair: two interfaces joined by a virtual cable.

    Netlink RTM_NEWLINK(kind=veth, peer=...). Shell: `ip link add HOST type veth peer name PEER`.
    With peer_pid the peer is born inside the netns of that process (its ifinfomsg
    carries IFLA_NET_NS_PID): `ip link add HOST type veth peer name PEER netns PID`.
    That skips move_to_netns, whose cost (~20 ms) is the kernel waiting for an RCU
    grace period while it takes the link out of the host namespace.
    """
    where = f" netns {peer_pid}" if peer_pid else ""
    born = f" IFLA_NET_NS_PID={peer_pid}" if peer_pid else ""
    step("ip", f"RTM_NEWLINK ifname={host} kind=veth peer={peer}{born}",
         f"ip link add {host} type veth peer name {peer}{where}")
    # ifinfomsg + IFLA_IFNAME host + IFLA_LINKINFO { IFLA_INFO_KIND "veth",
    #   IFLA_INFO_DATA { VETH_INFO_PEER: a whole second ifinfomsg + IFLA_IFNAME peer [+ IFLA_NET_NS_PID] } }
    peer_msg = rtnl.ifinfomsg() + rtnl.attr_str(IFLA_IFNAME, peer)
    if peer_pid:
        peer_msg += rtnl.attr_u32(rtnl.IFLA_NET_NS_PID, peer_pid)
    body = (rtnl.ifinfomsg() + rtnl.attr_str(IFLA_IFNAME, host)
            + rtnl.nest(rtnl.IFLA_LINKINFO, rtnl.attr_str(rtnl.IFLA_INFO_KIND, "veth"),
                        rtnl.nest(rtnl.IFLA_INFO_DATA, rtnl.attr(rtnl.VETH_INFO_PEER, peer_msg))))
    with _nl() as nl:
        try:
            nl.request(rtnl.RTM_NEWLINK, _EXCL, body)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"ifname={host}, kind=veth, peer={peer}{where}") from None


def set_master(name: str, bridge: str) -> None:
    """Plug link `name` into `bridge` (make it a bridge port) and bring it up.

    Netlink RTM_NEWLINK(IFLA_MASTER). Shell: `ip link set NAME master BRIDGE up`.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_MASTER={bridge} IFF_UP", f"ip link set {name} master {bridge} up")
    with _nl() as nl:
        try:
            _setlink(nl, _index(nl, name), rtnl.attr_u32(rtnl.IFLA_MASTER, _index(nl, bridge)), up=True)
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
    with _nl() as nl:
        try:
            _setlink(nl, _index(nl, name), rtnl.attr_u32(rtnl.IFLA_NET_NS_PID, pid))
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} netns {pid}") from None


# --- either side (pid=None: host; pid=N: inside /proc/N/ns/net) ---------------

def rename_link(old: str, new: str, pid: int | None = None) -> None:
    """Rename a (down) link. Netlink RTM_NEWLINK(IFLA_IFNAME).

    Shell: `ip link set OLD name NEW` (inside: `nsenter -t PID -n ip link set OLD name NEW`).
    """
    step("ip", f"RTM_NEWLINK {old} IFLA_IFNAME={new}", f"{_ns(pid)}ip link set {old} name {new}")
    with _nl(pid) as nl:
        try:
            _setlink(nl, _index(nl, old, pid), rtnl.attr_str(IFLA_IFNAME, new))
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{old} name {new}") from None


def set_mac(name: str, mac: str, pid: int | None = None) -> None:
    """Set the link's MAC address. Netlink RTM_NEWLINK(IFLA_ADDRESS).

    Shell: `ip link set NAME address MAC`.
    """
    step("ip", f"RTM_NEWLINK {name} IFLA_ADDRESS={mac}", f"{_ns(pid)}ip link set {name} address {mac}")
    with _nl(pid) as nl:
        try:
            _setlink(nl, _index(nl, name, pid), rtnl.attr_mac(rtnl.IFLA_ADDRESS, mac))
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} address {mac}") from None


def add_address(name: str, cidr: str, pid: int | None = None) -> None:
    """Give link `name` the address `cidr` (e.g. 10.88.0.2/16). Netlink RTM_NEWADDR.

    Shell: `ip addr add CIDR dev NAME`. The kernel also adds the connected
    route for the subnet (`10.88.0.0/16 dev NAME proto kernel`).
    """
    addr, plen = cidr.split("/")
    step("ip", f"RTM_NEWADDR {cidr} dev {name}", f"{_ns(pid)}ip addr add {cidr} dev {name}")
    with _nl(pid) as nl:
        try:       # IFA_LOCAL is "my address"; IFA_ADDRESS the peer's on point-to-point links, else the same
            nl.request(rtnl.RTM_NEWADDR, _EXCL, rtnl.ifaddrmsg(_index(nl, name, pid), int(plen))
                       + rtnl.attr_ipv4(rtnl.IFA_LOCAL, addr) + rtnl.attr_ipv4(rtnl.IFA_ADDRESS, addr))
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWADDR", f"{cidr} dev {name}") from None


def link_up(name: str, pid: int | None = None) -> None:
    """Bring a link up. Netlink RTM_NEWLINK(IFF_UP). Shell: `ip link set NAME up`."""
    step("ip", f"RTM_NEWLINK {name} IFF_UP", f"{_ns(pid)}ip link set {name} up")
    with _nl(pid) as nl:
        try:
            _setlink(nl, _index(nl, name, pid), up=True)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} up") from None


def link_down(name: str, pid: int | None = None) -> None:
    """Bring a link down. Netlink RTM_NEWLINK(~IFF_UP). Shell: `ip link set NAME down`."""
    step("ip", f"RTM_NEWLINK {name} ~IFF_UP", f"{_ns(pid)}ip link set {name} down")
    with _nl(pid) as nl:
        try:
            _setlink(nl, _index(nl, name, pid), up=False)
        except NetlinkError as e:
            raise _kernel(e, "RTM_NEWLINK", f"{name} down") from None


def add_default_route(gateway: str, pid: int | None = None) -> None:
    """Send everything without a more specific route to `gateway`. Netlink RTM_NEWROUTE.

    Shell: `ip route add default via GATEWAY`. In a container the gateway is
    the bridge's address: the host, which forwards (and NATs) onwards.
    """
    step("ip", f"RTM_NEWROUTE default via {gateway}", f"{_ns(pid)}ip route add default via {gateway}")
    with _nl(pid) as nl:
        try:       # rtmsg(dst_len=0: default, table main, proto boot, unicast) + RTA_GATEWAY
            nl.request(rtnl.RTM_NEWROUTE, _EXCL, rtnl.rtmsg(dst_len=0) + rtnl.attr_ipv4(rtnl.RTA_GATEWAY, gateway))
        except NetlinkError as e:
            if e.errno != errno.EEXIST:
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
