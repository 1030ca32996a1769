"""OCI runtime bundles: the same container, handed to runc or taken from it.

A bundle is a directory with `config.json` (the OCI runtime spec) and
`rootfs/`. `runc run -b DIR ID` runs it; so does `minidocker bundle run DIR`.

  to_oci(cfg, ...)      ContainerConfig -> config.json dict (what runc reads)
  from_oci(doc, dir)    config.json dict -> ContainerConfig with `rootfs` set
  write_bundle(...)     `minidocker bundle create IMAGE DIR`: image layers copied into DIR/rootfs

Shell equivalent of write_bundle:
  mkdir -p DIR/rootfs && for layer in LOWER...; do cp -a $layer/. DIR/rootfs/; done
  (whiteouts applied: a file deleted in an upper layer is deleted in rootfs)
"""
from __future__ import annotations

import os
import stat

from .. import fastjson as json   # json's C core, without `re` (see fastjson)
from ..errors import UsageError
from ..trace import step
from .config import ContainerConfig

OCI_VERSION = "1.0.2"

#: docker's default capabilities (moby/oci/caps/defaults.go), used when the
#: security module does not say otherwise
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

_NS_OCI = {"mnt": "mount", "uts": "uts", "ipc": "ipc", "net": "network", "pid": "pid",
           "cgroup": "cgroup", "user": "user"}


def to_oci(cfg: ContainerConfig, namespaces: list[str], rootfs: str = "rootfs") -> dict:
    """The OCI runtime spec for this container (runc's config.json)."""
    uid, _, gid = (cfg.user or "0:0").partition(":")
    if not uid.isdigit():
        raise UsageError(f"user {cfg.user!r} must be numeric (uid[:gid]) in an OCI bundle",
                         hint="runc does not read /etc/passwd: use --user 1000:1000")
    res = cfg.resources or {}
    linux_res: dict = {"devices": [{"allow": False, "access": "rwm"}]}
    if res.get("memory"):
        linux_res["memory"] = {"limit": res["memory"]}
    quota, period = res.get("cpu_quota"), res.get("cpu_period")
    if res.get("nano_cpus"):
        period = period or 100000
        quota = round(res["nano_cpus"] * period / 1e9)
    cpu = {k: v for k, v in {"quota": quota, "period": period, "shares": res.get("cpu_shares"),
                             "cpus": res.get("cpuset_cpus"), "mems": res.get("cpuset_mems")}.items() if v}
    if cpu:
        linux_res["cpu"] = cpu
    if res.get("pids_limit"):
        linux_res["pids"] = {"limit": res["pids_limit"]}
    caps = sorted((set(DEFAULT_CAPS) | {"CAP_" + c.upper().removeprefix("CAP_") for c in cfg.cap_add})
                  - {"CAP_" + c.upper().removeprefix("CAP_") for c in cfg.cap_drop})
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]
    for m in cfg.mounts:
        if m.kind == "tmpfs":
            mounts.append({"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev"] + ([m.options] if m.options else [])})
        else:
            src = m.source if m.kind == "bind" else os.path.join("/var/lib/minidocker/volumes", m.source, "_data")
            mounts.append({"destination": m.target, "type": "bind", "source": src,
                           "options": ["rbind", "ro" if m.readonly else "rw"]})
    return {
        "ociVersion": OCI_VERSION,
        "process": {"terminal": cfg.tty, "user": {"uid": int(uid), "gid": int(gid or 0)},
                    "args": list(cfg.argv), "env": list(cfg.env), "cwd": cfg.workdir or "/",
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                    "noNewPrivileges": not cfg.privileged},
        "root": {"path": rootfs, "readonly": cfg.read_only},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "linux": {"namespaces": [{"type": _NS_OCI[k]} for k in namespaces if k in _NS_OCI],
                  "resources": linux_res,
                  "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                                  "/proc/scsi", "/sys/firmware"],
                  "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]},
    }


def from_oci(doc: dict, bundle: str) -> ContainerConfig:
    """Read a bundle's config.json (e.g. from `runc spec`) into our config.

    What we honour: process args/env/cwd/user/terminal, root path/readonly,
    hostname, the namespace list (no "network" entry = host network), bind
    and tmpfs mounts beyond the standard ones, and memory/cpu/pids limits.
    """
    try:
        proc = doc["process"]
        root = doc["root"]
    except (KeyError, TypeError):
        raise UsageError(f"{bundle}/config.json is not an OCI runtime spec (no process/root)",
                         hint="make one with 'runc spec' or 'minidocker bundle create IMAGE DIR'") from None
    rootfs = root.get("path", "rootfs")
    rootfs = rootfs if os.path.isabs(rootfs) else os.path.join(bundle, rootfs)
    if not os.path.isdir(rootfs):
        raise UsageError(f"the bundle's root filesystem {rootfs} does not exist",
                         hint="put the image's files in DIR/rootfs")
    kinds = [t.get("type") for t in (doc.get("linux") or {}).get("namespaces", [])]
    network = "none" if "network" in kinds else "host"
    from .config import Mount
    std = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}
    mounts = []
    for m in doc.get("mounts") or []:
        if m.get("destination") in std:
            continue
        if m.get("type") == "tmpfs":
            mounts.append(Mount("tmpfs", "", m["destination"], False, ",".join(
                o for o in m.get("options", []) if "=" in o)))
        elif m.get("type") == "bind" or "bind" in m.get("options", []) or "rbind" in m.get("options", []):
            mounts.append(Mount("bind", m["source"], m["destination"], "ro" in m.get("options", [])))
    lr = (doc.get("linux") or {}).get("resources") or {}
    resources = {k: v for k, v in {
        "memory": (lr.get("memory") or {}).get("limit"),
        "cpu_quota": (lr.get("cpu") or {}).get("quota"), "cpu_period": (lr.get("cpu") or {}).get("period"),
        "cpu_shares": (lr.get("cpu") or {}).get("shares"), "pids_limit": (lr.get("pids") or {}).get("limit"),
    }.items() if v}
    user = proc.get("user") or {}
    return ContainerConfig(
        image=f"bundle:{bundle}", argv=tuple(proc.get("args") or ()), cmd=tuple(proc.get("args") or ()),
        env=tuple(proc.get("env") or ()), workdir=proc.get("cwd") or "/",
        hostname=doc.get("hostname") or "", user=f"{user.get('uid', 0)}:{user.get('gid', 0)}",
        tty=bool(proc.get("terminal")), interactive=bool(proc.get("terminal")),
        network=network, mounts=tuple(mounts), read_only=bool(root.get("readonly")),
        resources=resources, rootfs=os.path.realpath(rootfs))


