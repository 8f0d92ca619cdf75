"""`exec`: a new process in a running container, through the same helper and protocol.

H1 joins every namespace of the container's init at once with setns on its pidfd;
the parent puts H1 into the container's cgroup before it clones, so the process is
born inside; H2 applies the process (user, caps, no_new_privs, rlimits, cwd, env)
and execs. EOF on its channel means the exec happened.
"""

from __future__ import annotations

import os

from shim.cgroups.placement import add_process
from shim.errors import InvalidConfig, WrongState
from shim.init import protocol as p
from shim.init.boot import CLONE_FLAGS, check_size, process_tlvs, seccomp_tlvs
from shim.init.handshake import EXEC_TRANSITIONS, TlvWriter
from shim.init.rlimits import apply_rlimits
from shim.init.spawn import drive, spawn_helper
from shim.logs import get_logger
from shim.record_decoder import convert
from shim.records import replace
from shim.runtime.container import Container
from shim.runtime.status import PAUSED, STOPPED, open_init
from shim.spec.caps import CAPS
from shim.spec.load import load_process
from shim.spec.model import Capabilities, Process, Seccomp
from shim.spec.oci_state import oci_state
from shim.spec.process_rules import validate_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.cancel import CancelToken
    from shim.children import Child, ChildReaper
    from shim.runtime.state_store import State, StateStore


class ExecOptions:
    """runc's exec flags; `process_file` (-p) or `process` replaces every other process flag.

    `process`: the OCI Process itself, as a Struct or as its JSON bytes (what containerd's
    Exec sends). `stdio`: the process's fds 0, 1, 2 (None: /dev/null, never ours by
    accident); a terminal's console socket replaces them.
    """

    __slots__ = (
        "additional_gids",
        "apparmor",
        "args",
        "caps",
        "cgroups",
        "console_fd",
        "cwd",
        "env",
        "ignore_paused",
        "no_new_privs",
        "preserve_fds",
        "process",
        "process_file",
        "process_label",
        "stdio",
        "tty",
        "user",
    )

    def __init__(
        self,
        *,
        args: list[str] | None = None,
        process_file: str = "",
        tty: bool = False,
        console_fd: int | None = None,
        cwd: str = "",
        env: list[str] | None = None,
        user: str = "",
        additional_gids: list[int] | None = None,
        caps: list[str] | None = None,
        no_new_privs: bool | None = None,
        preserve_fds: int = 0,
        cgroups: list[str] | None = None,
        ignore_paused: bool = False,
        process: Process | bytes | None = None,
        stdio: tuple[int, int, int] | None = None,
        apparmor: str = "",
        process_label: str = "",
    ) -> None:
        self.process = process
        self.stdio = stdio
        self.apparmor = apparmor
        self.process_label = process_label
        self.args = args or []
        self.process_file = process_file
        self.tty = tty
        self.console_fd = console_fd
        self.cwd = cwd
        self.env = env or []
        self.user = user
        self.additional_gids = additional_gids or []
        self.caps = caps or []
        self.no_new_privs = no_new_privs
        self.preserve_fds = preserve_fds
        self.cgroups = cgroups or []
        self.ignore_paused = ignore_paused


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    """`-e K=V` appends; a later entry for the same name replaces the earlier one."""
    merged: dict[str, str] = {}
    for entry in [*base, *extra]:
        merged[entry.partition("=")[0]] = entry
    return list(merged.values())


def _atoi(value: str, name: str) -> int:
    """Go's strconv.Atoi, as runc parses `--user`; the range is checked with the process."""
    digits = value[1:] if value[:1] in ("+", "-") else value
    reason = ""
    if not (digits.isascii() and digits.isdigit()):
        reason = "invalid syntax"
    elif not -(1 << 63) <= int(value) < 1 << 63:
        reason = "value out of range"
    if reason:
        raise InvalidConfig(
            f'parsing {value} as int for {name} failed: strconv.Atoi: parsing "{value}": {reason}'
        )
    return int(value)


