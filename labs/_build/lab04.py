"""Lab 04 -- networking: bridge, veth, a namespace wired by hand, and a DNAT port."""
from .cells import check, cleanup, exercise, free, md, setup

NAME = "04_networking"
TITLE = "Lab 04 — Networking 网络"

CELLS = [
    md("intro", """
    # Lab 04 — Networking 网络: bridge, veth, namespace, DNAT

    **Goal.** Do by hand what `docker run -p 8204:80` does: a bridge on the host, a veth pair (a
    virtual cable) with one end in a network namespace, addresses and a default route so the
    namespace reaches the host; then a DNAT rule so that a connection made on the host reaches a
    web server inside the namespace.

    **Background.** Lesson notebook [`notebooks/09-networking.ipynb`](../notebooks/09-networking.ipynb);
    the library's [`minidocker/kernel/netlink.py`](../minidocker/kernel/netlink.py) (one `ip` command
    per function) and [`minidocker/kernel/iptables.py`](../minidocker/kernel/iptables.py) (read its
    docstring: why DNAT in OUTPUT as well as PREROUTING); `man ip-link`, `man iptables-extensions` (DNAT).

    **How this lab works.** Replace each `# TODO` + `raise NotImplementedError` with your code and
    run the grey **check** cell after it (PASS/FAIL per requirement, with what was expected and
    what was found). The grader re-runs your notebook with its own check cells. Everything is
    named `lab04-...` and uses the addresses `10.204.x.y`; the last cell removes the links, the
    namespaces' processes and the iptables rules.
    """),
    setup("setup", """
    import os, socket, subprocess, sys, tempfile, time, urllib.request
    from minidocker.kernel import iptables
    from minidocker.kernel import netlink       # rtnetlink over a plain socket: fine inside Jupyter's loop
    from minidocker.lab.checks import check, nsenter, wait_for

    assert os.geteuid() == 0, "the labs need root: start jupyter with sudo"
    STARTED = []                           # processes the lab started; cleanup removes them

    def new_netns():
        \"\"\"A 'container': a process in a new, empty network namespace (`unshare --net sleep 600`).\"\"\"
        p = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        STARTED.append(p)
        wait_for(lambda: os.readlink(f"/proc/{p.pid}/ns/net") != os.readlink("/proc/self/ns/net"))
        return p

    def sh(cmd):
        \"\"\"Run a shell command (the checks' own way, with `ip`, independent of your code).\"\"\"
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)

    def our_nat_rules():
        \"\"\"Rules in the nat table that mention our addresses (iptables -t nat -S).\"\"\"
        return [l for l in iptables.run("nat", ["-S"], quiet=True).stdout.splitlines() if "10.204." in l]

    def remove_all():
        for p in STARTED:
            if p.poll() is None:
                p.kill()
            p.wait()
        STARTED.clear()
        for name in ("lab04-h0", "lab04-br0", "lab04-h1", "lab04-br1"):
            netlink.destroy_link(name)
        for rule in our_nat_rules():                      # "-A OUTPUT ..." -> "-D OUTPUT ..."
            iptables.run("nat", ["-D"] + rule.split()[1:], check=False)
    remove_all()                                          # a rerun starts clean
    """),

    md("ex1-md", """
    ## Exercise 1 — wire a namespace to the host

    Write `wire(pid)`, where `pid` is a process in a fresh network namespace (the "container"):

    * a bridge `lab04-br0` with the address `10.204.1.1/24`, up;
    * a veth pair `lab04-h0` (host end) / `lab04-c0`; plug `lab04-h0` into the bridge, up;
    * move `lab04-c0` into the namespace of `pid`, rename it `eth0`, give it `10.204.1.2/24`,
      bring it (and `lo`) up;
    * a default route in the namespace via `10.204.1.1`.

    *Hints.* `netlink.create_bridge`, `create_veth`, `set_master`, `move_to_netns`, and with
    `pid=...` for inside the namespace: `rename_link`, `add_address`, `link_up`,
    `add_default_route`. Each docstring gives its `ip` command, e.g.
    `ip link add lab04-h0 type veth peer name lab04-c0`, `ip link set lab04-c0 netns PID`,
    `nsenter -t PID -n ip route add default via 10.204.1.1`.
    """),
    exercise("ex1-code", "ex1", todo="""
    def wire(pid):
        \"\"\"Bridge lab04-br0 (10.204.1.1/24) <-> veth <-> eth0 (10.204.1.2/24) in pid's netns.\"\"\"
        # TODO
        raise NotImplementedError
    """, solution="""
    def wire(pid):
        \"\"\"Bridge lab04-br0 (10.204.1.1/24) <-> veth <-> eth0 (10.204.1.2/24) in pid's netns.\"\"\"
        netlink.create_bridge("lab04-br0", "10.204.1.1/24")        # the host's switch, and its gateway address
        netlink.create_veth("lab04-h0", "lab04-c0")                # the cable
        netlink.set_master("lab04-h0", "lab04-br0")                # host end into the switch (and up)
        netlink.move_to_netns("lab04-c0", pid)                     # other end into the container
        netlink.rename_link("lab04-c0", "eth0", pid=pid)
        netlink.add_address("eth0", "10.204.1.2/24", pid=pid)
        netlink.link_up("lo", pid=pid)
        netlink.link_up("eth0", pid=pid)
        netlink.add_default_route("10.204.1.1", pid=pid)           # everything else: via the host
    """, wrong="""
    def wire(pid):
        \"\"\"Bridge lab04-br0 (10.204.1.1/24) <-> veth <-> eth0 (10.204.1.2/24) in pid's netns.\"\"\"
        netlink.create_bridge("lab04-br0", "10.204.1.1/24")
        netlink.create_veth("lab04-h0", "lab04-c0")
        # planted mistake: the host end is never plugged into the bridge (nor brought up)
        netlink.move_to_netns("lab04-c0", pid)
        netlink.rename_link("lab04-c0", "eth0", pid=pid)
        netlink.add_address("eth0", "10.204.1.2/24", pid=pid)
        netlink.link_up("lo", pid=pid)
        netlink.link_up("eth0", pid=pid)
        netlink.add_default_route("10.204.1.1", pid=pid)
    """),
    free("ex1-free"),
    check("ex1-check", "ex1", """
    with check("ex1", "the namespace is wired to the host") as c:
        try:
            p = new_netns()
            wire(p.pid)
            addr = nsenter(p.pid, "n", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
            c.true("eth0 in the namespace has 10.204.1.2/24", "10.204.1.2/24" in addr, "inet 10.204.1.2/24", addr.strip() or None)
            master = sh("ip -o link show lab04-h0").stdout
            c.true("lab04-h0 is a port of lab04-br0", "master lab04-br0" in master, "master lab04-br0", master.strip() or None)
            ping_out = nsenter(p.pid, "n", ["busybox", "ping", "-c", "1", "-W", "2", "10.204.1.1"])
            c.expect("ping from the namespace to the host (10.204.1.1)", ping_out.returncode, 0)
            ping_in = sh("busybox ping -c 1 -W 2 10.204.1.2")
            c.expect("ping from the host to the namespace (10.204.1.2)", ping_in.returncode, 0)
            route = nsenter(p.pid, "n", ["ip", "route", "get", "10.204.99.9"]).stdout
            c.true("a far address is routed via the host (ip route get 10.204.99.9)", "via 10.204.1.1" in route,
                   "via 10.204.1.1", route.strip() or None)
        finally:
            remove_all()
    """),

    md("ex2-md", """
    ## Exercise 2 — publish a port with DNAT

    The check builds its own wired namespace (bridge `lab04-br1`, host `10.204.2.1`, namespace
    `10.204.2.2`) and starts `busybox httpd` on port 80 inside it. Write
    `publish(host_ip, host_port, container_ip, container_port)`: add the iptables rule(s) so that
    a TCP connection **made on the host** to `host_ip:host_port` reaches
    `container_ip:container_port` (the check fetches `http://10.204.2.1:8204/` with urllib).

    *Hints.* `iptables -t nat -A CHAIN -p tcp -d HOST_IP --dport HOST_PORT -j DNAT --to-destination C_IP:C_PORT`;
    from Python `iptables.run("nat", [...])`. Which chain? A packet from outside the host
    enters through PREROUTING; a packet **a host process sends** never passes PREROUTING — it
    starts in OUTPUT. (Docker adds its jump to both.)
    """),
    exercise("ex2-code", "ex2", todo="""
    def publish(host_ip, host_port, container_ip, container_port):
        \"\"\"DNAT host_ip:host_port -> container_ip:container_port for connections made on the host.\"\"\"
        # TODO
        raise NotImplementedError
    """, solution="""
    def publish(host_ip, host_port, container_ip, container_port):
        \"\"\"DNAT host_ip:host_port -> container_ip:container_port for connections made on the host.\"\"\"
        spec = ["-p", "tcp", "-d", host_ip, "--dport", str(host_port),
                "-j", "DNAT", "--to-destination", f"{container_ip}:{container_port}"]
        iptables.run("nat", ["-A", "OUTPUT"] + spec)       # connections from host processes
        iptables.run("nat", ["-A", "PREROUTING"] + spec)   # connections from other machines
    """, wrong="""
    def publish(host_ip, host_port, container_ip, container_port):
        \"\"\"DNAT host_ip:host_port -> container_ip:container_port for connections made on the host.\"\"\"
        spec = ["-p", "tcp", "-d", host_ip, "--dport", str(host_port),
                "-j", "DNAT", "--to-destination", f"{container_ip}:{container_port}"]
        iptables.run("nat", ["-A", "PREROUTING"] + spec)   # planted mistake: PREROUTING only
    """),
    free("ex2-free"),
    check("ex2-check", "ex2", """
    with check("ex2", "a connection to 10.204.2.1:8204 on the host reaches httpd in the namespace") as c:
        try:
            p = new_netns()
            www = tempfile.mkdtemp(prefix="lab04-www-")
            token = f"lab04 says hello {os.getpid()}"
            with open(os.path.join(www, "index.html"), "w") as f:
                f.write(token)
            setup_cmds = [f"ip link add lab04-br1 type bridge", "ip addr add 10.204.2.1/24 dev lab04-br1",
                          "ip link set lab04-br1 up", "ip link add lab04-h1 type veth peer name lab04-c1",
                          "ip link set lab04-h1 master lab04-br1 up", f"ip link set lab04-c1 netns {p.pid}",
                          f"nsenter -t {p.pid} -n ip addr add 10.204.2.2/24 dev lab04-c1",
                          f"nsenter -t {p.pid} -n ip link set lab04-c1 up", f"nsenter -t {p.pid} -n ip link set lo up"]
            for cmd in setup_cmds:
                r = sh(cmd)
                assert r.returncode == 0, f"check setup failed: {cmd}: {r.stderr}"
            httpd = subprocess.Popen(["nsenter", "-t", str(p.pid), "-n", "busybox", "httpd", "-f", "-p", "80", "-h", www])
            STARTED.append(httpd)
            def http(url):
                try:
                    with urllib.request.urlopen(url, timeout=3) as r:
                        return r.read().decode()
                except OSError as e:
                    return f"{type(e).__name__}: {e}"
            up = wait_for(lambda: http("http://10.204.2.2/index.html") == token, timeout=10)
            assert up, "check setup failed: httpd in the namespace does not answer"
            publish("10.204.2.1", 8204, "10.204.2.2", 80)
            rules = our_nat_rules()
            c.true("a DNAT rule to 10.204.2.2:80 in the nat table",
                   any("DNAT" in r and "10.204.2.2:80" in r for r in rules), "-j DNAT --to-destination 10.204.2.2:80", rules)
            c.expect("GET http://10.204.2.1:8204/index.html from the host", http("http://10.204.2.1:8204/index.html"), token)
            c.true("port 8205 (not published) is not forwarded", http("http://10.204.2.1:8205/index.html") != token,
                   "no answer from httpd", "httpd answered" if http("http://10.204.2.1:8205/index.html") == token else "no answer")
        finally:
            remove_all()
            import shutil
            shutil.rmtree(www, ignore_errors=True)
    """),

    cleanup("cleanup", """
    remove_all()
    print("lab04: links, namespaces' processes and DNAT rules removed")
    """),
]
