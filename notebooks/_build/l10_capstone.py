from nb import Lesson

DOCKERFILE = '''# This my first myblog Dockerfile (the course's Django example, adapted to run offline)
# Version 1.0

# Base images 基础镜像
FROM busybox

#MAINTAINER 维护者信息
LABEL maintainer="student@example.com"

#ENV 设置环境变量
ENV LANG en_US.UTF-8
ENV LC_ALL en_US.UTF-8

#工作目录
WORKDIR /opt/myblog

#拷贝文件至工作目录
COPY . .

#the course installs python, nginx and pip packages here; busybox already has a web server
RUN chmod +x run.sh www/cgi-bin/index.cgi && rm -rf ~/.cache

#EXPOSE 映射端口
EXPOSE 8002

#容器启动时执行命令
CMD ["./run.sh"]
'''

RUN_SH = '''#!/bin/sh
# start the web server in the foreground: it is PID 1 (lesson 5)
echo "myblog starting, database at $MYSQL_HOST as $MYSQL_USER"
exec httpd -f -p 8002 -h /opt/myblog/www
'''

INDEX_CGI = '''#!/bin/sh
# the blog's one page: configuration from the environment (-e), posts from the "database"
echo "Content-Type: text/plain"
echo
echo "myblog v1 -- connected to $MYSQL_HOST as $MYSQL_USER (password set: ${MYSQL_PASSWD:+yes})"
wget -qO- "http://$MYSQL_HOST:3306/posts.txt" || echo "database $MYSQL_HOST unreachable"
'''


