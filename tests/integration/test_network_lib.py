"""runtime/network.py against the real kernel, with sandboxes standing in for containers;
then kernel/netlink.py and kernel/rtnl.py on their own, with `ip -j` as the witness.

Each runtime test has its own bridge, subnet and iptables chains (see netkit.netenv),
and checks at the end that none of them is left; the netlink tests use links
named mdnlXXX* (removed by the nl_names fixture) and throwaway namespaces.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from minidocker import params
from minidocker.errors import Conflict, KernelError, NotFound, UsageError
from minidocker.kernel import iptables, netlink, rtnl
from minidocker.runtime import ipam, network, networks
from minidocker.trace import trace
from tests.integration.netkit import (PY, TCP_WHO, UDP_ECHO, free_port, host_address, http_get,  # noqa: F401
                                      Sandbox, ip_json, netenv, ping, start_httpd, udp_ask)

pytestmark = pytest.mark.usefixtures("root_only")


def test_two_containers_ping_by_ip_on_the_bridge(netenv):
    a, b = netenv.box("a"), netenv.box("b")
    sa, sb = network.connect(a, a.pid), network.connect(b, b.pid)
    assert sa["IPAddress"] != sb["IPAddress"]
    assert sa["Gateway"] == netenv.gateway and sa["Networks"]["bridge"]["IPPrefixLen"] == 24
    # what the container sees: eth0 with its address and MAC, a default route via the bridge
    assert ("eth0", f"{sa['IPAddress']}/24") in netlink.addresses(a.pid)
    assert netlink.link_mac("eth0", a.pid) == sa["MacAddress"]
    assert {"dst": "default", "gateway": netenv.gateway, "dev": "eth0"} in netlink.routes(a.pid)
    assert ping(a, sb["IPAddress"]) and ping(b, sa["IPAddress"])
    assert ping(a, netenv.gateway)
    # and the host end is a port of our bridge, with hairpin on
    veth = network._load(a.id)["networks"]["bridge"]["host_veth"]
    assert {ln["name"]: ln["master"] for ln in netlink.list_links()}[veth] == netenv.bridge
    with open(f"/sys/class/net/{veth}/brport/hairpin_mode") as f:
        assert f.read().strip() == "1"
    network.disconnect(b)
    assert not ping(a, sb["IPAddress"])


def test_user_network_names_aliases_and_isolation(netenv):
    third = netenv.third
    networks.create_network("n5front", f"10.207.{third}.0/24", bridge=f"mdt5{netenv.tag}f")
    networks.create_network("n5back", f"10.208.{third}.0/24", bridge=f"mdt5{netenv.tag}b")
    web = netenv.box("web", network="n5front", network_aliases=("www",))
    cli = netenv.box("cli", network="n5front")
    other = netenv.box("other", network="n5back")
    sw = network.connect(web, web.pid)
    network.connect(cli, cli.pid)
    so = network.connect(other, other.pid)
    assert sw["Networks"]["n5front"]["Aliases"] == ["www"]
    assert ping(cli, "web") and ping(cli, "www") and ping(cli, web.id[:12])
    assert ping(web, "cli")                                  # written into web's hosts on cli's connect
    assert "web" in cli.run("cat", "/etc/hosts").stdout      # through the bind mount: same inode
    # another network: neither the name nor the address is reachable
    assert not ping(other, "web")
    assert not ping(other, sw["IPAddress"])
    assert not ping(cli, so["IPAddress"])
    # disconnect removes the name from the peers' files
    network.disconnect(web)
    assert "web" not in cli.run("cat", "/etc/hosts").stdout.split()
    with pytest.raises(Conflict):
        networks.remove_network("n5front")                   # cli is still on it
    network.disconnect(cli)
    network.disconnect(other)
    networks.remove_network("n5front")
    assert not netlink.link_exists(f"mdt5{netenv.tag}f")
    assert not [ln for ln in iptables.save().splitlines() if f"mdt5{netenv.tag}f" in ln]


def test_published_port_from_everywhere(netenv):
    port = free_port()
    web = netenv.box("web", ports=(f"{port}:80",))
    s = network.connect(web, web.pid)
    assert s["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    start_httpd(web, 80, "hello from n5")
    client = netenv.box("client")
    network.connect(client, client.pid)
    outside, host_side, _ = netenv.outside()
    targets = {"host 127.0.0.1": ("127.0.0.1", None), "host bridge address": (netenv.gateway, None),
               "second container (hairpin)": (netenv.gateway, client),
               "the container itself (hairpin)": (netenv.gateway, web),
               "outside host": (host_side, outside)}
    if host_address():
        targets["host eth0 address"] = (host_address(), None)
        targets["second container via eth0 address"] = (host_address(), client)
    answers = {what: http_get(f"http://{ip}:{port}/", box) for what, (ip, box) in targets.items()}
    assert answers == {what: "hello from n5\n" for what in targets}
    # a port that is not published is not reachable from outside, even knowing the address
    assert http_get(f"http://{s['IPAddress']}:81/", outside, timeout=2) == ""


def test_published_port_on_one_host_ip_only(netenv):
    port = free_port()
    web = netenv.box("web", ports=(f"127.0.0.1:{port}:80",))
    network.connect(web, web.pid)
    start_httpd(web, 80, "only loopback")
    assert http_get(f"http://127.0.0.1:{port}/") == "only loopback\n"
    assert http_get(f"http://{netenv.gateway}:{port}/", timeout=2) == ""


def test_udp_publishing(netenv):
    port = free_port()
    dns = netenv.box("dns", ports=(f"{port}:5353/udp",))
    s = network.connect(dns, dns.pid)
    assert list(s["Ports"]) == ["5353/udp"]
    srv = dns.popen(PY, "-c", UDP_ECHO, "5353", stdout=subprocess.PIPE, text=True)
    netenv.procs.append(srv)
    assert srv.stdout.readline().strip() == "ready"
    assert udp_ask("127.0.0.1", port).startswith("echo:ping from ")
    outside, host_side, out_ip = netenv.outside()
    # from the outside host the server sees the real client (DNAT rewrites only the destination)
    assert udp_ask(host_side, port, outside) == f"echo:ping from {out_ip}"
    # tcp on the same number is not published
    assert http_get(f"http://127.0.0.1:{port}/", timeout=1) == ""


def test_publish_all_picks_free_ports_that_port_reports(netenv):
    box = netenv.box("exposer", publish_all=True, exposed_ports=("80/tcp", "8080/tcp", "53/udp"))
    s = network.connect(box, box.pid)
    got = network.published(box.id)
    assert sorted(b.key for b in got) == ["53/udp", "80/tcp", "8080/tcp"]
    lo, hi = params.PORT_RANGE
    assert all(lo <= b.host_port <= hi for b in got)
    assert len({b.host_port for b in got}) == 3
    assert {b.key: [{"HostIp": "0.0.0.0", "HostPort": str(b.host_port)}] for b in got} == s["Ports"]
    start_httpd(box, 8080, "published by -P")
    p8080 = next(b.host_port for b in got if b.key == "8080/tcp")
    assert http_get(f"http://127.0.0.1:{p8080}/") == "published by -P\n"


def test_host_port_in_use_is_refused_before_anything_is_created(netenv):
    import socket
    port = free_port()
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))
        s.listen()
        box = netenv.box("late", ports=(f"{port}:80",))
        with pytest.raises(Conflict) as e:
            network.validate(box.config)
        assert f"0.0.0.0:{port}" in str(e.value) and "ss -tlnp" in e.value.hint
        links_before = {ln["name"] for ln in netlink.list_links()}
        with pytest.raises(Conflict):
            network.connect(box, box.pid)
        assert {ln["name"] for ln in netlink.list_links()} <= links_before
        assert network.endpoints() == []
        assert ipam.leases("bridge")["leases"] == {}
    # a port held by another of our containers (DNAT only, invisible to bind) is refused too
    first = netenv.box("first", ports=(f"{port}:80",))
    network.connect(first, first.pid)
    second = netenv.box("second", ports=(f"{port}:81",))
    with pytest.raises(Conflict) as e:
        network.validate(second.config)
    assert "another container" in str(e.value)


def test_validate_errors(netenv):
    box = netenv.box("v")
    for cfg, err in [(dict(network="n5-missing"), NotFound), (dict(ports=("99999:80",)), UsageError),
                     (dict(network_aliases=("x",)), UsageError),
                     (dict(network="container:x", ports=("80",)), UsageError)]:
        box.config = type(box.config)(**cfg)
        with pytest.raises(err) as e:
            network.validate(box.config)
        assert e.value.hint


def test_outbound_masquerade_server_sees_the_host(netenv):
    outside, host_side, out_ip = netenv.outside()
    srv = outside.popen(PY, "-c", TCP_WHO, "9099", stdout=subprocess.PIPE, text=True)
    netenv.procs.append(srv)
    assert srv.stdout.readline().strip() == "ready"
    box = netenv.box("leaver")
    s = network.connect(box, box.pid)
    reply = box.run("busybox", "nc", "-w", "3", out_ip, "9099").stdout
    assert reply.strip() == f"you are {host_side}"
    assert srv.stdout.readline().strip() == host_side != s["IPAddress"]


def test_explain_shows_ip_and_iptables_commands(netenv):
    box = netenv.box("traced", ports=(f"{free_port()}:80",))
    with trace() as t:
        network.connect(box, box.pid)
    shell = "\n".join(t.shell())
    assert f"ip link add {netenv.bridge} type bridge" in shell
    assert "type veth peer name" in shell and "ip link set mdv" in shell
    assert f"nsenter -t {box.pid} -n ip route add default via {netenv.gateway}" in shell
    assert f"iptables -t nat -A {netenv.chain} -p tcp -m tcp --dport" in shell
    assert "sysctl -w net.ipv4.ip_forward=1" in shell or netlink.read_sysctl("net/ipv4/ip_forward") == "1"


def test_attach_and_detach_a_second_network(netenv):
    networks.create_network("n5extra", f"10.209.{netenv.third}.0/24", bridge=f"mdt5{netenv.tag}x")
    box = netenv.box("multi")
    network.connect(box, box.pid)
    s = network.attach(box, "n5extra", box.pid, ["m2"])
    assert set(s["Networks"]) == {"bridge", "n5extra"}
    assert ("eth1", f"{s['Networks']['n5extra']['IPAddress']}/24") in netlink.addresses(box.pid)
    assert [r["dev"] for r in netlink.routes(box.pid) if r["dst"] == "default"] == ["eth0"]
    with pytest.raises(Conflict):
        network.attach(box, "n5extra", box.pid)
    s = network.detach(box, "n5extra")
    assert set(s["Networks"]) == {"bridge"}
    assert "eth1" not in [ln["name"] for ln in netlink.list_links(box.pid)]
    assert ipam.leases("n5extra")["leases"] == {}


def _snapshot(env) -> dict:
    """What must be the same before and after: our links, rules, routes, leases."""
    links = sorted(f"{ln['name']} {ln['kind']} {ln['master']}" for ln in netlink.list_links()
                   if ln["master"] == env.bridge or ln["name"].startswith(f"mdt5{env.tag}"))
    rules = sorted(ln for ln in iptables.save().splitlines()
                   if (env.chain in ln or env.bridge in ln) and not ln.startswith("#"))
    routes = sorted(str(r) for r in netlink.routes() if r["dev"] == env.bridge)
    return {"links": links, "rules": rules, "routes": routes,
            "leases": ipam.leases("bridge")["leases"], "endpoints": network.endpoints()}


_CONNECT = """
import json, sys
from tests.integration.netkit import Box, Config
from minidocker.runtime import network
d = json.loads(sys.argv[1])
box = Box(d["id"], d["name"], d["dir"], Config(**d["config"]))
print(json.dumps(network.connect(box, d["pid"])))
"""


def test_twenty_parallel_connects_get_distinct_addresses_and_leave_nothing(netenv):
    warm = netenv.box("warm")                      # bridge + chains exist from here on
    network.connect(warm, warm.pid)
    network.disconnect(warm)
    before = _snapshot(netenv)
    assert before["leases"] == {} and before["endpoints"] == []
    boxes = [netenv.box(f"p{i}", ports=(f"{free_port()}:80",) if i % 4 == 0 else ()) for i in range(20)]
    children = [subprocess.Popen(
        [sys.executable, "-c", _CONNECT, json.dumps({"id": b.id, "name": b.name, "dir": b.dir, "pid": b.pid,
                                                      "config": b.config.__dict__})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        for b in boxes]
    results = []
    for c in children:
        out, err = c.communicate(timeout=120)
        assert c.returncode == 0, err
        results.append(json.loads(out))
    ips = [r["IPAddress"] for r in results]
    assert len(set(ips)) == 20
    assert len(ipam.leases("bridge")["leases"]) == 20
    assert ping(boxes[0], ips[19]) and ping(boxes[19], ips[0])
    assert len([ln for ln in iptables.save().splitlines() if "DNAT" in ln and netenv.chain in ln]) == 5
    for b in boxes:
        network.disconnect(b)
        network.disconnect(b)                      # idempotent
    assert _snapshot(netenv) == before


_CRASH = """
import json, os, sys
from tests.integration.netkit import Box, Config
from minidocker.kernel import netlink
from minidocker.runtime import network
d = json.loads(sys.argv[1])
box = Box(d["id"], d["name"], d["dir"], Config(**d["config"]))
def die(*a, **k):      # the runtime is killed -9 right after the veth exists, before eth0 is set up
    os._exit(137)
