"""Classic BPF as seccomp runs it: encode, decode, and run a program on a seccomp_data.

`run` is the reference the tests hold filters to without loading them; it accepts only
what the kernel's seccomp_check_filter accepts (32-bit loads from seccomp_data, no packet
access) and so raises ValueError where the kernel would refuse the program.
"""

from __future__ import annotations

import struct
import sys

# A NamedTuple for mypy, collections.namedtuple at run time (`typing` costs ~17 ms).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import NamedTuple

    class Insn(NamedTuple):
        code: int
        jt: int
        jf: int
        k: int

else:
    from collections import namedtuple

    Insn = namedtuple("Insn", "code jt jf k")

# struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, host order (seccomp_export_bpf's).
SOCK_FILTER = struct.Struct("=HBBI")
# struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
SECCOMP_DATA = struct.Struct("=iIQ6Q")
MAX_INSNS = 4096  # BPF_MAXINSNS: the kernel refuses a longer program

# Opcode parts (linux/bpf_common.h).
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, ABS, MEM, IMM, LEN = 0x00, 0x20, 0x60, 0x00, 0x80
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
RET_A = 0x10
_MASK = 0xFFFFFFFF

_ALU: dict[int, Callable[[int, int], int]] = {
    0x00: lambda a, b: a + b,
    0x10: lambda a, b: a - b,
    0x20: lambda a, b: a * b,
    0x30: lambda a, b: a // b,
    0x40: lambda a, b: a | b,
    0x50: lambda a, b: a & b,
    0x60: lambda a, b: a << b if b < 32 else 0,
    0x70: lambda a, b: a >> b,
    0x90: lambda a, b: a % b,
    0xA0: lambda a, b: a ^ b,
}
_JUMPS: dict[int, Callable[[int, int], bool]] = {
    JEQ: lambda a, b: a == b,
    JGT: lambda a, b: a > b,
    JGE: lambda a, b: a >= b,
    JSET: lambda a, b: a & b != 0,
}


def encode(program: Iterable[Insn]) -> bytes:
    return b"".join(SOCK_FILTER.pack(*insn) for insn in program)


def decode(program: bytes) -> list[Insn]:
    """The instructions of a program; ValueError unless it is whole instructions."""
    if len(program) % SOCK_FILTER.size:
        raise ValueError(f"BPF program of {len(program)} bytes: not a whole instruction count")
    return [Insn(*fields) for fields in SOCK_FILTER.iter_unpack(program)]


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """What the kernel hands a filter for syscall `nr` on `arch` (an AUDIT_ARCH_* value)."""
    padded = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    return SECCOMP_DATA.pack(nr, arch, ip, *padded)


def run(program: bytes | Sequence[Insn], data: bytes) -> int:
    """The SECCOMP_RET_* value the program returns for `data` (a seccomp_data)."""
    insns = decode(program) if isinstance(program, bytes) else program
    if not 0 < len(insns) <= MAX_INSNS:
        raise ValueError(f"BPF program of {len(insns)} instructions")
    a = x = 0
    mem = [0] * 16
    pc = 0
    while pc < len(insns):
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        src = x if code & X else k
        if cls == RET:
            return a if code & RET_A else k
        if cls == JMP:
            if code & 0xF0 == JA:
                pc += k
            else:
                pc += jt if _JUMPS[code & 0xF0](a, src) else jf
        elif cls == ALU:
            a = (-a if code & 0xF0 == 0x80 else _ALU[code & 0xF0](a, src)) & _MASK
        elif cls in (LD, LDX):
            value = _load(code, k, data, mem)
            a, x = (value, x) if cls == LD else (a, value)
        elif cls in (ST, STX):
            mem[k] = a if cls == ST else x
        elif code == MISC | 0x00:  # TAX
            x = a
        elif code == MISC | 0x80:  # TXA
            a = x
        else:
            raise ValueError(f"BPF instruction {pc - 1}: opcode {code:#x}")
    raise ValueError("BPF program ran past its end")


def _load(code: int, k: int, data: bytes, mem: list[int]) -> int:
    mode, size = code & 0xE0, code & 0x18
    if mode == ABS and size == W and code & 0x07 == LD and k % 4 == 0 and k + 4 <= len(data):
        return int.from_bytes(data[k : k + 4], sys.byteorder)
    if mode == IMM:
        return k
    if mode == MEM and k < 16:
        return mem[k]
    if mode == LEN:
        return len(data)
    raise ValueError(f"BPF load {code:#x} {k}: not allowed in a seccomp filter")


def disassemble(program: bytes) -> list[str]:
    """One line per instruction, for debug logs: `12: jeq 0x27 jt=13 jf=15`."""
    lines = []
    for i, (code, jt, jf, k) in enumerate(decode(program)):
        cls = code & 0x07
        if cls == JMP and code & 0xF0 == JA:
            text = f"ja {i + 1 + k}"
        elif cls == JMP:
            name = {JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}.get(code & 0xF0, "j?")
            text = f"{name} {k:#x} jt={i + 1 + jt} jf={i + 1 + jf}"
        elif cls == RET:
            text = f"ret {k:#010x}"
        elif code == LD | W | ABS:
            text = f"ld [{k}]"
        elif code == ALU | 0x50 | K:
            text = f"and {k:#x}"
        else:
            text = f"op={code:#06x} jt={jt} jf={jf} k={k:#x}"
        lines.append(f"{i}: {text}")
    return lines
