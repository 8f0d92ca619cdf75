"""`checkpoint` and `restore`: runc's flags into typed options, then the library call.

runc resolves relative paths as it finds them: checkpoint's from the cwd, restore's
from the bundle (it chdirs into the bundle first). Both default --image-path to
`checkpoint` there.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation

DEFAULT_IMAGE_DIR = "checkpoint"


def _criu_binary(inv: Invocation) -> str:
    """--criu, else $SHIM_CRIU, else `criu` on PATH (runc's default)."""
    if "criu" in inv.globals_given:
        return inv.global_str("criu")
    return os.environ.get("SHIM_CRIU") or inv.global_str("criu")


def _shared(inv: Invocation, base: str) -> dict[str, object]:
    image = inv.flag_str("image-path") or DEFAULT_IMAGE_DIR
    work = inv.flag_str("work-path")
    return {
        "image_path": os.path.join(base, image),
        "work_path": os.path.join(base, work) if work else "",
        "tcp_established": inv.flag_bool("tcp-established"),
        "ext_unix_sk": inv.flag_bool("ext-unix-sk"),
        "shell_job": inv.flag_bool("shell-job"),
        "file_locks": inv.flag_bool("file-locks"),
        "manage_cgroups_mode": inv.flag_str("manage-cgroups-mode"),
        "empty_ns": inv.flag_list("empty-ns"),
        "auto_dedup": inv.flag_bool("auto-dedup"),
        "lazy_pages": inv.flag_bool("lazy-pages"),
        "criu": _criu_binary(inv),
    }


def cmd_checkpoint(inv: Invocation) -> int:
    from shim.cli.common import store_of
    from shim.runtime.checkpoint import checkpoint_container
    from shim.runtime.criu_options import CheckpointOptions

    opts = CheckpointOptions(
        **_shared(inv, os.getcwd()),  # type: ignore[arg-type]
        parent_path=inv.flag_str("parent-path"),
        leave_running=inv.flag_bool("leave-running"),
        pre_dump=inv.flag_bool("pre-dump"),
        page_server=inv.flag_str("page-server"),
        status_fd=inv.flag_int("status-fd"),
    )
    from shim.supervisor.reaper import Reaper

    checkpoint_container(store_of(inv), inv.args[0], opts, Reaper())
    return 0


def cmd_restore(inv: Invocation) -> int:
    from shim.cli.common import console_fd, store_of
    from shim.runtime.create import load_bundle
    from shim.runtime.criu_options import RestoreOptions

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    detach = inv.flag_bool("detach")
    spec, rootfs = load_bundle(bundle)
    terminal = bool(spec.process and spec.process.terminal)
    pid_file = inv.flag_str("pid-file")
    opts = RestoreOptions(
        **_shared(inv, bundle),  # type: ignore[arg-type]
        pid_file=os.path.abspath(pid_file) if pid_file else "",
        # runc's detached restore hands its own stdio over (criu puts it where the
        # checkpointed pipes were); the foreground one relays pipes (shim.supervisor).
        stdio=(0, 1, 2),
        console_fd=console_fd(inv, terminal, detach),
        no_pivot=inv.flag_bool("no-pivot"),
        lsm_profile=inv.flag_str("lsm-profile"),
        lsm_mount_context=inv.flag_str("lsm-mount-context"),
        loaded=(spec, rootfs),
    )
    store = store_of(inv)
    if not detach:
        from shim.supervisor.restore import restore_and_wait

        return restore_and_wait(
            store,
            inv.args[0],
            bundle,
            opts,
            terminal=terminal,
            no_subreaper=inv.flag_bool("no-subreaper"),
        )
    from shim.runtime.restore import restore_container
    from shim.supervisor.reaper import Reaper

    try:
        restore_container(store, inv.args[0], bundle, opts, Reaper())
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    return 0
