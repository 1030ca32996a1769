from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("05-pid1-the-essence.ipynb", "The essence of a container: PID 1", "l05-", 2,
               "理解容器本质: the container lives as long as its PID 1; overriding CMD; PID 1 and SIGTERM "
               "(stop waits, then SIGKILL; a plot of stop times); zombies and who reaps them")
    L.md("""
# Lesson 5 — The essence of a container 理解容器本质: PID 1

*Course section 1.5.6.* The course states two rules:

1. **A container's process number 1 must not exit, or the container exits.**
   容器的1号进程不能退出，否则容器会退出
2. **When a container starts, a command can replace the image's default `CMD`.**
   容器启动的时候可以通过命令去覆盖默认的CMD

This lesson shows both, then two consequences every container author meets: signals (why
`docker stop` sometimes takes 10 seconds) and zombies.
""")
    L.setup(extra_imports="import time")
    L.md("""
## Inside a container, your command is PID 1

A container has its own PID namespace (lesson 6): the first process in it gets number 1, the
number `init`/`systemd` has on the host. Here `ps` is started as the container's command, so
`ps` itself is PID 1:
""")
    L.code("""sh("minidocker run --rm busybox ps -o pid,ppid,comm")""")
    L.code("""sh("minidocker run --rm busybox sh -c 'echo my PID is $$; ps -o pid,ppid,comm'")""")
    L.md("""
## Rule 1: the container lives exactly as long as PID 1

Run a container whose PID 1 sleeps 3 seconds, in the background (`-d`), and watch its status:
""")
    L.code("""
sh("minidocker run -d --name l05-short busybox sleep 3", show=False)
status = lambda name: sh(f"minidocker inspect -f '{{{{.State.Status}}}} {{{{.State.ExitCode}}}}' {name}", show=False).stdout.strip()
print("right after start:", status("l05-short"))
sh("minidocker wait l05-short", show=False)       # blocks until PID 1 exits, like docker wait
print("after PID 1 exited:", status("l05-short"))""")
    L.md("""
Nothing else in the container matters: when PID 1 exits, the kernel kills every other process
in its PID namespace, and minidocker's monitor records the exit code and tears the container
down. Start a background process and let PID 1 exit first:
""")
    L.code("""
sh("minidocker run --name l05-orphans busybox sh -c 'sleep 1000 & sleep 1000 & echo started two sleepers; exit 7'", check=False)
print("status:", status("l05-orphans"), " <- exit code 7 is PID 1's; the sleepers died with it")""")
    L.md("""
## Rule 2: the command after the image name replaces `CMD`

The image says what to run by default (its `CMD`, set in the Dockerfile, lesson 3). busybox's
is `sh`; with no terminal attached, `sh` reads end-of-file at once and exits — so a plain
`run busybox` ends immediately. Give a command and it replaces `CMD`:
""")
    L.code("""
sh("minidocker image inspect -f '{{.Config.Cmd}}' busybox")
sh("minidocker run --name l05-default busybox", show=False)
print("run busybox (CMD sh, no terminal):", status("l05-default"))
sh("minidocker run --rm busybox echo this command replaced CMD")""")
    L.md("""
That is also how to keep a container alive on purpose: give it a PID 1 that does not exit
(`sleep infinity`, a server in the foreground: `nginx -g 'daemon off;'` in the course's
Dockerfile). `--entrypoint` replaces the image's `ENTRYPOINT` the same way (lesson 3).

## Signals: why `stop` can take 10 seconds

`minidocker stop` (like `docker stop`) sends **SIGTERM** to PID 1, waits up to `-t` seconds
(10 by default), then sends **SIGKILL**. On the host, SIGTERM kills a process that has no
handler for it. **PID 1 is special:** the kernel does not deliver a signal to a namespace's
init unless init installed a handler for it. `sleep` installs none, so SIGTERM does nothing and
`stop` must wait for the timeout. A shell with a `trap` handles it and exits at once.
""")
    L.code("""
sh("minidocker run -d --name l05-nohandler busybox sleep 300", show=False)
sh("minidocker run -d --name l05-handler busybox sh -c "
   "'trap \\"echo got SIGTERM, cleaning up; exit 0\\" TERM; while true; do sleep 0.2; done'", show=False)
time.sleep(1)
took = {}
for name in ("l05-nohandler", "l05-handler"):
    t0 = time.monotonic()
    sh(f"minidocker stop -t 3 {name}", show=False)
    took[name] = time.monotonic() - t0
    print(f"{name:14} stop took {'about the 3 s timeout' if took[name] > 2.5 else 'well under the timeout'};"
          f" state: {status(name)}")
sh("minidocker logs l05-handler")""")
    L.md("""
Exit code **137 = 128 + 9**: killed by signal 9, SIGKILL, after the timeout. Exit code 0: the
trap ran and the shell exited cleanly. The picture:
""")
    L.code("""
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
names = list(took)
bars = ax.barh(["sleep 300\\n(no SIGTERM handler)", "sh with trap ... TERM\\n(handles SIGTERM)"],
               [took[n] for n in names], color=["#d9822b", "#4a90d9"])
ax.axvline(3, color="#d62728", ls="--")
ax.annotate("-t 3: SIGKILL sent here", xy=(3, 1.3), xytext=(3.1, 1.3), color="#d62728", va="center")
for b, n in zip(bars, names):
    ax.text(b.get_width() + 0.05, b.get_y() + b.get_height() / 2,
            "exit 137 (SIGKILL)" if took[n] > 2.5 else "exit 0", va="center")
ax.set_xlim(0, 4.6)
ax.set_xlabel("time for `minidocker stop -t 3` to return (seconds)")
ax.set_title("PID 1 ignores SIGTERM unless it installs a handler")
plt.show()""")
    L.md("""
Even from *inside* the container, `kill` cannot touch a PID 1 that has no handler — not even
`kill -9`: the kernel protects a namespace's init from its own namespace. Only the host can kill it.
""")
    L.code("""
sh("minidocker run -d --name l05-immortal busybox sleep 300", show=False)
sh("minidocker exec l05-immortal sh -c 'kill -TERM 1; kill -KILL 1; sleep 0.5; ps -o pid,comm | head -2'")
print("still running:", status("l05-immortal"))""")
    L.md("""
## Zombies: PID 1 must also reap

When a process exits, it stays in the process table as a **zombie** (state `Z`) until its parent
collects its exit status with `wait()`. When a parent dies first, its children are re-parented to
PID 1 of their namespace — in a container, *your* program. If your program never calls `wait()`
(most programs do not expect to be init), zombies pile up.

Here PID 1 is a shell that starts `sleep 1` in the background and then *replaces itself* with
`sleep 300` (`exec`): the `sleep 1` child now belongs to a PID 1 that never waits for anything.
""")
    L.code("""
sh("minidocker run -d --name l05-zombie busybox sh -c 'sleep 1 & exec sleep 300'", show=False)
time.sleep(2.5)
sh("minidocker exec l05-zombie ps -o pid,ppid,stat,comm")""")
    L.md("""
PID 2, state `Z`: dead, but never reaped. A shell that stays PID 1 waits for its children, so
the same background job leaves no zombie. (Docker's `--init` flag puts a tiny init, *tini*, in
front of your program for exactly this reason.)
""")
    L.code("""
sh("minidocker run -d --name l05-reaper busybox sh -c 'sleep 1 & while true; do sleep 0.5; done'", show=False)
time.sleep(2.5)
out = sh("minidocker exec l05-reaper ps -o pid,stat,comm", show=False).stdout
print("zombies in l05-reaper:", sum(1 for line in out.splitlines()[1:] if line.split()[1].startswith("Z")))""")
    L.md("""
## Under the hood: what `stop` does

The trace of `stop -t 1` on a PID 1 without a handler: SIGTERM, one second of waiting, SIGKILL,
sent from the host (where the namespace's protection does not apply). Then `rm` takes the
container's root filesystem apart (lesson 8).
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker stop -t 1 l05-immortal", show=False)
    sh("minidocker rm l05-immortal", show=False)
explain(t, skip=("capabilities",))""")
    L.teardown()
    return L
