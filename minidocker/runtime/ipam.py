"""Network records and IP address management (IPAM), on disk.

Map of this file:
  Layout under params.lib_root()/network:
    networks/<name>.json     one network: Name, Id, Driver, Bridge, Subnet, Gateway, Created
    leases/<name>.json       {"last": ip, "leases": {ip: {"container": id, "name": ...}}}
  ensure_builtin()           the predefined networks "bridge", "host", "none" (docker's three)
  get / all_networks / save_network / delete_network
  check_subnet(...)          refuse subnets that overlap another network or a host route
  next_free_subnet()         a /24 from params.USER_SUBNET_POOL for `network create` without --subnet
  allocate(net, container)   one free address, never one that is leased
  release(net, container)    give the address(es) of a container back
  leases(net)                who has which address

Every read-modify-write here must run under `state.lock(LOCK)`; the callers
(runtime/network.py, commands/network.py) take it, so a whole connect --
address, ports, record -- is one atomic step. The lock is an flock(2): a
`kill -9` in the middle frees it, and the half-made endpoint is found by prune.

Why addresses go round-robin (from the last one handed out) rather than
lowest-free: a peer may still have the old owner's MAC in its ARP cache for a
while; not reusing an address at once avoids talking to a dead neighbour.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import time

from .. import params, state
from ..errors import Conflict, NotFound, UsageError

__all__ = ["LOCK", "BUILTIN", "net_dir", "ensure_builtin", "get", "all_networks", "save_network",
           "delete_network", "check_subnet", "next_free_subnet", "allocate", "release", "leases",
           "new_network"]

LOCK = "network"                       # state.lock(LOCK) guards everything under L/network
BUILTIN = ("bridge", "host", "none")   # docker's predefined networks; cannot be removed


def net_dir(*parts: str) -> str:
    return os.path.join(params.lib_root(), "network", *parts)


def _net_path(name: str) -> str:
    return net_dir("networks", name + ".json")


def _lease_path(name: str) -> str:
    return net_dir("leases", name + ".json")


def new_network(name: str, subnet: str | None, gateway: str | None = None,
                bridge: str | None = None, driver: str = "bridge") -> dict:
    """A network record (not saved). Gateway defaults to the subnet's first address."""
    rec = {"Name": name, "Id": secrets.token_hex(32), "Driver": driver, "Scope": "local",
           "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "Bridge": None, "Subnet": None, "Gateway": None}
    if driver == "bridge":
        net = ipaddress.IPv4Network(subnet)
        gw = ipaddress.IPv4Address(gateway) if gateway else next(net.hosts())
        rec.update(Subnet=str(net), Gateway=str(gw),
                   Bridge=bridge or params.USER_BRIDGE_PREFIX + rec["Id"][:15 - len(params.USER_BRIDGE_PREFIX)])
    return rec


def ensure_builtin() -> None:
    """Create the records of "bridge" (params.bridge_name()/bridge_subnet()), "host", "none"
    if missing. Caller holds the lock. Only records: the bridge itself appears on first use."""
    if not os.path.exists(_net_path("bridge")):
        save_network(new_network("bridge", params.bridge_subnet(), bridge=params.bridge_name()))
    for name in ("host", "none"):
        if not os.path.exists(_net_path(name)):
            save_network(new_network(name, None, driver=name if name == "host" else "null"))


def get(name: str) -> dict:
    """The network called `name` (or whose id starts with `name`); NotFound otherwise.

    Looking up an unknown name writes nothing (the built-in records are made
    only when one of them is asked for, or listed).
    """
    if name in BUILTIN:
        ensure_builtin()
    with contextlib.suppress(FileNotFoundError):
        return state.read_json(_net_path(name))
    if len(name) >= 3:
        matches = [n for n in _saved_networks() if n["Id"].startswith(name)]
        if len(matches) == 1:
            return matches[0]
    raise NotFound(f"network {name} not found",
                   hint=f"create it with 'minidocker network create {name}', see 'minidocker network ls'")


def all_networks() -> list[dict]:
    ensure_builtin()
    return _saved_networks()


def _saved_networks() -> list[dict]:
    d = net_dir("networks")
    if not os.path.isdir(d):
        return []
    out = []
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".json"):
            with contextlib.suppress(FileNotFoundError):
                out.append(state.read_json(os.path.join(d, fn)))
    return out


