"""checkpoint and restore through criu, on the real kernel, with a busybox counter.

The counter prints 1, 2, 3... every 0.2 s on its stdout, a pipe the test reads. After
a checkpoint its processes are gone (the pipe reaches EOF at the last number); the
restored counter writes into a new pipe (criu's inherit-fd puts it where the old one
was) and goes on from the next number.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Shim,
    leaked_cgroups,
    leaked_mounts,
    needs_busybox,
    needs_root,
)
from tests.integration._console import ConsoleListener, read_to_close, read_until
from tests.integration._criu import COUNTER, TCP_COUNTER, Pipe, detached, with_criu
from tests.integration._runc_compare import (
    assert_fails,
    error_messages,
    pid_of,
    process_gone,
    processes_using,
    status,
    wait_status,
    wait_until,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(120)]


def started_counter(
    shim: Shim, bundle: Path, cid: str, criu: str = "", args: tuple[str, ...] = ()
) -> Pipe:
    """`run -d` of the counter with its stdout a new pipe; returns after 3 numbers."""
    out = Pipe()
    res = detached(shim, "run", "-d", "-b", str(bundle), *args, cid, stdout=out.w, criu=criu)
    out.close_writer()
    assert res.code == 0, res
    out.wait_for(3)
    return out


def restored_counter(
    shim: Shim, criu: str, bundle: Path, image: Path, cid: str, *flags: str
) -> tuple[Pipe, int]:
    """`restore -d` into a new pipe; (the pipe, restore's exit code). Its stderr is
    checked by the caller through the return code only when it fails."""
    out = Pipe()
    res = detached(
        shim,
        "restore", "-d", "-b", str(bundle), "--image-path", str(image),
        "--work-path", str(image.with_name(image.name + "-work")), *flags, cid,
        stdout=out.w, criu=criu,
    )  # fmt: skip
    out.close_writer()
    if res.code != 0:
        out.close()
        pytest.fail(f"restore failed: {res}")
    return out, res.code


def checkpoint(shim: Shim, criu: str, image: Path, cid: str, *flags: str) -> None:
    res = with_criu(
        shim, criu, "checkpoint", "--image-path", str(image), "--work-path",
        str(image.with_name(image.name + "-dumpwork")), *flags, cid,
    )  # fmt: skip
    assert res.code == 0, res


def _comm(pid: str) -> str:
    """A process's name; "" once it is gone (other processes come and go meanwhile)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def assert_nothing_left(shim: Shim, cid: str, bundle: Path) -> None:
    """No state dir, no cgroup, no mount on the host, no process using the bundle."""
    assert not (shim.root / cid).exists()
    assert leaked_cgroups(cid) == []
    assert leaked_mounts(bundle) == []
    assert processes_using(str(bundle)) == []


def test_counter_stops_at_checkpoint_and_goes_on_after_restore(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    image = tmp_path / "image"
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, image, cid)
    before = out.wait_eof()  # every process of the counter is gone: its pipe is closed
    out.close()
    assert before == list(range(1, len(before) + 1))
    assert_fails(shim("state", cid), "container does not exist")
    assert leaked_cgroups(cid) == []
    assert json.loads((image / "descriptors.json").read_text())[1].startswith("pipe:[")
    assert (image / "inventory.img").exists()

    new, _ = restored_counter(shim, criu, bundle, image, cid)
    try:
        after = new.wait_for(3)
        assert after[:3] == [before[-1] + 1, before[-1] + 2, before[-1] + 3]
        assert status(shim, cid) == "running"
        pid = pid_of(shim, cid)
        assert (shim.root / cid / "state.json").exists()
        # Every other verb works on the restored container.
        assert str(pid) in shim.ok("ps", cid).out
        assert json.loads(shim.ok("ps", "--format", "json", cid).out)[0] == pid
        assert shim.ok("exec", cid, "sh", "-c", "echo $((6*7))").out == "42\n"
        shim.ok("pause", cid)
        assert new.quiet_for(0.6)
        shim.ok("resume", cid)
        new.wait_for(len(new.numbers) + 2)
        shim.ok("kill", cid, "KILL")
        wait_status(shim, cid, "stopped")
        new.wait_eof()
        shim.ok("delete", cid)
        assert_nothing_left(shim, cid, bundle)
    finally:
        new.close()


def test_leave_running_keeps_the_container_counting(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    try:
        checkpoint(shim, criu, tmp_path / "image", cid, "--leave-running")
        assert status(shim, cid) == "running"
        n = len(out.numbers)
        out.wait_for(n + 3)
        assert out.numbers == list(range(1, len(out.numbers) + 1))
        assert (tmp_path / "image" / "inventory.img").exists()
    finally:
        out.close()


def test_restore_into_a_new_id(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    image = tmp_path / "image"
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, image, cid)
    last = out.wait_eof()[-1]
    out.close()
    other = cid + "-b"
    new, _ = restored_counter(shim, criu, bundle, image, other)
    try:
        assert new.wait_for(2)[:2] == [last + 1, last + 2]
        assert_fails(shim("state", cid), "container does not exist")
        assert shim.state(other)["id"] == other
        cgroup = Path(f"/proc/{pid_of(shim, other)}/cgroup").read_text()
        assert f"/{other}\n" in cgroup
        assert f"/{cid}\n" not in cgroup
        assert leaked_cgroups(cid) == []
    finally:
        new.close()


def test_restore_in_the_foreground_waits_and_exits_with_the_status(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    image = tmp_path / "image"
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, image, cid)
    last = out.wait_eof()[-1]
    out.close()
    new = Pipe()
    shim.ids.add(cid)
    pid_file = tmp_path / "restored.pid"
    proc = subprocess.Popen(
        shim.argv(
            "--criu", criu, "restore", "-b", str(bundle), "--image-path", str(image),
            "--work-path", str(tmp_path / "work"), "--pid-file", str(pid_file), cid,
        ),
        stdin=subprocess.DEVNULL, stdout=new.w, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    new.close_writer()
    try:
        assert new.wait_for(2)[:2] == [last + 1, last + 2]
        pid = int(pid_file.read_text())
        assert pid == pid_of(shim, cid)
        assert proc.poll() is None  # restore waits for the container
        shim.ok("kill", cid, "KILL")
        assert proc.wait(timeout=TIMEOUT) == 128 + 9
        assert_fails(shim("state", cid), "container does not exist")  # deleted after
        assert_nothing_left(shim, cid, bundle)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
        new.close()


def test_tcp_connection_needs_tcp_established(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """Two busybox nc over 127.0.0.1 in the container's own network namespace."""
    bundle = make_bundle(TCP_COUNTER)
    out = started_counter(shim, bundle, cid)

    def established() -> bool:
        return "ESTABLISHED" in shim.ok("exec", cid, "netstat", "-tn").out

    wait_until("the TCP connection", established)
    res = with_criu(shim, criu, "checkpoint", "--image-path", str(tmp_path / "no"), cid)
    assert_fails(res, "consider using --tcp-established option")
    assert status(shim, cid) == "running"  # a failed dump leaves the container running
    out.wait_for(len(out.numbers) + 2)

    checkpoint(shim, criu, tmp_path / "image", cid, "--tcp-established")
    last = out.wait_eof()[-1]
    out.close()
    failed = Pipe()
    res = detached(
        shim, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "image"),
        "--work-path", str(tmp_path / "work-no"), cid, stdout=failed.w, criu=criu,
    )  # fmt: skip
    failed.close()
    assert_fails(res, "Connected TCP socket in image")
    assert_nothing_left(shim, cid, bundle)

    new, _ = restored_counter(shim, criu, bundle, tmp_path / "image", cid, "--tcp-established")
    try:
        assert new.wait_for(2)[:2] == [last + 1, last + 2]
        assert established()  # the connection itself came back
    finally:
        new.close()


def test_restore_of_a_missing_image_dir_fails_and_leaves_nothing(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    missing = tmp_path / "missing"
    res = with_criu(
        shim, criu, "restore", "-d", "-b", str(bundle), "--image-path", str(missing), cid
    )
    assert_fails(res, f"restore: image path {missing}: no such file or directory")
    assert not missing.exists()  # runc would have made it
    assert shim.ok("list", "-q").out == ""
    assert_nothing_left(shim, cid, bundle)
    empty = tmp_path / "empty"
    empty.mkdir()
    res = with_criu(shim, criu, "restore", "-d", "-b", str(bundle), "--image-path", str(empty), cid)
    assert_fails(res, "not an image directory written by `checkpoint`")
    assert_nothing_left(shim, cid, bundle)


def test_restore_of_a_garbage_image_dir_fails_and_leaves_nothing(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "descriptors.json").write_text('["/dev/null", "pipe:[1]", "pipe:[1]"]')
    for name in ("inventory.img", "pstree.img", "core-1.img"):
        (garbage / name).write_bytes(os.urandom(512))
    before = set(os.listdir("/proc"))
    out = Pipe()
    res = detached(
        shim, "restore", "-d", "-b", str(bundle), "--image-path", str(garbage), cid,
        stdout=out.w, criu=criu,
    )  # fmt: skip
    out.close()
    assert_fails(res, "criu failed: type RESTORE")
    assert any(f"log file: {garbage}/restore.log" in m for m in error_messages(res.err)), res
    assert_nothing_left(shim, cid, bundle)
    left = [
        p for p in set(os.listdir("/proc")) - before if p.isdigit() and not process_gone(int(p))
    ]
    assert [p for p in left if _comm(p) == "criu"] == []

    (garbage / "descriptors.json").write_text("{not json")
    res = with_criu(
        shim, criu, "restore", "-d", "-b", str(bundle), "--image-path", str(garbage), cid
    )
    assert_fails(res, f"restore: {garbage}/descriptors.json: ")
    assert_nothing_left(shim, cid, bundle)


def test_checkpoint_of_a_paused_container(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """As runc: --leave-running leaves it paused; a plain checkpoint deletes it, and the
    restored container runs."""
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    shim.ok("pause", cid)
    checkpoint(shim, criu, tmp_path / "kept", cid, "--leave-running")
    assert status(shim, cid) == "paused"
    assert out.quiet_for(0.6)
    checkpoint(shim, criu, tmp_path / "image", cid)
    last = out.wait_eof()[-1]
    out.close()
    assert_fails(shim("state", cid), "container does not exist")
    new, _ = restored_counter(shim, criu, bundle, tmp_path / "image", cid)
    try:
        assert new.wait_for(2)[:2] == [last + 1, last + 2]
        assert status(shim, cid) == "running"
    finally:
        new.close()


def test_checkpoint_needs_a_running_or_paused_container(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(["true"])
    res = detached(shim, "create", "-b", str(bundle), cid, stdout=subprocess.DEVNULL)
    assert res.code == 0, res
    res = with_criu(shim, criu, "checkpoint", "--image-path", str(tmp_path / "i"), cid)
    assert_fails(res, "Container cannot be checkpointed in created state")
    shim.ok("start", cid)
    wait_status(shim, cid, "stopped")
    res = with_criu(shim, criu, "checkpoint", "--image-path", str(tmp_path / "i"), cid)
    assert_fails(res, "Container cannot be checkpointed in stopped state")
    assert_fails(with_criu(shim, criu, "checkpoint", "nosuch"), "container does not exist")


def test_restore_runs_prestart_and_create_runtime_hooks(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """runc runs them when criu has made the namespaces (setup-namespaces), with the pid
    of the restored init; poststop runs when the restored container is deleted."""
    log = tmp_path / "hooks.log"

    def hook(kind: str) -> dict[str, object]:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"(cat; echo ' {kind}') >> {log}"]}

    def edit(config: dict[str, object]) -> None:
        config["hooks"] = {k: [hook(k)] for k in ("prestart", "createRuntime", "poststop")}

    bundle = make_bundle(COUNTER, edit=edit)
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, tmp_path / "image", cid)
    out.wait_eof()
    out.close()
    log.write_text("")
    new, _ = restored_counter(shim, criu, bundle, tmp_path / "image", cid)
    try:
        pid = pid_of(shim, cid)
        lines = log.read_text().splitlines()
        assert [line.rsplit(" ", 1)[1] for line in lines] == ["prestart", "createRuntime"]
        for line in lines:
            state = json.loads(line.rsplit(" ", 1)[0])
            assert (state["id"], state["pid"], state["status"]) == (cid, pid, "creating")
        shim.ok("delete", "--force", cid)
        assert log.read_text().splitlines()[-1].endswith(" poststop")
    finally:
        new.close()


def test_options_are_checked_with_runc_texts(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    image = str(tmp_path / "image")
    try:
        cases = [
            (("--manage-cgroups-mode", "bogus"), "Invalid manage cgroups mode"),
            (("--empty-ns", "ipc"), 'namespace "ipc" is not supported'),
            (("--page-server", "bogus"), "Use --page-server ADDRESS:PORT to specify page server"),
            (("--page-server", "127.0.0.1:x"), "Invalid port number"),
            (("--parent-path", "/abs"), "--parent-path must be relative"),
            (("--parent-path", "nope"), f"invalid --parent-path: stat {image}/nope: no such file"),
        ]
        for flags, text in cases:
            res = with_criu(shim, criu, "checkpoint", "--image-path", image, *flags, cid)
            assert_fails(res, text)
        assert status(shim, cid) == "running"
        res = with_criu(
            shim, criu, "restore", "-d", "-b", str(bundle), "--lsm-profile", "apparmor:x", cid + "x"
        )
        assert_fails(res, "--lsm-profile: no LSM")
    finally:
        out.close()


def test_pre_dump_says_what_the_kernel_lacks(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    check = subprocess.run(
        [criu, "check", "--feature", "mem_dirty_track"], capture_output=True, timeout=TIMEOUT
    )
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    try:
        res = with_criu(
            shim, criu, "checkpoint", "--pre-dump", "--image-path", str(tmp_path / "pre"), cid
        )
        if check.returncode != 0:  # this VM: no CONFIG_MEM_SOFT_DIRTY
            assert_fails(res, "this kernel does not offer: it lacks soft-dirty page tracking")
        else:  # a kernel with soft-dirty: the pre-dump works and a dump builds on it
            assert res.code == 0, res
            checkpoint(shim, criu, tmp_path / "image", cid, "--parent-path", "../pre")
            return
        assert status(shim, cid) == "running"
    finally:
        out.close()


def test_criu_too_old_or_missing_is_a_clear_error(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    try:
        res = with_criu(shim, str(tmp_path / "no-criu"), "checkpoint", cid)
        assert_fails(res, f"CRIU version check failed: fork/exec {tmp_path}/no-criu: no such file")
        # Without --criu: $SHIM_CRIU, else `criu` on PATH (runc's default).
        env = {**os.environ, "SHIM_CRIU": str(tmp_path / "env-criu")}
        proc = subprocess.run(
            shim.argv("checkpoint", cid), env=env, capture_output=True, timeout=TIMEOUT
        )
        assert f"fork/exec {tmp_path}/env-criu: no such file".encode() in proc.stderr
        env = {**os.environ, "PATH": str(tmp_path)}
        env.pop("SHIM_CRIU", None)
        proc = subprocess.run(
            shim.argv("checkpoint", cid), env=env, capture_output=True, timeout=TIMEOUT
        )
        assert b'exec: \\"criu\\": executable file not found in $PATH' in proc.stderr
        debian = (
            "/usr/sbin/criu"  # Debian bookworm's 3.17: it cannot dump on kernels with vvar_vclock
        )
        version = subprocess.run([debian, "--version"], capture_output=True, timeout=TIMEOUT)
        if b"Version: 3." not in version.stdout:
            pytest.skip(f"{debian} is not Debian bookworm's criu 3.x: {version.stdout!r}")
        if b"[vvar_vclock]" not in Path("/proc/self/maps").read_bytes():
            pytest.skip("this kernel has no [vvar_vclock]: criu 3.x is new enough here")
        res = with_criu(shim, debian, "checkpoint", "--image-path", str(tmp_path / "i"), cid)
        assert_fails(res, "(/usr/sbin/criu) is too old: checkpoint/restore need criu >= 4.1")
        assert status(shim, cid) == "running"
    finally:
        out.close()


def test_no_host_mount_is_made_by_restore(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """criu restores from a mount namespace of its own: the host's mount table never
    shows the rootfs bind (runc binds it on the host, in its state dir)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("hi\n")

    def edit(config: dict[str, object]) -> None:
        mounts = config["mounts"]
        assert isinstance(mounts, list)
        mounts.append(
            {
                "destination": "/data/sub",
                "type": "bind",
                "source": str(data),
                "options": ["rbind", "ro"],
            }
        )

    bundle = make_bundle(COUNTER, edit=edit)
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, tmp_path / "image", cid)
    out.wait_eof()
    out.close()
    host_before = Path("/proc/self/mountinfo").read_text()
    new, _ = restored_counter(shim, criu, bundle, tmp_path / "image", cid)
    try:
        assert Path("/proc/self/mountinfo").read_text() == host_before
        assert shim.ok("exec", cid, "cat", "/data/sub/hello").out == "hi\n"
    finally:
        new.close()


def test_page_server_receives_the_pages(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """runc's checkpoint.bats way: a `criu page-server` on loopback takes the memory pages
    (into the same image dir here); the restore reads them back."""
    image = tmp_path / "image"
    image.mkdir()
    with socket.socket() as probe:  # a free port (criu's own choice is not reported)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [criu, "page-server", "--images-dir", str(image), "--address", "127.0.0.1",
         "--port", str(port), "--status-fd", "1", "-o", str(tmp_path / "page-server.log")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert server.stdout is not None
    try:
        assert server.stdout.read(1) == b"\0"  # criu's "listening" on its status fd
        bundle = make_bundle(COUNTER)
        out = started_counter(shim, bundle, cid)
        checkpoint(shim, criu, image, cid, "--page-server", f"127.0.0.1:{port}")
        assert server.wait(timeout=TIMEOUT) == 0  # one session, then it exits
        last = out.wait_eof()[-1]
        out.close()
        assert list(image.glob("pages-*.img"))  # written by the page server
        new, _ = restored_counter(shim, criu, bundle, image, cid)
        try:
            assert new.wait_for(2)[:2] == [last + 1, last + 2]
        finally:
            new.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=TIMEOUT)
        server.stdout.close()


def test_lazy_pages_are_refused_clearly(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    try:
        res = with_criu(
            shim, criu, "checkpoint", "--lazy-pages", "--page-server", "127.0.0.1:1", cid
        )
        assert_fails(res, "--lazy-pages: lazy migration is not supported by shim")
        assert status(shim, cid) == "running"
        res = with_criu(shim, criu, "restore", "-d", "--lazy-pages", "-b", str(bundle), cid + "x")
        assert_fails(res, "--lazy-pages: lazy migration is not supported by shim")
        assert_nothing_left(shim, cid + "x", bundle)
    finally:
        out.close()


def test_terminal_container_gets_its_pty_back_through_the_console_socket(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """criu restores the pty slave and sends the orphaned master (orphan-pts-master); it
    goes to --console-socket, named "orphan-pts-master" as runc names it."""

    def terminal(config: dict[str, object]) -> None:
        process = config["process"]
        assert isinstance(process, dict)
        process["terminal"] = True

    bundle = make_bundle(COUNTER, edit=terminal)
    with ConsoleListener(tmp_path / "c1.sock") as listener:
        shim.ok("run", "-d", "-b", str(bundle), "--console-socket", str(tmp_path / "c1.sock"), cid)
        master = listener.take_master()
        try:
            seen = read_until(master, b"3\r\n")
            checkpoint(shim, criu, tmp_path / "image", cid)
            seen += read_to_close(master)  # the slave is gone with the tree
            last = int(seen.split()[-1])
        finally:
            os.close(master)
    res = with_criu(
        shim, criu, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "image"), cid
    )
    assert_fails(res, "cannot allocate tty if runc will detach without setting console socket")
    assert_nothing_left(shim, cid, bundle)
    with ConsoleListener(tmp_path / "c2.sock") as listener:
        res = with_criu(
            shim, criu, "restore", "-d", "-b", str(bundle), "--image-path",
            str(tmp_path / "image"), "--console-socket", str(tmp_path / "c2.sock"), cid,
        )  # fmt: skip
        assert res.code == 0, res
        assert listener.received().data == b"orphan-pts-master"
        master = listener.take_master()
        try:
            read_until(master, f"{last + 2}\r\n".encode())
            assert status(shim, cid) == "running"
        finally:
            os.close(master)


def test_restore_makes_mountpoints_inside_the_rootfs_only(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """A rootfs whose mountpoint path is a symlink to a host directory, planted between
    checkpoint and restore: the link is resolved with the rootfs as "/", where its
    target does not exist, so restore refuses; nothing is made in the host directory
    the link names (runc's securejoin would make the target inside the rootfs)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    data = tmp_path / "data"
    data.mkdir()

    def edit(config: dict[str, object]) -> None:
        mounts = config["mounts"]
        assert isinstance(mounts, list)
        mounts.append({"destination": "/mnt/x/y", "type": "bind", "source": str(data)})

    bundle = make_bundle(COUNTER, edit=edit)
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, tmp_path / "image", cid)
    out.wait_eof()
    out.close()
    mnt = bundle / "rootfs" / "mnt"
    for child in sorted(mnt.rglob("*"), reverse=True):
        child.rmdir()
    mnt.rmdir()
    mnt.symlink_to(outside)  # absolute: on the host it would lead out of the rootfs
    res = detached(
        shim, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "image"), cid,
        stdout=subprocess.DEVNULL, criu=criu,
    )  # fmt: skip
    assert list(outside.iterdir()) == [], res  # nothing was made on the host side
    assert_fails(res, "restore: mountpoint /mnt/x/y in the rootfs: No such file or directory")
    assert_nothing_left(shim, cid, bundle)


def test_failing_prestart_hook_fails_the_restore_and_leaves_nothing(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """The hook fails while criu is mid-restore (setup-namespaces): criu is told nothing
    more, kills what it restored, and everything made is undone."""
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    checkpoint(shim, criu, tmp_path / "image", cid)
    out.wait_eof()
    out.close()
    config = json.loads((bundle / "config.json").read_text())
    config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}
    (bundle / "config.json").write_text(json.dumps(config))
    failed = Pipe()
    res = detached(
        shim, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "image"), cid,
        stdout=failed.w, criu=criu,
    )  # fmt: skip
    failed.close_writer()
    try:
        assert_fails(res, "error running hook #0: error running hook: exit status 3")
        assert failed.wait_eof() == []  # the restored counter never ran on
        assert_nothing_left(shim, cid, bundle)
    finally:
        failed.close()


def test_image_paths_resolve_as_runcs(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """checkpoint's paths are relative to the cwd (default ./checkpoint); restore's to the
    bundle (runc chdirs into it first)."""
    bundle = make_bundle(COUNTER)
    out = started_counter(shim, bundle, cid)
    shim.ids.add(cid)
    res = shim("--criu", criu, "checkpoint", cid, cwd=str(tmp_path))
    assert res.code == 0, res
    last = out.wait_eof()[-1]
    out.close()
    assert (tmp_path / "checkpoint" / "inventory.img").exists()
    new = Pipe()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shim.ids.add(cid)
    proc = subprocess.run(
        shim.argv("--criu", criu, "restore", "-d", "-b", str(bundle), "--image-path",
                  "../checkpoint", "--work-path", "work", cid),
        cwd=elsewhere, stdin=subprocess.DEVNULL, stdout=new.w, stderr=subprocess.DEVNULL,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    new.close_writer()
    try:
        assert proc.returncode == 0
        assert new.wait_for(1)[0] == last + 1
        assert (bundle / "work" / "restore.log").exists()
    finally:
        new.close()


def test_network_namespace_joined_by_path_is_external(
    shim: Shim, criu: str, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """A container that joins another's network namespace: criu leaves that namespace out
    of the images (extRootNetNS, as runc) and the restored one joins it again."""
    host = cid + "-net"
    owner = started_counter(shim, make_bundle(COUNTER, name="owner"), host)
    netns = f"/proc/{pid_of(shim, host)}/ns/net"

    def join(config: dict[str, object]) -> None:
        linux = config["linux"]
        assert isinstance(linux, dict)
        for ns in linux["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = netns

    bundle = make_bundle(COUNTER, edit=join, name="joiner")
    out = started_counter(shim, bundle, cid)
    try:
        checkpoint(shim, criu, tmp_path / "image", cid)
        last = out.wait_eof()[-1]
        new, _ = restored_counter(shim, criu, bundle, tmp_path / "image", cid)
        try:
            assert new.wait_for(1)[0] == last + 1
            restored = os.stat(f"/proc/{pid_of(shim, cid)}/ns/net").st_ino
            assert restored == os.stat(netns).st_ino
        finally:
            new.close()
    finally:
        out.close()
        owner.close()


@pytest.mark.parametrize("runtime_name", ["shim", "runc"])
def test_host_dev_null_stdio_is_reopened_inside(
    runtime_name: str,
    shim: Shim,
    runc: Shim,
    make_bundle: BundleFactory,
    cid: str,
    tmp_path: Path,
) -> None:
    """runc's reOpenDevNull, which criu relies on: a container given the host's /dev/null
    as stdin holds the container's own /dev/null (on its /dev tmpfs) instead."""
    runtime = shim if runtime_name == "shim" else runc
    script = (
        "grep mnt_id /proc/self/fdinfo/0 | tr -dc 0-9; echo; "
        "grep ' /dev rw' /proc/self/mountinfo | cut -d' ' -f1"
    )
    bundle = make_bundle(["sh", "-c", script])
    out = tmp_path / "out"
    runtime.ids.add(cid)
    with out.open("wb") as f:
        proc = subprocess.run(
            runtime.argv("run", "-d", "-b", str(bundle), cid),
            stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.DEVNULL, timeout=TIMEOUT,
        )  # fmt: skip
    assert proc.returncode == 0
    wait_status(runtime, cid, "stopped")
    fd0_mount, dev_mount = out.read_text().split()
    assert fd0_mount == dev_mount
