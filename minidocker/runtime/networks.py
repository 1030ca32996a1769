"""Network objects: `network create | rm | ls | inspect`, and a full reset.

Map of this file:
  create_network(name, subnet, gateway, bridge)   record + bridge + NAT rules (docker makes
                                                  the bridge at create time, so do we)
  remove_network(name)                            refuses predefined and in-use networks
  members(name) / inspect(name) / list_networks() what `network ls` and `inspect` show
  teardown()                                      every bridge, rule and chain of this state root

The per-container side (veths, addresses, ports) is runtime/network.py; the
records and address leases are runtime/ipam.py.
"""
from __future__ import annotations

import contextlib
import ipaddress

from .. import state
from ..errors import Conflict, UsageError
from ..kernel import iptables, netlink
from . import ipam
from .network import (_alive, _ensure_infra, _remove_infra, chains, disconnect, endpoints,
                      settings)

__all__ = ["create_network", "remove_network", "members", "inspect", "list_networks", "teardown",
           "prune_networks"]


def create_network(name: str, subnet: str | None = None, gateway: str | None = None,
                   bridge: str | None = None) -> dict:
    """`network create`: a record, the bridge and its rules (docker makes the bridge at once)."""
    if not state.valid_name(name) or name in ipam.BUILTIN or name.startswith("container:"):
        raise UsageError(f"invalid network name {name!r}",
                         hint="use letters, digits, '_', '.', '-' (not bridge/host/none)")
    if bridge and (len(bridge) > 15 or not state.valid_name(bridge)):
        raise UsageError(f"invalid bridge name {bridge!r}", hint="at most 15 letters/digits/-/_")
    with state.lock(ipam.LOCK):
        ipam.ensure_builtin()
        if any(n["Name"] == name for n in ipam.all_networks()):
            raise Conflict(f"network with name {name} already exists",
                           hint=f"pick another name or remove it: minidocker network rm {name}")
        if bridge and (netlink.link_exists(bridge) or
                       any(n["Bridge"] == bridge for n in ipam.all_networks())):
            raise Conflict(f"a link named {bridge} already exists", hint="choose another bridge name")
        net = ipam.check_subnet(subnet) if subnet else ipaddress.IPv4Network(ipam.next_free_subnet())
        if gateway:
            try:
                gw = ipaddress.IPv4Address(gateway)
            except ValueError:
                raise UsageError(f"invalid gateway {gateway!r}", hint="e.g. --gateway 10.90.0.1") from None
            if gw not in net or gw in (net.network_address, net.broadcast_address):
                raise UsageError(f"gateway {gateway} is not a host address of subnet {net}",
                                 hint=f"pick an address inside {net}")
        rec = ipam.new_network(name, str(net), gateway, bridge)
        ipam.save_network(rec)
        try:
            _ensure_infra(rec)
        except BaseException:
            with contextlib.suppress(Exception):
                _remove_infra(rec)
            ipam.delete_network(name)
            raise
    return rec


def members(name: str) -> list[dict]:
    """Endpoint records of the containers on network `name`."""
    return [r for r in endpoints() if name in r["networks"] or r["mode"] == name]


def remove_network(name: str) -> None:
    """`network rm`: refuses predefined networks and networks still in use."""
    with state.lock(ipam.LOCK):
        net = ipam.get(name)
        if net["Name"] in ipam.BUILTIN:
            raise UsageError(f"{net['Name']} is a pre-defined network and cannot be removed",
                             hint="remove user-defined networks only")
        dead = [r for r in members(net["Name"]) if not _alive(r)]
    for r in dead:                          # left by a crash: clean them up on the way
        disconnect(r["container"])
    with state.lock(ipam.LOCK):
        users = [r["name"] for r in members(net["Name"])]
        if users:
            raise Conflict(f"network {net['Name']} has active endpoints ({', '.join(users)})",
                           hint="stop or disconnect those containers first")
        _remove_infra(net)
        ipam.delete_network(net["Name"])


def teardown() -> None:
    """Remove every bridge, rule and chain of this state root (tests; a full reset).

    Disconnects any remaining containers first. The sysctls stay (ip_forward=1
    may be needed by others, docker leaves it on too).
    """
    for r in endpoints():
        disconnect(r["container"])
    with state.lock(ipam.LOCK):
        for net in ipam.all_networks():
            if net["Driver"] == "bridge":
                _remove_infra(net)
                ipam.delete_network(net["Name"])
        iptables.remove_base(chains())


def list_networks() -> list[dict]:
    """Every network record, predefined ones included (what `network ls` prints)."""
    with state.lock(ipam.LOCK):
        return ipam.all_networks()


def inspect(name: str) -> dict:
    """docker's `network inspect` document for one network."""
    with state.lock(ipam.LOCK):
        net = ipam.get(name)
        recs = members(net["Name"])
    containers = {}
    for r in recs:
        ep = r["networks"].get(net["Name"])
        s = settings(r["container"])["Networks"].get(net["Name"], {})
        containers[r["container"]] = {
            "Name": r["name"], "EndpointID": s.get("EndpointID", ""),
            "MacAddress": ep["mac"] if ep else "",
            "IPv4Address": f"{ep['ip']}/{ep['prefixlen']}" if ep else "", "IPv6Address": ""}
    ipam_cfg = [{"Subnet": net["Subnet"], "Gateway": net["Gateway"]}] if net.get("Subnet") else []
    return {"Name": net["Name"], "Id": net["Id"], "Created": net["Created"], "Scope": "local",
            "Driver": net["Driver"], "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": ipam_cfg},
            "Internal": False, "Attachable": False, "Ingress": False,
            "Containers": containers,
            "Options": {"com.docker.network.bridge.name": net["Bridge"]} if net.get("Bridge") else {},
            "Labels": {}}


def prune_networks() -> list[str]:
    """`network prune`: remove every user network no live container is on; their names."""
    gone = []
    for net in list_networks():
        if net["Name"] in ipam.BUILTIN:
            continue
        with contextlib.suppress(Conflict):
            remove_network(net["Name"])
            gone.append(net["Name"])
    return gone
