"""seccomp: a small BPF program the kernel runs at every system call of the container.

Map of this file:
  DENY                    syscall -> the capability that would allow it again (None: always denied)
  default_program(keep)   the BPF program (a list of (code, jt, jf, k) instructions)
  install(program)        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)
  install_default(keep)   both, for x86_64 (elsewhere: nothing, said in the trace)

Docker's default profile is an *allow* list of ~350 syscalls with argument
rules. This one is the short *deny* list that matters in practice: the
syscalls docker's profile refuses to a container without extra capabilities
(mount, unshare/clone of new namespaces, kernel modules, reboot, kexec,
keyrings, bpf, perf, the clock, swap ...). ptrace stays allowed, as in docker
since 19.03 (kernels from 4.8 check seccomp again after a ptrace stop). Each of them answers
EPERM, and, as in docker, adding the capability (--cap-add SYS_ADMIN,
SYS_MODULE, ...) lets the syscalls it guards through again. Most of these
are already refused by the missing capability: seccomp is the second wall,
and it also shrinks the kernel code a container can reach at all (keyctl,
userfaultfd, io_uring, bpf are reachable without any capability).

Non-native system calls are refused too (the x32 ABI, i386 via int 0x80):
otherwise they would reach the same kernel code under other numbers.

Shell equivalent: none in util-linux; `docker run --security-opt
seccomp=profile.json`, or `grep Seccomp /proc/self/status` to see it is on
(2 = filter).
"""
from __future__ import annotations

import ctypes
import errno
import os

from ..errors import KernelError
from ..trace import step
from . import libc

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# classic BPF opcodes (linux/bpf_common.h)
BPF_LD_W_ABS = 0x20      # A = 32-bit word at offset k of struct seccomp_data
BPF_JEQ_K = 0x15         # if A == k: skip jt, else skip jf
BPF_JSET_K = 0x45        # if A & k: skip jt, else skip jf
BPF_RET_K = 0x06         # return k

OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16   # struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }

#: x86_64 number, name, and the capability whose presence lets it through (None: never)
DENY = [
    (165, "mount", "SYS_ADMIN"), (166, "umount2", "SYS_ADMIN"), (155, "pivot_root", "SYS_ADMIN"),
    (272, "unshare", "SYS_ADMIN"), (308, "setns", "SYS_ADMIN"), (167, "swapon", "SYS_ADMIN"),
    (168, "swapoff", "SYS_ADMIN"), (179, "quotactl", "SYS_ADMIN"), (303, "name_to_handle_at", "SYS_ADMIN"),
    (300, "fanotify_init", "SYS_ADMIN"), (212, "lookup_dcookie", "SYS_ADMIN"),
    (428, "open_tree", "SYS_ADMIN"), (429, "move_mount", "SYS_ADMIN"), (430, "fsopen", "SYS_ADMIN"),
    (431, "fsconfig", "SYS_ADMIN"), (432, "fsmount", "SYS_ADMIN"), (433, "fspick", "SYS_ADMIN"),
    (442, "mount_setattr", "SYS_ADMIN"), (321, "bpf", "SYS_ADMIN"), (298, "perf_event_open", "SYS_ADMIN"),
    (175, "init_module", "SYS_MODULE"), (313, "finit_module", "SYS_MODULE"),
    (176, "delete_module", "SYS_MODULE"), (174, "create_module", None), (177, "get_kernel_syms", None),
    (178, "query_module", None), (169, "reboot", "SYS_BOOT"), (246, "kexec_load", "SYS_BOOT"),
    (320, "kexec_file_load", "SYS_BOOT"), (164, "settimeofday", "SYS_TIME"),
    (227, "clock_settime", "SYS_TIME"), (305, "clock_adjtime", "SYS_TIME"),
    (323, "userfaultfd", "SYS_PTRACE"), (172, "iopl", "SYS_RAWIO"), (173, "ioperm", "SYS_RAWIO"),
    (163, "acct", "SYS_PACCT"), (103, "syslog", "SYSLOG"), (304, "open_by_handle_at", "DAC_READ_SEARCH"),
    (237, "mbind", "SYS_NICE"), (238, "set_mempolicy", "SYS_NICE"), (279, "move_pages", "SYS_NICE"),
    (153, "vhangup", "SYS_TTY_CONFIG"), (248, "add_key", None), (249, "request_key", None),
    (250, "keyctl", None), (134, "uselib", None), (136, "ustat", None), (139, "sysfs", None),
    (156, "_sysctl", None), (180, "nfsservctl", None),
    (425, "io_uring_setup", None), (426, "io_uring_enter", None), (427, "io_uring_register", None),
]
CLONE = 56
CLONE3 = 435
#: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME: clone() making namespaces
CLONE_NS_FLAGS = 0x7E020080

