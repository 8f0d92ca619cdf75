"""What a process sees from inside a busybox container, checked from inside (and runc's view).

Most tests run `shim run` in the foreground with a small shell script; the fixture
captures the container's stdout. Where runc is installed, the same bundle run by runc
is the reference for what the kernel should show (capabilities, fd census).
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Result,
    Shim,
    leaked_cgroups,
    needs_busybox,
    needs_root,
)
from tests.integration._kernel_files import mounted_hierarchies
from tests.integration._runc_compare import pid_only_procfs

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

Edit = Callable[[dict[str, Any]], None]


def run_script(
    shim: Shim, make_bundle: BundleFactory, cid: str, script: str, edit: Edit | None = None
) -> Result:
    """`shim run` a `sh -c script` container in the foreground; its stdout is in .out."""
    bundle = make_bundle(["sh", "-c", script], edit=edit)
    return shim("run", "--bundle", str(bundle), cid)


def run_ok(
    shim: Shim, make_bundle: BundleFactory, cid: str, script: str, edit: Edit | None = None
) -> str:
    res = run_script(shim, make_bundle, cid, script, edit)
    assert res.code == 0, res
    return res.out


def both_ok(
    shim: Shim,
    runc: Shim,
    make_bundle: BundleFactory,
    cid: str,
    script: str,
    edit: Edit | None = None,
) -> tuple[str, str]:
    """(shim's stdout, runc's stdout) for the same script and config."""
    ours = run_script(shim, make_bundle, cid, script, edit)
    assert ours.code == 0, ours
    bundle = make_bundle(["sh", "-c", script], edit=edit, name="runc-bundle")
    theirs = runc("run", "--bundle", str(bundle), cid + "-r")
    assert theirs.code == 0, theirs
    return ours.out, theirs.out


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Detached:
    """A container made with `shim create` whose stdio are files we can read afterwards."""

    def __init__(self, shim: Shim, cid: str, tmp_path: Path) -> None:
        self.shim = shim
        self.cid = cid
        self.out = tmp_path / f"{cid}.out"
        self.err = tmp_path / f"{cid}.err"

    def create(
        self,
        bundle: Path,
        *extra: str,
        pass_fds: tuple[int, ...] = (),
        preexec_fn: Callable[[], None] | None = None,
    ) -> int:
        """Create; returns the init's host pid."""
        self.shim.ids.add(self.cid)
        with self.out.open("wb") as out, self.err.open("wb") as err:
            proc = subprocess.run(
                self.shim.argv("create", "--bundle", str(bundle), *extra, self.cid),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=pass_fds,
                preexec_fn=preexec_fn,
                timeout=TIMEOUT,
                check=False,
            )
        assert proc.returncode == 0, (proc.returncode, self.err.read_text())
        pid = self.shim.state(self.cid)["pid"]
        assert isinstance(pid, int)
        return pid

    def start_and_wait(self) -> str:
        """Start, wait until stopped, delete; returns the container's stdout."""
        self.shim.ok("start", self.cid)
        wait_for(lambda: self.shim.state(self.cid)["status"] == "stopped", "the container to stop")
        self.shim.ok("delete", self.cid)
        return self.out.read_text()


# -- identity: pid namespace, hostname, user, env, cwd -------------------------------------------


