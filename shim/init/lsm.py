"""LSM labels for the helper (AppArmor profile, SELinux process label), with runc's checks.

The helper writes them to its thread's /proc attr files (csrc/lsm.c). A SELinux label on a
host without SELinux is refused here with runc's text; an AppArmor profile on a host
without AppArmor is refused by the kernel when the helper writes it, as with runc.
"""

from __future__ import annotations

import os

from shim.errors import InvalidConfig
from shim.init import protocol as p
from shim.logs import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.init.handshake import TlvWriter
    from shim.spec.model import Process

# Tests only: a directory that stands in for /proc (this host has no LSM to write to); the
# helper then writes the attr files below it, and SELinux counts as enabled.
TEST_ATTR_ROOT_ENV = "SHIM_TEST_PROC_ATTR"


def _test_attr_root() -> str | None:
    root = os.environ.get(TEST_ATTR_ROOT_ENV)
    if root:
        get_logger().warning(f"{TEST_ATTR_ROOT_ENV}: LSM labels go to {root}, not to /proc")
    return root or None


def selinux_enabled() -> bool:
    """Whether SELinux is on (selinuxfs mounted, as go-selinux checks)."""
    if os.environ.get(TEST_ATTR_ROOT_ENV):
        return True
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            return any(" - selinuxfs " in line for line in f)
    except OSError:
        return False


def check_lsm(proc: Process) -> None:
    """runc's validation: a SELinux label needs SELinux."""
    if proc.selinux_label and not selinux_enabled():
        raise InvalidConfig(
            "selinux label is specified in config, but selinux is disabled or not supported"
        )


def lsm_tlvs(w: TlvWriter, proc: Process) -> None:
    """The labels the helper applies before execve (create and exec alike)."""
    if not (proc.apparmor_profile or proc.selinux_label):
        return
    if proc.apparmor_profile:
        w.text(p.T_APPARMOR_PROFILE, proc.apparmor_profile)
    if proc.selinux_label:
        w.text(p.T_SELINUX_LABEL, proc.selinux_label)
    root = _test_attr_root()
    if root is not None:
        w.text(p.T_LSM_ATTR_ROOT, root)
