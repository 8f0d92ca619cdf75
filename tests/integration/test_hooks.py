"""OCI hooks: when and where each kind runs, what it gets, and what its failure does.

Every hook is a small /bin/sh script that records what it saw into files under
`out/` (bind-mounted at /out in the container for startContainer, which runs after
pivot_root and so must live inside the rootfs). Host-side hooks (prestart,
createRuntime, poststart, poststop) and createContainer (container namespaces, host
filesystem view before pivot) write to the host path of `out/` directly.

The expected behaviour is the OCI spec's where it differs from runc 1.1: poststart runs
at `start` after the user process started, and a failing poststart or poststop hook
is only logged.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Result, Shim, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
CREATE_KINDS = ["prestart", "createRuntime", "createContainer"]
HOST_KINDS = {"prestart", "createRuntime", "poststart", "poststop"}
HOOK_ENV = ["HOOK_VAR=value", "SPACED=a b  c"]
HOOK_ARGS = ["first", "two words", ""]
LONG_RUNNING = ["sh", "-c", "echo user-process > /out/user.saw; exec sleep 30"]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Hooks:
    """Writes hook scripts for one bundle and reads back what they recorded."""

    def __init__(self, tmp_path: Path) -> None:
        self.bundle = tmp_path / "bundle"  # make_bundle's default name
        self.rootfs = self.bundle / "rootfs"
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.scripts = tmp_path / "hooks"
        self.scripts.mkdir()
        self.config: dict[str, list[dict[str, Any]]] = {}
        self._in_rootfs: dict[str, str] = {}  # startContainer scripts, written after the bundle

    def add(
        self,
        kind: str,
        name: str | None = None,
        tail: str = "",
        timeout: int | None = None,
        env: list[str] | None = None,
        args: list[str] | None = None,
    ) -> str:
        """Add a recording hook of `kind`; `tail` is shell code run after recording."""
        name = name or f"{kind}-{len(self.config.get(kind, []))}"
        inside = kind == "startContainer"
        out = "/out" if inside else str(self.out)
        # /proc/$$ must be in the hook's own pid namespace: before pivot that is the
        # container's procfs at <rootfs>/proc (the host's /proc is still at /proc).
        proc = f"{self.rootfs}/proc" if kind == "createContainer" else "/proc"
        text = f"""#!/bin/sh
