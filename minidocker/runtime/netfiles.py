"""A container's /etc/hosts and /etc/resolv.conf: how names resolve inside it.

Map of this file:
  write_in_place(path, text)     overwrite a file keeping its inode (it is bind-mounted)
  resolv_conf(host_mode)         the host's resolv.conf minus 127.x resolvers
  hosts_file(rec, records)       localhost, own addresses, and peers on user networks
  write_files(rec, other_dir)    both files for one endpoint record (any --network mode)
  refresh_hosts(records, nets)   rewrite hosts of every container on those networks

Why /etc/hosts and not a DNS server: docker answers container names with an
embedded DNS server at 127.0.0.11 (since 1.10); before that it wrote peers
into /etc/hosts, which is what we do. Every resolver (glibc, musl, busybox)
reads /etc/hosts first, so `ping web` works in busybox with no daemon. The
price: a name appears only after we rewrite the file on connect/disconnect,
and an old entry could be read in the instant a peer goes away.

Records are runtime/network.py's endpoint records:
  {"container", "name", "hostname", "dir", "mode", "networks": {NET: {"ip", "aliases", ...}}}
"""
from __future__ import annotations

import contextlib
import os

from .. import params

__all__ = ["write_in_place", "resolv_conf", "hosts_file", "write_files", "refresh_hosts", "LOCALHOST"]

LOCALHOST = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
             "ff02::2\tip6-allrouters\n")


def write_in_place(path: str, text: str) -> None:
    """Overwrite the file's contents, keeping its inode.

    The runtime bind-mounts these files into the container; a bind mount pins
    the inode, so write-temp-and-rename would leave the container reading the
    old file forever. open(O_TRUNC) + write changes the same inode.
    A container directory that is gone (removed meanwhile) is skipped.
    """
    if not os.path.isdir(os.path.dirname(path)):
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def resolv_conf(host_mode: bool = False, source: str = "/etc/resolv.conf") -> str:
    """The container's resolv.conf: the host's, minus 127.x nameservers (a container's
    127.0.0.1 is itself), falling back to params.FALLBACK_DNS (docker's rule)."""
    try:
        with open(source, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    if host_mode:
        return "\n".join(lines) + "\n"

    def local_ns(line: str) -> bool:
        w = line.split()
        return len(w) >= 2 and w[0] == "nameserver" and w[1].startswith(("127.", "::1"))
    kept = [ln for ln in lines if not local_ns(ln)]
    if not any(ln.split()[:1] == ["nameserver"] for ln in kept):
        kept += [f"nameserver {ip}" for ip in params.FALLBACK_DNS]
    return "\n".join(kept) + "\n"


def hosts_file(rec: dict, records: list[dict]) -> str:
    """/etc/hosts of one container: localhost, its own addresses, and on user networks
    every peer by name, --network-alias and short id (our stand-in for docker's DNS)."""
    out = [LOCALHOST]
    for name, ep in rec["networks"].items():
        own = [rec["hostname"]] + ([rec["name"], *ep.get("aliases", [])] if name != "bridge" else [])
        out.append(f"{ep['ip']}\t{' '.join(dict.fromkeys(own))}\n")
    for name, ep in rec["networks"].items():
        if name == "bridge":
            continue   # like docker: no name resolution on the default bridge
        peers = [(r, r["networks"][name]) for r in records
                 if r["container"] != rec["container"] and name in r["networks"]]
        if peers:
            out.append(f"# peers on network {name} (minidocker rewrites this on connect/disconnect)\n")
        for r, pep in sorted(peers, key=lambda p: tuple(int(x) for x in p[1]["ip"].split("."))):
            names = [r["name"], *pep.get("aliases", []), r["container"][:12]]
            out.append(f"{pep['ip']}\t{' '.join(dict.fromkeys(names))}\n")
    return "".join(out)


def write_files(rec: dict, other_dir: str | None = None) -> None:
    """hosts + resolv.conf into the container's directory, for any --network mode.

    host: copies of the host's files; container:NAME: copies of that
    container's files (`other_dir`); bridge/none: our own.
    """
    d = rec["dir"]
    if rec["mode"] == "host":
        with contextlib.suppress(OSError), open("/etc/hosts", encoding="utf-8") as f:
            write_in_place(os.path.join(d, "hosts"), f.read())
        write_in_place(os.path.join(d, "resolv.conf"), resolv_conf(host_mode=True))
        return
    if other_dir:
        for fn in ("hosts", "resolv.conf"):
            with contextlib.suppress(OSError), open(os.path.join(other_dir, fn), encoding="utf-8") as f:
                write_in_place(os.path.join(d, fn), f.read())
        return
    write_in_place(os.path.join(d, "hosts"), hosts_file(rec, []))
    write_in_place(os.path.join(d, "resolv.conf"), resolv_conf())


def refresh_hosts(records: list[dict], networks: set[str]) -> None:
    """Rewrite /etc/hosts (and resolv.conf) of every container on any of `networks`."""
    for r in records:
        if r["mode"] != "bridge" or not set(r["networks"]) & networks:
            continue
        write_in_place(os.path.join(r["dir"], "hosts"), hosts_file(r, records))
        write_in_place(os.path.join(r["dir"], "resolv.conf"), resolv_conf())
