"""An offline `registry:2` image, built from Debian's docker-registry package (seed 1.5.5).

Map of this file:
  write_context(dir)   a build context: the registry binary, the shared libraries
                       `ldd` says it needs, a config.yml and a Dockerfile
  build_image(tag)     `minidocker build -t registry:2 <that context>` as a library call

The seed starts a private registry with `docker run -d -p 5000:5000 --restart
always --name registry registry:2`; Docker Hub's registry:2 is the same
program (distribution/distribution) that Debian ships as /usr/bin/docker-registry.
With no internet we package the host's copy instead of pulling it:

    FROM busybox
    COPY rootfs/ /                       # /bin/registry plus libc and the loader
    COPY config.yml /etc/docker/registry/config.yml
    VOLUME ["/var/lib/registry"]
    EXPOSE 5000
    ENTRYPOINT ["/bin/registry"]
    CMD ["serve", "/etc/docker/registry/config.yml"]
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from ..errors import MinidockerError

__all__ = ["write_context", "build_image", "REGISTRY_BIN", "DOCKERFILE", "CONFIG"]

REGISTRY_BIN = "/usr/bin/docker-registry"

CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
"""

DOCKERFILE = """\
# registry:2, built offline from the host's docker-registry binary (seed 1.5.5)
FROM busybox
# rootfs/: /bin/registry, and the libraries `ldd` says it needs, at the same paths
COPY rootfs/ /
COPY config.yml /etc/docker/registry/config.yml
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/bin/registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
"""


def _libraries(binary: str) -> list[str]:
    """Shared libraries of `binary`, from `ldd` (absolute paths, loader included)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m and os.path.exists(m.group(1)):
            libs.append(m.group(1))
    return libs


def write_context(dest: str, binary: str = REGISTRY_BIN) -> str:
    """Fill `dest` with the build context for the registry image; returns dest."""
    if not os.path.exists(binary):
        raise MinidockerError(f"{binary} is not installed",
                              hint="apt-get install docker-registry (the lab VM has it)")
    rootfs = os.path.join(dest, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
    shutil.copy2(binary, os.path.join(rootfs, "bin", "registry"))
    for lib in _libraries(binary):
        target = os.path.join(rootfs, lib.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.realpath(lib), target)      # the file, not the symlink
    with open(os.path.join(dest, "config.yml"), "w") as f:
        f.write(CONFIG)
    with open(os.path.join(dest, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    return dest


def build_image(tag: str = "registry:2", out=None) -> str:
    """Build the registry image under `tag`; returns its id."""
    import tempfile
    from .build import build
    with tempfile.TemporaryDirectory(prefix="registry-image-") as d:
        return build(write_context(d), tags=[tag], out=out).image_id