def save_network(rec: dict) -> None:
    state.write_json(_net_path(rec["Name"]), rec)


def delete_network(name: str) -> None:
    """rm -f the network's record and its leases."""
    state.rm_f(_net_path(name))
    state.rm_f(_lease_path(name))


def _host_routes() -> list[tuple[ipaddress.IPv4Network, str]]:
    """(destination, device) of the host's IPv4 routes, to spot subnet clashes."""
    from ..kernel import netlink
    out = []
    for r in netlink.routes():
        if r["dst"] != "default":
            out.append((ipaddress.IPv4Network(r["dst"], strict=False), r["dev"] or ""))
    return out


def check_subnet(subnet: str, own_bridge: str | None = None) -> ipaddress.IPv4Network:
    """Parse `subnet` and refuse it if it overlaps another network of ours or a route
    of the host (a LAN, docker0, a VPN): containers could not reach that LAN any more."""
    try:
        net = ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as e:
        raise UsageError(f"invalid subnet {subnet!r}: {e}",
                         hint="give a network address with a prefix, e.g. --subnet 10.90.0.0/24") from None
    if net.prefixlen > 30:
        raise UsageError(f"subnet {subnet} is too small", hint="use a /30 or larger (e.g. /24)")
    for other in all_networks():
        if other.get("Subnet") and other.get("Bridge") != own_bridge and \
                net.overlaps(ipaddress.IPv4Network(other["Subnet"])):
            raise Conflict(f"subnet {net} overlaps network {other['Name']} ({other['Subnet']})",
                           hint="pick another --subnet, or remove that network")
    for dst, dev in _host_routes():
        if dev != own_bridge and net.overlaps(dst):
            raise Conflict(f"subnet {net} overlaps the host route {dst} on {dev}",
                           hint="pick a --subnet that `ip route` does not already use")
    return net


def next_free_subnet() -> str:
    """The first /24 of params.USER_SUBNET_POOL that check_subnet() accepts."""
    for candidate in ipaddress.IPv4Network(params.USER_SUBNET_POOL).subnets(new_prefix=24):
        try:
            check_subnet(str(candidate))
            return str(candidate)
        except Conflict:
            continue
    raise Conflict(f"no free /24 left in {params.USER_SUBNET_POOL}",
                   hint="remove unused networks ('minidocker network prune') or pass --subnet")


def leases(name: str) -> dict:
    """{"last": ip|None, "leases": {ip: {...}}} for network `name`."""
    try:
        return state.read_json(_lease_path(name))
    except FileNotFoundError:
        return {"last": None, "leases": {}}


def allocate(net: dict, container_id: str, info: dict) -> str:
    """Lease one free address of `net` to the container; returns "A.B.C.D".

    Skips the network and broadcast addresses and the gateway. Caller holds
    the lock, so two containers starting at once never get the same address.
    An existing lease of the same container is returned again (idempotent).
    """
    data = leases(net["Name"])
    for ip, who in data["leases"].items():
        if who.get("container") == container_id:
            return ip
    subnet = ipaddress.IPv4Network(net["Subnet"])
    hosts = [ip for ip in subnet.hosts() if str(ip) != net["Gateway"]]
    start = 0
    if data.get("last"):
        last = ipaddress.IPv4Address(data["last"])
        start = next((i + 1 for i, ip in enumerate(hosts) if ip == last), 0)
    for k in range(len(hosts)):
        ip = str(hosts[(start + k) % len(hosts)])
        if ip not in data["leases"]:
            data["leases"][ip] = {"container": container_id, **info}
            data["last"] = ip
            state.write_json(_lease_path(net["Name"]), data)
            return ip
    raise Conflict(f"network {net['Name']} ({net['Subnet']}) has no free address left",
                   hint="remove containers from it, or create a network with a larger --subnet")


def release(name: str, container_id: str) -> list[str]:
    """Drop every lease the container holds on network `name`; returns the addresses."""
    data = leases(name)
    gone = [ip for ip, who in data["leases"].items() if who.get("container") == container_id]
    if gone:
        for ip in gone:
            del data["leases"][ip]
        state.write_json(_lease_path(name), data)
    return gone
