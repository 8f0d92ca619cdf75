"""Every runc 1.1 command and flag as data (parsed by `shim.cli.args`), and the help
pages urfave/cli prints from them.

A flag is `(names, kind, default, usage)`: the first name keys `Invocation.flags`,
later ones are aliases (`-b`); an empty usage hides the flag from help. Kinds are
Go's: `bool`, `string`, `int` (int64, base prefixes allowed), `duration` (`5s`; the
default is written the same way), `strings` and `ints` (repeatable; `ints` is
urfave's Int64Slice, decimal only). runc 1.1.5 has no unsigned flag: all of its
numeric flags accept `-1` (observed).

A command is `(name, usage, args_usage, description, arg_rules, skip_reorder, flags)`;
`arg_rules` are runc's `checkArgs` calls in order, `(phrase, n)` for
`requires <phrase> <n> argument(s)`; `skip_reorder` stops flag parsing at the first
positional argument (urfave's SkipArgReorder, set for `exec` and `ps`).
"""

from __future__ import annotations

import os

from shim.logs import go_quote

TYPE_CHECKING = False  # `typing` costs ~9 ms at start-up; mypy still reads this as True
if TYPE_CHECKING:
    from typing import TypeAlias

    Flag: TypeAlias = tuple[tuple[str, ...], str, object, str]
    ArgRule: TypeAlias = tuple[str, int]
    Command: TypeAlias = tuple[str, str, str, str, tuple[ArgRule, ...], bool, tuple[Flag, ...]]

_APP = "runc"  # what help pages call the program (runc's bats tests look for it)
APP_USAGE = """Open Container Initiative runtime

runc is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format and is a compliant implementation of the
Open Container Initiative specification."""

# --root's default is computed at run time (XDG_RUNTIME_DIR for rootless users).
GLOBAL_FLAGS: tuple[Flag, ...] = (
    (("debug",), "bool", False, "enable debug logging"),
    (("log",), "string", "", "set the log file to write runc logs to (default is '/dev/stderr')"),
    (("log-format",), "string", "text", "set the log format ('text' (default), or 'json')"),
    (
        ("root",),
        "string",
        "/run/shim",
        "root directory for storage of container state (this should be located in tmpfs)",
    ),
    (("criu",), "string", "criu", "path to the criu binary used for checkpoint and restore"),
    (
        ("systemd-cgroup",),
        "bool",
        False,
        'enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name"'
        ' for e.g. "system.slice:runc:434234"',
    ),
    (
        ("rootless",),
        "string",
        "auto",
        "ignore cgroup permission errors ('true', 'false', or 'auto')",
    ),
    (("help", "h"), "bool", False, "show help"),
    (("version", "v"), "bool", False, "print the version"),
)
HELP_FLAG: Flag = (("help", "h"), "bool", False, "show help")  # urfave adds it to every command

_ID = "<container-id>"
_WHERE_ID = 'Where "<container-id>" is the name for the instance of the container.'
_WHERE_NEW = (
    'Where "<container-id>" is your name for the instance of the container that you\n'
    "are starting. The name you provide for the container instance must be unique on\n"
    "your host."
)
_BUNDLE: Flag = (
    ("bundle", "b"),
    "string",
    "",
    "path to the root of the bundle directory, defaults to the current directory",
)
_CONSOLE: Flag = (
    ("console-socket",),
    "string",
    "",
    "path to an AF_UNIX socket which will receive a file descriptor referencing the master"
    " end of the console's pseudoterminal",
)
_PID_FILE: Flag = (("pid-file",), "string", "", "specify the file to write the process id to")
_DETACH: Flag = (("detach", "d"), "bool", False, "detach from the container's process")
_NO_PIVOT: Flag = (
    ("no-pivot",),
    "bool",
    False,
    "do not use pivot root to jail process inside rootfs.  This should be used whenever the"
    " rootfs is on top of a ramdisk",
)
_NO_KEYRING: Flag = (
    ("no-new-keyring",),
    "bool",
    False,
    "do not create a new session keyring for the container.  This will cause the container"
    " to inherit the calling processes session key",
)
_PRESERVE_FDS: Flag = (
    ("preserve-fds",),
    "int",
    0,
    "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)",
)
_NO_SUBREAPER: Flag = (
    ("no-subreaper",),
    "bool",
    False,
    "disable the use of the subreaper used to reap reparented processes",
)
_CRIU_SHARED: tuple[Flag, ...] = (
    (("tcp-established",), "bool", False, "allow open tcp connections"),
    (("ext-unix-sk",), "bool", False, "allow external unix sockets"),
    (("shell-job",), "bool", False, "allow shell jobs"),
)
_CGROUPS_MODE: Flag = (
    ("manage-cgroups-mode",),
    "string",
    "",
    "cgroups mode: 'soft' (default), 'full' and 'strict'",
)
_EMPTY_NS: Flag = (
    ("empty-ns",),
    "strings",
    (),
    "create a namespace, but don't restore its properties",
)
_AUTO_DEDUP: Flag = (("auto-dedup",), "bool", False, "enable auto deduplication of memory images")
_LAZY: Flag = (("lazy-pages",), "bool", False, "use userfaultfd to lazily restore memory pages")
_FORMAT: Flag = (("format", "f"), "string", "table", "select one of: table or json")
_LOCKS: Flag = (("file-locks",), "bool", False, "handle file locks, for safety")
_WORK_PATH: Flag = (("work-path",), "string", "", "path for saving work files and logs")


