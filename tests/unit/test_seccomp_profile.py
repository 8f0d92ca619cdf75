"""linux.seccomp read as runc 1.1 reads it (shim.seccomp.profile): pure, no libseccomp."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from shim.errors import InvalidConfig
from shim.record_decoder import convert
from shim.seccomp import names
from shim.seccomp.profile import Condition, Plan, Rule, translate
from shim.spec.model import Seccomp


def plan(**profile: object) -> Plan:
    return translate(convert(profile, Seccomp))


def rule_actions(p: Plan) -> list[tuple[str, int]]:
    return [(r.syscall, r.action) for r in p.rules]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCMP_ACT_KILL", 0x00000000),
        ("SCMP_ACT_KILL_THREAD", 0x00000000),
        ("SCMP_ACT_KILL_PROCESS", 0x80000000),
        ("SCMP_ACT_TRAP", 0x00030000),
        ("SCMP_ACT_ERRNO", 0x00050000 | errno.EPERM),
        ("SCMP_ACT_TRACE", 0x7FF00000 | errno.EPERM),
        ("SCMP_ACT_ALLOW", 0x7FFF0000),
        ("SCMP_ACT_LOG", 0x7FFC0000),
        ("SCMP_ACT_NOTIFY", 0x7FC00000),
    ],
)
def test_each_action_is_libseccomps_value(name: str, value: int) -> None:
    default = "SCMP_ACT_LOG" if name == "SCMP_ACT_ALLOW" else "SCMP_ACT_ALLOW"
    p = plan(defaultAction=default, syscalls=[{"names": ["mkdir"], "action": name}])
    assert rule_actions(p) == [("mkdir", value)]
    if name != "SCMP_ACT_NOTIFY":
        assert plan(defaultAction=name).default_action == value


def test_every_supported_action_is_accepted() -> None:
    assert set(names.SUPPORTED_ACTIONS) == set(names.ACTIONS)
    assert list(names.SUPPORTED_ACTIONS) == sorted(names.SUPPORTED_ACTIONS)


def test_errno_ret_sets_the_errno_and_trace_message() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
            {"names": ["rmdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 4242},
            {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
        ],
    )
    assert rule_actions(p) == [
        ("mkdir", names.ACT_ERRNO | errno.EROFS),
        ("rmdir", names.ACT_TRACE | 4242),
        ("chdir", names.ACT_ERRNO),
    ]


def test_errno_ret_is_ignored_by_actions_without_data() -> None:
    p = plan(
        defaultAction="SCMP_ACT_KILL_PROCESS",
        defaultErrnoRet=5,
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}],
    )
    assert p.default_action == names.ACT_KILL_PROCESS
    assert rule_actions(p) == [("mkdir", names.ACT_ALLOW)]


def test_default_errno_ret_applies_to_the_default_action_only() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ERRNO",
        defaultErrnoRet=errno.ENOSYS,
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    )
    assert p.default_action == names.ACT_ERRNO | errno.ENOSYS
    assert rule_actions(p) == [("mkdir", names.ACT_ERRNO | errno.EPERM)]
    assert plan(defaultAction="SCMP_ACT_TRACE", defaultErrnoRet=7).default_action == (
        names.ACT_TRACE | 7
    )


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096},
            "linux.seccomp.defaultErrnoRet: 4096 is out of range for SCMP_ACT_ERRNO (0-4095)",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["a"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}],
            },
            "linux.seccomp.syscalls[0].errnoRet: 65536 is out of range for SCMP_ACT_TRACE "
            "(0-65535)",
        ),
    ],
)
def test_errno_ret_out_of_range_is_refused(profile: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfig) as err:
        plan(**profile)
    assert str(err.value) == message


def test_rule_with_the_default_action_is_dropped() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
            {"names": ["chdir"], "action": "SCMP_ACT_ALLOW"},
        ],
    )
    assert rule_actions(p) == [
        ("rmdir", names.ACT_ERRNO | errno.EROFS),
        ("chdir", names.ACT_ALLOW),
    ]
    # Dropped rules still count for the -ENOSYS stub, as in runc.
    assert p.syscalls == ("mkdir", "rmdir", "chdir")


def test_kill_and_kill_thread_are_the_same_action() -> None:
    p = plan(
        defaultAction="SCMP_ACT_KILL",
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_KILL_THREAD"}],
    )
    assert p.rules == ()


def test_empty_profile_with_only_a_default_action() -> None:
    p = plan(defaultAction="SCMP_ACT_ERRNO")
    assert p == Plan(
        default_action=names.ACT_ERRNO | errno.EPERM,
        arches=(),
        flags=0,
        notify=False,
        rules=(),
        syscalls=(),
        enosys_stub=True,
        optimize=False,
    )


def test_a_rule_per_name_in_order() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": [], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["no_such_syscall"], "action": "SCMP_ACT_TRAP"},
        ],
    )
    assert p.rules == (
        Rule("linux.seccomp.syscalls[0]", "mkdir", names.ACT_KILL_PROCESS, ()),
        Rule("linux.seccomp.syscalls[0]", "rmdir", names.ACT_KILL_PROCESS, ()),
        # Unknown syscalls are the compiler's business: it skips them.
        Rule("linux.seccomp.syscalls[2]", "no_such_syscall", names.ACT_TRAP, ()),
    )


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("SCMP_CMP_NE", 1),
        ("SCMP_CMP_LT", 2),
        ("SCMP_CMP_LE", 3),
        ("SCMP_CMP_EQ", 4),
        ("SCMP_CMP_GE", 5),
        ("SCMP_CMP_GT", 6),
        ("SCMP_CMP_MASKED_EQ", 7),
    ],
)
def test_each_operator_is_libseccomps_scmp_compare(op: str, value: int) -> None:
    arg = {"index": 2, "value": 0xFF, "valueTwo": 0x10, "op": op}
    p = plan(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [arg]}],
    )
    assert p.rules[0].conditions == (Condition(2, value, 0xFF, 0x10),)
    assert op in names.SUPPORTED_OPERATORS


def test_args_on_distinct_indexes_make_one_rule() -> None:
    args = [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 0xF, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
    ]
    p = plan(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": args}],
    )
    assert [r.conditions for r in p.rules] == [(Condition(0, 4, 2, 0), Condition(1, 7, 0xF, 3))]


def test_args_sharing_an_index_make_a_rule_each() -> None:
    args = [
        {"index": 0, "value": 17, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
    ]
    p = plan(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[{"names": ["socket", "bind"], "action": "SCMP_ACT_ERRNO", "args": args}],
    )
    each = [(Condition(0, 4, 17, 0),), (Condition(1, 4, 3, 0),), (Condition(0, 4, 16, 0),)]
    assert [(r.syscall, r.conditions) for r in p.rules] == [
        *(("socket", c) for c in each),
        *(("bind", c) for c in each),
    ]


def test_arches_map_to_libseccomp_names() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    )
    assert p.arches == ("x86_64", "x86", "x32")


def test_supported_arches_are_runc_1_1s() -> None:
    assert len(names.SUPPORTED_ARCHES) == 17
    assert list(names.SUPPORTED_ARCHES) == sorted(names.SUPPORTED_ARCHES)
    assert "SCMP_ARCH_RISCV64" in names.SUPPORTED_ARCHES


@pytest.mark.parametrize(
    ("flags", "bits"),
    [
        ([], 0),
        (["SECCOMP_FILTER_FLAG_LOG"], 2),
        (["SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 4),
        (["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 6),
        # runc accepts TSYNC and drops it: one thread loads the filter, and TSYNC with
        # NEW_LISTENER is EINVAL.
        (["SECCOMP_FILTER_FLAG_TSYNC"], 0),
    ],
)
def test_flags_are_seccomp_filter_flag_bits(flags: list[str], bits: int) -> None:
    assert plan(defaultAction="SCMP_ACT_ERRNO", flags=flags).flags == bits


def test_notify_adds_new_listener() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ALLOW",
        flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
        listenerPath="/run/agent.sock",
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    )
    assert p.notify
    assert p.flags == names.FLAG_LOG | names.FLAG_NEW_LISTENER


def test_notify_without_a_name_asks_for_no_listener() -> None:
    p = plan(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": [], "action": "SCMP_ACT_NOTIFY"}])
    assert not p.notify
    assert p.flags == 0


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO"}] * 3
                + [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}],
            },
            'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"',
        ),
        (
            {"defaultAction": "SCMP_ACT_DENY"},
            'linux.seccomp.defaultAction: unknown action "SCMP_ACT_DENY"',
        ),
        (
            {"defaultAction": ""},
            'linux.seccomp.defaultAction: unknown action ""',
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86", "x86_64"]},
            'linux.seccomp.architectures[1]: unknown architecture "x86_64"',
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]},
            'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_BOGUS"',
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["a"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [
                            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                            {"index": 1, "value": 1, "op": "SCMP_CMP_EQUAL"},
                        ],
                    }
                ],
            },
            'linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_EQUAL"',
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["a"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0-5)",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}],
            },
            "linux.seccomp.syscalls[0].names[1]: empty string is not a valid syscall",
        ),
        (
            {"defaultAction": "SCMP_ACT_NOTIFY"},
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}],
            },
            "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
    ],
)
def test_bad_profile_is_refused_naming_the_field(profile: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfig) as err:
        plan(**profile)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("default", "errno_ret", "stub"),
    [
        ("SCMP_ACT_ERRNO", None, True),
        ("SCMP_ACT_ERRNO", errno.EACCES, True),
        ("SCMP_ACT_ERRNO", errno.ENOSYS, False),  # the default already says ENOSYS
        ("SCMP_ACT_KILL", None, True),
        ("SCMP_ACT_KILL_PROCESS", None, True),
        ("SCMP_ACT_TRAP", None, True),
        ("SCMP_ACT_ALLOW", None, False),  # permissive: the kernel answers ENOSYS itself
        ("SCMP_ACT_LOG", None, False),
        ("SCMP_ACT_TRACE", None, False),  # a tracer handles ENOSYS on its own
        ("SCMP_ACT_TRACE", errno.ENOSYS, False),
    ],
)
def test_enosys_stub_only_for_a_denying_default(
    default: str, errno_ret: int | None, stub: bool
) -> None:
    assert plan(defaultAction=default, defaultErrnoRet=errno_ret).enosys_stub is stub


def test_many_syscalls_turn_on_the_binary_tree() -> None:
    def names_(n: int) -> list[dict[str, Any]]:
        return [{"names": [f"s{i}" for i in range(n)], "action": "SCMP_ACT_ALLOW"}]

    assert not plan(defaultAction="SCMP_ACT_ERRNO", syscalls=names_(32)).optimize
    assert plan(defaultAction="SCMP_ACT_ERRNO", syscalls=names_(33)).optimize
