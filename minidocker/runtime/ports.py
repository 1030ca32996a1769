"""`-p` / `-P`: parsing port specs and finding free host ports.

Map of this file:
  PortBinding              one published port: proto, host_ip, host_port (0 = pick one), container_port
  parse_port_spec(spec)    "8080:80", "127.0.0.1:8080:80", "53:53/udp", "80", "127.0.0.1::80",
                           "8000-8001:80-81" -> [PortBinding, ...]
  exposed_ports(image)     the image's EXPOSE list ({"80/tcp": {}} or ["80/tcp"]) -> [(80, "tcp")]
  bindings(ports, publish_all, exposed)   the whole -p/-P set of one container, checked for duplicates
  host_port_free(...)      can the kernel give us this port? (a test bind(2))
  pick_free_port(...)      a random free port in params.PORT_RANGE (docker's ephemeral range)

Pure logic except the two bind(2) probes; unit-tested without root.
"""
from __future__ import annotations

import ipaddress
import random
import socket
from ..plaindata import asdict, dataclass

from .. import params
from ..errors import Conflict, UsageError

__all__ = ["PortBinding", "parse_port_spec", "exposed_ports", "bindings",
           "host_port_free", "pick_free_port", "overlaps"]

PROTOS = ("tcp", "udp")
_HINT = "use -p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp"


@dataclass(frozen=True)
class PortBinding:
    proto: str            # "tcp" or "udp"
    host_ip: str          # "0.0.0.0" means every host address (and 127.0.0.1)
    host_port: int        # 0 until a free one is picked
    container_port: int

    @property
    def key(self) -> str:
        """docker's key in NetworkSettings.Ports: "80/tcp"."""
        return f"{self.container_port}/{self.proto}"

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:   # docker port's line: 80/tcp -> 0.0.0.0:8080
        return f"{self.key} -> {self.host_ip}:{self.host_port}"


def _port_range(text: str, what: str, spec: str) -> list[int]:
    """"80" -> [80]; "8000-8002" -> [8000, 8001, 8002]; checks 1..65535."""
    lo_s, _, hi_s = text.partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if hi_s else lo
    except ValueError:
        raise UsageError(f"invalid {what} {text!r} in port spec {spec!r}", hint=_HINT) from None
    if not (1 <= lo <= hi <= 65535):
        raise UsageError(f"invalid {what} {text!r} in port spec {spec!r}: ports are 1-65535",
                         hint=_HINT)
    return list(range(lo, hi + 1))


def parse_port_spec(spec: str) -> list[PortBinding]:
    """Parse one `-p` value the way docker does: [IP:][HOSTPORT:]CPORT[/PROTO].

    An empty HOSTPORT ("80" or "127.0.0.1::80") means "pick a free one" and
    gives host_port=0. Ranges must have the same length on both sides.
    """
    text, slash, proto = spec.strip().partition("/")
    proto = (proto or ("" if slash else "tcp")).lower()
    if proto not in PROTOS:
        raise UsageError(f"unsupported protocol {proto!r} in port spec {spec!r}", hint=_HINT)
    if text.startswith("["):
        raise UsageError(f"IPv6 host addresses are not supported: {spec!r}", hint=_HINT)
    parts = text.split(":")
    if len(parts) == 1:
        ip, host, cont = "0.0.0.0", "", parts[0]
    elif len(parts) == 2:
        ip, host, cont = "0.0.0.0", parts[0], parts[1]
    elif len(parts) == 3:
        ip, host, cont = parts[0] or "0.0.0.0", parts[1], parts[2]
    else:
        raise UsageError(f"invalid port spec {spec!r}", hint=_HINT)
    try:
        ip = str(ipaddress.IPv4Address(ip))
    except ValueError:
        raise UsageError(f"invalid host IP {ip!r} in port spec {spec!r}", hint=_HINT) from None
    cports = _port_range(cont, "container port", spec)
    hports = _port_range(host, "host port", spec) if host else [0] * len(cports)
    if len(hports) != len(cports):
        raise UsageError(f"port ranges of different length in {spec!r}",
                         hint="give as many host ports as container ports, e.g. 8000-8001:80-81")
    return [PortBinding(proto, ip, h, c) for h, c in zip(hports, cports)]


def exposed_ports(exposed) -> list[tuple[int, str]]:
    """The image's EXPOSE set -> [(port, proto)], sorted. Accepts docker's dict or a list."""
    out = set()
    for key in (exposed or []):
        num, _, proto = str(key).partition("/")
        try:
            out.add((int(num), (proto or "tcp").lower()))
        except ValueError:
            continue   # an EXPOSE we cannot read is not worth refusing the container for
    return sorted(out)


def overlaps(a: PortBinding, b: PortBinding) -> bool:
    """Would these two fight over the same host port? (0.0.0.0 overlaps every IP)."""
    return (a.proto == b.proto and a.host_port == b.host_port and a.host_port != 0 and
            (a.host_ip == b.host_ip or "0.0.0.0" in (a.host_ip, b.host_ip)))


def bindings(ports: list[str] | None, publish_all: bool = False, exposed=None) -> list[PortBinding]:
    """Every port one container publishes: the -p specs, plus with -P each EXPOSEd port
    not already published (docker's rule). Refuses the same host port twice."""
    out: list[PortBinding] = []
    for spec in ports or []:
        out.extend(parse_port_spec(spec))
    if publish_all:
        done = {(b.container_port, b.proto) for b in out}
        out.extend(PortBinding(proto, "0.0.0.0", 0, port)
                   for port, proto in exposed_ports(exposed) if (port, proto) not in done)
    for i, a in enumerate(out):
        for b in out[:i]:
            if overlaps(a, b):
                raise Conflict(f"host port {a.host_ip}:{a.host_port}/{a.proto} is given twice",
                               hint="publish each host port once")
    return out


def host_port_free(proto: str, host_ip: str, port: int) -> bool:
    """Can a program bind HOST_IP:PORT/PROTO right now? bind(2) a probe socket and close it.

    SO_REUSEADDR so that old TIME_WAIT connections do not count as "in use";
    a listening socket still does. EADDRNOTAVAIL (an IP not on this host) is
    a user mistake and raises UsageError.
    """
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip, port))
        except OSError as e:
            if e.errno == 99:   # EADDRNOTAVAIL
                raise UsageError(f"host IP {host_ip} is not an address of this machine",
                                 hint="use one of the addresses `ip -4 addr` shows, or leave it out") from None
            return False
        return True


def pick_free_port(proto: str, host_ip: str, taken: set[int], tries: int = 200) -> int:
    """A random port in params.PORT_RANGE that is neither `taken` (our own DNAT rules,
    invisible to bind) nor bound by any program."""
    lo, hi = params.PORT_RANGE
    for _ in range(tries):
        port = random.randint(lo, hi)
        if port not in taken and host_port_free(proto, host_ip, port):
            return port
    raise Conflict(f"no free host port found in {lo}-{hi} for {proto}",
                   hint="free some ports or publish an explicit one with -p HOSTPORT:PORT")
