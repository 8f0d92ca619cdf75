"""`restore`: a container from criu images, under the id given (a new one works).

    check the bundle, the images and criu               (nothing made yet)
    take the id; make the cgroups, resources applied    (the journal starts)
    fork criu into its own mount namespace with the rootfs ready as its root
      (criu_root.py); place it in the cgroups; name them in cg_root
    RESTORE; criu calls back:
      setup-namespaces   lo up in a new network namespace (as create does);
                         prestart and createRuntime hooks (runc runs them here)
      post-restore       state.json: the new init's pid and start time
      orphan-pts-master  the pty master goes to the console socket
    criu exits; the restored init is our child (rst_sibling); the pid file.

The init's stdio: descriptors.json (written at checkpoint) names the pipes it had;
criu gets ours (or `stdio`) as 0-2 and restores each `pipe:[N]` onto the fd that
stood for it (inherit_fd, runc's mechanism). Any failure undoes everything made:
restored processes killed, cgroups removed, the state dir removed, poststop hooks.
"""

from __future__ import annotations

import os
import time

import msgspec

from shim.cgroups import add_process, container_paths, manager_for, parse_proc_cgroup
from shim.cgroups import create as create_cgroups
from shim.cgroups import planned as planned_cgroups
from shim.criu import rpc_pb2 as rpc
from shim.criu.logfile import with_log
from shim.criu.swrk import run_swrk
from shim.criu.version import require_version
from shim.errors import CriuError, Internal, InvalidConfig, Unsupported
from shim.runtime.checkpoint import DESCRIPTORS
from shim.runtime.cleanup import KILL_WAIT, Journal, destroy
from shim.runtime.create import (
    Created,
    cgroup_mount_dirs,
    device_rules,
    initial_state,
    load_bundle,
    write_pid_file,
)
from shim.runtime.criu_mounts import restore_mounts
from shim.runtime.criu_namespaces import (
    check_restorable,
    external_at_restore,
    joined_at_restore,
    restored_namespaces,
)
from shim.runtime.criu_options import RestoreOptions, check_options
from shim.runtime.criu_request import RESTORE_LOG, restore_request
from shim.runtime.criu_root import MountPlan, plan_mounts, preparer
from shim.runtime.hooks import HookSpec, run_hooks
from shim.runtime.state_store import ContainerDir, State, StateStore
from shim.runtime.status import proc_stat
from shim.spec.oci_state import oci_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import Child, ChildReaper
    from shim.criu.exchange import Notification
    from shim.spec.model import Spec


