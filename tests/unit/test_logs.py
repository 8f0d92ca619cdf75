"""runc's log lines: logrus text and JSON formatters, `--log` files and fatal errors."""

from __future__ import annotations

import json
import os
import re
import select
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim import logs
from shim.errors import ShimError
from shim.logs import Logger, get_logger, go_quote, report_fatal, setup

TIME = r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"'


@pytest.fixture(autouse=True)
def _no_configured_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_current", None)


def _lines(read_fd: int) -> list[str]:
    return os.read(read_fd, 65536).decode("utf-8", "surrogateescape").splitlines()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    os.close(read_fd)
    os.close(write_fd)


@pytest.mark.parametrize(
    ("msg", "fields", "tail"),
    [
        ("container does not exist", {}, 'level=error msg="container does not exist"'),
        ("plain", {}, "level=error msg=plain"),
        ("a-b.c_d/e@f^g+h", {}, "level=error msg=a-b.c_d/e@f^g+h"),
        ('say "hi"\nbye', {}, r'level=error msg="say \"hi\"\nbye"'),
        ("No help topic for 'foo'\n", {}, "level=error msg=\"No help topic for 'foo'\\n\""),
        ("", {}, "level=error"),
        ("m", {"id": "c1", "b": "x y", "e": ""}, 'level=error msg=m b="x y" e= id=c1'),
        ("m", {"n": 3, "ok": True, "none": None}, 'level=error msg=m n=3 none="<nil>" ok=true'),
        ("m", {"f": 1.5, "g": 1e6, "h": 1e-5}, "level=error msg=m f=1.5 g=1e+06 h=1e-05"),
        (
            "m",
            {"time": "t", "msg": "x", "level": "l"},
            "level=error msg=m fields.level=l fields.msg=x fields.time=t",
        ),
    ],
)
def test_text_lines(pipe: tuple[int, int], msg: str, fields: dict[str, object], tail: str) -> None:
    Logger(pipe[1], "text", "info", False).error(msg, **fields)
    (line,) = _lines(pipe[0])
    assert re.fullmatch(TIME + " " + re.escape(tail), line), line


def test_json_lines_have_sorted_keys_and_gos_escaping(pipe: tuple[int, int]) -> None:
    msg = 'chdir /x<&>\u2028\x01\x7f\t\b\f\udcff"\\é: no such file or directory'
    Logger(pipe[1], "json", "info", False).error(msg, id="c1", pid=42, big=1e21, small=1e-7, z=None)
    (line,) = _lines(pipe[0])
    # what runc 1.1.5 wrote for a path with these bytes (observed)
    escaped = (
        r"chdir /x\u003c\u0026\u003e\u2028\u0001"
        + "\x7f"
        + r"\t\u0008\u000c\ufffd\"\\é: no such file or directory"
    )
    head = '{"big":1e+21,"id":"c1","level":"error","msg":"' + escaped + '","pid":42,"small":1e-7,'
    assert re.fullmatch(re.escape(head) + r'"time":"[^"]+Z","z":null\}', line), line


def test_json_line_is_what_containerd_parses(pipe: tuple[int, int]) -> None:
    Logger(pipe[1], "json", "info", False).error("container does not exist")
    (line,) = _lines(pipe[0])
    assert re.fullmatch(
        r'\{"level":"error","msg":"container does not exist","time":"[^"]+Z"\}', line
    )


@pytest.mark.parametrize(
    ("level", "emitted"),
    [
        ("warning", ["error", "warning"]),
        ("info", ["error", "warning", "info"]),
        ("debug", ["error", "warning", "info", "debug"]),
    ],
)
def test_levels(pipe: tuple[int, int], level: str, emitted: list[str]) -> None:
    logger = Logger(pipe[1], "text", level, False)
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    assert [line.split(" ")[1] for line in _lines(pipe[0])] == [
        f"level={name}" for name in ("debug", "info", "warning", "error") if name in emitted
    ]
    assert logger.enabled("debug") == (level == "debug")


def test_default_logger_is_warning_text_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    get_logger().info("not shown")
    get_logger().warning("shown", id="c1")
    err = capfd.readouterr().err
    assert re.fullmatch(TIME + " level=warning msg=shown id=c1\n", err), err


def test_setup_without_debug_drops_debug_lines(capfd: pytest.CaptureFixture[str]) -> None:
    logger = setup(None, "", False)
    assert get_logger() is logger
    logger.debug("hidden")
    logger.info("seen")
    assert re.fullmatch(TIME + " level=info msg=seen\n", capfd.readouterr().err)


