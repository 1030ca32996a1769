"""Pictures and walk-throughs for the networking lesson (seed chapter 2).

Map of this file:
  topology()              what is wired now: bridges, veth pairs, containers, published ports
  plot_topology(topo)     matplotlib Figure of it: host, bridge(s), veths, containers with IPs, -p arrows
  packet_path(port, ...)  the path of `curl localhost:PORT` (or from outside / another container)
                          step by step: which hook, which chain, which rule, which interface,
                          and what the packet's addresses are after each step
  format_path(steps)      the same as a table of text (print it in a notebook)

Everything is read from the state root and the kernel (`ip`, `iptables -S`);
nothing here changes anything.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .. import params

__all__ = ["topology", "plot_topology", "packet_path", "format_path", "Step"]

_HOST = "#f2f2f2"
_BR = "#1f77b4"
_VETH = "#2ca02c"
_CTR = "#fff5e6"
_NAT = "#d62728"


# --- what is there -----------------------------------------------------------

def topology() -> dict:
    """The current wiring of this state root, as plain data:

    {"host": [(ifname, cidr)], "networks": [{"name", "bridge", "subnet", "gateway", "up"}],
     "containers": [{"id", "name", "networks": {net: {"ip", "ifname", "host_veth", "mac"}},
                     "ports": [PortBinding dicts]}]}
    """
    from ..kernel import netlink
    from ..runtime import ipam, network
    from .. import state
    with state.lock(ipam.LOCK):
        nets = [n for n in ipam.all_networks() if n.get("Bridge")]
        recs = network.endpoints()
    links = {ln["name"] for ln in netlink.list_links()}
    bridges = {n["Bridge"] for n in nets}
    host = [(name, cidr) for name, cidr in netlink.addresses()
            if name not in bridges and not name.startswith(params.VETH_PREFIX)]
    return {
        "host": host,
        "networks": [{"name": n["Name"], "bridge": n["Bridge"], "subnet": n["Subnet"],
                      "gateway": n["Gateway"], "up": n["Bridge"] in links} for n in nets],
        "containers": [{"id": r["container"], "name": r["name"], "ports": r.get("ports", []),
                        "networks": {k: {f: ep[f] for f in ("ip", "ifname", "host_veth", "mac")}
                                     for k, ep in r["networks"].items()}}
                       for r in recs if r["networks"]],
    }


# --- the picture ---------------------------------------------------------------

def _box(ax, x, y, w, h, fc, ec="0.3", lw=1.2, ls="-", z=1):
    from matplotlib.patches import FancyBboxPatch
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.15",
                                fc=fc, ec=ec, lw=lw, ls=ls, zorder=z))


def plot_topology(topo: dict | None = None, ax=None, title: str | None = None):
    """Draw host, bridges, veth pairs and containers (with IPs) and the published ports.

    Layout, top to bottom: the host's own interfaces and the NAT table (one
    line per -p), each bridge as a bar with its gateway address, and under it
    the containers, each in a dashed box (its network namespace) joined to
    the bridge by its veth pair. Red arrows: host port -> container port.
    """
    import matplotlib.pyplot as plt
    topo = topology() if topo is None else topo
    ctrs = topo["containers"]
    nets = [n for n in topo["networks"] if n["up"] or any(n["name"] in c["networks"] for c in ctrs)]
    order = {n["name"]: i for i, n in enumerate(nets)}
    # containers left to right, grouped by their first network; bridges one above the other
    ctrs = sorted(ctrs, key=lambda c: (min(order.get(k, 99) for k in c["networks"]), c["name"]))
    slots = {c["id"]: 0.5 + 3.3 * i for i, c in enumerate(ctrs)}
    width = max(0.5 + 3.3 * len(ctrs) + 0.3, 10.0)
    bar_y = {n["name"]: 6.1 - 0.75 * i for i, n in enumerate(nets)}
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(max(9, width * 1.05), 22), 7.6), layout="constrained")
    fig = ax.figure
    top = 10.4

    # the host (root network namespace)
    _box(ax, 0.1, 0.1, width - 0.2, top - 0.3, _HOST, ec="0.5", lw=1.5, z=0)
    ax.text(0.35, top - 0.45, "host: root network namespace", fontsize=11, weight="bold", va="top")
    ifs = "   ".join(f"{n} {c}" for n, c in topo["host"]) or "(no addresses)"
    ax.text(0.35, top - 0.95, ifs, fontsize=8.5, family="monospace", va="top")
    # the NAT table: one line per published port
    rules = [(c, p) for c in ctrs for p in c["ports"]]
    nat_y = 7.45
    _box(ax, 0.35, nat_y, width - 0.9, 1.45, "white", ec=_NAT)
    ax.text(0.5, nat_y + 1.3, f"iptables -t nat  ({params.iptables_chain()} chain: DNAT)  +  "
            "MASQUERADE for traffic leaving the bridge", fontsize=8.5, color=_NAT, va="top")
    for i, (c, p) in enumerate(rules[:4]):
        ip = next(iter(c["networks"].values()))["ip"]
        ax.text(0.6, nat_y + 0.95 - 0.25 * i, f"{p['host_ip']}:{p['host_port']}/{p['proto']}  ->  "
                f"{ip}:{p['container_port']}   ({c['name']})", fontsize=8.5, family="monospace", va="top")
    if len(rules) > 4:
        ax.text(0.6, nat_y + 0.95 - 0.25 * 4, f"... and {len(rules) - 4} more", fontsize=8, va="top")
    if not rules:
        ax.text(0.6, nat_y + 0.95, "(no published ports)", fontsize=8.5, color="0.4", va="top")

    for n in nets:
        # the bridge: an L2 switch with the gateway address, spanning its members
        xs = [slots[c["id"]] for c in ctrs if n["name"] in c["networks"]]
        x0, x1 = (min(xs), max(xs) + 2.8) if xs else (0.5, 3.3)
        y = bar_y[n["name"]]
        ax.add_patch(plt.Rectangle((x0, y), max(x1 - x0, 3.6), 0.42, fc=_BR, ec="none", zorder=2))
        net = ipaddress.IPv4Network(n["subnet"])
        ax.text(x0 + 0.1, y + 0.21, f"{n['bridge']}  {n['gateway']}/{net.prefixlen}  (network {n['name']})",
                color="white", fontsize=8.5, weight="bold", va="center", zorder=6,
                bbox=dict(boxstyle="square,pad=0.1", fc=_BR, ec="none"))
    for c in ctrs:
        cx = slots[c["id"]]
        for k, (name, ep) in enumerate(sorted(c["networks"].items(), key=lambda kv: kv[1]["ifname"])):
            # the veth pair: host end (a port of the bridge) ... container end (eth0, eth1, ...)
            vx, y = cx + 0.7 + 0.9 * k, bar_y[name]
            ax.plot([vx, vx], [y, 3.05], color=_VETH, lw=3, zorder=4, solid_capstyle="round")
            ax.plot([vx], [y + 0.05], marker="o", color=_VETH, ms=6, zorder=5)
            ax.text(vx + 0.08, y - 0.3, ep["host_veth"], fontsize=7, color=_VETH, family="monospace",
                    zorder=5)
            ax.text(vx + 0.08, 3.25, ep["ifname"], fontsize=7.5, color=_VETH, zorder=5)
        _box(ax, cx, 0.5, 2.8, 2.5, _CTR, ls="--", z=2)
        ax.text(cx + 0.12, 2.8, c["name"], fontsize=9.5, weight="bold", va="top", zorder=3)
        ax.text(cx + 0.12, 2.45, f"netns of {c['id'][:12]}", fontsize=7, color="0.4", va="top", zorder=3)
        for i, (name, ep) in enumerate(sorted(c["networks"].items(), key=lambda kv: kv[1]["ifname"])):
            ax.text(cx + 0.12, 2.05 - 0.6 * i, f"{ep['ifname']} {ep['ip']}\n{ep['mac']}", fontsize=7.5,
                    family="monospace", va="top", zorder=3)
        for j, p in enumerate(c["ports"][:3]):
            ax.annotate("", xy=(cx + 2.5, 3.0), xytext=(cx + 2.5 - 0.2 * j, nat_y),
                        arrowprops=dict(arrowstyle="->", color=_NAT, lw=1.3, ls="--"), zorder=6)
            ax.text(cx + 2.55, 4.3 - 0.3 * j, f":{p['host_port']}->{p['container_port']}/{p['proto']}",
                    fontsize=7.5, color=_NAT, zorder=6)
    if not ctrs:
        ax.text(width / 2, 2, "no containers on a network", ha="center", color="0.4")
    ax.set_xlim(0, width)
    ax.set_ylim(0, top + 0.2)
    ax.axis("off")
    ax.set_title(title or "minidocker network topology")
    return fig


# --- the path of one packet -----------------------------------------------------

@dataclass(frozen=True)
class Step:
    where: str        # "host netns", "bridge mdk0", "container web"
    hook: str         # netfilter hook or stage: "nat OUTPUT", "routing", "veth" ...
    what: str         # what happens, in words
    rule: str         # the rule or command that does it ("" if none)
    packet: str       # the packet after this step: "SRC -> DST"


def _our_rule(table: str, chain: str, needle: str, fallback: str) -> str:
    from ..kernel import iptables
    for line in iptables.list_rules(table, chain):
        if needle in line:
            return line
    return fallback


def packet_path(host_port: int = 8080, proto: str = "tcp", source: str = "localhost",
                topo: dict | None = None) -> list[Step]:
    """Walk one new connection to a published port, hook by hook.

    source: "localhost" (`curl localhost:PORT` on the host), "outside" (another
    machine to the host's address) or "container" (another container to the
    gateway address: hairpin). The rules quoted are the ones `iptables -S`
    shows now when the port is published, else the ones we would add.
    """
    topo = topology() if topo is None else topo
    hit = next(((c, p) for c in topo["containers"] for p in c["ports"]
                if int(p["host_port"]) == int(host_port) and p["proto"] == proto), None)
    if hit is None:
        raise LookupError(f"no container publishes {host_port}/{proto}; run one with -p {host_port}:PORT")
    c, p = hit
    netname, ep = next(iter(c["networks"].items()))
    net = next(n for n in topo["networks"] if n["name"] == netname)
    br, gw, cip, cport = net["bridge"], net["gateway"], ep["ip"], p["container_port"]
    ch = params.iptables_chain()
    dnat = _our_rule("nat", ch, f"--dport {host_port} ",
                     f"-A {ch} -p {proto} --dport {host_port} -j DNAT --to-destination {cip}:{cport}")
    jump = f"-A {{}} -m addrtype --dst-type LOCAL -j {ch}"
    if source == "localhost":
        src, dst = "127.0.0.1:54321", f"127.0.0.1:{host_port}"
        steps = [Step("host netns", "socket", f"curl connects to localhost:{host_port}",
                      f"curl http://localhost:{host_port}/", f"{src} -> {dst}"),
                 Step("host netns", "nat OUTPUT", "locally generated packet to a local address: jump",
                      jump.format("OUTPUT"), f"{src} -> {dst}")]
        masq = _our_rule("nat", ch + "-POSTROUTING", f"-o {br} -m addrtype --src-type LOCAL",
                         f"-A {ch}-POSTROUTING -o {br} -m addrtype --src-type LOCAL -j MASQUERADE")
        new_src = f"{gw}:54321"
        pre = []
    else:
        if source == "outside":
            src, dst, came = "192.0.2.77:54321", f"HOST_IP:{host_port}", "eth0 (from the LAN)"
        else:
            others = [o for o in topo["containers"] if o["id"] != c["id"] and netname in o["networks"]]
            oip = others[0]["networks"][netname]["ip"] if others else "10.x.x.x"
            src, dst, came = f"{oip}:54321", f"{gw}:{host_port}", f"{br} (from the client container's veth)"
        steps = [Step("host netns", "in", f"packet arrives on {came}", "", f"{src} -> {dst}"),
                 Step("host netns", "nat PREROUTING", "to a local address: jump", jump.format("PREROUTING"),
                      f"{src} -> {dst}")]
        masq, new_src = "", src
        pre = [Step("host netns", "filter FORWARD", "forwarded (not for the host): our FORWARD chain; "
                    + ("isolation does not match; the published-port rule accepts it" if source == "outside"
                       else "bridge to the same bridge: accepted"),
                    _our_rule("filter", ch, f"{cip}/32", f"-A {ch} -d {cip}/32 ! -i {br} -o {br} -p {proto} "
                              f"-m {proto} --dport {cport} -j ACCEPT") if source == "outside"
                    else f"-A {ch}-FORWARD -i {br} -o {br} -j ACCEPT", f"{src} -> {cip}:{cport}")]
    steps += [
        Step("host netns", f"nat {ch}", "DNAT: the destination becomes the container's address and port",
             dnat, f"{src} -> {cip}:{cport}"),
        Step("host netns", "routing", f"{cip} is in {net['subnet']}: out of {br}"
             + (" (route_localnet=1 lets a 127.0.0.1 source leave)" if source == "localhost" else ""),
             f"ip route get {cip}  # dev {br}", f"{src} -> {cip}:{cport}"),
        *pre,
    ]
    if masq:
        steps.append(Step("host netns", "nat POSTROUTING", "a host-local source is rewritten to the "
                          "bridge address, so the container can answer it", masq, f"{new_src} -> {cip}:{cport}"))
    steps += [
        Step(f"bridge {br}", "L2", f"the bridge looks up {cip}'s MAC ({ep['mac']}) and sends the "
             f"frame out of port {ep['host_veth']}", f"bridge fdb show br {br}", f"{new_src} -> {cip}:{cport}"),
        Step(f"container {c['name']}", "veth", f"the frame comes out of the other end of the pair: "
             f"{ep['ifname']} in the container's netns", f"ip link show {ep['host_veth']}",
             f"{new_src} -> {cip}:{cport}"),
        Step(f"container {c['name']}", "socket", f"the server listening on :{cport} accepts; its reply "
             + ("goes straight over the bridge to the client, and conntrack (bridge-nf-call-iptables=1 "
                "makes bridged frames pass netfilter) rewrites its source back to the gateway:port"
                if source == "container" else "goes back the same way and conntrack undoes the rewrites"),
             "conntrack -L  # shows the original and the NATed tuple", f"{cip}:{cport} -> {new_src}"),
    ]
    return steps


def format_path(steps: list[Step]) -> str:
    """The steps as numbered text, one block per step (for print() in a notebook)."""
    out = []
    for i, s in enumerate(steps, 1):
        out.append(f"{i:>2}. [{s.where} | {s.hook}] {s.what}\n      packet: {s.packet}"
                   + (f"\n      rule:   {s.rule}" if s.rule else ""))
    return "\n".join(out)
