"""`create`: config -> a container waiting on its exec fifo, or nothing at all.

Every failure after the id is taken undoes what was made: helper processes
killed and reaped, cgroups removed, the state dir removed, poststop hooks run.
A journal in the state dir lets `delete --force` do the same after `create`
itself was killed.
"""

from __future__ import annotations

import os
import time

from shim.cgroups.devices import Rule, rule_of
from shim.cgroups.hierarchy import read_hierarchy
from shim.cgroups.manager import manager_for
from shim.cgroups.paths import container_paths
from shim.cgroups.placement import add_process, procs
from shim.cgroups.placement import create as create_cgroups
from shim.cgroups.placement import planned as planned_cgroups
from shim.errors import HookFailed, InitFailed, InvalidArgument, InvalidConfig
from shim.init.boot import build_boot
from shim.init.rlimits import apply_rlimits
from shim.init.spawn import Helper, drive, spawn_helper
from shim.logs import get_logger
from shim.runtime.cleanup import Journal, destroy
from shim.runtime.hooks import HookSpec, run_hooks
from shim.runtime.state_store import ContainerDir, State, StateStore
from shim.runtime.status import proc_stat
from shim.runtime.unsupported import check_supported
from shim.spec.load import load_spec
from shim.spec.oci_state import oci_state
from shim.spec.validate import validate_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import Child, ChildReaper
    from shim.spec.model import Spec

INIT_TIMEOUT = 60.0  # seconds for the whole handshake, hooks excluded
NS_FILES = {
    "mount": "mnt", "pid": "pid", "network": "net", "ipc": "ipc",
    "uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time",
}  # fmt: skip


class CreateOptions:
    """runc's create flags, and the container's stdio.

    `stdio`: the three fds the container's process gets as 0, 1, 2 (the helper dups them;
    the caller keeps and closes its own). None gives it /dev/null: a library caller never
    hands a container its own stdio by accident (the CLI passes its 0-2 explicitly, as
    runc's detached create does). With a terminal the console socket replaces them.
    """

    __slots__ = (
        "console_fd",
        "loaded",
        "no_new_keyring",
        "no_pivot",
        "pid_file",
        "preserve_fds",
        "stdio",
    )

    def __init__(
        self,
        *,
        console_fd: int | None = None,
        pid_file: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
        loaded: tuple[Spec, str] | None = None,
        stdio: tuple[int, int, int] | None = None,
    ) -> None:
        self.stdio = stdio
        self.console_fd = console_fd
        self.loaded = loaded  # (spec, rootfs) from load_bundle, when the caller read it already
        self.pid_file = pid_file
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds


def load_bundle(bundle: str) -> tuple[Spec, str]:
    """Read, decode and validate <bundle>/config.json; returns the spec and the rootfs path."""
    if not os.path.isdir(bundle):
        raise InvalidConfig(f"chdir {bundle}: no such file or directory")
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InvalidConfig("JSON specification file config.json not found") from None
    spec = load_spec(raw)
    validate_spec(spec)
    check_supported(spec)
    if spec.linux is not None and (spec.linux.uid_mappings or spec.linux.gid_mappings):
        from shim.init.idmap import map_text

        map_text(spec.linux.uid_mappings, "linux.uidMappings")
        map_text(spec.linux.gid_mappings, "linux.gidMappings")
    if spec.root is None or not spec.root.path:
        raise InvalidConfig("root.path: the rootfs path is required")
    rootfs = os.path.realpath(os.path.join(bundle, spec.root.path))
    if not os.path.isdir(rootfs):
        raise InvalidConfig(f"rootfs ({rootfs}) does not exist")
    return spec, rootfs


def rfc3339_now() -> str:
    """Go's RFC3339Nano in UTC: trailing zeros of the fraction trimmed, no fraction if zero."""
    ns = time.time_ns()
    fraction = f"{ns % 10**9:09d}".rstrip("0")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def cgroup_mount_dirs(paths: dict[str, str]) -> list[tuple[str, str]]:
    """(name under /sys/fs/cgroup, host dir) for each hierarchy the container sees."""
    hierarchy = read_hierarchy()
    if hierarchy.mode == "v2":
        return [("", paths[""])]
    dirs: dict[str, str] = {}
    for ctrl, mount in hierarchy.v1.items():
        if ctrl in paths:
            dirs[os.path.basename(mount.mountpoint)] = paths[ctrl]
    if "" in paths:
        dirs["unified"] = paths[""]
    return sorted(dirs.items())


def device_rules(spec: Spec) -> list[Rule]:
    """The spec's device rules. A `linux.devices` node gets no rule of its own: runc 1.1
    makes the node and leaves access to `linux.resources.devices` (clients add the rule)."""
    linux = spec.linux
    res = linux.resources if linux else None
    if res is None:
        return []
    return [
        rule_of(i, r.allow, r.type, r.major, r.minor, r.access) for i, r in enumerate(res.devices)
    ]


