"""/etc/hosts and resolv.conf contents, and in-place writes (no root)."""
from __future__ import annotations

import os

from minidocker.runtime import netfiles


def _rec(cid, name, nets, hostname=None, aliases=()):
    return {"container": cid, "name": name, "hostname": hostname or cid[:12], "mode": "bridge",
            "dir": "", "networks": {n: {"ip": ip, "aliases": list(aliases)} for n, ip in nets.items()}}


def test_hosts_on_user_network_lists_peers_by_name_alias_and_id():
    a = _rec("a" * 64, "web", {"n5": "10.205.1.2"}, aliases=["www"])
    b = _rec("b" * 64, "db", {"n5": "10.205.1.10"})
    c = _rec("c" * 64, "cache", {"n5": "10.205.1.9"})
    other = _rec("d" * 64, "elsewhere", {"n6": "10.205.2.2"})
    text = netfiles.hosts_file(b, [a, b, c, other])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert f"10.205.1.10\t{'b' * 12} db" in lines                 # itself: hostname, name
    assert f"10.205.1.2\t{'a' * 12} web www" in netfiles.hosts_file(a, [a, b]).splitlines()
    assert f"10.205.1.2\tweb www {'a' * 12}" in lines
    assert f"10.205.1.9\tcache {'c' * 12}" in lines
    assert "elsewhere" not in text


def test_hosts_numeric_order():
    recs = [_rec(f"{i:064x}", f"n{i}", {"n5": f"10.205.1.{i}"}) for i in (10, 9, 2)]
    text = netfiles.hosts_file(recs[0], recs)
    assert text.index("10.205.1.2\t") < text.index("10.205.1.9\t")


def test_default_bridge_has_no_names():
    a = _rec("a" * 64, "web", {"bridge": "10.88.0.2"})
    b = _rec("b" * 64, "db", {"bridge": "10.88.0.3"})
    assert "web" not in netfiles.hosts_file(b, [a, b])
    assert "db" not in netfiles.hosts_file(b, [a, b]).split()        # only the hostname, as docker


def test_resolv_conf_drops_loopback_resolvers(tmp_path):
    src = tmp_path / "resolv.conf"
    src.write_text("search lab\nnameserver 127.0.0.53\nnameserver 10.1.1.1\noptions edns0\n")
    out = netfiles.resolv_conf(source=str(src))
    assert "127.0.0.53" not in out and "nameserver 10.1.1.1" in out and "search lab" in out
    src.write_text("nameserver 127.0.0.53\n")
    out = netfiles.resolv_conf(source=str(src))
    assert "nameserver 8.8.8.8" in out and "127.0.0.53" not in out
    assert netfiles.resolv_conf(host_mode=True, source=str(src)) == "nameserver 127.0.0.53\n"


def test_write_in_place_keeps_the_inode(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("old old old old\n")
    ino = os.stat(f).st_ino
    netfiles.write_in_place(str(f), "new\n")
    assert os.stat(f).st_ino == ino and f.read_text() == "new\n"
    netfiles.write_in_place(str(tmp_path / "gone" / "hosts"), "x")   # a removed container: no error
    assert not (tmp_path / "gone").exists()
