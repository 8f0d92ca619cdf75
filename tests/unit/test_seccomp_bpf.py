"""The classic BPF codec and emulator (shim.seccomp.bpf) the seccomp tests rely on."""

from __future__ import annotations

import pytest

from shim.seccomp import bpf

RET_ALLOW = bpf.Insn(bpf.RET | bpf.K, 0, 0, 0x7FFF0000)
LD_NR = bpf.Insn(bpf.LD | bpf.W | bpf.ABS, 0, 0, 0)


def test_sock_filter_is_eight_bytes() -> None:
    assert bpf.SOCK_FILTER.size == 8
    assert bpf.SECCOMP_DATA.size == 64


def test_encode_decode_round_trip() -> None:
    program = [LD_NR, bpf.Insn(bpf.JMP | bpf.JEQ, 1, 0, 39), RET_ALLOW, RET_ALLOW]
    assert bpf.decode(bpf.encode(program)) == program


@pytest.mark.parametrize("size", [1, 7, 9, 15])
def test_decode_refuses_partial_instructions(size: int) -> None:
    with pytest.raises(ValueError, match="not a whole instruction"):
        bpf.decode(b"\0" * size)


def test_seccomp_data_layout() -> None:
    data = bpf.seccomp_data(39, 0xC000003E, [1, -1], ip=0x1000)
    assert bpf.SECCOMP_DATA.unpack(data) == (39, 0xC000003E, 0x1000, 1, 2**64 - 1, 0, 0, 0, 0)


def test_run_follows_jumps_and_returns() -> None:
    program = [
        LD_NR,
        bpf.Insn(bpf.JMP | bpf.JEQ, 0, 1, 39),  # nr == 39?
        bpf.Insn(bpf.RET | bpf.K, 0, 0, 0x00050001),
        bpf.Insn(bpf.LD | bpf.W | bpf.ABS, 0, 0, 16),  # args[0], low word
        bpf.Insn(bpf.ALU | 0x50, 0, 0, 0xF),  # &= 0xf
        bpf.Insn(bpf.JMP | bpf.JSET, 1, 0, 0x8),
        RET_ALLOW,
        bpf.Insn(bpf.RET | bpf.K, 0, 0, 0),
    ]
    assert bpf.run(program, bpf.seccomp_data(39, 0)) == 0x00050001
    assert bpf.run(program, bpf.seccomp_data(1, 0, [0x17])) == 0x7FFF0000
    assert bpf.run(program, bpf.seccomp_data(1, 0, [0x18])) == 0
    assert bpf.run(bpf.encode(program), bpf.seccomp_data(39, 0)) == 0x00050001


def test_run_scratch_memory_index_register_and_ret_a() -> None:
    program = [
        bpf.Insn(bpf.LD | bpf.IMM, 0, 0, 5),
        bpf.Insn(bpf.ST, 0, 0, 3),
        bpf.Insn(bpf.LDX | bpf.MEM, 0, 0, 3),
        bpf.Insn(bpf.ALU | 0x00 | bpf.X, 0, 0, 0),  # A += X
        bpf.Insn(bpf.MISC | 0x00, 0, 0, 0),  # TAX
        bpf.Insn(bpf.JMP | bpf.JGE | bpf.X, 1, 0, 0),  # A >= X
        bpf.Insn(bpf.RET | bpf.K, 0, 0, 0),
        bpf.Insn(bpf.RET | bpf.RET_A, 0, 0, 0),
    ]
    assert bpf.run(program, bpf.seccomp_data(0, 0)) == 10


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ([], "0 instructions"),
        ([LD_NR], "ran past its end"),
        ([bpf.Insn(bpf.LD | bpf.W | bpf.ABS, 0, 0, 64), RET_ALLOW], "not allowed"),
        ([bpf.Insn(bpf.LD | bpf.W | bpf.ABS, 0, 0, 2), RET_ALLOW], "not allowed"),
        ([bpf.Insn(bpf.LD | 0x10 | bpf.ABS, 0, 0, 0), RET_ALLOW], "not allowed"),  # byte load
        ([bpf.Insn(0x07 | 0x40, 0, 0, 0), RET_ALLOW], "opcode"),
        ([RET_ALLOW] * (bpf.MAX_INSNS + 1), "4097 instructions"),
    ],
)
def test_run_refuses_what_the_kernel_refuses(program: list[bpf.Insn], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bpf.run(program, bpf.seccomp_data(0, 0))


def test_disassemble_names_the_common_instructions() -> None:
    program = bpf.encode(
        [
            LD_NR,
            bpf.Insn(bpf.JMP | bpf.JEQ, 1, 0, 0x27),
            bpf.Insn(bpf.JMP | bpf.JA, 0, 0, 1),
            bpf.Insn(bpf.ALU | 0x50, 0, 0, 0xF),
            RET_ALLOW,
        ]
    )
    assert bpf.disassemble(program) == [
        "0: ld [0]",
        "1: jeq 0x27 jt=3 jf=2",
        "2: ja 4",
        "3: and 0xf",
        "4: ret 0x7fff0000",
    ]
