"""What a container's processes may do: the one place that decides it (docker's defaults).

Map of this file (who calls what, in start order):
  validate(cfg)                 host, at create: bad --cap-add/--cap-drop/--security-opt -> UsageError
  restrict_devices(cfg, mgr)    monitor, after the cgroup exists: device allow-list (v1 file, v2 eBPF)
  after_pivot(cfg)              PID 1, right after pivot_root: mask and freeze parts of /proc and /sys
  confine(cfg, uid, gid, groups) PID 1 (and `exec`), right before execve:
      1. close_inherited_fds()     no host fd crosses into the container
      2. bounding set              drop every capability docker does not keep
      3. ambient set cleared
      4. no_new_privs              setuid binaries cannot gain anything any more
      5. seccomp                   docker-like syscall deny list (--security-opt seccomp=unconfined)
      6. setgroups/setgid/setuid   the --user / USER switch
      7. capset                    root: keep = effective = permitted; others: all empty

Shell equivalent of confine():
  setpriv --bounding-set -all,+chown,+dac_override,... --inh-caps -all --ambient-caps -all \\
          --reuid UID --regid GID --init-groups --no-new-privs CMD

IMPORTANT: after_pivot() and confine() run inside the container after
pivot_root, where the host's files (this package included) are gone, so
everything they use is imported here at the top, never lazily.

--privileged turns all of it off: every capability, no masks, no device
list, no seccomp, no no_new_privs. It is the documented way out (and the
reason a privileged container is as strong as root on the host).
"""
from __future__ import annotations

import errno
import os

from ..errors import KernelError, UsageError
from ..kernel import capabilities as caps
from ..kernel import libc, mounts, seccomp
from ..kernel.libc import MS_RDONLY
from ..trace import step

#: docker's masked paths (moby oci/defaults.go): files -> /dev/null bound over them,
#: directories -> an empty read-only tmpfs. They leak host details (kcore is the
#: host's memory, keys the kernel keyrings, timer_list/sched_debug other tasks).
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap")

#: docker's read-only paths: the kernel's knobs live here (sysctls, sysrq, IRQ affinity)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

#: docker's device cgroup rules (moby oci/defaults.go + runc): mknod of anything
#: ("m"), but read/write only of these character devices. A block device (a host
#: disk) is never openable, whatever node the container makes for it.
DEVICE_RULES = ("c *:* m", "b *:* m",
                "c 1:3 rwm",    # /dev/null
                "c 1:5 rwm",    # /dev/zero
                "c 1:7 rwm",    # /dev/full
                "c 1:8 rwm",    # /dev/random
                "c 1:9 rwm",    # /dev/urandom
                "c 5:0 rwm",    # /dev/tty
                "c 5:1 rwm",    # /dev/console
                "c 5:2 rwm",    # /dev/ptmx
                "c 136:* rwm",  # /dev/pts/*
                "c 10:200 rwm")  # /dev/net/tun


def _devices_managed() -> bool:
    """Does the cgroup manager put containers into the v1 devices hierarchy?

    Decided once, on the host, when this module is imported (PID 1 and `exec`
    inherit the answer): v1 with "devices" among the managed controllers.
    """
    try:
        from ..kernel import cgroups
        from ..kernel.cgroups import detect, v1
        return (cgroups.version() == 1 and "devices" in v1.CONTROLLERS
                and "devices" in detect.v1_mounts())
    except Exception:   # no cgroups at all (a unit test box): nothing is managed
        return False


#: True when the device cgroup guards block devices; when False confine() drops
#: CAP_MKNOD instead, so no device node can be made at all. At import (what
#: `exec` sees): True only for a v1 manager with the devices hierarchy. On v2,
#: restrict_devices() sets it for PID 1 once the eBPF device program is
#: attached; processes started by `exec` on v2 drop CAP_MKNOD (we did not
#: check the program from there: the cautious answer).
DEVICE_CGROUP = _devices_managed()


# --- options -------------------------------------------------------------------

