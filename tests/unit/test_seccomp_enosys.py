"""runc's -ENOSYS stub (shim.seccomp.enosys), run on the BPF emulator before a fake filter."""

from __future__ import annotations

import pytest

from shim.seccomp import bpf
from shim.seccomp.enosys import (
    AUDIT_ARCH_S390X,
    AUDIT_ARCH_X86_64,
    RET_ENOSYS,
    X32_SYSCALL_BIT,
    ArchLimit,
    patch,
    stub,
)

AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_S390 = 0x00000016
# Every AUDIT_ARCH_* of runc 1.1's arch list (x32 shares x86_64's).
ALL_ARCHES = (
    *(AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, 0x40000028, AUDIT_ARCH_AARCH64),
    *(0x00000008, 0x80000008, 0xA0000008, 0x40000008, 0xC0000008, 0xE0000008),
    *(0x00000014, 0x80000015, 0xC0000015, 0xC00000F3, AUDIT_ARCH_S390, AUDIT_ARCH_S390X),
)
FILTER = 0x7FFF1234  # what the fake filter returns: "reached the filter"
FAKE_FILTER = bpf.encode([bpf.Insn(bpf.RET | bpf.K, 0, 0, FILTER)])


def verdict(limits: list[ArchLimit], nr: int, arch: int) -> int:
    return bpf.run(patch(FAKE_FILTER, limits), bpf.seccomp_data(nr, arch))


def test_no_limits_no_stub() -> None:
    assert stub([]) == b""
    assert stub([ArchLimit(AUDIT_ARCH_X86_64, 0)]) == b""  # no syscall of the profile there
    assert patch(FAKE_FILTER, []) == FAKE_FILTER


@pytest.mark.parametrize(
    ("nr", "expected"),
    [(0, FILTER), (1, FILTER), (334, FILTER), (335, RET_ENOSYS), (1000, RET_ENOSYS)],
)
def test_syscalls_past_the_last_one_get_enosys(nr: int, expected: int) -> None:
    assert verdict([ArchLimit(AUDIT_ARCH_AARCH64, 334)], nr, AUDIT_ARCH_AARCH64) == expected


def test_negative_numbers_are_past_the_end() -> None:
    # seccomp_data.nr is signed, the BPF compare unsigned: -1 (a ptrace-skipped call) is
    # huge, as in runc's stub.
    assert verdict([ArchLimit(AUDIT_ARCH_AARCH64, 334)], -1, AUDIT_ARCH_AARCH64) == RET_ENOSYS


def test_other_arches_reach_the_filter() -> None:
    limits = [ArchLimit(AUDIT_ARCH_AARCH64, 10)]
    assert verdict(limits, 1000, AUDIT_ARCH_X86_64) == FILTER
    assert verdict(limits, 1000, 0x12345678) == FILTER


def test_each_arch_has_its_own_limit() -> None:
    limits = [ArchLimit(AUDIT_ARCH_X86_64, 439), ArchLimit(AUDIT_ARCH_I386, 100)]
    assert verdict(limits, 200, AUDIT_ARCH_X86_64) == FILTER
    assert verdict(limits, 200, AUDIT_ARCH_I386) == RET_ENOSYS
    assert verdict(limits, 440, AUDIT_ARCH_X86_64) == RET_ENOSYS


def test_the_largest_limit_given_for_an_arch_wins() -> None:
    limits = [ArchLimit(AUDIT_ARCH_I386, 100), ArchLimit(AUDIT_ARCH_I386, 50)]
    assert verdict(limits, 100, AUDIT_ARCH_I386) == FILTER
    assert verdict(limits, 101, AUDIT_ARCH_I386) == RET_ENOSYS


def test_x86_64_without_x32_leaves_x32_calls_to_the_filter() -> None:
    # The filter's bad-arch handling kills x32 calls when x32 is not in the profile.
    limits = [ArchLimit(AUDIT_ARCH_X86_64, 439)]
    assert verdict(limits, X32_SYSCALL_BIT | 1000, AUDIT_ARCH_X86_64) == FILTER
    assert verdict(limits, 1000, AUDIT_ARCH_X86_64) == RET_ENOSYS


