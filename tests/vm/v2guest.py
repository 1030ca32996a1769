"""A throwaway qemu guest that is a pure cgroup v2 host, to run pytest on a real v2 kernel.

Why: the students' lab VM (EL9) is cgroup v2 only, while this machine and CI
are cgroup v1 (hybrid). This boots Debian's own kernel with a tiny initramfs,
shares the host's `/` read-only (tmpfs overlay on top), so the guest runs this
very checkout with the host's python, and brings the results back through a
second 9p share. See docs/v2-guest.md for the picture and the timings.

Map:
  Unavailable                     -> raised when the guest cannot be had (the host test skips)
  missing_tools() / pick_accel()  -> host prerequisites; kvm only where it can run a stock kernel
  build(cache_dir)                -> kernel + initramfs into the cache, once (flock + atomic rename)
    _kernel_deb                   -> apt: the package linux-image-amd64 points to, `apt-get download`
    _module_order                 -> `modprobe --show-depends` against the unpacked tree
    write_cpio                    -> newc archive writer (no cpio binary needed)
  boot(selection, ...)            -> one qemu run; qemu is killed on every exit path
  GuestResult                     -> rc, log, console, facts, per-test records
  new_results_dir()               -> /var/tmp/minidocker-v2guest/run-*, the last few kept
  default_selection()             -> DEFAULT_SELECTION's existing files, or $MINIDOCKER_V2GUEST_TESTS
  main()                          -> CLI: `build` | `run [pytest args]`

Host tools (Debian packages): qemu-system-x86, kmod (depmod, modprobe),
busybox-static, dpkg + apt (always there). The kernel package is fetched with
`apt-get download` and unpacked with `dpkg -x`: nothing is installed in /boot.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# --- knobs (environment variables override; see docs/v2-guest.md) ------------
CACHE_DIR = os.environ.get("MINIDOCKER_V2GUEST_CACHE", "/var/cache/minidocker-test/v2guest")
KERNEL_META = "linux-image-amd64"     # Debian's metapackage; it depends on the current kernel
MEM_MB = 2048                         # the tmpfs upper layer and the tests' scratch live in RAM
SMP = 2                               # measured: see docs/v2-guest.md
NICE = -10                            # qemu's priority on a busy host; 0 to be polite
TIMEOUT = 900.0                       # seconds, whole boot; a healthy run takes a few minutes
RESULTS_DIR = os.environ.get("MINIDOCKER_V2GUEST_RESULTS", "/var/tmp/minidocker-v2guest")
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"              # busybox-static: runs in an initramfs with no libc

#: Kernel command line. cgroup_no_v1=all: a pure v2 host like EL9, nothing of v1
#: can be mounted. panic=-1 + qemu's -no-reboot: a guest panic ends qemu at once.
#: tsc=reliable: under TCG the TSC watchdog often gives up on the TSC and the
#: wall clock moves to the emulated HPET (slow MMIO reads), while the scheduler
#: still charges CPU time by the TSC: one clock for both keeps usage/wall honest.
CMDLINE = ("console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all mitigations=off "
           "8250.nr_uarts=1 random.trust_cpu=on tsc=reliable")

#: Selection run in the guest by default; only the files that exist are used.
#: Boot to result under TCG on 2 cores: 188 s quiet, 264-391 s loaded (docs/v2-guest.md).
DEFAULT_SELECTION = [
    "tests/vm/smoke_v2.py",                    # the guest itself: v2 mounted, controllers, cpu.max
    "tests/integration/test_cgroups_v2.py",    # the cgroup v2 backend on a real v2 kernel
    # the runtime on a second kernel version and a pure v2 host: a handful, not all
    "tests/vm/runtime_v2.py",                  # run --rm echo; exec lands in the v2 cgroup
    "tests/integration/test_cgroups_cli.py::test_run_limits_update_stats_pause_rm",
    "tests/integration/test_runtime.py::test_pid1_hostname_and_ps",
    "tests/integration/test_overlay.py::test_copy_up_whiteout_and_opaque",
    "tests/integration/test_network_lib.py::test_two_containers_ping_by_ip_on_the_bridge",
]

#: Modules that Debian's kernel does not build in, by what they are for.
#: Dependencies are added by modprobe; names missing from a kernel are skipped.
MODULES = [
    "virtio_pci", "virtio_rng",                         # devices qemu gives us
    "9pnet_virtio", "9p",                               # the host root and results shares
    "overlay",                                          # guest root + container rootfs
    "veth", "bridge", "br_netfilter", "tun", "loop",    # container networking
    # iptables on Debian 12 is iptables-nft: nf_tables + xtables compat
    "nf_tables", "nft_compat", "nft_chain_nat", "nft_ct", "nft_nat", "nft_masq",
    "nft_reject_ipv4", "nft_reject_inet", "nft_fib_ipv4", "nft_fib_inet",
    "xt_MASQUERADE", "xt_conntrack", "xt_addrtype", "xt_comment", "xt_tcpudp",
    "xt_nat", "xt_mark", "xt_multiport", "iptable_nat", "iptable_filter",
    "ipt_REJECT",
]
#: Bump when the initramfs layout changes in a way the file hashes don't see.
LAYOUT_VERSION = 2


class Unavailable(Exception):
    """The guest cannot be had on this host (missing tool, no kernel package)."""


# --- host prerequisites ---------------------------------------------------------
def missing_tools() -> list[str]:
    """Host tools the harness needs that are not installed, with their Debian package."""
    need = {QEMU: "qemu-system-x86", "depmod": "kmod", "modprobe": "kmod",
            "dpkg": "dpkg", "apt-get": "apt", "apt-cache": "apt"}
    out = [f"{tool} ({pkg})" for tool, pkg in need.items() if not _which(tool)]
    if not os.access(BUSYBOX, os.X_OK):
        out.append(f"{BUSYBOX} (busybox-static)")
    return out


def pick_accel() -> str:
    """kvm only with a real vendor module: the paravirtual kvm_pvm found on
    some cloud VMs exposes /dev/kvm but cannot run a stock kernel."""
    env = os.environ.get("MINIDOCKER_V2GUEST_ACCEL")
    if env:
        return env
    real_kvm = any(os.path.isdir(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd"))
    return "kvm" if real_kvm and os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"


def _which(tool: str) -> str | None:
    # depmod and modprobe live in /usr/sbin, which a non-login PATH may lack
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([_which(cmd[0]) or cmd[0]] + cmd[1:], capture_output=True, text=True, **kw)


# --- the cache: kernel + initramfs, built once ------------------------------------
def _kernel_deb(dl_dir: str) -> str:
    """Path of the kernel .deb `linux-image-amd64` depends on, downloading it if needed.

    Shell: apt-cache depends linux-image-amd64; apt-get download linux-image-6.1.0-NN-amd64
    Offline, falls back to the newest .deb already in the cache."""
    os.makedirs(dl_dir, exist_ok=True)
    have = sorted(f for f in os.listdir(dl_dir) if f.startswith("linux-image-") and f.endswith(".deb"))
    res = _run(["apt-cache", "depends", KERNEL_META])
    m = re.search(r"Depends: (linux-image-[\w.+-]+)", res.stdout)
    if not m:
        if have:
            return os.path.join(dl_dir, have[-1])
        raise Unavailable(f"apt does not know {KERNEL_META} (run `apt-get update`): "
                          f"{res.stderr.strip()[:200]}")
    pkg = m.group(1)
    mine = [f for f in have if f.startswith(pkg + "_")]
    if mine:
        return os.path.join(dl_dir, mine[-1])
    # into a temp dir first: an interrupted download never looks like a cached .deb
    with tempfile.TemporaryDirectory(prefix=".dl-", dir=dl_dir) as tmp:
        res = _run(["apt-get", "download", pkg], cwd=tmp)
        got = sorted(f for f in os.listdir(tmp) if f.startswith(pkg + "_") and f.endswith(".deb"))
        if res.returncode != 0 or not got:
            raise Unavailable(f"`apt-get download {pkg}` failed: {res.stderr.strip()[-300:]}")
        os.rename(os.path.join(tmp, got[-1]), os.path.join(dl_dir, got[-1]))
    return os.path.join(dl_dir, got[-1])


def _module_order(root: str, kver: str) -> tuple[list[str], list[str]]:
    """The .ko files (relative to root) for MODULES, dependencies first, no repeats.

    Shell: depmod -b ROOT KVER; modprobe -d ROOT -S KVER --show-depends NAME"""
    r = _run(["depmod", "-b", root, kver])
    if r.returncode != 0:
        raise Unavailable(f"depmod failed: {r.stderr.strip()[:300]}")
    order: list[str] = []
    missing: list[str] = []
    for name in MODULES:
        r = _run(["modprobe", "-d", root, "-S", kver, "--show-depends", name])
        if r.returncode != 0:
            missing.append(name)       # not in this kernel, or built in
            continue
        for line in r.stdout.splitlines():
            parts = line.split()
            if parts[:1] == ["insmod"] and parts[1] not in order:
                order.append(parts[1])
    return order, missing


def write_cpio(path: str, entries: list[tuple]) -> None:
    """Write a newc ("070701") cpio archive, the format the kernel unpacks as initramfs.

    entries: (name, mode, data: bytes, rdev: (major, minor)). Directories and
    device nodes have empty data; a symlink's data is its target."""
    with open(path, "wb") as f:
        def pad(n: int) -> None:
            f.write(b"\0" * (-n % 4))
        for ino, (name, mode, data, rdev) in enumerate(entries + [("TRAILER!!!", 0, b"", (0, 0))], 1):
            bname = name.encode() + b"\0"
            fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(bname), 0]
            hdr = b"070701" + b"".join(b"%08X" % v for v in fields)
            f.write(hdr + bname)
            pad(len(hdr) + len(bname))
            f.write(data)
            pad(len(data))