def _update_flag(name: str, usage: str, kind: str = "string") -> Flag:
    return ((name,), kind, 0 if kind == "int" else "", usage)


COMMANDS: tuple[Command, ...] = (
    (
        "checkpoint",
        "checkpoint a running container",
        f"{_ID}\n\n{_WHERE_ID[:-1]} to be\ncheckpointed.",
        "The checkpoint command saves the state of the container instance.",
        (("exactly", 1),),
        False,
        (
            (("image-path",), "string", "", "path for saving criu image files"),
            _WORK_PATH,
            (("parent-path",), "string", "", "path for previous criu image files in pre-dump"),
            (("leave-running",), "bool", False, "leave the process running after checkpointing"),
            *_CRIU_SHARED,
            _LAZY,
            (("status-fd",), "int", -1, "criu writes \\0 to this FD once lazy-pages is ready"),
            (("page-server",), "string", "", "ADDRESS:PORT of the page server"),
            _LOCKS,
            (
                ("pre-dump",),
                "bool",
                False,
                "dump container's memory information only, leave the container running after this",
            ),
            _CGROUPS_MODE,
            _EMPTY_NS,
            _AUTO_DEDUP,
        ),
    ),
    (
        "create",
        "create a container",
        f"{_ID}\n\n{_WHERE_NEW}",
        "The create command creates an instance of a container for a bundle. The bundle\n"
        'is a directory with a specification file named "config.json" and a root\nfilesystem.',
        (("exactly", 1),),
        False,
        (_BUNDLE, _CONSOLE, _PID_FILE, _NO_PIVOT, _NO_KEYRING, _PRESERVE_FDS),
    ),
    (
        "delete",
        "delete any resources held by the container often used with detached container",
        f"{_ID}\n\n{_WHERE_ID}",
        "",
        (("exactly", 1),),
        False,
        (
            (
                ("force", "f"),
                "bool",
                False,
                "Forcibly deletes the container if it is still running (uses SIGKILL)",
            ),
        ),
    ),
    (
        "events",
        "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
        f"{_ID}\n\n{_WHERE_ID}",
        "The events command displays information about the container. By default the\n"
        "information is displayed once every 5 seconds.",
        (("a maximum of", 1),),  # exactly 1 without --all: checked by the command
        False,
        (
            (("interval",), "duration", "5s", "set the stats collection interval"),
            (("stats",), "bool", False, "display the container's stats then exit"),
            (
                ("all",),
                "bool",
                False,
                "the events of every container under --root, new ones included (not in runc)",
            ),
        ),
    ),
    (
        "exec",
        "execute new process inside the container",
        f'{_ID} <command> [command options]  || -p process.json {_ID}\n\nWhere "<container-id>"'
        ' is the name for the instance of the container and\n"<command>" is the command to be'
        ' executed in the container.\n"<command>" can\'t be empty unless a "-p" flag provided.',
        "",
        (("a minimum of", 1),),
        True,
        (
            _CONSOLE,
            (("cwd",), "string", "", "current working directory in the container"),
            (("env", "e"), "strings", (), "set environment variables"),
            (("tty", "t"), "bool", False, "allocate a pseudo-TTY"),
            (("user", "u"), "string", "", "UID (format: <uid>[:<gid>])"),
            (("additional-gids", "g"), "ints", (), "additional gids"),
            (("process", "p"), "string", "", "path to the process.json"),
            _DETACH,
            _PID_FILE,
            (
                ("process-label",),
                "string",
                "",
                "set the asm process label for the process commonly used with selinux",
            ),
            (("apparmor",), "string", "", "set the apparmor profile for the process"),
            (("no-new-privs",), "bool", False, "set the no new privileges value for the process"),
            (("cap", "c"), "strings", (), "add a capability to the bounding set for the process"),
            _PRESERVE_FDS,
            (
                ("cgroup",),
                "strings",
                (),
                "run the process in an (existing) sub-cgroup(s)."
                " Format is [<controller>:]<cgroup>.",
            ),
            (("ignore-paused",), "bool", False, "allow exec in a paused container"),
        ),
    ),
    (
        "kill",
        "kill sends the specified signal (default: SIGTERM) to the container's init process",
        f'{_ID} [signal]\n\nWhere "<container-id>" is the name for the instance of the container'
        ' and\n"[signal]" is the signal to be sent to the init process.',
        "",
        (("a minimum of", 1), ("a maximum of", 2)),
        False,
        (
            (
                ("all", "a"),
                "bool",
                False,
                "send the specified signal to all processes inside the container",
            ),
        ),
    ),
    (
        "list",
        "lists containers started by runc with the given root",
        '\n\nWhere the given root is specified via the global option "--root"\n'
        '(default: "/run/shim").',
        "",
        (("exactly", 0),),
        False,
        (_FORMAT, (("quiet", "q"), "bool", False, "display only container IDs")),
    ),
    (
        "pause",
        "pause suspends all processes inside the container",
        f"{_ID}\n\n{_WHERE_ID[:-1]} to be\npaused. ",
        "The pause command suspends all processes in the instance of the container.\n\n"
        "Use runc list to identify instances of containers and their current status.",
        (("exactly", 1),),
        False,
        (),
    ),
    (
        "ps",
        "ps displays the processes running inside a container",
        f"{_ID} [ps options]",
        "",
        (("a minimum of", 1),),
        True,
        (_FORMAT,),
    ),
    (
        "restore",
        "restore a container from a previous checkpoint",
        f"{_ID}\n\n{_WHERE_ID[:-1]} to be\nrestored.",
        "Restores the saved state of the container instance that was previously saved\n"
        "using the runc checkpoint command.",
        (("exactly", 1),),
        False,
        (
            _CONSOLE,
            (("image-path",), "string", "", "path to criu image files for restoring"),
            _WORK_PATH,
            *_CRIU_SHARED,
            _LOCKS,
            _CGROUPS_MODE,
            (_BUNDLE[0], "string", "", "path to the root of the bundle directory"),
            _DETACH,
            _PID_FILE,
            _NO_SUBREAPER,
            _NO_PIVOT,
            _EMPTY_NS,
            _AUTO_DEDUP,
            _LAZY,
            (
                ("lsm-profile",),
                "string",
                "",
                "Specify an LSM profile to be used during restore in the form of TYPE:NAME.",
            ),
            (
                ("lsm-mount-context",),
                "string",
                "",
                "Specify an LSM mount context to be used during restore.",
            ),
        ),
    ),
    (
        "resume",
        "resumes all processes that have been previously paused",
        f"{_ID}\n\n{_WHERE_ID[:-1]} to be\nresumed.",
        "The resume command resumes all processes in the instance of the container.\n\n"
        "Use runc list to identify instances of containers and their current status.",
        (("exactly", 1),),
        False,
        (),
    ),
    (
        "run",
        "create and run a container",
        f"{_ID}\n\n{_WHERE_NEW}",
        "The run command creates an instance of a container for a bundle. The bundle\n"
        'is a directory with a specification file named "config.json" and a root\nfilesystem.',
        (("exactly", 1),),
        False,
        (
            _BUNDLE,
            _CONSOLE,
            _DETACH,
            (("keep",), "bool", False, "do not delete the container after it exits"),
            _PID_FILE,
            _NO_SUBREAPER,
            _NO_PIVOT,
            _NO_KEYRING,
            _PRESERVE_FDS,
        ),
    ),
    (
        "spec",
        "create a new specification file",
        "",
        'The spec command creates the new specification file named "config.json" for\nthe bundle.',
        (("exactly", 0),),
        False,
        (
            (_BUNDLE[0], "string", "", "path to the root of the bundle directory"),
            (("rootless",), "bool", False, "generate a configuration for a rootless container"),
            (("busybox",), "bool", False, "also make a busybox rootfs next to config.json"),
        ),
    ),
    (
        "start",
        "executes the user defined process in a created container",
        f"{_ID}\n\n{_WHERE_NEW}",
        "The start command executes the user defined process in a created container.",
        (("exactly", 1),),
        False,
        (),
    ),
    (
        "state",
        "output the state of a container",
        f'{_ID}\n\nWhere "<container-id>" is your name for the instance of the container.',
        "The state command outputs current state information for the\ninstance of a container.",
        (("exactly", 1),),
        False,
        (),
    ),
    (
        "update",
        "update container resource constraints",
        _ID,
        "",
        (("exactly", 1),),
        False,
        (
            (
                ("resources", "r"),
                "string",
                "",
                "path to the file containing the resources to update or '-' to read from the"
                " standard input",
            ),
            _update_flag(
                "blkio-weight", "Specifies per cgroup weight, range is from 10 to 1000", "int"
            ),
            _update_flag(
                "cpu-period",
                "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default",
            ),
            _update_flag(
                "cpu-quota",
                "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period",
            ),
            _update_flag("cpu-share", "CPU shares (relative weight vs. other containers)"),
            _update_flag(
                "cpu-rt-period",
                "CPU realtime period to be used for hardcapping (in usecs)."
                " 0 to use system default",
            ),
            _update_flag(
                "cpu-rt-runtime",
                "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period",
            ),
            _update_flag("cpuset-cpus", "CPU(s) to use"),
            _update_flag("cpuset-mems", "Memory node(s) to use"),
            _update_flag("kernel-memory", ""),  # obsolete, hidden; runc warns and ignores it
            _update_flag("kernel-memory-tcp", ""),
            _update_flag("memory", "Memory limit (in bytes)"),
            _update_flag("memory-reservation", "Memory reservation or soft_limit (in bytes)"),
            _update_flag(
                "memory-swap",
                "Total memory usage (memory + swap); set '-1' to enable unlimited swap",
            ),
            _update_flag("pids-limit", "Maximum number of pids allowed in the container", "int"),
            _update_flag("l3-cache-schema", "The string of Intel RDT/CAT L3 cache schema"),
            _update_flag("mem-bw-schema", "The string of Intel RDT/MBA memory bandwidth schema"),
        ),
    ),
    (
        "features",
        "show the enabled features",
        "",
        "Show the enabled features.\n   The result is parsable as a JSON.",
        (("exactly", 0),),
        False,
        (),
    ),
    (
        "help",
        "Shows a list of commands or help for one command",
        "[command]",
        "",
        (),
        False,
        (),
    ),
)
COMMAND_ALIASES = {"h": "help"}