def lesson() -> Lesson:
    L = Lesson("10-capstone-myblog.ipynb", "Capstone: myblog", "l10-", 2,
               "the course's myblog flow offline: a database container with a volume, the app built from a "
               "Dockerfile, run with -e configuration and -p on a user network, pushed to a local registry, "
               "removed, pulled back and run again")
    L.md("""
# Lesson 10 — Capstone: the myblog flow

*Course section 1.5.7* builds a Django blog (`myblog`) from a Dockerfile on CentOS, starts MySQL,
and runs the blog with its database settings passed as environment variables:

```
docker run -d -p 8002:8002 --name myblog -e MYSQL_HOST=... -e MYSQL_USER=root -e MYSQL_PASSWD=123456 myblog:v1
```

The same flow here, offline and small, using what the lessons taught: a "database" container that
keeps its data in a volume (lesson 4), the app image built from a Dockerfile with the course's
instructions (lesson 3), both on a network where names resolve (lesson 9), configuration with
`-e`, the port published with `-p`, and the image shipped through a registry on port 5000
(lesson 4). The stand-ins: busybox's `httpd` serves the blog (a CGI script), and a second `httpd`
serves the "database" table over port 3306.
""")
    L.setup(extra_imports="import json, time, urllib.request\nfrom minidocker.lab.render import registry_image, wait_http",
            images=("myblog:v1", "localhost:5000/myblog:v1", "registry:2"), networks=("l10-net",),
            extra='sh("rm -rf /tmp/l10-myblog /tmp/l10-mysql /tmp/l10-registry-ctx", show=False)')
    L.md("""
## 1. The database, with its data on the host
""")
    L.code("""
os.makedirs("/tmp/l10-mysql")
open("/tmp/l10-mysql/posts.txt", "w").write("post 1: containers are processes\\npost 2: images are layers\\n")
sh("minidocker network create l10-net", show=False)
sh("minidocker run -d --name l10-mysql --network l10-net -v /tmp/l10-mysql:/var/lib/mysql "
   "busybox httpd -f -p 3306 -h /var/lib/mysql", show=False)
sh("minidocker ps --format '{{.Names}} {{.Status}}' | grep l10-mysql")""")
    L.md("""
## 2. The application's source and its Dockerfile
""")
    L.code(f'''
src = "/tmp/l10-myblog"
os.makedirs(f"{{src}}/www/cgi-bin")
open(f"{{src}}/Dockerfile", "w").write({DOCKERFILE!r})
open(f"{{src}}/run.sh", "w").write({RUN_SH!r})
open(f"{{src}}/www/cgi-bin/index.cgi", "w").write({INDEX_CGI!r})
sh(f"cd {{src}} && find . -type f | sort && cat Dockerfile")''')
    L.md("""
## 3. Build `myblog:v1`
""")
    L.code("""
sh(f"minidocker build -t myblog:v1 {src} | grep -E '^Step|Successfully'")
sh("minidocker history myblog:v1 | head -4")""")
    L.md("""
## 4. Run it: `-e` for configuration, `-p` to publish, `--network` to find the database by name
""")
    L.code("""
sh("minidocker run -d -p 8002:8002 --name l10-myblog --network l10-net "
   "-e MYSQL_HOST=l10-mysql -e MYSQL_USER=root -e MYSQL_PASSWD=123456 myblog:v1", show=False)
print("blog answering:", wait_http("http://localhost:8002/cgi-bin/index.cgi"))
print(urllib.request.urlopen("http://localhost:8002/cgi-bin/index.cgi", timeout=5).read().decode())
sh("minidocker logs l10-myblog")""")
    L.md("""
The configuration is not in the image: the same image runs against another database with other
`-e` values. `inspect` shows what this container was given:
""")
    L.code("""
env = json.loads(sh("minidocker inspect l10-myblog", show=False).stdout)[0]["Config"]["Env"]
print([e for e in env if e.startswith("MYSQL_")])""")
    L.md("""
## 5. Ship it: a registry on port 5000, tag, push
""")
    L.code("""
how = registry_image("registry:2", "/tmp/l10-registry-ctx")   # lesson 4 shows how; None: impossible here
if how:
    sh("minidocker run -d -p 5000:5000 --name l10-registry registry:2", show=False)
    print("registry up:", wait_http("http://localhost:5000/v2/"))
    sh("minidocker tag myblog:v1 localhost:5000/myblog:v1")
    sh("minidocker push localhost:5000/myblog:v1 | tail -1")
    sh("curl -s localhost:5000/v2/_catalog; echo; curl -s localhost:5000/v2/myblog/tags/list")""")
    L.md("""
## 6. Another machine's view: remove everything local, pull, run again

Delete the running blog and both local names of the image, so the only copy is in the registry —
as on a fresh server — then pull and run it with the same command:
""")
    L.code("""
sh("minidocker rm -f l10-myblog", show=False)
image = "localhost:5000/myblog:v1" if how else "myblog:v1"   # without a registry: the local image
if how:
    sh("minidocker rmi myblog:v1 localhost:5000/myblog:v1")
    sh("minidocker pull localhost:5000/myblog:v1 | tail -1")
sh("minidocker run -d -p 8002:8002 --name l10-myblog2 --network l10-net "
   f"-e MYSQL_HOST=l10-mysql -e MYSQL_USER=root -e MYSQL_PASSWD=123456 {image}", show=False)
print("blog answering again:", wait_http("http://localhost:8002/cgi-bin/index.cgi"))
print(urllib.request.urlopen("http://localhost:8002/cgi-bin/index.cgi", timeout=5).read().decode())""")
    L.md("""
And the data? It never was in a container: it is in `/tmp/l10-mysql` on the host. A new post
written there shows up at once:
""")
    L.code("""
open("/tmp/l10-mysql/posts.txt", "a").write("post 3: data lives in volumes\\n")
print(urllib.request.urlopen("http://localhost:8002/cgi-bin/index.cgi", timeout=5).read().decode().splitlines()[-1])""")
    L.md("""
## Under the hood

A short-lived container on the same network, with the same `-e` setting, counting the posts:
the namespaces, the veth on `l10-net`, the overlay of the *pulled* layers, and the `exec` of the
command — `$MYSQL_HOST` is expanded inside the container, from its environment. The host's
steps and PID 1's are listed apart: they happen at the same time (PID 1 mounts its root while
minidocker wires the veth), and only "go" from the host lets PID 1 exec the command:
""")
    L.code("""
with minidocker.trace() as t:
    sh(f"minidocker run --rm --network l10-net -e MYSQL_HOST=l10-mysql {image} "
       "sh -c 'wget -qO- http://$MYSQL_HOST:3306/posts.txt | wc -l'")
explain(t, kinds=("unshare", "pivot_root", "exec"), grep="-t overlay|ip link add", calls=False, sides=True)""")
    L.teardown(images=("myblog:v1", "localhost:5000/myblog:v1", "registry:2"), networks=("l10-net",),
               extra='sh("rm -rf /tmp/l10-myblog /tmp/l10-mysql /tmp/l10-registry-ctx", show=False)')
    return L
