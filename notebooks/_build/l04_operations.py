from nb import Lesson

WEB = '''FROM busybox
RUN mkdir -p /www && echo "<h1>my web image</h1>" > /www/index.html
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
'''


def lesson() -> Lesson:
    L = Lesson("04-daily-operations.ipynb", "Daily operations", "l04-", 2,
               "常用操作: the course's command list run with minidocker: run -d, exec -it, build -f, a local "
               "registry on port 5000 (as a container), tag, push, _catalog and tags/list, --memory=500m, "
               "-v data that survives the container, cp both ways, inspect -f GraphDriver")
    L.md("""
# Lesson 4 — Daily operations 常用操作

*Course section 1.5.5.* The course's list of everyday commands, each run here with `minidocker`
(same verbs and flags as `docker`). Where the course pulls from Docker Hub (`nginx:alpine`,
`registry:2`), this lesson builds the equivalent offline, so it runs anywhere.
""")
    L.setup(extra_imports="import json, time, urllib.request\nfrom minidocker.lab.render import wait_http, localize",
            images=("l04/web:v1", "localhost:5000/l04/web:v1", "registry:2"), volumes=("l04-vol",),
            extra='sh("rm -rf /tmp/l04-ctx /tmp/l04-registry-ctx /tmp/l04-mysql /tmp/l04-test.txt /tmp/l04-back.txt", show=False)')
    L.md("""
## Pull an image (online only)

`docker pull nginx:alpine` downloads from Docker Hub. In the VM with internet this cell does it;
offline (and in tests) it is skipped, and the lesson uses images built locally.
""")
    L.code("""
from minidocker.lab.render import online
if online():
    sh("minidocker pull nginx:alpine")
else:
    print("skipped: offline")""", tags=["nbval-skip"])
    L.md("""
## Build an image: `build . -t NAME:TAG -f Dockerfile`
""")
    L.code(f'''
ctx = "/tmp/l04-ctx"
os.makedirs(ctx)
open(f"{{ctx}}/Dockerfile.web", "w").write({WEB!r})
sh(f"cd {{ctx}} && minidocker build . -t l04/web:v1 -f Dockerfile.web -q", show=False)
sh("minidocker images l04/web --format '{{{{.Repository}}}}:{{{{.Tag}}}}'")''')
    L.md("""
## Start a container in the background: `run --name NAME -d IMAGE`
""")
    L.code("""
sh("minidocker run --name l04-web -d l04/web:v1", show=False)
sh("minidocker ps --format '{{.Names}} {{.Image}} {{.Status}}' | grep l04-web")""")
    L.md("""
## Get a shell inside: `exec -it CONTAINER /bin/sh`

`-i` keeps stdin open, `-t` allocates a pseudo-terminal: together, an interactive shell. A notebook
cell has no terminal, so `script` provides one here (in a JupyterLab *terminal* just type
`minidocker exec -it l04-web /bin/sh`, and `exit` to leave):
""")
    L.code("""
sh("script -qec \\"minidocker exec -it l04-web sh -c 'tty; echo inside: \\$(hostname); ps -o pid,comm'\\" /dev/null < /dev/null")""")
    L.md("""
## A private registry on port 5000

The course: `docker run -d -p 5000:5000 --restart always --name registry registry:2`. The
`registry:2` image is Docker's *distribution* registry; Debian packages the same program as
`docker-registry`, so we build `registry:2` from it — a good example of packaging a binary that
needs shared libraries. (Where that package does not exist, e.g. EL9, the cell pulls `registry:2`
from Docker Hub when online, and the registry cells are skipped when it cannot.)
""")
    L.code("""
from minidocker.lab.render import REGISTRY_DOCKERFILE, registry_image
print(REGISTRY_DOCKERFILE)
how = registry_image("registry:2", "/tmp/l04-registry-ctx")   # None: no registry possible here
print("registry:2", how)
if how:
    sh("minidocker run -d -p 5000:5000 --restart always --name l04-registry registry:2", show=False)
    print("registry answering on localhost:5000:", wait_http("http://localhost:5000/v2/"))""")
    L.md("""
`tag` gives the image a name that says *where it goes* (the registry `localhost:5000`), `push`
uploads its layers and manifest:
""")
    L.code("""
if how:
    sh("minidocker tag l04/web:v1 localhost:5000/l04/web:v1")
    # the per-layer progress lines come in any order (uploads run in parallel): show the summary
    sh("minidocker push localhost:5000/l04/web:v1 | tail -1")
else:
    print("skipped: no registry (see above)")""")
    L.md("""
The registry's HTTP API (the course uses `curl -X GET`): `_catalog` lists repositories,
`tags/list` the tags of one:
""")
    L.code("""
if how:
    sh("curl -s -X GET localhost:5000/v2/_catalog")
    sh("curl -s -X GET localhost:5000/v2/l04/web/tags/list")
else:
    print("skipped: no registry (see above)")""")
    L.md("""
Remove the local copy and pull it back from our registry:
""")
    L.code("""
if how:
    sh("minidocker rmi localhost:5000/l04/web:v1")
    sh("minidocker pull localhost:5000/l04/web:v1 | tail -2")
else:
    print("skipped: no registry (see above)")""")
    L.md("""
## Limit memory: `run --memory=500m`

The limit is a cgroup file (lesson 7); `inspect` shows it in bytes (500 × 1024 × 1024):
""")
    L.code("""
sh("minidocker run -d --name l04-limited --memory=500m busybox sleep 300", show=False)
sh("minidocker inspect -f '{{.HostConfig.Memory}}' l04-limited")""")
    L.md("""
## Keep data: `-v HOSTDIR:CONTAINERDIR`

A container's own files disappear with it (`rm`). The course runs MySQL with
`-v /opt/mysql/:/var/lib/mysql`: the database files live in a host directory, mounted into the
container, so they survive the container. Same idea with a tiny "database":
""")
    L.code("""
sh("minidocker run --rm --name l04-db1 -v /tmp/l04-mysql:/var/lib/mysql busybox "
   "sh -c 'echo row1 >> /var/lib/mysql/table.txt; echo wrote a row'")
sh("minidocker run --rm --name l04-db2 -v /tmp/l04-mysql:/var/lib/mysql busybox "
   "sh -c 'echo row2 >> /var/lib/mysql/table.txt; cat /var/lib/mysql/table.txt'")
sh("cat /tmp/l04-mysql/table.txt   # on the host")""")
    L.md("""
Both containers are gone (`--rm`), the data is not. A **named volume** does the same without
choosing a host path (minidocker keeps it under its state directory):
""")
    L.code("""
sh("minidocker volume create l04-vol")
sh("minidocker run --rm -v l04-vol:/data busybox sh -c 'echo kept > /data/f'", show=False)
sh("minidocker run --rm -v l04-vol:/data busybox cat /data/f")
vol = json.loads(sh("minidocker volume inspect l04-vol", show=False).stdout)[0]
print("the volume lives on the host at:", localize(vol["Mountpoint"]))""")
    L.md("""
## Copy files in and out: `cp`
""")
    L.code("""
open("/tmp/l04-test.txt", "w").write("made on the host\\n")
sh("minidocker cp /tmp/l04-test.txt l04-web:/tmp")
sh("minidocker exec l04-web sh -c 'echo changed inside >> /tmp/l04-test.txt'")
sh("minidocker cp l04-web:/tmp/l04-test.txt /tmp/l04-back.txt")
sh("cat /tmp/l04-back.txt")""")
    L.md("""
## Look inside: `inspect -f '{{.GraphDriver.Name}}'`

`inspect` prints everything as JSON; `-f` takes a Go-template path into it:
""")
    L.code("""
sh("minidocker inspect l04-web -f '{{.GraphDriver.Name}}'")
sh("minidocker inspect l04-web -f '{{.Config.Image}} {{.State.Status}} {{.HostConfig.RestartPolicy.Name}}'")
if how:
    sh("minidocker inspect l04-registry -f '{{.HostConfig.RestartPolicy.Name}}'")""")
    L.md("""
## Under the hood: what `-v` is

A bind mount, made inside the container's mount namespace before `pivot_root`:
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run --rm -v /tmp/l04-mysql:/var/lib/mysql busybox true", show=False)
explain(t, grep="l04-mysql")""")
    L.teardown(images=("l04/web:v1", "localhost:5000/l04/web:v1", "registry:2"), volumes=("l04-vol",),
               extra='sh("rm -rf /tmp/l04-ctx /tmp/l04-registry-ctx /tmp/l04-mysql /tmp/l04-test.txt /tmp/l04-back.txt", show=False)')
    return L
