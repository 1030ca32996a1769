"""The device allow-list on cgroup v2: a tiny eBPF program attached to the container's cgroup.

Map of this file:
  parse_rule("c 1:3 rwm")        docker/v1 rule text -> (type, major, minor, access)
  program(rules)                  the eBPF instructions (one block per rule, then "deny")
  load(program)                   bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE) -> fd
  attach(cgroup_dir, prog_fd)     bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
  restrict(cgroup_dir, rules)     all three; the fd is closed, the cgroup keeps the program

cgroup v1 has a `devices` controller: write rules to devices.allow. cgroup v2
has none: instead the kernel runs a BPF program at every open(2) and mknod(2)
of a device node by a process in the cgroup; it answers 1 (allow) or 0
(EPERM). This is what runc does for docker on v2 hosts. The program reads
struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, where
access_type = access << 16 | type (type: 1 block, 2 char; access: 1 mknod,
2 read, 4 write), and for each rule checks type, major, minor and that the
access asked is among those allowed.

Shell equivalent: none in util-linux (bpftool can show it afterwards:
`bpftool cgroup show /sys/fs/cgroup/minidocker/ID`). The program lives as long
as the cgroup: removing the cgroup directory releases it, nothing to clean.
"""
from __future__ import annotations

import ctypes
import os
import struct

from ..errors import KernelError, UsageError
from ..trace import step
from . import libc

_SYS_bpf = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4

# eBPF opcodes (linux/bpf_common.h + bpf.h)
LDX_W = 0x61        # dst = *(u32 *)(src + off)
MOV64_X = 0xBF      # dst = src
MOV64_K = 0xB7      # dst = imm
AND32_K = 0x54      # dst = (u32)dst & imm
RSH64_K = 0x77      # dst >>= imm
JNE_K = 0x55        # if dst != imm: pc += off
EXIT = 0x95         # return r0

R0, R1, R2, R3, R4, R5 = range(6)


def parse_rule(text: str) -> tuple[int, int | None, int | None, int]:
    """'c 1:3 rwm' -> (DEV_CHAR, 1, 3, ACC_READ|ACC_WRITE|ACC_MKNOD); '*' -> None."""
    try:
        kind, numbers, access = text.split()
        major, minor = numbers.split(":")
        typ = {"c": DEV_CHAR, "b": DEV_BLOCK}[kind]
        acc = 0
        for ch in access:
            acc |= {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}[ch]
        return (typ, None if major == "*" else int(major), None if minor == "*" else int(minor), acc)
    except (ValueError, KeyError):
        raise UsageError(f"invalid device rule {text!r}", hint="write e.g. 'c 1:3 rwm' or 'b *:* m'") from None


def _ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> tuple[int, int, int, int, int]:
    return (code, dst, src, off, imm)


def program(rules) -> list[tuple[int, int, int, int, int]]:
    """The eBPF program for `rules` (texts like 'c 1:3 rwm'): allow if any rule matches."""
    prog = [_ins(LDX_W, R2, R1, 0),          # r2 = access_type
            _ins(MOV64_X, R3, R2),           # r3 = access_type
            _ins(AND32_K, R2, imm=0xFFFF),   # r2 = type
            _ins(RSH64_K, R3, imm=16),       # r3 = access
            _ins(LDX_W, R4, R1, 4),          # r4 = major
            _ins(LDX_W, R5, R1, 8)]          # r5 = minor
    for text in rules:
        typ, major, minor, acc = parse_rule(text)
        block = [[JNE_K, R2, 0, None, typ]]
        if major is not None:
            block.append([JNE_K, R4, 0, None, major])
        if minor is not None:
            block.append([JNE_K, R5, 0, None, minor])
        denied_bits = 7 & ~acc
        if denied_bits:                  # asked for an access this rule does not give?
            block += [[MOV64_X, R0, R3, 0, 0], [AND32_K, R0, 0, 0, denied_bits], [JNE_K, R0, 0, None, 0]]
        block += [[MOV64_K, R0, 0, 0, 1], [EXIT, 0, 0, 0, 0]]
        for i, ins in enumerate(block):  # every "no match" jump goes to the next block
            if ins[3] is None:
                ins[3] = len(block) - (i + 1)
        prog += [tuple(ins) for ins in block]
    prog += [_ins(MOV64_K, R0, imm=0), _ins(EXIT)]
    return prog


def _encode(prog) -> bytes:
    return b"".join(struct.pack("<BBhi", code, dst | (src << 4), off, imm) for code, dst, src, off, imm in prog)


def _bpf(cmd: int, attr: bytes, what: str) -> int:
    buf = ctypes.create_string_buffer(attr, 128)
    ret = libc._libc.syscall(ctypes.c_long(_SYS_bpf), ctypes.c_int(cmd), buf, ctypes.c_uint(128))
    if ret < 0:
        raise KernelError(ctypes.get_errno(), "bpf", what,
                          hint="the kernel needs CONFIG_CGROUP_BPF (every distribution kernel has it)")
    return ret


def load(prog) -> int:
    """bpf(BPF_PROG_LOAD, {BPF_PROG_TYPE_CGROUP_DEVICE, insns, license "GPL"}) -> program fd."""
    code = ctypes.create_string_buffer(_encode(prog))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(prog), ctypes.addressof(code),
                       ctypes.addressof(lic), 1, len(log), ctypes.addressof(log), 0, 0, b"mdk_devices", 0,
                       BPF_CGROUP_DEVICE)
    step("bpf", f"bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE, {len(prog)} instructions)",
         "# no shell tool: runc builds the same program for docker on cgroup v2")
    try:
        return _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE")
    except KernelError as e:
        verifier = log.value.decode(errors="replace").strip()
        if verifier:
            e.message += f"\nverifier: {verifier[-500:]}"
        raise


def attach(cgroup_dir: str, prog_fd: int) -> None:
    """bpf(BPF_PROG_ATTACH, {cgroup fd, program fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI})."""
    step("bpf", f"bpf(BPF_PROG_ATTACH, {cgroup_dir}, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)",
         f"bpftool cgroup attach {cgroup_dir} device pinned PROG multi")
    cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _bpf(BPF_PROG_ATTACH, struct.pack("<IIIII", cg, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, 0),
             f"BPF_PROG_ATTACH, {cgroup_dir}, BPF_CGROUP_DEVICE")
    finally:
        os.close(cg)


def restrict(cgroup_dir: str, rules) -> None:
    """Load the program for `rules` and attach it to the cgroup v2 directory `cgroup_dir`."""
    fd = load(program(rules))
    try:
        attach(cgroup_dir, fd)
    finally:
        os.close(fd)    # the cgroup holds its own reference to the program


__all__ = ["parse_rule", "program", "load", "attach", "restrict"]