def _harness_key(deb: str) -> str:
    h = hashlib.sha256(f"{LAYOUT_VERSION} {os.path.basename(deb)} {MODULES}".encode())
    for p in (os.path.join(HERE, "guest_init.sh"), os.path.join(HERE, "guest_run.sh"), BUSYBOX):
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:12]


def build(cache_dir: str = CACHE_DIR, log=print) -> dict:
    """Kernel + initramfs in `cache_dir/<kver>-<key>/`, built once; returns its manifest.

    Concurrency-safe: an flock serialises builders, and a build happens in a
    temp dir renamed into place, so a reader never sees half a cache entry.
    Shell: dpkg -x linux-image-*.deb X; depmod -b X; (cpio of busybox + modules)"""
    missing = missing_tools()
    if missing:
        raise Unavailable("missing host tools: " + ", ".join(missing))
    if platform.machine() != "x86_64":
        raise Unavailable(f"the guest kernel is amd64; this host is {platform.machine()}")
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, ".lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        deb = _kernel_deb(os.path.join(cache_dir, "dl"))
        key = _harness_key(deb)
        for d in os.listdir(cache_dir):
            mf = os.path.join(cache_dir, d, "manifest.json")
            if d.endswith("-" + key) and os.path.exists(mf):
                with open(mf) as f:
                    return json.load(f)
        t0 = time.monotonic()
        tmp = tempfile.mkdtemp(prefix=".build-", dir=cache_dir)
        try:
            manifest = _build_into(tmp, deb, key, log)
            final = os.path.join(cache_dir, f"{manifest['kernel']}-{key}")
            manifest.update(dir=final, vmlinuz=os.path.join(final, manifest["kernel_file"]),
                            initramfs=os.path.join(final, "initramfs.cpio"),
                            build_seconds=round(time.monotonic() - t0, 1))
            with open(os.path.join(tmp, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=1)
            os.chmod(tmp, 0o755)
            os.rename(tmp, final)
            _prune(cache_dir, keep=final)
            log(f"v2guest: built {final} in {manifest['build_seconds']} s")
            return manifest
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _prune(cache_dir: str, keep: str) -> None:
    """Drop cache entries of older harness versions (an hour old: none still booting)."""
    for d in os.listdir(cache_dir):
        p = os.path.join(cache_dir, d)
        if (p != keep and not d.startswith(".") and d != "dl"
                and time.time() - os.path.getmtime(p) > 3600):
            shutil.rmtree(p, ignore_errors=True)


def _build_into(out: str, deb: str, key: str, log) -> dict:
    x = os.path.join(out, "x")
    log(f"v2guest: unpacking {os.path.basename(deb)}")
    r = _run(["dpkg", "-x", deb, x])
    if r.returncode != 0:
        os.unlink(deb)                 # damaged: the next build downloads it again
        raise Unavailable(f"dpkg -x {deb} failed: {r.stderr.strip()[:300]}")
    kvers = os.listdir(os.path.join(x, "lib", "modules"))
    if len(kvers) != 1:
        raise Unavailable(f"expected one kernel in {deb}, found {kvers}")
    kver = kvers[0]
    order, skipped = _module_order(x, kver)
    mod_root = os.path.join(x, "lib", "modules", kver) + "/"

    def read(p: str) -> bytes:
        with open(p, "rb") as f:
            return f.read()

    D, F, L = 0o040755, 0o100755, 0o120777
    entries: list[tuple] = [(d, D, b"", (0, 0)) for d in
                            ("bin", "dev", "proc", "sys", "mnt", "newroot", "modules")]
    entries.append(("dev/console", 0o020600, b"", (5, 1)))   # init's stdin/stdout
    entries.append(("bin/busybox", F, read(BUSYBOX), (0, 0)))
    for applet in ("sh", "mount", "insmod", "mkdir", "cp", "cut", "sleep", "switch_root", "cat"):
        entries.append((f"bin/{applet}", L, b"busybox", (0, 0)))
    entries.append(("init", F, read(os.path.join(HERE, "guest_init.sh")), (0, 0)))
    entries.append(("stage2.sh", F, read(os.path.join(HERE, "guest_run.sh")), (0, 0)))
    names = []
    for i, ko in enumerate(order):
        rel = ko[len(mod_root):] if ko.startswith(mod_root) else ko
        name = f"{i:02d}-{os.path.basename(rel)}"
        names.append(name)
        entries.append((f"modules/{name}", 0o100644, read(ko), (0, 0)))
    entries.append(("modules/order", 0o100644, ("\n".join(names) + "\n").encode(), (0, 0)))
    write_cpio(os.path.join(out, "initramfs.cpio"), entries)
    bz = os.path.join(x, "boot", f"vmlinuz-{kver}")
    kernel_file = "vmlinux" if _extract_vmlinux(bz, os.path.join(out, "vmlinux")) else "vmlinuz"
    if kernel_file == "vmlinuz":
        shutil.copy(bz, os.path.join(out, "vmlinuz"))
    shutil.rmtree(x)
    return {"kernel": kver, "deb": os.path.basename(deb), "key": key, "kernel_file": kernel_file,
            "modules": names, "modules_not_found": skipped}


def _extract_vmlinux(bzimage: str, out: str) -> bool:
    """Unpack the ELF kernel from an xz bzImage, if it can boot through PVH.

    Why: qemu loads an ELF kernel with a PVH entry note directly, skipping the
    real-mode setup and the in-guest xz decompression, which under TCG took
    ~10 s of every boot (measured: first guest output 16 s -> 5 s).
    Shell: the kernel's scripts/extract-vmlinux."""
    import lzma
    with open(bzimage, "rb") as f:
        data = f.read()
    i = data.find(b"\xfd7zXZ\x00")
    if i < 0:
        return False
    try:
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[i:])
    except lzma.LZMAError:
        return False
    # XEN_ELFNOTE_PHYS32_ENTRY (18) in a "Xen" note: the PVH entry point qemu needs
    note = [struct.pack("<III", 4, n, 18) + b"Xen\x00" for n in (4, 8)]
    if elf[:4] != b"\x7fELF" or not any(n in elf for n in note):
        return False
    with open(out, "wb") as f:
        f.write(elf)
    return True


