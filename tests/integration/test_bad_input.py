"""Bad input: each gets a clear error and exit 1, and leaves nothing behind.

"Clear" means the message names what is wrong (runc's text where runc has one, else the
config field). "Nothing behind" is checked here (`list -q` empty, no state dir, no
process holding the bundle or the root) and again by the `shim` fixture's teardown
(state dirs, cgroups, mounts).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BundleFactory, Result, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import (
    assert_fails,
    pid_of,
    processes_using,
    status,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

Edit = Callable[[dict[str, object]], None]
LOOP = ["sh", "-c", "while true; do sleep 0.05; done"]


def assert_nothing_left(shim: Shim, *paths: Path) -> None:
    assert shim.ok("list", "-q").out == ""
    left = sorted(p.name for p in shim.root.iterdir()) if shim.root.exists() else []
    assert left == [], f"state dirs left behind: {left}"
    for path in (shim.root, *paths):
        assert processes_using(str(path)) == []


def create_fails(shim: Shim, bundle: Path, cid: str, text: str, *flags: str) -> Result:
    res = shim("create", *flags, "--bundle", str(bundle), cid)
    assert_fails(res, text)
    assert_nothing_left(shim, bundle)
    return res


def _process(config: dict[str, object]) -> dict[str, object]:
    proc = config["process"]
    assert isinstance(proc, dict)
    return proc


def _linux(config: dict[str, object]) -> dict[str, object]:
    linux = config["linux"]
    assert isinstance(linux, dict)
    return linux


def _namespaces(config: dict[str, object]) -> list[dict[str, object]]:
    namespaces = _linux(config)["namespaces"]
    assert isinstance(namespaces, list)
    return namespaces


def _mounts(config: dict[str, object]) -> list[dict[str, object]]:
    mounts = config["mounts"]
    assert isinstance(mounts, list)
    return mounts


# --- config.json itself -----------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"ociVersion": ', "not json at all", "[]", ""])
def test_malformed_config_json_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, text: str
) -> None:
    bundle = make_bundle(LOOP)
    (bundle / "config.json").write_text(text)
    create_fails(shim, bundle, cid, "config.json")


def test_config_json_that_is_not_utf8_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(LOOP)
    (bundle / "config.json").write_bytes(b'{"ociVersion": "\xff\xfe"}')
    create_fails(shim, bundle, cid, "config.json")


def test_config_json_that_is_a_directory_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(LOOP)
    (bundle / "config.json").unlink()
    (bundle / "config.json").mkdir()
    res = create_fails(shim, bundle, cid, "config.json")
    assert "is a directory" in res.err.lower()


def _cwd_number(c: dict[str, object]) -> None:
    _process(c)["cwd"] = 5


def _args_string(c: dict[str, object]) -> None:
    _process(c)["args"] = "sh"


def _namespace_type_number(c: dict[str, object]) -> None:
    _namespaces(c)[0]["type"] = 7


def _readonly_string(c: dict[str, object]) -> None:
    root = c["root"]
    assert isinstance(root, dict)
    root["readonly"] = "yes"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_cwd_number, "process.cwd"),
        (_args_string, "process.args"),
        (_namespace_type_number, "linux.namespaces[0].type"),
        (_readonly_string, "root.readonly"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_the_field(
    shim: Shim, make_bundle: BundleFactory, cid: str, edit: Edit, field: str
) -> None:
    create_fails(shim, make_bundle(LOOP, edit=edit), cid, field)


def test_missing_config_json_is_refused(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    bundle = make_bundle(LOOP)
    (bundle / "config.json").unlink()
    create_fails(shim, bundle, cid, "JSON specification file config.json not found")


def test_missing_bundle_directory_is_refused(shim: Shim, tmp_path: Path, cid: str) -> None:
    missing = tmp_path / "no-such-bundle"
    res = shim("create", "--bundle", str(missing), cid)
    assert res.code == 1, res
    assert str(missing) in res.err
    assert_nothing_left(shim)


def test_missing_rootfs_is_refused(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, object]) -> None:
        c["root"] = {"path": "no-such-rootfs"}

    bundle = make_bundle(LOOP, edit=edit)
    res = create_fails(shim, bundle, cid, str(bundle / "no-such-rootfs"))
    assert "rootfs" in res.err


# --- container ids ----------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["start", "state", "kill", "delete"])
def test_an_unknown_id_is_refused(shim: Shim, cid: str, verb: str) -> None:
    assert_fails(shim(verb, cid), "container does not exist")
    assert_nothing_left(shim)


def test_a_duplicate_id_is_refused_and_the_first_container_is_unharmed(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(LOOP, name="first")), cid)
    before = shim.state(cid)
    other = make_bundle(LOOP, name="second")
    for verb in (["create"], ["run", "-d"], ["run"]):
        res = shim(*verb, "--bundle", str(other), cid)
        assert_fails(res, "container with given ID already exists")
    assert shim.state(cid) == before
    assert status(shim, cid) == "running"
    assert shim.ok("list", "-q").out == f"{cid}\n"
    assert processes_using(str(other)) == []


@pytest.mark.parametrize(
    ("bad_id", "text"),
    [
        ("a/b", "invalid container ID format"),
        ("..", "invalid container ID format"),
        ("../escaped", "invalid container ID format"),
        (".", "invalid container ID format"),
        ("a b", "invalid container ID format"),
        ("", "container id cannot be empty"),
    ],
)
def test_a_malformed_id_is_refused(
    shim: Shim, make_bundle: BundleFactory, tmp_path: Path, bad_id: str, text: str
) -> None:
    bundle = make_bundle(LOOP)
    create_fails(shim, bundle, bad_id, text)
    if bad_id in ("", ".", ".."):
        # <cgroup>/<id> names an existing directory for these: the fixture's leak check
        # would see the parent cgroup, so it must not look them up.
        shim.ids.discard(bad_id)
    assert not (tmp_path / "escaped").exists()
    for verb in ("state", "start", "kill", "delete"):
        assert_fails(shim(verb, bad_id), text)


# --- state transitions ----------------------------------------------------------------


def test_start_on_a_running_container_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(LOOP)), cid)
    assert_fails(shim("start", cid), "cannot start an already running container")
    assert status(shim, cid) == "running"


def test_delete_on_a_running_container_without_force_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(LOOP)), cid)
    assert_fails(shim("delete", cid), f"cannot delete container {cid} that is not stopped: running")
    assert status(shim, cid) == "running"


# --- signals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "text"),
    [
        ("FOO", 'unknown signal "FOO"'),
        ("SIGFOO", 'unknown signal "SIGFOO"'),
        ("999", "unable to signal init: invalid argument"),
        ("-9", "unable to signal init: invalid argument"),
    ],
)
def test_a_bad_signal_is_refused_and_the_container_is_unharmed(
    shim: Shim, make_bundle: BundleFactory, cid: str, sig: str, text: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(LOOP)), cid)
    pid = pid_of(shim, cid)
    assert_fails(shim("kill", cid, sig), text)
    if sig.isalpha():  # runc's `kill --all` only warns about a bad number (exit 0)
        assert_fails(shim("kill", "--all", cid, sig), text)
    assert status(shim, cid) == "running"
    assert pid_of(shim, cid) == pid


# --- mounts -----------------------------------------------------------------------------


@pytest.mark.parametrize(("subpath", "kind"), [("", "tmpfs"), ("", "bind"), ("/sub", "tmpfs")])
def test_a_mount_through_a_symlink_out_of_the_rootfs_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, subpath: str, kind: str
) -> None:
    target = tmp_path / "host-target"
    source = tmp_path / "bind-source"
    source.mkdir()
    (source / "marker").write_text("x")

    def edit(c: dict[str, object]) -> None:
        mount: dict[str, object] = {"destination": "/escape" + subpath, "type": "tmpfs"}
        if kind == "bind":
            mount.update(source=str(source), options=["rbind", "ro"], type="bind")
        else:
            mount.update(source="tmpfs", options=["nosuid"])
        _mounts(c).append(mount)

    bundle = make_bundle(["true"], edit=edit)
    # Enough `..` to climb out of any rootfs depth, then down to our target.
    (bundle / "rootfs" / "escape").symlink_to("../" * 32 + str(target).lstrip("/"))
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 1, res
    assert_fails(res, "/escape" + subpath)
    assert "rootfs" in res.err
    assert not target.exists()
    assert not os.path.lexists(target)
    assert_nothing_left(shim, bundle)


# --- namespaces and process -------------------------------------------------------------


def test_an_unknown_namespace_type_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, object]) -> None:
        _namespaces(c).append({"type": "foo"})

    create_fails(shim, make_bundle(LOOP, edit=edit), cid, 'unknown namespace "foo"')


def test_a_nonexistent_executable_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    create_fails(
        shim, make_bundle(["nonexist"]), cid, 'exec: "nonexist": executable file not found in $PATH'
    )


def test_a_nonexistent_absolute_executable_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    create_fails(shim, make_bundle(["/no/such/file"]), cid, "/no/such/file")


def test_a_directory_as_executable_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    create_fails(shim, make_bundle(["/etc"]), cid, 'exec: "/etc": permission denied')


def test_a_relative_cwd_is_refused(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, object]) -> None:
        _process(c)["cwd"] = "tmp"

    create_fails(shim, make_bundle(LOOP, edit=edit), cid, "Cwd must be an absolute path")


def test_an_empty_cwd_is_refused(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, object]) -> None:
        _process(c)["cwd"] = ""

    create_fails(shim, make_bundle(LOOP, edit=edit), cid, "Cwd property must not be empty")


def test_empty_args_are_refused(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    create_fails(shim, make_bundle([]), cid, "args must not be empty")


def test_an_env_entry_without_an_equals_sign_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, object]) -> None:
        _process(c)["env"] = ["PATH=/bin", "NOEQUALS"]

    create_fails(
        shim, make_bundle(LOOP, edit=edit), cid, 'invalid environment variable: "NOEQUALS"'
    )


def test_an_unknown_capability_is_refused(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def edit(c: dict[str, object]) -> None:
        caps = _process(c)["capabilities"]
        assert isinstance(caps, dict)
        caps["bounding"] = [*caps["bounding"], "CAP_NO_SUCH_THING"]

    res = create_fails(shim, make_bundle(LOOP, edit=edit), cid, "CAP_NO_SUCH_THING")
    assert "capabilit" in res.err


# --- file descriptors and consoles ------------------------------------------------------


def test_preserve_fds_beyond_the_callers_fds_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    create_fails(shim, make_bundle(LOOP), cid, "unable to stat preserved-fd", "--preserve-fds", "5")


def test_preserve_fds_without_caller_fds_hands_over_no_runtime_state(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """The caller has no fd 3 (subprocess closes it) and asks for `--preserve-fds 1`.

    runc 1.1.5 then passes one of its own fds (observed: /sys/fs/cgroup) and create
    succeeds; refusing is better. Either way the container must not get a handle on
    the state dir, and `delete --force` must still work. If it hangs, the init is
    killed by pid so that the teardown can clean up.
    """
    bundle = make_bundle(LOOP)
    res = shim("create", "--preserve-fds", "1", "--bundle", str(bundle), cid)
    if res.code != 0:
        assert_fails(res, "unable to stat preserved-fd")
        assert_nothing_left(shim, bundle)
        return
    pid = pid_of(shim, cid)
    handed = os.readlink(f"/proc/{pid}/fd/3")
    try:
        deleted = shim("delete", "--force", cid, timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"delete --force hung; the container's fd 3 -> {handed}")
    assert deleted.code == 0, deleted
    assert not handed.startswith(str(shim.root)), f"container got fd 3 -> {handed}"
    assert_nothing_left(shim, bundle)


def _terminal(c: dict[str, object]) -> None:
    _process(c)["terminal"] = True


def test_console_socket_nobody_listens_on_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    path = tmp_path / "no-such.sock"
    create_fails(
        shim,
        make_bundle(LOOP, edit=_terminal),
        cid,
        f"dial unix {path}: connect: no such file or directory",
        "--console-socket",
        str(path),
    )


def test_console_socket_that_refuses_connections_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))  # bound, never listening, then closed: a stale socket file
    create_fails(
        shim,
        make_bundle(LOOP, edit=_terminal),
        cid,
        f"dial unix {path}: connect: connection refused",
        "--console-socket",
        str(path),
    )


def test_terminal_without_console_socket_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(LOOP, edit=_terminal)
    create_fails(
        shim, bundle, cid, "cannot allocate tty if runc will detach without setting console socket"
    )
    res = shim("run", "-d", "--bundle", str(bundle), cid)
    assert_fails(res, "cannot allocate tty if runc will detach without setting console socket")
    assert_nothing_left(shim, bundle)


def test_console_socket_without_terminal_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    path = tmp_path / "console.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        s.listen(1)
        create_fails(
            shim,
            make_bundle(LOOP),
            cid,
            "cannot use console socket if runc will not detach or allocate tty",
            "--console-socket",
            str(path),
        )


# --- features this runtime refuses explicitly -------------------------------------------


def _personality(c: dict[str, object]) -> None:
    _linux(c)["personality"] = {"domain": "LINUX"}


def _intel_rdt(c: dict[str, object]) -> None:
    _linux(c)["intelRdt"] = {"closID": "guaranteed"}


def _user_namespace_without_maps(c: dict[str, object]) -> None:
    _namespaces(c).append({"type": "user"})


def _overlapping_uid_maps(c: dict[str, object]) -> None:
    _namespaces(c).append({"type": "user"})
    maps = [
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 500, "hostID": 300000, "size": 10},
    ]
    _linux(c).update(uidMappings=maps, gidMappings=maps[:1])


def _overflowing_gid_map(c: dict[str, object]) -> None:
    _namespaces(c).append({"type": "user"})
    _linux(c).update(
        uidMappings=[{"containerID": 0, "hostID": 100000, "size": 10}],
        gidMappings=[{"containerID": 0, "hostID": 4294967290, "size": 100}],
    )


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_user_namespace_without_maps, "uidMappings"),
        (_overlapping_uid_maps, "linux.uidMappings[1]"),
        (_overflowing_gid_map, "linux.gidMappings[0]"),
    ],
)
def test_a_bad_user_namespace_config_is_refused_naming_the_field(
    shim: Shim, make_bundle: BundleFactory, cid: str, edit: Edit, field: str
) -> None:
    bundle = make_bundle(LOOP, edit=edit)
    create_fails(shim, bundle, cid, field)
    assert_nothing_left(shim, bundle)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_personality, "linux.personality"),
        (_intel_rdt, "linux.intelRdt"),
    ],
)
def test_an_unsupported_feature_is_refused_naming_the_field(
    shim: Shim, make_bundle: BundleFactory, cid: str, edit: Edit, field: str
) -> None:
    bundle = make_bundle(LOOP, edit=edit)
    create_fails(shim, bundle, cid, field)
    res = shim("run", "--bundle", str(bundle), cid)
    assert_fails(res, field)
    assert_nothing_left(shim, bundle)


def test_bad_config_never_leaves_a_state_dir_for_a_later_create(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """After any refused create the id is free again: the same id then works."""
    create_fails(shim, make_bundle(["nonexist"], name="bad"), cid, "executable file not found")
    shim.ok("create", "--bundle", str(make_bundle(LOOP, name="good")), cid)
    assert status(shim, cid) == "created"
    assert json.loads(shim.ok("list", "-f", "json").out)[0]["id"] == cid
