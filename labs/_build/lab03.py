"""Lab 03 -- UnionFS: assemble an overlay, predict copy-up and whiteouts, write `diff`."""
from .cells import check, cleanup, exercise, free, md, setup

NAME = "03_unionfs"
TITLE = "Lab 03 — UnionFS 联合文件系统"

CELLS = [
    md("intro", """
    # Lab 03 — UnionFS 联合文件系统 (overlayfs)

    **Goal.** Stack image layers with overlayfs by hand, predict what a write and a delete leave
    in the writable upper dir (copy-up, whiteouts, opaque dirs), and write the `docker diff` of an
    upper dir yourself.

    **Background.** Course section 1.6.3 (UnionFS 联合文件系统); lesson notebook
    [`notebooks/08-unionfs.ipynb`](../notebooks/08-unionfs.ipynb); the library's
    [`minidocker/kernel/overlay.py`](../minidocker/kernel/overlay.py);
    the kernel's `Documentation/filesystems/overlayfs.rst`.

    **How this lab works.** Replace each `# TODO` + `raise NotImplementedError` with your code and
    run the grey **check** cell after it: it prints `PASS`/`FAIL` per requirement with what was
    expected and what was found. The grader re-runs your notebook with its own copy of the check
    cells, so edit only the exercise cells (add your own cells freely). Everything lives in a
    temporary `lab03-...` directory; the last cell unmounts and removes it.
    """),
    setup("setup", """
    import os, stat, tempfile
    from minidocker.kernel import libc, mounts, overlay
    from minidocker.lab.checks import check

    assert os.geteuid() == 0, "the labs need root: start jupyter with sudo"
    WORK = tempfile.mkdtemp(prefix="lab03-")

    LAYERS = {   # two image layers, bottom first: what an image's layer dirs look like
        "layer1": {"etc/motd": "welcome from layer 1\\n", "etc/config": "version=1\\n",
                   "data/a.txt": "a\\n", "data/b.txt": "b\\n", "cache/x.tmp": "x\\n"},
        "layer2": {"etc/config": "version=2\\n", "data/c.txt": "c\\n"},
    }

    def make_layers(base):
        \"\"\"Write LAYERS under base; return the layer dirs, bottom -> top.\"\"\"
        dirs = []
        for name, files in LAYERS.items():
            d = os.path.join(base, name)
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
                with open(os.path.join(d, rel), "w") as f:
                    f.write(text)
            dirs.append(d)
        return dirs

    def instructor_overlay(name):
        \"\"\"A fresh overlay of LAYERS under WORK/name (the checks' own, built with mount(2) directly).\"\"\"
        base = os.path.join(WORK, name)
        lowers = make_layers(base)
        upper, work, merged = (os.path.join(base, x) for x in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.makedirs(d)
        opts = f"lowerdir={lowers[1]}:{lowers[0]},upperdir={upper},workdir={work}"   # top first
        libc.mount("overlay", merged, "overlay", 0, opts)
        return {"lowers": lowers, "upper": upper, "merged": merged}

    def overlay_mounts():
        \"\"\"{mount point: super options} of every overlay mounted now (/proc/self/mountinfo).\"\"\"
        out = {}
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, right = line.split(" - ")
                fstype, _src, opts = right.split()[:3]
                if fstype == "overlay":
                    out[left.split()[4]] = opts
        return out

    def unmount_all():
        for m in mounts.mounts_under(WORK):          # deepest first
            libc.umount2(m, libc.MNT_DETACH)

    print("layers are written under", WORK)
    """),

    md("ex1-md", """
    ## Exercise 1 — assemble an overlay

    Write `assemble(lower_dirs, base)`: create `base/upper`, `base/work` and `base/merged`, mount an
    overlay of `lower_dirs` (given **bottom -> top**, as an image lists its layers) with that upper
    and work dir on `base/merged`, and return the merged path.

    *Hints.* Shell: `mount -t overlay overlay -o lowerdir=TOP:...:BOTTOM,upperdir=U,workdir=W MERGED`
    — overlay lists the lower dirs **top first**. The kernel layer: `libc.mount(source, target,
    fstype, flags, data)`, or the library's `overlay.mount_overlay(lower_dirs, upper, work, target)`
    (read its docstring for the order it expects). `upper` and `work` must be on one filesystem
    and `work` must be empty.
    """),
    exercise("ex1-code", "ex1", todo="""
    def assemble(lower_dirs, base):
        \"\"\"Mount an overlay of lower_dirs (bottom -> top) on base/merged; return that path.\"\"\"
        # TODO: make base/upper, base/work, base/merged and mount the overlay
        raise NotImplementedError
    """, solution="""
    def assemble(lower_dirs, base):
        \"\"\"Mount an overlay of lower_dirs (bottom -> top) on base/merged; return that path.\"\"\"
        upper, work, merged = (os.path.join(base, x) for x in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.makedirs(d, exist_ok=True)
        top_first = ":".join(reversed(lower_dirs))          # overlay wants the top layer first
        libc.mount("overlay", merged, "overlay", 0, f"lowerdir={top_first},upperdir={upper},workdir={work}")
        return merged
    """, wrong="""
    def assemble(lower_dirs, base):
        \"\"\"Mount an overlay of lower_dirs (bottom -> top) on base/merged; return that path.\"\"\"
        upper, work, merged = (os.path.join(base, x) for x in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.makedirs(d, exist_ok=True)
        bottom_first = ":".join(lower_dirs)                 # planted mistake: the order is reversed
        libc.mount("overlay", merged, "overlay", 0, f"lowerdir={bottom_first},upperdir={upper},workdir={work}")
        return merged
    """),
    free("ex1-free"),
    check("ex1-check", "ex1", """
    with check("ex1", "an overlay of two layers, the top one winning") as c:
        base = os.path.join(WORK, "ex1")
        lowers = make_layers(base)
        merged = assemble(lowers, base)
        merged = os.path.abspath(str(merged))
        opts = overlay_mounts().get(merged)
        c.true("an overlay is mounted on the returned path (/proc/self/mountinfo)", opts is not None,
               f"overlay on {merged}", opts)
        read = lambda rel: open(os.path.join(merged, rel)).read() if os.path.exists(os.path.join(merged, rel)) else None
        c.expect("etc/config (in both layers: the top one wins)", read("etc/config"), "version=2\\n")
        c.expect("etc/motd (only in the bottom layer)", read("etc/motd"), "welcome from layer 1\\n")
        c.expect("ls data", sorted(os.listdir(os.path.join(merged, "data"))) if os.path.isdir(os.path.join(merged, "data")) else None,
                 ["a.txt", "b.txt", "c.txt"])
        with open(os.path.join(merged, "lab03-probe"), "w") as f:
            f.write("written through the overlay\\n")
        upper = dict(kv.split("=", 1) for kv in (opts or "").split(",") if "=" in kv).get("upperdir", "")
        c.true("a new file lands in the upper dir, not in a layer",
               os.path.exists(os.path.join(upper, "lab03-probe")) and not any(os.path.exists(os.path.join(l, "lab03-probe")) for l in lowers),
               "upper/lab03-probe only", upper or "no upperdir")
    """),

    md("ex2-md", """
    ## Exercise 2 — predict copy-up and whiteouts

    The check mounts a fresh overlay of the same two layers (empty upper dir) and does, through
    the merged dir:

    1. append a line to `etc/motd`  2. read `etc/config`  3. `rm data/b.txt`
    4. create `etc/new.conf`  5. `rm -r cache; mkdir cache`

    **Predict** what the **upper** dir then holds at each path below: one of `"file"`,
    `"dir"`, `"opaque dir"` (a directory with the xattr `trusted.overlay.opaque=y`),
    `"whiteout"` (a character device 0:0) or `"absent"`. The check does the actions and
    compares your prediction with what it finds — then look at the real upper dir yourself
    (`ls -la`, `getfattr -d -m - DIR`).
    """),
    exercise("ex2-code", "ex2", todo="""
    PREDICTION = {
        "etc": None,            # TODO: replace every None with your prediction
        "etc/motd": None,
        "etc/config": None,
        "etc/new.conf": None,
        "data/a.txt": None,
        "data/b.txt": None,
        "cache": None,
        "cache/x.tmp": None,
    }
    """, solution="""
    PREDICTION = {
        "etc": "dir",              # the parent of a copied-up file is created (copied up) too
        "etc/motd": "file",        # a write copies the whole file up first (copy-up)
        "etc/config": "absent",    # reading never copies
        "etc/new.conf": "file",    # new files are written in upper
        "data/a.txt": "absent",    # untouched
        "data/b.txt": "whiteout",  # the lower file cannot be deleted: a whiteout hides it
        "cache": "opaque dir",     # a dir deleted and made again hides everything below it
        "cache/x.tmp": "absent",   # ...so no whiteout is needed for its old files
    }
    """, wrong="""
    PREDICTION = {
        "etc": "dir",
        "etc/motd": "file",
        "etc/config": "absent",
        "etc/new.conf": "file",
        "data/a.txt": "absent",
        "data/b.txt": "absent",    # planted mistake: as if rm deleted the lower file
        "cache": "opaque dir",
        "cache/x.tmp": "absent",
    }
    """),
    free("ex2-free"),
    check("ex2-check", "ex2", """
    def _kind(upper, rel):
        p = os.path.join(upper, rel)
        if not os.path.lexists(p):
            return "absent"
        if overlay.is_whiteout(p):
            return "whiteout"
        if os.path.isdir(p):
            return "opaque dir" if overlay.is_opaque(p) else "dir"
        return "file"

    with check("ex2", "copy-up, whiteouts and opaque dirs in the upper dir") as c:
        o = instructor_overlay("ex2")
        m = o["merged"]
        with open(os.path.join(m, "etc/motd"), "a") as f:
            f.write("a line added in the container\\n")
        open(os.path.join(m, "etc/config")).read()
        os.remove(os.path.join(m, "data/b.txt"))
        with open(os.path.join(m, "etc/new.conf"), "w") as f:
            f.write("new\\n")
        for name in os.listdir(os.path.join(m, "cache")):
            os.remove(os.path.join(m, "cache", name))
        os.rmdir(os.path.join(m, "cache"))
        os.mkdir(os.path.join(m, "cache"))
        c.true("PREDICTION is a dict", isinstance(PREDICTION, dict), "a dict", type(PREDICTION).__name__)
        for rel in ["etc", "etc/motd", "etc/config", "etc/new.conf", "data/a.txt", "data/b.txt", "cache", "cache/x.tmp"]:
            c.expect(f"upper/{rel}: your prediction vs the real upper dir", PREDICTION.get(rel), _kind(o["upper"], rel))
        c.expect("the bottom layer still has data/b.txt", os.path.exists(os.path.join(o["lowers"][0], "data/b.txt")), True)
    """),

    md("ex3-md", """
    ## Exercise 3 — `docker diff` of an upper dir

    Write `upper_diff(upper, lower_dirs)`: the set of changes a container made, as `docker diff`
    shows them, from its upper dir alone. Walk **every** entry under `upper` (files and dirs,
    recursively) and return a set of `(kind, "/path")` pairs:

    * `("D", path)` for a **whiteout** (a character device with device number 0:0 — `os.lstat`,
      `stat.S_ISCHR`, `st_rdev == 0`);
    * `("C", path)` for anything else that also exists in one of the `lower_dirs` (changed);
    * `("A", path)` for the rest (added).

    Paths start with `/`, relative to the container's root (`/etc/motd`).
    """),
    exercise("ex3-code", "ex3", todo="""
    def upper_diff(upper, lower_dirs):
        \"\"\"{(kind, path)} with kind A/C/D for every entry under `upper`.\"\"\"
        # TODO: os.walk(upper); classify each dir and file
        raise NotImplementedError
    """, solution="""
    def upper_diff(upper, lower_dirs):
        \"\"\"{(kind, path)} with kind A/C/D for every entry under `upper`.\"\"\"
        changes = set()
        for dirpath, dirnames, filenames in os.walk(upper):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, upper)
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    kind = "D"
                elif any(os.path.lexists(os.path.join(l, rel)) for l in lower_dirs):
                    kind = "C"
                else:
                    kind = "A"
                changes.add((kind, "/" + rel))
        return changes
    """, wrong="""
    def upper_diff(upper, lower_dirs):
        \"\"\"{(kind, path)} with kind A/C/D for every entry under `upper`.\"\"\"
        changes = set()
        for dirpath, dirnames, filenames in os.walk(upper):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, upper)
                if not os.path.isdir(full) and os.lstat(full).st_size == 0:
                    kind = "D"                 # planted mistake: "a whiteout is an empty file"
                elif any(os.path.lexists(os.path.join(l, rel)) for l in lower_dirs):
                    kind = "C"
                else:
                    kind = "A"
                changes.add((kind, "/" + rel))
        return changes
    """),
    free("ex3-free"),
    check("ex3-check", "ex3", """
    with check("ex3", "docker diff of an upper dir") as c:
        o = instructor_overlay("ex3")
        m = o["merged"]
        with open(os.path.join(m, "etc/motd"), "a") as f:
            f.write("changed\\n")
        os.remove(os.path.join(m, "data/b.txt"))
        os.makedirs(os.path.join(m, "var/log"))
        open(os.path.join(m, "var/log/app.log"), "w").close()          # an empty new file
        with open(os.path.join(m, "etc/new.conf"), "w") as f:
            f.write("new\\n")
        expected = {("C", "/etc"), ("C", "/etc/motd"), ("A", "/etc/new.conf"), ("C", "/data"),
                    ("D", "/data/b.txt"), ("A", "/var"), ("A", "/var/log"), ("A", "/var/log/app.log")}
        found = upper_diff(o["upper"], o["lowers"])
        found = set(found) if isinstance(found, (set, list, tuple, frozenset)) else found
        c.expect("upper_diff(upper, lowers)", sorted(found) if isinstance(found, set) else found, sorted(expected))
        c.expect("an untouched overlay has no changes",
                 upper_diff(instructor_overlay("ex3-empty")["upper"], o["lowers"]), set())
    """),

    cleanup("cleanup", """
    import shutil
    unmount_all()
    shutil.rmtree(WORK, ignore_errors=True)
    print("lab03: unmounted and removed", WORK)
    """),
]