# --- one boot -------------------------------------------------------------------
@dataclass
class GuestResult:
    rc: int | None                    # pytest's exit code in the guest; None: it never reported
    log: str                          # pytest's output in the guest
    console: str                      # the guest's serial console (kernel + stage 1)
    facts: dict                       # kernel, cgroup fstype, controllers, timings
    results: dict                     # guest_report.py: {"tests": {nodeid: rec}, ...}
    seconds: float                    # host wall time from qemu start to exit
    timed_out: bool = False
    accel: str = "tcg"
    smp: int = SMP
    manifest: dict = field(default_factory=dict)
    dir: str = ""                     # the results share on the host (console.log, log, ...)

    def __repr__(self) -> str:      # short: pytest prints fixtures in failure reports
        return f"<GuestResult rc={self.rc} {self.summary()}>"

    def tests(self, prefix: str = "") -> dict:
        return {k: v for k, v in self.results.get("tests", {}).items() if k.startswith(prefix)}

    def counts(self, prefix: str = "") -> dict:
        c: dict = {}
        for rec in self.tests(prefix).values():
            c[rec["outcome"]] = c.get(rec["outcome"], 0) + 1
        return c

    def summary(self) -> str:
        c = self.counts()
        parts = ", ".join(f"{n} {k}" for k, n in sorted(c.items())) or "no test results"
        return (f"real kernel {self.facts.get('kernel', '?')} in a qemu guest "
                f"({self.accel}, {self.smp} vcpu, {self.seconds:.0f} s boot-to-result): {parts}")

    def tail(self, n: int = 60) -> str:
        """The end of whatever the guest said, for a failure message."""
        text = self.log or self.console
        return "\n".join(text.splitlines()[-n:])


