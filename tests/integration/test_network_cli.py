"""End to end: `minidocker run -p`, `--network`, `network ...`, `port`, as a student types them.

Each test has its own bridge, subnet and chains (netkit.netenv sets
MINIDOCKER_BRIDGE/SUBNET/CHAIN, which the CLI subprocesses inherit).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from minidocker import params
from minidocker.kernel import iptables, netlink
from minidocker.runtime import ipam, network
from tests.helpers import md
from tests.integration.netkit import PY, TCP_WHO, free_port, host_address, http_get, netenv  # noqa: F401

pytestmark = pytest.mark.usefixtures("root_only")


def _ours(env) -> dict:
    """Links on our bridge, our rules, our leases: what must go away with the containers."""
    return {"links": sorted(ln["name"] for ln in netlink.list_links() if ln["master"] == env.bridge),
            "rules": sorted(ln for ln in iptables.save().splitlines()
                            if "minidocker container=" in ln and env.chain in ln),
            "leases": ipam.leases("bridge")["leases"], "endpoints": network.endpoints()}


def _empty(env):
    return _ours(env) == {"links": [], "rules": [], "leases": {}, "endpoints": []}


def test_run_publish_answers_everywhere_and_rm_leaves_nothing(netenv):
    port = free_port()
    md("run", "-d", "--name", "n5web", "-p", f"{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
       check=True)
    try:
        hostname = md("exec", "n5web", "hostname", check=True).stdout.strip()
        assert md("port", "n5web", check=True).stdout == f"80/tcp -> 0.0.0.0:{port}\n"
        assert md("port", "n5web", "80/tcp", check=True).stdout == f"0.0.0.0:{port}\n"
        assert f"0.0.0.0:{port}->80/tcp" in md("ps", check=True).stdout
        ns = json.loads(md("inspect", "n5web", check=True).stdout)[0]["NetworkSettings"]
        assert ns["Gateway"] == netenv.gateway and ns["IPAddress"].startswith(netenv.subnet.rsplit(".", 2)[0])
        deadline = time.monotonic() + 5
        while not http_get(f"http://127.0.0.1:{port}/hostname", timeout=1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http_get(f"http://127.0.0.1:{port}/hostname") == hostname + "\n"
        assert http_get(f"http://{netenv.gateway}:{port}/hostname") == hostname + "\n"
        if host_address():
            assert http_get(f"http://{host_address()}:{port}/hostname") == hostname + "\n"
        # from a second container (hairpin through the host's address)
        p = md("run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{netenv.gateway}:{port}/hostname")
        assert p.returncode == 0 and p.stdout == hostname + "\n", p.stderr
        # from an "outside host" (a namespace wired to the host by its own veth)
        outside, host_side, _ = netenv.outside()
        assert http_get(f"http://{host_side}:{port}/hostname", outside) == hostname + "\n"
    finally:
        md("rm", "-f", "n5web")
    assert _empty(netenv), _ours(netenv)
    assert http_get(f"http://127.0.0.1:{port}/", timeout=1) == ""


def test_user_network_by_name_and_alias_isolated_from_others(netenv):
    t = netenv.third
    nid = md("network", "create", "--subnet", f"10.207.{t}.0/24", "-o",
             f"com.docker.network.bridge.name=mdt5{netenv.tag}u", "n5net", check=True).stdout.strip()
    md("network", "create", "--subnet", f"10.208.{t}.0/24", "-o",
       f"com.docker.network.bridge.name=mdt5{netenv.tag}v", "n5other", check=True)
    try:
        assert len(nid) == 64
        ls = md("network", "ls", check=True).stdout
        assert ls.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert {"bridge", "host", "none", "n5net", "n5other"} <= {ln.split()[1] for ln in ls.splitlines()[1:]}
        md("run", "-d", "--name", "n5a", "--network", "n5net", "--network-alias", "n5alias", "busybox",
           "sleep", "60", check=True)
        for target in ("n5a", "n5alias"):
            p = md("run", "--rm", "--network", "n5net", "busybox", "ping", "-c", "1", "-W", "2", target)
            assert p.returncode == 0, p.stdout + p.stderr
        a_ip = json.loads(md("network", "inspect", "n5net", check=True).stdout)[0]["Containers"]
        (entry,) = a_ip.values()
        assert entry["Name"] == "n5a" and entry["IPv4Address"].startswith(f"10.207.{t}.")
        ip = entry["IPv4Address"].split("/")[0]
        p = md("run", "--rm", "--network", "n5other", "busybox", "ping", "-c", "1", "-W", "2", ip)
        assert p.returncode != 0                                   # other network: isolated
        p = md("run", "--rm", "--network", "n5other", "busybox", "ping", "-c", "1", "-W", "1", "n5a")
        assert p.returncode != 0 and "bad address" in (p.stdout + p.stderr)
        p = md("network", "rm", "n5net")
        assert p.returncode == 125 and "active endpoints" in p.stderr   # one object: its error code
    finally:
        md("rm", "-f", "n5a")
        md("network", "rm", "n5net", "n5other")
    assert not netlink.link_exists(f"mdt5{netenv.tag}u")
    assert "n5net" not in md("network", "ls", check=True).stdout


def test_network_connect_and_disconnect_cli(netenv):
    md("network", "create", "--subnet", f"10.209.{netenv.third}.0/24", "-o",
       f"com.docker.network.bridge.name=mdt5{netenv.tag}c", "n5side", check=True)
    try:
        md("run", "-d", "--name", "n5multi", "busybox", "sleep", "60", check=True)
        md("network", "connect", "--alias", "n5m", "n5side", "n5multi", check=True)
        out = md("exec", "n5multi", "ip", "-4", "-o", "addr", check=True).stdout
        assert "eth1" in out and f"10.209.{netenv.third}." in out
        nets = json.loads(md("inspect", "n5multi", check=True).stdout)[0]["NetworkSettings"]["Networks"]
        assert set(nets) == {"bridge", "n5side"}
        md("network", "disconnect", "n5side", "n5multi", check=True)
        assert "eth1" not in md("exec", "n5multi", "ip", "-o", "link", check=True).stdout
    finally:
        md("rm", "-f", "n5multi")
        md("network", "rm", "n5side")
    assert _empty(netenv)


def test_port_in_use_is_refused_before_anything_is_created(netenv):
    port = free_port()
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))
        s.listen()
        p = md("run", "-d", "--name", "n5late", "-p", f"{port}:80", "busybox", "sleep", "5")
    assert p.returncode == 125
    assert f"0.0.0.0:{port}" in p.stderr and "already in use" in p.stderr and "hint:" in p.stderr
    assert md("ps", "-a", "-q", check=True).stdout.strip() == ""
    assert _empty(netenv)
    p = md("run", "--rm", "-p", "80:99999", "busybox", "true")
    assert p.returncode == 125 and "hint:" in p.stderr


def test_explain_prints_the_ip_and_iptables_commands(netenv):
    p = md("--explain", "run", "--rm", "-p", f"{free_port()}:80", "busybox", "true", check=True)
    assert "ip link add mdv" in p.stderr and "type veth peer name" in p.stderr
    assert f"iptables -t nat -A {netenv.chain} -p tcp" in p.stderr
    assert _empty(netenv)


def test_system_prune_after_kill_9(netenv):
    port = free_port()
    md("run", "-d", "--name", "n5crash", "-p", f"{port}:80", "busybox", "sleep", "60", check=True)
    cid = json.loads(md("inspect", "n5crash", check=True).stdout)[0]["Id"]
    with open(os.path.join(params.lib_root(), "containers", cid, "state.json")) as f:
        st = json.load(f)
    assert not _empty(netenv)
    # the runtime (monitor) dies first, then the container: nobody runs disconnect()
    for pid in (st["MonitorPid"], st["State"]["Pid"]):
        os.kill(int(pid), signal.SIGKILL)
    assert network.endpoints(), "the endpoint record outlives the crash"
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{st['State']['Pid']}") and time.monotonic() < deadline:
        time.sleep(0.05)
    md("system", "prune", "-f", check=True)
    md("rm", "-f", "n5crash")
    assert _empty(netenv), _ours(netenv)


def test_publish_all_exposed_ports_of_a_built_image(netenv, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nEXPOSE 80 8080/tcp 53/udp\n")
    tag = f"n5expose{netenv.tag}"
    md("build", "-t", tag, str(tmp_path), check=True, timeout=120)
    try:
        md("run", "-d", "--name", "n5pall", "-P", tag, "httpd", "-f", "-p", "8080", "-h", "/etc", check=True)
        lines = md("port", "n5pall", check=True).stdout.splitlines()
        assert [ln.split(" -> ")[0] for ln in lines] == ["53/udp", "80/tcp", "8080/tcp"]
        ports = {ln.split(" -> ")[0]: int(ln.rsplit(":", 1)[1]) for ln in lines}
        lo, hi = params.PORT_RANGE
        assert all(lo <= p <= hi for p in ports.values()) and len(set(ports.values())) == 3
        hostname = md("exec", "n5pall", "hostname", check=True).stdout
        deadline = time.monotonic() + 5
        while not http_get(f"http://127.0.0.1:{ports['8080/tcp']}/hostname", timeout=1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http_get(f"http://127.0.0.1:{ports['8080/tcp']}/hostname") == hostname
    finally:
        md("rm", "-f", "n5pall")
        md("rmi", tag)
    assert _empty(netenv)


def test_outbound_from_a_container_is_masqueraded(netenv):
    outside, host_side, out_ip = netenv.outside()
    srv = outside.popen(PY, "-c", TCP_WHO, "9099", stdout=subprocess.PIPE, text=True)
    netenv.procs.append(srv)
    assert srv.stdout.readline().strip() == "ready"
    p = md("run", "--rm", "busybox", "nc", "-w", "3", out_ip, "9099")
    assert p.stdout.strip() == f"you are {host_side}", p.stderr
    assert srv.stdout.readline().strip() == host_side
    assert _empty(netenv)


def test_prune_removes_the_bridge_of_a_deleted_state_root(netenv, tmp_path):
    """rm -rf of a MINIDOCKER_ROOT leaves its bridge and chains in the kernel; the
    bridge's alias names that root, so `system prune` (from any root) finds them."""
    gone = tmp_path / "gone-root"
    md("run", "--rm", "busybox", "true", env={"MINIDOCKER_ROOT": str(gone)}, check=True)
    assert netlink.link_alias(netenv.bridge) == os.path.join(str(gone), "lib")
    assert netenv.chain in iptables.save()
    p = md("system", "prune", "-f", check=True)        # nothing: its owner is still there
    assert netlink.link_exists(netenv.bridge), p.stdout
    import shutil
    shutil.rmtree(gone)
    p = md("system", "prune", "-f", check=True)
    assert f"bridge {netenv.bridge} of the deleted state root" in p.stdout, p.stdout
    assert not netlink.link_exists(netenv.bridge)
    assert netenv.chain not in iptables.save()


def test_prune_removes_a_user_network_bridge_of_a_deleted_state_root(netenv, tmp_path):
    """The same for `network create`'s own bridge (mdk-<id>): the record that held its
    subnet is gone with the root, so prune reads the subnet back from the bridge."""
    gone = tmp_path / "gone-root"
    env = {"MINIDOCKER_ROOT": str(gone)}
    subnet = f"10.210.{netenv.third}.0/24"
    md("network", "create", "--subnet", subnet, "n5gone", env=env, check=True)
    md("run", "--rm", "--network", "n5gone", "busybox", "true", env=env, check=True)
    br = json.loads(md("network", "inspect", "n5gone", env=env, check=True).stdout)[0]["Options"][
        "com.docker.network.bridge.name"]
    assert br.startswith(params.USER_BRIDGE_PREFIX) and netlink.link_exists(br)
    assert subnet in iptables.save()
    import shutil
    shutil.rmtree(gone)
    p = md("system", "prune", "-f", check=True)
    assert f"bridge {br} of the deleted state root" in p.stdout, p.stdout
    assert not netlink.link_exists(br)
    assert subnet not in iptables.save() and br not in iptables.save()
