"""Mounts: assembling a container's root filesystem and switching to it.

The order, as the container's init does it (all inside its new mount namespace):

  make_private("/")          mount --make-rprivate /     (else mounts propagate to the host,
                                                          and pivot_root fails with EINVAL)
  overlay.mount_overlay(...) mount -t overlay overlay -o lowerdir=..,upperdir=..,workdir=.. ROOTFS
  bind_mount(...)            mount --bind SRC ROOTFS/DST  (volumes, /etc/hosts ...)
  mount_proc / mount_sys / mount_dev
  pivot_root_to(ROOTFS)      cd ROOTFS; pivot_root . .old; umount -l /.old; rmdir /.old

Contract: every function here expects to run in a private mount namespace;
none of them is safe in the host's.
"""
from __future__ import annotations

import os
import stat

from . import libc
from .libc import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
                   MS_REMOUNT, MNT_DETACH, flag_names)
from ..trace import step


def make_private(path: str = "/") -> None:
    """mount(NULL, path, NULL, MS_REC|MS_PRIVATE): stop mount propagation.

    Shell: `mount --make-rprivate /`. Without it, systemd hosts mount `/` as
    shared, so our mounts would appear on the host, and pivot_root(2) refuses
    to move a shared root (EINVAL, the classic trap).
    """
    step("mount", f"mount(NULL, {path}, NULL, MS_REC|MS_PRIVATE)", f"mount --make-rprivate {path}")
    libc.mount(None, path, None, MS_REC | MS_PRIVATE)


def bind_mount(src: str, dst: str, readonly: bool = False, recursive: bool = True) -> None:
    """mount(src, dst, NULL, MS_BIND|MS_REC), then a read-only remount if asked.

    Shell: `mount --rbind SRC DST` (+ `mount -o remount,bind,ro DST`). A bind
    mount cannot be made read-only in the first call: the kernel ignores
    MS_RDONLY with MS_BIND, so the remount is a second step.
    """
    flags = MS_BIND | (MS_REC if recursive else 0)
    step("mount", f"mount({src}, {dst}, NULL, {flag_names(flags)})",
         f"mount --{'r' if recursive else ''}bind {src} {dst}")
    libc.mount(src, dst, None, flags)
    if readonly:
        remount_readonly(dst)


def remount_readonly(path: str) -> None:
    """mount(NULL, path, NULL, MS_REMOUNT|MS_BIND|MS_RDONLY). Shell: `mount -o remount,bind,ro PATH`."""
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    # keep the flags the mount already has (nosuid/nodev...), or the remount fails with EPERM
    st = os.statvfs(path)
    keep = st.f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    step("mount", f"mount(NULL, {path}, NULL, {flag_names(flags | keep)})", f"mount -o remount,bind,ro {path}")
    libc.mount(None, path, None, flags | keep)


def mount_fs(fstype: str, target: str, flags: int = 0, data: str | None = None, source: str | None = None) -> None:
    """mount(2) of a pseudo filesystem (proc, sysfs, tmpfs, devpts, mqueue).

    Shell: `mount -t FSTYPE -o DATA FSTYPE TARGET`.
    """
    os.makedirs(target, exist_ok=True)
    src = source or fstype
    opts = ",".join(filter(None, [_mount_opts(flags), data or ""]))
    step("mount", f"mount({src}, {target}, {fstype}, {flag_names(flags)}{', ' + data if data else ''})",
         f"mount -t {fstype} {'-o ' + opts + ' ' if opts else ''}{src} {target}")
    libc.mount(src, target, fstype, flags, data)


def _mount_opts(flags: int) -> str:
    """MS_RDONLY|MS_NOSUID -> "ro,nosuid", the way mount(8) spells them."""
    names = {libc.MS_RDONLY: "ro", MS_NOSUID: "nosuid", MS_NODEV: "nodev", MS_NOEXEC: "noexec"}
    return ",".join(n for bit, n in names.items() if flags & bit)


