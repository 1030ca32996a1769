"""rtnetlink by hand: the messages `ip` sends to the kernel, packed with `struct`.

Map of this file:
  constants            the kernel's names (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h)
  attr / nest / ...    one rtattr: length, type, payload, padded to 4 bytes; nests are attrs of attrs
  ifinfomsg / ifaddrmsg / rtmsg   the fixed header of a link / address / route message
  message              nlmsghdr + body: one request as bytes
  parse_messages / parse_attrs / Msg   the other way: bytes from the kernel -> header + attrs
  as_str / as_u32 / as_ipv4 / as_mac   one attribute's payload -> a Python value
  NetlinkError         an NLMSG_ERROR with errno != 0 (an OSError; keeps the kernel's own text)
  Rtnl                 an AF_NETLINK/NETLINK_ROUTE socket: request() (ACKed), dump() (to NLMSG_DONE)
  open_in_netns(path)  such a socket created inside another network namespace

What one request looks like on the wire (`ip link set eth0 up`):

    nlmsghdr   len=32 type=RTM_NEWLINK flags=NLM_F_REQUEST|NLM_F_ACK seq=1 pid=0
    ifinfomsg  family=AF_UNSPEC index=2 flags=IFF_UP change=IFF_UP
    (no attributes)

and the kernel answers with an NLMSG_ERROR whose error field is 0 ("ACK") or -errno.
A "dump" (`ip link show`) sets NLM_F_DUMP and gets many messages, then NLMSG_DONE.

Only cheap stdlib modules here (socket, struct, os, errno): `minidocker run`
imports this file on every bridge-mode start.
"""
from __future__ import annotations

import errno
import os
import socket
import struct

__all__ = ["attr", "attr_str", "attr_u32", "attr_ipv4", "attr_mac", "nest", "ifinfomsg", "ifaddrmsg", "rtmsg",
           "message", "parse_messages", "parse_attrs", "parse_error", "as_str", "as_u32", "as_ipv4", "as_mac",
           "Msg", "NetlinkError", "Rtnl", "open_in_netns"]   # and the kernel's constants, by their names

# --- constants ------------------------------------------------------------------
# linux/netlink.h
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x01, 0x02, 0x04
NLM_F_DUMP_INTR = 0x10                                  # the dump changed under us: ask again
NLM_F_ROOT, NLM_F_MATCH = 0x100, 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400   # for NEW* requests
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200                     # in an NLMSG_ERROR's flags
NLMSGERR_ATTR_MSG = 1                                   # extended ack: the kernel's reason, as text
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF                                  # type without the NESTED/BYTEORDER bits

# linux/rtnetlink.h: message types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26

# linux/if_link.h: link attributes (after the ifinfomsg)
IFLA_ADDRESS, IFLA_BROADCAST, IFLA_IFNAME, IFLA_MTU = 1, 2, 3, 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18                                      # nested: IFLA_INFO_KIND, IFLA_INFO_DATA
IFLA_NET_NS_PID = 19
IFLA_IFALIAS = 20
IFLA_EXT_MASK = 29                                      # in a GET: which extras to leave out
RTEXT_FILTER_SKIP_STATS = 1 << 3                        # no counters: a link answer shrinks ~4x
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1                                      # inside IFLA_INFO_DATA of a veth: ifinfomsg + attrs

# linux/if.h
IFF_UP = 0x1

# linux/if_addr.h: address attributes (after the ifaddrmsg)
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST = 1, 2, 3, 4

# linux/rtnetlink.h: route attributes (after the rtmsg) and rtmsg field values
RTA_DST, RTA_SRC, RTA_IIF, RTA_OIF, RTA_GATEWAY = 1, 2, 3, 4, 5
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3                                         # what `ip route add` uses
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

AF_UNSPEC, AF_INET = 0, 2

# --- packing: bytes we send --------------------------------------------------------
_NLMSGHDR = struct.Struct("=IHHII")      # len, type, flags, seq, pid            (16 bytes)
_IFINFOMSG = struct.Struct("=BxHiII")    # family, pad, type, index, flags, change (16 bytes)
_IFADDRMSG = struct.Struct("=BBBBI")     # family, prefixlen, flags, scope, index (8 bytes)
_RTMSG = struct.Struct("=BBBBBBBBI")     # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct("=HH")           # len, type                               (4 bytes)


