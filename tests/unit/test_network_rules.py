"""The iptables rules we would add, as data (no root, nothing is run)."""
from __future__ import annotations

from minidocker.kernel import iptables
from minidocker.runtime import network

C = iptables.Chains("MDT5X")


def test_chain_names_fit_iptables_limit():
    for name in (C.nat, C.post, C.forward, C.iso1, C.iso2, C.ports):
        assert name.startswith("MDT5X") and len(name) <= 28
    assert len(iptables.Chains("MINIDOCKER").iso1) <= 28


def test_jumps_hook_the_four_builtin_chains():
    hooks = {(t, c) for t, c, _ in C.jumps()}
    assert hooks == {("nat", "PREROUTING"), ("nat", "OUTPUT"), ("nat", "POSTROUTING"), ("filter", "FORWARD")}
    for t, c, spec in C.jumps():
        if c in ("PREROUTING", "OUTPUT"):
            assert spec == ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "MDT5X"]


def test_port_rules_dnat_hairpin_accept():
    rules = iptables.port_rules(C, "mdt5x0", "10.205.3.4", "udp", "127.0.0.1", 42053, 53, "minidocker container=abc 53/udp")
    (t1, c1, dnat), (t2, c2, masq), (t3, c3, acc) = rules
    assert (t1, c1, t2, c2, t3, c3) == ("nat", "MDT5X", "nat", "MDT5X-POSTROUTING", "filter", "MDT5X")
    assert dnat[:2] == ["-d", "127.0.0.1/32"] and "--dport" in dnat and "42053" in dnat
    assert dnat[-3:] == ["DNAT", "--to-destination", "10.205.3.4:53"]
    assert masq[:4] == ["-s", "10.205.3.4/32", "-d", "10.205.3.4/32"] and masq[-1] == "MASQUERADE"
    assert ["-o", "mdt5x0"] == acc[acc.index("-o"):acc.index("-o") + 2] and acc[-1] == "ACCEPT"
    assert all("minidocker container=abc 53/udp" in r for _, _, r in rules)
    # 0.0.0.0: no -d, the jump already limits it to local addresses
    (_, _, any_ip), *_ = iptables.port_rules(C, "b", "10.0.0.2", "tcp", "0.0.0.0", 8080, 80, "t")
    assert "-d" not in any_ip


def test_network_rules_drop_comes_after_accepts():
    rules = iptables.network_rules(C, "mdt5x0", "10.205.3.0/24")
    fwd = [spec for t, c, spec in rules if c == C.forward]
    assert fwd[-1] == ["-o", "mdt5x0", "-j", "DROP"]
    assert ["-s", "10.205.3.0/24", "!", "-o", "mdt5x0", "-j", "MASQUERADE"] in [s for _, _, s in rules]


def test_shell_text_is_typeable():
    assert iptables._shell("nat", ["-A", "X", "!", "-o", "br", "-m", "comment", "--comment", "a b"]) == \
        "iptables -t nat -A X ! -o br -m comment --comment 'a b'"


def test_parse_mode():
    assert network.parse_mode(None) == ("bridge", "bridge")
    assert network.parse_mode("default") == ("bridge", "bridge")
    assert network.parse_mode("host") == ("host", "")
    assert network.parse_mode("none") == ("none", "")
    assert network.parse_mode("container:web") == ("container", "web")
    assert network.parse_mode("mynet") == ("bridge", "mynet")


def test_mac_is_derived_from_ip():
    assert network._mac("10.88.0.2") == "02:42:0a:58:00:02"
    assert network._veth_name("a" * 64, "bridge") != network._veth_name("a" * 64, "other")
    assert len(network._veth_name("a" * 64, "bridge") + "p") <= 15