def mount_proc(rootfs: str) -> None:
    """A fresh procfs for the new PID namespace: `mount -t proc proc ROOTFS/proc`.

    It shows only the processes of the PID namespace of the mounting process.
    """
    mount_fs("proc", os.path.join(rootfs, "proc"), MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mount_sys(rootfs: str) -> None:
    """sysfs read-only: `mount -t sysfs -o ro sysfs ROOTFS/sys`.

    With a new network namespace, sysfs shows that namespace's interfaces.
    """
    mount_fs("sysfs", os.path.join(rootfs, "sys"), MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)


#: docker's default devices: name -> (major, minor), all char devices, mode 0666
DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                   "urandom": (1, 9), "tty": (5, 0)}


def mount_dev(rootfs: str) -> None:
    """A minimal /dev like docker's: a tmpfs with six device nodes, pts, shm, mqueue and links.

    Shell:
      mount -t tmpfs -o nosuid,mode=755 tmpfs ROOTFS/dev
      mknod -m 666 ROOTFS/dev/null c 1 3   (zero, full, random, urandom, tty too)
      mount -t devpts -o newinstance,ptmxmode=0666 devpts ROOTFS/dev/pts
      ln -s pts/ptmx ROOTFS/dev/ptmx; ln -s /proc/self/fd ROOTFS/dev/fd ...
      mount -t tmpfs -o mode=1777 shm ROOTFS/dev/shm
    """
    dev = os.path.join(rootfs, "dev")
    mount_fs("tmpfs", dev, MS_NOSUID, "mode=755,size=65536k")
    old = os.umask(0)
    try:
        for name, (major, minor) in DEFAULT_DEVICES.items():
            path = os.path.join(dev, name)
            step("mknod", f"mknod({path}, S_IFCHR|0666, makedev({major},{minor}))",
                 f"mknod -m 666 {path} c {major} {minor}")
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    finally:
        os.umask(old)
    mount_fs("devpts", os.path.join(dev, "pts"), MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5")
    mount_fs("tmpfs", os.path.join(dev, "shm"), MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k",
             source="shm")
    mount_fs("mqueue", os.path.join(dev, "mqueue"), MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for link, target in [("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")]:
        if link == "core":
            continue  # docker links /dev/core only with --privileged
        os.symlink(target, os.path.join(dev, link))


def pivot_root_to(rootfs: str) -> None:
    """Make `rootfs` the root of this mount namespace and drop the old root.

    Shell: `cd ROOTFS && mkdir .old && pivot_root . .old && cd / && umount -l /.old && rmdir /.old`.
    Unlike chroot(2), the old root is unmounted, so nothing (not `..`, not
    an open directory plus chroot again) leads back to the host's files.
    Contract: rootfs must be a mount point and / must be private.
    """
    os.chdir(rootfs)
    os.makedirs(".old", exist_ok=True)
    step("pivot_root", f"pivot_root({rootfs}, {rootfs}/.old)", "pivot_root . .old")
    libc.pivot_root(".", ".old")
    os.chdir("/")
    step("umount", "umount2(/.old, MNT_DETACH)", "umount -l /.old")
    libc.umount2("/.old", MNT_DETACH)
    os.rmdir("/.old")   # created in the upper dir: removing it leaves no trace in `diff`


def unmount(target: str, lazy: bool = False) -> None:
    """umount2(target, MNT_DETACH if lazy). Shell: `umount [-l] TARGET`."""
    step("umount", f"umount2({target}, {'MNT_DETACH' if lazy else '0'})", f"umount {'-l ' if lazy else ''}{target}")
    libc.umount2(target, MNT_DETACH if lazy else 0)


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below `prefix`, deepest first (from /proc/self/mounts)."""
    out = []
    prefix = prefix.rstrip("/")
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            mp = line.split()[1].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def secure_join(root: str, path: str) -> str:
    """Resolve `path` inside `root` as if `root` were `/`, following symlinks *within* it.

    A container image may hold `/data -> /etc`; a naive os.path.join(root,
    "data/x") followed by makedirs would then write into the host's /etc
    while we still see the host's files (before pivot_root). This walks
    component by component and re-roots every absolute symlink at `root`
    and clamps `..` at `root`, like the kernel does after chroot.
    """
    root = os.path.realpath(root)
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise OSError(40, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)
