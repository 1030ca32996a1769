"""`minidocker cp`: copy files between a container and the host, safely.

Paths inside a container must be resolved *inside* it: a container can hold
a symlink `/tmp/x -> /etc/shadow`, and following that through
/proc/PID/root or the overlay's merged dir from the host would read the
host's /etc/shadow (docker has had CVEs of this shape). So the container
side always runs in a helper process that is inside the container's mount
namespace (setns for a running container; a private overlay mount + chroot
for a stopped one). Both sides exchange a tar stream over a pipe:

  host -> container:  tar -C HOSTDIR -c NAME | nsenter -t PID -m tar -C DIR -x
  container -> host:  nsenter -t PID -m tar -C DIR -c NAME | tar -C HOSTDIR -x
"""
from __future__ import annotations

import os
import tarfile

from ..errors import MinidockerError, NotFound, UsageError
from ..kernel import mounts, namespaces
from .records import Container


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest_dir: str) -> None:
    """Extract one member under dest_dir, refusing absolute paths, `..`, and links that leave it.

    Like Python's "data" extraction filter (3.11.4+), but checked here so every
    Python >= 3.10 behaves the same (Debian 12 ships 3.11.2, which has no filters).
    A symlink in a container pointing at /etc/shadow is refused: copied to the
    host it would be a trap for the next program that follows it.
    """
    dest = os.path.realpath(dest_dir)

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return real == dest or real.startswith(dest + os.sep)

    target = os.path.join(dest, member.name)
    if member.name.startswith("/") or not inside(target):
        raise MinidockerError(f"refusing to copy {member.name!r}: it would land outside {dest_dir}")
    if member.issym() or member.islnk():
        base = os.path.dirname(target) if member.issym() else dest
        if member.linkname.startswith("/") or not inside(os.path.join(base, member.linkname)):
            raise MinidockerError(f"refusing to copy {member.name!r}: it links to {member.linkname!r}, "
                                  f"outside {dest_dir}")
    member.mode &= ~0o7022      # no setuid/setgid/sticky, no group/other write (the filter's rule)
    if hasattr(tarfile, "tar_filter"):
        tar.extract(member, dest_dir, filter="tar")
    else:
        tar.extract(member, dest_dir)


def _split(arg: str) -> tuple[str | None, str]:
    """"name:/path" -> ("name", "/path"); a host path (with / or . first) -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


def copy(src: str, dst: str) -> int:
    from .container import lookup, refresh
    sname, spath = _split(src)
    dname, dpath = _split(dst)
    if (sname is None) == (dname is None):
        raise UsageError("copying between containers or between two host paths is not supported",
                         hint="one side must be CONTAINER:PATH, the other a host path")
    c = refresh(lookup(sname or dname))
    if sname:
        _container_to_host(c, spath, dpath)
    else:
        if not os.path.exists(spath):
            raise NotFound(f"could not find the file {spath} on the host", hint="check the source path")
        _host_to_container(c, spath, dpath)
    return 0


def _enter_container_fs(c: Container) -> None:
    """In a forked helper: get a view of the container's root as `/`.

    Running: setns(2) into its mount namespace (`nsenter -t PID -m`).
    Stopped: unshare a private mount namespace, mount its overlay, chroot(2).
    """
    if c.running:
        namespaces.enter(c.pid, ["mnt"])
        return
    from ..kernel import overlay
    from .lifecycle import lower_dirs_for
    namespaces.unshare(["mnt"])
    mounts.make_private("/")
    overlay.mount_overlay(lower_dirs_for(c), c.upper_dir, c.work_dir, c.merged_dir)
    os.chroot(c.merged_dir)
    os.chdir("/")


def _spawn_in_container(c: Container, fn) -> tuple[int, int]:
    """Fork a helper that enters the container's filesystem and runs fn().

    Returns (pid, fd): the fd carries the helper's error text, if any; pass both
    to _reap() once the parent's side of the copy is done.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _enter_container_fs(c)
            fn()
            os._exit(0)
        except BaseException as e:   # report to the parent, never a traceback from a child
            os.write(w, str(e).encode() or e.__class__.__name__.encode())
            os._exit(1)
    os.close(w)
    return pid, r


def _reap(pid: int, err_fd: int, local_error: str = "") -> None:
    """Wait for the helper; raise the first error of either side."""
    with os.fdopen(err_fd, "rb") as f:
        err = f.read().decode(errors="replace")
    _, st = os.waitpid(pid, 0)
    if err or local_error or os.waitstatus_to_exitcode(st) != 0:
        raise MinidockerError(err or local_error or "copy failed inside the container")


def _run_in_container(c: Container, fn) -> None:
    """Fork, enter the container's filesystem, run fn(); raise its error here."""
    _reap(*_spawn_in_container(c, fn))


def _container_to_host(c: Container, cpath: str, hostdst: str) -> None:
    rd, wr = os.pipe()
    base = os.path.basename(cpath.rstrip("/")) or "."

    def producer():
        os.close(rd)
        if not os.path.lexists(cpath):
            raise NotFound(f"could not find the file {cpath} in container {c.name}")
        with os.fdopen(wr, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
            tar.add(cpath, arcname=base)

    pid, err_fd = _spawn_in_container(c, producer)
    os.close(wr)
    # where it goes: into an existing dir, or as the new name
    if os.path.isdir(hostdst):
        dest_dir, rename = hostdst, None
    else:
        dest_dir, rename = os.path.dirname(os.path.abspath(hostdst)), os.path.basename(hostdst)
    local_error = ""
    try:
        with os.fdopen(rd, "rb") as inp, tarfile.open(fileobj=inp, mode="r|") as tar:
            for member in tar:
                if rename and member.name.startswith(base):
                    member.name = rename + member.name[len(base):]
                _extract(tar, member, dest_dir)   # refuses escapes and links leaving dest_dir
    except tarfile.TarError as e:
        local_error = f"refusing to copy: {e}"
    except MinidockerError as e:
        local_error = e.message
    _reap(pid, err_fd, local_error)


def _host_to_container(c: Container, hostsrc: str, cdst: str) -> None:
    base = os.path.basename(os.path.abspath(hostsrc))
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:   # the producer stays on the host
        os.close(rd)
        with os.fdopen(wr, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
            tar.add(hostsrc, arcname=base)
        os._exit(0)
    os.close(wr)

    def consumer():
        if os.path.isdir(cdst):
            dest_dir, rename = cdst, None
        else:
            dest_dir, rename = os.path.dirname(cdst) or "/", os.path.basename(cdst)
            if not os.path.isdir(dest_dir):
                raise NotFound(f"the directory {dest_dir} does not exist in container {c.name}")
        with os.fdopen(rd, "rb") as inp, tarfile.open(fileobj=inp, mode="r|") as tar:
            for member in tar:
                if rename and (member.name == base or member.name.startswith(base + "/")):
                    member.name = rename + member.name[len(base):]
                _extract(tar, member, dest_dir)

    try:
        _run_in_container(c, consumer)
    finally:
        os.close(rd)
        os.waitpid(pid, 0)
