"""Property tests for the security rules that are pure logic (no root, no kernel):
docker's capability arithmetic, --security-opt parsing, and the seccomp BPF program
(run here on a tiny classic-BPF interpreter, so its verdict for every syscall is checked).
"""
from __future__ import annotations

import errno
import struct
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidocker.errors import MinidockerError, UsageError
from minidocker.kernel import capabilities as caps
from minidocker.kernel import seccomp
from minidocker.runtime import security

ALL = frozenset(range(len(caps.NAMES)))
cap_names = st.sampled_from([n[4:] for n in caps.NAMES] + [n.lower() for n in caps.NAMES] + ["ALL"])


@pytest.fixture(autouse=True)
def _known_last_cap(monkeypatch):
    # the rule is pure: fix "this kernel" to know every capability in NAMES
    monkeypatch.setattr(caps, "_last_cap", len(caps.NAMES) - 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(cap_names, max_size=5), st.lists(cap_names, max_size=5), st.booleans())
def test_resolve_follows_dockers_rule(add, drop, privileged):
    got = caps.resolve(add, drop, privileged)
    assert got <= ALL
    adds = {caps.number(a) for a in add if a.upper() != "ALL"}
    drops = {caps.number(d) for d in drop if d.upper() != "ALL"}
    if privileged:
        assert got == ALL
    elif "ALL" in {a.upper() for a in add}:
        assert got == ALL - drops
    elif "ALL" in {d.upper() for d in drop}:
        assert got == adds
    else:
        assert got == (caps.DOCKER_DEFAULT - drops) | adds    # an add wins over a drop


@given(st.text(max_size=20))
def test_unknown_capability_names_are_usage_errors(name):
    try:
        n = caps.number(name)
    except UsageError as e:
        assert repr(name) in e.message or name in e.message
        return
    assert caps.NAMES[n].endswith(name.strip().upper().removeprefix("CAP_"))


@given(st.lists(st.text(max_size=30), max_size=4))
def test_security_opts_raise_only_usage_errors(opts):
    cfg = SimpleNamespace(security_opt=tuple(opts))
    try:
        out = security.security_opts(cfg)
    except MinidockerError:
        return
    assert out["seccomp"] in ("default", "unconfined") and isinstance(out["no_new_privileges"], bool)


def test_security_opts_known_spellings():
    def o(*opts):
        return security.security_opts(SimpleNamespace(security_opt=opts))
    assert o() == {"seccomp": "default", "no_new_privileges": True}
    assert o("seccomp=unconfined")["seccomp"] == "unconfined"
    assert o("seccomp:unconfined")["seccomp"] == "unconfined"
    assert o("no-new-privileges=false")["no_new_privileges"] is False
    assert o("no-new-privileges")["no_new_privileges"] is True
    with pytest.raises(UsageError, match="custom seccomp"):
        o("seccomp=/etc/profile.json")


def test_docker_default_hex():
    assert caps.to_hex(caps.DOCKER_DEFAULT) == "00000000a80425fb"     # docker's CapBnd/CapEff
    assert caps.from_status("CapEff:\t00000000a80425fb\n")["CapEff"] == caps.DOCKER_DEFAULT


# --- seccomp: run the BPF program ------------------------------------------------------------------

