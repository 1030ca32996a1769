"""Helpers for the network tests: sandboxes (stand-in containers), an outside host, probes.

Everything here lives on this machine: a "sandbox" is a process in its own
network (and mount) namespace, an "outside host" is another such process
wired to the host by its own veth pair. No packet leaves the VM.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from minidocker import params
from minidocker.kernel import iptables, netlink

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


@dataclasses.dataclass
class Config:
    network: str = "bridge"
    ports: tuple = ()
    publish_all: bool = False
    network_aliases: tuple = ()
    hostname: str = ""
    exposed_ports: tuple = ()


@dataclasses.dataclass
class Box:
    """A stand-in container record (what runtime/network.py reads) plus its process."""
    id: str
    name: str
    dir: str
    config: Config
    proc: subprocess.Popen | None = None
    state: dict = dataclasses.field(default_factory=dict)
    children: list = dataclasses.field(default_factory=list)   # started by popen(); NetEnv.close kills them

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(self, *argv, timeout=10, **kw) -> subprocess.CompletedProcess:
        """Run a host binary inside the box's network + mount namespaces."""
        return subprocess.run(["nsenter", "-t", str(self.pid), "-n", "-m", *argv],
                              capture_output=True, text=True, timeout=timeout, **kw)

    def popen(self, *argv, **kw) -> subprocess.Popen:
        """Start a host binary inside the box (a server, say); it is killed with the box.
        (nsenter execs it: its parent is the test, not the box's `sleep`, so killing the
        box alone would leave it running, holding the namespace.)"""
        p = subprocess.Popen(["nsenter", "-t", str(self.pid), "-n", "-m", *argv], **kw)
        self.children.append(p)
        return p


