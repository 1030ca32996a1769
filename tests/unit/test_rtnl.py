"""kernel/rtnl.py without a kernel: the bytes of requests, and parsing the kernel's answers.

The layouts checked here are the kernel's (include/uapi/linux/netlink.h,
rtnetlink.h, if_link.h): a wrong size or offset would make every request
fail with EINVAL on a real kernel, and tests/integration/test_network_lib.py
sends them for real.
"""
from __future__ import annotations

import errno
import struct

from hypothesis import given
from hypothesis import strategies as st

from minidocker.kernel import rtnl


def test_attr_is_length_type_payload_padded_to_four():
    # len counts the 4-byte header and the payload, not the padding
    assert rtnl.attr(3, b"ab") == struct.pack("=HH", 6, 3) + b"ab\0\0"
    assert rtnl.attr(3, b"abcd") == struct.pack("=HH", 8, 3) + b"abcd"
    assert rtnl.attr_str(rtnl.IFLA_IFNAME, "eth0") == struct.pack("=HH", 9, 3) + b"eth0\0" + b"\0\0\0"
    assert rtnl.attr_u32(rtnl.IFLA_MASTER, 7) == struct.pack("=HHI", 8, 10, 7)
    assert rtnl.attr_ipv4(rtnl.RTA_GATEWAY, "10.88.0.1") == struct.pack("=HH", 8, 5) + bytes([10, 88, 0, 1])
    assert rtnl.attr_mac(rtnl.IFLA_ADDRESS, "02:42:0a:58:00:02") == \
        struct.pack("=HH", 10, 1) + bytes.fromhex("02420a580002") + b"\0\0"


def test_fixed_headers_have_the_kernels_sizes():
    assert len(rtnl.ifinfomsg()) == 16          # struct ifinfomsg
    assert len(rtnl.ifaddrmsg(1)) == 8          # struct ifaddrmsg
    assert len(rtnl.rtmsg()) == 12              # struct rtmsg
    assert len(rtnl.message(rtnl.RTM_GETLINK, 0, 1, b"")) == 16   # struct nlmsghdr


def test_ip_link_set_eth0_up_byte_for_byte():
    """`ip link set eth0 up` with eth0 = ifindex 2, as strace shows iproute2 sending it."""
    body = rtnl.ifinfomsg(index=2, flags=rtnl.IFF_UP, change=rtnl.IFF_UP)
    msg = rtnl.message(rtnl.RTM_NEWLINK, rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK, 5, body)
    assert msg.hex() == ("20000000" "1000" "0500" "05000000" "00000000"     # nlmsghdr: 32, 16, REQ|ACK, 5, 0
                         "00" "00" "0000" "02000000" "01000000" "01000000")  # ifinfomsg: AF_UNSPEC, -, 0, 2, UP, UP


def test_veth_request_parses_back_with_the_peer_nested_twice():
    peer = rtnl.ifinfomsg() + rtnl.attr_str(rtnl.IFLA_IFNAME, "mdnlp")
    body = (rtnl.ifinfomsg() + rtnl.attr_str(rtnl.IFLA_IFNAME, "mdnlh")
            + rtnl.nest(rtnl.IFLA_LINKINFO, rtnl.attr_str(rtnl.IFLA_INFO_KIND, "veth"),
                        rtnl.nest(rtnl.IFLA_INFO_DATA, rtnl.attr(rtnl.VETH_INFO_PEER, peer))))
    flags = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    [(type_, got_flags, seq, payload)] = rtnl.parse_messages(rtnl.message(rtnl.RTM_NEWLINK, flags, 9, body))
    assert (type_, got_flags, seq) == (rtnl.RTM_NEWLINK, flags, 9)
    m = rtnl.Msg(type_, payload)
    assert m.head == {"family": 0, "type": 0, "index": 0, "flags": 0, "change": 0}
    assert rtnl.as_str(m.get(rtnl.IFLA_IFNAME)) == "mdnlh"
    info = rtnl.parse_attrs(m.get(rtnl.IFLA_LINKINFO))
    assert rtnl.as_str(info[rtnl.IFLA_INFO_KIND]) == "veth"
    peer_msg = rtnl.parse_attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER]
    assert rtnl.as_str(rtnl.Msg(rtnl.RTM_NEWLINK, peer_msg).get(rtnl.IFLA_IFNAME)) == "mdnlp"


