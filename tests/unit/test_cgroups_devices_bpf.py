"""The v2 device program, run on a small interpreter of the instructions it uses."""

from __future__ import annotations

import pytest

from shim.cgroups.devices import Rule, with_defaults
from shim.cgroups.devices_bpf import INSN, compile_rules, effective_rules

MASK32 = 0xFFFFFFFF


def run(program: bytes, kind: str, major: int, minor: int, access: str) -> bool:
    """Evaluate the program for one request, as the kernel would (allow = True)."""
    acc = sum({"m": 1, "r": 2, "w": 4}[c] for c in access)
    words = [(acc << 16) | (1 if kind == "b" else 2), major, minor]
    regs = [0] * 11
    insns = [INSN.unpack_from(program, i) for i in range(0, len(program), INSN.size)]
    pc, steps = 0, 0
    while True:
        steps += 1
        assert steps < 10_000, "runaway program"
        code, regs_byte, off, imm = insns[pc]
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == 0x61:  # ldx word from the context (r1)
            assert src == 1
            regs[dst] = words[off // 4]
        elif code == 0x54:
            regs[dst] = regs[dst] & imm & MASK32
        elif code == 0x74:
            regs[dst] = (regs[dst] & MASK32) >> imm
        elif code == 0xBC:
            regs[dst] = regs[src] & MASK32
        elif code == 0xB7:
            regs[dst] = imm
        elif code == 0x55:
            pc += off if regs[dst] != imm else 0
        elif code == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif code == 0x95:
            return bool(regs[0])
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


DENY_ALL = Rule(False, "a", -1, -1, "rwm")


def program(*rules: Rule) -> bytes:
    return compile_rules(with_defaults(list(rules)))


@pytest.mark.parametrize(
    ("kind", "major", "minor", "access", "allowed"),
    [
        ("c", 1, 3, "rw", True),  # /dev/null
        ("c", 1, 3, "m", True),
        ("c", 1, 11, "r", False),  # /dev/kmsg
        ("c", 1, 11, "m", True),  # mknod of any char device: c *:* m
        ("b", 8, 0, "r", False),
        ("b", 8, 0, "m", True),
        ("c", 136, 7, "rw", True),  # /dev/pts/7
        ("c", 10, 200, "rw", True),  # /dev/net/tun: in runc 1.1's defaults
        ("c", 10, 229, "rw", False),  # /dev/fuse
    ],
)
def test_deny_all_then_runcs_defaults(
    kind: str, major: int, minor: int, access: str, allowed: bool
) -> None:
    assert run(program(DENY_ALL), kind, major, minor, access) is allowed


def test_a_later_deny_takes_access_away_as_on_v1() -> None:
    prog = program(DENY_ALL, Rule(True, "c", 10, 229, "rwm"), Rule(False, "c", 10, 229, "w"))
    assert run(prog, "c", 10, 229, "r")
    assert not run(prog, "c", 10, 229, "w")
    assert not run(prog, "c", 10, 229, "rw")  # not a subset of the allow left: denied


def test_allow_all_is_a_blacklist() -> None:
    prog = program(Rule(True, "a", -1, -1, "rwm"), Rule(False, "b", 8, -1, "rwm"))
    assert run(prog, "c", 1, 11, "rw")
    assert not run(prog, "b", 8, 1, "r")
    assert run(prog, "b", 9, 1, "r")


def test_a_wildcard_resets_what_came_before() -> None:
    default, kept = effective_rules([Rule(True, "c", 1, 1, "r"), DENY_ALL])
    assert (default, kept) == (False, [])


def test_allows_of_the_same_device_merge() -> None:
    _, kept = effective_rules([DENY_ALL, Rule(True, "c", 1, 1, "r"), Rule(True, "c", 1, 1, "w")])
    assert [(r.allow, r.line()) for r in kept] == [(True, "c 1:1 rw")]


def test_no_rules_at_all_deny_everything() -> None:
    assert not run(compile_rules([]), "c", 1, 3, "r")