def _pad4(n: int) -> int:
    """Netlink aligns every header and attribute to 4 bytes (NLMSG_ALIGN, RTA_ALIGN)."""
    return (n + 3) & ~3


def attr(type_: int, payload: bytes) -> bytes:
    """One rtattr: 4-byte header (len, type), payload, zero padding to a multiple of 4.
    `len` counts header + payload, not the padding."""
    head = _RTATTR.pack(4 + len(payload), type_)
    return head + payload + b"\0" * (_pad4(len(payload)) - len(payload))


def attr_str(type_: int, text: str) -> bytes:
    """A string attribute: the kernel wants it NUL-terminated (IFLA_IFNAME, IFLA_INFO_KIND)."""
    return attr(type_, text.encode() + b"\0")


def attr_u32(type_: int, value: int) -> bytes:
    """A 32-bit number in host byte order (IFLA_MASTER, IFLA_NET_NS_PID, RTA_OIF)."""
    return attr(type_, struct.pack("=I", value))


def attr_ipv4(type_: int, dotted: str) -> bytes:
    """An IPv4 address: 4 bytes in network order (IFA_LOCAL, RTA_GATEWAY)."""
    return attr(type_, socket.inet_aton(dotted))


def attr_mac(type_: int, mac: str) -> bytes:
    """A MAC address 'aa:bb:cc:dd:ee:ff' as its 6 raw bytes (IFLA_ADDRESS)."""
    return attr(type_, bytes.fromhex(mac.replace(":", "")))


def nest(type_: int, *children: bytes) -> bytes:
    """An attribute whose payload is more attributes (IFLA_LINKINFO holds KIND and DATA).
    Like `ip` we leave NLA_F_NESTED unset; rtnetlink accepts both."""
    return attr(type_, b"".join(children))


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, family: int = AF_UNSPEC) -> bytes:
    """The link header: which link (ifindex, 0 = "by name / new"), and which IFF_* flags
    to set: bits in `change` are copied from `flags` (change=IFF_UP, flags=0 -> down)."""
    return _IFINFOMSG.pack(family, 0, index, flags, change)


def ifaddrmsg(index: int, prefixlen: int = 0, family: int = AF_INET, scope: int = RT_SCOPE_UNIVERSE) -> bytes:
    """The address header: family, prefix length (the /N) and the link it belongs to."""
    return _IFADDRMSG.pack(family, prefixlen, 0, scope, index)


def rtmsg(dst_len: int = 0, table: int = RT_TABLE_MAIN, protocol: int = RTPROT_BOOT,
          scope: int = RT_SCOPE_UNIVERSE, type_: int = RTN_UNICAST, family: int = AF_INET) -> bytes:
    """The route header: destination prefix length (0 = default route), table, who added it."""
    return _RTMSG.pack(family, dst_len, 0, 0, table, protocol, scope, type_, 0)


def message(type_: int, flags: int, seq: int, body: bytes) -> bytes:
    """nlmsghdr + body. pid 0 means "to the kernel"."""
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), type_, flags, seq, 0) + body


# --- parsing: bytes we receive ------------------------------------------------------

def parse_messages(buf: bytes) -> list[tuple[int, int, int, bytes]]:
    """Split one recv() into (type, flags, seq, payload) tuples (NLMSG_NEXT)."""
    out, off = [], 0
    while off + _NLMSGHDR.size <= len(buf):
        length, type_, flags, seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size or off + length > len(buf):
            break                                    # truncated: never happens with our buffer size
        out.append((type_, flags, seq, bytes(buf[off + _NLMSGHDR.size: off + length])))
        off += _pad4(length)
    return out


def parse_attrs(buf: bytes, off: int = 0) -> dict[int, bytes]:
    """rtattrs from `off` to the end as {type: payload}. Later duplicates win (there are none
    in the messages we read). Nested attributes stay bytes: call parse_attrs on them."""
    out = {}
    while off + _RTATTR.size <= len(buf):
        length, type_ = _RTATTR.unpack_from(buf, off)
        if length < _RTATTR.size:
            break
        out[type_ & NLA_TYPE_MASK] = bytes(buf[off + _RTATTR.size: off + length])
        off += _pad4(length)
    return out