def test_address_and_route_messages_parse_back():
    a = rtnl.Msg(rtnl.RTM_NEWADDR, rtnl.ifaddrmsg(7, 24) + rtnl.attr_ipv4(rtnl.IFA_LOCAL, "10.88.0.2")
                 + rtnl.attr_ipv4(rtnl.IFA_ADDRESS, "10.88.0.2"))
    assert (a.head["index"], a.head["prefixlen"], a.head["family"]) == (7, 24, rtnl.AF_INET)
    assert rtnl.as_ipv4(a.get(rtnl.IFA_LOCAL)) == "10.88.0.2"
    r = rtnl.Msg(rtnl.RTM_NEWROUTE, rtnl.rtmsg(dst_len=0) + rtnl.attr_ipv4(rtnl.RTA_GATEWAY, "10.88.0.1")
                 + rtnl.attr_u32(rtnl.RTA_OIF, 7) + rtnl.attr_u32(rtnl.RTA_TABLE, rtnl.RT_TABLE_MAIN))
    assert r.head["table"] == rtnl.RT_TABLE_MAIN and r.head["protocol"] == rtnl.RTPROT_BOOT
    assert r.get(rtnl.RTA_DST) is None and rtnl.as_ipv4(r.get(rtnl.RTA_GATEWAY)) == "10.88.0.1"
    assert rtnl.as_u32(r.get(rtnl.RTA_OIF)) == 7


def test_several_messages_in_one_datagram_and_a_truncated_tail():
    one = rtnl.message(rtnl.RTM_NEWLINK, rtnl.NLM_F_MULTI, 3, rtnl.ifinfomsg(1) + rtnl.attr(99, b"x"))
    done = rtnl.message(rtnl.NLMSG_DONE, rtnl.NLM_F_MULTI, 3, struct.pack("=i", 0))
    got = rtnl.parse_messages(one + done + done[:10])
    assert [(t, s) for t, _, s, _ in got] == [(rtnl.RTM_NEWLINK, 3), (rtnl.NLMSG_DONE, 3)]


def test_nested_flag_is_masked_off_when_parsing():
    raw = struct.pack("=HH", 8, rtnl.IFLA_LINKINFO | rtnl.NLA_F_NESTED) + b"abcd"
    assert rtnl.parse_attrs(raw) == {rtnl.IFLA_LINKINFO: b"abcd"}


def _error(err: int, flags: int = 0, tlvs: bytes = b"") -> tuple[bytes, int]:
    request_head = rtnl.message(rtnl.RTM_NEWLINK, 5, 1, rtnl.ifinfomsg())[:16]
    return struct.pack("=i", err) + request_head + tlvs, flags


def test_error_messages_give_errno_and_the_kernels_reason():
    assert rtnl.parse_error(*_error(0)) == (0, "")                       # an ACK
    assert rtnl.parse_error(*_error(-errno.EEXIST)) == (errno.EEXIST, "")
    tlv = rtnl.attr_str(rtnl.NLMSGERR_ATTR_MSG, "Unknown device type")
    got = rtnl.parse_error(*_error(-errno.EOPNOTSUPP, rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS, tlv))
    assert got == (errno.EOPNOTSUPP, "Unknown device type")
    e = rtnl.NetlinkError(errno.EEXIST, "already there")
    assert isinstance(e, OSError) and e.errno == errno.EEXIST and "already there" in str(e)


@given(st.dictionaries(st.integers(1, 0x3FFF), st.binary(max_size=40), max_size=12))
def test_any_attributes_round_trip(attrs):
    packed = b"".join(rtnl.attr(t, p) for t, p in attrs.items())
    assert len(packed) % 4 == 0
    assert rtnl.parse_attrs(packed) == attrs


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=15),
       st.integers(0, 2**31 - 1), st.integers(0, 2**32 - 1))
def test_any_link_message_round_trips(name, index, flags):
    body = rtnl.ifinfomsg(index, flags, 0xFFFFFFFF) + rtnl.attr_str(rtnl.IFLA_IFNAME, name)
    [(t, _, _, payload)] = rtnl.parse_messages(rtnl.message(rtnl.RTM_NEWLINK, 0, 1, body))
    m = rtnl.Msg(t, payload)
    assert (m.head["index"], m.head["flags"], m.head["change"]) == (index, flags, 0xFFFFFFFF)
    assert rtnl.as_str(m.get(rtnl.IFLA_IFNAME)) == name