def default_root() -> str:
    """`--root`'s default, by runc's rule but our own name (so shim and runc never read each
    other's state): `$XDG_RUNTIME_DIR/shim` for a rootless caller (or root in a user
    namespace whose USER is not root), else `/run/shim`."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and (os.geteuid() != 0 or (_in_user_namespace() and os.environ.get("USER") != "root")):
        return xdg + "/shim"
    return "/run/shim"


def _in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map", "rb") as uid_map:
            return uid_map.read().split() != [b"0", b"0", b"4294967295"]
    except OSError:  # no user namespaces in this kernel
        return False


def render_help(command: Command | None) -> str:
    """urfave/cli v1's help page for `command` (None: the global one), as runc prints it."""
    if command is None:
        aliases = {name: alias for alias, name in COMMAND_ALIASES.items()}
        commands = "".join(
            f"\n   {', '.join((name, aliases[name]) if name in aliases else (name,))}\t{usage}"
            for name, usage, *_ in COMMANDS
        )
        flags = [
            (f[0], f[1], default_root(), f[3]) if f[0] == ("root",) else f for f in GLOBAL_FLAGS
        ]
        options = "\n   ".join(_flag_line(flag) for flag in flags)
        return _align(
            f"NAME:\n   {_APP} - {APP_USAGE}\n\nUSAGE:\n   {_APP} [global options] command"
            f" [command options] [arguments...]\n\nCOMMANDS:{commands}\n\n"
            f"GLOBAL OPTIONS:\n   {options}\n"
        )
    name, usage, args_usage, description, _, _, own_flags = command
    visible = [_flag_line(flag) for flag in own_flags if flag[3]]
    text = f"NAME:\n   {_APP} {name} - {usage}\n\nUSAGE:\n   {_APP} {name}"
    text += f"{' [command options]' if visible else ''} {args_usage or '[arguments...]'}"
    text += f"\n\nDESCRIPTION:\n   {description}" if description else ""
    text += "\n\nOPTIONS:\n   " + "".join(f"{line}\n   " for line in visible) if visible else ""
    return _align(text + "\n")


def _flag_line(flag: Flag) -> str:
    """`--bundle value, -b value<TAB>usage (default: ...)`, urfave's stringifyFlag."""
    names, kind, default, usage = flag
    value = "" if kind == "bool" else " value"
    shown = ", ".join(("-" if len(n) == 1 else "--") + n + value for n in names)
    if kind in ("int", "duration") or (kind == "string" and default):
        usage += f" (default: {go_quote(str(default)) if kind == 'string' else default})"
    return f"{shown}\t{usage}"


def _align(text: str) -> str:
    """Go's tabwriter (padding 2): one column per run of consecutive lines with a tab."""
    lines = text.split("\n")
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and "\t" in lines[end]:
            end += 1
        if end == start:
            start += 1
            continue
        width = max(line.index("\t") for line in lines[start:end]) + 2
        for i in range(start, end):
            cell, _, rest = lines[i].partition("\t")
            lines[i] = cell.ljust(width) + rest
        start = end
    return "\n".join(lines)