def security_opts(cfg) -> dict:
    """--security-opt values -> {"seccomp": "default"|"unconfined", "no_new_privileges": bool}.

    Accepted (docker's spellings): seccomp=unconfined, seccomp:unconfined,
    no-new-privileges, no-new-privileges=true|false.
    """
    out = {"seccomp": "default", "no_new_privileges": True}
    for opt in getattr(cfg, "security_opt", ()) or ():
        key, sep, val = opt.replace(":", "=", 1).partition("=")
        if key == "seccomp" and val in ("unconfined", "default", "builtin"):
            out["seccomp"] = "unconfined" if val == "unconfined" else "default"
        elif key == "seccomp":
            raise UsageError(f"--security-opt {opt!r}: custom seccomp profiles are not supported",
                             hint="use seccomp=unconfined to turn the default filter off")
        elif key == "no-new-privileges" and val in ("", "true", "false"):
            out["no_new_privileges"] = val != "false"
        elif key in ("apparmor", "label", "systempaths"):
            raise UsageError(f"--security-opt {opt!r} is not supported by minidocker",
                             hint="minidocker knows seccomp=unconfined and no-new-privileges[=false]")
        else:
            raise UsageError(f"invalid --security-opt {opt!r}",
                             hint="use seccomp=unconfined or no-new-privileges[=true|false]")
    return out


def kept_caps(cfg) -> frozenset[int]:
    """The capability set the container keeps (docker's rule, see capabilities.resolve)."""
    return caps.resolve(cfg.cap_add, cfg.cap_drop, cfg.privileged)


def validate(cfg) -> None:
    """Check the security flags before anything is created; UsageError names the bad one."""
    kept_caps(cfg)
    security_opts(cfg)


# --- the device cgroup (host side) ---------------------------------------------

def device_cgroup_dir(mgr) -> str | None:
    """This container's v1 devices cgroup directory, or None if the manager has none."""
    if mgr is None or getattr(mgr, "version", 0) != 1:
        return None
    d = getattr(mgr, "paths", {}).get("devices")
    return d if d and os.path.isdir(d) else None


def _v2_dir(mgr) -> str | None:
    if mgr is None or getattr(mgr, "version", 0) != 2:
        return None
    dirs = mgr.dirs()
    return dirs[0] if dirs and os.path.isdir(dirs[0]) else None


def restrict_devices(cfg, mgr) -> None:
    """Runs in the monitor after the cgroup exists: docker's device allow-list (v1).

    Shell:
      echo a > /sys/fs/cgroup/devices/minidocker/ID/devices.deny
      echo 'c 1:3 rwm' > /sys/fs/cgroup/devices/minidocker/ID/devices.allow   (one per rule)
    "deny a" first empties the list; the kernel then checks every open(2) and
    mknod(2) of a device node against the allowed rules (EPERM otherwise).
    On cgroup v2 the same check is an eBPF program (BPF_CGROUP_DEVICE, see
    kernel/devicefilter.py) attached to the container's cgroup; if the kernel
    refuses it, the container drops CAP_MKNOD instead (see DEVICE_CGROUP).
    """
    global DEVICE_CGROUP
    if cfg.privileged:
        return
    v2 = _v2_dir(mgr)
    if v2 is not None:
        from ..kernel import devicefilter     # v2 only, and on the host side: lazy is fine
        try:
            devicefilter.restrict(v2, DEVICE_RULES)
            DEVICE_CGROUP = True    # PID 1 (forked after us) may keep CAP_MKNOD, as in docker
        except KernelError as e:
            step("bpf", f"no device program ({e}); CAP_MKNOD will be dropped instead", "")
            DEVICE_CGROUP = False
        return
    d = device_cgroup_dir(mgr)
    if d is None:
        DEVICE_CGROUP = False   # PID 1 (forked after us) drops CAP_MKNOD instead
        return
    from ..kernel.cgroups.base import write   # host side: a lazy import is fine here
    write(os.path.join(d, "devices.deny"), "a")
    for rule in DEVICE_RULES:
        write(os.path.join(d, "devices.allow"), rule)
    DEVICE_CGROUP = True


# --- /proc and /sys (PID 1, after pivot_root) ----------------------------------