def as_str(payload: bytes | None) -> str | None:
    return None if payload is None else payload.split(b"\0", 1)[0].decode(errors="replace")


def as_u32(payload: bytes | None) -> int | None:
    return None if payload is None else struct.unpack_from("=I", payload)[0]


def as_ipv4(payload: bytes | None) -> str | None:
    return None if payload is None else socket.inet_ntoa(payload[:4])


def as_mac(payload: bytes | None) -> str | None:
    return None if payload is None else ":".join(f"{b:02x}" for b in payload)


class Msg:
    """One parsed rtnetlink message: `head` (the fixed struct as a dict) and `attrs`."""
    __slots__ = ("type", "head", "attrs")

    _HEADS = {  # message type -> (struct, field names)
        RTM_NEWLINK: (_IFINFOMSG, ("family", "type", "index", "flags", "change")),
        RTM_NEWADDR: (_IFADDRMSG, ("family", "prefixlen", "flags", "scope", "index")),
        RTM_NEWROUTE: (_RTMSG, ("family", "dst_len", "src_len", "tos", "table", "protocol",
                                "scope", "type", "flags")),
    }

    def __init__(self, type_: int, payload: bytes):
        st, names = self._HEADS[type_]
        self.type = type_
        self.head = dict(zip(names, st.unpack_from(payload)))
        self.attrs = parse_attrs(payload, _pad4(st.size))

    def get(self, type_: int) -> bytes | None:
        return self.attrs.get(type_)

    def __repr__(self) -> str:
        return f"Msg({self.type}, {self.head}, attrs={sorted(self.attrs)})"


# --- errors ---------------------------------------------------------------------------

class NetlinkError(OSError):
    """The kernel refused a request: NLMSG_ERROR with error = -errno.

    `extack` is the kernel's own sentence when it sends one (extended ACK,
    e.g. "Unknown device type"), else ''.
    """

    def __init__(self, err: int, extack: str = ""):
        super().__init__(err, os.strerror(err) + (f" ({extack})" if extack else ""))
        self.extack = extack


def parse_error(payload: bytes, flags: int) -> tuple[int, str]:
    """An NLMSG_ERROR payload: int error (0 = ACK, else -errno), the request's
    nlmsghdr (only the header: NETLINK_CAP_ACK), then, with NLM_F_ACK_TLVS,
    attributes such as NLMSGERR_ATTR_MSG. Returns (errno or 0, extack text)."""
    (err,) = struct.unpack_from("=i", payload)
    text = ""
    if flags & NLM_F_ACK_TLVS:
        (req_len,) = struct.unpack_from("=I", payload, 4)
        off = 4 + (_NLMSGHDR.size if flags & NLM_F_CAPPED else _pad4(req_len))
        text = as_str(parse_attrs(payload, off).get(NLMSGERR_ATTR_MSG)) or ""
    return -err, text


# --- the socket -------------------------------------------------------------------------

