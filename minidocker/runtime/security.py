"""Confinement applied right before exec: user, groups, no_new_privs.

Shell equivalent: `setpriv --reuid UID --regid GID --init-groups --no-new-privs CMD`.
(Capabilities, masked /proc paths and seccomp are the hardening issue's work:
they will be added here, so this file is the one place that decides what a
container's process may do.)
"""
from __future__ import annotations

import os

from ..kernel import libc
from ..trace import step


def confine(cfg, uid: int, gid: int, groups: list[int]) -> None:
    """setgroups(2), setgid(2), setuid(2) and prctl(PR_SET_NO_NEW_PRIVS)."""
    if not cfg.privileged:
        step("prctl", "prctl(PR_SET_NO_NEW_PRIVS, 1)", "setpriv --no-new-privs")
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    if uid or gid or groups:
        step("setuid", f"setgroups({groups}); setgid({gid}); setuid({uid})",
             f"setpriv --reuid {uid} --regid {gid} --clear-groups")
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
