"""The BOOT message: everything the helper needs, decided here, from a validated Spec."""

from __future__ import annotations

import os

from shim.errors import InvalidConfig, Unsupported
from shim.init import protocol as p
from shim.init.handshake import TlvWriter
from shim.init.mount_options import PROPAGATION
from shim.init.rootfs_plan import rootfs_steps
from shim.spec.caps import cap_mask
from shim.spec.oci_state import oci_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import Hook, Process, Seccomp, Spec

CLONE_FLAGS = {
    "mount": 0x00020000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "user": 0x10000000,
    "pid": 0x20000000,
    "network": 0x40000000,
    "cgroup": 0x02000000,
    "time": 0x00000080,
}
# Join order: the user namespace first grants the rights to join the others (runc's order).
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "mount", "cgroup", "time")
TIME_CLOCKS = {"monotonic": "monotonic", "boottime": "boottime"}


class BootPlan:
    """The BOOT body and the namespace fds that go with it (closed by the caller), and the
    bind sources the helper will ask us to open (MOUNT_REQ index -> (path, recursive))."""

    __slots__ = ("body", "fds", "mount_sources", "want_hooks")

    def __init__(
        self,
        body: bytes,
        fds: list[int],
        want_hooks: bool,
        mount_sources: list[tuple[str, bool]] | None = None,
    ) -> None:
        self.body = body
        self.fds = fds
        self.want_hooks = want_hooks
        self.mount_sources = mount_sources or []


def _namespaces(w: TlvWriter, spec: Spec) -> list[int]:
    flags, fds = 0, list[int]()
    paths: dict[str, str] = {}
    for ns in spec.linux.namespaces if spec.linux else []:
        if ns.path:
            paths[ns.type] = ns.path
        else:
            flags |= CLONE_FLAGS[ns.type]
    w.u32(p.T_CLONE_FLAGS, flags)
    try:
        for kind in JOIN_ORDER:
            if kind in paths:
                fd = os.open(paths[kind], os.O_RDONLY | os.O_CLOEXEC)
                w.raw(p.T_NS_JOIN, p.U32.pack(CLONE_FLAGS[kind]) + p.U32.pack(len(fds)))
                fds.append(fd)
    except OSError as err:
        for fd in fds:
            os.close(fd)
        raise InvalidConfig(f"linux.namespaces: open {err.filename}: {err.strerror}") from None
    return fds


def _hook_records(w: TlvWriter, tag: int, hooks: list[Hook]) -> None:
    for hook in hooks:
        rec = TlvWriter()
        rec.text(p.K_PATH, hook.path)
        for arg in hook.args:
            rec.text(p.K_ARG, arg)
        for env in hook.env:
            rec.text(p.K_ENV, env)
        rec.u32(p.K_TIMEOUT, hook.timeout or 0)
        w.record(tag, rec)


def process_tlvs(w: TlvWriter, proc: Process) -> None:
    """The process part of BOOT (create and exec share it)."""
    user = proc.user
    w.u32(p.T_UID, user.uid)
    w.u32(p.T_GID, user.gid)
    for gid in user.additional_gids:
        w.u32(p.T_ADDITIONAL_GID, gid)
    w.u32(p.T_UMASK, 0o022 if user.umask is None else user.umask)
    w.u32(p.T_NO_NEW_PRIVS, int(proc.no_new_privileges))
    caps = proc.capabilities
    w.u64(p.T_CAP_BOUNDING, cap_mask(caps.bounding) if caps else 0)
    w.u64(p.T_CAP_EFFECTIVE, cap_mask(caps.effective) if caps else 0)
    w.u64(p.T_CAP_PERMITTED, cap_mask(caps.permitted) if caps else 0)
    w.u64(p.T_CAP_INHERITABLE, cap_mask(caps.inheritable) if caps else 0)
    w.u64(p.T_CAP_AMBIENT, cap_mask(caps.ambient) if caps else 0)
    for arg in proc.args:
        w.text(p.T_ARG, arg)
    for env in proc.env:
        w.text(p.T_ENV, env)
    if proc.apparmor_profile or proc.selinux_label:
        from shim.init.lsm import lsm_tlvs

        lsm_tlvs(w, proc)
    w.text(p.T_CWD, proc.cwd)
    if proc.oom_score_adj is not None:
        w.text(p.T_OOM_SCORE_ADJ, str(proc.oom_score_adj))
    if proc.terminal:
        w.u32(p.T_TERMINAL, 1)
        if proc.console_size:
            w.raw(
                p.T_CONSOLE_SIZE,
                p.U32.pack(proc.console_size.height) + p.U32.pack(proc.console_size.width),
            )


