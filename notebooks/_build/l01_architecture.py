from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("01-why-and-architecture.ipynb", "Why containers, and the architecture", "l01-", 1,
               "a container is a host process; client/daemon, containerd, shim, runc and OCI mapped to "
               "minidocker's files (diagram); the same image handed to runc via umoci")
    L.md("""
# Lesson 1 — Why containers 为什么用Docker, and how Docker is built 底层原理

*Course sections 1.1–1.3.*

Docker began at dotCloud, a hosting company in San Francisco that ran customers' applications
in **Linux containers (LXC)**: isolation and resource limits provided by the operating system's
kernel itself, not by a hypervisor. Their internal tool to create and manage those containers
became Docker. What it gives you (1.2 Docker知识点):

* package an application and everything it needs to run as an **image 镜像**, the unit you ship;
* start images as **containers 容器** and manage their life (start, stop, remove 启、停、删);
* containers are isolated from each other, and each can get **resource limits 资源限额**;
* lightweight virtualization: a container is *a space inside the host*, not a second machine;
* a **client/server (CS) architecture**: the `docker` command talks to a daemon.

This lesson makes the first and fourth points concrete, then draws the architecture.
""")
    L.setup(extra='sh("runc delete -f l01-runc 2>/dev/null; rm -rf /tmp/l01-bundle", show=False)')
    L.md("""
## A container is a process on the host

Start a container that sleeps in the background (`-d`, detached), and look for it **from the host**.
""")
    L.code("""
sh("minidocker run -d --name l01-sleeper busybox sleep 300", show=False)
pid = sh("minidocker inspect -f '{{.State.Pid}}' l01-sleeper", show=False).stdout.strip()
# the container's main process, as the host's `ps` sees it: an ordinary process
sh(f"ps -o user,comm,args -p {pid}")""")
    L.md("""
No virtual machine, no second kernel: `sleep 300` runs on this kernel, in the host's process
table, like any other program. What makes it a *container* is what the kernel was told about it
(which namespaces 命名空间 it sees, which cgroup 控制组 limits it). One consequence: the kernel
inside is the host's kernel.
""")
    L.code("""
host_kernel = sh("uname -r", show=False).stdout.strip()
container_kernel = sh("minidocker exec l01-sleeper uname -r", show=False).stdout.strip()
print("same kernel inside and outside:", host_kernel == container_kernel)""")
    L.md("""
A virtual machine boots its own kernel on emulated hardware through a hypervisor; that costs
seconds and hundreds of MB. A container costs a process and a few kernel objects:
""")
    L.code("""
import time
t0 = time.monotonic()
sh("minidocker run --rm busybox true", show=False)
took = time.monotonic() - t0
print("one container created, run and removed in under 10 seconds:", took < 10)
print(f"(this time: {took:.1f} s; most of it is Python starting up, twice)")""", tags=[])
    L.md("""
## The architecture (1.3 Docker底层原理)

The course's picture: the `docker` **client** sends your command over a socket to **dockerd**,
the daemon; dockerd asks **containerd** (images, container lifecycle); containerd starts a
**containerd-shim** per container (it holds the container's stdio and collects its exit code),
and the shim runs **runc**, the low-level runtime that talks to the kernel (runc is built on
*libcontainer*). runc implements the **OCI** (Open Container Initiative) runtime specification:
given a *bundle* — a root filesystem plus a `config.json` — it creates the container.

minidocker does the same jobs in fewer processes: there is no daemon (like podman), the CLI does
the work itself, and one **monitor** process stays with each running container (like the shim).
Each row of the picture is one job; on the right is the file that does it here.
""")
    L.code("""
from minidocker.lab.render import architecture_picture
fig = architecture_picture()""")
    L.md("""
You can see the monitor: it is the parent of the container's PID 1.
""")
    L.code("""
ppid = sh(f"ps -o ppid= -p {pid}", show=False).stdout.strip()
monitor = open(f"/proc/{ppid}/cmdline").read().split("\\0")
print("the parent of the container's PID 1 was started as: minidocker", " ".join(monitor[monitor.index("run"):]).strip())""")
    L.md("""
## OCI: two standards, two interchangeable halves

* The **OCI image spec** says how an image is stored: an `index.json`, manifests, configs and
  layer tarballs, each file named by its sha256 digest. minidocker's image store *is* an OCI
  image layout, so other OCI tools can read it.
* The **OCI runtime spec** says what a runtime gets: a directory with `rootfs/` and `config.json`
  (process args, env, cwd, hostname, namespaces, mounts, cgroup limits).

`umoci`, an independent OCI tool, reads minidocker's image store and unpacks an image into a
runtime bundle:
""")
    L.code("""
import json, shutil
from minidocker import params
bundle = "/tmp/l01-bundle"
shutil.rmtree(bundle, ignore_errors=True)   # umoci wants to create the directory itself
store = os.path.join(params.lib_root(), "image")
sh(f"cat {store}/oci-layout; echo")
# index.json lists the images; the annotation org.opencontainers.image.ref.name is the tag OCI tools use
index = json.load(open(f"{store}/index.json"))
entry = next(m for m in index["manifests"]
             if m["annotations"].get("io.containerd.image.name") == "docker.io/library/busybox:latest")
ref = entry["annotations"]["org.opencontainers.image.ref.name"]
print("busybox in index.json:", entry["mediaType"], "tag for OCI tools:", ref)
if shutil.which("umoci"):
    sh(f"umoci unpack --image {store}:{ref} {bundle} >/dev/null 2>&1", show=False)
    sh(f"ls {bundle}")
else:
    print("umoci is not installed here (EL9 has no package): skipped; the next cells do not need it")""")
    L.md("""
That was the *image* standard: another tool read our store. Now the *runtime* standard: minidocker
writes the container it would run — the image's files plus the config built from the image and
your flags — as an OCI bundle (`minidocker bundle create`). Its `config.json` is what runc reads:
""")
    L.code("""
shutil.rmtree(bundle, ignore_errors=True)
sh(f"minidocker bundle create busybox {bundle} sh -c 'echo hello from $(hostname), pid $$'", show=False)
spec = json.load(open(f"{bundle}/config.json"))
print("ociVersion:  ", spec["ociVersion"])
print("process.args:", spec["process"]["args"])
print("process.env: ", spec["process"]["env"][:1], "...")
print("process.cwd: ", spec["process"]["cwd"], "| hostname:", spec["hostname"])
print("namespaces:  ", [n["type"] for n in spec["linux"]["namespaces"]])
print("root.path:   ", spec["root"]["path"], "(the image's layers, copied into", sorted(os.listdir(bundle)), ")")""")
    L.md("""
Hand the same bundle to runc, Docker's own low-level runtime, then to minidocker. runc prints
nothing of its own: what you see is the container, the same from both:
""")
    L.code("""
sh(f"cd {bundle} && runc run l01-runc < /dev/null")
sh(f"minidocker bundle run {bundle}")
shutil.rmtree(bundle)""")
    L.md("""
## Under the hood

Every lesson shows once what minidocker asked the kernel to do. Here: `exec` into the running
container. The new process joins the container's cgroups (`echo 0 > tasks`: "0" means "me";
why not the usual `echo PID > cgroup.procs` is told in `docs/cgroups.md`) and
namespaces (`nsenter` is the shell tool for the same `setns(2)` calls), gives up the privileges
a container process does not get (`no_new_privs`; the full trace also drops capabilities and
loads a seccomp filter: print `t` to see every step) and runs `hostname`.
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker exec l01-sleeper hostname", show=False)
explain(t, kinds=("cgroup", "setns", "prctl", "exec"))""")
    L.teardown(extra='sh("runc delete -f l01-runc 2>/dev/null; rm -rf /tmp/l01-bundle", show=False)')
    return L
