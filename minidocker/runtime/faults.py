"""Fault injection for the crash tests: die with SIGKILL at a named step of `run`.

    MINIDOCKER_CRASH_AT=after-cgroup minidocker run --rm busybox true    # killed -9 there

The runtime calls `crash_point(step)` at each step of a start; unless the
variable names that step, the call does nothing. The process that reaches
the step is the one that dies:
  after-cgroup      the monitor, once the cgroup exists (nothing else yet)
  after-namespaces  the monitor, once PID 1 exists and waits for "go"
  after-mount       PID 1 (still runtime code), after pivot_root and the /proc masks
  after-network     the monitor, once the veth, lease and port rules exist
  after-exec        the monitor, once the command runs (the container is orphaned)
SIGKILL cannot be caught, so no `finally:` and no
atexit handler runs: exactly what a power cut or an OOM kill of the runtime
does. The crash tests then check that the next command, or
`minidocker system prune`, leaves the host as it was.
"""
from __future__ import annotations

import os

from ..kernel import signals as signal

#: the environment variable that names the step to die at
CRASH_ENV = "MINIDOCKER_CRASH_AT"

#: the steps of `run` the runtime marks, in order
STEPS = ("after-cgroup", "after-namespaces", "after-mount", "after-network", "after-exec")


def crash_point(name: str) -> None:
    """kill(getpid(), SIGKILL) when $MINIDOCKER_CRASH_AT == name. Shell: `kill -9 $$`."""
    if os.environ.get(CRASH_ENV) == name:
        if os.getpid() == 1:
            # PID 1 of a PID namespace is immune to signals it has no handler for,
            # even SIGKILL sent by itself; _exit() skips every cleanup just the same
            os._exit(128 + signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["crash_point", "CRASH_ENV", "STEPS"]
