"""Config this runtime refuses explicitly: a clear error beats a silent no-op."""

from __future__ import annotations

from shim.cgroups.checks import check_resources
from shim.errors import InvalidConfig, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import Spec


def check_supported(spec: Spec) -> None:
    """Raise Unsupported (naming the field) for anything we would otherwise ignore."""
    proc, linux = spec.process, spec.linux
    if proc is not None:
        if proc.selinux_label:
            from shim.init.lsm import check_lsm

            check_lsm(proc)
        if proc.scheduler is not None:
            raise Unsupported("process.scheduler: setting the scheduler is not supported")
        if proc.io_priority is not None:
            raise Unsupported("process.ioPriority: setting the I/O priority is not supported")
        if proc.exec_cpu_affinity is not None:
            raise Unsupported("process.execCPUAffinity: not supported")
    if linux is None:
        raise InvalidConfig("linux: the linux section is required")
    userns = next((ns for ns in linux.namespaces if ns.type == "user"), None)
    if userns is not None and not userns.path and not (linux.uid_mappings and linux.gid_mappings):
        raise InvalidConfig("linux: a new user namespace needs uidMappings and gidMappings")
    seccomp = linux.seccomp
    if seccomp is not None and not seccomp.listener_path:
        notify = [i for i, rule in enumerate(seccomp.syscalls) if rule.action == "SCMP_ACT_NOTIFY"]
        if notify or seccomp.default_action == "SCMP_ACT_NOTIFY":
            where = f"syscalls[{notify[0]}]" if notify else "defaultAction"
            raise InvalidConfig(f"linux.seccomp.{where}: SCMP_ACT_NOTIFY needs a listenerPath")
    if linux.intel_rdt is not None:
        raise Unsupported("linux.intelRdt: Intel RDT is not supported")
    if linux.personality is not None:
        raise Unsupported("linux.personality: setting the personality is not supported")
    if linux.resources is not None:
        check_resources(linux.resources)
    for i, m in enumerate(spec.mounts):
        if m.uid_mappings or m.gid_mappings:
            raise Unsupported(f"mounts[{i}]: id-mapped mounts are not supported")
