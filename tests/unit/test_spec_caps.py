"""Capability names and masks."""

from __future__ import annotations

import pytest

from shim.errors import InvalidConfig
from shim.spec.caps import CAP_LAST, CAP_NAMES, CAPS, cap_mask


def test_caps_cover_all_41_linux_capabilities_in_kernel_order() -> None:
    assert len(CAP_NAMES) == 41
    assert CAPS["CAP_CHOWN"] == 0
    assert CAPS["CAP_SYS_ADMIN"] == 21
    assert CAPS["CAP_AUDIT_READ"] == 37
    assert CAPS["CAP_CHECKPOINT_RESTORE"] == CAP_LAST == 40


def test_caps_match_the_running_kernel_when_it_says() -> None:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as file:
            last = int(file.read())
    except OSError:
        pytest.skip("no /proc/sys/kernel/cap_last_cap to compare with")
    assert last <= CAP_LAST  # a newer kernel would need new names here


def test_cap_mask_sets_one_bit_per_name() -> None:
    assert cap_mask([]) == 0
    assert cap_mask(["CAP_CHOWN", "CAP_KILL"]) == 0b100001
    assert cap_mask(CAP_NAMES) == (1 << 41) - 1
    assert cap_mask(["CAP_KILL", "CAP_KILL"]) == 1 << 5


def test_cap_mask_rejects_an_unknown_name() -> None:
    with pytest.raises(InvalidConfig, match='unknown capability "CAP_FOO"'):
        cap_mask(["CAP_KILL", "CAP_FOO"])
