"""cgroup v2 device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program, as runc's devicefilter.

`compile_rules` is sans-IO: the rules (the spec's, then runc's defaults) in, the
program's bytes out. The kernel calls it with `struct bpf_cgroup_dev_ctx`
{u32 access_type (access << 16 | type), u32 major, u32 minor}; it answers 1 (allow)
or 0 (deny). Like runc's v1 emulator, a wildcard `a` rule resets everything before
it and sets the default, later rules add to or take from the exceptions to that
default (exactly as the v1 kernel keeps its list), and a request matches an
exception when its access is a subset of the exception's.

`attach` loads the program with bpf(2) and attaches it to the cgroup directory
(BPF_F_ALLOW_MULTI), through `shim.sys` (cffi, compiled at install).
"""

from __future__ import annotations

import os
import struct

from shim.cgroups.devices import Rule
from shim.errors import CgroupError

INSN = struct.Struct("<BBhi")  # code, dst | src << 4, offset, immediate
DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
# opcodes used: ldx word, alu32 and/rsh/mov, alu64 mov imm, jne imm/reg, exit
LDXW, AND32, RSH32, MOV32_REG, MOV64_IMM, JNE_IMM, JNE_REG, EXIT = (
    *(0x61, 0x54, 0x74, 0xBC, 0xB7, 0x55, 0x5D, 0x95),
)
PROG_TYPE_CGROUP_DEVICE, ATTACH_CGROUP_DEVICE, F_ALLOW_MULTI = 15, 6, 2


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return INSN.pack(code, dst | src << 4, off, imm)


def effective_rules(rules: list[Rule]) -> tuple[bool, list[Rule]]:
    """(default allow, the exceptions to it): the v1 kernel's list semantics.

    A wildcard `a *:* ` rule sets the default and clears the list; a rule against the
    default adds its access to the exception with the same type and numbers (or a new
    one); a rule agreeing with the default takes its access away from that exception.
    """
    default = False
    exceptions: dict[tuple[str, int, int], str] = {}
    for rule in rules:
        key = (rule.type, rule.major, rule.minor)
        if rule.type == "a" and rule.major < 0 and rule.minor < 0:
            default, exceptions = rule.allow, {}
        elif rule.allow != default:
            exceptions[key] = "".join(sorted(set(exceptions.get(key, "")) | set(rule.access)))
        elif key in exceptions:
            left = "".join(sorted(set(exceptions[key]) - set(rule.access)))
            if left:
                exceptions[key] = left
            else:
                del exceptions[key]
    kept = [Rule(not default, t, major, minor, a) for (t, major, minor), a in exceptions.items()]
    return default, kept


def compile_rules(rules: list[Rule]) -> bytes:
    """The device program for `rules` (in order; later rules take precedence)."""
    default, kept = effective_rules(rules)
    prologue = [
        _insn(LDXW, dst=2, src=1, off=0),
        _insn(AND32, dst=2, imm=0xFFFF),  # r2 = type
        _insn(LDXW, dst=3, src=1, off=0),
        _insn(RSH32, dst=3, imm=16),  # r3 = access
        _insn(LDXW, dst=4, src=1, off=4),  # r4 = major
        _insn(LDXW, dst=5, src=1, off=8),  # r5 = minor
    ]
    blocks = [_block(rule) for rule in kept]
    epilogue = [_insn(MOV64_IMM, dst=0, imm=int(default)), _insn(EXIT)]
    return b"".join(prologue + [i for block in blocks for i in block] + epilogue)


def _block(rule: Rule) -> list[bytes]:
    # Each test jumps past the rest of the block when it does not match.
    tests: list[tuple[int, int, int, int]] = []  # (code, dst, src, imm)
    if rule.type in ("b", "c"):
        tests.append((JNE_IMM, 2, 0, DEV_BLOCK if rule.type == "b" else DEV_CHAR))
    access = sum(ACCESS[c] for c in set(rule.access))
    if access != 7:
        tests += [(MOV32_REG, 1, 3, 0), (AND32, 1, 0, access), (JNE_REG, 1, 3, 0)]
    if rule.major >= 0:
        tests.append((JNE_IMM, 4, 0, rule.major))
    if rule.minor >= 0:
        tests.append((JNE_IMM, 5, 0, rule.minor))
    verdict = [_insn(MOV64_IMM, dst=0, imm=int(rule.allow)), _insn(EXIT)]
    out: list[bytes] = []
    for index, (code, dst, src, imm) in enumerate(tests):
        skip = len(tests) - index - 1 + len(verdict)
        jumps = code in (JNE_IMM, JNE_REG)
        out.append(_insn(code, dst=dst, src=src, off=skip if jumps else 0, imm=imm))
    return out + verdict


def attach(directory: str, program: bytes, field: str = "linux.resources.devices") -> None:
    """Load `program` and attach it to the cgroup v2 `directory`; `CgroupError` naming
    `field` (with the verifier's last word) if the kernel refuses."""
    from shim.sys import bpf_prog_attach, bpf_prog_load

    try:
        prog_fd = bpf_prog_load(PROG_TYPE_CGROUP_DEVICE, program, INSN.size)
    except OSError as err:
        raise CgroupError(f"{field}: load the device program: {err.strerror}") from None
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        os.close(prog_fd)
        raise CgroupError(f"{field}: open {directory}: {err.strerror}") from None
    try:
        bpf_prog_attach(dir_fd, prog_fd, ATTACH_CGROUP_DEVICE, F_ALLOW_MULTI)
    except OSError as err:
        raise CgroupError(
            f"{field}: attach the device program to {directory}: {err.strerror}"
        ) from None
    finally:
        os.close(dir_fd)
        os.close(prog_fd)  # the attachment keeps the program alive