_CAP_NUMBERS = {"SYS_ADMIN": 21, "SYS_MODULE": 16, "SYS_BOOT": 22, "SYS_TIME": 25, "SYS_PTRACE": 19,
                "SYS_RAWIO": 17, "SYS_PACCT": 20, "SYSLOG": 34, "DAC_READ_SEARCH": 2, "SYS_NICE": 23,
                "SYS_TTY_CONFIG": 26}


def _ret_errno(err: int) -> tuple[int, int, int, int]:
    return (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | err)


def default_program(keep) -> list[tuple[int, int, int, int]]:
    """The filter for a container that keeps the capability numbers in `keep`.

    Read it as:  if arch != x86_64 or nr is x32: ENOSYS
                 if nr == mount: EPERM ...            (one pair of lines per denied syscall)
                 if nr == clone3: ENOSYS               (libc falls back to clone, whose flags we can see)
                 if nr == clone and flags & CLONE_NEW*: EPERM
                 allow
    """
    has_admin = _CAP_NUMBERS["SYS_ADMIN"] in keep
    prog = [(BPF_LD_W_ABS, 0, 0, OFF_ARCH),
            (BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
            _ret_errno(errno.ENOSYS),
            (BPF_LD_W_ABS, 0, 0, OFF_NR),
            (BPF_JSET_K, 0, 1, X32_SYSCALL_BIT),
            _ret_errno(errno.ENOSYS)]
    for nr, _name, cap in DENY:
        if cap is not None and _CAP_NUMBERS[cap] in keep:
            continue
        prog += [(BPF_JEQ_K, 0, 1, nr), _ret_errno(errno.EPERM)]
    if not has_admin:
        prog += [(BPF_JEQ_K, 0, 1, CLONE3), _ret_errno(errno.ENOSYS),
                 (BPF_JEQ_K, 0, 3, CLONE),
                 (BPF_LD_W_ABS, 0, 0, OFF_ARG0),
                 (BPF_JSET_K, 0, 1, CLONE_NS_FLAGS),
                 _ret_errno(errno.EPERM)]
    prog.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def install(program: list[tuple[int, int, int, int]], what: str = "filter") -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog): from now on, for good.

    Needs no_new_privs or CAP_SYS_ADMIN; a filter can never be removed, and
    it is inherited by every child and kept across execve().
    """
    step("seccomp", f"prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {what}: {len(program)} BPF instructions)",
         "# no shell tool: docker run --security-opt seccomp=PROFILE.json")
    arr = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    prog = _SockFprog(len(program), arr)
    ret = libc._libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                           ctypes.byref(prog), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if ret < 0:
        raise KernelError(ctypes.get_errno(), "prctl", f"PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {what}")


def install_default(keep) -> None:
    """Install default_program(keep) on x86_64; elsewhere record that there is none."""
    if os.uname().machine != "x86_64":
        step("seccomp", f"no seccomp filter: the deny list has x86_64 numbers only ({os.uname().machine})", "")
        return
    install(default_program(keep), "minidocker default deny list")


__all__ = ["DENY", "default_program", "install", "install_default"]
