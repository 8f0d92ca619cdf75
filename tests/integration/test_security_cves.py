"""runc's CVEs replayed against shim: each test is the attack a hostile image (or a process
already in the container) tried, with a comment naming the CVE and the rule it checks
(spec/init-handshake.md §5 "Lessons").

Nothing here needs an LSM, so none can hide a regression. Seccomp is not integrated
yet: its attacks live elsewhere. Every attack that aims at the host is bounded and
checked from the host: a sentinel directory stays empty, no mount lands outside the
rootfs, host files (`core_pattern`, the helper binary, the domain name) keep their
content, and whatever a vulnerable run changed on the host is put back in `finally`.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shim.init.spawn import HELPER_PATH
from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Result,
    Shim,
    checked_shim,
    needs_busybox,
    needs_root,
)
from tests.integration._console import ConsoleListener, read_to_close
from tests.integration._runc_compare import assert_fails, pid_of, pid_only_procfs, status
from tests.integration._stacked_root import StackedRoot, assert_exec_lands_in_container

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

Edit = Callable[[dict[str, Any]], None]
HOST_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")
DOMAINNAME = Path("/proc/sys/kernel/domainname")
O_PATH_FLAG = 0o10000000  # O_PATH as /proc/<pid>/fdinfo prints it (octal)
PTY_MAJOR = 136
DEFAULT_CAPS = 1 << 5 | 1 << 10 | 1 << 29  # KILL, NET_BIND_SERVICE, AUDIT_WRITE (runc spec)
CAP_NET_RAW = 1 << 13
DISK_GID = 6  # a supplementary group the runtime's caller may hold; never the container's


# -- helpers ---------------------------------------------------------------------------------


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _ns_pid(host_pid: int) -> int:
    """The pid of `host_pid` in its own (the container's) pid namespace."""
    for line in Path(f"/proc/{host_pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError(f"no NSpid line for {host_pid}")


def _caps(status_text: str) -> dict[str, int]:
    """{"CapInh": ..., "CapPrm": ...} from a /proc/<pid>/status text."""
    return {
        key: int(value, 16)
        for key, _, value in (line.partition(":\t") for line in status_text.splitlines())
        if key.startswith("Cap")
    }


def _mount_points(mountinfo: str) -> list[str]:
    return [line.split()[4] for line in mountinfo.splitlines() if line.strip()]


def _fstype_at(mountinfo: str, point: str) -> list[str]:
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == point:
            found.append(fields[fields.index("-") + 1])
    return found


def _hook(tmp_path: Path, name: str, body: str) -> dict[str, Any]:
    """A host-side /bin/sh hook entry running `body` (createContainer: before the root switch)."""
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/sh\nset -e\n{body}\n")
    script.chmod(0o755)
    return {"path": str(script), "args": [str(script)], "env": [HOST_PATH], "timeout": 10}


def _without_dev_tmpfs(c: dict[str, Any]) -> None:
    """The rootfs's own /dev is used: whatever the image put there is what the runtime meets."""
    c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/dev"]


def _run(shim: Shim, bundle: Path, cid: str) -> Result:
    return shim("run", "--bundle", str(bundle), cid)


def _exit_codes(out: str) -> dict[str, str]:
    """`name=$?` lines of a probe script: "refused" for any failure, "succeeded" for 0."""
    pairs = (line.split("=", 1) for line in out.splitlines())
    return {name: "succeeded" if code == "0" else "refused" for name, code in pairs}


def _tree(top: Path) -> set[str]:
    """Every path below `top`, relative to it (symlinks not followed)."""
    return {
        os.path.relpath(os.path.join(d, e), top)
        for d, dirs, files in os.walk(top)
        for e in dirs + files
    }


def _listing(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def _spawn_with_fds(argv: list[str], fds: dict[int, int]) -> Result:
    """Run argv with fds[n] dup'ed onto n in the child (n >= 3). Output goes to files: a
    detached process would hold pipes open (see conftest.Shim)."""
    high = {n: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for n, fd in fds.items()}

    def place() -> None:
        for n, fd in high.items():
            os.dup2(fd, n)

    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=tuple(high),
                preexec_fn=place,
                timeout=TIMEOUT,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            return Result(proc.returncode, out.read(), err.read())
    finally:
        for fd in high.values():
            os.close(fd)


@pytest.fixture
def shim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shim]:
    """conftest's `shim`; with the param "stacked-root", one whose commands run where "/"
    has copies of itself stacked on it (issue 16). There a vulnerable runtime's `exec`
    starts on the host's root, and probes of /proc/1 or the root would read the host's,
    so the exec-based tests below run in both places and first check where exec lands."""
    if getattr(request, "param", "host-root") == "stacked-root":
        with StackedRoot() as stacked:
            yield from checked_shim(tmp_path, stacked.prefix())
    else:
        yield from checked_shim(tmp_path)


BOTH_ROOTS = pytest.mark.parametrize("shim", ["host-root", "stacked-root"], indirect=True)


@pytest.fixture
def created(shim: Shim, make_bundle: BundleFactory, cid: str) -> int:
    """A created container (its init is our helper, blocked on the exec fifo); its host pid."""
    shim.ok("create", "--bundle", str(make_bundle(["true"])), cid)
    return pid_of(shim, cid)


# -- CVE-2019-5736: overwriting the runtime binary through /proc/self/exe -----------------------
# Rule: the helper runs only from a sealed memfd; nothing in the container can write it, and
# the packaged file on the host is never what a container process can reach.


@BOTH_ROOTS
def test_created_init_exe_is_a_memfd_nobody_can_open_for_writing(
    shim: Shim, cid: str, created: int
) -> None:
    assert_exec_lands_in_container(shim, cid)
    before = _sha256(HELPER_PATH)
    exe = f"/proc/{created}/exe"
    assert os.readlink(exe).startswith("/memfd:"), os.readlink(exe)
    with pytest.raises(OSError):  # noqa: PT011 - ETXTBSY or EPERM: either refuses
        open(exe, "r+b").close()
    # The attacker inside: container root reopens the init's exe for writing.
    script = (
        "( exec 3<>/proc/1/exe ) 2>/dev/null; echo rw=$?;"
        " ( echo x >> /proc/1/exe ) 2>/dev/null; echo append=$?"
    )
    res = shim("exec", cid, "sh", "-c", script)
    assert res.code == 0, res
    assert _exit_codes(res.out) == {"rw": "refused", "append": "refused"}, res
    assert _sha256(HELPER_PATH) == before
    assert status(shim, cid) == "created"


@BOTH_ROOTS
def test_helper_execed_in_the_container_as_proc_self_exe_cannot_be_rewritten(
    shim: Shim, cid: str, created: int, tmp_path: Path
) -> None:
    """`exec /proc/self/exe` makes the container run our helper itself (as runc's `#!/proc/self/exe`
    image did). It is kept alive, blocked in its handshake, by a socket we pass as its channel.
    Container root then opens its exe for writing while it lives, keeps a read-only fd, kills
    it and reopens that fd for writing: every write and truncation fails, the memfd still holds
    the helper's bytes and the file on the host is unchanged.
    """
    assert_exec_lands_in_container(shim, cid)
    before = _sha256(HELPER_PATH)
    ours, theirs = socket.socketpair()
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    pidfile = tmp_path / "helper.pid"
    pidfd = -1
    try:
        # argv[1] "0": no preserved fds, so its channel is fd 3 and fds 3-7 must exist.
        argv = shim.argv(
            "exec", "-d", "--pid-file", str(pidfile), "--preserve-fds", "5", cid,
            "/proc/self/exe", "0",
        )  # fmt: skip
        fds = {3: theirs.fileno(), 4: devnull, 5: devnull, 6: devnull, 7: devnull}
        proc = _spawn_with_fds(argv, fds)
        assert proc.code == 0, proc
        theirs.close()
        host_pid = int(pidfile.read_text())
        pidfd = os.pidfd_open(host_pid)
        ours.settimeout(10)
        assert ours.recv(64), "the helper in the container never said hello"
        assert os.readlink(f"/proc/{host_pid}/exe").startswith("/memfd:")
        assert _sha256(f"/proc/{host_pid}/exe") == before  # an exact, sealed copy
        p = _ns_pid(host_pid)
        script = f"""
( exec 3<>/proc/{p}/exe ) 2>/dev/null; echo live_rw=$?
exec 4</proc/{p}/exe
kill -9 {p}
i=0; while [ -e /proc/{p}/exe ] && [ $i -lt 500 ]; do usleep 10000; i=$((i+1)); done
( exec 5<>/proc/self/fd/4; printf x >&5 ) 2>/dev/null; echo dead_write=$?
( : > /proc/self/fd/4 ) 2>/dev/null; echo truncate=$?
sha256sum < /proc/self/fd/4
"""
        res = shim("exec", cid, "sh", "-c", script)
        assert res.code == 0, res
        *codes, digest = res.out.splitlines()
        assert _exit_codes("\n".join(codes)) == dict.fromkeys(
            ("live_rw", "dead_write", "truncate"), "refused"
        ), res
        assert digest.split()[0] == before, res
        assert _sha256(HELPER_PATH) == before
    finally:
        if pidfd >= 0:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(pidfd)
        ours.close()
        theirs.close()
        os.close(devnull)


# -- CVE-2016-9962: ptrace into a joining process, a leaked host fd ----------------------------
# Rule: non-dumpable before joining the container; no stage ever holds a host directory fd;
# the init keeps only the exec fifo, as O_PATH, until execve.


def test_created_init_holds_only_stdio_and_the_fifo_as_o_path(
    shim: Shim, cid: str, created: int
) -> None:
    fifo = str(shim.root / cid / "exec.fifo")
    extra = {}
    for name in sorted(os.listdir(f"/proc/{created}/fd"), key=int):
        if int(name) > 2:
            extra[name] = os.readlink(f"/proc/{created}/fd/{name}")
    others = {n: t for n, t in extra.items() if t != fifo}
    # The helper's own pid-only procfs, held to reopen the fifo (issue 16 #3), shows as "/":
    # it must be that and nothing else (pid directories, self, thread-self; no sys/).
    procfs = [n for n, t in others.items() if t == "/"]
    assert len(procfs) <= 1, extra
    for n in procfs:
        assert pid_only_procfs(f"/proc/{created}/fd/{n}"), os.listdir(f"/proc/{created}/fd/{n}")
        del others[n]
    # Pipes and sockets of ours would be tolerable; a path (a host directory) never is.
    assert all(t.startswith(("pipe:", "socket:")) for t in others.values()), extra
    fifo_fds = [n for n, t in extra.items() if t == fifo]
    assert len(fifo_fds) == 1, extra
    flags = Path(f"/proc/{created}/fdinfo/{fifo_fds[0]}").read_text().split("flags:")[1]
    assert int(flags.split()[0], 8) & O_PATH_FLAG, f"the fifo is not held O_PATH: {flags!r}"


@BOTH_ROOTS
def test_container_root_cannot_reach_into_the_created_init(
    shim: Shim, cid: str, created: int
) -> None:
    """Root in the container (default caps: no CAP_SYS_PTRACE) probes pid 1 while it is still
    our helper: every ptrace-guarded /proc file is refused, so it can neither take the
    init's fds (the fifo: it could start itself) nor learn its environment or root."""
    assert_exec_lands_in_container(shim, cid)
    fds = sorted(int(n) for n in os.listdir(f"/proc/{created}/fd"))
    # A mapped address (read from the host): offset 0 of /proc/1/mem fails for everyone.
    mapped = int(Path(f"/proc/{created}/maps").read_text().split("-", 1)[0], 16)
    probes = [f"readlink /proc/1/fd/{n}" for n in fds] + [
        "cat /proc/1/environ",
        "readlink /proc/1/root",
        "readlink /proc/1/cwd",
        "readlink /proc/1/exe",
        f"dd if=/proc/1/mem of=/dev/null bs=1 count=1 skip={mapped}",
        f"sh -c 'echo 0 > /proc/1/fd/{fds[-1]}'",
    ]
    script = "".join(f"{p} >/dev/null 2>&1; echo $?\n" for p in probes)
    res = shim("exec", cid, "sh", "-c", script)
    assert res.code == 0, res
    results = dict(zip(probes, res.out.split(), strict=True))
    assert all(code != "0" for code in results.values()), results
    assert status(shim, cid) == "created"  # writing the fifo would have started it


@BOTH_ROOTS
def test_execed_process_holds_only_stdio(
    shim: Shim, cid: str, created: int, tmp_path: Path
) -> None:
    assert_exec_lands_in_container(shim, cid)
    pidfile = tmp_path / "exec.pid"
    shim.ok("exec", "-d", "--pid-file", str(pidfile), cid, "sleep", "30")
    pid = int(pidfile.read_text())
    try:
        assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]
    finally:
        os.kill(pid, signal.SIGKILL)


# -- CVE-2019-16884: a volume over /proc hides procfs ------------------------------------------
# Rule: only procfs goes on /proc, nothing under it but the lxcfs files, and every /proc
# file the runtime uses is procfs.


@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
def test_a_volume_over_proc_fails_create(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, kind: str
) -> None:
    fake = tmp_path / "fake-proc"
    (fake / "self/attr").mkdir(parents=True)
    (fake / "self/attr/exec").write_text("")

    def edit(c: dict[str, Any]) -> None:
        mount: dict[str, Any] = {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}
        if kind == "bind":
            mount = {"destination": "/proc", "type": "bind", "source": str(fake),
                     "options": ["rbind"]}  # fmt: skip
        c["mounts"] = [mount, *(m for m in c["mounts"] if m["destination"] != "/proc")]

    res = shim("create", "--bundle", str(make_bundle(["true"], edit=edit)), cid)
    assert_fails(res, "/proc cannot be mounted because it is not of type proc")


def _volume_into_proc(tmp_path: Path) -> Edit:
    """A volume whose destination reaches /proc/sys/kernel through an image symlink (the
    bundle's rootfs gets `kernel -> /proc/sys/kernel`); the volume, as Docker populates it
    from the image, holds a fake `cap_last_cap`."""
    fake = tmp_path / "volume"
    fake.mkdir()
    (fake / "cap_last_cap").write_text("-1\n")

    def edit(c: dict[str, Any]) -> None:
        c["process"]["noNewPrivileges"] = False  # Docker's default
        c["mounts"].append(
            {"destination": "/kernel", "type": "bind", "source": str(fake), "options": ["rbind"]}
        )

    return edit


def test_a_volume_reaching_into_proc_through_a_symlink_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    # The /proc rule must hold for the resolved destination, not the config's string
    # (runc 1.1.5: `"<rootfs>/proc/sys/kernel" cannot be mounted because it is inside /proc`).
    edit = _volume_into_proc(tmp_path)
    bundle = make_bundle(["true"], edit=edit)
    (bundle / "rootfs/kernel").symlink_to("/proc/sys/kernel")
    res = shim("create", "--bundle", str(bundle), cid)
    assert_fails(res, "cannot be mounted because it is inside /proc")


def test_a_fake_proc_file_from_the_image_never_widens_capabilities(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """The same image, run: its `cap_last_cap` must not decide which capabilities are dropped
    from the bounding set (a "-1" there kept all of them: with noNewPrivileges false, root
    in the container then gained every capability at execve)."""
    edit = _volume_into_proc(tmp_path)
    bundle = make_bundle(["cat", "/proc/self/status"], edit=edit)
    (bundle / "rootfs/kernel").symlink_to("/proc/sys/kernel")
    res = _run(shim, bundle, cid)
    if res.code == 0:
        caps = _caps(res.out)
        assert caps["CapBnd"] == DEFAULT_CAPS, f"bounding set {caps['CapBnd']:#x}"
        assert caps["CapPrm"] == DEFAULT_CAPS, f"permitted set {caps['CapPrm']:#x}"
        assert caps["CapEff"] == DEFAULT_CAPS, f"effective set {caps['CapEff']:#x}"
    else:
        assert res.code == 1, res


def test_a_fake_setgroups_from_the_image_never_keeps_the_runtimes_groups(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """A file volume at `/pid1/setgroups` with the image's `pid1 -> /proc/1` lands on the
    helper's own /proc/1/setgroups; reading "deny" there must not skip setgroups(2), or the
    process keeps the supplementary groups of whoever ran the runtime (here: disk)."""
    fake = tmp_path / "setgroups"
    fake.write_text("deny\n")

    def edit(c: dict[str, Any]) -> None:
        c["mounts"].append(
            {"destination": "/pid1/setgroups", "type": "bind", "source": str(fake),
             "options": ["bind"]}
        )  # fmt: skip

    bundle = make_bundle(["grep", "^Groups:", "/proc/self/status"], edit=edit)
    (bundle / "rootfs/pid1").symlink_to("/proc/1")
    shim.ids.add(cid)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            shim.argv("run", "--bundle", str(bundle), cid),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=lambda: os.setgroups([DISK_GID]),
            timeout=TIMEOUT,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        res = Result(proc.returncode, out.read(), err.read())
    if res.code == 0:
        assert res.out.split() == ["Groups:"], f"the process kept the runtime's groups: {res}"
    else:
        assert_fails(res, "inside /proc")


# -- CVE-2019-19921 / CVE-2023-27561 / CVE-2023-28642: /proc or /sys swapped for a symlink -----
# Rule: procfs and sysfs targets are ordinary directories, opened O_NOFOLLOW|O_DIRECTORY.


@pytest.mark.parametrize(
    ("name", "target"),
    [
        pytest.param("proc", "/bad-proc", id="proc-to-a-missing-dir"),
        pytest.param("proc", "/inside", id="proc-to-a-dir-in-the-rootfs"),
        pytest.param("proc", "inside", id="proc-to-a-relative-dir-in-the-rootfs"),
        pytest.param("sys", "/bad-sys", id="sys-to-a-missing-dir"),
        pytest.param("sys", "/inside", id="sys-to-a-dir-in-the-rootfs"),
    ],
)
def test_proc_or_sys_as_a_symlink_fails_create(
    shim: Shim, make_bundle: BundleFactory, cid: str, name: str, target: str
) -> None:
    bundle = make_bundle(["true"])
    rootfs = bundle / "rootfs"
    (rootfs / "inside").mkdir()
    (rootfs / name).rmdir()
    (rootfs / name).symlink_to(target)
    res = shim("create", "--bundle", str(bundle), cid)
    assert_fails(res, f"/{name} must be mounted on ordinary directory")
    assert _listing(rootfs / "inside") == []
    assert not (rootfs / "bad-proc").exists()
    assert not (rootfs / "bad-sys").exists()


# -- CVE-2021-30465: a mount target swapped for a symlink out of the rootfs --------------------
# Rule: targets are resolved by an O_NOFOLLOW walk inside the rootfs and mounted by fd.


def _mountinfo_hook(tmp_path: Path, out: Path) -> Edit:
    """A createContainer hook (container mount namespace, before the root switch) that
    copies what is mounted at that moment: a mount that escaped the rootfs shows there."""
    hook = _hook(tmp_path, "mountinfo", f"cat /proc/self/mountinfo > {out}")

    def edit(c: dict[str, Any]) -> None:
        c.setdefault("hooks", {}).setdefault("createContainer", []).append(hook)

    return edit


@pytest.mark.parametrize("link", ["/", "../../..", "../" * 40])
def test_a_mount_through_a_symlink_to_root_stays_in_the_rootfs(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, link: str
) -> None:
    name = f"escaped-{uuid.uuid4().hex[:8]}"
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "marker").write_text("x")
    recorded = tmp_path / "mountinfo"
    hook_edit = _mountinfo_hook(tmp_path, recorded)

    def edit(c: dict[str, Any]) -> None:
        c["mounts"] += [
            {"destination": f"/escape/{name}-tmpfs", "type": "tmpfs", "source": "tmpfs"},
            {"destination": f"/escape/{name}-bind", "type": "bind", "source": str(volume),
             "options": ["rbind"]},
        ]  # fmt: skip
        hook_edit(c)

    bundle = make_bundle(["true"], edit=edit)
    rootfs = str(bundle / "rootfs")
    (bundle / "rootfs/escape").symlink_to(link)
    res = shim("create", "--bundle", str(bundle), cid)
    # Either outcome is safe: "/" means the rootfs's root, a ".." above it is refused.
    assert res.code in (0, 1), res
    if res.code == 1:
        assert_fails(res, "leads out of the rootfs")
    else:
        points = [p for p in _mount_points(recorded.read_text()) if name in p]
        assert sorted(points) == [f"{rootfs}/{name}-bind", f"{rootfs}/{name}-tmpfs"]
    for where in ("/", str(tmp_path), str(bundle)):
        assert not [p for p in os.listdir(where) if p.startswith(name)], where
    assert not [p for p in _mount_points(Path("/proc/self/mountinfo").read_text()) if name in p]


_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    if _libc.renameat2(AT_FDCWD, bytes(a), AT_FDCWD, bytes(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


class Flipper:
    """Swaps `path` between a directory and a symlink (atomically, renameat2 EXCHANGE) in a
    thread, as fast as it can: the racing volume-sharing attacker."""

    def __init__(self, path: Path, link_target: str) -> None:
        self.path = path
        self.other = path.with_name(path.name + ".other")
        path.mkdir()
        self.other.symlink_to(link_target)
        self.flips = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                _exchange(self.path, self.other)
                self.flips += 1
        except BaseException as err:  # reported by check()
            self._error = err

    def __enter__(self) -> Flipper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def check(self) -> None:
        assert not self._thread.is_alive()
        assert self._error is None, f"the flipping thread failed: {self._error!r}"


def test_flipping_a_component_to_a_host_dir_never_mounts_or_creates_there(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """CVE-2021-30465 / CVE-2024-45310 as a race: while creates run, a thread flips the
    rootfs's `race` between a directory and a symlink to a host sentinel directory. Bounded:
    30 creates or 10 s. Nothing is ever mounted on, or created in, the sentinel."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "marker").write_text("x")
    recorded = tmp_path / "mountinfo"
    hook_edit = _mountinfo_hook(tmp_path, recorded)

    def edit(c: dict[str, Any]) -> None:
        c["mounts"] += [
            {"destination": "/race/tmpfs", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/race/bind", "type": "bind", "source": str(volume),
             "options": ["rbind"]},
            {"destination": "/race/deeper/file", "type": "bind",
             "source": str(volume / "marker"), "options": ["bind"]},
        ]  # fmt: skip
        hook_edit(c)

    bundle = make_bundle(["true"], edit=edit)
    deadline = time.monotonic() + 10
    made = 0
    escaped: list[str] = []
    with Flipper(bundle / "rootfs/race", str(sentinel)) as flipper:
        for i in range(30):
            if time.monotonic() > deadline:
                break
            recorded.unlink(missing_ok=True)
            name = f"{cid}-{i}"
            res = shim("create", "--bundle", str(bundle), name)
            if res.code == 0:
                made += 1
                shim.ok("delete", "--force", name)
                assert recorded.exists(), "the createContainer hook did not record the mounts"
            if recorded.exists():
                escaped += [
                    p for p in _mount_points(recorded.read_text()) if p.startswith(str(sentinel))
                ]
            assert _listing(sentinel) == [], f"create {i} made files in the host sentinel"
            assert escaped == [], f"create {i} mounted on the host sentinel: {escaped}"
    flipper.check()
    assert flipper.flips > 100, "the race never ran"
    assert made > 0, "no create succeeded: the mounts were never tried"
    host_points = _mount_points(Path("/proc/self/mountinfo").read_text())
    assert not [p for p in host_points if p.startswith(str(sentinel))]


# -- CVE-2024-45310: missing targets made on the host through a symlink -------------------------
# Rule: create only with mkdirat/openat(O_CREAT|O_EXCL|O_NOFOLLOW) under verified dir fds.


def test_missing_targets_behind_a_symlink_to_a_host_dir_are_made_in_the_rootfs(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    source = tmp_path / "file-source"
    source.write_text("x")

    def edit(c: dict[str, Any]) -> None:
        c["mounts"] += [
            {"destination": "/escape/newdir", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/escape/sub/newfile", "type": "bind", "source": str(source),
             "options": ["bind"]},
        ]  # fmt: skip

    bundle = make_bundle(["sh", "-c", "cat /escape/sub/newfile; grep -c newdir /proc/mounts"], edit)
    (bundle / "rootfs/escape").symlink_to(str(sentinel))
    res = _run(shim, bundle, cid)
    assert res.code == 0, res
    assert res.out == "x1\n"
    assert _listing(sentinel) == []
    # The absolute link was followed with the rootfs as "/": the targets were made there.
    inside = bundle / "rootfs" / str(sentinel).lstrip("/")
    assert (inside / "newdir").is_dir()
    assert (inside / "sub/newfile").is_file()


# -- CVE-2024-21626: a leaked host fd as the cwd -----------------------------------------------
# Rule: an explicit fd allow-list, close_range before execve, a getcwd check after chdir.


@pytest.mark.parametrize("n", range(3, 11))
def test_cwd_through_a_leaked_fd_fails_create(
    shim: Shim, make_bundle: BundleFactory, cid: str, n: int
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["cwd"] = f"/proc/self/fd/{n}"

    bundle = make_bundle(["sh", "-c", "pwd; ls -a ..; ls -a ../../.."], edit=edit)
    res = _run(shim, bundle, cid)
    assert res.code == 1, res  # never runs, so never shows the host
    assert res.out == ""
    assert f"/proc/self/fd/{n}" in res.err, res


def test_cwd_through_proc_self_fd_leaves_no_trace_in_the_rootfs(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """Magic links are not symlinks: their text ("/tmp/.../rootfs", "socket:[123]") is no path
    in the container. Following it by hand with mkdir made host-path-named directories in the
    image (the bundle's host path, then `proc/1`), left behind after the failed create."""
    bundle = make_bundle(["true"], edit=lambda c: c["process"].update(cwd="/proc/self/fd/10"))
    before = _tree(bundle / "rootfs")
    res = _run(shim, bundle, cid)
    assert res.code == 1, res
    assert sorted(_tree(bundle / "rootfs") - before) == []


@BOTH_ROOTS
def test_exec_cwd_through_a_planted_symlink_to_a_leaked_fd_fails(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    assert_exec_lands_in_container(shim, cid)
    plant = "; ".join(f"ln -s /proc/self/fd/{n} /dev/shm/fd{n}" for n in range(3, 11))
    shim.ok("exec", cid, "sh", "-c", plant)
    for cwd in [f"/dev/shm/fd{n}" for n in range(3, 11)] + [f"/proc/self/fd/{n}" for n in (3, 5)]:
        res = shim("exec", "--cwd", cwd, cid, "sh", "-c", "pwd; ls -a ../../..")
        assert res.code == 255, (cwd, res)
        assert res.out == "", (cwd, res)
        assert cwd in res.err, (cwd, res)


# -- CVE-2022-29162: inheritable capabilities ---------------------------------------------------
# Rule: apply exactly the configured sets; `exec --cap` never adds to the inheritable set.


@BOTH_ROOTS
def test_inheritable_set_stays_empty_by_default_and_after_exec_cap(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    assert_exec_lands_in_container(shim, cid)
    init = _caps(Path(f"/proc/{pid_of(shim, cid)}/status").read_text())
    assert init == dict.fromkeys(("CapPrm", "CapEff", "CapBnd"), DEFAULT_CAPS) | {
        "CapInh": 0,
        "CapAmb": 0,  # ambient asks need inheritable too: none of the default three is
    }
    res = shim.ok("exec", "--cap", "CAP_NET_RAW", cid, "cat", "/proc/self/status")
    caps = _caps(res.out)
    assert caps["CapInh"] == 0
    assert caps["CapAmb"] == 0
    for key in ("CapPrm", "CapEff", "CapBnd"):
        assert caps[key] == DEFAULT_CAPS | CAP_NET_RAW, (key, hex(caps[key]))


# -- CVE-2025-31133: masked paths bound from a fake /dev/null ----------------------------------
# Rule: mask only with an fd verified to be char 1:3, never a path the image controls.


def _null_symlink(dev: Path) -> None:
    dev.joinpath("null").symlink_to(str(CORE_PATTERN))


def _null_is_zero(dev: Path) -> None:
    os.mknod(dev / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 5))


@pytest.mark.parametrize(
    "plant", [_null_symlink, _null_is_zero], ids=["symlink-to-core-pattern", "char-1-5"]
)
def test_a_fake_dev_null_never_masks_a_path(
    shim: Shim, make_bundle: BundleFactory, cid: str, plant: Callable[[Path], None]
) -> None:
    before = CORE_PATTERN.read_text()
    masked = "/proc/keys /proc/timer_list"
    script = f"for p in {masked}; do echo x > $p; done; stat -L -c %t:%T {masked}; cat {masked}"
    bundle = make_bundle(["sh", "-c", script], edit=_without_dev_tmpfs)
    plant(bundle / "rootfs/dev")
    res = _run(shim, bundle, cid)
    assert CORE_PATTERN.read_text() == before
    if res.code == 0:  # masked, then only with the real null device
        assert res.out == "1:3\n1:3\n", res
    else:
        assert_fails(res, "/dev/null is not the null device")


# -- CVE-2025-52565: /dev/console bound from (or onto) a swapped path --------------------------
# Rule: the pty peer comes from TIOCGPTPEER; /dev/console is made O_CREAT|O_NOFOLLOW.


def _console_run(shim: Shim, bundle: Path, cid: str, tmp_path: Path) -> tuple[Result, str]:
    """create with a console socket, start, and everything the pty printed."""
    with ConsoleListener(tmp_path / "console.sock") as listener:
        res = shim("create", "--bundle", str(bundle), "--console-socket", str(listener.path), cid)
        if res.code != 0:
            return res, ""
        master = listener.take_master()
        try:
            shim.ok("start", cid)
            return res, read_to_close(master).decode(errors="replace")
        finally:
            os.close(master)


CONSOLE_PROBE = "ls -l /dev/console; stat -L -c '%F %t' /dev/console; cat /proc/self/mountinfo"


@pytest.mark.parametrize("planted", [False, True], ids=["plain", "image-planted-symlink"])
def test_dev_console_is_the_pty_and_nothing_else_is_mounted_from_it(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, planted: bool
) -> None:
    before = CORE_PATTERN.read_text()

    def edit(c: dict[str, Any]) -> None:
        c["process"]["terminal"] = True
        if planted:
            _without_dev_tmpfs(c)

    bundle = make_bundle(["sh", "-c", CONSOLE_PROBE], edit=edit)
    if planted:  # the image's own /dev/console points at a procfs file
        (bundle / "rootfs/dev/console").symlink_to(str(CORE_PATTERN))
    res, out = _console_run(shim, bundle, cid, tmp_path)
    assert CORE_PATTERN.read_text() == before
    if res.code != 0:  # refusing the planted symlink is fine
        assert planted, res
        return
    lines = out.replace("\r\n", "\n").splitlines()
    pty_elsewhere = [
        line.split()[4]
        for line in lines[2:]
        if " - devpts " in line and line.split()[4] not in ("/dev/console", "/dev/pts")
    ]
    assert pty_elsewhere == [], f"the pty was mounted over {pty_elsewhere}; {lines[0]}"
    assert lines[0].startswith("c"), f"/dev/console is no device node: {lines[0]}"
    assert lines[1] == f"character special file {PTY_MAJOR:x}", lines[1]
    assert _fstype_at("\n".join(lines[2:]), "/dev/console") == ["devpts"], out


# -- CVE-2025-52881: /proc writes and reads redirected by an overmount -------------------------
# Rule: the helper uses a private procfs handle made before the root switch, so no mount
# made inside the container can redirect what it writes (sysctls) or reads (cap_last_cap).


@pytest.fixture
def host_domainname() -> Iterator[str]:
    """The host's domain name, put back afterwards if a vulnerable runtime changed it.
    (The domain name and not the hostname: the same UTS procfs file class, and nothing on
    the host breaks while a failing run has it changed.)"""
    before = DOMAINNAME.read_text()
    yield before
    if DOMAINNAME.read_text() != before:
        DOMAINNAME.write_text(before)


def test_a_sysctl_write_redirected_by_an_overmount_never_reaches_the_host(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, host_domainname: str
) -> None:
    """A createContainer hook (standing in for a racing attacker with shared mounts) binds
    the host's /proc/sys/kernel/domainname over the container's ip_forward sysctl file. The
    container shares the host's UTS namespace, so a write that follows the overmount
    renames the host's domain: create must fail or the write must land on ip_forward."""
    rootfs = tmp_path / "bundle/rootfs"
    target = rootfs / "proc/sys/net/ipv4/ip_forward"
    hook = _hook(tmp_path, "overmount", f"mount --bind {DOMAINNAME} {target}")

    def edit(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "uts"]
        c.pop("hostname", None)
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        c["hooks"] = {"createContainer": [hook]}

    bundle = make_bundle(["cat", "/proc/sys/net/ipv4/ip_forward"], edit=edit)
    assert bundle / "rootfs" == rootfs
    res = _run(shim, bundle, cid)
    assert DOMAINNAME.read_text() == host_domainname, "the sysctl write renamed the host's domain"
    assert res.code == 0, res  # nothing refuses it: the write goes through our own procfs


def test_an_overmounted_cap_last_cap_never_keeps_the_bounding_set(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """A createContainer hook binds a file reading "-1" over the container's
    /proc/sys/kernel/cap_last_cap. The bounding set must still be exactly the configured one
    (reading that file after the root switch left every capability in it)."""
    fake = tmp_path / "cap_last_cap"
    fake.write_text("-1\n")
    target = tmp_path / "bundle/rootfs/proc/sys/kernel/cap_last_cap"
    hook = _hook(tmp_path, "overmount", f"mount --bind {fake} {target}")

    def edit(c: dict[str, Any]) -> None:
        c["hooks"] = {"createContainer": [hook]}

    res = _run(shim, make_bundle(["cat", "/proc/self/status"], edit=edit), cid)
    assert res.code == 0, res  # the container starts: cap_last_cap was read from the host
    caps = _caps(res.out)
    assert caps["CapBnd"] == DEFAULT_CAPS, f"bounding set {caps['CapBnd']:#x}"