def open_mount_source(sources: list[tuple[str, bool]], index: int) -> int:
    """A detached copy of the `index`th planned bind source's mount tree, for the helper."""
    from shim.sys import open_tree_clone

    if not 0 <= index < len(sources):
        raise InitFailed(f"the init helper asked for mount source {index} of {len(sources)}")
    source, recursive = sources[index]
    try:
        return open_tree_clone(source, recursive)
    except OSError as err:
        raise InitFailed(
            f"unable to start container process: bind mount {source}: open source: {err.strerror}"
        ) from None


def write_pid_file(path: str, pid: int) -> None:
    """runc's way: `.<name>` beside it, O_EXCL, then rename; no trailing newline."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_SYNC | os.O_CLOEXEC, 0o666)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as err:
        raise InvalidArgument(
            f"open {err.filename}: {err.strerror.lower() if err.strerror else err}"
        ) from None


class Created:
    """What `create` hands back: the stored state and the init, a child adopted by the
    reaper (its pidfd opened before create returned)."""

    __slots__ = ("init", "state")

    def __init__(self, state: State, init: Child) -> None:
        self.state = state
        self.init = init


class _Creation:
    """One create in progress: what has been made so far, so failure can undo exactly that."""

    def __init__(
        self,
        store: StateStore,
        container_id: str,
        bundle: str,
        spec: Spec,
        rootfs: str,
        reaper: ChildReaper,
        cancel: CancelToken | None,
    ) -> None:
        self.reaper = reaper
        self.cancel = cancel
        self.id = container_id
        self.bundle = bundle
        self.spec = spec
        self.rootfs = rootfs
        self.cdir: ContainerDir = store.claim(container_id)
        self.journal = Journal(self.cdir.path)
        self.helper: Helper | None = None
        self.paths: dict[str, str] = {}
        self.state: State | None = None
        self.no_new_keyring = False

    def run(self, opts: CreateOptions) -> Created:
        linux = self.spec.linux
        self.no_new_keyring = opts.no_new_keyring
        os.mkfifo(self.cdir.fifo_path, 0o622)
        os.chmod(self.cdir.fifo_path, 0o622)
        fifo = os.open(self.cdir.fifo_path, os.O_PATH | os.O_CLOEXEC)
        try:
            self.paths = container_paths(linux.cgroups_path if linux else "", self.id)
            busy = procs(self.paths)
            if busy:  # runc warns and goes on (1.2 refuses)
                get_logger().warning(
                    f"container's cgroup is not empty: {len(busy)} process(es) found"
                )
            # Journalled before the first mkdir: killed in between, `delete --force` still
            # removes every one (and a later create of this id finds none to adopt).
            self.journal.record(cgroup_created=planned_cgroups(self.paths), cgroup_paths=self.paths)
            self.journal.record(cgroup_created=create_cgroups(self.paths))
            manager_for(self.paths).apply(
                linux.resources if linux else None, device_rules(self.spec)
            )
            plan = build_boot(
                self.spec,
                container_id=self.id,
                bundle=self.bundle,
                rootfs=self.rootfs,
                cgroup_dirs=cgroup_mount_dirs(self.paths),
                no_pivot=opts.no_pivot,
                no_new_keyring=opts.no_new_keyring,
                has_console=opts.console_fd is not None,
            )
            try:
                self.helper = spawn_helper(
                    reaper=self.reaper,
                    cancel=self.cancel,
                    preserve_fds=opts.preserve_fds,
                    console_sock=opts.console_fd,
                    fifo_fd=fifo,
                    stdio=opts.stdio,
                )
                self.helper.log_fields = {"id": self.id}
                self.journal.record(pids=[self.helper.h1_pid])
                self._exchange(plan.body, plan.fds, plan.mount_sources)
            finally:
                for fd in plan.fds:
                    os.close(fd)
        finally:
            os.close(fifo)
        assert self.state is not None
        assert self.helper is not None
        assert self.helper.h2 is not None
        return Created(self.state, self.helper.h2)

    def _exchange(self, boot: bytes, ns_fds: list[int], sources: list[tuple[str, bool]]) -> None:
        helper = self.helper
        assert helper is not None
        drive(
            helper,
            boot,
            ns_fds,
            place=lambda pid: add_process(self.paths, pid),
            on_child=lambda pid: self.journal.record(pids=[helper.h1_pid, pid]),
            on_hooks=self._create_hooks,
            on_userns=self._write_id_maps,
            on_seccomp=self._seccomp_listener,
            on_mount=lambda index: open_mount_source(sources, index),
            on_ready=self._ready,
            timeout=INIT_TIMEOUT,
        )

    def _seccomp_listener(self, pid: int, fd: int) -> None:
        seccomp = self.spec.linux.seccomp if self.spec.linux else None
        if seccomp is None or not seccomp.listener_path:
            raise InvalidConfig("linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath")
        from shim.init.seccomp_listener import send_listener  # a notify filter only

        state = oci_state(self.id, "creating", pid, self.bundle, self.spec.annotations)
        send_listener(seccomp.listener_path, seccomp.listener_metadata, fd, pid, state)

    def _write_id_maps(self, h1_pid: int) -> None:
        from shim.init.idmap import map_text, write_id_maps  # a new user namespace only

        linux = self.spec.linux
        assert linux is not None
        write_id_maps(
            h1_pid,
            map_text(linux.uid_mappings, "linux.uidMappings"),
            map_text(linux.gid_mappings, "linux.gidMappings"),
            deny_setgroups=os.geteuid() != 0,  # unprivileged: the kernel requires it
        )

    def _create_hooks(self, pid: int) -> None:
        hooks = self.spec.hooks
        if hooks is None:
            return
        # prestart is runtime-spec 1.0's hook, defined to run once create is done: it sees
        # "created" (as with crun; runc 1.1 says "creating"); createRuntime, the 1.1 hook at
        # the same moment, sees "creating".
        annotations = self.spec.annotations
        try:
            for kind, status in ((hooks.prestart, "created"), (hooks.create_runtime, "creating")):
                state = oci_state(self.id, status, pid, self.bundle, annotations)
                specs = [HookSpec(h.path, h.args, h.env, h.timeout) for h in kind]
                # "#N" counts within a kind
                run_hooks(specs, state, self.bundle, self.reaper, self.cancel)
        except HookFailed as err:
            raise HookFailed(
                f"unable to start container process: error during container init: {err}"
            ) from None

    def _ready(self, pid: int) -> None:
        proc = self.spec.process
        apply_rlimits(pid, proc.rlimits if proc else [])
        st = proc_stat(pid)
        if st is None:
            raise InitFailed("unable to start container process: container init died during setup")
        namespaces = self.spec.linux.namespaces if self.spec.linux else []
        if not any(ns.type == "mount" for ns in namespaces):
            from shim.runtime.host_mounts import record_rootfs_bind

            record_rootfs_bind(self.cdir.path, self.rootfs)
        self.state = initial_state(
            self.id,
            pid,
            st[1],
            self.spec,
            bundle=self.bundle,
            rootfs=self.rootfs,
            cgroup_paths=self.paths,
            cgroup_created=self.journal.cgroup_created,
            keyring="" if self.no_new_keyring else f"_ses.{self.id}",
            namespaces={ns.type: ns.path for ns in namespaces},
        )
        self.cdir.write_state(self.state)

    def abort(self) -> None:
        """Undo everything; errors while undoing are logged, never raised over the cause.
        Runs to the end even after a cancel (it is the cancel's cleanup)."""
        helper, self.helper = self.helper, None
        try:
            destroy(
                self.cdir,
                self.journal.load(),
                poststop=self._poststop(),
                bundle=self.bundle,
                reaper=self.reaper,
            )
        finally:
            if helper is not None:
                helper.close()
                helper.bury()

    def _poststop(self) -> list[HookSpec]:
        hooks = self.spec.hooks
        return [HookSpec(h.path, h.args, h.env, h.timeout) for h in hooks.poststop] if hooks else []


def initial_state(
    container_id: str,
    pid: int,
    start_time: int,
    spec: Spec,
    *,
    bundle: str,
    rootfs: str,
    cgroup_paths: dict[str, str],
    cgroup_created: list[str],
    keyring: str,
    namespaces: dict[str, str],
) -> State:
    """The state a container is recorded with once its init exists (created, or restored
    by criu): `namespaces` maps each namespace type to the path it joined, "" for one of
    its own (then the init's /proc entry names it)."""
    from shim.records import to_builtins

    return State(
        id=container_id,
        pid=pid,
        start_time=start_time,
        created=rfc3339_now(),
        bundle=bundle,
        rootfs=rootfs,
        annotations=dict(spec.annotations),
        cgroup_paths=cgroup_paths,
        cgroup_created=cgroup_created,
        keyring=keyring,
        namespace_paths={
            kind: path or f"/proc/{pid}/ns/{NS_FILES[kind]}" for kind, path in namespaces.items()
        },
        config=to_builtins(spec),
    )


def create_container(
    store: StateStore,
    container_id: str,
    bundle: str,
    opts: CreateOptions,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> Created:
    """Create the container; on any failure (a cancel included) nothing is left behind and
    the error is raised."""
    bundle = os.path.abspath(bundle)
    spec, rootfs = opts.loaded or load_bundle(bundle)
    creation = _Creation(store, container_id, bundle, spec, rootfs, reaper, cancel)
    try:
        created = creation.run(opts)
        if opts.pid_file:
            write_pid_file(opts.pid_file, created.state.pid)
    except BaseException:
        creation.abort()
        raise
    finally:
        if creation.helper is not None:
            creation.helper.close()
        creation.cdir.close()
    creation.journal.clear()
    return created