def test_shell_is_pid_1_in_its_pid_namespace(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    assert run_ok(shim, make_bundle, cid, "echo $$") == "1\n"


def test_hostname_comes_from_config(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["hostname"] = "box-from-config"

    out = run_ok(shim, make_bundle, cid, "hostname; cat /proc/sys/kernel/hostname", edit)
    assert out == "box-from-config\nbox-from-config\n"
    assert os.uname().nodename != "box-from-config"


def test_user_ids_and_additional_gids_come_from_config(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}

    out = run_ok(shim, make_bundle, cid, "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status", edit)
    assert out.splitlines() == [
        "uid=1000 gid=1000 groups=10(wheel),20",
        "Uid:\t1000\t1000\t1000\t1000",
        "Gid:\t1000\t1000\t1000\t1000",
        "Groups:\t10 20 ",
    ]


def _environ_of_pid_1(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines())


PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.mark.parametrize(
    ("uid", "extra_env", "home"),
    [
        pytest.param(0, [], "/root", id="home-from-etc-passwd"),
        pytest.param(1000, [], "/", id="home-slash-for-unknown-user"),
        pytest.param(0, ["HOME=/custom"], "/custom", id="home-from-config-kept"),
    ],
)
def test_env_is_the_configs_plus_home(
    shim: Shim, make_bundle: BundleFactory, cid: str, uid: int, extra_env: list[str], home: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": uid, "gid": uid}
        c["process"]["env"] = [PATH, "FOO=bar baz", *extra_env]

    # /proc/1/environ is what execve got, before the shell adds PWD, SHLVL...
    out = run_ok(shim, make_bundle, cid, "cat /proc/1/environ | tr '\\0' '\\n'", edit)
    assert _environ_of_pid_1(out) == {
        "PATH": PATH.split("=", 1)[1],
        "FOO": "bar baz",
        "HOME": home,
    }


def test_missing_cwd_is_created_and_used_under_a_readonly_root(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        assert c["root"]["readonly"] is True
        c["process"]["cwd"] = "/work/dir"

    bundle = make_bundle(["sh", "-c", "pwd; readlink /proc/self/cwd"], edit=edit)
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert res.out == "/work/dir\n/work/dir\n"
    assert (bundle / "rootfs/work/dir").is_dir()


# -- filesystem: read-only root, volumes, tmpfs ---------------------------------------------------


def test_readonly_root_refuses_writes_but_tmpfs_mounts_take_them(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    script = (
        "touch /x 2>&1; echo root=$?; touch /tmp/x 2>&1; echo tmp=$?;"
        " echo data > /dev/shm/f && cat /dev/shm/f"
    )
    out = run_ok(shim, make_bundle, cid, script)
    assert out.splitlines() == [
        "touch: /x: Read-only file system",
        "root=1",
        "touch: /tmp/x: Read-only file system",  # /tmp is part of the root here, no mount
        "tmp=1",
        "data",
    ]


def test_writable_root_when_readonly_is_false(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False

    bundle = make_bundle(["sh", "-c", "echo hello > /x && cat /x"], edit=edit)
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert res.out == "hello\n"
    assert (bundle / "rootfs/x").read_text() == "hello\n"


def _volume(tmp_path: Path) -> Path:
    vol = tmp_path / "volume"
    vol.mkdir()
    (vol / "from-host").write_text("host data\n")
    return vol


def test_bind_volume_is_readable_and_writable(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    vol = _volume(tmp_path)

    def edit(c: dict[str, Any]) -> None:
        c["mounts"].append(
            {"destination": "/data", "type": "bind", "source": str(vol), "options": ["rbind", "rw"]}
        )

    out = run_ok(shim, make_bundle, cid, "cat /data/from-host; echo made > /data/in-box", edit)
    assert out == "host data\n"
    assert (vol / "in-box").read_text() == "made\n"


def test_readonly_bind_volume_refuses_writes(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    vol = _volume(tmp_path)

    def edit(c: dict[str, Any]) -> None:
        c["mounts"].append(
            {"destination": "/data", "type": "bind", "source": str(vol), "options": ["rbind", "ro"]}
        )

    script = "cat /data/from-host; touch /data/in-box 2>&1; echo rc=$?; grep ' /data ' /proc/mounts"
    out = run_ok(shim, make_bundle, cid, script, edit).splitlines()
    assert out[:3] == ["host data", "touch: /data/in-box: Read-only file system", "rc=1"]
    assert out[3].split()[3].split(",")[0] == "ro", out[3]
    assert sorted(p.name for p in vol.iterdir()) == ["from-host"]


def test_tmpfs_mount_gets_its_options(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["mounts"].append(
            {
                "destination": "/scratch",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "mode=710", "size=1m"],
            }
        )

    script = (
        "grep ' /scratch ' /proc/mounts; stat -c %a /scratch; echo x > /scratch/f && cat /scratch/f"
    )
    line, mode, written = run_ok(shim, make_bundle, cid, script, edit).splitlines()
    source, dest, fstype, opts = line.split()[:4]
    assert (source, dest, fstype) == ("tmpfs", "/scratch", "tmpfs")
    assert {"rw", "nosuid", "nodev", "noexec", "size=1024k", "mode=710"} <= set(opts.split(",")), (
        line
    )
    assert mode == "710"
    assert written == "x"


# -- devices ------------------------------------------------------------------------------------


def test_standard_devices_work(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    script = (
        "echo gone > /dev/null && wc -c < /dev/null;"
        " head -c 16 /dev/zero | od -An -tx1 | tr -d ' \\n'; echo;"
        " head -c 16 /dev/urandom | wc -c;"
        " stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/urandom"
    )
    out = run_ok(shim, make_bundle, cid, script).splitlines()
    assert out == [
        "0",
        "00" * 16,
        "16",
        "/dev/null character special file 1:3",
        "/dev/zero character special file 1:5",
        "/dev/urandom character special file 1:9",
    ]


def test_dev_fd_and_stdio_symlinks_exist(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    script = "for f in fd stdin stdout stderr ptmx; do echo $f $(readlink /dev/$f); done"
    assert run_ok(shim, make_bundle, cid, script).splitlines() == [
        "fd /proc/self/fd",
        "stdin /proc/self/fd/0",
        "stdout /proc/self/fd/1",
        "stderr /proc/self/fd/2",
        "ptmx pts/ptmx",
    ]


def test_linux_devices_entry_is_created_with_its_numbers(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["linux"]["devices"] = [
            {
                "path": "/dev/fuse",
                "type": "c",
                "major": 10,
                "minor": 229,
                "fileMode": 0o640,
                "uid": 1000,
                "gid": 20,
            }
        ]

    out = run_ok(shim, make_bundle, cid, "stat -c '%F %t:%T %a %u:%g' /dev/fuse", edit)
    assert out == "character special file a:e5 640 1000:20\n"  # %t/%T print hex: 10:229


# -- process attributes: rlimits, no_new_privs, caps, oom, fds, exe ------------------------------


def test_rlimit_nofile_comes_from_config(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 4321, "hard": 5000}]

    assert run_ok(shim, make_bundle, cid, "ulimit -n; ulimit -Hn", edit) == "4321\n5000\n"


def test_umask_comes_from_config(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["user"]["umask"] = 0o077

    out = run_ok(shim, make_bundle, cid, "umask; touch /dev/shm/f; stat -c %a /dev/shm/f", edit)
    assert out == "0077\n600\n"


@pytest.mark.parametrize(("nnp", "shown"), [(True, "1"), (False, "0")])
def test_no_new_privs_follows_config(
    shim: Shim, make_bundle: BundleFactory, cid: str, nnp: bool, shown: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["noNewPrivileges"] = nnp

    out = run_ok(shim, make_bundle, cid, "grep NoNewPrivs /proc/self/status", edit)
    assert out == f"NoNewPrivs:\t{shown}\n"


def _custom_caps(c: dict[str, Any]) -> None:
    c["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
        "effective": ["CAP_CHOWN", "CAP_NET_RAW"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"],
    }
    c["process"]["noNewPrivileges"] = False


def _no_caps(c: dict[str, Any]) -> None:
    del c["process"]["capabilities"]


@pytest.mark.parametrize(
    "edit", [None, _custom_caps, _no_caps], ids=["default-caps", "custom-caps", "no-caps"]
)
def test_capability_sets_match_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, edit: Edit | None
) -> None:
    script = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status"
    ours, theirs = both_ok(shim, runc, make_bundle, cid, script, edit)
    assert len(ours.splitlines()) == 5
    assert ours == theirs


def test_oom_score_adj_comes_from_config(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["oomScoreAdj"] = 500

    assert run_ok(shim, make_bundle, cid, "cat /proc/self/oom_score_adj", edit) == "500\n"


def test_only_stdio_fds_are_open(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    # ls itself holds one more fd (3) for the directory it reads.
    ours, theirs = both_ok(shim, runc, make_bundle, cid, "ls /proc/self/fd")
    assert ours == "0\n1\n2\n3\n"
    assert ours == theirs


def test_preserved_fds_reach_the_container(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(["sh", "-c", "ls /proc/self/fd; echo via3 >&3; echo via4 >&4"])
    r3, w3 = os.pipe()
    r4, w4 = os.pipe()
    # Copies above any fd the child might be given, moved to 3 and 4 in the child.
    high = [fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 100) for w in (w3, w4)]

    def to_3_and_4() -> None:
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    box = Detached(shim, cid, tmp_path)
    try:
        box.create(bundle, "--preserve-fds", "2", pass_fds=(3, 4), preexec_fn=to_3_and_4)
    finally:
        for fd in (w3, w4, *high):
            os.close(fd)
    try:
        out = box.start_and_wait()
        assert out == "0\n1\n2\n3\n4\n5\n"
        with os.fdopen(r3, "rb") as p3, os.fdopen(r4, "rb") as p4:
            assert p3.read() == b"via3\n"  # EOF once the container is gone
            assert p4.read() == b"via4\n"
    finally:
        for fd in (r3, r4):
            try:
                os.close(fd)
            except OSError:
                pass


def test_preserve_fds_the_caller_did_not_pass_are_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """fds 3 and 4 are not open in the caller: the runtime must not hand over its own fds.

    (runc 1.1.5 stats each preserved fd first: `unable to stat preserved-fd ...`.)
    """
    bundle = make_bundle(["sh", "-c", "ls -l /proc/self/fd"])
    shim.ids.add(cid)
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as out_file, err.open("wb") as err_file:
        proc = subprocess.run(
            shim.argv("create", "--bundle", str(bundle), "--preserve-fds", "2", cid),
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=err_file,
            close_fds=True,  # nothing above 2 reaches the shim
            timeout=TIMEOUT,
            check=False,
        )
    if proc.returncode == 0:  # say what the container was given, then free `start`/`delete`
        pid = shim.state(cid)["pid"]
        assert isinstance(pid, int)
        given = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in ("3", "4")}
        os.kill(pid, 9)
        raise AssertionError(f"create succeeded and handed the container {given}")
    assert proc.returncode == 1
    assert "preserved-fd" in err.read_text(), err.read_text()
    assert shim("state", cid).code == 1


def test_container_process_exe_is_busybox(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    out = run_ok(shim, make_bundle, cid, "readlink /proc/self/exe; readlink /proc/1/exe")
    assert out == "/bin/busybox\n/bin/busybox\n"


F_SEAL_ALL = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def test_created_init_runs_from_a_sealed_memfd_that_cannot_be_written(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    box = Detached(shim, cid, tmp_path)
    pid = box.create(make_bundle(["true"]))
    exe = f"/proc/{pid}/exe"
    assert os.readlink(exe).startswith("/memfd:"), os.readlink(exe)
    fd = os.open(exe, os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & F_SEAL_ALL == F_SEAL_ALL
    finally:
        os.close(fd)
    for flags in (os.O_RDWR, os.O_WRONLY, os.O_WRONLY | os.O_APPEND):
        with pytest.raises(OSError):  # noqa: PT011 - ETXTBSY or EPERM, both refuse
            os.close(os.open(exe, flags | os.O_CLOEXEC))
    with pytest.raises(OSError):  # noqa: PT011
        open(exe, "r+b").close()
    assert box.start_and_wait() == ""


def test_created_init_holds_no_host_file_or_directory_fd(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """fd census of the init blocked on the fifo (CVE-2016-9962, CVE-2024-21626).

    Besides stdio, only pipes, sockets, anon inodes, the exec fifo and the sealed helper may
    be open: never a directory or a regular file (a host directory fd is a way out).
    """
    box = Detached(shim, cid, tmp_path)
    pid = box.create(make_bundle(["true"]))
    fifo = str(shim.root / cid / "exec.fifo")
    bad = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        if int(name) <= 2:
            continue
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
            mode = os.stat(f"/proc/{pid}/fd/{name}").st_mode
        except FileNotFoundError:
            continue  # closed meanwhile
        if target == fifo or target.startswith(("pipe:", "socket:", "anon_inode:", "/memfd:")):
            continue
        if target == "/" and pid_only_procfs(f"/proc/{pid}/fd/{name}"):
            continue  # the helper's own pid-only procfs, to reopen the fifo (issue 16 #3)
        if stat.S_ISDIR(mode) or stat.S_ISREG(mode) or target.startswith(str(shim.root)):
            bad[name] = target
    assert bad == {}, f"the init holds {bad}"
    assert box.start_and_wait() == ""


# -- masked and read-only paths ------------------------------------------------------------------


MASKED = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _on_this_kernel(paths: list[str]) -> list[str]:
    """Kernels differ (no /proc/kcore without CONFIG_PROC_KCORE): keep what the host has."""
    return [p for p in paths if os.path.exists(p)]


def test_masked_paths_show_nothing(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    present = _on_this_kernel(MASKED)
    each = "echo $p $(cat $p 2>/dev/null | wc -c) $(ls -A $p | wc -l)"
    script = f"for p in {' '.join(present)}; do {each}; done"
    out = run_ok(shim, make_bundle, cid, script)
    # A masked file is /dev/null (0 bytes, ls lists the name), a masked dir an empty tmpfs.
    assert out.splitlines() == [f"{p} 0 {0 if os.path.isdir(p) else 1}" for p in present]
    assert os.listdir("/sys/firmware")  # the host's is not empty: masking did something


def test_readonly_paths_refuse_writes(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    script = (
        "echo intruder > /proc/sys/kernel/hostname; echo rc=$?; hostname;"
        " grep -E ' /proc/[a-z-]+ proc ' /proc/mounts | cut -d' ' -f2,4"
    )
    res = run_script(shim, make_bundle, cid, script)
    assert res.code == 0, res
    lines = res.out.splitlines()
    assert lines[:2] == ["rc=1", "runc"]
    assert "Read-only file system" in res.err
    ro = {dest: opts.split(",")[0] for dest, opts in (line.split() for line in lines[2:])}
    assert ro == dict.fromkeys(_on_this_kernel(READONLY), "ro"), lines


# -- namespaces: sysctl, network, cgroup ---------------------------------------------------------


def test_sysctl_applies_in_the_containers_netns_only(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    host = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    want = "0" if host.strip() == "1" else "1"

    def edit(c: dict[str, Any]) -> None:
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": want}

    assert run_ok(shim, make_bundle, cid, "cat /proc/sys/net/ipv4/ip_forward", edit) == f"{want}\n"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host


def test_loopback_is_the_only_interface_and_is_up(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    out = run_ok(shim, make_bundle, cid, "ls /sys/class/net; cat /sys/class/net/lo/flags")
    names, flags = out.splitlines()
    assert names == "lo"
    assert int(flags, 16) & 0x1, f"IFF_UP not set: {flags}"  # operstate of lo says "unknown"


def test_container_runs_in_its_cgroup(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    def no_cgroupns(c: dict[str, Any]) -> None:  # `spec` adds one on a v2-only host
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]

    box = Detached(shim, cid, tmp_path)
    pid = box.create(make_bundle(["cat", "/proc/self/cgroup"], edit=no_cgroupns))
    host_view = Path(f"/proc/{pid}/cgroup").read_text()
    mounted = mounted_hierarchies()  # a v2-only view still lists the unmounted v1 ones
    for line in host_view.splitlines():
        ctrls = line.split(":")[1]
        if set(ctrls.split(",") if ctrls else [""]) & mounted:
            assert line.endswith(f"/{cid}"), host_view
    dirs = leaked_cgroups(cid)
    assert dirs, "no cgroup directory named after the container"
    for directory in dirs:
        procs = Path(directory, "cgroup.procs").read_text().split()
        assert procs == [str(pid)], (directory, procs)
    # No cgroup namespace in the config: inside shows the same paths as the host.
    assert box.start_and_wait() == host_view
