from nb import Lesson


def lesson() -> Lesson:
    L = Lesson("07-cgroups.ipynb", "Cgroups", "l07-", 3,
               "控制组 cgroup: controllers on the host; the seed's deadloop demo step by step; CPU % against "
               "the quota (plot); memory limit and the OOM killer (plot); pids limit; v1/v2 mapping; live slider")
    L.md("""
# Lesson 7 — Cgroups 控制组: limits 资源限制

*Course section 1.6.2.* Namespaces decide what a process can *see*; **control groups** decide how
much it can *use*. A cgroup is a group of processes the kernel accounts and limits together. The
course lists four jobs:

* **Resource limitation** 资源限制 — e.g. a memory ceiling;
* **Prioritization** 优先级 — who gets more CPU time or disk bandwidth when they compete;
* **Accounting** 审计/统计 — how much each group used (what `docker stats` shows);
* **Control** 控制 — freeze and resume all processes of a group (`docker pause`).

The interface is a filesystem: a cgroup is a **directory**, a limit is a **file** you write.
""")
    L.setup(extra_imports="import time\nfrom minidocker.kernel import cgroups\nfrom minidocker.kernel.cgroups import detect\n"
                          "from minidocker.lab.render import md_table, sanitize",
            extra='from minidocker.lab.deadloop import DeadloopDemo\nDeadloopDemo("l07-haoel").__exit__(None, None, None)   # its cgroup, if a run died')
    L.md("""
## The controllers on this host

The course runs `mount -t cgroup`: on **cgroup v1** every controller (*subsystem*) is a separate
mounted hierarchy. On **cgroup v2** there is one hierarchy, and `cgroup.controllers` lists what it
offers. Which one is this machine?
""")
    L.code("""
# nbval-ignore-output: the host's own mounts (v1 here; v2 in the EL9 VM).
v = detect.version()
print("cgroup version:", v)
if v == 1:
    sh("mount -t cgroup | awk '{print $3}'")
else:
    sh("cat /sys/fs/cgroup/cgroup.controllers")""", tags=["nbval-ignore-output"])
    L.md("""
What each controller does (the course's list): **blkio** block device I/O limits; **cpu** CPU
time through the scheduler; **cpuacct** CPU usage reports; **cpuset** which CPUs and memory nodes;
**devices** which device files may be opened; **freezer** suspend/resume; **memory** memory limits
and reports; **net_cls / net_prio** tag or prioritize network packets; **hugetlb** huge pages;
**pids** number of processes. On v2: `cpu` (with accounting built in), `cpuset`, `io`, `memory`,
`pids`, `hugetlb`, `rdma`, `misc`; freezing is a file of every cgroup (`cgroup.freeze`).

## The course's demo: a deadloop under a quota

The course compiles a C program that spins forever (`deadloop`), watches it take 100% of a CPU,
creates a cgroup by hand with `mkdir`, writes a quota, puts the process in, and watches it drop to
20%. `DeadloopDemo` does exactly those steps, one per cell, printing each shell command
(the course calls the cgroup `haoel`; ours is `l07-haoel`). The source the course shows:
""")
    L.code("""
from minidocker.lab import deadloop
print(open(deadloop.SOURCE).read())""")
    L.code("""
# nbval-ignore-output: the CPU a burner gets with no limit depends on how busy the machine is.
demo = DeadloopDemo("l07-haoel", outweigh=True)
step = demo.start()
print(sanitize(str(step)))
time.sleep(1)
step = demo.watch(2)
print(f"with no limit it gets what the scheduler gives it: {step.value:.0f}% of one CPU "
      "(about 100% on an idle machine; less when others are busy)")""", tags=["nbval-ignore-output"])
    L.md("""
(That cell's exact numbers depend on how busy the machine is, so its output is not checked; the
next ones are.) Make the cgroup — on v1 a directory in the `cpu` hierarchy — and look at the
files the kernel created in it:
""")
    L.code("""
step = demo.make_cgroup()
print(sanitize(str(step)))""")
    L.code("""
print(sanitize(str(demo.read_quota())))
print()
print(sanitize(str(demo.write_quota(20))))""")
    L.md("""
The quota is CPU time per period: 20000 µs of every 100000 µs (`cpu.cfs_period_us`) = 20% of one
CPU. Now move the process in (the course appends its PID to `tasks`) and measure again:
""")
    L.code("""
print(sanitize(str(demo.add_pid())))
step = demo.watch(3)
band = "about 20%" if 14 <= step.value <= 24 else f"{step.value:.0f}%, outside 14-24%"
print(f"CPU share measured by the cgroup's own counter over 3 s: {band}")""")
    L.code("""
print(sanitize(str(demo.cleanup())))""")
    L.md("""
## The picture: CPU % against the quota

Same experiment, sampled every 0.3 s while the quota changes: none → 20% → 50% → none. The blue
line is the cgroup's own counter (`cpuacct.usage`, or `cpu.stat` on v2), the dashed one what `top`
shows. A quota is a **ceiling, not a guarantee**: on a busy machine (this one is shared) the
line can stay below it, because other processes want the CPU too.
""")
    L.code("""
from minidocker.lab import sampler, plots_cgroup
series = sampler.quota_steps()
fig = plots_cgroup.plot_cpu(series)""")
    L.code("""
limited = [s.cpu_cgroup for s in series.samples if s.quota == 20][2:]   # skip the first samples of the step
print("while the quota was 20%, the CPU never exceeded it by more than noise:", max(limited) < 27)""")
    L.md("""
## Memory: the limit and the OOM killer

The course's `docker run --memory=500m`. A memory limit is not a ceiling you slowly approach:
when the group needs more than the limit and nothing can be reclaimed, the kernel's
**OOM killer** kills a process in the group with SIGKILL. Here a program allocates 2 MiB every
50 ms inside a cgroup limited to 64 MiB (and no swap):
""")
    L.code("""
mem = sampler.memory_series("64m")
fig = plots_cgroup.plot_memory(mem)
print("killed by the OOM killer:", mem.info["oom_killed"], "| exit code:", mem.info["exit_code"])""")
    L.md("""
The same with minidocker: `-m 32m` (docker's `--memory`), and a shell pipeline that buffers 100 MB
(`tail` keeps everything until it sees the end). `inspect` tells you the container was OOM-killed:
""")
    L.code("""
sh("minidocker run --name l07-oom -m 32m --memory-swap 32m busybox sh -c 'head -c 100m /dev/zero | tail > /dev/null'",
   check=False, show=False)
sh("minidocker inspect -f 'OOMKilled={{.State.OOMKilled}} ExitCode={{.State.ExitCode}}' l07-oom")""")
    L.md("""
## pids: a fork bomb stops at the limit

`--pids-limit` caps the number of processes (and threads) in the group. The shell below tries to
start 7 background jobs with a limit of 5 processes:
""")
    L.code("""
sh("minidocker run --rm --pids-limit 5 busybox sh -c 'for i in 1 2 3 4 5 6 7; do sleep 2 & done; echo all started'",
   check=False)""")
    L.md("""
## Under the hood

Each `run` flag is a write to a cgroup file. The trace of a container with three limits
(cgroup v1 file names here; on v2 they are `cpu.max`, `memory.max`, `pids.max`):
""")
    L.code("""
with minidocker.trace() as t:
    sh("minidocker run --rm --cpus 0.5 -m 64m --pids-limit 20 busybox true", show=False)
explain(t, grep=r"echo .* > .*(quota|period|limit_in_bytes|pids\\.max|memory\\.max|cpu\\.max)", collapse=0)""")
    L.md("""
## cgroup v1 and v2, side by side

The course's host uses v1; today's distributions (EL9, Debian 12, Ubuntu 22.04) boot with v2.
minidocker speaks both; this table (from `minidocker.kernel.cgroups.MAPPING`) is the dictionary:
""")
    L.code("""
md_table(cgroups.MAPPING, cols=["what", "docker", "v1", "v2"],
         headers=["what", "docker flag / verb", "cgroup v1 file", "cgroup v2 file"])""")
    L.md("""
## Live: move the quota and watch

Run the next cell in JupyterLab: a slider sets the quota of a fresh deadloop's cgroup (each move
is the same write `minidocker update --cpus` does) and the plot follows every half second. When
the notebook runs unattended, the cell moves the slider itself and stops after a few seconds.
""")
    L.code("""
# nbval-ignore-output: a live widget; its numbers change with every sample.
from minidocker.lab.widgets_cgroup import quota_slider
slider = quota_slider(start_percent=50)
slider""", tags=["nbval-ignore-output"])
    L.code("""
# nbval-ignore-output: with no browser holding the widget, its background thread's redraws land here.
# move it from code (what dragging does), then stop the demo: deadloop killed, cgroup removed
for percent in (30, 70):
    slider.slider.value = percent
    time.sleep(2)
slider.stop()
print("slider stopped, its deadloop killed and its cgroup removed")""", tags=["nbval-ignore-output"])
    L.teardown(extra="demo.__exit__(None, None, None)   # the hand-made cgroup, if a cell stopped half-way")
    return L
