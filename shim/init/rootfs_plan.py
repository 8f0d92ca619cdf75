"""The rootfs plan: config mounts, cgroup mounts, device nodes and /dev links, as BOOT records.

Python decides everything (flags, order, which target is a file); the helper
only executes, by fd, inside the rootfs.
"""

from __future__ import annotations

import os
import stat

from shim.errors import InvalidConfig
from shim.init import protocol as p
from shim.init.handshake import TlvWriter
from shim.init.mount_options import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    parse_options,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import Device, Mount, Spec

# runc's default devices (libcontainer/specconv AllowedDevices), made when /dev is not a bind.
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/tty", 5, 0),
    ("/dev/urandom", 1, 9),
    ("/dev/random", 1, 8),
)
DEV_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
# Files below /proc that may be mounted over (lxcfs); everything else below /proc is refused.
PROC_ALLOWED = frozenset(
    {
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/net/dev",
        "/proc/sys/kernel/ns_last_pid",
    }
)
UNLABELLED = frozenset({"proc", "sysfs", "mqueue"})  # runc mounts these without mountLabel
DEVICE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _clean(path: str) -> str:
    return os.path.normpath("/" + path).replace("//", "/")


def mount_label_data(data: str, label: str) -> str:
    """runc's FormatMountLabel: the mount label as the `context=` option."""
    if not label:
        return data
    option = f'context="{label}"'
    return f"{data},{option}" if data else option


def _mount_record(
    dest: str,
    *,
    source: str = "",
    fstype: str = "",
    flags: int = 0,
    data: str = "",
    propagation: int = 0,
    attr: tuple[int, int] = (0, 0),
    file: bool = False,
    plain_dir: bool = False,
    proc_ok: bool = False,
    ro_later: bool = False,
    copyup: bool = False,
) -> TlvWriter:
    rec = TlvWriter()
    rec.text(p.M_DEST, dest)
    if source:
        rec.text(p.M_SOURCE, source)
    if fstype:
        rec.text(p.M_FSTYPE, fstype)
    if data:
        rec.text(p.M_DATA, data)
    rec.u64(p.M_FLAGS, flags)
    if propagation:
        rec.u64(p.M_PROPAGATION, propagation)
    if attr != (0, 0):
        rec.u64(p.M_ATTR_SET, attr[0])
        rec.u64(p.M_ATTR_CLR, attr[1])
    if file:
        rec.u32(p.M_FILE, 1)
    if plain_dir:
        rec.u32(p.M_PLAIN_DIR, 1)
    if proc_ok:  # else the helper refuses a target that resolves onto procfs
        rec.u32(p.M_PROC_OK, 1)
    if ro_later:
        rec.u32(p.M_RO_LATER, 1)
    if copyup:
        rec.u32(p.M_COPYUP, 1)
    return rec


def _check_proc(dest: str, mtype: str, where: str) -> None:
    """CVE-2019-16884: only procfs goes on /proc; below it only the lxcfs files."""
    if dest == "/proc":
        if mtype != "proc":
            raise InvalidConfig(f"{where}: {dest} cannot be mounted because it is not of type proc")
    elif dest.startswith("/proc/") and dest not in PROC_ALLOWED:
        raise InvalidConfig(f"{where}: {dest} cannot be mounted because it is inside /proc")


def _bind_source(m: Mount, bundle: str, where: str) -> tuple[str, bool]:
    source = m.source if os.path.isabs(m.source) else os.path.join(bundle, m.source)
    try:
        st = os.stat(source)
    except OSError as err:
        raise InvalidConfig(f"{where}: bind source {source}: {err.strerror}") from None
    return source, not stat.S_ISDIR(st.st_mode)


def _cgroup_mounts(
    w: TlvWriter, dest: str, flags: int, cgroup_dirs: list[tuple[str, str]], label: str
) -> None:
    """A cgroup mount becomes binds of the container's own cgroup dirs (v1: under a tmpfs)."""
    base = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    ro = flags & MS_RDONLY
    if len(cgroup_dirs) == 1 and cgroup_dirs[0][0] == "":
        w.record(
            p.T_MOUNT, _mount_record(dest, source=cgroup_dirs[0][1], flags=MS_BIND | base | ro)
        )
        return
    data = mount_label_data("mode=755", label)
    w.record(p.T_MOUNT, _mount_record(dest, source="tmpfs", fstype="tmpfs", flags=base, data=data))
    for name, host_dir in cgroup_dirs:
        target = f"{dest}/{name}"
        w.record(
            p.T_MOUNT, _mount_record(target, source=host_dir, flags=MS_BIND | MS_REC | base | ro)
        )
        if "," in name:  # co-mounted controllers, e.g. cpu,cpuacct: a link per controller
            for ctrl in name.split(","):
                link = TlvWriter()
                link.text(p.L_TARGET, name)
                link.text(p.L_PATH, f"{dest}/{ctrl}")
                w.record(p.T_SYMLINK, link)
    if ro:
        w.record(p.T_MOUNT, _mount_record(dest, flags=MS_REMOUNT | base | ro))


