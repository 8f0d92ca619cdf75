"""`create` and `run`: read the bundle once, then build (and for `run`, start) the container."""

from __future__ import annotations

import os

from shim.cgroups.prime import prime_cgroup_migration
from shim.cli.common import console_fd as _console_fd
from shim.cli.common import store_of as _store
from shim.errors import ShimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation
    from shim.runtime.create import CreateOptions
    from shim.spec.model import Spec


def _create_options(inv: Invocation, terminal: bool, detached: bool) -> CreateOptions:
    from shim.runtime.create import CreateOptions

    pid_file = inv.flag_str("pid-file")
    return CreateOptions(
        # runc's detached create hands its own stdio to the container; foreground `run`
        # replaces this with pipes or a pty (shim.supervisor.run).
        stdio=(0, 1, 2),
        console_fd=_console_fd(inv, terminal, detached),
        pid_file=os.path.abspath(pid_file) if pid_file else None,
        no_pivot=inv.flag_bool("no-pivot"),
        no_new_keyring=inv.flag_bool("no-new-keyring"),
        preserve_fds=inv.flag_int("preserve-fds"),
    )


def _load(bundle: str) -> tuple[Spec, str]:
    """config.json, read and checked once: the console-socket rules need process.terminal
    before create starts, and create then uses the same Spec."""
    from shim.runtime.create import load_bundle

    return load_bundle(bundle)


def _terminal(loaded: tuple[Spec, str]) -> bool:
    spec = loaded[0]
    return bool(spec.process and spec.process.terminal)


def cmd_create(inv: Invocation) -> int:
    prime_cgroup_migration()  # before the imports: the kernel's wait overlaps them
    from shim.runtime.create import create_container
    from shim.supervisor.reaper import Reaper

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    loaded = _load(bundle)
    opts = _create_options(inv, _terminal(loaded), detached=True)
    opts.loaded = loaded
    try:
        create_container(_store(inv), inv.args[0], bundle, opts, Reaper())
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    return 0


def cmd_run(inv: Invocation) -> int:
    prime_cgroup_migration()  # before the imports: the kernel's wait overlaps them
    from shim.runtime.create import create_container
    from shim.runtime.start import start_container
    from shim.supervisor.reaper import Reaper
    from shim.supervisor.run import run_container

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    detach = inv.flag_bool("detach")
    loaded = _load(bundle)
    terminal = _terminal(loaded)
    opts = _create_options(inv, terminal, detached=detach)
    opts.loaded = loaded
    store = _store(inv)
    if not detach:
        return run_container(
            store,
            inv.args[0],
            bundle,
            opts,
            terminal=terminal,
            keep=inv.flag_bool("keep"),
            no_subreaper=inv.flag_bool("no-subreaper"),
        )
    reaper = Reaper()
    try:
        create_container(store, inv.args[0], bundle, opts, reaper)
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    try:
        start_container(store, inv.args[0], reaper)
    except ShimError:
        from shim.runtime.delete import delete_container

        # runc destroys what run -d made
        delete_container(store, inv.args[0], reaper, force=True)
        raise
    return 0
