"""The rootfs plan's records: what the helper is told to do for a mount."""

from __future__ import annotations

from shim.init import protocol as p
from shim.init.handshake import decode_tlvs
from shim.init.rootfs_plan import rootfs_steps
from shim.spec.model import Linux, Mount, Spec

LABEL = "system_u:object_r:container_file_t:s0:c1,c2"


def _mounts(spec: Spec) -> list[dict[int, list[bytes]]]:
    steps, _ = rootfs_steps(spec, "/bundle", [])
    return [decode_tlvs(rec) for rec in decode_tlvs(steps.getvalue()).get(p.T_MOUNT, [])]


def _data(rec: dict[int, list[bytes]]) -> str:
    return rec.get(p.M_DATA, [b"\0"])[0].rstrip(b"\0").decode()


def test_the_mount_label_is_the_context_option_of_new_mounts_as_in_runc() -> None:
    spec = Spec(
        mounts=[
            Mount(destination="/dev", type="tmpfs", source="tmpfs", options=["mode=755"]),
            Mount(destination="/dev/pts", type="devpts", source="devpts"),
            Mount(destination="/proc", type="proc", source="proc"),
            Mount(destination="/sys", type="sysfs", source="sysfs"),
            Mount(destination="/dev/mqueue", type="mqueue", source="mqueue"),
        ],
        linux=Linux(mount_label=LABEL),
    )
    assert [_data(rec) for rec in _mounts(spec)] == [
        f'mode=755,context="{LABEL}"',
        f'context="{LABEL}"',
        "",
        "",
        "",
    ]


def test_without_a_mount_label_the_data_is_the_options() -> None:
    spec = Spec(mounts=[Mount(destination="/dev", type="tmpfs", options=["mode=755"])])
    assert [_data(rec) for rec in _mounts(spec)] == ["mode=755"]


def test_a_read_only_tmpfs_is_made_read_only_later_a_bind_at_once() -> None:
    spec = Spec(
        mounts=[
            Mount(destination="/tmp", type="tmpfs", options=["ro"]),
            Mount(destination="/etc", type="bind", source="/etc", options=["rbind", "ro"]),
        ]
    )
    tmpfs, bind = _mounts(spec)
    assert p.M_RO_LATER in tmpfs
    assert p.U64.unpack(tmpfs[p.M_FLAGS][0])[0] & 1 == 0  # no MS_RDONLY now
    assert p.M_RO_LATER not in bind
    assert p.U64.unpack(bind[p.M_FLAGS][0])[0] & 1 == 1


def test_delete_looks_for_the_file_create_writes_for_a_rootfs_bind() -> None:
    from shim.runtime import cleanup, host_mounts

    assert cleanup.ROOTFS_MOUNT_FILE == host_mounts.MOUNT_FILE
