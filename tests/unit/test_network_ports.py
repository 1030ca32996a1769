"""-p / -P parsing and host-port checks (no root)."""
from __future__ import annotations

import socket

import pytest
from hypothesis import given, strategies as st

from minidocker import params
from minidocker.errors import Conflict, UsageError
from minidocker.runtime.ports import (PortBinding, bindings, exposed_ports, host_port_free,
                                      overlaps, parse_port_spec, pick_free_port)


@pytest.mark.parametrize("spec, want", [
    ("8080:80", [PortBinding("tcp", "0.0.0.0", 8080, 80)]),
    ("127.0.0.1:8080:80", [PortBinding("tcp", "127.0.0.1", 8080, 80)]),
    ("5353:53/udp", [PortBinding("udp", "0.0.0.0", 5353, 53)]),
    ("80", [PortBinding("tcp", "0.0.0.0", 0, 80)]),
    ("80/UDP", [PortBinding("udp", "0.0.0.0", 0, 80)]),
    ("127.0.0.1::80", [PortBinding("tcp", "127.0.0.1", 0, 80)]),
    (":8080:80", [PortBinding("tcp", "0.0.0.0", 8080, 80)]),
    ("8000-8001:80-81", [PortBinding("tcp", "0.0.0.0", 8000, 80), PortBinding("tcp", "0.0.0.0", 8001, 81)]),
    ("80-81", [PortBinding("tcp", "0.0.0.0", 0, 80), PortBinding("tcp", "0.0.0.0", 0, 81)]),
])
def test_parse_valid(spec, want):
    assert parse_port_spec(spec) == want


@pytest.mark.parametrize("spec", ["", "abc", "0:80", "8080:0", "70000:80", "8080:80/sctp", "1.2.3:80:80",
                                  "a:b:c:d", "8000-8002:80-81", "[::1]:80:80", "80-70", "8080:80/"])
def test_parse_invalid_is_usage_error_with_hint(spec):
    with pytest.raises(UsageError) as e:
        parse_port_spec(spec)
    assert e.value.hint


def test_str_and_key_match_docker():
    b = PortBinding("udp", "0.0.0.0", 5353, 53)
    assert b.key == "53/udp"
    assert str(b) == "53/udp -> 0.0.0.0:5353"


def test_exposed_ports_accepts_dict_and_list():
    assert exposed_ports({"80/tcp": {}, "53/udp": {}}) == [(53, "udp"), (80, "tcp")]
    assert exposed_ports(("443", "80/tcp")) == [(80, "tcp"), (443, "tcp")]
    assert exposed_ports(None) == []


def test_publish_all_adds_exposed_not_already_published():
    out = bindings(["8080:80"], True, ["80/tcp", "443/tcp", "53/udp"])
    assert [(b.container_port, b.proto, b.host_port) for b in out] == [
        (80, "tcp", 8080), (53, "udp", 0), (443, "tcp", 0)]
    assert bindings([], False, ["80/tcp"]) == []


def test_same_host_port_twice_is_refused():
    with pytest.raises(Conflict):
        bindings(["8080:80", "8080:81"])
    with pytest.raises(Conflict):
        bindings(["127.0.0.1:8080:80", "8080:81"])   # 0.0.0.0 covers 127.0.0.1
    # different protocol or different specific IPs are fine, as in docker
    assert len(bindings(["8080:80", "8080:80/udp"])) == 2
    assert len(bindings(["127.0.0.1:8080:80", "127.0.0.2:8080:80"])) == 2


def test_overlaps():
    a = PortBinding("tcp", "0.0.0.0", 9000, 80)
    assert overlaps(a, PortBinding("tcp", "127.0.0.1", 9000, 81))
    assert not overlaps(a, PortBinding("udp", "0.0.0.0", 9000, 80))
    assert not overlaps(PortBinding("tcp", "0.0.0.0", 0, 80), PortBinding("tcp", "0.0.0.0", 0, 81))


def test_host_port_free_sees_a_listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not host_port_free("tcp", "127.0.0.1", port)
        assert not host_port_free("tcp", "0.0.0.0", port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        assert not host_port_free("udp", "127.0.0.1", u.getsockname()[1])


def test_host_ip_not_on_this_machine_is_usage_error():
    with pytest.raises(UsageError):
        host_port_free("tcp", "192.0.2.254", 40000)   # TEST-NET-1, not configured here


def test_pick_free_port_stays_in_range_and_avoids_taken():
    lo, hi = params.PORT_RANGE
    taken = set(range(lo, lo + 100))
    for _ in range(20):
        p = pick_free_port("tcp", "0.0.0.0", taken)
        assert lo <= p <= hi and p not in taken


@given(ip=st.sampled_from(["", "127.0.0.1", "10.1.2.3"]), host=st.integers(0, 65535),
       cont=st.integers(1, 65535), proto=st.sampled_from(["tcp", "udp"]))
def test_parse_round_trip(ip, host, cont, proto):
    spec = f"{ip + ':' if ip else ''}{host or ''}{':' if host or ip else ''}{cont}/{proto}"
    if ip and not host:
        spec = f"{ip}::{cont}/{proto}"
    (b,) = parse_port_spec(spec)
    assert (b.host_ip, b.host_port, b.container_port, b.proto) == (ip or "0.0.0.0", host, cont, proto)
