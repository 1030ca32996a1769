from nb import Lesson

ALL = '''FROM busybox:latest
MAINTAINER Student <student@example.com>
LABEL course="docker-101" lesson="3"
ENV myName John
ENV myCat=fluffy GREETING="hello"
WORKDIR /a
WORKDIR b
COPY hom* /mydir/
ADD test relativeDir/
ADD test /absoluteDir/
RUN mkdir test && echo "built by RUN as $(id -u)" > test/built.txt && rm -rf /var/lib/unusedfiles
EXPOSE 80 443
EXPOSE 11211/tcp 11211/udp
CMD ["sh", "-c", "echo $GREETING $myName, cat: $myCat, workdir: $(pwd); ls /mydir; cat test/built.txt"]
'''

WEB = '''# the course's nginx-on-ubuntu example, offline: busybox's httpd instead of nginx
FROM busybox
RUN mkdir -p /www && echo "<h1>hello from a Dockerfile</h1>" > /www/index.html
EXPOSE 80
# the server must stay in the foreground: it is PID 1 (lesson 5), like nginx -g "daemon off;"
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
'''


def lesson() -> Lesson:
    L = Lesson("03-dockerfile.ipynb", "Dockerfile", "l03-", 2,
               "编写Dockerfile: every instruction of the course demonstrated by building small images; CMD vs "
               "ENTRYPOINT as a live table; the build cache and --no-cache; the nginx example rebuilt offline on httpd")
    L.md("""
# Lesson 3 — Writing a Dockerfile 编写Dockerfile

*Course section 1.5.4.* A **Dockerfile** is the recipe of an image: a base image, then steps
that add files and settings. `build` runs it and produces an image (镜像). Every instruction the
course lists is used below, in small images built here, offline.
""")
    L.setup(extra_imports="import json, time, urllib.request\nfrom minidocker.lab.render import md_table",
            images=("l03/all", "l03/web", "l03/cache", "l03/ep1", "l03/ep2", "l03/ep3", "l03/ep4"),
            extra='sh("rm -rf /tmp/l03-ctx", show=False)')
    L.md("""
## All the course's instructions in one file

* **FROM** the base image, first instruction (`FROM <image>:<tag>`; no tag means `latest`);
* **MAINTAINER** who maintains it (deprecated; docker turns it into the `Author` field — `LABEL
  maintainer=...` is today's way, and the course's Django example uses it);
* **LABEL** key/value metadata; **ENV** environment variables, both forms (`ENV k v`, `ENV k=v`);
* **WORKDIR** the working directory for the following `RUN`, `CMD`, `ENTRYPOINT`, `COPY`, `ADD`
  (a relative `WORKDIR` is relative to the previous one);
* **COPY / ADD** files from the build context (wildcards allowed: `hom*`; a relative destination
  is relative to `WORKDIR`);
* **RUN** a command at *build* time, in a temporary container; its changes become a layer;
* **EXPOSE** documents ports (it does **not** publish them: that is `-p`/`-P` at run time);
* **CMD** what runs when a container starts.
""")
    L.code(f'''
ctx = "/tmp/l03-ctx"
os.makedirs(ctx)
open(f"{{ctx}}/Dockerfile", "w").write({ALL!r})
for name in ("home.txt", "homework.txt", "other.txt", "test"):
    open(f"{{ctx}}/{{name}}", "w").write(f"the file {{name}}\\n")
print(open(f"{{ctx}}/Dockerfile").read())
# --no-cache: the same output every time you run the lesson (the cache is explained below)
sh(f"minidocker build --no-cache -t l03/all {{ctx}}")''')
    L.md("""
Each `Step` prints the instruction; a `RUN` shows the temporary container it ran in. Now run it:
the `CMD` shows the environment, the working directory, what `COPY hom*` took (`home.txt` and
`homework.txt`, not `other.txt`) and the file `RUN` made:
""")
    L.code("""
sh("minidocker run --rm l03/all")
sh("minidocker run --rm l03/all ls /a/b/relativeDir /absoluteDir")""")
    L.code("""
cfg = json.loads(sh("minidocker image inspect l03/all", show=False).stdout)[0]
print("Author (from MAINTAINER):", cfg.get("Author"))
print("Labels:", cfg["Config"].get("Labels"))
print("Env:", [e for e in cfg["Config"]["Env"] if not e.startswith("PATH=")])
print("WorkingDir:", cfg["Config"]["WorkingDir"], "| ExposedPorts:", sorted(cfg["Config"]["ExposedPorts"]))""")
    L.md("""
## CMD or ENTRYPOINT?

`CMD` has three forms: exec `["executable","param1"]` (preferred), parameters `["param1","param2"]`
(when there is an `ENTRYPOINT`: they become its default arguments), and shell `command param1`
(run by `/bin/sh -c`). `ENTRYPOINT` makes the image behave like an executable: arguments given to
`docker run IMAGE ARGS` **replace `CMD` but are appended to `ENTRYPOINT`**. A shell-form
`ENTRYPOINT` ignores them. Four small images, each run without and with arguments:
""")
    L.code("""
variants = {
    "l03/ep1": ['CMD ["echo", "from CMD"]'],
    "l03/ep2": ['ENTRYPOINT ["echo", "from ENTRYPOINT"]'],
    "l03/ep3": ['ENTRYPOINT ["echo", "from ENTRYPOINT"]', 'CMD ["default", "args"]'],
    "l03/ep4": ['ENTRYPOINT echo from shell-form ENTRYPOINT', 'CMD ["ignored"]'],
}
rows = []
for tag, lines in variants.items():
    os.makedirs(f"{ctx}/{tag}", exist_ok=True)
    open(f"{ctx}/{tag}/Dockerfile", "w").write("FROM busybox\\n" + "\\n".join(lines) + "\\n")
    sh(f"minidocker build -q -t {tag} {ctx}/{tag}", show=False)
    plain = sh(f"minidocker run --rm {tag}", show=False).stdout.strip()
    given = sh(f"minidocker run --rm {tag} hello world", show=False, check=False).stdout.strip()
    rows.append({"Dockerfile": " ; ".join(lines), "run IMAGE prints": plain or "(nothing)",
                 "run IMAGE hello world prints": given or "(nothing)"})
md_table(rows)""")
    L.md("""
Row 1: the arguments *replaced* CMD, so the container ran `hello world` — not a program: it fails,
and prints nothing. Row 3 is the useful pattern: a fixed program, default arguments you can
override. `--entrypoint` at run time replaces the ENTRYPOINT itself:
""")
    L.code("""sh("minidocker run --rm --entrypoint ls l03/ep3 /etc/hostname")""")
    L.md("""
## The build cache, and `--no-cache`

Each step's result is cached, keyed by the parent image and the instruction (and for `COPY`, the
files' content). Build once with `--no-cache` (so nothing from an earlier run of this lesson is
reused), then again: every step is reused — `Using cache` — and the slow `RUN` is skipped.
`--no-cache` runs everything again:
""")
    L.code("""
os.makedirs(f"{ctx}/cache")
open(f"{ctx}/cache/Dockerfile", "w").write("FROM busybox\\nRUN sleep 2 && date > /built-at\\nCMD cat /built-at\\n")
timings = {}
for label, flags in (("--no-cache", "--no-cache"), ("build again", ""), ("--no-cache", "--no-cache")):
    t0 = time.monotonic()
    out = sh(f"minidocker build {flags} -t l03/cache {ctx}/cache", show=False).stdout
    timings[label] = time.monotonic() - t0
    print(f"{label:13} 'Using cache' lines: {out.count('Using cache')}   took more than the 2 s RUN: {timings[label] > 2}")""")
    L.md("""
## The course's example: a web server image

The course builds nginx on ubuntu (`apt-get install nginx`), which needs the internet. The same
shape, offline, with busybox's `httpd`:
""")
    L.code(f'''
os.makedirs(f"{{ctx}}/web")
open(f"{{ctx}}/web/Dockerfile", "w").write({WEB!r})
sh(f"minidocker build -q -t l03/web {{ctx}}/web", show=False)
sh("minidocker run -d --name l03-web -p 18083:80 l03/web", show=False)
time.sleep(1)
print(urllib.request.urlopen("http://localhost:18083/", timeout=5).read().decode())''')
    L.md("""
`EXPOSE 80` alone publishes nothing; `-P` publishes every exposed port on a random free host port:
""")
    L.code("""
sh("minidocker run -d --name l03-web-noport l03/web", show=False)
sh("minidocker run -d --name l03-web-P -P l03/web", show=False)
print("without -p:", repr(sh("minidocker port l03-web-noport", show=False).stdout.strip()))
print("with -P:   ", sh("minidocker port l03-web-P", show=False).stdout.strip().split(" -> ")[0], "-> 0.0.0.0:<random port>")""")
    L.md("""
## Under the hood: a RUN step is a container

`build` runs each `RUN` in a temporary container from the previous step's image, then turns that
container's upper layer into the new layer (a `commit`, lesson 8). The trace of a one-RUN build:
""")
    L.code("""
os.makedirs(f"{ctx}/traced")
open(f"{ctx}/traced/Dockerfile", "w").write("FROM busybox\\nRUN echo traced > /t.txt\\n")
with minidocker.trace() as t:
    sh(f"minidocker build --no-cache -q {ctx}/traced", show=False)
explain(t, kinds=("unshare", "pivot_root", "exec"), grep="-t overlay")""")
    L.teardown(images=("l03/all", "l03/web", "l03/cache", "l03/ep1", "l03/ep2", "l03/ep3", "l03/ep4"),
               extra='sh("rm -rf /tmp/l03-ctx", show=False)')
    return L
