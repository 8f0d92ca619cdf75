"""The runc 1.1.5 command line: each expectation was observed against the real runc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shim.cli.args import Invocation, help_text, parse, parse_command, parse_globals
from shim.cli.table import COMMANDS
from shim.errors import UnknownCommand, UsageError


def _parse(line: str) -> Invocation:
    return parse(line.split(), prog="runc")


# (command line, command, flags expected among the parsed ones, positional args)
ACCEPTED = [
    ("state c1", "state", {}, ["c1"]),
    ("create --bundle /b --pid-file /p c1", "create", {"bundle": "/b", "pid-file": "/p"}, ["c1"]),
    ("create -b /b c1", "create", {"bundle": "/b"}, ["c1"]),
    ("create --bundle=/b -pid-file=/p c1", "create", {"bundle": "/b", "pid-file": "/p"}, ["c1"]),
    ("create c1 --bundle /b --no-pivot", "create", {"bundle": "/b", "no-pivot": True}, ["c1"]),
    ("create --preserve-fds -1 c1", "create", {"preserve-fds": -1}, ["c1"]),
    ("create --preserve-fds 0x10 c1", "create", {"preserve-fds": 16}, ["c1"]),
    ("create --preserve-fds 010 c1", "create", {"preserve-fds": 8}, ["c1"]),
    ("create --preserve-fds 1_000 c1", "create", {"preserve-fds": 1000}, ["c1"]),
    ("create --preserve-fds 0b101 c1", "create", {"preserve-fds": 5}, ["c1"]),
    ("create --no-pivot=false c1", "create", {"no-pivot": False}, ["c1"]),
    ("run -d --keep c1", "run", {"detach": True, "keep": True, "no-subreaper": False}, ["c1"]),
    ("list --format=json", "list", {"format": "json", "quiet": False}, []),
    ("list -f json -q", "list", {"format": "json", "quiet": True}, []),
    ("list -q=1", "list", {"quiet": True}, []),
    ("list -q=F", "list", {"quiet": False}, []),
    ("list -q --", "list", {"quiet": True}, []),
    ("events --interval=5s c1", "events", {"interval": 5.0}, ["c1"]),
    ("events --interval 1m30s c1", "events", {"interval": 90.0}, ["c1"]),
    ("events --interval=1.5h2.5m c1", "events", {"interval": 5550.0}, ["c1"]),
    ("events --interval=.5s c1", "events", {"interval": 0.5}, ["c1"]),
    ("events --interval=500ms c1", "events", {"interval": 0.5}, ["c1"]),
    ("events --interval=1.s c1", "events", {"interval": 1.0}, ["c1"]),
    ("events --interval=-1s c1", "events", {"interval": -1.0}, ["c1"]),
    ("events --interval=0 c1", "events", {"interval": 0.0}, ["c1"]),
    ("events --interval=3µs c1", "events", {"interval": 3e-6}, ["c1"]),
    ("events c1 --stats", "events", {"stats": True, "interval": 5.0}, ["c1"]),
    ("update --resources=- c1", "update", {"resources": "-", "pids-limit": 0}, ["c1"]),
    ("update -r - c1", "update", {"resources": "-"}, ["c1"]),
    ("update --kernel-memory 1 c1", "update", {"kernel-memory": "1"}, ["c1"]),
    ("update --pids-limit -1 c1", "update", {"pids-limit": -1}, ["c1"]),
    ("kill c1 9", "kill", {"all": False}, ["c1", "9"]),
    ("kill c1", "kill", {}, ["c1"]),
    ("kill --all c1 KILL", "kill", {"all": True}, ["c1", "KILL"]),
    # urfave moves `-a 9` in front, so 9 becomes the id (runc 1.1.5 does exactly this)
    ("kill c1 -a 9", "kill", {"all": True}, ["9", "c1"]),
    ("kill c1 -- 9", "kill", {}, ["c1", "9"]),
    ("kill -- --all c1", "kill", {"all": False}, ["--all", "c1"]),
    ("delete c1 -f", "delete", {"force": True}, ["c1"]),
    (
        "exec --process F --detach --pid-file P c1",
        "exec",
        {"process": "F", "detach": True, "pid-file": "P", "tty": False, "env": []},
        ["c1"],
    ),
    ("exec c1 ls -l --tty", "exec", {"tty": False}, ["c1", "ls", "-l", "--tty"]),
    ("exec -e A=1 -e B=2 c1 sh", "exec", {"env": ["A=1", "B=2"]}, ["c1", "sh"]),
    ("exec --env=A=1 --env B c1 sh", "exec", {"env": ["A=1", "B"]}, ["c1", "sh"]),
    ("exec -g 1 -g 010 -g -3 c1 sh", "exec", {"additional-gids": [1, 10, -3]}, ["c1", "sh"]),
    (
        "exec -c CAP_KILL -c=CAP_CHOWN c1 sh",
        "exec",
        {"cap": ["CAP_KILL", "CAP_CHOWN"]},
        ["c1", "sh"],
    ),
    (
        "exec -t=false -u 1:2 --cwd / c1 sh",
        "exec",
        {"tty": False, "user": "1:2", "cwd": "/"},
        ["c1", "sh"],
    ),
    ("ps c1 --format json", "ps", {"format": "table"}, ["c1", "--format", "json"]),
    ("ps --format=json -- c1", "ps", {"format": "json"}, ["c1"]),
    ("ps -f table c1 -ef", "ps", {"format": "table"}, ["c1", "-ef"]),
    ("state -- --x", "state", {}, ["--x"]),
    ("state -", "state", {}, ["-"]),
    ("spec", "spec", {"bundle": "", "rootless": False, "busybox": False}, []),
    (
        "spec --rootless=1 --busybox -b /b",
        "spec",
        {"rootless": True, "busybox": True, "bundle": "/b"},
        [],
    ),
    (
        "checkpoint c1",
        "checkpoint",
        {"status-fd": -1, "empty-ns": [], "leave-running": False},
        ["c1"],
    ),
    (
        "checkpoint --empty-ns network --empty-ns ipc c1",
        "checkpoint",
        {"empty-ns": ["network", "ipc"]},
        ["c1"],
    ),
    ("restore -b /b -d --pid-file /p c1", "restore", {"bundle": "/b", "detach": True}, ["c1"]),
    ("features", "features", {}, []),
]


@pytest.mark.parametrize(("line", "command", "flags", "args"), ACCEPTED)
def test_accepted_command_lines(
    line: str, command: str, flags: dict[str, object], args: list[str]
) -> None:
    inv = _parse(line)
    assert (inv.command, inv.args, inv.help, inv.version) == (command, args, False, False)
    for name, value in flags.items():
        assert inv.flags[name] == value, name
        assert type(inv.flags[name]) is type(value), name


# (command line, runc's message); every one also prints `Incorrect Usage...` and help
REJECTED = [
    ("state", 'runc: "state" requires exactly 1 argument(s)'),
    ("state a b", 'runc: "state" requires exactly 1 argument(s)'),
    ("list x", 'runc: "list" requires exactly 0 argument(s)'),
    ("list -- -q", 'runc: "list" requires exactly 0 argument(s)'),
    ("spec x", 'runc: "spec" requires exactly 0 argument(s)'),
    ("exec", 'runc: "exec" requires a minimum of 1 argument(s)'),
    ("kill", 'runc: "kill" requires a minimum of 1 argument(s)'),
    ("kill c1 9 10", 'runc: "kill" requires a maximum of 2 argument(s)'),
    ("ps", 'runc: "ps" requires a minimum of 1 argument(s)'),
    ("state --root X c1", "flag provided but not defined: -root"),
    ("spec --busybo", "flag provided but not defined: -busybo"),
    ("list -fjson", "flag provided but not defined: -fjson"),
    ("restore --status-fd 1 c1", "flag provided but not defined: -status-fd"),
    ("exec -e A=1 --env B=2 c1 sh", "Cannot use two forms of the same flag: e env"),
    ("delete -f --force c1", "Cannot use two forms of the same flag: f force"),
    ("delete --force -f c1", "Cannot use two forms of the same flag: f force"),
    ("state --help -h c1", "Cannot use two forms of the same flag: h help"),
    ("events --interval 5 c1", 'invalid value "5" for flag -interval: parse error'),
    ("events --interval=1d c1", 'invalid value "1d" for flag -interval: parse error'),
    ("events --interval= c1", 'invalid value "" for flag -interval: parse error'),
    ("events --interval=. c1", 'invalid value "." for flag -interval: parse error'),
    ("events --interval=1s1 c1", 'invalid value "1s1" for flag -interval: parse error'),
    ("events --interval=2562048h c1", 'invalid value "2562048h" for flag -interval: parse error'),
    ("delete --force=maybe c1", 'invalid boolean value "maybe" for -force: parse error'),
    ("list -q=FaLsE", 'invalid boolean value "FaLsE" for -q: parse error'),
    ("state --help=x c1", 'invalid boolean value "x" for -help: parse error'),
    ("list --format", "flag needs an argument: -format"),
    ("state ---x c1", "bad flag syntax: ---x"),
    ("state -=x c1", "bad flag syntax: -=x"),
    ("create --preserve-fds 1.5 c1", 'invalid value "1.5" for flag -preserve-fds: parse error'),
    ("create --preserve-fds 0x c1", 'invalid value "0x" for flag -preserve-fds: parse error'),
    ("create --preserve-fds 08 c1", 'invalid value "08" for flag -preserve-fds: parse error'),
    ("create --preserve-fds _1 c1", 'invalid value "_1" for flag -preserve-fds: parse error'),
    ("create --preserve-fds 1__0 c1", 'invalid value "1__0" for flag -preserve-fds: parse error'),
    (
        "create --preserve-fds 9223372036854775808 c1",
        'invalid value "9223372036854775808" for flag -preserve-fds: value out of range',
    ),
    (
        "create --preserve-fds 99999999999999999999x c1",
        'invalid value "99999999999999999999x" for flag -preserve-fds: value out of range',
    ),
    (
        "exec -g abc c1 sh",
        'invalid value "abc" for flag -g: strconv.ParseInt: parsing "abc": invalid syntax',
    ),
    (
        "exec -g 0x10 c1 sh",
        'invalid value "0x10" for flag -g: strconv.ParseInt: parsing "0x10": invalid syntax',
    ),
    (
        "exec -g 9223372036854775808 c1 sh",
        'invalid value "9223372036854775808" for flag -g: strconv.ParseInt: parsing'
        ' "9223372036854775808": value out of range',
    ),
]


@pytest.mark.parametrize(("line", "message"), REJECTED)
def test_rejected_command_lines_carry_runcs_message(line: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _parse(line)
    assert str(caught.value) == message
    page = help_text(line.split()[0])
    preamble = (
        "Incorrect Usage.\n\n" if "argument(s)" in message else f"Incorrect Usage: {message}\n\n"
    )
    assert caught.value.help_text == preamble + page


@pytest.mark.parametrize(
    ("line", "stdout_head"),
    [
        ("--foo list", "Incorrect Usage. flag provided but not defined: -foo\n\nNAME:\n"),
        (
            "--debug=x list",
            'Incorrect Usage. invalid boolean value "x" for -debug: parse error\n\n',
        ),
        ("--root", "Incorrect Usage. flag needs an argument: -root\n\n"),
        ("--help -h", "Cannot use two forms of the same flag: h help\nNAME:\n"),
        ("-h --help --bad", "Cannot use two forms of the same flag: h help\nNAME:\n"),
    ],
)
def test_global_flag_errors_print_the_global_help(line: str, stdout_head: str) -> None:
    with pytest.raises(UsageError) as caught:
        _parse(line)
    assert caught.value.help_text.startswith(stdout_head)
    assert caught.value.help_text.endswith(help_text(None))


def test_argument_count_errors_name_the_program_as_invoked() -> None:
    with pytest.raises(UsageError, match=r'^/usr/bin/shim: "start" requires exactly 1'):
        parse(["start"], prog="/usr/bin/shim")


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("foo", "foo"),
        ("foo -h", "foo"),
        ("help foo", "foo"),
        ("--root /r foo --bar", "foo"),
        ("- x", "-"),
    ],
)
def test_unknown_command_is_no_help_topic(line: str, word: str) -> None:
    with pytest.raises(UnknownCommand) as caught:
        _parse(line)
    assert str(caught.value) == f"No help topic for '{word}'"


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("state --help", "state"),
        ("state -h a b c", "state"),  # help wins over the argument count
        ("exec -h", "exec"),
        ("create -h=true", "create"),
        ("help list", "list"),
        ("h list extra", "list"),
        ("help h", "help"),
        ("help -h", "help"),
        ("help", None),
        ("", None),
        ("--help", None),
        ("--root /r -h create", None),  # a global --help shows the global page
        ("-v -h", None),
    ],
)
def test_help_is_a_result_not_an_error(line: str, command: str | None) -> None:
    inv = _parse(line)
    assert (inv.help, inv.version, inv.command) == (True, False, command)
    assert help_text(command).startswith("NAME:\n   runc")


@pytest.mark.parametrize("line", ["-v", "--version", "--root /r -v list", "--version=true"])
def test_version(line: str) -> None:
    inv = _parse(line)
    assert (inv.version, inv.help, inv.command) == (True, False, None)


def test_state_help_with_help_false_runs_the_command() -> None:
    inv = _parse("state --help=false c1")
    assert (inv.help, inv.command, inv.args) == (False, "state", ["c1"])


def test_global_flags_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    inv = _parse("state c1")
    assert inv.globals == {
        "debug": False,
        "log": "",
        "log-format": "text",
        "root": "/run/shim",  # not runc's /run/runc: the two never read each other's state
        "criu": "criu",
        "systemd-cgroup": False,
        "rootless": "auto",
    }
    assert inv.globals_given == frozenset()


def test_go_runc_global_flags() -> None:
    line = "--root /run/r --log /b/log.json --log-format json --systemd-cgroup --rootless=true"
    inv = _parse(line + " --debug -criu=/c kill --all c1 9")
    assert inv.globals == {
        "debug": True,
        "log": "/b/log.json",
        "log-format": "json",
        "root": "/run/r",
        "criu": "/c",
        "systemd-cgroup": True,
        "rootless": "true",
    }
    assert inv.globals_given == {
        "debug",
        "log",
        "log-format",
        "root",
        "criu",
        "systemd-cgroup",
        "rootless",
    }
    assert (inv.command, inv.args, inv.given) == ("kill", ["c1", "9"], frozenset({"all"}))


def test_every_flag_of_the_command_has_a_value() -> None:
    for command in COMMANDS:
        name = command[0]
        if name == "help":
            continue
        inv = parse([name, "--help"])
        assert set(inv.flags) == {flag[0][0] for flag in command[6]}, name


def test_given_names_only_flags_on_the_line() -> None:
    inv = _parse("exec --no-new-privs=false -e A=1 c1 sh")
    assert inv.given == {"no-new-privs", "env"}
    assert inv.flags["no-new-privs"] is False


def test_typed_accessors() -> None:
    inv = _parse("--debug exec -e A -g 7 --preserve-fds 2 -d c1 sh")
    assert inv.flag_list("env") == ["A"]
    assert inv.flag_ints("additional-gids") == [7]
    assert inv.flag_int("preserve-fds") == 2
    assert inv.flag_bool("detach") is True
    assert inv.flag_str("cwd") == ""
    assert inv.global_bool("debug") is True
    assert inv.global_str("log-format") == "text"
    assert _parse("events c1").flag_seconds("interval") == 5.0
    with pytest.raises(TypeError):
        inv.flag_str("detach")


def test_two_stage_parse_matches_parse() -> None:
    argv = ["--log-format", "json", "exec", "-t", "c1", "sh"]
    first = parse_globals(argv)
    assert (first.command, first.args, first.flags) == ("exec", ["-t", "c1", "sh"], {})
    second = parse_command(first)
    whole = parse(argv)
    for slot in Invocation.__slots__:
        assert getattr(second, slot) == getattr(whole, slot), slot


def test_global_usage_error_comes_before_the_command_is_looked_at() -> None:
    with pytest.raises(UsageError):
        parse_globals(["--bogus", "nosuchcommand"])
    assert parse_globals(["nosuchcommand", "--bogus"]).command == "nosuchcommand"


def test_root_default_follows_xdg_for_rootless_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert _parse("list").globals["root"] == "/run/user/1000/shim"
    assert _parse("--root /r list").globals["root"] == "/r"
    assert '(default: "/run/user/1000/shim")' in help_text(None)


def test_command_help_pages_look_like_runcs() -> None:
    assert help_text("kill") == (
        "NAME:\n"
        "   runc kill - kill sends the specified signal (default: SIGTERM) to the container's"
        " init process\n\n"
        "USAGE:\n"
        "   runc kill [command options] <container-id> [signal]\n\n"
        'Where "<container-id>" is the name for the instance of the container and\n'
        '"[signal]" is the signal to be sent to the init process.\n\n'
        "OPTIONS:\n"
        "   --all, -a  send the specified signal to all processes inside the container\n"
        "   \n"
    )
    events = help_text("events")
    assert "   --interval value  set the stats collection interval (default: 5s)\n" in events
    assert "   --stats           display the container's stats then exit\n" in events
    assert "   --bundle value, -b value  path to the root" in help_text("create")
    assert "(default: 0)" in help_text("create")
    assert (
        '   --format value, -f value  select one of: table or json (default: "table")\n'
        in help_text("ps")
    )
    assert help_text("start").startswith("NAME:\n   runc start - executes")
    assert "OPTIONS" not in help_text("start")
    assert "kernel-memory" not in help_text("update")  # hidden, as in runc
    assert "also make a busybox rootfs next to config.json" in help_text("spec")


def test_global_help_lists_commands_and_global_options() -> None:
    page = help_text(None)
    assert page.startswith("NAME:\n   runc - Open Container Initiative runtime\n")
    assert "\n   checkpoint  checkpoint a running container\n" in page
    assert "\n   help, h     Shows a list of commands or help for one command\n" in page
    log_format = "set the log format ('text' (default), or 'json') (default: \"text\")"
    assert f"\n   --log-format value  {log_format}\n" in page
    assert "\n   --version, -v       print the version\n" in page


def test_help_text_of_an_unknown_command() -> None:
    with pytest.raises(UnknownCommand, match="No help topic for 'nope'"):
        help_text("nope")


def test_importing_the_parser_stays_cheap() -> None:
    code = (
        "import sys, shim.cli.args, shim.logs, shim.json_codec\n"
        "heavy = {'typing', 'json', 're', 'logging', 'enum', 'dataclasses', 'argparse',"
        " 'collections.abc', 'shim.errors'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"
