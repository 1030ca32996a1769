"""A tiny HTTP proxy that lets a sealed network namespace reach the package registries only.

Used by the lab-VM provisioning test (tests/integration/test_vagrant_provision.py).
The test's "VM" is a Debian root in namespaces of its own, including a network
namespace with nothing but loopback: so provisioning there cannot touch the
host's network settings (ip_forward, iptables) and JupyterLab's port cannot
clash with anyone's. Its apt and pip still need the registries, so:

  1. this process enters the sealed namespace (setns), opens a listening TCP
     socket on its 127.0.0.1, and goes back to its own namespace. A socket
     stays in the namespace it was created in, so inside the sealed root
     `http_proxy=http://127.0.0.1:PORT` reaches us;
  2. each request (`CONNECT host:443` for https, `GET http://host/...` for
     http) is checked against ALLOWED and forwarded from the host's namespace.

Map:  main() -> open_listener_in(netns) -> serve() -> handle() -> relay()

Run:  python proxy.py /proc/PID/ns/net PORT   (prints "ready" when listening)
"""
from __future__ import annotations

import ctypes
import os
import select
import socket
import sys
import threading

#: the only hosts the sealed root may reach: Debian's mirror and PyPI
ALLOWED = {"deb.debian.org", "security.debian.org", "pypi.org", "files.pythonhosted.org"}
CLONE_NEWNET = 0x40000000
HEAD_LIMIT = 65536


def open_listener_in(netns_path: str, port: int) -> socket.socket:
    """Listen on 127.0.0.1:port inside another network namespace.

    Syscall: setns(fd, CLONE_NEWNET) there and back around socket()/bind()/listen().
    Shell equivalent: `nsenter --net=NETNS_PATH nc -l 127.0.0.1 PORT`.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(netns_path, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({netns_path})")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:  # back home, or every upstream connect fails
                raise OSError(ctypes.get_errno(), "setns(home)")
    finally:
        os.close(home)
        os.close(target)
    return sock


def relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both sides have finished sending."""
    open_ends = {a: b, b: a}
    while open_ends:
        readable, _, _ = select.select(list(open_ends), [], [], 120)
        if not readable:
            return  # idle for two minutes: give up on this connection
        for src in readable:
            data = src.recv(65536)
            dst = open_ends[src]
            if data:
                dst.sendall(data)
            else:
                del open_ends[src]
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


def refuse(client: socket.socket, why: str) -> None:
    sys.stderr.write(f"proxy: refused {why}\n")
    client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def handle(client: socket.socket) -> None:
    upstream = None
    try:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if host not in ALLOWED or port != "443":
                return refuse(client, target)
            upstream = socket.create_connection((host, 443), timeout=30)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
        else:
            if not target.startswith("http://"):
                return refuse(client, f"{method} {target}")
            hostport, _, path = target[len("http://"):].partition("/")
            host, _, port = hostport.partition(":")
            if host not in ALLOWED or port not in ("", "80"):
                return refuse(client, target)
            upstream = socket.create_connection((host, 80), timeout=30)
            # origin-form request line, one request per connection: apt simply
            # reconnects, and we never have to parse a response's length
            keep = [h for h in lines[1:] if h.split(":", 1)[0].lower()
                    not in ("connection", "proxy-connection", "keep-alive")]
            out = [f"{method} /{path} {version}", *keep, "Connection: close", "", ""]
            upstream.sendall("\r\n".join(out).encode("latin-1") + rest)
        upstream.settimeout(None)
        relay(client, upstream)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"proxy: {e!r}\n")
    finally:
        client.close()
        if upstream is not None:
            upstream.close()


def serve(listener: socket.socket) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


def main(argv: list[str]) -> int:
    netns_path, port = argv[0], int(argv[1])
    listener = open_listener_in(netns_path, port)
    print("ready", flush=True)
    serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
