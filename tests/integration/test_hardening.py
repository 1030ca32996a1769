"""Confinement (issue 10): capabilities, no_new_privs, seccomp, masked /proc, /dev, devices.

Every test runs a real container and checks what its process may do, next to a
control (--privileged, --cap-add, plain chroot) that shows the same check *can*
fail. docs/security.md lists each line with the test that proves it.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from minidocker.kernel import capabilities as caps
from minidocker.runtime import security
from tests.helpers import MINIDOCKER, REPO, md

pytestmark = pytest.mark.usefixtures("root_only", "host_clean")

NET = ("--network", "none")


def run(*args, **kw):
    """`minidocker run --rm --network none ARGS...` -> CompletedProcess."""
    return md("run", "--rm", *NET, *args, **kw)


def sh(script: str, *flags: str):
    return run(*flags, "busybox", "sh", "-c", script)


def status_caps(*flags: str) -> dict[str, frozenset[int]]:
    p = sh("cat /proc/self/status", *flags)
    assert p.returncode == 0, p.stderr
    return caps.from_status(p.stdout)


def field(text: str, key: str) -> str:
    return next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith(key + ":"))


def device_guarded() -> bool:
    """Will a container's PID 1 sit behind a device allow-list? v1: if the manager has the
    devices hierarchy; v2: always (restrict_devices attaches the eBPF program)."""
    from minidocker.kernel import cgroups
    return security.DEVICE_CGROUP or cgroups.version() == 2


def expected_default() -> frozenset[int]:
    # docker's a80425fb; without a device allow-list we keep everything but MKNOD (see security.py)
    return caps.DOCKER_DEFAULT if device_guarded() else caps.DOCKER_DEFAULT - {caps.number("MKNOD")}


# --- capabilities -----------------------------------------------------------------

def test_default_caps_are_dockers_in_every_set():
    s = status_caps()
    want = expected_default()
    assert caps.to_hex(caps.DOCKER_DEFAULT) == "00000000a80425fb"   # what `docker run` shows
    assert s["CapBnd"] == s["CapEff"] == s["CapPrm"] == want, {k: caps.names(v) for k, v in s.items()}
    assert s["CapInh"] == frozenset() and s["CapAmb"] == frozenset()
    assert caps.number("SYS_ADMIN") not in s["CapBnd"]


def test_cap_add_and_drop_change_what_root_may_do():
    s = status_caps("--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN")
    assert caps.number("NET_ADMIN") in s["CapEff"] and caps.number("NET_ADMIN") in s["CapBnd"]
    assert caps.number("CHOWN") not in s["CapEff"] and caps.number("CHOWN") not in s["CapBnd"]
    script = "touch /tmp/f; chown 1 /tmp/f && echo chown-ok; ip link set lo mtu 1280 && echo ip-ok; true"
    default = sh(script)
    tweaked = sh(script, "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN")
    assert default.stdout.split() == ["chown-ok"], default.stderr
    assert tweaked.stdout.split() == ["ip-ok"], tweaked.stderr
    assert "Operation not permitted" in tweaked.stderr


def test_cap_drop_all_then_add_one():
    s = status_caps("--cap-drop", "ALL", "--cap-add", "KILL")
    assert s["CapBnd"] == s["CapEff"] == s["CapPrm"] == {caps.number("KILL")}
    s = status_caps("--cap-drop", "ALL")
    assert s["CapEff"] == s["CapBnd"] == frozenset()


def test_user_switch_empties_every_set_but_bounding():
    p = sh("id -u; id -g; cat /proc/self/status", "--user", "1000:1000")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[:2] == ["1000", "1000"]
    s = caps.from_status(p.stdout)
    assert s["CapEff"] == s["CapPrm"] == s["CapInh"] == s["CapAmb"] == frozenset()
    assert s["CapBnd"] == expected_default()


def test_privileged_keeps_everything_and_nothing_is_masked():
    p = sh("cat /proc/self/status; echo x > /proc/sys/kernel/hostname && hostname", "--privileged")
    assert p.returncode == 0, p.stderr
    s = caps.from_status(p.stdout)
    host = caps.from_status(open("/proc/self/status").read())
    assert s["CapEff"] == host["CapBnd"] and caps.number("SYS_ADMIN") in s["CapEff"]
    assert field(p.stdout, "NoNewPrivs") == "0" and field(p.stdout, "Seccomp") == "0"
    assert p.stdout.split()[-1] == "x"   # /proc/sys is writable (the hostname knob is per-UTS-ns)


def test_no_new_privs_and_seccomp_are_on():
    p = sh("cat /proc/self/status")
    assert field(p.stdout, "NoNewPrivs") == "1"
    assert field(p.stdout, "Seccomp") == "2"


def test_seccomp_blocks_user_namespaces_unless_unconfined():
    # unshare(CLONE_NEWUSER) needs no capability at all: only seccomp stops it (as in docker)
    p = sh("unshare -U true && echo made-userns")
    assert p.stdout.strip() == "" and "Operation not permitted" in p.stderr
    p = sh("unshare -U true && echo made-userns", "--security-opt", "seccomp=unconfined")
    assert p.stdout.strip() == "made-userns", p.stderr


def test_cap_add_reopens_the_syscalls_it_guards():
    # docker's rule: seccomp lets mount/unshare through when CAP_SYS_ADMIN is added
    script = "unshare -m true && echo UNSHARED"
    assert "UNSHARED" not in sh(script).stdout
    p = sh(script, "--cap-add", "SYS_ADMIN")
    assert "UNSHARED" in p.stdout, p.stderr


def test_no_new_privileges_false_turns_it_off():
    p = sh("grep NoNewPrivs: /proc/self/status", "--security-opt", "no-new-privileges=false")
    assert p.stdout.split()[-1] == "0"


# --- /proc, /sys, /dev ----------------------------------------------------------------

def test_masked_proc_paths_are_empty_inside():
    present = [p for p in security.MASKED_PATHS if os.path.exists(p)]
    assert present, "this kernel has none of docker's masked paths?"
    script = "; ".join(f"echo {p} $(cat {p} 2>/dev/null | wc -c) $(ls -A {p} 2>/dev/null | wc -l)"
                       for p in present)
    p = sh(script)
    assert p.returncode == 0, p.stderr
    for line in p.stdout.splitlines():
        path, nbytes, nentries = line.split()
        assert nbytes == "0" and nentries in ("0", "1"), line   # ls of a file prints its own name
    # and the host does have something there, so the mask is what made them empty
    readable = [p for p in present if os.path.isfile(p) and open(p, "rb").read(1)]
    assert readable, present


@pytest.mark.parametrize("path", ["/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/sys/class/net/lo/mtu"])
def test_readonly_proc_and_sys(path):
    if not os.path.exists(path):
        pytest.skip(f"this kernel has no {path}")
    # harmless even if a write went through: "h" to sysrq prints help to the kernel log, the
    # hostname knob is per UTS namespace, lo is the container's own (and "h" is no MTU)
    p = sh(f"echo h > {path} && echo WROTE")
    assert "WROTE" not in p.stdout and "Read-only file system" in p.stderr, p.stderr


def test_dev_holds_only_dockers_devices():
    p = sh("ls -A /dev; ls -l /dev | grep '^[bc]' | wc -l")
    names = set(p.stdout.split()[:-1])
    assert names == {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx",
                     "fd", "stdin", "stdout", "stderr"}, names
    assert p.stdout.split()[-1] == "6"    # six device nodes, all character devices


# --- escapes that must fail ---------------------------------------------------------------

def test_remount_root_or_proc_read_write_fails():
    p = sh("mount -o remount,rw / && echo ROOT-RW; mount -o remount,rw /proc/sys && echo SYS-RW; "
           "mount -o remount,rw /sys && echo SYSFS-RW; mount -t proc proc /mnt && echo NEW-PROC; "
           "touch /x 2>&1 && echo WROTE-ROOT; true", "--read-only")
    for bad in ("ROOT-RW", "SYS-RW", "SYSFS-RW", "NEW-PROC", "WROTE-ROOT"):
        assert bad not in p.stdout, p.stdout
    assert "permission denied" in p.stderr.lower()


def _host_disk() -> tuple[int, int]:
    """A host block device that root on the host *can* open: the root disk if this host
    lets us (a sandboxed VM may not), else another disk (zram, loop)."""
    st = os.stat("/")
    candidates = [(os.major(st.st_dev), os.minor(st.st_dev))]
    for name in sorted(os.listdir("/dev")):
        try:
            s = os.stat(f"/dev/{name}")
        except OSError:
            continue
        if (s.st_mode & 0o170000) == 0o060000:
            candidates.append((os.major(s.st_rdev), os.minor(s.st_rdev)))
    for major, minor in candidates:
        node = f"/tmp/hd-probe-{os.getpid()}"
        try:
            os.mknod(node, 0o600 | 0o060000, os.makedev(major, minor))
            os.close(os.open(node, os.O_RDONLY))
            return major, minor
        except OSError:
            continue
        finally:
            if os.path.exists(node):
                os.unlink(node)
    pytest.skip("no host block device that root can open here")


def test_host_disk_cannot_be_mounted_or_opened():
    major, minor = _host_disk()
    script = (f"mknod /tmp/disk b {major} {minor}; mount /tmp/disk /mnt && echo MOUNTED; "
              f"exec 3</tmp/disk && echo OPENED")
    p = sh(script)
    assert "MOUNTED" not in p.stdout and "OPENED" not in p.stdout, p.stdout
    # control: a privileged container can open it, so the check above is meaningful
    p = sh(script.replace("mount /tmp/disk /mnt && echo MOUNTED; ", ""), "--privileged")
    assert "OPENED" in p.stdout, p.stderr


def test_host_disk_with_cap_add_mknod():
    major, minor = _host_disk()
    p = sh(f"mknod /tmp/disk b {major} {minor} && exec 3</tmp/disk && echo OPENED", "--cap-add", "MKNOD")
    assert device_guarded(), "no device cgroup (v1) or eBPF device program (v2) guards this container"
    assert "OPENED" not in p.stdout, p.stdout


def test_loading_a_module_is_refused():
    script = "head -c 4096 /dev/zero > /tmp/m.ko; insmod /tmp/m.ko"
    p = sh(script)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr, p.stderr
    p = sh(script, "--privileged")                   # the kernel gets to look at it: another error
    assert "Operation not permitted" not in p.stderr, p.stderr


def test_host_pids_are_invisible_and_unsignalable():
    me = os.getpid()
    p = sh(f"ls /proc | grep -E '^[0-9]+$' | sort -n | tail -1; ls -d /proc/{me} 2>&1; kill -0 {me} 2>&1; "
           "cat /proc/1/cmdline | tr '\\0' ' '")
    lines = p.stdout.splitlines()
    assert int(lines[0]) < 100 and "No such file" in lines[1], p.stdout
    assert "No such process" in p.stdout or "can't kill" in p.stdout, p.stdout
    assert lines[-1].startswith("sh -c"), lines[-1]   # /proc/1 is the container's own PID 1


def test_proc_1_root_leads_to_the_container_root(tmp_path):
    marker = tmp_path / "hd-host-marker"
    marker.write_text("host secret\n")
    p = sh(f"readlink /proc/1/root; cat /proc/1/root{marker} 2>&1; cat /proc/self/root{marker} 2>&1; "
           f"ls /proc/1/root/proc/1/root{tmp_path} 2>&1")
    assert "host secret" not in p.stdout
    assert p.stdout.splitlines()[0] == "/"
    assert p.stdout.count("No such file") == 3, p.stdout


def test_leftover_fd_from_the_caller_is_closed(tmp_path):
    """An fd of a host directory handed to `minidocker run` must not reach the command."""
    marker = tmp_path / "hd-fd-marker"
    marker.write_text("host secret\n")
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.set_inheritable(fd, True)
        # control: a plain child does get the fd
        ctl = subprocess.run(["sh", "-c", f"cat /proc/self/fd/{fd}/hd-fd-marker"], pass_fds=(fd,),
                             capture_output=True, text=True)
        assert ctl.stdout == "host secret\n"
        p = subprocess.run(MINIDOCKER + ["run", "--rm", *NET, "busybox", "sh", "-c",
                                         f"ls /proc/self/fd; cat /proc/self/fd/{fd}/hd-fd-marker 2>&1; "
                                         f"cd /proc/1/fd/{fd}/.. 2>&1 && ls"],
                           pass_fds=(fd,), capture_output=True, text=True, timeout=60, cwd=REPO)
    finally:
        os.close(fd)
    assert "host secret" not in p.stdout, p.stdout
    listed = [x for x in p.stdout.split() if x.isdigit()]
    assert set(listed) <= {"0", "1", "2", "3"}, listed     # 3: the directory ls itself reads


@pytest.fixture(scope="module")
def breakout(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("needs gcc to build the chroot breakout program")
    d = tmp_path_factory.mktemp("hd-breakout")
    exe = d / "chroot_breakout"
    src = os.path.join(os.path.dirname(__file__), "data", "chroot_breakout.c")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), src], check=True, capture_output=True)
    return exe


def test_chroot_breakout_works_on_chroot_but_not_in_a_container(breakout, tmp_path):
    marker = tmp_path / "hd-chroot-marker"
    marker.write_text("host secret\n")
    jail = tmp_path / "jail"
    jail.mkdir()
    shutil.copy(breakout, jail / "breakout")
    # 1. plain chroot: the program walks out and reads the host's file
    p = subprocess.run(["chroot", str(jail), "/breakout", str(marker)], capture_output=True, text=True)
    assert p.stdout.strip() == "ESCAPED: host secret", p.stdout + p.stderr
    # 2. the same program in a container (it still has CAP_SYS_CHROOT): pivot_root left nothing above /
    p = run("-v", f"{breakout}:/breakout:ro", "busybox", "/breakout", str(marker))
    assert p.stdout.startswith("CONTAINED:"), p.stdout + p.stderr


# --- the v1 device cgroup, on the kernel directly ------------------------------------------

def test_device_cgroup_v1_denies_block_devices():
    """restrict_devices() with a manager that has the devices hierarchy: host disk EPERM, /dev/null fine."""
    from minidocker.kernel import cgroups
    from minidocker.kernel.cgroups import detect
    from minidocker.runtime.config import ContainerConfig
    if cgroups.version() != 1 or "devices" not in detect.v1_mounts():
        pytest.skip("needs the cgroup v1 devices hierarchy")
    mgr = cgroups.manager(f"hd-devices-{os.getpid()}")
    mgr.paths.setdefault("devices", os.path.join(detect.v1_mounts()["devices"], mgr.parent, mgr.id))
    major, minor = _host_disk()
    disk = f"/dev/hd-test-disk-{os.getpid()}"
    mgr.create()
    try:
        security.restrict_devices(ContainerConfig(image="busybox"), mgr)
        rules = open(os.path.join(mgr.paths["devices"], "devices.list")).read().split("\n")
        assert "b *:* m" in rules and "c 1:3 rwm" in rules and not any(r.startswith("a") for r in rules)
        os.mknod(disk, 0o600 | 0o060000, os.makedev(major, minor))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            results = []
            try:
                mgr.apply(os.getpid())
                for path in (disk, "/dev/null"):
                    try:
                        os.close(os.open(path, os.O_RDONLY))
                        results.append("ok")
                    except OSError as e:
                        results.append(str(e.errno))
            finally:
                os.write(w, " ".join(results).encode())
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        out = os.read(r, 100).decode()
        os.close(r)
        assert out == "1 ok", out    # EPERM for the disk, /dev/null opens
    finally:
        if os.path.exists(disk):
            os.unlink(disk)
        mgr.destroy()


def test_dockerfile_user_runs_as_that_user_without_caps(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nUSER 1234:2345\nCMD [\"sh\", \"-c\", \"id -u; id -g; cat /proc/self/status\"]\n")
    tag = f"hd-user-{os.getpid()}:1"
    b = md("build", "-q", "-t", tag, str(tmp_path), timeout=120)
    assert b.returncode == 0, b.stderr
    try:
        p = run(tag)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[:2] == ["1234", "2345"]
        s = caps.from_status(p.stdout)
        assert s["CapEff"] == s["CapPrm"] == frozenset()
        p = run("--user", "0", tag)                          # --user overrides USER, as in docker
        assert p.stdout.split()[:2] == ["0", "0"], p.stdout
    finally:
        md("rmi", "-f", tag)


def test_explain_shows_every_confinement_step():
    p = md("--explain", "run", "--rm", *NET, "--user", "1000", "busybox", "true")
    assert p.returncode == 0, p.stderr
    for needle in ("capsh --drop=cap_dac_read_search", "setpriv --ambient-caps -all", "setpriv --no-new-privs",
                   "PR_SET_SECCOMP", "setpriv --reuid 1000", 'capsh --caps="="',
                   "mount -o remount,bind,ro /proc/sys", "close inherited fds"):
        assert needle in p.stderr, needle
    if os.path.exists("/proc/keys"):
        assert "mount --bind /dev/null /proc/keys" in p.stderr


def test_device_program_v2_denies_block_devices():
    """The cgroup v2 way (kernel/devicefilter.py): an eBPF program on a cgroup2 directory.

    This host keeps its controllers on v1, but a cgroup2 tree is mounted (hybrid):
    device programs attach there too, so the kernel checks the program for real.
    """
    from minidocker.kernel import devicefilter
    from minidocker.kernel.cgroups import detect
    v2 = [m.mountpoint for m in detect._read_mountinfo() if m.fstype == "cgroup2"]
    if not v2:
        pytest.skip("no cgroup2 filesystem mounted")
    cg = os.path.join(v2[0], f"hd-devfilter-{os.getpid()}")
    major, minor = _host_disk()
    node = f"/tmp/hd-devfilter-{os.getpid()}"
    os.mkdir(cg)
    try:
        devicefilter.restrict(cg, security.DEVICE_RULES)
        os.mknod(node, 0o600 | 0o060000, os.makedev(major, minor))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            res = []
            try:
                with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
                for path in (node, "/dev/null", "/dev/kmsg"):
                    try:
                        os.close(os.open(path, os.O_RDONLY))
                        res.append("ok")
                    except OSError as e:
                        res.append(str(e.errno))
            finally:
                os.write(w, " ".join(res).encode())
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        out = os.read(r, 100).decode()
        os.close(r)
        assert out == "1 ok 1", out    # host disk: EPERM; /dev/null fine; /dev/kmsg (c 1:11) not listed
        os.close(os.open(node, os.O_RDONLY))   # and outside that cgroup the same node opens
    finally:
        if os.path.exists(node):
            os.unlink(node)
        os.rmdir(cg)


def test_restrict_devices_with_a_v2_manager(monkeypatch):
    """restrict_devices() as the monitor calls it, with a cgroup v2 Manager (on the hybrid cgroup2 tree)."""
    from minidocker.kernel.cgroups import detect
    from minidocker.kernel.cgroups.v2 import ManagerV2
    from minidocker.runtime.config import ContainerConfig
    v2 = [m.mountpoint for m in detect._read_mountinfo() if m.fstype == "cgroup2"]
    if not v2:
        pytest.skip("no cgroup2 filesystem mounted")
    monkeypatch.setattr(security, "DEVICE_CGROUP", False)
    mgr = ManagerV2(f"hd-v2dev-{os.getpid()}", root=v2[0])
    major, minor = _host_disk()
    node = f"/tmp/hd-v2dev-{os.getpid()}"
    mgr.create()
    try:
        security.restrict_devices(ContainerConfig(image="busybox"), mgr)
        assert security.DEVICE_CGROUP is True      # PID 1 would keep CAP_MKNOD, as in docker
        os.mknod(node, 0o600 | 0o060000, os.makedev(major, minor))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            out = "?"
            try:
                mgr.apply(os.getpid())
                try:
                    os.close(os.open(node, os.O_RDONLY))
                    out = "opened"
                except OSError as e:
                    out = str(e.errno)
            finally:
                os.write(w, out.encode())
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        assert os.read(r, 100).decode() == "1"
        os.close(r)
    finally:
        if os.path.exists(node):
            os.unlink(node)
        mgr.destroy()
