"""The topology picture and the packet walk-through, from a made-up topology (no root)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from minidocker.lab import plots_network as pn  # noqa: E402



@pytest.fixture(autouse=True)
def _own_chain(monkeypatch):
    # packet_path quotes live rules when there are some: make sure there are none
    monkeypatch.setenv("MINIDOCKER_CHAIN", "MDT5-NO-SUCH-CHAIN")


TOPO = {
    "host": [("lo", "127.0.0.1/8"), ("eth0", "192.0.2.2/24")],
    "networks": [{"name": "bridge", "bridge": "mdk0", "subnet": "10.88.0.0/16", "gateway": "10.88.0.1", "up": True},
                 {"name": "app", "bridge": "mdk-1234", "subnet": "10.89.0.0/24", "gateway": "10.89.0.1", "up": True}],
    "containers": [
        {"id": "a" * 64, "name": "web", "ports": [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080,
                                                   "container_port": 80}],
         "networks": {"bridge": {"ip": "10.88.0.2", "ifname": "eth0", "host_veth": "mdv11111111",
                                 "mac": "02:42:0a:58:00:02"}}},
        {"id": "b" * 64, "name": "client", "ports": [],
         "networks": {"bridge": {"ip": "10.88.0.3", "ifname": "eth0", "host_veth": "mdv22222222",
                                 "mac": "02:42:0a:58:00:03"},
                      "app": {"ip": "10.89.0.2", "ifname": "eth1", "host_veth": "mdv33333333",
                              "mac": "02:42:0a:59:00:02"}}},
    ],
}


def test_plot_topology_draws_every_name_and_address(tmp_path):
    fig = pn.plot_topology(TOPO)
    texts = "\n".join(t.get_text() for t in fig.axes[0].texts)
    for needle in ("mdk0", "10.88.0.1/16", "mdk-1234", "web", "client", "eth0 10.88.0.2", "eth1 10.89.0.2",
                   "mdv33333333", "0.0.0.0:8080/tcp  ->  10.88.0.2:80", ":8080->80/tcp", "eth0 192.0.2.2/24"):
        assert needle in texts, needle
    fig.savefig(tmp_path / "topo.png", dpi=60)
    assert (tmp_path / "topo.png").stat().st_size > 10_000


def test_plot_topology_empty():
    fig = pn.plot_topology({"host": [], "networks": [], "containers": []})
    assert "no containers" in "\n".join(t.get_text() for t in fig.axes[0].texts)


def test_packet_path_localhost_walks_output_dnat_masquerade_bridge_veth():
    steps = pn.packet_path(8080, topo=TOPO)
    hooks = [s.hook for s in steps]
    assert hooks[:2] == ["socket", "nat OUTPUT"]
    assert any(h.startswith("nat ") and "DNAT" in s.rule for h, s in zip(hooks, steps))
    assert "nat POSTROUTING" in hooks and "L2" in hooks and "veth" in hooks
    assert steps[0].packet == "127.0.0.1:54321 -> 127.0.0.1:8080"
    dnat = next(s for s in steps if "DNAT" in s.rule)
    assert dnat.packet.endswith("-> 10.88.0.2:80")
    masq = next(s for s in steps if s.hook == "nat POSTROUTING")
    assert masq.packet.startswith("10.88.0.1:") and "MASQUERADE" in masq.rule
    assert "mdv11111111" in pn.format_path(steps)


def test_packet_path_from_outside_and_from_a_container():
    out = pn.packet_path(8080, source="outside", topo=TOPO)
    assert [s.hook for s in out][1] == "nat PREROUTING"
    assert "nat POSTROUTING" not in [s.hook for s in out]        # the source is kept
    assert any(s.hook == "filter FORWARD" for s in out)
    hair = pn.packet_path(8080, source="container", topo=TOPO)
    assert hair[0].packet == "10.88.0.3:54321 -> 10.88.0.1:8080"
    assert "bridge-nf-call-iptables" in hair[-1].what


def test_packet_path_unknown_port():
    with pytest.raises(LookupError):
        pn.packet_path(9999, topo=TOPO)