def restore_container(
    store: StateStore,
    container_id: str,
    bundle: str,
    opts: RestoreOptions,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> Created:
    """Restore; returns the new state and the init, our child (criu restores it as its
    sibling), adopted by `reaper`, as `create` does. On any failure, a cancel included,
    nothing is left behind and the error is raised: InvalidArgument/Unsupported (bundle,
    options, images), CriuTooOld, CriuError (criu's reason and log file),
    AlreadyExists, HookFailed, TimedOut, Cancelled."""
    check_options(opts)
    if opts.lsm_profile or opts.lsm_mount_context:
        flag = "--lsm-profile" if opts.lsm_profile else "--lsm-mount-context"
        raise Unsupported(f"{flag}: no LSM (AppArmor, SELinux) is supported by this runtime")
    bundle = os.path.abspath(bundle)
    spec, rootfs = opts.loaded or load_bundle(bundle)
    image_path = os.path.abspath(opts.image_path)
    descriptors = read_descriptors(image_path)
    check_restorable(spec)
    require_version(opts.criu, reaper, cancel)
    plan = plan_mounts(spec, rootfs, bundle)
    restoration = _Restoration(
        store.claim(container_id), bundle, spec, rootfs, opts, reaper, cancel
    )
    try:
        created = restoration.run(image_path, descriptors, plan)
        if opts.pid_file:
            write_pid_file(opts.pid_file, created.state.pid)
    except BaseException:
        restoration.abort()
        raise
    finally:
        restoration.cdir.close()
    restoration.journal.clear()
    return created


def read_descriptors(image_path: str) -> list[str]:
    """The init's stdio at checkpoint; a clear error for a missing or foreign image dir."""
    if not os.path.isdir(image_path):
        reason = "not a directory" if os.path.exists(image_path) else "no such file or directory"
        raise InvalidConfig(f"restore: image path {image_path}: {reason}")
    path = os.path.join(image_path, DESCRIPTORS)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InvalidConfig(
            f"restore: open {path}: no such file or directory (not an image directory "
            "written by `checkpoint`)"
        ) from None
    except OSError as err:
        raise InvalidConfig(f"restore: open {path}: {err.strerror}") from None
    try:
        return msgspec.json.decode(raw, type=list[str])
    except msgspec.DecodeError as err:
        raise InvalidConfig(f"restore: {path}: {err}") from None


class _Restoration:
    """One restore in progress: what has been made, so that failure undoes exactly that."""

    def __init__(
        self,
        cdir: ContainerDir,
        bundle: str,
        spec: Spec,
        rootfs: str,
        opts: RestoreOptions,
        reaper: ChildReaper,
        cancel: CancelToken | None,
    ) -> None:
        self.reaper = reaper
        self.cancel = cancel
        self.init: Child | None = None
        self.cdir = cdir
        self.id = cdir.id
        self.bundle = bundle
        self.spec = spec
        self.rootfs = rootfs
        self.opts = opts
        self.journal = Journal(cdir.path)
        linux = spec.linux
        self.paths = container_paths(linux.cgroups_path if linux else "", self.id)
        self.state: State | None = None

    def run(self, image_path: str, descriptors: list[str], plan: MountPlan) -> Created:
        linux = self.spec.linux
        # As create does: journalled before the first mkdir (issue 16 #4).
        self.journal.record(cgroup_created=planned_cgroups(self.paths), cgroup_paths=self.paths)
        self.journal.record(cgroup_created=create_cgroups(self.paths))
        manager_for(self.paths).apply(linux.resources if linux else None, device_rules(self.spec))
        work = self.opts.work_path
        if work:
            os.makedirs(work, 0o700, exist_ok=True)
        log_file = os.path.join(work or image_path, RESTORE_LOG)
        extra, inherit_ns = external_at_restore(self.spec)
        try:
            request = restore_request(
                self.opts,
                image_fd=-1,  # set in _place: fds opened in criu's mount namespace
                work_fd=None,
                root=self.rootfs,
                ext_mounts=restore_mounts(
                    self.spec, self.rootfs, self.bundle, cgroup_mount_dirs(self.paths)
                ),
                inherit=[(d, i) for i, d in enumerate(descriptors) if "pipe:" in d] + inherit_ns,
                join_ns=joined_at_restore(self.spec),
                annotations=self.spec.annotations,
            )
            try:
                run_swrk(
                    request,
                    reaper=self.reaper,
                    binary=self.opts.criu,
                    stdio=self.opts.stdio,  # None: /dev/null, never our own by accident
                    extra_fds=extra,
                    prepare=preparer(plan, [image_path, work] if work else [image_path]),
                    on_start=lambda pid, dirs: self._place(pid, dirs, request),
                    on_notify=self._on_notify,
                    timeout=self.opts.timeout,
                    cancel=self.cancel,
                )
            except CriuError as err:
                raise with_log(err, log_file) from None
        finally:
            for fd in extra:
                os.close(fd)
        if self.state is None or self.init is None:
            raise CriuError("criu restored without a post-restore notification: no init pid")
        return Created(self.state, self.init)

    def _place(self, criu_pid: int, dirs: list[int], request: rpc.criu_req) -> None:
        """criu goes into the container's cgroups before it restores anything (runc's
        criuApplyCgroups); cg_root tells it to restore the tree right there."""
        request.opts.images_dir_fd = dirs[0]
        if len(dirs) > 1:
            request.opts.work_dir_fd = dirs[1]
        self.journal.record(pids=[criu_pid])
        add_process(self.paths, criu_pid)
        with open(f"/proc/{criu_pid}/cgroup") as f:
            for ctrl, path in parse_proc_cgroup(f.read()).items():
                request.opts.cg_root.add(ctrl=ctrl, path=path)

    def _on_notify(self, note: Notification) -> None:
        if note.script == "setup-namespaces":
            self._setup_namespaces(note.pid)
        elif note.script == "post-restore":
            self._restored(note.pid)
        elif note.script == "orphan-pts-master":
            self._console(note.fds)

    def _setup_namespaces(self, pid: int) -> None:
        """The namespaces exist, nothing is restored into them yet."""
        namespaces = self.spec.linux.namespaces if self.spec.linux else []
        if any(ns.type == "network" and not ns.path for ns in namespaces):
            from shim.runtime.loopback import loopback_up

            try:  # runc leaves it down here: a loopback TCP connection cannot reconnect
                loopback_up(pid)
            except OSError as err:
                raise Internal(f"restore: bring up lo in the new network namespace: {err}") from err
        hooks = self.spec.hooks
        if hooks is None:
            return
        state = oci_state(self.id, "creating", pid, self.bundle, self.spec.annotations)
        for kind in (hooks.prestart, hooks.create_runtime):
            run_hooks(
                [HookSpec(h.path, h.args, h.env, h.timeout) for h in kind],
                state,
                self.bundle,
                self.reaper,
                self.cancel,
            )

    def _restored(self, pid: int) -> None:
        """The tree is back and still stopped: its init is our child (rst_sibling), adopted
        now, while run_swrk holds the reaper."""
        self.init = self.reaper.adopt(pid)
        st = proc_stat(pid)
        if st is None:
            raise CriuError(f"restored init {pid} is gone")
        self.journal.record(pids=[pid])
        self.state = initial_state(
            self.id,
            pid,
            st[1],
            self.spec,
            bundle=self.bundle,
            rootfs=self.rootfs,
            cgroup_paths=self.paths,
            cgroup_created=self.journal.cgroup_created,
            keyring=f"_ses.{self.id}",
            namespaces=restored_namespaces(self.spec, pid),
        )
        self.cdir.write_state(self.state)

    def _console(self, fds: list[int]) -> None:
        if len(fds) != 1:
            raise CriuError("orphan-pts-master without exactly one pty master")
        if self.opts.console_fd is None:
            raise InvalidConfig("restore of a terminal container needs --console-socket")
        from shim.io.console import send_master

        send_master(self.opts.console_fd, fds[0], "orphan-pts-master")

    def abort(self) -> None:
        """Undo everything; errors while undoing are logged, never raised over the cause.
        Runs to the end even after a cancel (it is the cancel's cleanup)."""
        hooks = self.spec.hooks
        try:
            destroy(
                self.cdir,
                self.journal.load(),
                poststop=[HookSpec(h.path, h.args, h.env, h.timeout) for h in hooks.poststop]
                if hooks
                else [],
                bundle=self.bundle,
                reaper=self.reaper,
                cgroup_paths=self.paths,
                annotations=self.spec.annotations,
            )
        finally:
            init, self.init = self.init, None
            if init is not None:  # killed by destroy: collect it, as create's abort does
                self.reaper.wait(init, time.monotonic() + KILL_WAIT)
                self.reaper.release(init)
