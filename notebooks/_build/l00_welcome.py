from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("00-welcome-and-doctor.ipynb", "Welcome and environment check", "l00-", 1,
               "how the lessons work; the doctor checks root, kernel, cgroup v1/v2, overlay, iptables, "
               "user namespaces, SELinux; a first container and its explain trace")
    L.md("""
# Lesson 0 — Welcome, and is this machine ready?

This course follows the chapters of *走进Docker的世界* (Into the world of Docker). Each lesson is a
notebook you run **top to bottom**: a sentence saying *why*, a cell that does it, its output, and
now and then a picture. Everything runs for real on this Linux kernel, with **minidocker**, a
container runtime written in Python to be *read*: when a lesson says "the runtime calls
`pivot_root`", you can open `minidocker/runtime/init.py` and find the line.

| lesson | chapter of the course | what you will see |
|---|---|---|
| 0 | — | this check |
| 1 | 1.1–1.3 为什么用Docker, 底层原理 | client/daemon, containerd, runc, OCI |
| 2 | 1.5.1–1.5.3 镜像 image, 容器 container, 仓库 registry | names of images, image vs container |
| 3 | 1.5.4 Dockerfile | every instruction, CMD vs ENTRYPOINT, the build cache |
| 4 | 1.5.5 常用操作 daily operations | run, exec, a local registry on port 5000, volumes, cp |
| 5 | 1.5.6 理解容器本质 the essence of a container | PID 1, signals, zombies |
| 6 | 1.6.1 Namespace 命名空间 | the isolation, kind by kind |
| 7 | 1.6.2 CGroup 控制组 | limits: the deadloop demo, memory, pids |
| 8 | 1.6.3 UnionFS 联合文件系统 | layers, copy-up, whiteouts |
| 9 | 2 Docker网络 networking | the three questions of the chapter |
| 10 | 1.5.7 capstone | the myblog flow, offline |

**How to run:** JupyterLab as root (`make lab` does it), then *Run → Run All Cells*. Every lesson
starts by removing what an interrupted earlier run left behind, and ends with a clean-up cell.
""")
    L.setup()
    L.md("""
## The doctor

Containers are not a program you install: they are a handful of Linux kernel features
(namespaces 命名空间, cgroups 控制组, overlayfs 联合文件系统, netfilter) used together. The
doctor looks at each one the lessons need and, when something is missing, says what to do.
It only *reads* (files in `/proc` and `/sys`, `iptables --version`): running it changes nothing.
""")
    L.code("""
# nbval-ignore-output: the details are this machine's (kernel release, tool paths).
# The verdict is checked in the next cell.
from minidocker.lab import doctor
report = doctor.run_all()
report""", tags=["nbval-ignore-output"])
    L.code("""
print("ready for the lessons:", report.ok)
print("checks run:", ", ".join(c.name for c in report))""")
    L.md("""
What each line means, and which lesson needs it:

* **root** — creating namespaces, mounting filesystems and writing cgroup files are privileged
  operations. In the VM you are root; on your own laptop use `sudo make lab`.
* **kernel** — each namespace kind arrived in a different release (the table in lesson 6 lists
  them); the *time* namespace is the newest (5.6).
* **cgroup version** — *cgroup v1* has one directory tree per controller
  (`/sys/fs/cgroup/cpu/...`, `/sys/fs/cgroup/memory/...`), exactly as the course's seed shows;
  *cgroup v2* has one tree with all controllers (EL9, Debian 12 and Ubuntu 22.04 default to it).
  minidocker speaks both, and lesson 7 shows the file names side by side.
* **overlayfs** — the union filesystem 联合文件系统 that stacks image layers (lesson 8).
* **iptables backend** — `-p 8080:80` is a NAT rule (lesson 9). Modern distributions run the
  `iptables` command on top of *nftables* (`nf_tables` backend); older ones use `legacy`.
  Both work; what matters is that one tool manages the rules.
* **user namespaces** — on EL7 `user.max_user_namespaces` was 0: the kernel refused to create them.
* **SELinux** — on EL9 it is *enforcing* by default. Docker labels container files so SELinux
  lets them through; minidocker does not, so if a lesson fails with *Permission denied* while you
  are root, SELinux is the first suspect (`ausearch -m avc -ts recent`).

You can look at each of these yourself:
""")
    L.code("""
# nbval-ignore-output: machine-specific values (kernel release, v1 tmpfs vs v2 cgroup2fs).
sh("uname -r")
sh("stat -fc %T /sys/fs/cgroup     # tmpfs: cgroup v1 (or hybrid); cgroup2fs: cgroup v2")
sh("grep -w overlay /proc/filesystems")
sh("iptables --version")
sh("cat /proc/sys/user/max_user_namespaces")
sh("getenforce 2>/dev/null || echo 'SELinux: not installed'")""", tags=["nbval-ignore-output"])
    L.md("""
## Your first container 容器

`minidocker` takes the same verbs and flags as `docker`. The image 镜像 `busybox` is built
offline from the host's `busybox-static` package the first time you use it, so no lesson needs
the internet.
""")
    L.code("""sh("minidocker run --rm busybox echo hello from a container")""")
    L.md("""
That took about a second, and a lot happened. Every lesson shows at least once **what minidocker
did under the hood**: wrap any code in `with minidocker.trace() as t:` and `explain(t)` prints each
kernel step as the shell command you could type instead (the same as `minidocker --explain run ...`
in a terminal). Long ids are shortened to `<id>` and process numbers to `<pid>` so the lines fit.
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run --rm busybox echo hello again")
explain(t, kinds=("unshare", "pivot_root", "hostname", "exec"), grep=r"-t (overlay|proc|sysfs) ")""")
    L.md("""
Read it from the top: new namespaces (`unshare`), the image's layers stacked with overlayfs
(`mount -t overlay`), `/proc`, `/sys` and `/dev` mounted inside, `pivot_root` to make the stack
the root `/`, a hostname, and finally `exec` of your command. The lessons take these steps one at
a time. The cgroup steps (`mkdir /sys/fs/cgroup/...`) and network steps (`ip link add ...`) are in
the trace too:
""")
    L.code("""
from collections import Counter
counts = Counter(s.kind for s in t.steps)
print("more than 30 kernel steps in one `run`:", len(t.steps) > 30)
print("among them cgroup, network (ip) and mount steps:", all(counts[k] for k in ("cgroup", "ip", "mount")))
# print(counts) shows how many of each kind""")
    L.teardown()
    return L
