from nb import Lesson

DOCKERFILE = '''FROM busybox
RUN mkdir /app && echo "version 1" > /app/config.txt
COPY hello.sh /app/hello.sh
RUN rm /etc/group && echo "version 2" > /app/config.txt
CMD ["sh", "/app/hello.sh"]
'''


def lesson() -> Lesson:
    L = Lesson("08-unionfs.ipynb", "UnionFS", "l08-", 2,
               "联合文件系统 UnionFS: the seed's CD + disk picture built by hand with overlayfs; copy-up and "
               "whiteouts; an image's layers drawn; a container's upper layer; diff, commit, history")
    L.md("""
# Lesson 8 — UnionFS 联合文件系统: layers

*Course section 1.6.3.* A union filesystem mounts directories from different places **merged into
one directory**. The course's picture: mount a read-only CD/DVD together with a directory on the
hard disk; you then "edit" files of the CD — the edited copies are stored on the disk, and the CD
never changes.

That is exactly how an image and its containers share files: the image's layers are the CD
(read-only, shared by every container), the container's own directory is the disk. Linux's union
filesystem today is **overlayfs** (docker's storage driver `overlay2`).
""")
    L.setup(extra_imports="from minidocker.kernel import overlay\nfrom minidocker.lab import plots_layers\n"
                          "from minidocker.lab.render import sanitize\nimport shutil",
            images=("l08/layers:v1", "l08/layers:v2"),
            extra='sh("umount /tmp/l08-union/merged 2>/dev/null; rm -rf /tmp/l08-union /tmp/l08-build", show=False)')
    L.md("""
## The course's picture, by hand

Four directories: `cd` (the read-only lower layer), `disk` (the writable upper layer), `work`
(overlayfs' scratch space, on the same filesystem as `disk`) and `merged` (where the union
appears).
""")
    L.code("""
base = "/tmp/l08-union"
for d in ("cd", "disk", "work", "merged"):
    os.makedirs(f"{base}/{d}")
open(f"{base}/cd/song.txt", "w").write("a song on the CD\\n")
open(f"{base}/cd/readme.txt", "w").write("written at the factory\\n")
with minidocker.trace() as t:
    overlay.mount_overlay([f"{base}/cd"], f"{base}/disk", f"{base}/work", f"{base}/merged")
explain(t)
sh(f"ls {base}/merged")""")
    L.md("""
`merged` shows the CD's files. Now change one and delete the other **through `merged`**:
""")
    L.code("""
with open(f"{base}/merged/readme.txt", "a") as f:
    f.write("a note added later\\n")
os.remove(f"{base}/merged/song.txt")
open(f"{base}/merged/new.txt", "w").write("a new file\\n")
sh(f"cd {base} && echo '--- merged:' && ls merged && echo '--- cd (lower):' && cat cd/readme.txt && ls cd "
   f"&& echo '--- disk (upper):' && ls -l disk | awk 'NR>1 {{print $1, ($1 ~ /^c/ ? $5 \\" \\" $6 : $5), $NF}}'")""")
    L.md("""
Two mechanisms, and every container uses both:

* **copy-up**: the first write to a lower file copies the whole file into the upper layer, then
  changes the copy. `cd/readme.txt` still says only what it said at the factory.
* **whiteout**: deleting a lower file cannot touch the lower layer, so overlayfs puts a
  *character device with number 0,0* of the same name in the upper layer (`c` in `ls -l`,
  `0, 0` instead of a size). It hides the lower file in the merged view.
""")
    L.code("""
print("song.txt in the upper layer is a whiteout:", overlay.is_whiteout(f"{base}/disk/song.txt"))
print("and the merged view no longer has it:", not os.path.exists(f"{base}/merged/song.txt"))
overlay.unmount_overlay(f"{base}/merged")
shutil.rmtree(base)""")
    L.md("""
## An image is a stack of layers

Each instruction of a Dockerfile that changes files adds a layer (lesson 3 covers Dockerfiles).
This one makes a directory, copies a script, then deletes a file of the base image and changes a
file of its own earlier layer:
""")
    L.code(f'''
ctx = "/tmp/l08-build"
os.makedirs(ctx)
open(f"{{ctx}}/Dockerfile", "w").write({DOCKERFILE!r})
open(f"{{ctx}}/hello.sh", "w").write("echo hello from the app; cat /app/config.txt\\n")
print(open(f"{{ctx}}/Dockerfile").read())
sh(f"minidocker build -q -t l08/layers:v1 {{ctx}}", show=False)
sh("minidocker history l08/layers:v1")''')
    L.md("""
Four layers with files (the `CMD` only changes the config: 0 B). Drawn bottom to top, with a few
files of each; `/app/config.txt` exists in two layers, and the highlighted one is what a container
reads — the topmost:
""")
    L.code("""
fig = plots_layers.plot_layers("l08/layers:v1", path="/app/config.txt")""")
    L.code("""
stack = plots_layers.stack_of("l08/layers:v1")
for path in ("/app/config.txt", "/etc/group", "/bin/sh"):
    i, how = plots_layers.which_layer(stack, path)
    print(f"{path:17} -> layer {i} of 0..{len(stack.layers) - 1}: {how}")""")
    L.md("""
`/etc/group` ends at a whiteout in layer 3: deleting a file in a later layer **does not make the
image smaller** — the bytes are still in layer 0, just hidden. (That is why a Dockerfile deletes
temporary files in the same `RUN` that creates them.)

## A container adds its writable layer on top

`docker inspect -f '{{.GraphDriver.Name}}'` (course 1.5.5) names the storage driver; `Data` lists
the directories: the image's layers as `LowerDir`, the container's `UpperDir` and `MergedDir`.
""")
    L.code("""
sh("minidocker run -d --name l08-c l08/layers:v1 sleep 300", show=False)
sh("minidocker inspect -f '{{.GraphDriver.Name}}' l08-c")
import json
gd = json.loads(sh("minidocker inspect -f '{{json .GraphDriver.Data}}' l08-c", show=False).stdout)
print("LowerDir has", len(gd["LowerDir"].split(":")), "layers; UpperDir:", sanitize(gd["UpperDir"]))""")
    L.md("""
Change things inside the running container; `diff` lists what is in the upper layer, and the
upper directory on the host holds exactly those changes — including a whiteout:
""")
    L.code("""
sh("minidocker exec l08-c sh -c 'echo student:x:1000:1000::/home:/bin/sh >> /etc/passwd; rm /app/hello.sh; echo data > /data.txt'")
sh("minidocker diff l08-c")
upper = gd["UpperDir"]
sh(f"cd {upper} && find . -mindepth 1 | sort && ls -l app | awk 'NR>1 {{print $1, $5, $6, $NF}}'")""")
    L.code("""
fig = plots_layers.plot_layers("l08-c", path="/etc/passwd")""")
    L.md("""
## commit: the upper layer becomes an image layer

`commit` packs the container's upper directory as a new layer on top of the image's layers (the
whiteout is kept as a `.wh.hello.sh` entry in the layer tarball, the OCI way to write it):
""")
    L.code("""
sh("minidocker commit l08-c l08/layers:v2", show=False)
sh("minidocker history l08/layers:v2 | head -3")
sh("minidocker run --rm l08/layers:v2 sh -c 'tail -1 /etc/passwd; cat /data.txt; ls /app'")""")
    L.md("""
## Under the hood

The mount minidocker makes for a container of this image: four lower directories, **top first**
(overlayfs reads `lowerdir` left to right), then the container's upper and work directories.
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run --rm l08/layers:v1", show=True)
explain(t, grep="-t overlay")""")
    L.teardown(images=("l08/layers:v1", "l08/layers:v2"),
               extra='sh("umount /tmp/l08-union/merged 2>/dev/null; rm -rf /tmp/l08-union /tmp/l08-build", show=False)')
    return L