class Rtnl:
    """One AF_NETLINK/NETLINK_ROUTE socket. Use as `with Rtnl() as nl: nl.request(...)`.

    The socket acts in the network namespace it was *created* in (see
    open_in_netns), whatever namespace the caller is in later.
    """
    BUFSIZE = 1 << 16     # the kernel sends at most ~32 KiB per datagram to a reader with a big buffer

    def __init__(self, sock: socket.socket | None = None):
        self.sock = sock or _new_socket()
        self.seq = 0

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _send(self, type_: int, flags: int, body: bytes) -> int:
        """send(2) one message with the next sequence number; returns that number (the
        kernel copies it into its answers). No shell line: what `ip` does inside."""
        self.seq += 1
        self.sock.send(message(type_, flags, self.seq, body))
        return self.seq

    def _replies(self, seq: int):
        """Yield (type, flags, payload) of the answers to request `seq`, datagram by datagram."""
        buf = bytearray(self.BUFSIZE)
        while True:
            n = self.sock.recv_into(buf, 0, socket.MSG_TRUNC)   # MSG_TRUNC: n is the datagram's real size
            if n > len(buf):                                     # never seen; better loud than a lost link
                raise NetlinkError(errno.EMSGSIZE, f"a {n}-byte answer does not fit our {len(buf)}-byte buffer")
            for type_, flags, mseq, payload in parse_messages(memoryview(buf)[:n]):
                if mseq == seq:            # anything else is a stale answer to an earlier request
                    yield type_, flags, payload

    def request(self, type_: int, flags: int, body: bytes) -> list[Msg]:
        """Send one request with NLM_F_REQUEST|NLM_F_ACK and wait for its ACK.

        Returns the messages that came before the ACK (a GET of one link answers
        with that link). Raises NetlinkError when the kernel says -errno.
        """
        seq = self._send(type_, NLM_F_REQUEST | NLM_F_ACK | flags, body)
        out = []
        for mtype, mflags, payload in self._replies(seq):
            if mtype == NLMSG_ERROR:
                err, text = parse_error(payload, mflags)
                if err:
                    raise NetlinkError(err, text)
                return out
            if mtype in Msg._HEADS:
                out.append(Msg(mtype, payload))

    def dump(self, type_: int, body: bytes, tries: int = 5) -> list[Msg]:
        """A dump request (NLM_F_DUMP): every object of a kind, read until NLMSG_DONE.

        A dump spans several recv()s; if links or routes change meanwhile the
        kernel flags the answer NLM_F_DUMP_INTR and we ask again (like `ip`, which warns).
        """
        for _ in range(tries):
            seq = self._send(type_, NLM_F_REQUEST | NLM_F_DUMP, body)
            out, intr = [], False
            for mtype, mflags, payload in self._replies(seq):
                intr = intr or bool(mflags & NLM_F_DUMP_INTR)
                if mtype == NLMSG_DONE:
                    (err,) = struct.unpack_from("=i", payload) if len(payload) >= 4 else (0,)
                    if err:
                        raise NetlinkError(-err)
                    break
                if mtype == NLMSG_ERROR:
                    err, text = parse_error(payload, mflags)
                    raise NetlinkError(err or errno.EIO, text)
                if mtype in Msg._HEADS:
                    out.append(Msg(mtype, payload))
            if not intr:
                break
        return out


def _new_socket() -> socket.socket:
    """socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) + bind (the kernel picks our port id).

    NETLINK_CAP_ACK: errors echo only the request's header, not the whole request.
    NETLINK_EXT_ACK: errors carry the kernel's reason as text (kernel >= 4.12).
    """
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)  # CLOEXEC by default
    try:
        for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            try:
                s.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:
                pass                                   # an old kernel: plain errors are fine
        s.bind((0, 0))
    except BaseException:
        s.close()
        raise
    return s


# --- a socket in another network namespace ------------------------------------------------
# Why setns in *this* thread and back, not a short-lived thread: a network namespace
# belongs to a thread, not a process, so setns(CLONE_NEWNET) here moves only the calling
# thread (other threads, e.g. Jupyter's, never notice), and it is the same two steps
# `nsenter -n` takes, readable in six lines. The socket keeps the namespace it was created
# in, so we go straight back: we hold an fd of our own namespace, and going back to it
# cannot fail for lack of rights (we just used them to go in). A thread would cost a
# `threading` import and still need the same setns; it only wins if that return could fail,
# and then we raise loudly rather than carry on in the wrong namespace.

def open_in_netns(path: str) -> Rtnl:
    """An Rtnl socket created inside the network namespace `path` (/proc/PID/ns/net).

    setns(2)(CLONE_NEWNET) into it, socket(AF_NETLINK), setns back.
    Shell: `nsenter --net=/proc/PID/ns/net ip ...`.
    Raises FileNotFoundError when the namespace file is gone (its process exited).
    """
    from ..trace import step
    from .libc import CLONE_NEWNET, setns      # ctypes: only when a namespace is entered
    # no shell line of its own: the `nsenter -t PID -n` prefix is on each `ip` step that follows
    step("setns", f"setns({path}, CLONE_NEWNET); socket(AF_NETLINK, NETLINK_ROUTE); setns(back)")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET, path)
            try:
                sock = _new_socket()
            finally:
                setns(home, CLONE_NEWNET, "back to our own /proc/thread-self/ns/net")
        finally:
            os.close(target)
    finally:
        os.close(home)
    return Rtnl(sock)
