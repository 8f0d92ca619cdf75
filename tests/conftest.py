"""Shared fixtures: the shim command, busybox bundles, a private --root, and leak checks.

Every container a test makes lives under its own --root; teardown runs
`delete --force` on whatever is left and then asserts nothing leaked: no state
dir, no cgroup directory, no live container process, no mount under the bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.host_guard import HostChanged, HostGuard

SHIM = str(Path(sys.executable).with_name("shim"))
BUSYBOX = "/bin/busybox"
TIMEOUT = 30
# A containerd-shim zygote a test starts (shim/shimv2/zygote.py, a host-wide fork server)
# leaves 10 s after its last daemon instead of 5 min: the suite leaves no process behind,
# and the v2-only pass's zygote is unreachable once that pass's mount namespace is gone.
os.environ.setdefault("SHIM_ZYGOTE_IDLE", "10")


def is_root() -> bool:
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not is_root(), reason="needs root: namespaces, mounts and cgroups")
needs_busybox = pytest.mark.skipif(
    not os.path.exists(BUSYBOX), reason="needs busybox-static (/bin/busybox)"
)


class Result:
    def __init__(self, code: int, out: bytes, err: bytes) -> None:
        self.code = code
        self.out = out.decode(errors="replace")
        self.err = err.decode(errors="replace")

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class Shim:
    """Runs the `shim` command with a private --root; remembers what to clean up."""

    def __init__(self, root: Path, binary: str = SHIM, prefix: Sequence[str] = ()) -> None:
        self.root = root
        self.binary = binary
        self.prefix = list(prefix)  # e.g. nsenter into another mount namespace
        self.ids: set[str] = set()  # every id create/run was asked for, for the leak check

    def argv(self, *args: str) -> list[str]:
        return [*self.prefix, self.binary, "--root", str(self.root), *args]

    def __call__(
        self,
        *args: str,
        timeout: float = TIMEOUT,
        input: bytes | None = None,
        pass_fds: tuple[int, ...] = (),
        cwd: str | None = None,
    ) -> Result:
        if args and args[0] in ("create", "run"):
            self.ids.add(args[-1])
        # Files, not pipes: a container started by create/run -d inherits our stdio and
        # would hold a pipe open until it exits (runc behaves the same).
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                self.argv(*args),
                stdout=out,
                stderr=err,
                timeout=timeout,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                check=False,
                pass_fds=pass_fds,
                cwd=cwd,
            )
            out.seek(0)
            err.seek(0)
            return Result(proc.returncode, out.read(), err.read())

    def ok(self, *args: str, timeout: float = TIMEOUT) -> Result:
        res = self(*args, timeout=timeout)
        assert res.code == 0, res
        return res

    def state(self, cid: str) -> dict[str, object]:
        res = self.ok("state", cid)
        data = json.loads(res.out)
        assert isinstance(data, dict)
        return data


@pytest.fixture(scope="session")
def host_guard() -> Iterator[HostGuard]:
    """The host-integrity guard of the whole session (tests/host_guard.py)."""
    with HostGuard("the test suite") as guard:
        yield guard


@pytest.fixture(scope="module", autouse=True)
def host_integrity(request: pytest.FixtureRequest, host_guard: HostGuard) -> Iterator[None]:
    """Before and after every test module: the host's "/" mounts, /dev/null and /dev/full,
    the canary files. A change stops the whole run: the host is damaged, and every later
    result would be suspect."""
    before = host_guard.snapshot()
    yield
    host_guard.who = f"test module {request.module.__name__}"
    try:
        host_guard.check(before)
    except HostChanged as err:
        pytest.exit(f"\n{'!' * 78}\n{err}\n{'!' * 78}", returncode=3)


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.path.exists(BUSYBOX):
        pytest.skip("needs busybox-static (/bin/busybox)")
    from shim.spec import busybox_bundle

    bundle = tmp_path_factory.mktemp("template")
    busybox_bundle(str(bundle))
    return bundle


class BundleFactory(Protocol):
    def __call__(
        self,
        args: list[str] | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
        name: str = "bundle",
    ) -> Path: ...


@pytest.fixture
def make_bundle(tmp_path: Path, rootfs_template: Path) -> BundleFactory:
    """make_bundle(args, edit=None, name="bundle"): a fresh copy of the busybox bundle.

    `edit(config)` may change the config dict in place before it is written.
    """

    def make(
        args: list[str] | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
        name: str = "bundle",
    ) -> Path:
        bundle = tmp_path / name
        shutil.copytree(rootfs_template, bundle, symlinks=True)
        config = json.loads((bundle / "config.json").read_text())
        if args is not None:
            config["process"]["args"] = args
        if edit is not None:
            edit(config)
        (bundle / "config.json").write_text(json.dumps(config))
        return bundle

    return make


def _own_cgroups() -> dict[str, str]:
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        for ctrl in ctrls.split(",") if ctrls else [""]:
            own[ctrl] = path
    return own


def leaked_cgroups(cid: str) -> list[str]:
    """Default cgroup dirs of container `cid` (<own cgroup>/<id>) that still exist."""
    if cid in ("", ".", "..") or "/" in cid:
        return []  # not a valid id: nothing can have been made for it
    found = []
    own = _own_cgroups()
    for mount in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = mount.split()
        sep = fields.index("-")
        if fields[sep + 1] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4]
        opts = fields[sep + 3].split(",")
        key = (
            ""
            if fields[sep + 1] == "cgroup2"
            else next(
                (o for o in opts if o in own), next((o for o in opts if o.startswith("name=")), "")
            )
        )
        base = own.get(key, "/")
        candidate = Path(point + base.rstrip("/")) / cid
        if candidate.exists():
            found.append(str(candidate))
    return found


def leaked_mounts(path: Path) -> list[str]:
    prefix = str(path)
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]


def _delete_all_and_check(s: Shim, what: str) -> None:
    """Teardown of a runtime's private root: `delete --force` whatever is left, then
    assert no state dir and no cgroup of any id it was asked to create remains."""
    root = s.root
    ids = sorted(p.name for p in root.iterdir()) if root.exists() else []
    for cid in ids:
        subprocess.run(
            s.argv("delete", "--force", cid), capture_output=True, timeout=TIMEOUT, check=False
        )
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert left == [], f"{what} state dirs left behind: {left}"
    cgroups = [c for cid in sorted(s.ids | set(ids)) for c in leaked_cgroups(cid)]
    assert cgroups == [], f"{what} cgroups left behind: {cgroups}"


def checked_shim(tmp_path: Path, prefix: Sequence[str] = ()) -> Iterator[Shim]:
    """The `shim` fixture's body: a Shim on a private root, then the leak checks."""
    s = Shim(tmp_path / "state", prefix=prefix)
    yield s
    _delete_all_and_check(s, "shim")
    mounts = leaked_mounts(tmp_path)
    assert mounts == [], f"mounts left behind: {mounts}"


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[Shim]:
    """A Shim on a private root; teardown deletes every container and checks for leaks."""
    yield from checked_shim(tmp_path)


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Shim]:
    """runc 1.1 on its own private root, for side-by-side checks; same teardown as `shim`."""
    binary = shutil.which("runc")
    if binary is None:
        pytest.skip("runc is not installed: nothing to compare with")
    r = Shim(tmp_path / "runc-state", binary=binary)
    yield r
    _delete_all_and_check(r, "runc")


@pytest.fixture
def rid(cid: str) -> str:
    """runc's container id: as long as `cid`, and its own default cgroup."""
    return "r" + cid[1:]


@pytest.fixture
def cid() -> str:
    """A container id unique to the test (cgroup dirs are named after it)."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both backends (STYLE: anyio, asyncio and trio)."""
    return str(request.param)


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture
def no_fd_leak() -> Iterator[None]:
    """Fails the test if it leaves an fd of this process open."""
    before = open_fds()
    yield
    assert open_fds() - before == set(), "fds left open"
