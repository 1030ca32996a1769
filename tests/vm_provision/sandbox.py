"""A throwaway Debian 12 "VM" for testing vagrant/provision.sh on this machine.

Not a virtual machine: a debootstrap'd bookworm root, in namespaces of its own,
that provision.sh can treat as a fresh Debian box. Map:

  ensure_root()     debootstrap a minimal bookworm root once, into CACHE (outside the repo)
  LabVM.start()     overlay a fresh writable layer on it and start the namespaces:
                      mount, pid, uts, ipc and a sealed network namespace (loopback only);
                      /proc, /sys, /dev; the project overlaid at /vagrant; the host's apt
                      cache and local pip indexes; a registry-only proxy (proxy.py)
  LabVM.run(cmd)    run a shell command inside (nsenter), return CompletedProcess
  LabVM.stop()      keep new .debs for next time; kill the namespace's PID 1: every process
                      inside dies, every mount (the tmpfs holding all writes too) goes with
                      the mount namespace

Why it is shaped so:
- systemd is not PID 1 inside (`sleep` is), as in a container: provision.sh must
  notice, install and enable the unit anyway, and start JupyterLab without it.
- All mounts are made inside a private mount namespace, so none can leak to the
  host even if the test process is killed.
- The sealed network namespace keeps provisioning's `sysctl net.ipv4.ip_forward=1`
  and JupyterLab's port 8888 away from the host; /proc/sys is read-only there
  except /proc/sys/net, so no package script can change a host-wide setting.
- Each run starts from the cached root under a new overlay: a second, not a new
  debootstrap. The cache is made once (about a minute with a warm apt cache);
  .debs and wheels downloaded by earlier runs are kept beside it (DEB_CACHE,
  PIP_CACHE), so later runs mostly install from disk.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("MINIDOCKER_TEST_VM_CACHE", "/var/cache/minidocker-test/bookworm-root"))
READY = ".minidocker-test-ready"          # marker: the cached root is complete
DEB_CACHE = CACHE.with_name("debs")      # .debs the root downloaded that the host's cache lacks
PIP_CACHE = CACHE.with_name("pip")       # pip's wheel cache for the root
SCRATCH_SIZE = "6g"                      # tmpfs limit for one run (a run uses about 1.2 GB)
HOST_APT_ARCHIVES = Path("/var/cache/apt/archives")
PIP_LOCAL_DIRS = ["/opt/wheels", "/opt/pypi", "/opt/pypi-more"]  # this machine's local indexes
#: this machine's pip settings and the CAs its registries' TLS chains need: copied in
#: before provisioning, as a developer's machine has them (ca-certificates' postinst
#: adds /usr/local/share/ca-certificates to the bundle pip uses)
HOST_CONFIG = ["/etc/pip.conf", "/etc/xdg/pip", "/root/.config/pip",
               "/usr/local/share/ca-certificates"]
PROJECT_IN_VM = "/vagrant"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REPO = Path(__file__).resolve().parents[2]
PROXY = Path(__file__).with_name("proxy.py")


def cache_ready() -> bool:
    return (CACHE / READY).exists()


def host_mirror() -> str:
    """The Debian mirror apt uses on this machine (first `URIs:`/`deb` line naming /debian)."""
    texts = [p.read_text() for p in sorted(Path("/etc/apt").glob("sources.list.d/*.sources"))]
    for text in texts:
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
    lst = Path("/etc/apt/sources.list")
    if lst.exists():
        m = re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)/?\s", lst.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def ensure_root() -> Path:
    """Debootstrap a minimal bookworm root into CACHE once; later calls return at once.

    Built in CACHE.partial and renamed when complete, so an interrupted build is
    never mistaken for a good one. Uses the host's apt cache for the .debs.
    """
    if cache_ready():
        return CACHE
    partial = CACHE.with_name(CACHE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["debootstrap", "--variant=minbase", f"--cache-dir={HOST_APT_ARCHIVES}",
                    "bookworm", str(partial), host_mirror()],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # the same suites as a real Debian 12 box (updates, security) when the host has them
    host_sources = Path("/etc/apt/sources.list.d/debian.sources")
    if host_sources.exists() and "bookworm" in host_sources.read_text():
        shutil.copy(host_sources, partial / "etc/apt/sources.list.d/debian.sources")
        (partial / "etc/apt/sources.list").unlink(missing_ok=True)
    # a chroot convention: package scripts do not start services here
    rc = partial / "usr/sbin/policy-rc.d"
    rc.write_text("#!/bin/sh\nexit 101\n")
    rc.chmod(0o755)
    (partial / READY).write_text("debootstrap --variant=minbase bookworm\n")
    shutil.rmtree(CACHE, ignore_errors=True)
    partial.rename(CACHE)
    return CACHE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup_script(scratch: Path) -> str:
    """The shell run as PID 1 of the new namespaces: mount everything, then become `sleep`.

    Everything writable lives in a tmpfs mounted over `scratch` inside the new
    mount namespace: nothing to delete afterwards (deleting a provisioned
    root's ~1 GB from disk took longer than provisioning it), nothing visible
    from the host.
    """
    m = scratch / "merged"
    dirs = " ".join(f"{scratch}/{d}" for d in ("upper", "work", "merged", "apt-upper", "apt-work",
                                               "src-upper", "src-work", "state", "tmp"))
    lines = [
        "set -eu",
        f"mount -t tmpfs -o size={SCRATCH_SIZE},mode=0700 md-vm9 {scratch}",
        f"mkdir {dirs}", f"chmod 1777 {scratch}/tmp",
        f"mount -t overlay overlay -o lowerdir={CACHE},upperdir={scratch}/upper,"
        f"workdir={scratch}/work {m}",
        f"mount -t proc proc {m}/proc",
        # /proc/sys read-only, except the network namespace's own /proc/sys/net
        f"mount --bind {m}/proc/sys {m}/proc/sys",
        f"mount --bind {m}/proc/sys/net {m}/proc/sys/net",
        f"mount -o remount,bind,ro {m}/proc/sys",
        # a sysfs of our own: /sys/class/net then shows this network namespace's
        # devices (bridges, veths made inside), with the host's cgroup trees on it
        f"mount -t sysfs sysfs {m}/sys",
        f"mount --rbind /sys/fs/cgroup {m}/sys/fs/cgroup",
        f"mount --rbind /dev {m}/dev",
        f"mount -t tmpfs -o mode=0755 tmpfs {m}/run",
        # a VM's /var/lib/minidocker and /tmp are on its disk, not on overlayfs
        # (overlay refuses an overlayfs upper dir): plain directories here
        f"mkdir -p {m}/var/lib/minidocker",
        f"mount --bind {scratch}/state {m}/var/lib/minidocker",
        f"mount --bind {scratch}/tmp {m}/tmp",
        # .debs: this test's earlier downloads and the host's below, new ones on top
        f"mount -t overlay overlay -o lowerdir={DEB_CACHE}:{HOST_APT_ARCHIVES},"
        f"upperdir={scratch}/apt-upper,workdir={scratch}/apt-work {m}/var/cache/apt/archives",
        # pip's wheel cache survives between runs (pip locks what it writes)
        f"mkdir -p {m}/root/.cache/pip",
        f"mount --bind {PIP_CACHE} {m}/root/.cache/pip",
        # the project, writable for pip's egg-info without touching the checkout
        f"mkdir -p {m}{PROJECT_IN_VM}",
        f"mount -t overlay overlay -o lowerdir={REPO},upperdir={scratch}/src-upper,"
        f"workdir={scratch}/src-work {m}{PROJECT_IN_VM}",
    ]
    for d in PIP_LOCAL_DIRS:
        if Path(d).is_dir():
            lines += [f"mkdir -p {m}{d}", f"mount --bind {d} {m}{d}",
                      f"mount -o remount,bind,ro {m}{d}"]
    for f in HOST_CONFIG:
        if Path(f).exists():
            lines += [f"mkdir -p {m}{Path(f).parent}", f"cp -a {f} {m}{Path(f).parent}/"]
    # dpkg without fsync, as container images do: the root is thrown away anyway
    lines += [f"echo force-unsafe-io > {m}/etc/dpkg/dpkg.cfg.d/minidocker-test-unsafe-io"]
    # this run's new .debs and the kept ones, reachable from inside for keep_new_debs()
    lines += [f"mkdir -p {m}/run/md9/new {m}/run/md9/debs",
              f"mount --bind {scratch}/apt-upper {m}/run/md9/new",
              f"mount --bind {DEB_CACHE} {m}/run/md9/debs"]
    # pivot_root, not chroot: with chroot the mount namespace's root would stay
    # the host's /, and anything that setns()es into a mount namespace made
    # inside (`minidocker exec` does) would land in the host's tree, /proc and all
    lines += ["hostname minidocker-lab", f"mkdir {m}/run/oldroot", f"cd {m}",
              "pivot_root . run/oldroot",
              "exec /usr/bin/env -i /bin/sh -c "
              "'umount -l /run/oldroot && rmdir /run/oldroot && exec /bin/sleep infinity'"]
    return "\n".join(lines) + "\n"


class LabVM:
    """One fresh provisioning target. Use as a context manager; stop() always cleans up."""

    def __init__(self) -> None:
        self.scratch: Path | None = None
        self.unshare: subprocess.Popen | None = None
        self.proxy: subprocess.Popen | None = None
        self.init_pid = 0
        self.proxy_port = 0
        self.proxy_log: Path | None = None

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> "LabVM":
        ensure_root()
        self.scratch = Path(tempfile.mkdtemp(prefix="md-vm9-", dir="/var/tmp"))
        DEB_CACHE.mkdir(exist_ok=True)
        PIP_CACHE.mkdir(exist_ok=True)
        try:
            self.unshare = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--fork", "--uts", "--ipc", "--net",
                 "--propagation", "private", "/bin/sh", "-c", _setup_script(self.scratch)],
                stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.init_pid = self._wait_for_init()
            netns = f"/proc/{self.init_pid}/ns/net"
            subprocess.run(["nsenter", f"--net={netns}", "ip", "link", "set", "lo", "up"], check=True)
            self.proxy_port = _free_port()
            self.proxy_log = self.scratch.with_name(self.scratch.name + ".proxy.log")
            with open(self.proxy_log, "w") as log:
                self.proxy = subprocess.Popen([sys.executable, str(PROXY), netns, str(self.proxy_port)],
                                              stdout=subprocess.PIPE, stderr=log, text=True)
            assert self.proxy.stdout is not None
            if self.proxy.stdout.readline().strip() != "ready":
                raise RuntimeError(f"proxy did not start: {self.proxy_log.read_text()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_init(self) -> int:
        """PID (host view) of the namespace's PID 1, once it has become `sleep` in the new root."""
        assert self.unshare is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.unshare.poll() is not None:
                err = self.unshare.stderr.read().decode() if self.unshare.stderr else ""
                raise RuntimeError(f"namespace setup failed: {err}")
            try:
                kids = Path(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children").read_text().split()
                if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("namespace setup timed out")

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.kill()
            self.proxy.wait()
            self.proxy = None
        if self.init_pid:
            self._keep_new_debs()
            try:
                os.kill(self.init_pid, 9)  # PID 1 of the namespace: the kernel kills all inside
            except ProcessLookupError:
                pass
            self.init_pid = 0
        if self.unshare is not None:
            try:
                self.unshare.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.unshare.kill()
                self.unshare.wait()
            self.unshare = None
        if self.scratch is not None:
            # the tmpfs and every mount went with the mount namespace: an empty directory is left
            shutil.rmtree(self.scratch, ignore_errors=True)
            if self.proxy_log is not None:
                self.proxy_log.unlink(missing_ok=True)
            self.scratch = None

    def _keep_new_debs(self) -> None:
        """Copy the .debs this run downloaded into DEB_CACHE, for the next run."""
        self.run("cp -n /run/md9/new/*.deb /run/md9/debs/ 2>/dev/null || true", timeout=120)

    def __enter__(self) -> "LabVM":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- use -----------------------------------------------------------------
    def env(self) -> list[str]:
        proxy = f"http://127.0.0.1:{self.proxy_port}"
        env = [f"PATH={PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb",
               f"http_proxy={proxy}", f"https_proxy={proxy}", "no_proxy=127.0.0.1,localhost"]
        # this machine's pip settings (local indexes, certificate), as a developer has them
        env += [f"{k}={v}" for k, v in os.environ.items() if k.startswith("PIP_")]
        return env

    def run(self, script: str, timeout: float = 900, check: bool = False) -> subprocess.CompletedProcess:
        """Run `bash -c script` as root inside, from /, with a clean environment."""
        cmd = ["nsenter", f"--target={self.init_pid}", "--mount", "--uts", "--ipc", "--net", "--pid",
               "--root", "--wd", "/usr/bin/env", "-i", *self.env(),
               "/bin/bash", "-c", f"cd / && {script}"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)

    def mounts_left_on_host(self, scratch: Path) -> list[str]:
        """Lines of the host's mount table that mention scratch (should be none after stop())."""
        return [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(scratch) in ln]
