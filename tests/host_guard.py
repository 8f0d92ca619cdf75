"""The host-integrity guard (issue 16): what no test, conformance run or bench may change
on the host, compared before and after, and a loud failure when it changed.

A run of the OCI validation suite once deleted a host's /etc through a container (the
root-switch bug of issue 16). Checked, from the host's mount namespace:

- the mount table entries for "/" (a stack of `/` binds, or one gone, shows here);
- owner, group, mode and device number of /dev/null and /dev/full (crun chowned
  /dev/null in the user-namespace tests);
- canary files: /etc/passwd, /etc/hostname, and one the guard creates under "/" with a
  unique name and content (removed again at the end, if it is still ours).

Library: `with HostGuard("what") as guard:` then `before = guard.snapshot()` ...
`guard.check(before)` (HostChanged lists every change). tests/conftest.py checks every
test module; bench and conformance/run.sh run under the command line form:

    python -m tests.host_guard [--] CMD [ARGS...]

which runs CMD and exits with its status, or with CHANGED_EXIT (after a banner on
stderr) if the host changed. Standard library only: conformance/run.sh may run it with
the system Python.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
from types import TracebackType

CHANGED_EXIT = 99
DEVICES = ("/dev/null", "/dev/full")
CANARIES = ("/etc/passwd", "/etc/hostname")


class HostChanged(AssertionError):
    """The host differs from the snapshot; the message lists every difference."""


class Snapshot:
    __slots__ = ("canaries", "devices", "root_mounts")

    def __init__(
        self,
        root_mounts: list[str],
        devices: dict[str, str],
        canaries: dict[str, str],
    ) -> None:
        self.root_mounts = root_mounts
        self.devices = devices
        self.canaries = canaries

    def changes(self, after: Snapshot) -> list[str]:
        found = []
        if after.root_mounts != self.root_mounts:
            found.append(
                "mount table entries for / changed:\n  before: "
                + "\n          ".join(self.root_mounts)
                + "\n  after:  "
                + "\n          ".join(after.root_mounts)
            )
        for name, was in {**self.devices, **self.canaries}.items():
            now = after.devices.get(name, after.canaries.get(name, "missing"))
            if now != was:
                found.append(f"{name}: was {was}, now {now}")
        return found


def _root_mounts() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.strip() for line in f if line.split()[4] == "/"]


def _device(path: str) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    kind = "char" if stat.S_ISCHR(st.st_mode) else stat.filemode(st.st_mode)[0]
    rdev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    return f"{kind} {rdev} owner {st.st_uid}:{st.st_gid} mode {stat.S_IMODE(st.st_mode):o}"


def _present(path: str) -> str:
    return "present" if os.path.isfile(path) else "missing"


class HostGuard:
    """Creates the canary on enter, removes it on exit; takes and compares snapshots."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.canary = f"/.shim-host-guard-{os.getpid()}-{secrets.token_hex(4)}"
        self._token = f"{who} {secrets.token_hex(16)}\n"
        self._made = False

    def __enter__(self) -> HostGuard:
        try:
            fd = os.open(self.canary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except PermissionError:
            return self  # not root: the other checks still run
        with os.fdopen(fd, "w") as f:
            f.write(self._token)
        self._made = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._made and self._canary_state() == "present, ours":
            os.unlink(self.canary)

    def _canary_state(self) -> str:
        try:
            with open(self.canary, encoding="utf-8") as f:
                return "present, ours" if f.read() == self._token else "present, other content"
        except FileNotFoundError:
            return "missing"

    def snapshot(self) -> Snapshot:
        canaries = {path: _present(path) for path in CANARIES}
        if self._made:
            canaries[self.canary] = self._canary_state()
        return Snapshot(_root_mounts(), {path: _device(path) for path in DEVICES}, canaries)

    def check(self, before: Snapshot) -> None:
        """Raise HostChanged listing what differs from `before`."""
        changes = before.changes(self.snapshot())
        if changes:
            raise HostChanged(
                f"HOST INTEGRITY: {self.who} changed the host:\n" + "\n".join(changes)
            )


def _run(argv: list[str]) -> int:
    """CMD's exit status (128+N if killed by signal N). TERM and HUP are passed on to it
    and the guard waits, so the check still runs; a terminal's INT reaches CMD itself."""
    child = subprocess.Popen(argv)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = child.wait()
    return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.host_guard [--] CMD [ARGS...]", file=sys.stderr)
        return 2
    status = 130  # interrupted, unless CMD returns
    with HostGuard(" ".join(argv)) as guard:
        before = guard.snapshot()
        try:
            status = _run(argv)
        finally:
            try:
                guard.check(before)
            except HostChanged as err:
                print(f"\n{'!' * 78}\n{err}\n{'!' * 78}", file=sys.stderr)
                status = CHANGED_EXIT
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