netlink.set_hairpin = die
network.connect(box, d["pid"])
"""


def test_prune_after_a_crash_mid_connect_and_after_a_dead_container(netenv):
    warm = netenv.box("warm")
    network.connect(warm, warm.pid)
    network.disconnect(warm)
    before = _snapshot(netenv)
    crash = netenv.box("crash", ports=(f"{free_port()}:80",))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-c", _CRASH, json.dumps(
        {"id": crash.id, "name": crash.name, "dir": crash.dir, "pid": crash.pid,
         "config": crash.config.__dict__})], env=os.environ.copy(), cwd=root, capture_output=True, text=True)
    assert p.returncode == 137, p.stderr
    dead = netenv.box("dead", ports=(f"{free_port()}:80",))
    network.connect(dead, dead.pid)
    alive = netenv.box("alive")
    sa = network.connect(alive, alive.pid)
    dead.proc.kill()
    dead.proc.wait()
    crash.proc.kill()
    crash.proc.wait()
    assert _snapshot(netenv) != before            # the crash left a veth, leases, rules
    removed = network.prune()
    assert any("dead" in r for r in removed) and any("crash" in r for r in removed)
    after = _snapshot(netenv)
    assert list(after["leases"]) == [sa["IPAddress"]]
    network.disconnect(alive)
    assert _snapshot(netenv) == before
    assert network.prune() == []


def test_a_second_state_root_cannot_share_a_busy_bridge(netenv, tmp_path, monkeypatch):
    a = netenv.box("rootA")
    network.connect(a, a.pid)
    assert netlink.link_alias(netenv.bridge) == params.lib_root()
    root_a = os.environ["MINIDOCKER_ROOT"]
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path / "rootB"))
    b = netenv.box("rootB")
    with pytest.raises(Conflict) as e:
        network.connect(b, b.pid)
    assert params.BRIDGE_ENV in e.value.hint
    assert network.endpoints() == [] and ipam.leases("bridge")["leases"] == {}
    monkeypatch.setenv("MINIDOCKER_ROOT", root_a)
    network.disconnect(a)
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path / "rootB"))
    s = network.connect(b, b.pid)                     # the old owner has nobody on it: taken over
    assert netlink.link_alias(netenv.bridge) == params.lib_root() and s["IPAddress"]
    network.disconnect(b)
    networks.teardown()                               # root B's bridge and chains
    monkeypatch.setenv("MINIDOCKER_ROOT", root_a)     # the fixture checks root A's are gone too


# --- kernel/netlink.py and kernel/rtnl.py themselves, with `ip -j` as the witness ------------


@pytest.fixture
def nl_names():
    """Unique link names (mdnl + 3 hex), a private /24, and removal of the host-side links."""
    import secrets
    tag, third = secrets.token_hex(2)[:3], 100 + secrets.randbelow(100)
    names = {"br": f"mdnl{tag}b", "host": f"mdnl{tag}h", "peer": f"mdnl{tag}p",
             "subnet": f"10.219.{third}", "tag": tag}
    try:
        yield names
    finally:
        for n in ("host", "peer", "br"):
            netlink.destroy_link(names[n])
        assert not [ln["name"] for ln in netlink.list_links() if ln["name"].startswith(f"mdnl{tag}")]


def _flags(name: str, pid: int | None = None) -> list[str]:
    return ip_json("link", "show", "dev", name, pid=pid)[0]["flags"]


def test_netlink_does_what_ip_then_sees(nl_names):
    br, host, peer, net = nl_names["br"], nl_names["host"], nl_names["peer"], nl_names["subnet"]
    with Sandbox() as box:
        netlink.create_bridge(br, f"{net}.1/24")
        netlink.create_bridge(br, f"{net}.1/24")                     # idempotent: EEXIST is fine
        [b] = ip_json("-d", "link", "show", "dev", br)
        assert b["linkinfo"]["info_kind"] == "bridge" and "UP" in b["flags"]
        assert [(a["local"], a["prefixlen"]) for a in ip_json("-4", "addr", "show", "dev", br)[0]["addr_info"]] \
            == [(f"{net}.1", 24)]
        netlink.set_alias(br, "mdnl owner test")
        assert netlink.link_alias(br) == ip_json("link", "show", "dev", br)[0]["ifalias"] == "mdnl owner test"
        assert netlink.link_alias(host) is None

        netlink.create_veth(host, peer)
        [h] = ip_json("-d", "link", "show", "dev", host)
        assert h["linkinfo"]["info_kind"] == "veth" and h["link"] == peer
        netlink.set_master(host, br)
        assert ip_json("link", "show", "dev", host)[0]["master"] == br and "UP" in _flags(host)
        mine = {ln["name"]: ln for ln in netlink.list_links()}
        assert mine[host] == {"name": host, "index": h["ifindex"], "kind": "veth", "master": br,
                              "mac": h["address"], "up": True}
        assert mine[br]["kind"] == "bridge" and netlink.link_index(br) == b["ifindex"]

        netlink.move_to_netns(peer, box.pid)
        assert not netlink.link_exists(peer) and netlink.link_exists(peer, box.pid)
        with netlink.inside(box.pid):                                # one socket for the whole block
            netlink.rename_link(peer, "eth0", box.pid)
            netlink.set_mac("eth0", "02:42:0a:db:00:02", box.pid)
            netlink.add_address("eth0", f"{net}.2/24", box.pid)
            netlink.link_up("eth0", box.pid)
            netlink.link_up("lo", box.pid)
            netlink.add_default_route(f"{net}.1", box.pid)
            netlink.add_default_route(f"{net}.1", box.pid)          # idempotent: EEXIST is fine
        [e] = ip_json("-4", "addr", "show", "dev", "eth0", pid=box.pid)
        assert ip_json("link", "show", "dev", "eth0", pid=box.pid)[0]["address"] \
            == netlink.link_mac("eth0", box.pid) == "02:42:0a:db:00:02"
        assert [(a["local"], a["prefixlen"]) for a in e["addr_info"]] == [(f"{net}.2", 24)]
        assert sorted(netlink.addresses(box.pid)) == [("eth0", f"{net}.2/24"), ("lo", "127.0.0.1/8")]
        theirs = [{"dst": r["dst"] if "/" in r["dst"] or r["dst"] == "default" else r["dst"] + "/32",
                   "gateway": r.get("gateway"), "dev": r["dev"]} for r in ip_json("-4", "route", pid=box.pid)]
        assert netlink.routes(box.pid) == theirs
        assert {"dst": "default", "gateway": f"{net}.1", "dev": "eth0"} in theirs
        # real packets: the sandbox reaches the bridge's address through the veth
        ping = subprocess.run(["nsenter", "-t", str(box.pid), "-n", "busybox", "ping", "-c", "1", "-W", "2",
                               f"{net}.1"], capture_output=True, text=True, timeout=10)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        netlink.link_down("eth0", box.pid)
        assert "UP" not in _flags("eth0", box.pid)

        assert netlink.destroy_link(host) is True                     # takes both ends of the cable
        assert not netlink.link_exists("eth0", box.pid)
        assert netlink.destroy_link(host) is False


def test_veth_peer_born_inside_the_container_needs_no_move(nl_names):
    host, peer = nl_names["host"], nl_names["peer"]
    with Sandbox() as box:
        with trace() as t:
            netlink.create_veth(host, peer, peer_pid=box.pid)
        assert t.shell() == [f"ip link add {host} type veth peer name {peer} netns {box.pid}"]
        assert netlink.link_exists(peer, box.pid) and not netlink.link_exists(peer)
        [h] = ip_json("-d", "link", "show", "dev", host)
        assert h["linkinfo"]["info_kind"] == "veth" and "link_netnsid" in h     # its peer is elsewhere
        assert netlink.destroy_link(host) and not netlink.link_exists(peer, box.pid)


def test_netlink_errors_keep_errno_and_name_the_request(nl_names):
    host, peer = nl_names["host"], nl_names["peer"]
    netlink.create_veth(host, peer)
    with pytest.raises(KernelError) as e:
        netlink.create_veth(host, peer)
    assert e.value.errno == errno.EEXIST and e.value.op == "RTM_NEWLINK" and host in str(e.value)
    with pytest.raises(KernelError) as e:
        netlink.link_up(f"mdnl{nl_names['tag']}none")
    assert e.value.errno == errno.ENODEV and "link_lookup" in str(e.value)
    with pytest.raises(KernelError) as e:                             # the kernel refuses: name taken
        netlink.rename_link(peer, host)
    assert e.value.errno == errno.EEXIST and e.value.op == "RTM_NEWLINK"
    with Sandbox() as box:
        gone = box.pid
    with pytest.raises(KernelError) as e:
        netlink.link_exists("lo", gone)
    assert e.value.errno == errno.ESRCH and "still running" in e.value.hint
    assert netlink.link_exists("x" * 20) is False                    # longer than IFNAMSIZ: cannot exist


def test_the_kernels_own_reason_travels_with_the_error():
    with Sandbox() as box, rtnl.open_in_netns(f"/proc/{box.pid}/ns/net") as nl:
        bogus = (rtnl.ifinfomsg() + rtnl.attr_str(rtnl.IFLA_IFNAME, "mdnlbogus")
                 + rtnl.nest(rtnl.IFLA_LINKINFO, rtnl.attr_str(rtnl.IFLA_INFO_KIND, "mdnl-no-such-kind")))
        with pytest.raises(rtnl.NetlinkError) as e:
            nl.request(rtnl.RTM_NEWLINK, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL, bogus)
        assert e.value.errno == errno.EOPNOTSUPP and e.value.extack        # "Unknown device type"
        # a GET of one link answers with that link, then the ACK
        [lo] = nl.request(rtnl.RTM_GETLINK, 0, rtnl.ifinfomsg() + rtnl.attr_str(rtnl.IFLA_IFNAME, "lo"))
        assert lo.type == rtnl.RTM_NEWLINK and lo.head["index"] == 1


def test_open_in_netns_always_returns_to_our_own_namespace():
    import threading
    home = os.readlink("/proc/thread-self/ns/net")
    with Sandbox() as box:
        theirs = os.readlink(f"/proc/{box.pid}/ns/net")
        with rtnl.open_in_netns(f"/proc/{box.pid}/ns/net") as nl:
            assert os.readlink("/proc/thread-self/ns/net") == home
            names = [rtnl.as_str(m.get(rtnl.IFLA_IFNAME)) for m in nl.dump(rtnl.RTM_GETLINK, rtnl.ifinfomsg())]
            assert names == ["lo"]                                     # the sandbox's links, not ours
        with pytest.raises(KernelError):                              # not a netns file: setns says EINVAL
            rtnl.open_in_netns(f"/proc/{box.pid}/ns/uts")
        assert os.readlink("/proc/thread-self/ns/net") == home
        # from a second thread: only that thread moves, and it comes back too
        seen = {}

        def worker():
            with rtnl.open_in_netns(f"/proc/{box.pid}/ns/net"):
                seen["worker"] = os.readlink("/proc/thread-self/ns/net")
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert seen["worker"] == home != theirs
    with pytest.raises(FileNotFoundError):
        rtnl.open_in_netns("/proc/0/ns/net")
    assert os.readlink("/proc/thread-self/ns/net") == home


def test_a_dump_longer_than_one_datagram_is_read_to_the_end():
    with Sandbox() as box:
        batch = "".join(f"link add mdnl{i}a type veth peer name mdnl{i}b\n" for i in range(150))
        subprocess.run(["nsenter", "-t", str(box.pid), "-n", "ip", "-batch", "-"], input=batch, text=True,
                       check=True, timeout=60)
        ours = [ln["name"] for ln in netlink.list_links(box.pid)]
        assert len(ours) == 301                                        # ~25 links fit in one datagram
        assert ours == [ln["ifname"] for ln in ip_json("link", "show", pid=box.pid)]


def test_bridge_mode_run_imports_no_pyroute2(netenv):
    """The reason kernel/rtnl.py exists: `run` in bridge mode without pyroute2 (~0.2 s of imports)."""
    from tests.helpers import REPO, md
    md("run", "--rm", "--network", "none", "busybox", "true", check=True)   # base image, outside the check
    code = ("import sys, json\nfrom minidocker.cli import main\n"
            "rc = main(['run', '--rm', 'busybox', 'sh', '-c', 'ip -4 addr show eth0'])\n"
            "sys.stdout.write('\\n' + json.dumps(sorted(sys.modules)))\nsys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert p.returncode == 0, p.stderr
    mods = set(json.loads(p.stdout.strip().splitlines()[-1]))
    assert f"inet {netenv.subnet.rsplit('.', 1)[0]}." in p.stdout        # it did get a bridge address
    assert "minidocker.kernel.netlink" in mods
    assert not [m for m in mods if m.split(".")[0] in ("pyroute2", "asyncio", "concurrent")]
