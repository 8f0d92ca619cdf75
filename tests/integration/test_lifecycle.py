"""The container lifecycle through the CLI, checked against runc 1.1's observable behaviour.

create -> created -> start -> running -> (exit or kill) -> stopped -> delete, plus `run`
in its foreground, detached and --keep forms. A container that must report something
writes to its stdout, which `create` hands over as-is: the tests pass a file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import TIMEOUT, BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import (
    assert_fails,
    cmdline,
    pid_of,
    process_gone,
    status,
    wait_status,
    wait_until,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

LOOP = "while true; do sleep 0.05; done"
# Reports each signal it catches on stdout; `ready` once the traps are in place.
TRAPPER = [
    "sh",
    "-c",
    "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 42' TERM; echo ready; " + LOOP,
]


def create_with_stdout(shim: Shim, cid: str, bundle: Path, out: Path) -> None:
    """`create` with the container's stdout (inherited from create) going to `out`."""
    shim.ids.add(cid)
    # A file for stderr too: the container inherits it and would hold a pipe open.
    with out.open("wb") as f, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            shim.argv("create", "--bundle", str(bundle), cid),
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=err,
            timeout=TIMEOUT,
            check=False,
        )
        err.seek(0)
        assert proc.returncode == 0, err.read()


def started_trapper(shim: Shim, make_bundle: BundleFactory, cid: str, out: Path) -> None:
    create_with_stdout(shim, cid, make_bundle(TRAPPER), out)
    shim.ok("start", cid)
    wait_until("the traps to be installed", lambda: "ready" in out.read_text())


