"""validate_process: the checks on `process`, for config.json and `exec --process`."""

from __future__ import annotations

import json

import pytest

from shim.errors import InvalidConfig
from shim.spec import load_process, validate_process
from shim.spec.kernel_names import RLIMITS

Fields = dict[str, object]


def _check(**fields: object) -> None:
    process: Fields = {"args": ["sh"], "cwd": "/"} | fields
    validate_process(load_process(json.dumps(process).encode()))


def _fails(message: str, **fields: object) -> None:
    with pytest.raises(InvalidConfig) as caught:
        _check(**fields)
    assert str(caught.value) == message


def test_a_minimal_process_is_valid() -> None:
    _check()


def test_a_missing_process_is_refused_with_runcs_text() -> None:
    with pytest.raises(InvalidConfig, match=r"^process property must not be empty$"):
        validate_process(None)


def test_cwd_is_required() -> None:
    _fails("Cwd property must not be empty", cwd="")


def test_cwd_must_be_absolute() -> None:
    _fails("Cwd must be an absolute path", cwd="tmp")


def test_args_are_required() -> None:
    _fails("args must not be empty", args=[])


def test_rlimit_type_must_be_known() -> None:
    _fails(
        'process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"',
        rlimits=[{"type": "RLIMIT_FOO", "hard": 1, "soft": 1}],
    )


def test_every_linux_rlimit_is_accepted() -> None:
    _check(rlimits=[{"type": name, "hard": 5, "soft": 5} for name in RLIMITS])


def test_rlimit_types_must_not_repeat() -> None:
    one = {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}
    _fails('process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE"', rlimits=[one, one])


def test_rlimit_soft_must_not_exceed_hard() -> None:
    _fails(
        "process.rlimits[0]: soft limit 2 is above hard limit 1",
        rlimits=[{"type": "RLIMIT_CORE", "hard": 1, "soft": 2}],
    )


def test_rlimit_must_fit_in_64_bits() -> None:
    _fails(
        f"process.rlimits[0].hard: {1 << 64} does not fit in 64 bits",
        rlimits=[{"type": "RLIMIT_CORE", "hard": 1 << 64, "soft": 1}],
    )


def test_rlimit_infinity_is_accepted() -> None:
    infinity = (1 << 64) - 1
    _check(rlimits=[{"type": "RLIMIT_CORE", "hard": infinity, "soft": infinity}])


@pytest.mark.parametrize("kind", ["bounding", "effective", "inheritable", "permitted", "ambient"])
def test_capability_names_must_be_known_in_every_set(kind: str) -> None:
    _fails(
        f'process.capabilities.{kind}: unknown capability "CAP_FOO"',
        capabilities={kind: ["CAP_KILL", "CAP_FOO"]},
    )


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"policy": ""}, "scheduler policy is required"),
        ({"policy": "SCHED_FOO"}, 'process.scheduler.policy: unknown policy "SCHED_FOO"'),
        ({"policy": "SCHED_OTHER", "nice": 20}, "invalid scheduler.nice: 20"),
        (
            {"policy": "SCHED_OTHER", "priority": 1},
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy",
        ),
        (
            {"policy": "SCHED_RR", "runtime": 1},
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy",
        ),
    ],
)
def test_scheduler_rules_follow_sched_setattr(scheduler: Fields, message: str) -> None:
    _fails(message, scheduler=scheduler)


def test_a_realtime_scheduler_with_priority_is_valid() -> None:
    _check(scheduler={"policy": "SCHED_FIFO", "priority": 50, "nice": -20})
    _check(scheduler={"policy": "SCHED_DEADLINE", "runtime": 1, "deadline": 2, "period": 3})
