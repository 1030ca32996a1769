from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("02-images-containers-registries.ipynb", "Images, containers, registries", "l02-", 1,
               "镜像 image / 容器 container / 仓库 registry; how `nginx` becomes "
               "docker.io/library/nginx:latest; one image, many containers; the four kinds of public images")
    L.md("""
# Lesson 2 — Images 镜像, containers 容器, registries 仓库

*Course sections 1.5.1–1.5.3.* Docker's three core elements 三大核心要素:

* an **image 镜像** packs the application's code and everything it needs to run. It is *static
  files*: an image cannot serve anything by itself.
* a **container 容器** is an image *running*: the image's files plus a process (or several)
  that can serve.
* a **registry 仓库** is where images are stored: public ones (Docker Hub, Alibaba, NetEase...)
  or private ones inside a company (Docker Registry, or Harbor, which adds a web UI, roles and
  audit logs on top of it).

Containers and registries never talk to each other directly: **the image is what travels** —
pulled from a registry, run as containers, committed from a container, pushed to a registry.
""")
    L.setup(extra_imports="from minidocker.image import reference\nfrom minidocker.lab.render import md_table")
    L.md("""
## How an image is named

An image's address looks like `registry.devops.com/demo/hello:latest`: a registry host, a path,
a tag. The parts can be left out: without a registry, Docker Hub (`docker.io`) is meant; a name
on Docker Hub without a `/` is an official image under `library/`; without a tag, `latest`. So
`docker pull nginx` means `docker.io/library/nginx:latest`.

`minidocker.image.reference.parse` follows exactly docker's rules:
""")
    L.code("""
examples = ["nginx", "nginx:alpine", "library/nginx", "demo/hello", "registry.devops.com/demo/hello:latest",
            "localhost:5000/nginx:alpine", "index.docker.io/library/redis:7", "python:3.12-slim",
            "busybox@sha256:" + "ab" * 32]
rows = []
for text in examples:
    r = reference.parse(text)
    rows.append({"you type": f"`{text}`", "registry": r.domain, "repository path": r.path,
                 "tag": r.tag or "(none: pinned by digest)", "full reference": f"`{r}`"})
md_table(rows)""")
    L.md("""
How does docker tell `demo/hello` (a user on Docker Hub) from `localhost:5000/nginx` (a registry)?
The text before the first `/` is a registry only if it contains a `.` or a `:`, or is
`localhost`. Names have rules too: lowercase letters, digits and separators. A wrong name is
an error with a hint, not a surprise later:
""")
    L.code("""
for bad in ["Nginx", "nginx:", "my_registry:5000/app"]:
    try:
        reference.parse(bad)
        print(f"{bad!r:26} ok")
    except minidocker.MinidockerError as e:
        print(f"{bad!r:26} refused: {e}")""")
    L.md("""
## The four kinds of images in a public registry

| kind | examples from the course | what is inside |
|---|---|---|
| operating system base images 操作系统基础镜像 | centos, ubuntu, suse, alpine | a distribution's userland: shell, package manager, libc |
| middleware 中间件 | nginx, redis, mysql, tomcat | one server program, configured to run in the foreground |
| language runtimes 语言编译环境 | python, java, golang | an interpreter or compiler on top of a base image |
| business images 业务镜像 | django-demo... | *your* application, built `FROM` one of the above (lessons 3 and 10) |

Each kind is built on the one above it: that stacking is what layers are (lesson 8). This lab
works offline, so its one base image, `busybox`, is built from the host's `busybox-static`: one
static binary that is ~270 programs at once.
""")
    L.code("""sh("minidocker images")""")
    L.code("""
sh("minidocker run --rm busybox sh -c 'ls /bin | wc -l; ls -i /bin/ls /bin/sh /bin/cat'")""", tags=[])
    L.md("""
`ls`, `sh` and `cat` have the **same inode number**: they are hard links to one file, busybox,
which looks at the name it was started under.

With internet access (in the VM), pulling a real image works as with docker. This cell is skipped
offline and in tests:
""")
    L.code("""
from minidocker.lab.render import online
if online():
    sh("minidocker pull alpine:3.19")
    sh("minidocker run --rm alpine:3.19 cat /etc/os-release")
    sh("minidocker rmi alpine:3.19")
else:
    print("skipped: offline (set by MINIDOCKER_OFFLINE=1 or no default route)")""", tags=["nbval-skip"])
    L.md("""
## One image, many containers

The image is read-only and shared; every container gets its own writable layer on top. Start
two containers from the same image and write a different file in each:
""")
    L.code("""
sh("minidocker run --name l02-a busybox sh -c 'echo I am a > /hello.txt'", show=False)
sh("minidocker run --name l02-b busybox sh -c 'echo I am b > /hello.txt; rm /bin/vi'", show=False)
sh("minidocker ps -a --format '{{.Names}}  {{.Image}}  {{.Status}}' | grep l02- | sort")""")
    L.md("""
Both have exited, and both still exist (`ps -a`): a stopped container keeps its files until
`rm`. `minidocker diff` lists what each one changed compared with the image (A added, C changed,
D deleted):
""")
    L.code("""
sh("minidocker diff l02-a")
sh("minidocker diff l02-b")""")
    L.code("""
# the image itself did not change: a new container still has vi and no hello.txt
sh("minidocker run --rm busybox sh -c 'ls /hello.txt 2>&1; ls /bin/vi'", check=False)""")
    L.md("""
## Under the hood: the image is the lower layer, the container the upper one

The trace of one `run` shows it: the image's layer directories are mounted read-only as
`lowerdir`, the container's own directory as `upperdir`, merged by overlayfs into the root the
container sees. Lesson 8 takes this apart.
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run --rm busybox true", show=False)
explain(t, grep="-t overlay")""")
    L.md("""
And the registry side: `tag` gives an image one more name (no copy: the same image id), the name
a `push` would use (lesson 4 pushes to a registry on `localhost:5000`):
""")
    L.code("""
sh("minidocker tag busybox localhost:5000/l02/busybox:v1")
sh("minidocker images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep busybox | sort")""")
    L.teardown(images=("localhost:5000/l02/busybox:v1",))
    return L