@pytest.mark.parametrize(
    ("nr", "expected"),
    [
        (439, FILTER),
        (440, RET_ENOSYS),
        (X32_SYSCALL_BIT | 100, FILTER),
        (X32_SYSCALL_BIT | 101, RET_ENOSYS),
        (X32_SYSCALL_BIT | 439, RET_ENOSYS),
    ],
)
def test_x86_64_and_x32_share_an_arch_with_two_limits(nr: int, expected: int) -> None:
    limits = [
        ArchLimit(AUDIT_ARCH_X86_64, 439),
        ArchLimit(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 100, x32=True),
    ]
    assert verdict(limits, nr, AUDIT_ARCH_X86_64) == expected


def test_x32_alone_leaves_x86_64_calls_to_the_filter() -> None:
    limits = [ArchLimit(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 100, x32=True)]
    assert verdict(limits, 1000, AUDIT_ARCH_X86_64) == FILTER
    assert verdict(limits, X32_SYSCALL_BIT | 101, AUDIT_ARCH_X86_64) == RET_ENOSYS


def test_x32_on_another_arch_is_refused() -> None:
    with pytest.raises(ValueError, match="x32 is only on x86_64"):
        stub([ArchLimit(AUDIT_ARCH_AARCH64, 100, x32=True)])


@pytest.mark.parametrize("arch", [AUDIT_ARCH_S390, AUDIT_ARCH_S390X])
def test_s390_setup_multiplexer_gets_enosys(arch: int) -> None:
    # An unknown syscall reaches a s390 filter as nr 0, setup(2), unused for decades.
    limits = [ArchLimit(arch, 400)]
    assert verdict(limits, 0, arch) == RET_ENOSYS
    assert verdict(limits, 1, arch) == FILTER
    assert verdict(limits, 401, arch) == RET_ENOSYS


def test_nr_zero_is_a_real_syscall_elsewhere() -> None:
    assert verdict([ArchLimit(AUDIT_ARCH_X86_64, 439)], 0, AUDIT_ARCH_X86_64) == FILTER


def test_every_runc_arch_at_once_fits_the_short_jumps() -> None:
    limits = [ArchLimit(arch, 300 + i) for i, arch in enumerate(ALL_ARCHES)]
    limits.append(ArchLimit(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 200, x32=True))
    program = patch(FAKE_FILTER, limits)
    assert len(program) // bpf.SOCK_FILTER.size < 150
    for i, arch in enumerate(ALL_ARCHES):
        last = 300 + i
        first_allowed = 1 if arch in (AUDIT_ARCH_S390, AUDIT_ARCH_S390X) else 0
        assert bpf.run(program, bpf.seccomp_data(first_allowed, arch)) == FILTER
        assert bpf.run(program, bpf.seccomp_data(last, arch)) == FILTER
        assert bpf.run(program, bpf.seccomp_data(last + 1, arch)) == RET_ENOSYS
    x32_last = X32_SYSCALL_BIT | 200
    assert bpf.run(program, bpf.seccomp_data(x32_last, AUDIT_ARCH_X86_64)) == FILTER
    assert bpf.run(program, bpf.seccomp_data(x32_last + 1, AUDIT_ARCH_X86_64)) == RET_ENOSYS


def test_stub_jumps_only_forward_within_itself() -> None:
    code = stub([ArchLimit(arch, 100) for arch in ALL_ARCHES])
    insns = bpf.decode(code)
    for i, insn in enumerate(insns):
        if insn.code & 0x07 == bpf.JMP:
            targets = [insn.k] if insn.code & 0xF0 == bpf.JA else [insn.jt, insn.jf]
            assert all(i + 1 + t <= len(insns) for t in targets)  # len: the filter's start
    assert insns[-1] == bpf.Insn(bpf.RET | bpf.K, 0, 0, RET_ENOSYS)


def test_stub_is_deterministic() -> None:
    limits = [ArchLimit(AUDIT_ARCH_I386, 5), ArchLimit(AUDIT_ARCH_X86_64, 7)]
    assert stub(limits) == stub(list(reversed(limits)))
