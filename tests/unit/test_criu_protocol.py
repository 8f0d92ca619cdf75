"""The sans-IO parts of checkpoint/restore: the swrk exchange, the options with runc's
texts, the requests runc would send, the external mounts, criu log quoting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shim.criu import rpc_pb2 as rpc
from shim.criu.exchange import Exchange, Finished, Notification
from shim.criu.logfile import error_lines, first_error, with_log
from shim.errors import CriuError, InvalidConfig
from shim.runtime.criu_mounts import dump_mounts, restore_mounts
from shim.runtime.criu_options import (
    CheckpointOptions,
    RestoreOptions,
    cgroup_mode,
    empty_ns_mask,
    page_server,
)
from shim.runtime.criu_request import dump_request, restore_request
from shim.spec.load import load_spec


def _resp(**fields: object) -> bytes:
    return rpc.criu_resp(**fields).SerializeToString()  # type: ignore[arg-type]


def test_exchange_answers_notifications_then_finishes() -> None:
    ex = Exchange(rpc.criu_req(type=rpc.DUMP))
    assert rpc.criu_req.FromString(ex.encode()).type == rpc.DUMP
    note = ex.receive(_resp(type=rpc.NOTIFY, success=True, notify={"script": "post-dump"}), [7])
    assert isinstance(note, Notification)
    assert (note.script, note.pid, note.fds) == ("post-dump", 0, [7])
    ack = rpc.criu_req.FromString(Exchange.acknowledge())
    assert (ack.type, ack.notify_success) == (rpc.NOTIFY, True)
    done = ex.receive(_resp(type=rpc.DUMP, success=True), [])
    assert isinstance(done, Finished)
    assert ex.done
    with pytest.raises(CriuError, match="after its final answer"):
        ex.receive(_resp(type=rpc.DUMP, success=True), [])


def test_exchange_failure_has_runcs_text_and_criu_detail() -> None:
    ex = Exchange(rpc.criu_req(type=rpc.RESTORE))
    ex.receive(_resp(type=rpc.NOTIFY, success=True, notify={"script": "setup-namespaces"}), [])
    with pytest.raises(CriuError) as failed:
        ex.receive(_resp(type=rpc.NOTIFY, success=False, cr_errno=5, cr_errmsg="oops\n"), [])
    # The request's type, not NOTIFY (runc 1.1 names the last message it sent).
    assert str(failed.value) == "criu failed: type RESTORE errno 5"
    assert failed.value.detail == "oops"


@pytest.mark.parametrize(
    "data",
    [
        b"",  # criu died before answering
        b"\xff\xff\xff",  # not protobuf
        rpc.criu_resp(type=rpc.DUMP).SerializePartialToString(),  # `success` is required
        _resp(type=rpc.RESTORE, success=True),  # an answer to another request
        _resp(type=rpc.NOTIFY, success=True),  # a notification without its body
    ],
)
def test_exchange_refuses_garbage(data: bytes) -> None:
    ex = Exchange(rpc.criu_req(type=rpc.DUMP))
    with pytest.raises(CriuError):
        ex.receive(data, [])


def test_exchange_serves_only_the_requests_it_knows() -> None:
    with pytest.raises(ValueError, match="PAGE_SERVER"):
        Exchange(rpc.criu_req(type=rpc.PAGE_SERVER))


def test_option_texts_are_runcs() -> None:
    assert cgroup_mode("") is None
    assert cgroup_mode("strict") == rpc.STRICT
    with pytest.raises(InvalidConfig, match=r"^Invalid manage cgroups mode$"):
        cgroup_mode("ignore")  # runc 1.2 has it, 1.1 does not
    assert empty_ns_mask([]) == empty_ns_mask(["network"]) == 0x40000000
    with pytest.raises(InvalidConfig, match=r'^namespace "pid" is not supported$'):
        empty_ns_mask(["pid"])
    assert page_server("10.0.0.1:27") == ("10.0.0.1", 27)
    assert page_server("[::1]:27") == ("::1", 27)
    for bad in ("host", ":1", "host:", "::1:27"):
        with pytest.raises(InvalidConfig, match="Use --page-server ADDRESS:PORT"):
            page_server(bad)
    with pytest.raises(InvalidConfig, match=r"^Invalid port number$"):
        page_server("host:http")


SPEC = b"""{
  "ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}
  ],
  "linux": {"maskedPaths": ["/proc/kcore"], "devices": [{"type": "c", "path": "/dev/fuse",
    "major": 10, "minor": 229}], "namespaces": [{"type": "mount"}]}
}"""


def test_external_mounts_as_runc_describes_them(tmp_path: Path) -> None:
    spec = load_spec(SPEC)
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    os.symlink("/data", rootfs / "link")  # an absolute link stays inside the rootfs
    cgroups = [("cpu", "/sys/fs/cgroup/cpu/c1"), ("unified", "/sys/fs/cgroup/unified/c1")]
    dumped = dump_mounts(spec, str(rootfs), cgroups, ["/proc/kcore"])
    assert dumped[:4] == [
        ("/data", "/data"),
        ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu"),
        ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified"),
        ("/proc/kcore", "/dev/null"),
    ]
    assert ("/dev/fuse", "/dev/fuse") in dumped
    assert ("/dev/null", "/dev/null") in dumped
    restored = restore_mounts(spec, str(rootfs), "/b", [("cpu", "/cg/cpu/c2")])
    assert restored[:3] == [
        ("/data", "/b/data"),
        ("/sys/fs/cgroup/cpu", "/cg/cpu/c2"),
        ("/dev/null", "/dev/null"),
    ]
    # A destination through a symlink is keyed by where it really is in the rootfs.
    spec.mounts[1].destination = "/link"
    assert dump_mounts(spec, str(rootfs), [], [])[0] == ("/data", "/data")
    # On a cgroup v2 host the whole cgroup mount is one bind of the container's dir.
    assert restore_mounts(spec, str(rootfs), "/b", [("", "/cg/c2")])[1] == (
        "/sys/fs/cgroup",
        "/cg/c2",
    )


def test_dump_request_is_runcs() -> None:
    opts = CheckpointOptions(
        image_path="/img", tcp_established=True, parent_path="../pre", page_server="h:9"
    )
    req = dump_request(
        opts,
        pid=42,
        rootfs="/r",
        image_fd=5,
        work_fd=None,
        freeze_cgroup="/sys/fs/cgroup/freezer/c1",
        external_ns={"network": 4026531992},
        ext_mounts=[("/data", "/data")],
        annotations={},
    )
    o = req.opts
    assert req.type == rpc.DUMP
    assert (o.images_dir_fd, o.pid, o.root, o.log_file, o.log_level) == (5, 42, "/r", "dump.log", 4)
    assert not o.HasField("work_dir_fd")
    assert (o.manage_cgroups, o.notify_scripts, o.orphan_pts_master) == (True, True, True)
    assert not o.HasField("manage_cgroups_mode")  # criu's default unless asked
    assert (o.tcp_established, o.empty_ns, o.freeze_cgroup) == (
        True,
        0x40000000,
        "/sys/fs/cgroup/freezer/c1",
    )
    assert list(o.external) == ["net[4026531992]:extRootNetNS"]
    assert (o.parent_img, o.track_mem, o.ps.address, o.ps.port) == ("../pre", True, "h", 9)
    assert [(m.key, m.val) for m in o.ext_mnt] == [("/data", "/data")]
    assert o.config_file == "/etc/criu/runc.conf"
    pre = dump_request(
        CheckpointOptions(image_path="/i", pre_dump=True, manage_cgroups_mode="full"),
        pid=1, rootfs="/r", image_fd=5, work_fd=6, freeze_cgroup="", external_ns={},
        ext_mounts=[("/data", "/data")], annotations={"org.criu.config": ""},
    )  # fmt: skip
    assert (pre.type, len(pre.opts.ext_mnt), pre.opts.work_dir_fd) == (rpc.PRE_DUMP, 0, 6)
    assert pre.opts.manage_cgroups_mode == rpc.FULL
    assert not pre.opts.HasField("config_file")  # the annotation set to "": none


def test_restore_request_is_runcs() -> None:
    req = restore_request(
        RestoreOptions(image_path="/img", shell_job=True),
        image_fd=7,
        work_fd=8,
        root="/r",
        ext_mounts=[("/dev/null", "/dev/null")],
        inherit=[("pipe:[123]", 1), ("extRootNetNS", 4)],
        join_ns=[("ipc", "/proc/1/ns/ipc")],
        annotations={"org.criu.config": "/etc/criu/mine.conf"},
    )
    o = req.opts
    assert req.type == rpc.RESTORE
    assert (o.rst_sibling, o.evasive_devices, o.shell_job, o.log_file) == (
        True,
        True,
        True,
        "restore.log",
    )
    assert [(i.key, i.fd) for i in o.inherit_fd] == [("pipe:[123]", 1), ("extRootNetNS", 4)]
    assert [(j.ns, j.ns_file) for j in o.join_ns] == [("ipc", "/proc/1/ns/ipc")]
    assert o.config_file == "/etc/criu/mine.conf"


RLIMIT = "rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted"
TCP = "inet: Connected TCP socket, consider using --tcp-established option."
LOG = f"""\
(00.000001) Version: 4.2.1
(00.000100) Error (criu/util.c:1534): {RLIMIT}
(00.000200) a
(00.000300) b
(00.000400) c
(00.000500) d
(00.000600) e
(00.000700) f
(00.000800) Error (criu/sk-inet.c:200): {TCP}
(00.000900) Error (criu/cr-dump.c:1975): Dumping FAILED.
"""


def test_log_quoting(tmp_path: Path) -> None:
    log = tmp_path / "dump.log"
    log.write_text(LOG)
    lines = error_lines(str(log))
    assert lines[0].startswith("1:(00.000001) Version")
    assert "..." in lines  # the gap between the two groups
    assert lines[-1].startswith("10:")
    # The first error criu did not go on from (it always fails to raise RLIMIT_NOFILE here).
    assert first_error(str(log)) == TCP
    err = with_log(CriuError("criu failed: type DUMP errno 0", RLIMIT), str(log))
    assert str(err) == f"criu failed: type DUMP errno 0: {TCP}\nlog file: {log}"
    missing = with_log(CriuError("criu failed: x", "criu's own"), str(tmp_path / "none"))
    assert str(missing) == f"criu failed: x: criu's own\nlog file: {tmp_path / 'none'}"