def run_bpf(prog, nr: int, arch: int = seccomp.AUDIT_ARCH_X86_64, arg0: int = 0) -> int:
    """A classic-BPF interpreter for the four opcodes the filter uses; returns the verdict."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    pc, acc = 0, 0
    for _ in range(10_000):
        code, jt, jf, k = prog[pc]
        if code == seccomp.BPF_LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == seccomp.BPF_JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == seccomp.BPF_JSET_K:
            pc += 1 + (jt if acc & k else jf)
        elif code == seccomp.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unknown opcode {code:#x}")
    raise AssertionError("no verdict")


EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
ALLOW = seccomp.SECCOMP_RET_ALLOW
DENIED = {nr: cap for nr, _n, cap in seccomp.DENY}


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 600), st.frozensets(st.sampled_from(sorted(caps.DOCKER_DEFAULT | {21, 16, 25, 22})),
                                          max_size=8))
def test_filter_verdict_for_every_syscall(nr, keep):
    prog = seccomp.default_program(keep)
    assert len(prog) < 4096      # the kernel's BPF_MAXINSNS
    verdict = run_bpf(prog, nr)
    cap = DENIED.get(nr, "absent")
    if nr in DENIED and (cap is None or seccomp._CAP_NUMBERS[cap] not in keep):
        assert verdict == EPERM, (nr, keep)
    elif nr == seccomp.CLONE3 and 21 not in keep:
        assert verdict == ENOSYS
    else:
        assert verdict == ALLOW, (nr, keep)


def test_filter_clone_flags_and_foreign_abis():
    prog = seccomp.default_program(caps.DOCKER_DEFAULT)
    assert run_bpf(prog, seccomp.CLONE, arg0=0x11) == ALLOW                       # fork()'s SIGCHLD
    assert run_bpf(prog, seccomp.CLONE, arg0=0x10000000 | 0x11) == EPERM         # CLONE_NEWUSER
    assert run_bpf(prog, seccomp.CLONE, arg0=0x20000) == EPERM                   # CLONE_NEWNS
    assert run_bpf(prog, 0 | seccomp.X32_SYSCALL_BIT) == ENOSYS                  # x32 read()
    assert run_bpf(prog, 0, arch=0x40000003) == ENOSYS                           # i386 via int 0x80
    assert run_bpf(prog, 59) == ALLOW                                            # execve
    with_admin = seccomp.default_program(caps.DOCKER_DEFAULT | {21})
    assert run_bpf(with_admin, 165) == ALLOW and run_bpf(with_admin, seccomp.CLONE, arg0=0x10000000) == ALLOW


# --- the cgroup v2 device program: run the eBPF on a tiny interpreter ----------------------------

from minidocker.kernel import devicefilter as df  # noqa: E402


def run_ebpf(prog, typ: int, major: int, minor: int, access: int) -> int:
    ctx = struct.pack("<III", access << 16 | typ, major, minor)
    regs = [0] * 11
    pc = 0
    for _ in range(10_000):
        code, dst, src, off, imm = prog[pc]
        pc += 1
        if code == df.LDX_W:
            assert src == df.R1, "only the context is read"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == df.MOV64_X:
            regs[dst] = regs[src]
        elif code == df.MOV64_K:
            regs[dst] = imm & 0xFFFFFFFFFFFFFFFF
        elif code == df.AND32_K:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif code == df.RSH64_K:
            regs[dst] >>= imm
        elif code == df.JNE_K:
            if regs[dst] != imm:
                pc += off
        elif code == df.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unknown opcode {code:#x}")
    raise AssertionError("no verdict")


def allowed(rules, typ, major, minor, access) -> bool:
    for text in rules:
        t, ma, mi, acc = df.parse_rule(text)
        if t == typ and ma in (None, major) and mi in (None, minor) and access & ~acc == 0:
            return True
    return False


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([df.DEV_BLOCK, df.DEV_CHAR]), st.sampled_from([1, 5, 7, 8, 10, 136, 254, 4095]),
       st.integers(0, 300), st.sampled_from([1, 2, 4, 3, 6, 7]))
def test_device_program_matches_the_rules(typ, major, minor, access):
    prog = df.program(security.DEVICE_RULES)
    assert run_ebpf(prog, typ, major, minor, access) == int(allowed(security.DEVICE_RULES, typ, major, minor, access))


def test_device_program_examples():
    prog = df.program(security.DEVICE_RULES)
    assert run_ebpf(prog, df.DEV_CHAR, 1, 3, df.ACC_READ | df.ACC_WRITE) == 1         # /dev/null
    assert run_ebpf(prog, df.DEV_BLOCK, 254, 0, df.ACC_READ) == 0                     # a host disk
    assert run_ebpf(prog, df.DEV_BLOCK, 254, 0, df.ACC_MKNOD) == 1                    # mknod alone: ok
    assert run_ebpf(prog, df.DEV_CHAR, 136, 42, df.ACC_READ) == 1                     # /dev/pts/42
    with pytest.raises(UsageError):
        df.parse_rule("x 1:2 rwm")