echo {name} >> {out}/order
cat > {out}/{name}.stdin
cat {proc}/$$/environ > {out}/{name}.env
pwd > {out}/{name}.cwd
for a in "$@"; do echo "$a"; done > {out}/{name}.args
echo $$ > {out}/{name}.pid
readlink /proc/self/ns/mnt > {out}/{name}.mntns
readlink /proc/self/ns/pid > {out}/{name}.pidns
ls {self.rootfs}/dev > {out}/{name}.rootfs-dev 2>/dev/null || true
{tail}
"""
        if inside:
            path = f"/hooks/{name}.sh"
            self._in_rootfs[path] = text
        else:
            script = self.scripts / f"{name}.sh"
            script.write_text(text)
            script.chmod(0o755)
            path = str(script)
        entry: dict[str, Any] = {"path": path, "args": [path, *(args or [])], "env": env or []}
        if timeout is not None:
            entry["timeout"] = timeout
        self.config.setdefault(kind, []).append(entry)
        return name

    def edit(self, c: dict[str, Any]) -> None:
        c["hooks"] = self.config
        c["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(self.out), "options": ["rbind"]}
        )

    def make(self, make_bundle: BundleFactory, args: list[str] = LONG_RUNNING) -> Path:
        bundle = make_bundle(args, edit=self.edit)
        assert bundle == self.bundle
        for path, text in self._in_rootfs.items():
            script = self.rootfs / path.lstrip("/")
            script.parent.mkdir(exist_ok=True)
            script.write_text(text)
            script.chmod(0o755)
        return bundle

    def ran(self, name: str) -> bool:
        return (self.out / f"{name}.pid").exists()

    def read(self, name: str, what: str) -> str:
        return (self.out / f"{name}.{what}").read_text()

    def state(self, name: str) -> dict[str, Any]:
        raw = self.read(name, "stdin")
        assert not raw.endswith("\n"), raw
        data = json.loads(raw)
        assert isinstance(data, dict)
        return data

    def order(self) -> list[str]:
        path = self.out / "order"
        return path.read_text().split() if path.exists() else []


@pytest.fixture
def hooks(tmp_path: Path) -> Hooks:
    return Hooks(tmp_path)


def create(shim: Shim, bundle: Path, cid: str) -> Result:
    return shim("create", "--bundle", str(bundle), cid)


def stop(shim: Shim, cid: str) -> None:
    shim.ok("kill", cid, "KILL")
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the container to stop")


def gone(shim: Shim, cid: str) -> None:
    """The container is not known any more: no state, not listed."""
    res = shim("state", cid)
    assert res.code == 1, res
    assert "does not exist" in res.err, res
    assert cid not in shim.ok("list", "-q").out.split()


def own_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


# -- when and where ------------------------------------------------------------------------------


def test_each_kind_runs_at_its_step_of_the_lifecycle(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    for kind in KINDS:
        hooks.add(kind, name=kind)
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    assert hooks.order() == ["prestart", "createRuntime", "createContainer"]
    shim.ok("start", cid)
    assert hooks.order()[3:] == ["startContainer", "poststart"]
    assert (hooks.out / "user.saw").exists()
    stop(shim, cid)
    assert len(hooks.order()) == 5
    shim.ok("delete", cid)
    assert hooks.order() == KINDS


def test_each_kind_runs_in_order_under_foreground_run(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    for kind in KINDS:
        hooks.add(kind, name=kind)
    bundle = hooks.make(make_bundle, ["sh", "-c", "echo user-process > /out/user.saw"])
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert hooks.order() == KINDS
    assert [hooks.state(k)["status"] for k in KINDS] == [
        *("created", "creating", "creating", "created", "running", "stopped")
    ]  # prestart: runtime-spec 1.0's hook, after create (crun's choice; runc says creating)
    gone(shim, cid)


@pytest.mark.parametrize(
    ("kind", "status"), [("prestart", "created"), ("createRuntime", "creating")]
)
def test_runtime_hooks_run_on_the_host_with_their_state_and_host_pid(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str, status: str
) -> None:
    name = hooks.add(kind)
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    pid = shim.state(cid)["pid"]
    assert hooks.state(name) == {
        "ociVersion": hooks.state(name)["ociVersion"],
        "id": cid,
        "status": status,
        "pid": pid,
        "bundle": str(bundle),
    }
    assert hooks.read(name, "mntns") == own_ns("mnt") + "\n"
    assert hooks.read(name, "pidns") == own_ns("pid") + "\n"
    assert hooks.read(name, "cwd") == f"{bundle}\n"
    # The container's mounts are made (its /dev is a tmpfs only its mount namespace sees).
    assert hooks.read(name, "rootfs-dev") == ""


def test_create_container_hook_runs_in_the_containers_namespaces_before_pivot(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    name = hooks.add("createContainer")
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    pid = shim.state(cid)["pid"]
    state = hooks.state(name)
    assert (state["id"], state["status"], state["pid"], state["bundle"]) == (
        cid,
        "creating",
        1,
        str(bundle),
    )
    assert hooks.read(name, "mntns") == os.readlink(f"/proc/{pid}/ns/mnt") + "\n"
    assert hooks.read(name, "pidns") == os.readlink(f"/proc/{pid}/ns/pid") + "\n"
    assert hooks.read(name, "mntns") != own_ns("mnt") + "\n"
    # Its own pid is small: a pid in the container's pid namespace, where the init is 1.
    assert 1 < int(hooks.read(name, "pid")) < 100
    # Before pivot: the script ran from its host path, its cwd is the rootfs's host path, and
    # the container's mounts are in place below the rootfs (the tmpfs /dev with its nodes).
    assert hooks.read(name, "cwd") == f"{hooks.rootfs}\n"
    assert {"null", "zero", "urandom", "pts"} <= set(hooks.read(name, "rootfs-dev").split())


def test_start_container_hook_runs_inside_after_pivot_at_start(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    name = hooks.add("startContainer")
    bundle = hooks.make(make_bundle, ["sh", "-c", "cat /out/order > /out/user.saw; exec sleep 30"])
    shim.ok("create", "--bundle", str(bundle), cid)
    assert not hooks.ran(name)
    shim.ok("start", cid)
    pid = shim.state(cid)["pid"]
    state = hooks.state(name)
    assert (state["id"], state["status"], state["pid"], state["bundle"]) == (
        cid,
        "created",
        1,
        str(bundle),
    )
    assert hooks.read(name, "mntns") == os.readlink(f"/proc/{pid}/ns/mnt") + "\n"
    assert hooks.read(name, "pidns") == os.readlink(f"/proc/{pid}/ns/pid") + "\n"
    assert hooks.read(name, "cwd") == "/\n"
    # Ran before the user process: the process saw the hook's record.
    wait_for(lambda: (hooks.out / "user.saw").exists(), "the user process to write")
    assert hooks.read("user", "saw") == f"{name}\n"


def test_poststart_hook_runs_at_start_after_the_user_process_started(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    name = hooks.add(
        "poststart",
        tail=f"pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/' {hooks.out}/poststart-0.stdin)\n"
        f"readlink /proc/$pid/exe > {hooks.out}/poststart-0.exe",
    )
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    assert not hooks.ran(name)  # not at create (runc 1.1 runs it there; the spec says start)
    shim.ok("start", cid)
    pid = shim.state(cid)["pid"]
    assert hooks.state(name) == {
        "ociVersion": hooks.state(name)["ociVersion"],
        "id": cid,
        "status": "running",
        "pid": pid,
        "bundle": str(bundle),
    }
    assert hooks.read(name, "exe") == "/bin/busybox\n"  # the helper had exec'd the process
    assert hooks.read(name, "mntns") == own_ns("mnt") + "\n"


def test_poststop_hook_runs_at_delete_with_the_stopped_state(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    name = hooks.add("poststop")
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    shim.ok("start", cid)
    stop(shim, cid)
    assert not hooks.ran(name)
    shim.ok("delete", cid)
    state = hooks.state(name)
    assert state == {
        "ociVersion": state["ociVersion"],
        "id": cid,
        "status": "stopped",
        "bundle": str(bundle),
    }
    assert hooks.read(name, "mntns") == own_ns("mnt") + "\n"
    gone(shim, cid)


def test_poststop_hook_runs_when_run_ends(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    name = hooks.add("poststop")
    bundle = hooks.make(make_bundle, ["true"])
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert hooks.state(name)["status"] == "stopped"
    gone(shim, cid)


# -- what a hook gets: stdin, env, args, order ---------------------------------------------------


def _all_kinds_lifecycle(shim: Shim, bundle: Path, cid: str) -> None:
    shim.ok("create", "--bundle", str(bundle), cid)
    shim.ok("start", cid)
    stop(shim, cid)
    shim.ok("delete", cid)


@pytest.mark.parametrize("kind", KINDS)
def test_hook_env_is_exactly_its_own(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str
) -> None:
    name = hooks.add(kind, env=HOOK_ENV)
    other = hooks.add(kind, name=f"{kind}-empty")  # no env at all
    _all_kinds_lifecycle(shim, hooks.make(make_bundle), cid)
    assert hooks.read(name, "env") == "".join(f"{e}\0" for e in HOOK_ENV)
    assert hooks.read(other, "env") == ""


@pytest.mark.parametrize("kind", KINDS)
def test_hook_args_are_passed_as_given(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str
) -> None:
    name = hooks.add(kind, args=HOOK_ARGS)
    _all_kinds_lifecycle(shim, hooks.make(make_bundle), cid)
    assert hooks.read(name, "args") == "".join(f"{a}\n" for a in HOOK_ARGS)


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_of_one_kind_run_in_config_order(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str
) -> None:
    names = ["charlie", "alpha", "bravo"]
    for name in names:
        hooks.add(kind, name=name)
    _all_kinds_lifecycle(shim, hooks.make(make_bundle), cid)
    assert hooks.order() == names


# -- failure ---------------------------------------------------------------------------------------

FAIL = "echo out-text; echo err-text >&2; exit 3"


def _assert_hook_error(err: str, index: int) -> None:
    assert (
        f"error running hook #{index}: error running hook: exit status 3, stdout: out-text" in err
    )
    assert "stderr: err-text" in err


def _assert_one_line(err: str) -> None:
    """runc prints the failure as one log line; nothing else may reach the caller's stderr."""
    assert len(err.splitlines()) == 1, f"expected one log line, got:\n{err}"