def _qemu_child_setup() -> None:
    """Runs in the forked child before exec'ing qemu."""
    # qemu dies with us even if pytest is SIGKILLed (prctl PR_SET_PDEATHSIG).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    os.setsid()
    # An emulated CPU that the host deschedules fires the guest's cgroup period
    # timers late, and CPU shares read low (docs/v2-guest.md, "clock").
    try:
        os.nice(int(os.environ.get("MINIDOCKER_V2GUEST_NICE", NICE)))
    except (OSError, ValueError):
        pass


def boot(selection: list[str], results_dir: str, *, repo: str = REPO, python: str = sys.executable,
         timeout: float = TIMEOUT, smp: int = SMP, mem_mb: int = MEM_MB,
         accel: str | None = None, manifest: dict | None = None, env: dict | None = None,
         log=print) -> GuestResult:
    """Boot the guest once, run `pytest SELECTION` in it, return what it reported.

    results_dir must be empty-ish and is shared read-write with the guest;
    env: extra environment variables for pytest in the guest."""
    manifest = manifest or build(log=log)
    accel = accel or pick_accel()
    timeout = float(os.environ.get("MINIDOCKER_V2GUEST_TIMEOUT", timeout))
    os.makedirs(results_dir, exist_ok=True)
    job = {"REPO": repo, "PY": python, "SELECTION": " ".join(selection),
           "GUEST_TIMEOUT": str(max(30, int(timeout) - 60)), "ACCEL": accel}
    with open(os.path.join(results_dir, "job.sh"), "w") as f:
        f.writelines(f"{k}={shlex.quote(v)}\n" for k, v in job.items())
        f.writelines(f"export {k}={shlex.quote(v)}\n" for k, v in (env or {}).items())
    console = os.path.join(results_dir, "console.log")
    cmdline = " ".join([CMDLINE, os.environ.get("MINIDOCKER_V2GUEST_APPEND", "")]).strip()
    cmd = [QEMU, "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
           "-machine", "q35", "-smp", str(smp), "-m", str(mem_mb),
           "-kernel", manifest["vmlinuz"], "-initrd", manifest["initramfs"], "-append", cmdline,
           "-serial", f"file:{console}", "-monitor", "none",
           "-device", "virtio-rng-pci",
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on",
           "-virtfs", f"local,path={results_dir},mount_tag=results,security_model=none"]
    extra = os.environ.get("MINIDOCKER_V2GUEST_QEMU_ARGS", "").split()
    if "-accel" in extra:
        pass                           # the caller chose (an experiment: docs/v2-guest.md)
    elif accel == "kvm":
        cmd += ["-accel", "kvm", "-cpu", "host"]
    else:
        cmd += ["-accel", "tcg,thread=multi" if smp > 1 else "tcg", "-cpu", "max"]
    cmd += extra
    t0 = time.monotonic()
    timed_out = False
    with open(os.path.join(results_dir, "qemu.stderr"), "w") as err:
        proc = subprocess.Popen([_which(QEMU) or QEMU] + cmd[1:], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                preexec_fn=_qemu_child_setup)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:                       # timeout, KeyboardInterrupt, anything: no qemu left
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - t0
    return _collect(results_dir, seconds, timed_out, accel, smp, manifest)


