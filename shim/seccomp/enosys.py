"""runc's -ENOSYS stub, put before a filter: syscalls newer than the profile get ENOSYS.

A profile that denies by default also denies the syscalls it was written before, and
EPERM tells a libc the syscall exists but is forbidden, so it does not fall back to an
older one (glibc's clone3, faccessat2...). As runc does (libcontainer/seccomp/patchbpf),
a syscall numbered above the largest one the profile names on its arch returns ENOSYS
before the libseccomp program runs; every other syscall reaches that program unchanged.

    ld [4]                        ; seccomp_data.arch
    jeq AUDIT_ARCH_A, arch_a      ; one per arch of the filter, then
    ja filter                     ; any other arch: the filter's own bad-arch action
  arch_a:
    ld [0]                        ; seccomp_data.nr
    jeq 0, enosys                 ; s390(x) only: unknown syscalls arrive as setup(2), nr 0
    jset X32_BIT, x32_a, native_a ; x86_64 only: x32 calls share its AUDIT_ARCH
  native_a:
    jgt LAST_A, enosys, filter    ; (x32_a likewise, with x32's largest number)
  enosys:
    ret ERRNO(ENOSYS)
  filter:                         ; the libseccomp program, unchanged
"""

from __future__ import annotations

import errno

from shim.seccomp import bpf, names

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_S390 = 0x00000016
AUDIT_ARCH_S390X = 0x80000016
X32_SYSCALL_BIT = 0x40000000
RET_ENOSYS = names.ACT_ERRNO | errno.ENOSYS  # SCMP_ACT_ERRNO is SECCOMP_RET_ERRNO
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data
_MAX_JUMP = 255  # jt and jf are 8 bits


# NamedTuples for mypy, collections.namedtuple at run time (`typing` costs ~17 ms).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NamedTuple

    class ArchLimit(NamedTuple):
        audit_arch: int  # seccomp_data.arch: AUDIT_ARCH_*
        last_syscall: int  # the largest syscall number the profile names on this arch
        x32: bool = False  # x32 calls on AUDIT_ARCH_X86_64 (numbers carry X32_SYSCALL_BIT)

    class _Op(NamedTuple):
        code: int
        k: int
        jt: str | None = None  # a label; for `ja`, its target
        jf: str | None = None

else:
    from collections import namedtuple

    ArchLimit = namedtuple("ArchLimit", "audit_arch last_syscall x32", defaults=(False,))
    _Op = namedtuple("_Op", "code k jt jf", defaults=(None, None))


def patch(program: bytes, limits: Iterable[ArchLimit]) -> bytes:
    """`program` with the stub for `limits` before it (unchanged if no arch has a limit)."""
    return stub(limits) + program


def stub(limits: Iterable[ArchLimit]) -> bytes:
    """The stub alone: it falls through (or jumps) to the instruction right after it.

    An arch whose last syscall is 0 or less (no syscall of the profile exists there) gets
    no check, as in runc. Raises ValueError for x32 on an arch other than x86_64.
    """
    last: dict[int, dict[bool, int]] = {}
    for limit in limits:
        if limit.x32 and limit.audit_arch != AUDIT_ARCH_X86_64:
            raise ValueError(f"x32 on arch {limit.audit_arch:#x}: x32 is only on x86_64")
        if limit.last_syscall > 0:
            modes = last.setdefault(limit.audit_arch, {})
            modes[limit.x32] = max(limit.last_syscall, modes.get(limit.x32, 0))
    if not last:
        return b""
    items: list[_Op | str] = [_Op(bpf.LD | bpf.W | bpf.ABS, _ARCH)]
    items += [_Op(bpf.JMP | bpf.JEQ, arch, jt=f"arch {arch:#x}") for arch in sorted(last)]
    items.append(_Op(bpf.JMP | bpf.JA, 0, jt="filter"))
    for arch, modes in sorted(last.items()):
        items += [f"arch {arch:#x}", _Op(bpf.LD | bpf.W | bpf.ABS, _NR)]
        if arch in (AUDIT_ARCH_S390, AUDIT_ARCH_S390X):
            items.append(_Op(bpf.JMP | bpf.JEQ, 0, jt="enosys"))
        if arch == AUDIT_ARCH_X86_64:
            x32 = f"x32 {arch:#x}" if True in modes else "filter"
            native = f"native {arch:#x}" if False in modes else "filter"
            items.append(_Op(bpf.JMP | bpf.JSET, X32_SYSCALL_BIT, jt=x32, jf=native))
        for is_x32, nr in sorted(modes.items()):
            label = f"{'x32' if is_x32 else 'native'} {arch:#x}"
            items += [label, _Op(bpf.JMP | bpf.JGT, nr, jt="enosys", jf="filter")]
    items += ["enosys", _Op(bpf.RET | bpf.K, RET_ENOSYS), "filter"]
    return bpf.encode(_assemble(items))


def _assemble(items: list[_Op | str]) -> list[bpf.Insn]:
    """Labels to offsets: every jump is forward, measured from the next instruction."""
    where: dict[str, int] = {}
    count = 0
    for item in items:
        if isinstance(item, str):
            where[item] = count
        else:
            count += 1
    program: list[bpf.Insn] = []
    for item in items:
        if isinstance(item, str):
            continue
        here = len(program) + 1

        def offset(label: str | None, here: int = here) -> int:
            return 0 if label is None else where[label] - here

        if item.code == bpf.JMP | bpf.JA:
            program.append(bpf.Insn(item.code, 0, 0, offset(item.jt)))
            continue
        jt, jf = offset(item.jt), offset(item.jf)
        if max(jt, jf) > _MAX_JUMP:  # ~7 instructions an arch: not with runc's 17 arches
            raise ValueError(f"-ENOSYS stub: a jump of {max(jt, jf)} instructions")
        program.append(bpf.Insn(item.code, jt, jf, item.k))
    return program