def _linux(w: TlvWriter, spec: Spec) -> None:
    linux = spec.linux
    if linux is None:
        return
    if linux.rootfs_propagation:
        w.u32(p.T_ROOT_PROPAGATION, PROPAGATION[linux.rootfs_propagation])
    offsets = "".join(
        f"{TIME_CLOCKS[k]} {v.secs} {v.nanosecs}\n" for k, v in linux.time_offsets.items()
    )
    if offsets:
        w.text(p.T_TIMENS_OFFSETS, offsets)
    if linux.sysctl:
        from shim.spec.validate import sysctl_path  # here: exec imports this module too

        for key, value in linux.sysctl.items():
            rec = TlvWriter()
            rec.text(p.S_KEY, sysctl_path(key))
            rec.text(p.S_VALUE, value)
            w.record(p.T_SYSCTL, rec)
    for path in linux.masked_paths:
        w.text(p.T_MASKED, path)
    for path in linux.readonly_paths:
        w.text(p.T_READONLY_PATH, path)
    if any(ns.type == "network" and not ns.path for ns in linux.namespaces):
        w.u32(p.T_LOOPBACK_UP, 1)


def seccomp_tlvs(w: TlvWriter, profile: Seccomp | None) -> bool:
    """The compiled filter; True when it is a notify filter (H2 then sends its listener)."""
    if profile is None:
        return False
    from shim.seccomp.compile import compile_filter, profile_enabled  # libseccomp when asked

    if not profile_enabled(profile):
        return False
    compiled = compile_filter(profile)
    w.raw(p.T_SECCOMP_BPF, compiled.bpf)
    w.u32(p.T_SECCOMP_FLAGS, compiled.flags)
    return compiled.notify


def build_boot(
    spec: Spec,
    *,
    container_id: str,
    bundle: str,
    rootfs: str,
    cgroup_dirs: list[tuple[str, str]],
    no_pivot: bool,
    no_new_keyring: bool,
    has_console: bool,
) -> BootPlan:
    """Encode BOOT. InvalidConfig for what only shows up here (bind sources, device types)."""
    proc = spec.process
    if proc is None:
        raise InvalidConfig("process property must not be empty")
    w = TlvWriter()
    # In a user namespace the container's root may be refused on the way to a bind source
    # (a 0700 directory of the host's): we open every source for it, as runc 1.1 does.
    userns = any(ns.type == "user" for ns in spec.linux.namespaces) if spec.linux else False
    sources: list[tuple[str, bool]] | None = [] if userns else None
    try:
        w.text(p.T_ROOTFS, rootfs)
        steps, dev_setup = rootfs_steps(spec, bundle, cgroup_dirs, sources)
        process_tlvs(w, proc)
        _linux(w, spec)
        seccomp_tlvs(w, spec.linux.seccomp if spec.linux else None)
        hooks = spec.hooks
        want_hooks = bool(hooks and (hooks.prestart or hooks.create_runtime))
        w.u32(p.T_WANT_HOOKS, int(want_hooks))
        if hooks:
            _hook_records(w, p.T_HOOK_CREATE_CONTAINER, hooks.create_container)
            _hook_records(w, p.T_HOOK_START_CONTAINER, hooks.start_container)
            annotations = spec.annotations
            w.text(p.T_STATE_CREATING, oci_state(container_id, "creating", 1, bundle, annotations))
            w.text(p.T_STATE_CREATED, oci_state(container_id, "created", 1, bundle, annotations))
        if spec.root and spec.root.readonly:
            w.u32(p.T_ROOT_READONLY, 1)
        w.u32(p.T_NO_PIVOT, int(no_pivot))
        if not any(ns.type == "mount" for ns in (spec.linux.namespaces if spec.linux else [])):
            w.u32(p.T_NO_MOUNT_NS, 1)  # runc runs it: mounts in our namespace, then chroot
        w.u32(p.T_DEV_SETUP, int(dev_setup))
        if spec.hostname:
            w.text(p.T_HOSTNAME, spec.hostname)
        if spec.domainname:
            w.text(p.T_DOMAINNAME, spec.domainname)
        if not no_new_keyring:
            w.text(p.T_KEYRING, f"_ses.{container_id}")
        w.u32(p.T_HAS_FIFO, 1)
        w.u32(p.T_HAS_CONSOLE, int(has_console))
    except ValueError as err:
        raise InvalidConfig(f"config.json: {err}") from None
    ns_writer = TlvWriter()
    fds = _namespaces(ns_writer, spec)
    body = w.getvalue() + steps.getvalue() + ns_writer.getvalue()
    try:
        check_size(len(body), proc, "config.json")
    except Unsupported:
        for fd in fds:
            os.close(fd)
        raise
    return BootPlan(body, fds, want_hooks, sources)


def check_size(size: int, proc: Process, source: str) -> None:
    """Unsupported if a BOOT body of `size` bytes is over one packet; the message names the
    process field that takes the most room (runc has no such limit: its init reads JSON
    from a pipe; ours takes one packet)."""
    if p.HEADER.size + size <= p.PROTO_MAX_PACKET:
        return
    sizes = {
        "process.env": sum(len(e.encode()) + 1 for e in proc.env),
        "process.args": sum(len(a.encode()) + 1 for a in proc.args),
    }
    field = max(sizes, key=lambda name: sizes[name])
    raise Unsupported(
        f"{source}: {field} takes {sizes[field]} bytes, and the container's setup comes to "
        f"{size} bytes: over the {p.PROTO_MAX_PACKET // 1024} KiB the init helper accepts"
    )