def _collect(d: str, seconds: float, timed_out: bool, accel: str, smp: int, manifest: dict) -> GuestResult:
    def text(name: str) -> str:
        try:
            with open(os.path.join(d, name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def js(name: str) -> dict:
        try:
            return json.loads(text(name) or "{}")
        except ValueError:
            return {}
    rc_text = text("rc").strip()
    console = text("console.log") + text("qemu.stderr") + text("error")
    return GuestResult(rc=int(rc_text) if rc_text.lstrip("-").isdigit() else None,
                       log=text("log"), console=console, facts=js("facts.json"),
                       results=js("results.json"), seconds=seconds, timed_out=timed_out,
                       accel=accel, smp=smp, manifest=manifest, dir=d)


def new_results_dir(base: str = RESULTS_DIR, keep: int = 5) -> str:
    """A fresh results directory, outside pytest's basetemp (which other
    sessions rotate away within minutes); the newest `keep` earlier runs stay."""
    os.makedirs(base, exist_ok=True)
    runs = sorted((d for d in os.listdir(base) if d.startswith("run-")),
                  key=lambda d: os.path.getmtime(os.path.join(base, d)))
    for d in runs[:-keep] if len(runs) >= keep else []:
        if time.time() - os.path.getmtime(os.path.join(base, d)) > TIMEOUT:   # not still booting
            shutil.rmtree(os.path.join(base, d), ignore_errors=True)
    return tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=base)


def default_selection(repo: str = REPO) -> list[str]:
    """The selection to run: $MINIDOCKER_V2GUEST_TESTS, or DEFAULT_SELECTION's existing files."""
    env = os.environ.get("MINIDOCKER_V2GUEST_TESTS")
    if env:
        return env.split()
    return [p for p in DEFAULT_SELECTION if os.path.exists(os.path.join(repo, p.split("::")[0]))]


# --- CLI --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """python tests/vm/v2guest.py build          # fill the cache (CI can do this up front)
       python tests/vm/v2guest.py run [ARGS...]  # boot once, pytest ARGS in the guest"""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("build", "run"):
        print(main.__doc__)
        return 2
    try:
        manifest = build()
        if argv[0] == "build":
            print(json.dumps(manifest, indent=1))
            return 0
        sel = argv[1:] or default_selection()
        r = boot(sel, new_results_dir(), manifest=manifest)
        print(r.log or r.console)
        print("v2guest:", r.summary(), f"rc={r.rc}", "(timed out)" if r.timed_out else "")
        print(f"v2guest: guest uptime at pytest start: {r.facts.get('t_pytest_start')} s; "
              f"results in {r.dir}")
        return r.rc if r.rc is not None else 1
    except Unavailable as e:
        print(f"v2guest: unavailable: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
