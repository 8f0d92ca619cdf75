"""Side by side with runc 1.1.5: what clients parse must look the same.

Each test runs the same command through `shim` and `runc`, each on its own private
--root (and with different container ids, since the default cgroup is named after the
id), and compares the output's shape: JSON key order and types, table layout, exit
codes, error text. Values that must differ (pids, times) are only checked for type.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Result,
    Shim,
    needs_busybox,
    needs_root,
)
from tests.integration._runc_compare import (
    GO_RFC3339_NANO,
    LOGRUS_TIME,
    RUNC,
    assert_fails,
    error_messages,
    key_types,
    needs_runc,
    tabwriter,
    wait_status,
)

pytestmark = [
    needs_root,
    needs_busybox,
    needs_runc,
    pytest.mark.privileged,
    pytest.mark.timeout(60),
]

LOGRUS_LINE = re.compile(r'^time="[^"]*" ', re.MULTILINE)
LOOP = ["sh", "-c", "while true; do sleep 0.05; done"]
ANNOTATIONS = {"org.example.b": "2", "a.first": "x"}


def _annotate(config: dict[str, object]) -> None:
    config["annotations"] = dict(ANNOTATIONS)


def _both_states(shim: Shim, runc: Shim, cid: str, rid: str) -> tuple[str, str]:
    return shim.ok("state", cid).out, runc.ok("state", rid).out


def _compare_states(ours_raw: str, theirs_raw: str, cid: str, rid: str) -> dict[str, object]:
    ours, theirs = json.loads(ours_raw), json.loads(theirs_raw)
    assert isinstance(ours, dict)
    assert isinstance(theirs, dict)
    assert key_types(ours) == key_types(theirs)
    assert list(ours["annotations"]) == list(theirs["annotations"])  # sorted keys, like runc
    for key in ours:
        if key in ("pid", "created"):
            continue
        want = cid if key == "id" else theirs[key]
        assert ours[key] == want, key
    # Layout: 2-space indent, no trailing newline, same line structure.
    assert ours_raw.endswith("}")
    assert not ours_raw.endswith("\n")
    ours_lines = [line.split(":")[0] for line in ours_raw.splitlines()]
    theirs_lines = [line.split(":")[0] for line in theirs_raw.splitlines()]
    assert ours_lines == theirs_lines
    assert theirs["id"] == rid
    return ours


def test_state_json_has_runcs_keys_order_and_types_in_every_status(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    # One bundle for both: bundle and rootfs paths must then be equal too.
    bundle = make_bundle(LOOP, edit=_annotate)
    shim.ok("create", "--bundle", str(bundle), cid)
    runc.ok("create", "--bundle", str(bundle), rid)
    state = _compare_states(*_both_states(shim, runc, cid, rid), cid, rid)
    assert state["status"] == "created"
    assert isinstance(state["pid"], int)
    assert state["pid"] > 0

    shim.ok("start", cid)
    runc.ok("start", rid)
    state = _compare_states(*_both_states(shim, runc, cid, rid), cid, rid)
    assert state["status"] == "running"

    shim.ok("kill", cid, "KILL")
    runc.ok("kill", rid, "KILL")
    wait_status(shim, cid, "stopped")
    wait_status(runc, rid, "stopped")
    state = _compare_states(*_both_states(shim, runc, cid, rid), cid, rid)
    assert (state["status"], state["pid"]) == ("stopped", 0)


def test_state_without_annotations_omits_the_key_like_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    bundle = make_bundle(LOOP)
    shim.ok("create", "--bundle", str(bundle), cid)
    runc.ok("create", "--bundle", str(bundle), rid)
    ours, theirs = _both_states(shim, runc, cid, rid)
    assert "annotations" not in json.loads(theirs)
    assert list(json.loads(ours)) == list(json.loads(theirs))


def test_state_created_time_is_formatted_like_go(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """Go's RFC3339Nano trims trailing zeros of the fraction (`...40.05995695Z`).

    The difference shows only when the nanoseconds end in 0 (one run in ten), so the
    test looks at the `created` of six containers (about half the runs catch it).
    """
    for i in range(6):
        shim.ok("create", "--bundle", str(make_bundle(LOOP, name=f"b{i}")), f"{cid}-{i}")
    for entry in json.loads(shim.ok("list", "-f", "json").out):
        assert GO_RFC3339_NANO.match(entry["created"]), entry["created"]


def _cells(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


def test_list_table_has_runcs_header_and_column_layout(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    empty = shim.ok("list").out
    assert empty == runc.ok("list").out
    assert empty == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"

    bundle = make_bundle(LOOP)
    shim.ok("create", "--bundle", str(bundle), cid)
    runc.ok("create", "--bundle", str(bundle), rid)
    ours, theirs = shim.ok("list").out, runc.ok("list").out
    assert _cells(ours)[0] == _cells(theirs)[0]
    # Same tabwriter rules (min width 12, padding 3, last column unpadded) on each one's cells.
    assert ours == tabwriter(_cells(ours))
    assert theirs == tabwriter(_cells(theirs))
    (ours_row,), (theirs_row,) = _cells(ours)[1:], _cells(theirs)[1:]
    assert ours_row[2:4] == theirs_row[2:4] == ["created", str(bundle)]
    assert ours_row[5] == theirs_row[5] == "root"


def test_list_json_on_an_empty_root_prints_null(shim: Shim, runc: Shim) -> None:
    ours, theirs = shim("list", "-f", "json"), runc("list", "-f", "json")
    assert (
        (ours.code, ours.out, ours.err)
        == (theirs.code, theirs.out, theirs.err)
        == (0, "null\n", "")
    )


def test_list_json_entries_match_runcs(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    bundle = make_bundle(LOOP, edit=_annotate)
    shim.ok("create", "--bundle", str(bundle), cid)
    runc.ok("create", "--bundle", str(bundle), rid)
    ours, theirs = shim.ok("list", "--format=json").out, runc.ok("list", "--format=json").out
    assert ours.count("\n") == theirs.count("\n") == 1
    (mine,), (their,) = json.loads(ours), json.loads(theirs)
    assert key_types(mine) == key_types(their)
    assert mine["owner"] == their["owner"] == "root"
    assert mine["annotations"] == their["annotations"]


def test_list_with_an_unknown_format_is_refused_like_runc(shim: Shim, runc: Shim) -> None:
    assert_fails(shim("list", "-f", "yaml"), "invalid format option")
    assert_fails(runc("list", "-f", "yaml"), "invalid format option")


def _spec(binary: str, where: Path, *flags: str) -> Result:
    where.mkdir()
    proc = subprocess.run(
        [binary, "spec", *flags], cwd=where, capture_output=True, timeout=TIMEOUT, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize("flags", [(), ("--rootless",)], ids=["default", "rootless"])
def test_spec_writes_the_same_bytes_as_runc(
    shim: Shim, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    assert RUNC is not None
    ours, theirs = (
        _spec(shim.binary, tmp_path / "ours", *flags),
        _spec(RUNC, tmp_path / "theirs", *flags),
    )
    assert (ours.code, ours.out) == (theirs.code, theirs.out) == (0, ""), (ours, theirs)
    ours_file, theirs_file = tmp_path / "ours" / "config.json", tmp_path / "theirs" / "config.json"
    assert ours_file.read_bytes() == theirs_file.read_bytes()
    assert ours_file.stat().st_mode & 0o777 == theirs_file.stat().st_mode & 0o777


def test_spec_with_bundle_flag_writes_there(shim: Shim, tmp_path: Path) -> None:
    assert RUNC is not None
    for binary, name in ((shim.binary, "ours"), (RUNC, "theirs")):
        (tmp_path / name).mkdir()
        proc = subprocess.run(
            [binary, "spec", "--bundle", str(tmp_path / name)],
            cwd="/",
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert proc.returncode == 0, proc
    assert (tmp_path / "ours" / "config.json").read_bytes() == (
        tmp_path / "theirs" / "config.json"
    ).read_bytes()


def test_spec_refuses_to_overwrite_an_existing_config_json(shim: Shim, tmp_path: Path) -> None:
    assert RUNC is not None
    for binary, name in ((shim.binary, "ours"), (RUNC, "theirs")):
        where = tmp_path / name
        where.mkdir()
        (where / "config.json").write_text("keep me")
        proc = subprocess.run(
            [binary, "spec"], cwd=where, capture_output=True, timeout=TIMEOUT, check=False
        )
        res = Result(proc.returncode, proc.stdout, proc.stderr)
        assert_fails(res, "File config.json exists. Remove it first")
        assert (where / "config.json").read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("state",), '"state" requires exactly 1 argument(s)'),
        (("state", "a", "b"), '"state" requires exactly 1 argument(s)'),
        (("start",), '"start" requires exactly 1 argument(s)'),
        (("delete",), '"delete" requires exactly 1 argument(s)'),
        (("kill",), '"kill" requires a minimum of 1 argument(s)'),
        (("kill", "a", "KILL", "extra"), '"kill" requires a maximum of 2 argument(s)'),
        (("list", "x"), '"list" requires exactly 0 argument(s)'),
        (("spec", "x"), '"spec" requires exactly 0 argument(s)'),
    ],
)
def test_a_wrong_argument_count_is_a_usage_error_like_runcs(
    shim: Shim, runc: Shim, args: tuple[str, ...], text: str
) -> None:
    ours, theirs = shim(*args), runc(*args)
    assert_fails(theirs, text)
    assert_fails(ours, text)
    assert theirs.out.startswith("Incorrect Usage.\n\n")
    assert ours.out.startswith("Incorrect Usage.\n\n")


def test_an_unknown_command_exits_3(shim: Shim, runc: Shim) -> None:
    for res in (shim("foo"), runc("foo")):
        assert_fails(res, "No help topic for 'foo'", code=3)


def test_an_unknown_flag_is_a_usage_error(shim: Shim, runc: Shim) -> None:
    for res in (shim("state", "--no-such-flag", "x"), runc("state", "--no-such-flag", "x")):
        assert_fails(res, "flag provided but not defined: -no-such-flag")
        assert res.out.startswith("Incorrect Usage")


def test_a_global_flag_after_the_command_is_refused(shim: Shim, runc: Shim, tmp_path: Path) -> None:
    other = str(tmp_path / "other")
    for res in (shim("state", "--root", other, "x"), runc("state", "--root", other, "x")):
        assert_fails(res, "flag provided but not defined: -root")


def test_an_unknown_log_format_is_refused(shim: Shim, runc: Shim) -> None:
    for tool in (shim, runc):
        assert_fails(tool("--log-format", "xml", "state", "x"), "invalid log-format: xml")


def test_json_log_on_stderr_has_sorted_keys(shim: Shim, runc: Shim, cid: str) -> None:
    for tool in (shim, runc):
        res = tool("--log-format", "json", "state", cid)
        assert res.code == 1, res
        entry = json.loads(res.err)
        assert list(entry) == ["level", "msg", "time"]
        assert (entry["level"], entry["msg"]) == ("error", "container does not exist")
        assert LOGRUS_TIME.match(entry["time"])


def test_log_file_gets_a_json_error_and_stderr_the_bare_message(
    shim: Shim, runc: Shim, cid: str, tmp_path: Path
) -> None:
    modes = []
    for tool, name in ((shim, "ours.json"), (runc, "theirs.json")):
        log = tmp_path / name
        res = tool("--log", str(log), "--log-format", "json", "state", cid)
        assert res.code == 1, res
        assert res.err == "container does not exist\n", res
        text = log.read_text()
        assert text.endswith("}\n")
        (line,) = text.splitlines()
        entry = json.loads(line)
        assert list(entry) == ["level", "msg", "time"]
        assert (entry["level"], entry["msg"]) == ("error", "container does not exist")
        assert LOGRUS_TIME.match(entry["time"])
        modes.append(log.stat().st_mode & 0o777)
    assert modes[0] == modes[1]


def test_log_file_is_appended_to(shim: Shim, cid: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    log.write_text('{"level":"info","msg":"earlier","time":"2026-01-01T00:00:00Z"}\n')
    assert shim("--log", str(log), "--log-format", "json", "state", cid).code == 1
    assert shim("--log", str(log), "--log-format", "json", "kill", cid).code == 1
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["msg"] for e in entries] == [
        "earlier",
        "container does not exist",
        "container does not exist",
    ]


def test_text_log_line_is_byte_for_byte_runcs_apart_from_the_time(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    bundle = make_bundle(LOOP)
    shim.ok("create", "--bundle", str(bundle), cid)
    runc.ok("create", "--bundle", str(bundle), rid)
    ours, theirs = shim("kill", cid, "FOO"), runc("kill", rid, "FOO")
    assert ours.code == theirs.code == 1
    assert LOGRUS_LINE.sub("", ours.err) == LOGRUS_LINE.sub("", theirs.err)
    assert LOGRUS_LINE.sub("", ours.err) == 'level=error msg="unknown signal \\"FOO\\""\n'


def test_features_prints_json_with_runcs_top_level_keys(shim: Shim, runc: Shim) -> None:
    ours, theirs = shim.ok("features").out, runc.ok("features").out
    mine, their = json.loads(ours), json.loads(theirs)
    assert list(mine) == list(their)
    assert list(mine["linux"]) == list(their["linux"])
    for key in ("ociVersionMin", "ociVersionMax", "hooks"):
        assert mine[key] == their[key], key
    assert ours.endswith("}\n")
    assert ours.startswith('{\n    "ociVersionMin": ')  # 4-space indent
    assert "org.opencontainers.runc.version" in mine["annotations"]


def test_version_first_line_names_shim(shim: Shim) -> None:
    for flag in ("--version", "-v"):
        res = shim.ok(flag)
        first, *rest = res.out.splitlines()
        assert first.startswith("shim version ")
        assert len(first.split()) == 3
        assert "spec: 1.0.2-dev" in rest


def test_runtime_errors_exit_1_with_one_logrus_line_like_runc(
    shim: Shim, runc: Shim, cid: str, rid: str
) -> None:
    for tool, name in ((shim, cid), (runc, rid)):
        for args in (("start", name), ("state", name), ("kill", name), ("delete", name)):
            res = tool(*args)
            assert res.code == 1, res
            assert res.out == ""
            assert res.err.startswith('time="')
            assert res.err.count("\n") == 1
            assert error_messages(res.err) == ["container does not exist"]


def test_list_creates_a_missing_root(shim: Shim, runc: Shim) -> None:
    for tool in (shim, runc):
        assert not tool.root.exists()
        tool.ok("list")
        assert tool.root.is_dir()
        assert os.stat(tool.root).st_mode & 0o777 == 0o700


def test_the_default_root_is_run_shim_so_runc_and_shim_keep_apart(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """Without --root, state goes to /run/shim (runc's is /run/runc): neither lists,
    deletes or execs into the other's containers."""
    argv = [shim.binary, "create", "--bundle", str(make_bundle(["true"])), cid]
    # stdio to files, not pipes: the created init keeps create's stdio open
    made = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=False,
    )
    try:
        assert made.returncode == 0, made
        assert os.path.isdir(f"/run/shim/{cid}")
        assert not os.path.exists(f"/run/runc/{cid}")
        listed = subprocess.run([shim.binary, "list", "-q"], capture_output=True, timeout=TIMEOUT)
        assert cid in listed.stdout.decode().split()
    finally:
        subprocess.run([shim.binary, "delete", "--force", cid], timeout=TIMEOUT, check=False)
    assert not os.path.exists(f"/run/shim/{cid}")