def _parse_user(text: str, proc: Process) -> None:
    """`-u UID[:GID]`. runc casts to uint32, so its `-u 4294967296` runs as root; here every
    value stays whole and validate_process refuses what is out of range."""
    uid, sep, gid = text.partition(":")
    if sep:
        proc.user.gid = _atoi(gid, "gid")
    proc.user.uid = _atoi(uid, "uid")


def _add_caps(names: list[str], proc: Process) -> None:
    known = [n for n in names if n in CAPS]
    unknown = [n for n in names if n not in CAPS]
    if unknown:  # runc only warns, and runs without them
        get_logger().warning(f"ignoring unknown or unavailable capabilities: [{' '.join(unknown)}]")
    caps = proc.capabilities or Capabilities()
    for cap in known:  # never inheritable (CVE-2022-29162)
        for kind in (caps.bounding, caps.effective, caps.permitted, caps.ambient):
            if cap not in kind:
                kind.append(cap)
    proc.capabilities = caps


def build_process(state: State, opts: ExecOptions) -> Process:
    """The process to run: a process.json, or the container's process with the flags on top."""
    base = convert(state.config.get("process") or {}, Process)
    if opts.process is not None:
        proc = (
            load_process(opts.process, "process")
            if isinstance(opts.process, bytes)
            else replace(opts.process)
        )
        _labels(proc, base, opts)
        return proc
    if opts.process_file:
        try:
            with open(opts.process_file, "rb") as f:
                proc = load_process(f.read(), opts.process_file)
        except OSError as err:
            reason = (err.strerror or str(err)).lower()
            raise InvalidConfig(f"open {opts.process_file}: {reason}") from None
        if proc.capabilities is None:
            proc.capabilities = base.capabilities
        _labels(proc, base, opts)
        return proc
    if not opts.args:
        raise InvalidConfig("process args cannot be empty")
    proc = replace(base, args=opts.args, terminal=opts.tty)
    proc.env = _merge_env(base.env, opts.env)
    if opts.cwd:
        proc.cwd = opts.cwd
    if opts.user:
        _parse_user(opts.user, proc)
    if opts.additional_gids:
        for gid in opts.additional_gids:
            if gid < 0:  # runc's text; the upper bound is validate_process's
                raise InvalidConfig(f"additional-gids must be a positive number {gid}")
        proc.user.additional_gids = list(opts.additional_gids)
    if opts.caps:
        _add_caps(opts.caps, proc)
    if opts.no_new_privs is not None:
        proc.no_new_privileges = opts.no_new_privs
    _labels(proc, base, opts)
    return proc


def _labels(proc: Process, base: Process, opts: ExecOptions) -> None:
    """runc's rule: the flags, else the process's own labels, else the container's."""
    proc.apparmor_profile = opts.apparmor or proc.apparmor_profile or base.apparmor_profile
    proc.selinux_label = opts.process_label or proc.selinux_label or base.selinux_label
    validate_process(proc)
    if proc.selinux_label:
        from shim.init.lsm import check_lsm

        check_lsm(proc)


def _cgroup_paths(state: State, subs: list[str]) -> dict[str, str]:
    """The container's cgroups, or `--cgroup [ctrl:]path` sub-cgroups of them (which must exist)."""
    paths = dict(state.cgroup_paths)
    for spec in subs:
        ctrls, sep, sub = spec.rpartition(":") if ":" in spec else ("", "", spec)
        targets = ctrls.split(",") if sep else list(paths)
        for ctrl in targets:
            if ctrl not in paths:  # runc's words for both refusals
                raise InvalidConfig(
                    f"unable to create new parent process: unknown controller {ctrl} in "
                    "SubCgroupPaths"
                )
            path = os.path.normpath(os.path.join(paths[ctrl], sub.lstrip("/")))
            if not path.startswith(state.cgroup_paths[ctrl].rstrip("/") + "/"):
                raise InvalidConfig(
                    f"unable to create new parent process: {sub} is not a sub cgroup path"
                )
            if not os.path.isdir(path):
                raise InvalidConfig(f"--cgroup {spec}: {path} does not exist")
            paths[ctrl] = path
    return paths


