"""minidocker: a Linux container runtime written to be read.

The folder tree is the syllabus:
  kernel/    namespaces, mounts, cgroups, overlay, netlink, iptables (thin syscall wrappers)
  image/     references, the OCI layer store, safe tar extraction, Dockerfile builds, registry client
  runtime/   container config, lifecycle and state, the container's init, exec, networking
  lab/       what the notebooks and labs add: doctor, deadloop, samplers, plots, widgets
  cli.py     the `minidocker` command (docker's verbs and flags)
"""
__version__ = "0.1.0"

from .errors import MinidockerError  # noqa: E402
from .trace import trace  # noqa: E402

__all__ = ["__version__", "MinidockerError", "trace"]