def test_setup_with_debug_and_json(capfd: pytest.CaptureFixture[str]) -> None:
    setup(None, "json", True).debug("nsexec container setup")
    record = json.loads(capfd.readouterr().err)
    assert list(record) == ["level", "msg", "time"]
    assert (record["level"], record["msg"]) == ("debug", "nsexec container setup")


def test_bad_log_format() -> None:
    with pytest.raises(ShimError, match=r"^invalid log-format: xml$"):
        setup(None, "xml", False)


def test_log_file_is_appended_with_mode_0644(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    path.write_text("earlier\n")
    path.chmod(0o600)
    logger = setup(str(path), "json", False)
    logger.error("boom")
    logger.close()
    lines = path.read_text().splitlines()
    assert lines[0] == "earlier"
    assert json.loads(lines[1])["msg"] == "boom"
    new = tmp_path / "new.log"
    old_umask = os.umask(0)
    try:
        setup(str(new), "text", False).close()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644


def test_log_file_is_not_inherited(tmp_path: Path) -> None:
    logger = setup(str(tmp_path / "log"), "text", False)
    try:
        assert not os.get_inheritable(logger._fd)
    finally:
        logger.close()


def test_unopenable_log_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "log.json"
    with pytest.raises(
        ShimError, match=f"^open {re.escape(str(path))}: no such file or directory$"
    ):
        setup(str(path), "json", False)


def test_fatal_to_a_file_also_prints_the_bare_message(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.json"
    logger = setup(str(path), "json", False)
    report_fatal(logger, "container does not exist")
    logger.close()
    assert capfd.readouterr().err == "container does not exist\n"
    record = json.loads(path.read_text())
    assert (record["level"], record["msg"]) == ("error", "container does not exist")


def test_fatal_to_stderr_prints_only_the_record(capfd: pytest.CaptureFixture[str]) -> None:
    report_fatal(setup(None, "text", False), 'cannot start an "already" running container')
    err = capfd.readouterr().err
    assert re.fullmatch(
        TIME + r' level=error msg="cannot start an \\"already\\" running container"\n', err
    )


def test_fatal_message_bytes_survive(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    logger = setup(str(tmp_path / "log"), "text", False)
    logger.fatal("bad \udcff byte")
    logger.close()
    assert capfdbinary.readouterr().err == b"bad \xff byte\n"
    assert 'msg="bad \\xff byte"' in (tmp_path / "log").read_text()


def _read_line(controller: int) -> str:
    """Read one line from a pty: its line discipline may hand it over in pieces."""
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([controller], [], [], 5.0)
        assert ready, f"no full line from the terminal within 5 s: {data!r}"
        data += os.read(controller, 4096)
    return data.decode()


def test_terminal_gets_logrus_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import shim.logs

    monkeypatch.setattr(shim.logs, "_START", time.monotonic())  # the [0000] counts from here
    controller, terminal = os.openpty()
    try:
        Logger(terminal, "text", "info", False).error("container does not exist", id="c1")
        out = _read_line(controller)
    finally:
        os.close(controller)
        os.close(terminal)
    head = "\x1b[31mERRO\x1b[0m[0000] " + "container does not exist".ljust(44) + " "
    assert out.replace("\r\n", "\n") == head + " \x1b[31mid\x1b[0m=c1\n"


def test_a_dead_destination_does_not_raise() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        Logger(write_fd, "text", "info", False).error("nobody listens")
    finally:
        os.close(write_fd)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', r'"a\"b\\c"'),
        ("\a\b\f\n\r\t\v", r'"\a\b\f\n\r\t\v"'),
        ("\x00\x1b\x7f", r'"\x00\x1b\x7f"'),
        ("\udcff", r'"\xff"'),  # a byte that was not UTF-8 (surrogateescape)
        ("é中😀", '"é中😀"'),
        ("\u00a0\u2028\ufeff", r'"\u00a0\u2028\ufeff"'),
        ("\U000e0001", r'"\U000e0001"'),
        # runc 1.1.5, observed: msg="chdir /nonexist<&>\u2028\x01\x7f\t\b\f\xff\"\\é\u00a0: ..."
        (
            '/nonexist<&>\u2028\x01\x7f\t\b\f\udcff"\\é\u00a0',
            r'"/nonexist<&>\u2028\x01\x7f\t\b\f\xff\"\\é\u00a0"',
        ),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted
