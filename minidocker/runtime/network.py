"""Container networking: how containers talk to each other, to the host, and how -p works.

Map of this file (the runtime calls the first four; see docs/architecture.md):
  validate(config)         before anything exists: network mode, -p/-P specs, host ports free
  connect(container, pid)  after the container's namespaces exist, before its command runs:
                             bridge + NAT (once), veth pair, eth0 + address + default route,
                             published-port rules, /etc/hosts + /etc/resolv.conf; returns
                             docker's NetworkSettings
  disconnect(container)    undo all of connect (veths, leases, rules); idempotent
  prune(live)              after a crash: endpoints of dead containers, stray veths/leases/rules
  attach / detach          `network connect|disconnect NET CONTAINER` (extra interfaces eth1, ...)
  settings(id)             NetworkSettings now (for inspect); published(id) for `minidocker port`
  needs_own_netns / netns_to_join   what the runtime must unshare or setns for --network
  inspect(name)            `network inspect` (the network objects live in runtime/networks.py;
                           /etc/hosts and resolv.conf in runtime/netfiles.py; leases in ipam.py)

The three answers (seed chapter 2):
  * container <-> container: every container's eth0 is one end of a veth pair whose
    other end is a port of the bridge (params.bridge_name(), default mdk0): one
    L2 switch; same subnet, so they reach each other directly. On a user network
    they also find each other by name: we write the peers' names into each
    member's /etc/hosts (what docker did before its embedded DNS server in 1.10;
    we have no DNS server, and busybox's resolver reads /etc/hosts first).
  * container <-> host: the bridge has the gateway address (10.88.0.1); it is the
    containers' default route; with ip_forward=1 and MASQUERADE they go further.
  * -p 8080:80: DNAT rules in the nat table (kernel/iptables.py explains each).

Endpoint records (L/network/endpoints/<container id>.json) are written *before*
any veth or rule is created (write-ahead), so a runtime killed half-way leaves
a record that names everything prune must remove.
"""
from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import shlex
import sys

from .. import params, state
from ..errors import Conflict, NotFound, StateError, UsageError
from ..kernel import iptables


class _LazyNetlink:
    """kernel.netlink, imported on first use: `run --network none` and validate()
    never need it (it brings `socket`, which test_startup forbids for `--network none`)."""

    def __getattr__(self, name):
        from ..kernel import netlink as real
        return getattr(real, name)


netlink = _LazyNetlink()
from . import ipam, netfiles
from .ports import PortBinding, bindings, exposed_ports, host_port_free, overlaps, pick_free_port

__all__ = ["validate", "connect", "disconnect", "prune", "attach", "detach", "settings",
           "published", "needs_own_netns", "netns_to_join", "inspect", "parse_mode",
           "endpoints", "chains"]


def chains() -> iptables.Chains:
    return iptables.Chains(params.iptables_chain())


def _cfg(container, field: str, default=None):
    return getattr(container.config, field, default) or default


# --- modes -------------------------------------------------------------------

def parse_mode(network: str | None) -> tuple[str, str]:
    """--network value -> (kind, name): ("bridge", "bridge"|USERNET), ("none", ""),
    ("host", ""), ("container", NAME)."""
    net = (network or "bridge").strip()
    if net in ("default", "bridge"):
        return "bridge", "bridge"
    if net in ("none", "host"):
        return net, ""
    if net.startswith("container:"):
        other = net.split(":", 1)[1]
        if not other:
            raise UsageError("--network container: needs a container name",
                             hint="use --network container:NAME")
        return "container", other
    return "bridge", net


def needs_own_netns(config) -> bool:
    """Does the container get a new network namespace (CLONE_NEWNET)? Not for host/container:."""
    return parse_mode(getattr(config, "network", None))[0] in ("bridge", "none")


def _lookup(name: str):
    from . import container as _container   # the lead's module; imported late (cycle)
    return _container.lookup(name)


def netns_to_join(config) -> str | None:
    """For --network container:NAME, the netns path the runtime must setns(2) into."""
    kind, other = parse_mode(getattr(config, "network", None))
    if kind != "container":
        return None
    c = _lookup(other)
    if not (c.state or {}).get("Running"):
        raise StateError(f"container {other} is not running",
                         hint=f"start it first: minidocker start {other}")
    return f"/proc/{c.state['Pid']}/ns/net"


# --- endpoint records ----------------------------------------------------------

def _ep_path(cid: str) -> str:
    return ipam.net_dir("endpoints", cid + ".json")


def _load(cid: str) -> dict | None:
    try:
        return state.read_json(_ep_path(cid))
    except FileNotFoundError:
        return None


def _save(rec: dict) -> None:
    state.write_json(_ep_path(rec["container"]), rec)


def endpoints() -> list[dict]:
    """Every endpoint record of this state root."""
    d = ipam.net_dir("endpoints")
    out = []
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if fn.endswith(".json"):
            with contextlib.suppress(FileNotFoundError):
                out.append(state.read_json(os.path.join(d, fn)))
    return out


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: with the pid it names one process for good (pids get reused)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(rec: dict) -> bool:
    return bool(rec.get("pid")) and _start_time(rec["pid"]) == rec.get("start")


def _veth_name(cid: str, net: str) -> str:
    """Host end of the veth: mdv + 8 hex of (container, network); the peer adds a 'p'."""
    return params.VETH_PREFIX + hashlib.sha1(f"{cid}:{net}".encode()).hexdigest()[:8]


def _mac(ip: str) -> str:
    """02:42:0a:58:00:02 for 10.88.0.2: readable in `ip neigh`, and stable for an address."""
    return params.MAC_PREFIX + "".join(f":{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


# --- validate ------------------------------------------------------------------

def _warn(msg: str) -> None:
    sys.stderr.write(f"WARNING: {msg}\n")


def validate(config) -> dict:
    """Check --network, --network-alias, -p and -P before the container exists.

    Returns {"mode", "network", "ports": [PortBinding dicts], "aliases"}.
    Raises UsageError (bad spec), NotFound (no such network), Conflict (host
    port in use). Random host ports (-p 80, -P) are picked later, by connect().
    """
    kind, name = parse_mode(getattr(config, "network", None))
    aliases = list(getattr(config, "network_aliases", None) or [])
    binds = bindings(getattr(config, "ports", None), bool(getattr(config, "publish_all", False)),
                     getattr(config, "exposed_ports", None))
    if binds and kind in ("host", "none"):
        _warn(f"published ports are discarded when using {kind} network mode")
        binds = []
    if binds and kind == "container":
        raise UsageError("conflicting options: port publishing and the container network mode",
                         hint=f"publish the ports on container {name} instead")
    if aliases and not (kind == "bridge" and name != "bridge"):
        raise UsageError("network-scoped aliases are supported only on user-defined networks",
                         hint="create one with 'minidocker network create NET' and run with --network NET")
    if kind == "container":
        netns_to_join(config)
    if kind == "bridge":
        with state.lock(ipam.LOCK):
            ipam.get(name)
            _check_ports(binds, cid=None, pick=False)
    return {"mode": kind, "network": name, "aliases": aliases, "ports": [b.to_dict() for b in binds]}


def _check_ports(binds: list[PortBinding], cid: str | None, pick: bool) -> list[PortBinding]:
    """Refuse host ports taken by another container of ours or by any program;
    with `pick`, replace host_port 0 by a free one. Caller holds the lock."""
    taken = [PortBinding(**p) for r in endpoints() if r["container"] != cid and _alive(r)
             for p in r.get("ports", [])]
    out: list[PortBinding] = []
    for b in binds:
        if b.host_port == 0:
            if pick:
                b = PortBinding(b.proto, b.host_ip, pick_free_port(
                    b.proto, b.host_ip, {t.host_port for t in taken + out if t.proto == b.proto}),
                    b.container_port)
            out.append(b)
            continue
        hint = (f"choose another host port, or stop what uses it "
                f"(ss -{'t' if b.proto == 'tcp' else 'u'}lnp 'sport = :{b.host_port}')")
        for t in taken:
            if overlaps(b, t):
                raise Conflict(f"Bind for {b.host_ip}:{b.host_port}/{b.proto} failed: "
                               "port is already allocated by another container", hint=hint)
        if not host_port_free(b.proto, b.host_ip, b.host_port):
            raise Conflict(f"Bind for {b.host_ip}:{b.host_port}/{b.proto} failed: "
                           "port is already in use on the host", hint=hint)
        out.append(b)
    return out


# --- the bridge and its NAT (once per network) ---------------------------------

def _root_uses_bridge(lib_root: str, bridge: str) -> bool:
    """Does the minidocker with state root `lib_root` have a live container on `bridge`?"""
    d = os.path.join(lib_root, "network", "endpoints")
    for fn in os.listdir(d) if os.path.isdir(d) else []:
        with contextlib.suppress(Exception):
            rec = state.read_json(os.path.join(d, fn))
            if _alive(rec) and any(ep["bridge"] == bridge for ep in rec["networks"].values()):
                return True
    return False


def _claim_bridge(br: str) -> None:
    """One bridge, one state root: two minidockers (two MINIDOCKER_ROOTs, e.g. two
    test sessions) on one bridge would each hand out 10.88.0.2. The owner's root
    is written as the bridge's alias; a live other owner is refused, a gone one
    is taken over."""
    mine, owner = params.lib_root(), netlink.link_alias(br)
    if owner == mine:
        return
    if owner and _root_uses_bridge(owner, br):
        raise Conflict(f"bridge {br} is in use by another minidocker (state root {owner})",
                       hint=f"give this one its own: {params.BRIDGE_ENV}=mdk1 {params.SUBNET_ENV}=10.87.0.0/16 "
                            f"{params.CHAIN_ENV}=MINIDOCKER1")
    netlink.set_alias(br, mine)


def _ensure_infra(net: dict) -> None:
    """Bridge with the gateway address, sysctls, our chains and the network's rules.
    Idempotent and cheap when all is there. Caller holds the lock."""
    br, subnet = net["Bridge"], ipaddress.IPv4Network(net["Subnet"])
    c = chains()
    rules = iptables.network_rules(c, br, str(subnet))
    exists = netlink.link_exists(br)
    if exists:
        _claim_bridge(br)
    if exists and iptables.rule_exists(*rules[0]) and \
            iptables.rule_exists(*rules[-1]) and iptables.rule_exists(*c.jumps()[-1]):
        return                     # all there (one nat and two filter probes: a flush shows)
    if not exists:
        ipam.check_subnet(str(subnet), own_bridge=br)
        netlink.create_bridge(br, f"{net['Gateway']}/{subnet.prefixlen}")
        netlink.set_alias(br, params.lib_root())
    netlink.write_sysctl("net/ipv4/ip_forward", "1")                       # be a router
    netlink.write_sysctl(f"net/ipv4/conf/{br}/route_localnet", "1")         # curl 127.0.0.1:PORT
    if os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"):    # bridged packets see
        netlink.write_sysctl("net/bridge/bridge-nf-call-iptables", "1")    # conntrack (hairpin)
    iptables.install_base(c)
    for rule in rules:
        iptables.ensure_rule(*rule)


def _remove_infra(net: dict) -> None:
    """Undo _ensure_infra for one network (its rules and bridge; not our shared chains)."""
    for rule in iptables.network_rules(chains(), net["Bridge"], net["Subnet"]):
        iptables.delete_rule(*rule)
    netlink.destroy_link(net["Bridge"])


# --- connect / disconnect ------------------------------------------------------

def connect(container, pid: int) -> dict:
    """Wire the container whose PID 1 is `pid` into its network; see the module map.

    On any failure everything made so far is removed again and the error re-raised.
    """
    cid = container.id
    kind, name = parse_mode(_cfg(container, "network"))
    if _load(cid) is not None:       # a record of an earlier run that nobody removed (restart, crash)
        disconnect(cid)
    rec = {"container": cid, "name": container.name, "dir": container.dir, "pid": pid,
           "start": _start_time(pid), "mode": kind if kind != "container" else f"container:{name}",
           "hostname": _cfg(container, "hostname", cid[:12]), "networks": {}, "ports": [],
           "rules": [], "exposed": [f"{p}/{proto}" for p, proto in
                                    exposed_ports(_cfg(container, "exposed_ports"))]}
    try:
        if kind == "bridge":
            binds = bindings(_cfg(container, "ports", []), bool(_cfg(container, "publish_all")),
                             _cfg(container, "exposed_ports"))
            aliases = list(_cfg(container, "network_aliases", []))
            with state.lock(ipam.LOCK):
                net = ipam.get(name)
                rec["ports"] = [b.to_dict() for b in _check_ports(binds, cid, pick=True)]
                _ensure_infra(net)                           # only once the ports are known free
                ep = _plan(rec, net, aliases, "eth0")
                rec["rules"] = _port_rules(rec, ep)
                _save(rec)                                   # write-ahead, see module doc
            _plug(ep, pid, default_route=True)
            for r in rec["rules"]:
                iptables.ensure_rule(*r["rule"])
            with state.lock(ipam.LOCK):
                netfiles.refresh_hosts(endpoints(), {name})
        else:
            if kind == "none":
                netlink.link_up("lo", pid)
            with state.lock(ipam.LOCK):
                _save(rec)
            netfiles.write_files(rec, _lookup(name).dir if kind == "container" else None)
    except BaseException:
        with contextlib.suppress(Exception):
            disconnect(cid)
        raise
    return settings(cid)


def _plan(rec: dict, net: dict, aliases: list[str], ifname: str) -> dict:
    """Lease an address and name the veth for one network; adds it to `rec`. Under the lock."""
    cid = rec["container"]
    ip = ipam.allocate(net, cid, {"name": rec["name"]})
    host = _veth_name(cid, net["Name"])
    ep = {"network": net["Name"], "network_id": net["Id"], "bridge": net["Bridge"],
          "ip": ip, "prefixlen": ipaddress.IPv4Network(net["Subnet"]).prefixlen,
          "gateway": net["Gateway"], "mac": _mac(ip), "host_veth": host, "peer": host + "p",
          "ifname": ifname, "aliases": aliases}
    rec["networks"][net["Name"]] = ep
    return ep


def _port_rules(rec: dict, ep: dict) -> list[dict]:
    out = []
    for p in rec["ports"]:
        b = PortBinding(**p)
        tag = f"minidocker container={rec['container'][:12]} {b.key}"
        for rule in iptables.port_rules(chains(), ep["bridge"], ep["ip"], b.proto, b.host_ip,
                                        b.host_port, b.container_port, tag):
            out.append({"network": ep["network"], "rule": list(rule)})
    return out


def _plug(ep: dict, pid: int, default_route: bool) -> None:
    """The veth steps, in the order a student types them (see each function's shell line)."""
    netlink.destroy_link(ep["host_veth"])    # a leftover of this container's previous run, if any
    netlink.create_veth(ep["host_veth"], ep["peer"])            # ip link add mdvX type veth peer name mdvXp
    netlink.set_master(ep["host_veth"], ep["bridge"])           # ip link set mdvX master mdk0 up
    netlink.set_hairpin(ep["host_veth"])                        # a container may reach its own -p port
    netlink.move_to_netns(ep["peer"], pid)                      # ip link set mdvXp netns PID
    with netlink.inside(pid):                                   # the rest happens in the container
        netlink.rename_link(ep["peer"], ep["ifname"], pid)      # ip link set mdvXp name eth0
        netlink.set_mac(ep["ifname"], ep["mac"], pid)
        netlink.add_address(ep["ifname"], f"{ep['ip']}/{ep['prefixlen']}", pid)
        netlink.link_up(ep["ifname"], pid)
        netlink.link_up("lo", pid)
        if default_route:
            netlink.add_default_route(ep["gateway"], pid)       # ip route add default via 10.88.0.1


def _unplug(ep: dict) -> None:
    """Delete the veth (either end takes the pair; the peer may still be on the host
    if we crashed before moving it). A gone container already took it with its netns."""
    netlink.destroy_link(ep["host_veth"])
    netlink.destroy_link(ep["peer"])


def disconnect(container) -> dict:
    """Remove everything connect()/attach() made for the container. Idempotent.

    `container` is a record with `.id` or the id itself. Returns the record
    that was removed ({} if there was none).
    """
    cid = container if isinstance(container, str) else container.id
    with state.lock(ipam.LOCK):
        rec = _load(cid)
    if rec is None:
        return {}
    for ep in rec["networks"].values():
        _unplug(ep)
    for r in rec["rules"]:
        iptables.delete_rule(*r["rule"])
    with state.lock(ipam.LOCK):
        for name in rec["networks"]:
            ipam.release(name, cid)
        state.rm_f(_ep_path(cid))
        netfiles.refresh_hosts(endpoints(), set(rec["networks"]))
    return rec


def attach(container, network: str, pid: int, aliases: list[str] | None = None) -> dict:
    """`network connect NET CONTAINER`: one more interface (eth1, eth2, ...) on NET."""
    cid = container.id
    with state.lock(ipam.LOCK):
        rec = _load(cid)
        net = ipam.get(network)
        if rec is None or rec["mode"] != "bridge":
            raise StateError(f"container {container.name} is not on a bridge network "
                             f"({rec['mode'] if rec else 'not running or --network none'})",
                             hint="only containers run with --network bridge or a user network can be "
                                  "connected to more networks (docker's rule too)")
        if net["Driver"] != "bridge":
            raise UsageError(f"cannot connect a container to network {net['Name']} ({net['Driver']})",
                             hint="connect to 'bridge' or a user-defined network")
        if net["Name"] in rec["networks"]:
            raise Conflict(f"container {container.name} is already connected to network {net['Name']}",
                           hint=f"disconnect it first: minidocker network disconnect {net['Name']} {container.name}")
        _ensure_infra(net)
        used = {ep["ifname"] for ep in rec["networks"].values()}
        ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
        ep = _plan(rec, net, list(aliases or []), ifname)
        _save(rec)
    try:
        _plug(ep, pid, default_route=not (set(rec["networks"]) - {net["Name"]}))
        with state.lock(ipam.LOCK):
            netfiles.refresh_hosts(endpoints(), {net["Name"]})
    except BaseException:
        with contextlib.suppress(Exception):
            detach(container, net["Name"])
        raise
    return settings(cid)


def detach(container, network: str) -> dict:
    """`network disconnect NET CONTAINER`: remove that one interface, its lease and rules."""
    cid = container if isinstance(container, str) else container.id
    with state.lock(ipam.LOCK):
        rec = _load(cid)
        name = ipam.get(network)["Name"]
        if rec is None or name not in rec["networks"]:
            raise NotFound(f"container {getattr(container, 'name', cid)} is not connected to network {network}",
                           hint="see 'minidocker network inspect " + network + "'")
        ep = rec["networks"].pop(name)
        gone = [r for r in rec["rules"] if r["network"] == name]
        rec["rules"] = [r for r in rec["rules"] if r["network"] != name]
        if gone:
            rec["ports"] = []
        _save(rec)
    _unplug(ep)
    for r in gone:
        iptables.delete_rule(*r["rule"])
    with state.lock(ipam.LOCK):
        ipam.release(name, cid)
        netfiles.refresh_hosts(endpoints(), {name} | set(rec["networks"]))
    return settings(cid)


# --- what docker's inspect and `docker port` show -------------------------------

def settings(cid: str) -> dict:
    """docker's NetworkSettings for the container, from its endpoint record.

    Unlike docker, the top-level IPAddress/Gateway/MacAddress are filled from
    the first network even when it is a user network (docker leaves them
    empty there), because students look there first.
    """
    rec = _load(cid) or {"networks": {}, "ports": [], "exposed": [], "mode": "none", "pid": 0}
    ports: dict = {key: None for key in rec.get("exposed", [])}
    for p in rec["ports"]:
        b = PortBinding(**p)
        ports.setdefault(b.key, None)
        ports[b.key] = (ports[b.key] or []) + [{"HostIp": b.host_ip, "HostPort": str(b.host_port)}]
    nets = {}
    for name, ep in rec["networks"].items():
        nets[name] = {"IPAMConfig": None, "Links": None, "Aliases": ep["aliases"] or None,
                      "MacAddress": ep["mac"], "NetworkID": ep["network_id"],
                      "EndpointID": hashlib.sha256(f"{cid}:{name}".encode()).hexdigest(),
                      "Gateway": ep["gateway"], "IPAddress": ep["ip"], "IPPrefixLen": ep["prefixlen"],
                      "DNSNames": [rec["name"], *ep["aliases"], cid[:12]] if name != "bridge" else None}
    if rec["mode"] in ("host", "none"):
        with contextlib.suppress(NotFound):
            n = ipam.get(rec["mode"])
            nets[rec["mode"]] = {"NetworkID": n["Id"], "Gateway": "", "IPAddress": "",
                                 "IPPrefixLen": 0, "MacAddress": ""}
    first = next(iter(rec["networks"].values()), None)
    return {"Bridge": "", "SandboxKey": f"/proc/{rec['pid']}/ns/net" if rec.get("pid") else "",
            "Ports": ports,
            "Gateway": first["gateway"] if first else "", "IPAddress": first["ip"] if first else "",
            "IPPrefixLen": first["prefixlen"] if first else 0, "MacAddress": first["mac"] if first else "",
            "Networks": nets}


def inspect(name: str) -> dict:
    """docker's `network inspect` document (see runtime/networks.py)."""
    from .networks import inspect as _inspect
    return _inspect(name)


def published(cid: str) -> list[PortBinding]:
    """The container's published ports (what `minidocker port` prints)."""
    rec = _load(cid)
    return [PortBinding(**p) for p in rec["ports"]] if rec else []


# --- prune: leftovers after a crash -------------------------------------------------

def prune(live: set[str] | None = None) -> list[str]:
    """Remove what dead containers left behind; returns one line per thing removed.

    `live` (optional) is the set of ids the runtime knows to be running; an
    endpoint counts as live only if its container is in it *and* its PID 1
    (pid + start time, so a reused pid does not fool us) still exists.

    1. endpoint records whose process is gone (kill -9 of the runtime or the
       container): their veths, rules and leases, via disconnect();
    2. leases without an endpoint record (a crash between lease and record);
    3. veths plugged into one of our bridges that no live endpoint owns;
    4. rules in our chains tagged "container=ID" that no live endpoint owns;
    5. the default bridge (params.bridge_name()) and user networks' bridges
       (mdk-*) whose state root is gone (their alias names that root: see
       _claim_bridge), with their rules, and our chains if no bridge of ours
       is left: what a deleted MINIDOCKER_ROOT leaves in the kernel.
    Only this state root's bridges and chains are looked at, so another
    minidocker (another MINIDOCKER_ROOT) beside us is never touched.
    """
    removed = []
    def alive(r: dict) -> bool:
        return _alive(r) and (live is None or r["container"] in live)

    with state.lock(ipam.LOCK):
        recs = endpoints()
    for r in recs:
        if not alive(r):
            disconnect(r["container"])
            removed.append(f"endpoint of dead container {r['container'][:12]} ({r['name']})")
    with state.lock(ipam.LOCK):
        kept = [r for r in endpoints() if alive(r)]
        live_ids = {r["container"] for r in kept}
        live_veths = {ep[k] for r in kept for ep in r["networks"].values() for k in ("host_veth", "peer")}
        bridges = {n["Bridge"] for n in ipam.all_networks() if n.get("Bridge")}
        for n in ipam.all_networks():
            for ip, who in list(ipam.leases(n["Name"])["leases"].items()):
                if who.get("container") not in live_ids:
                    ipam.release(n["Name"], who["container"])
                    removed.append(f"lease {ip} on {n['Name']}")
        for link in netlink.list_links():
            if link["name"].startswith(params.VETH_PREFIX) and link["master"] in bridges \
                    and link["name"] not in live_veths:
                netlink.destroy_link(link["name"])
                removed.append(f"veth {link['name']}")
        live_tags = {f"container={cid[:12]}" for cid in live_ids}
        c = chains()
        for table, chain in (("nat", c.nat), ("nat", c.post), ("filter", c.ports)):
            for line in iptables.list_rules(table, chain):
                words = shlex.split(line)
                tag = next((w for w in words if w.startswith("minidocker container=")), None)
                if tag and tag.split()[1] not in live_tags:
                    iptables.delete_rule(table, chain, words[2:])
                    removed.append(f"iptables -t {table} {line}")
        removed += _prune_orphan_bridges()
    return removed


def _prune_orphan_bridges() -> list[str]:
    """Step 5 of prune(). Caller holds the lock.

    Every bridge we make carries its state root as its alias (`ip link set BR
    alias ROOT`): the default one and each user network's mdk-*. A bridge whose
    root directory no longer exists lost its owner (rm -rf of a MINIDOCKER_ROOT):
    its rules and the bridge go (`iptables -D ...; ip link del BR`). A user
    network's subnet is read back from the bridge's own address (`ip -4 addr`),
    since the record that held it is gone with the root."""
    default = params.bridge_name()
    gateways = dict(netlink.addresses())        # bridge name -> its 'A.B.C.D/N'
    removed = []
    for link in netlink.list_links():
        br = link["name"]
        if br != default and not br.startswith(params.USER_BRIDGE_PREFIX):
            continue
        owner = netlink.link_alias(br)
        if not owner or owner == params.lib_root() or os.path.isdir(owner):
            continue               # not ours to judge, ours, or its state root still exists
        if br == default:
            subnet = params.bridge_subnet()
        elif br in gateways:
            subnet = str(ipaddress.IPv4Interface(gateways[br]).network)
        else:
            subnet = ""            # no address: no rules were made for it either
        if subnet:
            _remove_infra({"Bridge": br, "Subnet": subnet})
        else:
            netlink.destroy_link(br)
        removed.append(f"bridge {br} of the deleted state root {owner}")
    if removed and not any(ln["name"] == default or ln["name"].startswith(params.USER_BRIDGE_PREFIX)
                           for ln in netlink.list_links()):
        iptables.remove_base(chains())
        removed.append(f"iptables chains {chains().nat}*")
    return removed
