"""IPAM leases and network records on disk (no root: only files and a netlink read)."""
from __future__ import annotations

import ipaddress
import os
import threading

import pytest

from minidocker import params, state
from minidocker.errors import Conflict, NotFound, UsageError
from minidocker.runtime import ipam


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path))
    monkeypatch.setenv("MINIDOCKER_BRIDGE", "mdt5u0")
    monkeypatch.setenv("MINIDOCKER_SUBNET", "10.205.200.0/24")
    return tmp_path


def _net(subnet="10.205.201.0/29", name="n5u"):
    rec = ipam.new_network(name, subnet)
    ipam.save_network(rec)
    return rec


def test_builtin_networks_and_env_override(root):
    with state.lock(ipam.LOCK):
        names = {n["Name"]: n for n in ipam.all_networks()}
    assert set(names) == {"bridge", "host", "none"}
    assert names["bridge"]["Bridge"] == "mdt5u0" and names["bridge"]["Subnet"] == "10.205.200.0/24"
    assert names["bridge"]["Gateway"] == "10.205.200.1"
    assert names["host"]["Driver"] == "host" and names["none"]["Driver"] == "null"
    assert os.path.exists(os.path.join(params.lib_root(), "network", "networks", "bridge.json"))


def test_get_by_name_and_id_prefix_and_missing(root):
    rec = _net()
    assert ipam.get("n5u")["Id"] == rec["Id"]
    assert ipam.get(rec["Id"][:8])["Name"] == "n5u"
    with pytest.raises(NotFound) as e:
        ipam.get("n5u-nope")
    assert "network create" in e.value.hint


def test_user_bridge_name_fits_ifnamsiz(root):
    rec = ipam.new_network("x" * 60, "10.205.202.0/24")
    assert rec["Bridge"].startswith(params.USER_BRIDGE_PREFIX) and len(rec["Bridge"]) <= 15


def test_allocate_skips_gateway_and_never_repeats(root):
    net = _net()  # /29: hosts .1-.6, gateway .1 -> 5 addresses
    got = [ipam.allocate(net, f"c{i}", {"name": f"c{i}"}) for i in range(5)]
    assert len(set(got)) == 5
    assert "10.205.201.1" not in got
    assert all(ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(net["Subnet"]) for ip in got)
    with pytest.raises(Conflict) as e:
        ipam.allocate(net, "c5", {})
    assert "no free address" in str(e.value)
    # the same container asking again gets its own address back
    assert ipam.allocate(net, "c2", {}) == got[2]


def test_release_and_round_robin(root):
    net = _net()
    a = ipam.allocate(net, "a", {})
    b = ipam.allocate(net, "b", {})
    assert ipam.release(net["Name"], "a") == [a]
    assert ipam.release(net["Name"], "a") == []          # idempotent
    c = ipam.allocate(net, "c", {})
    assert c not in (a, b)                                # not reused at once (ARP caches)
    assert set(ipam.leases(net["Name"])["leases"]) == {b, c}


def test_parallel_allocations_are_distinct(root):
    net = _net("10.205.203.0/24")
    got, errors = [], []

    def one(i):
        try:
            with state.lock(ipam.LOCK):
                got.append(ipam.allocate(net, f"p{i}", {}))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 30 and len(set(got)) == 30
    assert len(ipam.leases(net["Name"])["leases"]) == 30


def test_check_subnet(root):
    _net("10.205.204.0/24", name="n5a")
    with pytest.raises(Conflict):
        ipam.check_subnet("10.205.204.128/25")
    with pytest.raises(UsageError):
        ipam.check_subnet("10.205.205.1/24")      # host bits set
    with pytest.raises(UsageError):
        ipam.check_subnet("10.205.205.0/31")
    with pytest.raises(UsageError):
        ipam.check_subnet("not-a-subnet")
    assert str(ipam.check_subnet("10.205.206.0/24")) == "10.205.206.0/24"


def test_next_free_subnet_skips_used(root):
    first = ipam.next_free_subnet()
    _net(first, name="n5b")
    second = ipam.next_free_subnet()
    assert first != second
    assert ipaddress.IPv4Network(second).subnet_of(ipaddress.IPv4Network(params.USER_SUBNET_POOL))