def test_create_leaves_a_created_container_that_has_not_execed_yet(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    args = ["sh", "-c", LOOP]
    res = shim("create", "--bundle", str(make_bundle(args)), cid)
    assert (res.code, res.out) == (0, ""), res
    state = shim.state(cid)
    assert state["status"] == "created"
    assert state["id"] == cid
    pid = pid_of(shim, cid)
    assert pid > 0
    assert not process_gone(pid)
    assert cmdline(pid) != args  # still the init helper, blocked until start


def test_start_returns_only_after_the_process_execed(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    args = ["sh", "-c", LOOP]
    shim.ok("create", "--bundle", str(make_bundle(args)), cid)
    pid = pid_of(shim, cid)
    res = shim.ok("start", cid)
    assert (res.out, res.err) == ("", "")
    # No waiting: when start returns the execve has happened.
    assert cmdline(pid) == args
    assert shim.state(cid)["status"] == "running"
    assert pid_of(shim, cid) == pid


@pytest.mark.parametrize(
    ("sig", "reported"),
    [
        ("SIGUSR1", "got-usr1"),
        ("usr1", "got-usr1"),
        ("10", "got-usr1"),
        ("sigterm", "got-term"),
        ("TERM", "got-term"),
        ("15", "got-term"),
    ],
)
def test_kill_delivers_signals_given_by_name_or_number(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, sig: str, reported: str
) -> None:
    out = tmp_path / "out"
    started_trapper(shim, make_bundle, cid, out)
    shim.ok("kill", cid, sig)
    wait_until(f"the container to report {reported}", lambda: reported in out.read_text())
    if reported == "got-term":
        wait_status(shim, cid, "stopped")
    else:
        assert status(shim, cid) == "running"


def test_kill_without_a_signal_sends_sigterm(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    started_trapper(shim, make_bundle, cid, out)
    shim.ok("kill", cid)
    wait_until("the container to report got-term", lambda: "got-term" in out.read_text())
    wait_status(shim, cid, "stopped")


@pytest.mark.parametrize("sig", ["KILL", "9", "SIGKILL", "kill"])
def test_kill_with_sigkill_stops_a_container_that_traps_everything(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, sig: str
) -> None:
    out = tmp_path / "out"
    started_trapper(shim, make_bundle, cid, out)
    pid = pid_of(shim, cid)
    shim.ok("kill", cid, sig)
    wait_status(shim, cid, "stopped")
    assert process_gone(pid)


def test_kill_of_a_created_container_stops_it(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    shim.ok("kill", cid, "KILL")
    wait_status(shim, cid, "stopped")


def test_container_is_stopped_with_pid_zero_after_its_process_exits(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_bundle(["sh", "-c", "exit 3"])), cid)
    shim.ok("start", cid)
    wait_status(shim, cid, "stopped")
    state = shim.state(cid)
    assert state["pid"] == 0
    assert state["status"] == "stopped"
    shim.ok("delete", cid)
    assert_fails(shim("state", cid), "container does not exist")


def test_delete_of_a_created_container_kills_and_removes_it(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    pid = pid_of(shim, cid)
    shim.ok("delete", cid)  # no --force needed for `created`
    assert process_gone(pid)
    assert_fails(shim("state", cid), "container does not exist")
    assert shim.ok("list", "-q").out == ""


def test_delete_of_a_running_container_needs_force(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    pid = pid_of(shim, cid)
    assert_fails(shim("delete", cid), f"cannot delete container {cid} that is not stopped: running")
    assert status(shim, cid) == "running"
    assert not process_gone(pid)
    res = shim.ok("delete", "--force", cid)
    assert res.out == ""
    assert process_gone(pid)
    assert_fails(shim("state", cid), "container does not exist")


def test_delete_force_of_an_unknown_id_succeeds_quietly(shim: Shim, cid: str) -> None:
    res = shim("delete", "--force", cid)
    assert (res.code, res.out, res.err) == (0, "", ""), res


def test_kill_all_on_a_stopped_container_succeeds(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["true"])), cid)
    wait_status(shim, cid, "stopped")
    res = shim("kill", "--all", cid, "KILL")
    assert (res.code, res.err) == (0, ""), res
    res = shim("kill", "--all", cid, "9")  # go-runc passes numbers
    assert (res.code, res.err) == (0, ""), res


def test_kill_on_a_stopped_container_says_not_running(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["true"])), cid)
    wait_status(shim, cid, "stopped")
    assert_fails(shim("kill", cid, "KILL"), "container not running")
    assert_fails(shim("kill", cid), "container not running")


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_run_exits_with_the_process_exit_status(
    shim: Shim, make_bundle: BundleFactory, cid: str, code: int
) -> None:
    res = shim("run", "--bundle", str(make_bundle(["sh", "-c", f"exit {code}"])), cid)
    assert res.code == code, res
    assert_fails(shim("state", cid), "container does not exist")  # no --keep: removed


def test_run_relays_the_container_output(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    res = shim("run", "--bundle", str(make_bundle(["sh", "-c", "echo out; echo err >&2"])), cid)
    assert res.code == 0, res
    assert res.out == "out\n"
    assert "err\n" in res.err


def _popen_run(
    shim: Shim, cid: str, bundle: Path, out: Path, *flags: str
) -> subprocess.Popen[bytes]:
    shim.ids.add(cid)
    with out.open("wb") as f:
        return subprocess.Popen(
            shim.argv("run", *flags, "--bundle", str(bundle), cid),
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
        )


def _finish(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


def test_run_exits_137_when_the_process_is_killed_by_sigkill(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = _popen_run(shim, cid, make_bundle(TRAPPER), out)
    try:
        wait_until("the traps to be installed", lambda: "ready" in out.read_text())
        shim.ok("kill", cid, "KILL")
    finally:
        code = _finish(proc)
    assert code == 137, out.read_text()


def test_run_forwards_sigterm_to_the_container_init(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = _popen_run(shim, cid, make_bundle(TRAPPER), out)
    try:
        wait_until("the traps to be installed", lambda: "ready" in out.read_text())
        assert status(shim, cid) == "running"
        proc.send_signal(signal.SIGTERM)
    finally:
        code = _finish(proc)
    assert code == 42, out.read_text()
    assert "got-term" in out.read_text()
    assert_fails(shim("state", cid), "container does not exist")


def test_run_keep_leaves_the_container_stopped_until_delete(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    res = shim("run", "--keep", "--bundle", str(make_bundle(["sh", "-c", "exit 3"])), cid)
    assert res.code == 3, res
    state = shim.state(cid)
    assert (state["status"], state["pid"]) == ("stopped", 0)
    assert shim.ok("list", "-q").out == f"{cid}\n"
    shim.ok("delete", cid)
    assert_fails(shim("state", cid), "container does not exist")
    assert shim.ok("list", "-q").out == ""


def test_run_detached_returns_zero_and_the_container_runs(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    res = shim("run", "-d", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    assert (res.code, res.out) == (0, ""), res
    assert status(shim, cid) == "running"
    assert not process_gone(pid_of(shim, cid))


def test_run_detached_returns_zero_even_if_the_process_fails_at_once(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    res = shim("run", "-d", "--bundle", str(make_bundle(["false"])), cid)
    assert res.code == 0, res
    wait_status(shim, cid, "stopped")


@pytest.mark.parametrize("verb", ["create", "run -d"])
def test_pid_file_holds_the_host_pid_without_a_newline(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, verb: str
) -> None:
    bundle = make_bundle(["sh", "-c", LOOP])
    # Relative: made absolute against the caller's cwd, not the bundle.
    res = shim(
        *verb.split(), "--pid-file", "init.pid", "--bundle", str(bundle), cid, cwd=str(tmp_path)
    )
    assert res.code == 0, res
    text = (tmp_path / "init.pid").read_text()
    assert text == str(pid_of(shim, cid))
    assert not process_gone(int(text))
    assert not (bundle / "init.pid").exists()


def test_list_shows_the_container_in_table_json_and_quiet_form(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", LOOP])
    shim.ok("create", "--bundle", str(bundle), cid)
    state = shim.state(cid)

    header, *rows = shim.ok("list").out.splitlines()
    assert header.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert [r.split() for r in rows] == [
        [cid, str(state["pid"]), "created", str(bundle), str(state["created"]), "root"]
    ]

    out = shim.ok("list", "-f", "json").out
    assert out.endswith("]\n")
    assert "\n" not in out[:-1]
    listed = json.loads(out)
    assert listed == [{**state, "owner": "root"}]
    assert list(listed[0]) == list(state)

    assert shim.ok("list", "-q").out == f"{cid}\n"
    assert shim.ok("list", "--format=json", "--quiet").out == f"{cid}\n"


def test_state_output_is_indented_json_without_a_trailing_newline(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    out = shim.ok("state", cid).out
    assert out.startswith('{\n  "ociVersion": ')
    assert out.endswith("\n}")


def test_start_on_a_running_container_fails(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    assert_fails(shim("start", cid), "cannot start an already running container")
    assert status(shim, cid) == "running"


def test_start_on_a_stopped_container_fails(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    shim.ok("kill", cid, "KILL")
    wait_status(shim, cid, "stopped")
    assert_fails(shim("start", cid), "cannot start a container that has stopped")
    assert status(shim, cid) == "stopped"


def test_two_containers_live_side_by_side_in_one_root(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    first, second = f"{cid}-a", f"{cid}-b"
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sh", "-c", LOOP], name="a")), first)
    shim.ok("create", "--bundle", str(make_bundle(["sh", "-c", LOOP], name="b")), second)
    assert shim.ok("list", "-q").out == f"{first}\n{second}\n"
    assert (status(shim, first), status(shim, second)) == ("running", "created")
    assert pid_of(shim, first) != pid_of(shim, second)

    shim.ok("start", second)
    shim.ok("kill", first, "KILL")
    wait_status(shim, first, "stopped")
    assert status(shim, second) == "running"
    shim.ok("delete", first)
    assert shim.ok("list", "-q").out == f"{second}\n"
    assert status(shim, second) == "running"


def test_kill_with_signal_zero_probes_without_harm(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sh", "-c", LOOP])), cid)
    pid = pid_of(shim, cid)
    shim.ok("kill", cid, "0")
    assert status(shim, cid) == "running"
    assert pid_of(shim, cid) == pid


def test_preserve_fds_hands_the_callers_fd_3_to_the_container(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(["sh", "-c", "cat <&3"])
    data = tmp_path / "data"
    data.write_text("through fd 3\n")
    out = tmp_path / "out"
    shim.ids.add(cid)
    with data.open("rb") as src, out.open("wb") as f, tempfile.TemporaryFile() as err:
        n = src.fileno()
        # bash (dash takes one-digit fds only) puts our file at the runtime's fd 3,
        # whatever fd 3 is in this process.
        argv = shim.argv("run", "--preserve-fds", "1", "--bundle", str(bundle), cid)
        proc = subprocess.run(
            ["/bin/bash", "-c", f'exec "$@" 3<&{n} {n}<&-', "bash", *argv],
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=err,
            pass_fds=(n,),
            timeout=TIMEOUT,
            check=False,
        )
        err.seek(0)
        assert proc.returncode == 0, err.read()
    assert out.read_text() == "through fd 3\n"
