from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("09-networking.ipynb", "Networking", "l09-", 2,
               "Docker网络: the chapter's three questions answered with working demos: container to "
               "container (bridge, veth, user network with names), container and host (gateway, NAT), "
               "-p (DNAT, the packet's path); a topology picture; the iptables rules")
    L.md("""
# Lesson 9 — Networking 网络

*Course chapter 2.* A container is an isolated system with its own network namespace (lesson 6):
its own interfaces, addresses, routes and ports. The chapter asks three questions:

1. **How do containers talk to each other?** 多个容器之间是如何实现通信的
2. **How do a container and its host talk?** 容器和宿主机之间又是如何实现的通信
3. **How does `-p` map a port?** 使用-p参数是怎么实现的端口映射

Each is answered below by something that works, then by the kernel objects that make it work.
""")
    L.setup(extra_imports="from minidocker import params\nfrom minidocker.lab import plots_network\n"
                          "from minidocker.lab.render import sanitize, localize\nimport json, time, urllib.request",
            networks=("l09-net",))
    L.md("""
## Question 1: container to container

Start two containers on minidocker's default network, `bridge` (docker's `docker0` is called
`mdk0` here, and its subnet is `10.88.0.0/16` instead of `172.17.0.0/16`).
""")
    L.code("""
for name in ("l09-a", "l09-b"):
    sh(f"minidocker run -d --name {name} busybox sleep 600", show=False)
ip = lambda name: json.loads(sh(f"minidocker inspect {name}", show=False).stdout)[0]["NetworkSettings"]["IPAddress"]
ip_a, ip_b = ip("l09-a"), ip("l09-b")
sh("minidocker exec l09-a ip -4 -o addr show eth0 | awk '{print $2, $4}'")
sh(f"minidocker exec l09-a ping -c 2 -W 2 {ip_b} | tail -2 | head -1")""")
    L.md("""
It works. Why: each container got one end of a **veth pair** — a virtual cable with two ends —
as its `eth0`; the other end stays on the host, plugged into the **bridge** `mdk0`, a virtual
switch. Both containers hang off the same switch, in the same subnet, so `ping` is plain
Ethernet. On the host, the two host ends are ports of the bridge:
""")
    L.code("""
br = params.bridge_name()
ports = sh(f"ip -o link show master {br} | awk -F': ' '{{print $2}}' | cut -d@ -f1", show=False).stdout.split()
print(f"ports of bridge {localize(br)}: {len(ports)} veth ends, named mdv<8 hex> (one per container)")
print("the container's eth0 is the peer of one of them (ip link shows 'eth0@ifN', N = the host end's index)")""")
    L.md("""
By IP only, though: on the default bridge, names do not resolve (as in docker). On a **user-defined
network** they do — docker runs a DNS server for that; minidocker writes the peers into each
container's `/etc/hosts`:
""")
    L.code("""
sh("minidocker network create l09-net", show=False)
for name in ("l09-c", "l09-d"):
    sh(f"minidocker run -d --name {name} --network l09-net busybox sleep 600", show=False)
sh("minidocker exec l09-c ping -c 1 -W 2 l09-d | head -1")
sh("minidocker exec l09-c ping -c 1 -W 2 l09-a", check=False)
sh(f"minidocker exec l09-c ping -c 1 -W 2 {ip_a} | tail -1", check=False)""")
    L.md("""
The last two pings fail: `l09-a` is on the other network — its name is unknown on `l09-net`, and
even by address it cannot be reached: another bridge, another subnet, and minidocker (like
docker) does not let packets cross between its networks. Networks isolate containers.

## Question 2: container and host

The bridge is also an interface *of the host*, with the subnet's first address (the
**gateway**). The host reaches containers through it, and containers use it as their default
route:
""")
    L.code("""
sh(f"ip -4 -o addr show {br} | awk '{{print $2, $4}}'")
sh("minidocker exec l09-a ip route")
sh(f"busybox ping -c 1 -W 2 {ip_a} | tail -2 | head -1")""")
    L.md("""
To reach *beyond* the host, a container's packets are routed by the host (`ip_forward=1`) and
their private source address is replaced by the host's (**MASQUERADE**, a form of source NAT) as
they leave — the rule minidocker put in the `nat` table:
""")
    L.code("""
chain = params.iptables_chain()
rules = sh(f"iptables -t nat -S {chain}-POSTROUTING", show=False).stdout
print(localize("\\n".join(l for l in rules.splitlines() if params.bridge_subnet() in l)))
print("net.ipv4.ip_forward =", open("/proc/sys/net/ipv4/ip_forward").read().strip())""")
    L.md("""
## Question 3: `-p HOSTPORT:CONTAINERPORT`

A web server in a container, published on host port 18081 (busybox `httpd` serves `/etc` here):
""")
    L.code("""
sh("minidocker run -d --name l09-web -p 18081:80 busybox httpd -f -p 80 -h /etc", show=False)
time.sleep(1)
body = urllib.request.urlopen("http://localhost:18081/hostname", timeout=5).read().decode()
print("GET http://localhost:18081/hostname ->", "the container's hostname" if body.strip() == ip("l09-web") or len(body.strip()) == 12 else body)
sh("minidocker port l09-web")""")
    L.md("""
Nothing listens on port 18081 on the host. Instead, a **DNAT** rule in the `nat` table rewrites
the destination of packets for port 18081 to the container's address and port 80:
""")
    L.code("""
rules = sh(f"iptables -t nat -S {chain}", show=False).stdout
print(localize("\\n".join(l for l in rules.splitlines() if "18081" in l)))
print("listening on 18081 on the host:", bool(sh("ss -Hltn 'sport = :18081'", show=False).stdout.strip()))""")
    L.md("""
The whole path of one request from `curl localhost:18081`, hook by hook — every line names the
rule or the command that shows it:
""")
    L.code("""
topo = plots_network.topology()
print(sanitize(plots_network.format_path(plots_network.packet_path(18081, topo=topo))))""")
    L.md("""
## The picture

Everything above in one drawing: the host's root network namespace, the two bridges, each veth
pair, each container's namespace with its address, and the published port:
""")
    L.code("""
fig = plots_network.plot_topology(topo, title="lesson 9: two networks, five containers, one published port")""")
    L.md("""
## Under the hood

The trace of `run -p`: the veth pair created, one end moved into the container's namespace and
renamed `eth0`, the address and route set *inside* it (`nsenter -n`), and the DNAT rule added.
Meanwhile PID 1, inside, brings up its own loopback (`lo` starts DOWN in a new network
namespace); the two sides run at the same time, so they are listed apart:
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run -d --name l09-traced -p 18082:80 busybox httpd -f -p 80", show=False)
explain(t, kinds=("ip", "iptables"), collapse=0, sides=True)""")
    L.teardown(networks=("l09-net",))
    return L