class NetEnv:
    """One test's private bridge/subnet/chains and everything it started."""

    def __init__(self, tag: str, third: int):
        self.tag = tag
        self.bridge = f"mdt5{tag}"
        self.subnet = f"10.205.{third}.0/24"
        self.gateway = f"10.205.{third}.1"
        self.chain = f"MDT5{tag.upper()}"
        self.third = third
        self.procs: list[subprocess.Popen] = []
        self.boxes: list[Box] = []
        self.netns: set[str] = set()          # "net:[inode]" of every box, to find stragglers
        self.links: list[str] = []
        self.tmp = tempfile.mkdtemp(prefix=f"mdt5{tag}-")

    def box(self, name: str, **cfg) -> Box:
        """Start a sandbox whose /etc/hosts and resolv.conf are bind mounts of its
        record's files, as the runtime does, and return its record."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        for fn in ("hosts", "resolv.conf"):
            open(os.path.join(d, fn), "w").close()
        script = (f"mount --bind {d}/hosts /etc/hosts && mount --bind {d}/resolv.conf /etc/resolv.conf "
                  "&& echo ready && exec sleep 600")
        p = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready"
        cfg.setdefault("hostname", name)
        box = Box(secrets.token_hex(32), name, d, Config(**cfg), p)
        self.boxes.append(box)
        self.netns.add(os.readlink(f"/proc/{p.pid}/ns/net"))
        return box

    def outside(self, k: int = 0) -> tuple[Box, str, str]:
        """An "outside host": a netns wired to the host by its own veth.

        Returns (box, host_side_ip, outside_ip) on 10.204.THIRD.(4k)/30.
        """
        net = ipaddress.IPv4Network(f"10.204.{self.third}.{4 * k}/30")
        host_ip, out_ip = [str(h) for h in net.hosts()]
        b = self.box(f"outside{k}")
        h, q = f"mdt5{self.tag}o{k}", f"mdt5{self.tag}q{k}"
        netlink.create_veth(h, q)
        self.links.append(h)
        netlink.add_address(h, f"{host_ip}/30")
        netlink.link_up(h)
        netlink.move_to_netns(q, b.pid)
        netlink.rename_link(q, "eth0", b.pid)
        netlink.add_address("eth0", f"{out_ip}/30", b.pid)
        netlink.link_up("eth0", b.pid)
        netlink.link_up("lo", b.pid)
        return b, host_ip, out_ip

    def close(self) -> None:
        for p in [c for b in self.boxes for c in b.children] + self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for name in self.links:
            netlink.destroy_link(name)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def netenv(root_only, md_root, monkeypatch):
    """Own bridge, subnet and iptables chains for one test; checks nothing of them is left."""
    env = NetEnv(secrets.token_hex(2), random.randint(16, 250))
    monkeypatch.setenv(params.BRIDGE_ENV, env.bridge)
    monkeypatch.setenv(params.SUBNET_ENV, env.subnet)
    monkeypatch.setenv(params.CHAIN_ENV, env.chain)
    from minidocker.runtime import networks
    try:
        yield env
    finally:
        env.close()
        networks.teardown()
    left_links = [ln["name"] for ln in netlink.list_links() if ln["name"].startswith(f"mdt5{env.tag}")
                  or ln["master"] == env.bridge]
    left_rules = [ln for ln in iptables.save().splitlines() if env.chain in ln or env.bridge in ln]
    left_procs = [pid for pid in os.listdir("/proc") if pid.isdigit() and _netns_of(pid) in env.netns]
    assert not left_links and not left_rules and not left_procs, \
        f"left behind: {left_links} {left_rules} processes {left_procs}"


def _netns_of(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


# --- probes ---------------------------------------------------------------------

def http_get(url: str, box: Box | None = None, timeout: int = 3) -> str:
    """curl URL from the host (or from inside `box`); '' on failure."""
    argv = ["curl", "-s", "-m", str(timeout), url]
    p = box.run(*argv, timeout=timeout + 5) if box else \
        subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5)
    return p.stdout if p.returncode == 0 else ""


def ping(box: Box, target: str) -> bool:
    return box.run("busybox", "ping", "-c", "1", "-W", "2", target).returncode == 0


def start_httpd(box: Box, port: int = 80, body: str = "hello") -> subprocess.Popen:
    """busybox httpd in the box serving index.html = body."""
    www = os.path.join(box.dir, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write(body + "\n")
    p = box.popen("busybox", "httpd", "-f", "-p", str(port), "-h", www)
    wait_listen(box, port)
    return p


def wait_listen(box: Box, port: int, proto: str = "tcp", timeout: float = 5) -> None:
    flag = "-ltn" if proto == "tcp" else "-lun"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f":{port} " in box.run("busybox", "netstat", flag).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}/{proto} in {box.name}")


UDP_ECHO = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "s.bind(('0.0.0.0',int(sys.argv[1])))\nprint('ready',flush=True)\n"
            "while True:\n d,a=s.recvfrom(2048)\n s.sendto(b'echo:'+d+b' from '+a[0].encode(),a)\n")

UDP_ASK = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\n"
           "s.sendto(b'ping',(sys.argv[1],int(sys.argv[2])))\nprint(s.recv(2048).decode())\n")

TCP_WHO = ("import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
           "s.bind(('0.0.0.0',int(sys.argv[1])))\ns.listen()\nprint('ready',flush=True)\n"
           "c,a=s.accept()\nc.sendall(b'you are '+a[0].encode()+b'\\n')\nprint(a[0],flush=True)\nc.close()\n")


def udp_ask(host: str, port: int, box: Box | None = None) -> str:
    argv = [PY, "-c", UDP_ASK, host, str(port)]
    p = box.run(*argv) if box else subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return p.stdout.strip()


def host_address() -> str | None:
    """A global IPv4 address of this machine that is not one of ours (e.g. eth0's)."""
    for name, cidr in netlink.addresses():
        if name != "lo" and not name.startswith(("mdt5", "mdk", params.VETH_PREFIX)):
            return cidr.split("/")[0]
    return None


def free_port() -> int:
    """A high port nobody listens on (tcp and udp), unique enough for one test."""
    while True:
        port = random.randint(42000, 42999)
        ok = True
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
        if ok:
            return port


# --- bare network namespaces (kernel/netlink tests) -------------------------------

class Sandbox:
    """A process alone in a new network namespace: `unshare --net sleep 600`.
    Use as a context manager; leaving it kills the process, and the kernel deletes
    the namespace with every link still in it."""

    def __init__(self) -> None:
        home = os.readlink("/proc/self/ns/net")
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{self.proc.pid}/ns/net") == home:    # until unshare has run
            assert time.monotonic() < deadline and self.proc.poll() is None, "unshare --net did not start"
            time.sleep(0.005)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def ip_json(*args: str, pid: int | None = None):
    """What iproute2 itself says, as JSON: `[nsenter -t PID -n] ip -j ARGS`. The independent
    witness for kernel/netlink.py (which talks to the same kernel through its own code)."""
    import json
    argv = (["nsenter", "-t", str(pid), "-n"] if pid else []) + ["ip", "-j", *args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, f"{' '.join(argv)}: {p.stderr}"
    return json.loads(p.stdout or "[]")