def write_bundle(image_ref: str, directory: str, cfg: ContainerConfig, namespaces: list[str]) -> str:
    """Flatten the image into DIR/rootfs and write DIR/config.json. Returns config.json's path."""
    from ..image.store import Store
    img = Store().resolve(image_ref)
    rootfs = os.path.join(directory, "rootfs")
    if os.path.exists(rootfs) and os.listdir(rootfs):
        raise UsageError(f"{rootfs} is not empty", hint="give a new directory")
    os.makedirs(rootfs, exist_ok=True)
    for layer in img.layer_dirs:            # bottom to top, later layers win
        step("cp", f"copy layer {layer}", f"cp -a {layer}/. {rootfs}/")
        _merge_layer(layer, rootfs)
    doc = to_oci(cfg, namespaces)
    path = os.path.join(directory, "config.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    return path


def _merge_layer(layer: str, dest: str) -> None:
    """Copy one unpacked layer over dest, applying overlay whiteouts (0:0 char devices).

    Hard links stay hard links (busybox's 400 applets are one 2 MB file, not 500 MB of copies).
    """
    import shutil          # here, not at the top: `bundle run` must not pay for it (re, bz2, lzma)
    linked: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(layer):
        rel = os.path.relpath(dirpath, layer)
        target_dir = os.path.normpath(os.path.join(dest, rel))
        try:
            opaque = os.getxattr(dirpath, "trusted.overlay.opaque") == b"y"
        except OSError:
            opaque = False
        if opaque and os.path.isdir(target_dir):
            shutil.rmtree(target_dir)
        os.makedirs(target_dir, exist_ok=True)
        shutil.copystat(dirpath, target_dir, follow_symlinks=False)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            src = os.path.join(dirpath, name)
            dst = os.path.join(target_dir, name)
            st = os.lstat(src)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:      # whiteout: delete below
                if os.path.isdir(dst) and not os.path.islink(dst):
                    shutil.rmtree(dst)
                elif os.path.lexists(dst):
                    os.unlink(dst)
                continue
            if os.path.lexists(dst) and (not os.path.isdir(dst) or os.path.islink(dst)):
                os.unlink(dst)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in linked:
                    os.link(linked[key], dst)
                    continue
                shutil.copy2(src, dst, follow_symlinks=False)
                linked[key] = dst
            else:
                continue   # device nodes and fifos are not needed to run busybox-style images
            os.lchown(dst, st.st_uid, st.st_gid)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
