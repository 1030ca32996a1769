from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("06-namespaces.ipynb", "Namespaces", "l06-", 2,
               "命名空间 namespace: the seed's table; mnt, uts, ipc, pid, net, user (and cgroup, time) each "
               "demonstrated; the `ls -l /proc/$$/ns` host-vs-container comparison as a table and a picture")
    L.md("""
# Lesson 6 — Namespaces 命名空间: isolation 资源隔离

*Course section 1.6.1.* Virtualization has two problems to solve: **isolation 资源隔离** (what a
program can see) and **limits 资源限制** (how much it can use). A virtual machine solves both
with a hypervisor and a second kernel. A container solves them with two features of the one
kernel: **namespaces** (this lesson) and **cgroups** (lesson 7).

A namespace wraps a global resource — the hostname, the process table, the network stack, the
mount table... — so that the processes inside see their own copy. The kinds, with the flag
`clone(2)`/`unshare(2)` takes and the kernel that introduced each (the course's table plus the two
newer kinds):
""")
    L.setup(extra_imports="from minidocker.kernel import namespaces\nfrom minidocker.lab.render import md_table, ns_table, ns_picture, sanitize\nimport time")
    L.code("""
md_table([{"kind": f"`{k.name}`", "flag": f"`{k.flag_name}`", "since Linux": k.since, "isolates": k.isolates,
           "by hand": f"`unshare {k.unshare_opt}`"} for k in namespaces.NAMESPACES])""")
    L.md("""
We need a container that stays up while we look at it:
""")
    L.code("""
sh("minidocker run -d --name l06-box -h l06-box busybox sleep 600", show=False)
pid = int(sh("minidocker inspect -f '{{.State.Pid}}' l06-box", show=False).stdout)
print("the container's PID 1 is an ordinary process on the host: it has a host PID too")""")
    L.md("""
## The course's comparison: `ls -l /proc/$$/ns`

Each process has a directory `/proc/PID/ns` with one link per namespace kind; the number in
brackets is the namespace's **inode**: two processes are in the same namespace exactly when the
numbers are equal. The course compares a host shell (`$$`) with a container's PID 1. Here is the
same, for this notebook's kernel and the container:
""")
    L.code("""
sh("ls -l /proc/$$/ns | tail -n +2 | awk '{print $9, $10, $11}'")
sh(f"ls -l /proc/{pid}/ns | tail -n +2 | awk '{{print $9, $10, $11}}'")""")
    L.md("""
Side by side, the rows that differ highlighted:
""")
    L.code("""
table = ns_table(os.getpid(), pid, labels=("host (this notebook)", "container l06-box"))
table""")
    L.code("""
print("own namespaces:", ", ".join(table.differ))
print("shared with the host:", ", ".join(table.shared))""")
    L.code("""
fig = ns_picture(table, title="l06-box vs the host: same inode = same namespace (ls -l /proc/PID/ns)")""")
    L.md("""
As in the course's output, the **user** namespace is shared: docker does not use user namespaces
by default (root in the container is root on the host, with fewer capabilities), and neither does
minidocker. The **time** namespace is shared too: docker does not create one either. Everything
else is the container's own. Now each kind, shown by what it changes.

## uts: the hostname

UTS ("UNIX Time-sharing System") holds the hostname and NIS domain name. `-h` sets the
container's; the host's does not change.
""")
    L.code("""
sh("minidocker exec l06-box hostname")
print("host's hostname is different:", sh("hostname", show=False).stdout.strip() != "l06-box")""")
    L.md("""
## pid: process numbers

Inside, the container sees only its own processes, numbered from 1. The host sees the same
processes with other numbers.
""")
    L.code("""
sh("minidocker exec l06-box ps -o pid,comm")
host_view = sh(f"ps -o pid=,comm= -p {pid}", show=False).stdout.split()
print(f"the host sees the container's PID 1 as: {host_view[1]}, with a host PID that is not 1: {int(host_view[0]) != 1}")
print("and the host sees many more processes than 2:", len([p for p in os.listdir('/proc') if p.isdigit()]) > 10)""")
    L.md("""
`/proc/PID/status` shows both numbers at once (`NSpid`: the PID in each namespace, outermost
first):
""")
    L.code("""
nspid = [l for l in open(f"/proc/{pid}/status") if l.startswith("NSpid")][0].split()
print("NSpid:", "<host pid>", nspid[2], "  <- the same process, PID 1 in its own namespace")""")
    L.md("""
## mnt: the mount table

The container has its own list of mounts: its `/` is the overlay of the image (lesson 8), and its
`/proc` is a new proc filesystem that only shows its PID namespace.
""")
    L.code("""
sh("minidocker exec l06-box sh -c 'grep -E \\" / | /proc \\" /proc/mounts | cut -d\\" \\" -f1-3'")
host_root = sh("findmnt -no FSTYPE /", show=False).stdout.strip()
print("the host's / is not an overlay:", host_root != "overlay")""")
    L.md("""
## net: the network stack

Interfaces, addresses, routes, firewall rules and ports are per namespace. With `--network none`
a container gets a network namespace with nothing but its own loopback (`lo`); lesson 9 wires
one to the outside.
""")
    L.code("""
sh("minidocker run --rm --network none busybox ip -o link | cut -d: -f2")
n_host = len(os.listdir("/sys/class/net"))
print("interfaces on the host: more than 1:", n_host > 1)""")
    L.md("""
## ipc: System V IPC and POSIX message queues

Create a System V message queue on the host with `ipcmk`; the kernel lists the queues of *its*
IPC namespace in `/proc/sysvipc/msg`. The container's list is empty.
""")
    L.code("""
qid = sh("ipcmk -Q", show=False).stdout.split()[-1]
host_q = sh("tail -n +2 /proc/sysvipc/msg | wc -l", show=False).stdout.strip()
cont_q = sh("minidocker exec l06-box sh -c 'tail -n +2 /proc/sysvipc/msg | wc -l'", show=False).stdout.strip()
print("message queues the host sees: at least 1:", int(host_q) >= 1, "| the container sees:", cont_q)
sh(f"ipcrm -q {qid}", show=False);""")
    L.md("""
## cgroup: the container's view of cgroups

`/proc/self/cgroup` names the cgroup a process is in. Seen from the host, the container's PID 1
is in `/minidocker/<id>`; inside its cgroup namespace, the same cgroup is its root `/`.
""")
    L.code("""
host_cg = [l.strip() for l in open(f"/proc/{pid}/cgroup") if "memory" in l or l.startswith("0::")][0]
print("from the host:", sanitize(host_cg.split(":")[-1]))
print("from inside (the same cgroup):")
sh("minidocker exec l06-box sh -c 'grep -E \\"memory|^0::\\" /proc/self/cgroup | head -1 | cut -d: -f3'")""")
    L.md("""
## user: who is root

minidocker (like docker) does not create a user namespace, so `root` in a container is uid 0 of
the host. The kernel feature itself is one `unshare` away: here an unprivileged user (`nobody`,
uid 65534) becomes "root" inside a new user namespace, where `uid_map` says: uid 0 inside =
uid 65534 outside. This is how rootless containers (podman, rootless docker) work.
""")
    L.code("""
from minidocker.lab import doctor
if doctor.check_userns().status == "ok":
    sh("setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user --map-root-user "
       "sh -c 'echo inside: $(id -u); cat /proc/self/uid_map'")
else:
    print("skipped: user namespaces are disabled here (see lesson 0)")""")
    L.md("""
## time: the clocks (Linux 5.6+)

The newest kind gives a process its own offsets for the boot-time and monotonic clocks (so a
container moved to another machine keeps its uptime). Not used by docker; `unshare` shows it:
""")
    L.code("""
if doctor.kernel_version() >= (5, 6):
    host_up = float(open("/proc/uptime").read().split()[0])
    inside = float(sh("unshare --time --boottime 86400 --fork cat /proc/uptime", show=False).stdout.split()[0])
    print("uptime inside a time namespace with --boottime 86400 is one day more:", abs(inside - host_up - 86400) < 60)
else:
    print("skipped: this kernel has no time namespace")""")
    L.md("""
## Under the hood

One `unshare(2)` call with six `CLONE_NEW*` flags makes all of the container's namespaces at once;
`exec` enters them with `setns(2)` (`nsenter`). You can type the same commands yourself — try
`unshare --uts --fork sh -c 'hostname inside; hostname'` in a terminal.
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run --rm --network none -h l06-traced busybox hostname")
explain(t, kinds=("unshare", "hostname", "exec"), calls=True)
with minidocker.trace() as t:
    sh("minidocker exec l06-box true", show=False)
explain(t, kinds=("setns",), calls=True)""")
    L.teardown()
    return L
