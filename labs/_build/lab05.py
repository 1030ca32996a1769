"""Lab 05 -- images: a Dockerfile to a specification, pushed to a local registry."""
from .cells import check, cleanup, exercise, free, md, setup

NAME = "05_images"
TITLE = "Lab 05 — Images, Dockerfile and Registry 镜像与仓库"

SPEC_DOCKERFILE = '''
DOCKERFILE = """
FROM busybox
ENV GREETING=hello-lab05
WORKDIR /app
COPY hello.sh /app/hello.sh
EXPOSE 8080
LABEL course=minidocker
CMD ["/app/hello.sh"]
"""

def build_hello():
    """Write DOCKERFILE to CONTEXT/Dockerfile, build it as lab05/hello:1; return the image id."""
    with open(os.path.join(CONTEXT, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    return builder.build(CONTEXT, tags=["lab05/hello:1"], out=io.StringIO()).image_id
'''

CELLS = [
    md("intro", """
    # Lab 05 — Images, Dockerfile and Registry 镜像、Dockerfile 与仓库

    **Goal.** Write a Dockerfile that meets a specification and build it with the library's
    builder; then push an image to a registry running on this machine and list the registry's
    catalog — the `docker build` / `docker tag` / `docker push` / `curl /v2/_catalog` steps of
    the course, through the Python API.

    **Background.** Course sections 1.5.1–1.5.5 (镜像, 仓库, 编写Dockerfile, 常用操作); lesson
    notebooks [`02-images-containers-registries`](../notebooks/02-images-containers-registries.ipynb)
    and [`03-dockerfile`](../notebooks/03-dockerfile.ipynb); the library's
    [`minidocker/image/build.py`](../minidocker/image/build.py),
    [`transfer.py`](../minidocker/image/transfer.py) and [`registry.py`](../minidocker/image/registry.py).

    **How this lab works.** Replace each `# TODO` + `raise NotImplementedError` with your code and
    run the grey **check** cell after it (PASS/FAIL per requirement, with what was expected and
    what was found). The grader re-runs your notebook with its own check cells. The setup cell
    starts a private registry (Debian's `docker-registry`, the program inside the `registry:2`
    image) on `127.0.0.1`; the last cell stops it. Image names start with `lab05/`.
    """),
    setup("setup", """
    import io, json, os, socket, stat, subprocess, tempfile, time, urllib.error, urllib.request
    from minidocker.image import build as builder, registry, transfer
    from minidocker.image.store import Store
    from minidocker.lab.checks import check

    assert os.geteuid() == 0, "the labs need root: start jupyter with sudo"
    WORK = tempfile.mkdtemp(prefix="lab05-")

    def start_registry():
        \"\"\"`docker-registry serve config.yml` on 127.0.0.1:<a free port>; returns (process, "host:port").\"\"\"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cfg = os.path.join(WORK, "registry.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\\nlog:\\n  level: warn\\nstorage:\\n  filesystem:\\n"
                    f"    rootdirectory: {WORK}/registry-data\\nhttp:\\n  addr: 127.0.0.1:{port}\\n")
        log = open(os.path.join(WORK, "registry.log"), "wb")
        proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                return proc, f"127.0.0.1:{port}"
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start; see " + log.name)

    def registry_get(path):
        \"\"\"GET http://REGISTRY/PATH as JSON (the check's own look at the registry, like curl).\"\"\"
        req = urllib.request.Request(f"http://{REGISTRY}{path}", headers={"Accept": ", ".join([
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json"])})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return {"http_error": e.code}

    REG_PROC, REGISTRY = start_registry()

    # the build context of exercise 1: the script the image must run
    CONTEXT = os.path.join(WORK, "context")
    os.makedirs(CONTEXT)
    with open(os.path.join(CONTEXT, "hello.sh"), "w") as f:
        f.write('#!/bin/sh\\necho "hello from lab05: $GREETING"\\n')
    os.chmod(os.path.join(CONTEXT, "hello.sh"), 0o755)

    # the image exercise 2 pushes, built here so that exercise 2 does not depend on exercise 1
    BASE_CTX = os.path.join(WORK, "base-context")
    os.makedirs(BASE_CTX)
    with open(os.path.join(BASE_CTX, "lab05.txt"), "w") as f:
        f.write("pushed by lab 05\\n")
    with open(os.path.join(BASE_CTX, "Dockerfile"), "w") as f:
        f.write("FROM busybox\\nCOPY lab05.txt /lab05.txt\\n")
    BASE_ID = builder.build(BASE_CTX, tags=["lab05/base:1"], out=io.StringIO()).image_id
    print("registry on", REGISTRY, "- image lab05/base:1 is", BASE_ID[:19])
    """),

    md("ex1-md", """
    ## Exercise 1 — a Dockerfile to a specification

    Write `DOCKERFILE` so that the image it builds

    * is based on `busybox`;
    * has the environment variable `GREETING=hello-lab05`;
    * has `/app` as its working directory;
    * contains the context's `hello.sh` as `/app/hello.sh` (executable — it already is in the context);
    * declares port `8080/tcp`;
    * carries the label `course=minidocker`;
    * runs `/app/hello.sh` by default, in **exec form** (the `Cmd` is exactly `["/app/hello.sh"]`,
      no `/bin/sh -c` around it: then the script is PID 1 and gets the signals).

    Then complete `build_hello()`: write it to `CONTEXT/Dockerfile` and build it tagged
    `lab05/hello:1` with `builder.build(context, tags=[...], out=io.StringIO())` (the result's
    `.image_id`). The check inspects the image's config and layers — `docker inspect`, by hand.
    """),
    exercise("ex1-code", "ex1", todo='''
    DOCKERFILE = """
    # TODO: the Dockerfile that meets the specification above
    """

    def build_hello():
        """Write DOCKERFILE to CONTEXT/Dockerfile, build it as lab05/hello:1; return the image id."""
        # TODO
        raise NotImplementedError
    ''', solution=SPEC_DOCKERFILE, wrong=SPEC_DOCKERFILE.replace(
        'CMD ["/app/hello.sh"]', "CMD /app/hello.sh").replace(
        '"""\n\ndef build_hello', '"""   # planted mistake: shell-form CMD\n\ndef build_hello')),
    free("ex1-free"),
    check("ex1-check", "ex1", """
    with check("ex1", "the image lab05/hello:1 meets the specification") as c:
        built = build_hello()
        img = Store().resolve("lab05/hello:1")
        c.expect("build_hello() returns the id of lab05/hello:1", built, img.id)
        cfg = img.config.get("config", {})
        c.contains("Env", cfg.get("Env") or [], "GREETING=hello-lab05")
        c.expect("WorkingDir", cfg.get("WorkingDir"), "/app")
        c.expect("ExposedPorts", sorted(cfg.get("ExposedPorts") or {}), ["8080/tcp"])
        c.expect("Labels['course']", (cfg.get("Labels") or {}).get("course"), "minidocker")
        c.expect("Cmd (exec form)", cfg.get("Cmd"), ["/app/hello.sh"])
        c.expect("Entrypoint", cfg.get("Entrypoint") or None, None)
        c.true("based on busybox (its layers come first)",
               img.diff_ids[:1] == Store().resolve("busybox").diff_ids[:1],
               "busybox's first layer", img.diff_ids[:1])
        hits = [d for d in reversed(img.layer_dirs) if os.path.lexists(os.path.join(d, "app/hello.sh"))]
        path = os.path.join(hits[0], "app/hello.sh") if hits else None
        same = path is not None and open(path).read() == open(os.path.join(CONTEXT, "hello.sh")).read()
        c.true("/app/hello.sh in a layer, the context's file", same, "the context's hello.sh", path)
        c.true("/app/hello.sh is executable", path is not None and bool(os.stat(path).st_mode & stat.S_IXUSR),
               "mode with x", oct(os.stat(path).st_mode) if path else None)
    """),

    md("ex2-md", """
    ## Exercise 2 — push to the registry and list its catalog

    Write `push_and_list(local_ref, registry_host)`: give the local image `local_ref` (here
    `lab05/base:1`, built by the setup cell) the name `REGISTRY_HOST/lab05/base:1`, push it, and
    return the registry's **catalog** (the list of repository names, `GET /v2/_catalog`).

    *Hints.* Shell: `docker tag lab05/base:1 127.0.0.1:PORT/lab05/base:1`,
    `docker push 127.0.0.1:PORT/lab05/base:1`, `curl http://127.0.0.1:PORT/v2/_catalog`.
    Python: `store = Store()`, `store.tag(source, target)`, `transfer.push(ref, out=io.StringIO())`,
    `registry.catalog(host)`. The name before the first `/` with a `:` or `.` in it is the
    registry; the tag after the last `:` is `1` — keep it.
    """),
    exercise("ex2-code", "ex2", todo="""
    def push_and_list(local_ref, registry_host):
        \"\"\"Tag local_ref as registry_host/<its name:tag>, push it, return the registry's catalog.\"\"\"
        # TODO
        raise NotImplementedError
    """, solution="""
    def push_and_list(local_ref, registry_host):
        \"\"\"Tag local_ref as registry_host/<its name:tag>, push it, return the registry's catalog.\"\"\"
        remote = f"{registry_host}/{local_ref}"          # 127.0.0.1:PORT/lab05/base:1
        Store().tag(local_ref, remote)                   # docker tag
        transfer.push(remote, out=io.StringIO())         # docker push
        return registry.catalog(registry_host)           # curl /v2/_catalog
    """, wrong="""
    def push_and_list(local_ref, registry_host):
        \"\"\"Tag local_ref as registry_host/<its name:tag>, push it, return the registry's catalog.\"\"\"
        name = local_ref.split(":")[0]                   # planted mistake: the tag is dropped,
        remote = f"{registry_host}/{name}"               # so the push goes to :latest
        Store().tag(local_ref, remote)
        transfer.push(remote, out=io.StringIO())
        return registry.catalog(registry_host)
    """),
    free("ex2-free"),
    check("ex2-check", "ex2", """
    with check("ex2", "lab05/base:1 is in the registry, and its catalog was listed") as c:
        found = push_and_list("lab05/base:1", REGISTRY)
        catalog = registry_get("/v2/_catalog").get("repositories")
        c.contains("GET /v2/_catalog", catalog or [], "lab05/base")
        c.expect("push_and_list returns the registry's catalog", found, catalog)
        c.contains("GET /v2/lab05/base/tags/list", registry_get("/v2/lab05/base/tags/list").get("tags") or [], "1")
        manifest = registry_get("/v2/lab05/base/manifests/1")
        c.expect("the pushed manifest's config is our image (its id)",
                 (manifest.get("config") or {}).get("digest"), BASE_ID)
    """),

    cleanup("cleanup", """
    import shutil
    REG_PROC.terminate()
    REG_PROC.wait()
    for ref in ["lab05/hello:1", f"{REGISTRY}/lab05/base:1", f"{REGISTRY}/lab05/base", "lab05/base:1"]:
        try:
            Store().remove(ref, force=True)
        except Exception:
            pass
    shutil.rmtree(WORK, ignore_errors=True)
    print("lab05: registry stopped, lab05/* images removed")
    """),
]