def _load(store: StateStore, container_id: str, ignore_paused: bool) -> State:
    with Container.open(store, container_id) as container:
        if container.status == STOPPED:
            raise WrongState("cannot exec in a stopped container")
        if container.status == PAUSED and not ignore_paused:
            raise WrongState("cannot exec in a paused container (use --ignore-paused to override)")
        return container.state


def exec_process(
    store: StateStore,
    container_id: str,
    opts: ExecOptions,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
    on_started: Callable[[int], None] | None = None,
) -> Child:
    """Start the process; returns it once it has exec'd: our child, adopted by `reaper`
    (pid, pidfd, start time). On any failure (a cancel included) it is killed and collected."""
    state = _load(store, container_id, opts.ignore_paused)
    proc = build_process(state, opts)
    paths = _cgroup_paths(state, opts.cgroups)
    pidfd = open_init(state, "cannot exec in a stopped container")
    fds = [pidfd]
    try:
        w = TlvWriter()
        w.u32(p.T_EXEC, 1)
        if "mount" not in state.namespace_paths:
            # No mount namespace to join: enter the init's root instead (runc would run
            # the process in the host's root).
            fds.append(
                os.open(f"/proc/{state.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            )
            w.u32(p.T_ROOT_FD, 1)
        flags = 0
        for kind in state.namespace_paths:
            flags |= CLONE_FLAGS[kind]
        w.raw(p.T_JOIN_PIDFD, p.U32.pack(flags) + p.U32.pack(0))
        try:
            process_tlvs(w, proc)
        except ValueError as err:
            raise InvalidConfig(f"process: {err}") from None
        if state.keyring:
            w.text(p.T_KEYRING, state.keyring)
        seccomp = _container_seccomp(state)
        seccomp_tlvs(w, seccomp)
        w.u32(p.T_HAS_FIFO, 0)
        w.u32(p.T_HAS_CONSOLE, int(opts.console_fd is not None))
        check_size(len(w.getvalue()), proc, opts.process_file or "exec")
        helper = spawn_helper(
            reaper=reaper,
            cancel=cancel,
            preserve_fds=opts.preserve_fds,
            console_sock=opts.console_fd,
            fifo_fd=None,
            stdio=opts.stdio,
        )
        helper.log_fields = {"id": container_id, "exec": True}
        try:
            drive(
                helper,
                w.getvalue(),
                fds,
                place=lambda pid: add_process(paths, pid),
                on_child=on_started or (lambda _pid: None),
                on_ready=lambda pid: apply_rlimits(pid, proc.rlimits),
                on_seccomp=lambda pid, fd: _send_listener(state, seccomp, pid, fd),
                table=EXEC_TRANSITIONS,
            )
        except BaseException:
            helper.close()
            helper.bury()
            raise
        helper.close()
        assert helper.h2 is not None
        return helper.h2
    finally:
        for fd in fds:
            os.close(fd)


def _container_seccomp(state: State) -> Seccomp | None:
    """exec runs under the container's filter (runc's rule)."""
    linux = state.config.get("linux")
    raw = linux.get("seccomp") if isinstance(linux, dict) else None
    return convert(raw, Seccomp) if raw else None


def _send_listener(state: State, seccomp: Seccomp | None, pid: int, fd: int) -> None:
    if seccomp is None or not seccomp.listener_path:
        raise InvalidConfig("linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath")
    doc = oci_state(state.id, "running", state.pid, state.bundle, state.annotations)
    from shim.init.seccomp_listener import send_listener

    send_listener(seccomp.listener_path, seccomp.listener_metadata, fd, pid, doc)
