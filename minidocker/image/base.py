"""The offline base image: busybox:latest, built from the host's busybox-static.

Map of this file:
  ensure_base_image(store)   return busybox:latest, building it first if missing
  base_layer_tar()           the one layer, as tar bytes (deterministic)
  base_config(diff_id)       its image config: Cmd ["sh"], Env PATH

Why build instead of pull? The lab VM and the tests work without internet.
Debian's busybox-static package ships one statically linked binary,
/bin/busybox, that is ~300 programs in one: it looks at the name it was
started under (argv[0]). `busybox --list-full` prints where each program
lives (bin/ls, usr/bin/env, sbin/ifconfig); we hardlink every one of them to
bin/busybox, exactly like the official busybox image (`ls -li /bin` inside a
container shows one inode number hundreds of times).

The layer is deterministic: every entry gets the binary's mtime and owner
0:0, so the same busybox package gives the same image ID on every machine.
"""
from __future__ import annotations

import datetime as _dt
import io
import os
import shutil
import subprocess
import tarfile

from .. import params
from ..errors import ImageError, NotFound

__all__ = ["ensure_base_image", "base_layer_tar", "base_config", "BASE_NAME", "BASE_REF"]

BASE_NAME = params.BASE_IMAGE                 # "busybox"
BASE_REF = f"{BASE_NAME}:latest"
BUSYBOX_PATHS = ["/bin/busybox", "/usr/sbin/busybox", "/sbin/busybox", "/usr/bin/busybox"]
# Debian's busybox-static puts it in /bin, EPEL's (static too) in /usr/sbin.


def _find_busybox() -> str:
    for path in BUSYBOX_PATHS:
        if os.path.exists(path):
            return path
    return shutil.which("busybox") or BUSYBOX_PATHS[0]


BUSYBOX = _find_busybox()
PATH_ENV = "PATH=" + params.DEFAULT_PATH
#: (path, mode): the directories of a minimal root filesystem. /proc, /sys and
#: /dev are empty mount points; /tmp is world-writable with the sticky bit.
DIRS = [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("proc", 0o555),
        ("root", 0o700), ("sbin", 0o755), ("sys", 0o555), ("tmp", 0o1777), ("usr", 0o755),
        ("usr/bin", 0o755), ("usr/sbin", 0o755), ("var", 0o755), ("var/tmp", 0o1777)]
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": "root:x:0:\nnobody:x:65534:\n",
    # mount points for the files the runtime bind-mounts (empty, as in docker's init layer)
    "etc/hostname": "", "etc/hosts": "", "etc/resolv.conf": "",
}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def ensure_base_image(store=None):
    """Return the busybox:latest Image, building it offline first if it is missing.

    Idempotent and cheap when present (one index lookup). Raises ImageError
    with an install hint when /bin/busybox is not there.
    """
    from .store import Store
    store = store or Store()
    try:
        return store.resolve(BASE_REF)
    except NotFound:
        pass
    data = base_layer_tar()
    layer = store.add_layer(data)
    return store.add_image(base_config(layer.diff_id), [layer], tags=[BASE_REF])


def _applets() -> list[str]:
    """busybox --list-full: "bin/ls", "usr/bin/env", ... (where each program lives)."""
    out = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout
    names = {line.strip() for line in out.splitlines() if line.strip()}
    # bin/busybox is the binary itself; linuxrc (an initrd's init) has no place in an image
    return sorted(n for n in names if "/" in n and n != "bin/busybox" and ".." not in n.split("/"))


def _mtime() -> int:
    return int(os.stat(BUSYBOX).st_mtime)


def base_layer_tar() -> bytes:
    """The base layer as an uncompressed tar (see the module docstring)."""
    if not os.path.exists(BUSYBOX):
        raise ImageError(f"{BUSYBOX} is missing: cannot build the offline {BASE_REF} image",
                         hint="install it: apt-get install busybox-static (dnf install busybox on EL9)")
    mtime = _mtime()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, type_: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = type_, mode, mtime, 0, 0
            ti.uname = ti.gname = "root"
            ti.linkname, ti.size = link, len(data)
            tar.addfile(ti, io.BytesIO(data) if data else None)

        for d, mode in DIRS:
            add(d + "/", tarfile.DIRTYPE, mode)
        with open(BUSYBOX, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for name in _applets():
            add(name, tarfile.LNKTYPE, 0o755, link="bin/busybox")
        for name, text in FILES.items():
            add(name, tarfile.REGTYPE, 0o644, text.encode())
    return buf.getvalue()


def base_config(diff_id: str) -> dict:
    """The image config: docker's busybox says Cmd ["sh"] and sets PATH."""
    created = _dt.datetime.fromtimestamp(_mtime(), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "created": created,
        "architecture": _ARCH.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{BUSYBOX} (Debian busybox-static) in / "},
            {"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
        ],
    }


if __name__ == "__main__":     # `python -m minidocker.image.base`: what `make lab` runs
    img = ensure_base_image()
    print(f"{BASE_REF} {img.id}")
