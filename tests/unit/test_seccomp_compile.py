"""compile_filter through the real libseccomp, its programs run on the BPF emulator."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shim import logs
from shim.errors import InvalidConfig, Unsupported
from shim.record_decoder import convert
from shim.seccomp import (
    CompiledFilter,
    bpf,
    compile_filter,
    libseccomp_version,
    names,
    profile_enabled,
)
from shim.seccomp.enosys import AUDIT_ARCH_X86_64, RET_ENOSYS, X32_SYSCALL_BIT
from shim.spec.model import Seccomp
from shim.sys import libseccomp as _libseccomp

NATIVE = _libseccomp.native_arch()  # an AUDIT_ARCH_* value on every arch but x32
AUDIT_ARCH_I386 = 0x40000003
ALLOW, EPERM = names.ACT_ALLOW, names.ACT_ERRNO | errno.EPERM
on_x86_64 = pytest.mark.skipif(NATIVE != AUDIT_ARCH_X86_64, reason="x86_64's compat arches")


def compiled(**profile: object) -> CompiledFilter:
    return compile_filter(convert(profile, Seccomp))


def nr(name: str, arch: int | None = None) -> int:
    number = _libseccomp.resolve_syscall(name, arch)
    assert number is not None
    assert number >= 0
    return number


def verdict(f: CompiledFilter, call: str | int, *args: int, arch: int = NATIVE) -> int:
    number = nr(call, None if arch == NATIVE else arch) if isinstance(call, str) else call
    return bpf.run(f.bpf, bpf.seccomp_data(number, arch, args))


def deny(names_: list[str], action: str = "SCMP_ACT_ERRNO", **rule: object) -> dict[str, object]:
    return {"names": names_, "action": action, **rule}


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("SCMP_ACT_KILL", names.ACT_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", names.ACT_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", names.ACT_KILL_PROCESS),
        ("SCMP_ACT_TRAP", names.ACT_TRAP),
        ("SCMP_ACT_ERRNO", EPERM),
        ("SCMP_ACT_TRACE", names.ACT_TRACE | errno.EPERM),
        ("SCMP_ACT_LOG", names.ACT_LOG),
        ("SCMP_ACT_NOTIFY", names.ACT_NOTIFY),
    ],
)
def test_each_rule_action_is_what_the_program_returns(action: str, value: int) -> None:
    f = compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["mkdir"], action)])
    assert verdict(f, "mkdir") == value
    assert verdict(f, "getpid") == ALLOW


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("SCMP_ACT_ALLOW", ALLOW),
        ("SCMP_ACT_KILL_PROCESS", names.ACT_KILL_PROCESS),
        ("SCMP_ACT_ERRNO", EPERM),
        ("SCMP_ACT_LOG", names.ACT_LOG),
    ],
)
def test_default_action_is_what_unlisted_syscalls_get(action: str, value: int) -> None:
    allow_or_trap = "SCMP_ACT_TRAP" if action == "SCMP_ACT_ALLOW" else "SCMP_ACT_ALLOW"
    f = compiled(defaultAction=action, syscalls=[deny(["mkdir"], allow_or_trap)])
    assert verdict(f, "getpid") == value
    assert verdict(f, "mkdir") == (names.ACT_TRAP if action == "SCMP_ACT_ALLOW" else ALLOW)


def test_errno_ret_and_default_errno_ret() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ERRNO",
        defaultErrnoRet=errno.EACCES,
        syscalls=[
            deny(["mkdir"]),
            deny(["rmdir"], errnoRet=errno.EROFS),
            # faccessat2, 439 everywhere: getppid is below the -ENOSYS stub's limit
            deny(["getpid", "faccessat2"], "SCMP_ACT_ALLOW"),
        ],
    )
    assert verdict(f, "mkdir") == names.ACT_ERRNO | errno.EPERM
    assert verdict(f, "rmdir") == names.ACT_ERRNO | errno.EROFS
    assert verdict(f, "getppid") == names.ACT_ERRNO | errno.EACCES
    assert verdict(f, "getpid") == ALLOW


def test_empty_profile_with_only_a_default_action() -> None:
    f = compiled(defaultAction="SCMP_ACT_ERRNO")
    assert (f.flags, f.notify) == (0, False)
    # No syscall named, no -ENOSYS stub: even unknown numbers get the default.
    for call in ("read", "mkdir", 1000, -1):
        assert verdict(f, call) == EPERM
    f = compiled(defaultAction="SCMP_ACT_ALLOW")
    assert verdict(f, "mkdir") == ALLOW


def test_unknown_syscall_names_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:  # the process logger at debug level, as `--debug --log FILE` sets it up
        monkeypatch.setattr(logs, "_current", logs.Logger(fd, "text", "debug", to_file=True))
        f = compiled(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[deny(["mkdir", "no_such_syscall", "rmdir"])],
        )
    finally:
        os.close(fd)
    assert verdict(f, "mkdir") == EPERM
    assert verdict(f, "rmdir") == EPERM
    assert verdict(f, "getpid") == ALLOW
    assert "unknown seccomp syscall 'no_such_syscall' ignored" in log.read_text()


@pytest.mark.parametrize(
    ("op", "value", "value_two", "arg", "matches"),
    [
        ("SCMP_CMP_EQ", 5, 0, 5, True),
        ("SCMP_CMP_EQ", 5, 0, 6, False),
        ("SCMP_CMP_EQ", 0xFFFFFFFF, 0, 0xFFFFFFFF, True),
        ("SCMP_CMP_EQ", 0xFFFFFFFF, 0, 0x1FFFFFFFF, False),
        ("SCMP_CMP_NE", 5, 0, 5, False),
        ("SCMP_CMP_NE", 5, 0, 4, True),
        ("SCMP_CMP_LT", 5, 0, 4, True),
        ("SCMP_CMP_LT", 5, 0, 5, False),
        ("SCMP_CMP_LE", 5, 0, 5, True),
        ("SCMP_CMP_LE", 5, 0, 6, False),
        ("SCMP_CMP_GT", 5, 0, 6, True),
        ("SCMP_CMP_GT", 5, 0, 5, False),
        ("SCMP_CMP_GE", 5, 0, 5, True),
        ("SCMP_CMP_GE", 5, 0, 4, False),
        ("SCMP_CMP_GT", 5, 0, 0x100000000, True),  # 64-bit compares on a 64-bit arch
        ("SCMP_CMP_MASKED_EQ", 0xF, 3, 0x80003, True),
        ("SCMP_CMP_MASKED_EQ", 0xF, 3, 0x80002, False),
    ],
)
def test_operator_semantics(op: str, value: int, value_two: int, arg: int, matches: bool) -> None:
    if NATIVE & 0x80000000 == 0 and (value | arg) >> 32:
        pytest.skip("64-bit argument values on a 32-bit native arch")
    cond = {"index": 1, "value": value, "valueTwo": value_two, "op": op}
    f = compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["ioctl"], args=[cond])])
    assert verdict(f, "ioctl", 0, arg) == (EPERM if matches else ALLOW)


def test_conditions_on_distinct_args_must_all_hold() -> None:
    args = [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},  # AF_INET
        {"index": 1, "value": 0xF, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},  # SOCK_RAW
    ]
    f = compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["socket"], args=args)])
    assert verdict(f, "socket", 2, 3 | 0o2000000) == EPERM  # SOCK_CLOEXEC does not matter
    assert verdict(f, "socket", 2, 2) == ALLOW
    assert verdict(f, "socket", 10, 3) == ALLOW


def test_conditions_on_the_same_arg_are_alternatives() -> None:
    args = [
        {"index": 0, "value": 17, "op": "SCMP_CMP_EQ"},  # AF_PACKET
        {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},  # AF_NETLINK
    ]
    f = compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["socket"], args=args)])
    assert verdict(f, "socket", 17, 3) == EPERM
    assert verdict(f, "socket", 16, 3) == EPERM
    assert verdict(f, "socket", 2, 3) == ALLOW


def test_rule_with_the_default_action_is_dropped_not_refused() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[deny(["mkdir"], errnoRet=errno.EPERM), deny(["getpid"], "SCMP_ACT_ALLOW")],
    )
    assert verdict(f, "mkdir") == EPERM
    assert verdict(f, "getpid") == ALLOW


def test_flags_and_notify() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    )
    assert (f.flags, f.notify) == (names.FLAG_LOG | names.FLAG_SPEC_ALLOW, False)
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        flags=["SECCOMP_FILTER_FLAG_TSYNC"],
        syscalls=[deny(["mkdir"], "SCMP_ACT_NOTIFY")],
    )
    assert (f.flags, f.notify) == (names.FLAG_NEW_LISTENER, True)
    assert verdict(f, "mkdir") == names.ACT_NOTIFY


def test_native_arch_is_always_there_and_others_are_bad_arches() -> None:
    f = compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["mkdir"])])
    assert verdict(f, "mkdir") == EPERM
    # libseccomp's bad-arch action, left at its default as runc 1.1 does: KILL_THREAD.
    other = 0xC00000B7 if NATIVE != 0xC00000B7 else AUDIT_ARCH_X86_64
    assert verdict(f, 0, arch=other) == names.ACT_KILL_THREAD


@on_x86_64
def test_listed_arches_are_filtered_with_their_own_numbers() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=[deny(["mkdir"])],
    )
    x32 = _libseccomp.arch_token("x32")
    assert verdict(f, "mkdir") == EPERM
    assert verdict(f, nr("mkdir", AUDIT_ARCH_I386), arch=AUDIT_ARCH_I386) == EPERM
    assert verdict(f, nr("getpid", AUDIT_ARCH_I386), arch=AUDIT_ARCH_I386) == ALLOW
    assert verdict(f, nr("mkdir", x32), arch=AUDIT_ARCH_X86_64) == EPERM
    assert nr("mkdir", x32) & X32_SYSCALL_BIT
    # Without SCMP_ARCH_X32, an x32 call is a bad arch.
    f = compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["mkdir"])])
    assert verdict(f, nr("getpid", x32), arch=AUDIT_ARCH_X86_64) == names.ACT_KILL_THREAD


@pytest.mark.skipif(sys.byteorder != "little", reason="needs a big-endian arch to refuse")
def test_arch_libseccomp_cannot_mix_in_is_refused() -> None:
    with pytest.raises(InvalidConfig) as err:
        compiled(defaultAction="SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_S390X"])
    assert str(err.value).startswith("linux.seccomp.architectures[0]: cannot add s390x: ")


def test_enosys_stub_answers_syscalls_newer_than_the_profile() -> None:
    listed = ["read", "write", "mkdir", "getpid"]
    last = max(nr(name) for name in listed)
    f = compiled(defaultAction="SCMP_ACT_ERRNO", syscalls=[deny(listed, "SCMP_ACT_ALLOW")])
    assert verdict(f, "mkdir") == ALLOW
    assert verdict(f, last) == ALLOW
    assert verdict(f, last + 1) == RET_ENOSYS
    assert verdict(f, 5000) == RET_ENOSYS
    unlisted = next(n for n in range(last) if n not in {nr(name) for name in listed})
    assert verdict(f, unlisted) == EPERM


@on_x86_64
def test_enosys_stub_covers_every_listed_arch() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=[deny(["read", "mkdir"], "SCMP_ACT_ALLOW")],
    )
    x32 = _libseccomp.arch_token("x32")
    i386_mkdir, x32_mkdir = nr("mkdir", AUDIT_ARCH_I386), nr("mkdir", x32)
    assert verdict(f, i386_mkdir, arch=AUDIT_ARCH_I386) == ALLOW
    assert verdict(f, i386_mkdir + 1, arch=AUDIT_ARCH_I386) == RET_ENOSYS
    assert verdict(f, x32_mkdir, arch=AUDIT_ARCH_X86_64) == ALLOW
    assert verdict(f, x32_mkdir + 1, arch=AUDIT_ARCH_X86_64) == RET_ENOSYS
    assert verdict(f, nr("mkdir") + 1, arch=AUDIT_ARCH_X86_64) == RET_ENOSYS


@pytest.mark.parametrize(
    "default", ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_ERRNO"]
)
def test_no_enosys_stub_when_the_default_lets_newer_syscalls_through(default: str) -> None:
    f = compiled(
        defaultAction=default,
        defaultErrnoRet=errno.ENOSYS if default == "SCMP_ACT_ERRNO" else None,
        syscalls=[deny(["mkdir"], "SCMP_ACT_KILL_PROCESS")],
    )
    assert bpf.run(f.bpf, bpf.seccomp_data(5000, NATIVE)) & ~0xFFFF != names.ACT_KILL_PROCESS
    assert bpf.decode(f.bpf)[0] == bpf.Insn(bpf.LD | bpf.W | bpf.ABS, 0, 0, 4)  # libseccomp's
    assert len(bpf.disassemble(f.bpf)) < 20


def test_a_filter_longer_than_the_kernel_takes_is_refused() -> None:
    args = [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"} for i in range(bpf.MAX_INSNS + 10)]
    with pytest.raises(InvalidConfig, match=r"instructions, more than the kernel's 4096"):
        compiled(defaultAction="SCMP_ACT_ALLOW", syscalls=[deny(["ioctl"], args=args)])


def test_compiling_twice_gives_the_same_program() -> None:
    profile: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [deny([f"s{i}" for i in range(40)] + ["read", "write"], "SCMP_ACT_ALLOW")],
    }
    first = compiled(**profile)
    assert compiled(**profile) == first
    assert hash(compiled(**profile)) == hash(first)
    assert first.length == len(first.bpf) // 8
    assert repr(first).startswith(f"CompiledFilter(<{first.length} insns>, flags=0x0")


def test_profile_runc_ignores() -> None:
    assert not profile_enabled(Seccomp(default_action=""))
    assert profile_enabled(Seccomp(default_action="SCMP_ACT_ALLOW"))


def test_libseccomp_version() -> None:
    version = libseccomp_version()
    assert [part.isdigit() for part in version.split(".")] == [True] * 3
    assert version >= "2.5"


def test_without_libseccomp_seccomp_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    # A host without libseccomp2, simulated by a library name nothing answers to.
    monkeypatch.setattr(_libseccomp, "SONAME", "libseccomp-missing.so.0")
    try:
        with pytest.raises(Unsupported, match=r"linux\.seccomp: cannot load libseccomp-missing"):
            compiled(defaultAction="SCMP_ACT_ALLOW")
        assert libseccomp_version() == ""
    finally:
        monkeypatch.undo()
    assert libseccomp_version()


def test_compiling_a_filter_uses_no_cffi_parser() -> None:
    # The libseccomp binding is generated at install: only `_cffi_backend` loads, never
    # cffi's C parser (the `cffi` package and pycparser, 60-70 ms).
    code = (
        "import sys\n"
        "from shim.seccomp import compile_filter\n"
        "from shim.spec.model import Seccomp\n"
        "compile_filter(Seccomp(default_action='SCMP_ACT_ALLOW'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('cffi', 'pycparser', '_cffi_backend')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "['_cffi_backend']", out.stderr


def test_importing_the_package_loads_neither_cffi_nor_msgspec() -> None:
    code = (
        "import sys, shim.seccomp as s; s.SUPPORTED_ACTIONS; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('cffi', '_cffi_backend', 'msgspec', 'pycparser') or m.startswith('shim.seccomp.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert out.stdout.strip() == "['shim.seccomp.names']"
