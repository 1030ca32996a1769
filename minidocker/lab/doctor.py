"""Lesson 0's environment check: is this machine ready for the course?

Map of this file:
  Check                one finding: name, status (ok / warn / fail), what was found, what to do
  check_*()            one function per thing the lessons need, each reads one file or runs one tool
  run_all()            every check, in the order a student should fix them
  Report               the list of checks; prints as a table (text or HTML in a notebook)
  main()               `python -m minidocker.lab.doctor` in a terminal (exit 1 when something fails)

Only reads: nothing here changes the host. Each check names the file it
read or the command it ran, so a student can repeat it by hand. "fail"
means a lesson will not work; "warn" means one part of one lesson will be
different (the fix text says which).
"""
from __future__ import annotations

import html
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Check", "Report", "run_all", "main"]

OK, WARN, FAIL = "ok", "warn", "fail"
_ICON = {OK: "✅", WARN: "⚠️", FAIL: "❌"}


@dataclass(frozen=True)
class Check:
    name: str        # what the course needs ("root", "cgroup version", ...)
    status: str      # ok / warn / fail
    found: str       # what this machine has
    how: str         # the file read or the command run (to repeat it by hand)
    fix: str = ""    # what to do when status is not ok


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _run(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (p.stdout + p.stderr).strip()


# --- the checks ----------------------------------------------------------------

def check_root() -> Check:
    uid = os.geteuid()
    if uid == 0:
        return Check("root", OK, "running as root (uid 0)", "id -u")
    return Check("root", FAIL, f"running as uid {uid}", "id -u",
                 "namespaces, mounts and cgroups need root: start JupyterLab with `sudo make lab`, "
                 "or run `sudo -i` in the VM first")


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) from `uname -r` ("6.1.0-18-amd64" -> (6, 1))."""
    release = release or platform.release()
    parts = release.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 0, 0


def check_kernel(release: str | None = None) -> Check:
    release = release or platform.release()
    v = kernel_version(release)
    if v >= (5, 6):
        return Check("kernel", OK, f"Linux {release}: all 8 namespace kinds (time needs 5.6)", "uname -r")
    if v >= (4, 6):
        return Check("kernel", WARN, f"Linux {release}: no time namespace (needs 5.6)", "uname -r",
                     "lesson 6 skips the time namespace; everything else works. "
                     "The course VM (EL9, kernel 5.14) has it: use the VM")
    return Check("kernel", FAIL, f"Linux {release}: too old (cgroup namespaces need 4.6)", "uname -r",
                 "use the course VM (`vagrant up`), whose kernel is new enough")


def check_cgroups() -> Check:
    from ..kernel.cgroups import detect
    how = "stat -fc %T /sys/fs/cgroup; grep cgroup /proc/self/mountinfo"
    try:
        v = detect.version()
    except Exception as e:  # a host without any cgroup mount: say so, do not crash the doctor
        return Check("cgroup version", FAIL, f"no usable cgroup mount ({e})", how,
                     "mount cgroup2: `mount -t cgroup2 none /sys/fs/cgroup` (or boot with systemd)")
    if v == 2:
        ctl = _read("/sys/fs/cgroup/cgroup.controllers") or ""
        missing = [c for c in ("cpu", "memory", "pids") if c not in ctl.split()]
        if missing:
            return Check("cgroup version", WARN, f"v2 (unified), missing controllers: {' '.join(missing)}", how,
                         "lesson 7 needs cpu, memory, pids: check `cat /sys/fs/cgroup/cgroup.controllers`")
        return Check("cgroup version", OK, f"v2 (unified): {ctl}", how)
    mounts = detect.v1_mounts()
    missing = [c for c in ("cpu", "cpuacct", "memory", "pids") if c not in mounts]
    found = "v1 (legacy/hybrid): " + " ".join(sorted(mounts))
    if missing:
        return Check("cgroup version", WARN, found + f"; missing {' '.join(missing)}", how,
                     f"lesson 7 needs the {' '.join(missing)} hierarchies mounted")
    return Check("cgroup version", OK, found + " (lesson 7 shows both v1 and v2 file names)", how)


def check_overlay() -> Check:
    how = "grep overlay /proc/filesystems"
    fs = _read("/proc/filesystems") or ""
    if any(line.split()[-1] == "overlay" for line in fs.splitlines() if line.split()):
        return Check("overlayfs", OK, "overlay is in /proc/filesystems", how)
    return Check("overlayfs", FAIL, "overlay is not in /proc/filesystems", how,
                 "load it with `modprobe overlay` (and add it to /etc/modules-load.d/ to keep it)")


def check_iptables() -> Check:
    how = "iptables --version"
    out = _run(["iptables", "--version"])
    if out is None:
        return Check("iptables backend", FAIL, "iptables is not installed", how,
                     "install it: `apt-get install iptables` or `dnf install iptables-nft`; "
                     "lesson 9 (-p port publishing) needs it")
    if "nf_tables" in out:
        return Check("iptables backend", OK, f"{out} (rules live in nftables; `nft list ruleset` shows them too)", how)
    if "legacy" in out:
        return Check("iptables backend", OK, f"{out} (the classic x_tables backend)", how)
    return Check("iptables backend", WARN, out, how, "could not tell the backend; lesson 9 may still work")


def check_ip_forward() -> Check:
    how = "sysctl net.ipv4.ip_forward"
    v = _read("/proc/sys/net/ipv4/ip_forward")
    if v == "1":
        return Check("ip forwarding", OK, "net.ipv4.ip_forward = 1", how)
    return Check("ip forwarding", WARN, f"net.ipv4.ip_forward = {v}", how,
                 "containers can reach each other but not the outside; minidocker turns it on when it "
                 "creates its bridge, or run `sysctl -w net.ipv4.ip_forward=1`")


def check_userns() -> Check:
    how = "sysctl user.max_user_namespaces kernel.unprivileged_userns_clone"
    mx = _read("/proc/sys/user/max_user_namespaces")
    unpriv = _read("/proc/sys/kernel/unprivileged_userns_clone")   # Debian/Ubuntu only
    if mx is None:
        return Check("user namespaces", WARN, "this kernel has no user namespaces", how,
                     "lesson 6 skips the user namespace demonstration")
    if mx == "0":
        return Check("user namespaces", WARN, "user.max_user_namespaces = 0 (disabled, the EL7 default)", how,
                     "lesson 6's user namespace cell needs it: `sysctl -w user.max_user_namespaces=15000`")
    extra = f", kernel.unprivileged_userns_clone = {unpriv}" if unpriv is not None else ""
    note = " (root can always create them; only non-root users are refused)" if unpriv == "0" else ""
    return Check("user namespaces", OK, f"user.max_user_namespaces = {mx}{extra}{note}", how)


def check_selinux() -> Check:
    how = "getenforce  (or cat /sys/fs/selinux/enforce)"
    enforce = _read("/sys/fs/selinux/enforce")
    if enforce is None:
        return Check("SELinux", OK, "not enabled (no /sys/fs/selinux)", how)
    if enforce == "0":
        return Check("SELinux", OK, "permissive: denials are only logged", how)
    return Check("SELinux", WARN, "enforcing", how,
                 "minidocker does not label container files; if a lesson fails with 'Permission denied' as root, "
                 "look at `ausearch -m avc -ts recent`, and for the course run `setenforce 0` "
                 "(until reboot; SELINUX=permissive in /etc/selinux/config keeps it)")


def check_busybox() -> Check:
    how = "ls -l /bin/busybox"
    path = "/bin/busybox" if os.path.exists("/bin/busybox") else shutil.which("busybox")
    if not path:
        return Check("busybox (base image)", FAIL, "no busybox binary", how,
                     "install busybox-static (`apt-get install busybox-static`): minidocker builds its "
                     "offline base image busybox:latest from it")
    out = _run(["file", "-L", path]) or ""
    if "dynamically linked" in out:
        return Check("busybox (base image)", FAIL, f"{path} is dynamically linked", how,
                     "install the static one (Debian: busybox-static; EL9: build it, see vagrant/)")
    return Check("busybox (base image)", OK, f"{path}", how)


def check_tools() -> Check:
    how = "command -v gcc runc docker-registry"
    need = {"gcc": "lesson 7 compiles the seed's deadloop.c (a Python loop is used without it)",
            "runc": "lesson 1 hands the same config.json to runc",
            "docker-registry": "lessons 4 and 10 start a local registry on port 5000"}
    missing = [t for t in need if not shutil.which(t)]
    if not missing:
        return Check("helper tools", OK, "gcc, runc, docker-registry", how)
    return Check("helper tools", WARN, "missing: " + ", ".join(missing), how,
                 "; ".join(need[t] for t in missing) + ". Install them (`make lab` does)")


def check_python() -> Check:
    v = sys.version_info
    found = f"Python {v.major}.{v.minor}.{v.micro} at {sys.executable}"
    if v >= (3, 10):
        return Check("python", OK, found, "python3 --version")
    return Check("python", FAIL, found, "python3 --version", "minidocker needs Python 3.10+: use the VM's python3.12")


CHECKS = [check_root, check_kernel, check_cgroups, check_overlay, check_iptables, check_ip_forward,
          check_userns, check_selinux, check_busybox, check_tools, check_python]


class Report(list):
    """A list of Check; prints as a table."""

    @property
    def ok(self) -> bool:
        """True when nothing failed (warnings are fine: the fix text says what differs)."""
        return all(c.status != FAIL for c in self)

    def problems(self) -> list[Check]:
        return [c for c in self if c.status != OK]

    def __str__(self) -> str:
        w = max(len(c.name) for c in self)
        lines = [f"{_ICON[c.status]} {c.name:<{w}}  {c.found}" + (f"\n   {'':<{w}}  fix: {c.fix}" if c.fix else "")
                 for c in self]
        verdict = "ready for the lessons" if self.ok else "NOT ready: fix the ❌ lines first"
        return "\n".join(lines + ["", verdict])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{_ICON[c.status]}</td><td><b>{html.escape(c.name)}</b></td><td>{html.escape(c.found)}</td>"
            f"<td><code>{html.escape(c.how)}</code></td><td>{html.escape(c.fix)}</td></tr>" for c in self)
        return ("<table><tr><th></th><th>check</th><th>found</th><th>how to look yourself</th>"
                f"<th>what to do</th></tr>{rows}</table>")


def run_all() -> Report:
    """Run every check (read-only, about a second)."""
    return Report(c() for c in CHECKS)


def main() -> int:
    r = run_all()
    print(r)
    return 0 if r.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