@pytest.mark.parametrize("kind", CREATE_KINDS)
def test_failing_create_hook_fails_create_cleans_up_and_runs_poststop(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str
) -> None:
    hooks.add(kind)
    hooks.add(kind, tail=FAIL)
    later = hooks.add(kind)
    poststop = hooks.add("poststop")
    res = create(shim, hooks.make(make_bundle), cid)
    assert res.code == 1, res
    _assert_hook_error(res.err, 1)
    assert not hooks.ran(later)
    assert hooks.state(poststop)["status"] == "stopped"
    gone(shim, cid)
    _assert_one_line(res.err)


def test_hook_index_counts_within_its_own_kind(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    hooks.add("prestart")
    hooks.add("createRuntime")
    hooks.add("createRuntime", tail=FAIL)
    res = create(shim, hooks.make(make_bundle), cid)
    assert res.code == 1, res
    _assert_hook_error(res.err, 1)  # createRuntime's #1, not #2 of prestart+createRuntime
    gone(shim, cid)
    _assert_one_line(res.err)


@pytest.mark.parametrize("kind", CREATE_KINDS)
def test_hook_timeout_kills_a_slow_hook_and_fails_create(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str
) -> None:
    name = hooks.add(kind, tail="exec sleep 20", timeout=1)
    began = time.monotonic()
    res = create(shim, hooks.make(make_bundle), cid)
    took = time.monotonic() - began
    assert res.code == 1, res
    assert "error running hook #0: hook ran past specified timeout of 1.0s" in res.err, res
    assert took < 5, f"create took {took:.1f}s for a 1s timeout"
    if kind in HOST_KINDS:  # the same pid on the host: it must be dead (or a zombie)
        pid = int(hooks.read(name, "pid"))
        wait_for(lambda: _dead(pid), f"the timed-out hook (pid {pid}) to die")
    gone(shim, cid)
    _assert_one_line(res.err)


def _dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X") or "(sleep)" not in stat


def test_failing_start_container_hook_fails_start_and_the_container_stops(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    hooks.add("startContainer", tail=FAIL)
    poststop = hooks.add("poststop")
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    res = shim("start", cid)
    assert res.code == 1, res
    _assert_hook_error(res.err, 0)
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the container to stop")
    assert not (hooks.out / "user.saw").exists()  # the user process never ran
    shim.ok("delete", cid)
    assert hooks.state(poststop)["status"] == "stopped"
    gone(shim, cid)
    _assert_one_line(res.err)


def test_failing_poststart_hook_is_only_a_warning(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    hooks.add("poststart", tail=FAIL)
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    res = shim("start", cid)
    assert res.code == 0, res
    _assert_hook_error(res.err, 0)
    assert shim.state(cid)["status"] == "running"
    wait_for(lambda: (hooks.out / "user.saw").exists(), "the user process to write")
    _assert_one_line(res.err)


def test_failing_poststop_hook_still_lets_delete_succeed(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    hooks.add("poststop", tail=FAIL)
    bundle = hooks.make(make_bundle)
    shim.ok("create", "--bundle", str(bundle), cid)
    shim.ok("start", cid)
    stop(shim, cid)
    res = shim("delete", cid)
    assert res.code == 0, res
    _assert_hook_error(res.err, 0)
    gone(shim, cid)
    _assert_one_line(res.err)


@pytest.mark.parametrize("kind", CREATE_KINDS)
def test_missing_hook_executable_fails_create_with_runcs_fork_exec_error(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str, kind: str
) -> None:
    hooks.config[kind] = [{"path": "/nonexistent/hook", "args": ["hook"]}]
    res = create(shim, hooks.make(make_bundle), cid)
    assert res.code == 1, res
    gone(shim, cid)
    # runc 1.1.5, observed: the exec error as Go's os/exec words it, for every kind.
    assert "error running hook #0: fork/exec /nonexistent/hook: no such file or directory" in (
        res.err
    ), res


def test_missing_start_container_hook_fails_start_with_runcs_fork_exec_error(
    shim: Shim, make_bundle: BundleFactory, hooks: Hooks, cid: str
) -> None:
    hooks.config["startContainer"] = [{"path": "/nonexistent/hook", "args": ["hook"]}]
    shim.ok("create", "--bundle", str(hooks.make(make_bundle)), cid)
    res = shim("start", cid)
    assert res.code == 1, res
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the container to stop")
    assert "error running hook #0: fork/exec /nonexistent/hook: no such file or directory" in (
        res.err
    ), res