def _config_mount(
    w: TlvWriter,
    m: Mount,
    index: int,
    bundle: str,
    cgroup_dirs: list[tuple[str, str]],
    parent_sources: list[tuple[str, bool]] | None,
    label: str,
) -> None:
    where = f"mounts[{index}]"
    dest = _clean(m.destination)
    opts = parse_options(m.options, where)
    is_bind = m.type == "bind" or bool(opts.flags & MS_BIND)
    _check_proc(dest, "bind" if is_bind else m.type, where)
    if m.type in ("cgroup", "cgroup2") and not is_bind:
        _cgroup_mounts(w, dest, opts.flags, cgroup_dirs, label)
        return
    attr = (opts.attr_set, opts.attr_clr)
    # A read-only tmpfs or /dev is mounted writable and made read-only after the root
    # switch, so mount points, nodes and links can be made in it first (runc's rule). A
    # read-only bind stays so from the start: mount points below it would be made in the
    # host directory the config asked to keep read-only (runc fails there too).
    ro_later = bool(opts.flags & MS_RDONLY) and (m.type == "tmpfs" or dest == "/dev")
    flags = opts.flags & ~MS_RDONLY if ro_later else opts.flags
    if is_bind:
        source, is_file = _bind_source(m, bundle, where)
        rec = _mount_record(
            dest,
            source=source,
            flags=flags | MS_BIND,
            propagation=opts.propagation,
            attr=attr,
            file=is_file,
            proc_ok=dest in PROC_ALLOWED,
            ro_later=ro_later,
        )
        if parent_sources is not None:  # the helper asks us for the source (MOUNT_REQ)
            rec.u32(p.M_PARENT_SOURCE, len(parent_sources))
            parent_sources.append((source, bool(opts.flags & MS_REC)))
    else:
        rec = _mount_record(
            dest,
            source=m.source or m.type,
            fstype=m.type,
            flags=flags,
            # runc labels every new mount but proc, sysfs and mqueue (binds ignore data)
            data=mount_label_data(",".join(opts.data), "" if m.type in UNLABELLED else label),
            propagation=opts.propagation,
            attr=attr,
            plain_dir=m.type in ("proc", "sysfs"),
            proc_ok=m.type == "proc" or dest in PROC_ALLOWED,
            ro_later=ro_later,
            copyup=opts.copyup and m.type == "tmpfs",
        )
    w.record(p.T_MOUNT, rec)


def _device_record(
    path: str, kind: int, major: int, minor: int, mode: int, uid: int, gid: int
) -> TlvWriter:
    rec = TlvWriter()
    rec.text(p.D_PATH, path)
    rec.u32(p.D_TYPE, kind)
    rec.u32(p.D_MAJOR, major)
    rec.u32(p.D_MINOR, minor)
    rec.u32(p.D_MODE, mode)
    rec.u32(p.D_UID, uid)
    rec.u32(p.D_GID, gid)
    return rec


def _config_device(d: Device, index: int) -> TlvWriter:
    where = f"linux.devices[{index}]"
    kind = DEVICE_TYPES.get(d.type)
    if kind is None:
        raise InvalidConfig(f"{where}.type: unknown device type {d.type!r}")
    if kind != stat.S_IFIFO and (d.major is None or d.minor is None):
        raise InvalidConfig(f"{where}: major and minor are required for device type {d.type!r}")
    mode = 0o666 if d.file_mode is None else d.file_mode & 0o7777
    return _device_record(
        _clean(d.path), kind, d.major or 0, d.minor or 0, mode, d.uid or 0, d.gid or 0
    )


def rootfs_steps(
    spec: Spec,
    bundle: str,
    cgroup_dirs: list[tuple[str, str]],
    parent_sources: list[tuple[str, bool]] | None = None,
) -> tuple[TlvWriter, bool]:
    """All rootfs steps in order; also whether /dev gets nodes and links (no /dev bind).

    With `parent_sources` (a container with a user namespace), every bind's source is
    appended there as (path, recursive) and opened by the parent on the helper's request.
    """
    w = TlvWriter()
    dev_bound = False
    label = spec.linux.mount_label if spec.linux else ""
    for i, m in enumerate(spec.mounts):
        _config_mount(w, m, i, bundle, cgroup_dirs, parent_sources, label)
        if _clean(m.destination) == "/dev" and (
            m.type == "bind" or "bind" in m.options or "rbind" in m.options
        ):
            dev_bound = True
    if dev_bound:
        return w, False
    devices = spec.linux.devices if spec.linux else []
    configured = {_clean(d.path) for d in devices}
    for path, major, minor in DEFAULT_DEVICES:
        if path not in configured:
            w.record(p.T_DEVICE, _device_record(path, stat.S_IFCHR, major, minor, 0o666, 0, 0))
    for i, d in enumerate(devices):
        w.record(p.T_DEVICE, _config_device(d, i))
    links = list(DEV_LINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    links.append(("pts/ptmx", "/dev/ptmx"))
    for target, path in links:
        rec = TlvWriter()
        rec.text(p.L_TARGET, target)
        rec.text(p.L_PATH, path)
        w.record(p.T_SYMLINK, rec)
    return w, True