def mask_path(path: str) -> None:
    """Hide one path: bind /dev/null over a file, an empty read-only tmpfs over a directory.

    Shell: `mount --bind /dev/null /proc/kcore` or `mount -t tmpfs -o ro tmpfs /proc/acpi`.
    """
    if os.path.isdir(path):
        mounts.mount_fs("tmpfs", path, MS_RDONLY, None)
    else:
        mounts.bind_mount("/dev/null", path, recursive=False)


def readonly_path(path: str) -> None:
    """Freeze one path: bind it over itself, then remount that bind read-only.

    Shell: `mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys`.
    """
    mounts.bind_mount(path, path, readonly=True)


def after_pivot(cfg) -> None:
    """Runs as PID 1 right after pivot_root: docker's masked and read-only paths.

    Missing paths are skipped (a kernel without /proc/scsi has nothing to hide).
    """
    if cfg.privileged:
        return
    for path in MASKED_PATHS:
        if os.path.lexists(path):
            mask_path(path)
    for path in READONLY_PATHS:
        if os.path.lexists(path):
            readonly_path(path)


# --- right before exec ---------------------------------------------------------

def close_inherited_fds() -> None:
    """Mark every fd above 2 close-on-exec, so none survives into the command.

    Why: an fd of a host directory handed down by whoever started minidocker
    (a shell, a test runner) would let the container `fchdir()` out of its root
    (the "leftover fd" escape). runc does the same (CloseExecFrom(3)). Marking
    instead of closing keeps our own CLOEXEC error pipe working until exec.
    Shell: `exec 3>&- 4>&- ...` for every open fd.
    """
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    step("fds", f"fcntl(fd, F_SETFD, FD_CLOEXEC) for fds {[fd for fd in fds if fd > 2]}",
         "exec 3>&- 4>&- ...   # close inherited fds")
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError as e:
                if e.errno != errno.EBADF:   # the listdir fd itself is gone by now
                    raise


def confine(cfg, uid: int, gid: int, groups: list[int]) -> None:
    """Drop privileges right before execve (see the map at the top for the order).

    The order matters: the bounding set can only be dropped with CAP_SETPCAP
    and the user switch needs CAP_SETUID/CAP_SETGID, so both happen while we
    are still full root; capset() comes last because it removes those powers.
    """
    opts = security_opts(cfg)
    close_inherited_fds()
    current = caps.capget()["permitted"]
    if cfg.privileged:
        keep = current
    else:
        keep = kept_caps(cfg) & current
        if not DEVICE_CGROUP and not {"MKNOD", "ALL"} & {c.upper().replace("CAP_", "") for c in cfg.cap_add}:
            keep = keep - {caps.number("MKNOD")}   # no device cgroup: make no device nodes at all
        caps.bounding_keep_only(keep)
    caps.ambient_clear()
    if not cfg.privileged and opts["no_new_privileges"]:
        step("prctl", "prctl(PR_SET_NO_NEW_PRIVS, 1)", "setpriv --no-new-privs")
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    if not cfg.privileged and opts["seccomp"] == "default":
        # now, while CAP_SYS_ADMIN is still ours (the kernel wants it or no_new_privs);
        # the filter lets through everything still to come: setuid, capset, chdir, execve
        seccomp.install_default(keep)

    step("setuid", f"setgroups({groups}); setgid({gid}); setuid({uid})",
         f"setpriv --reuid {uid} --regid {gid} "
         + (f"--groups {','.join(map(str, groups))}" if groups else "--clear-groups"))
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)   # to a non-zero uid: the kernel empties permitted and effective itself

    if uid == 0:
        caps.capset(effective=keep, permitted=keep, inheritable=())
    else:
        caps.capset(effective=(), permitted=(), inheritable=())   # like docker: a user has none


__all__ = ["MASKED_PATHS", "READONLY_PATHS", "DEVICE_RULES", "DEVICE_CGROUP", "validate", "security_opts",
           "kept_caps", "restrict_devices", "device_cgroup_dir", "after_pivot", "mask_path",
           "readonly_path", "close_inherited_fds", "confine"]
