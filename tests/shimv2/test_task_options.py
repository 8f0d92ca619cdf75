"""The Task service's option mapping: containerd's Any messages to the runtime's options."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2

from shim.errors import InvalidArgument, Unsupported
from shim.shimv2.proto import runc_options_pb2
from shim.shimv2.task_service import checkpoint_options, create_options, restore_options


def _any(
    type_url: str, message: runc_options_pb2.Options | runc_options_pb2.CheckpointOptions
) -> any_pb2.Any:
    return any_pb2.Any(type_url=type_url, value=message.SerializeToString())


def test_checkpoint_options_follow_runc_v2() -> None:
    ckpt = runc_options_pb2.CheckpointOptions(
        exit=True, open_tcp=True, external_unix_sockets=True, terminal=True, file_locks=True,
        empty_namespaces=["network"], cgroups_mode="full", work_path="/w",
    )  # fmt: skip
    opts = checkpoint_options("/ctd/tmp/ckpt", _any("containerd.runc.v1.CheckpointOptions", ckpt))
    assert opts.image_path == "/ctd/tmp/ckpt"  # containerd's dir unless image_path says
    assert not opts.leave_running  # exit
    assert (opts.tcp_established, opts.ext_unix_sk, opts.shell_job, opts.file_locks) == (
        True, True, True, True,
    )  # fmt: skip
    assert (opts.empty_ns, opts.manage_cgroups_mode, opts.work_path) == (["network"], "full", "/w")
    plain = checkpoint_options("/ctd/tmp/ckpt", any_pb2.Any())
    assert plain.leave_running  # no options (any runtime but runc's, from ctr): it runs on
    ckpt = runc_options_pb2.CheckpointOptions(image_path="/mine")
    assert (
        checkpoint_options("/x", _any("containerd.runc.v1.CheckpointOptions", ckpt)).image_path
        == "/mine"
    )
    with pytest.raises(InvalidArgument):
        checkpoint_options("/x", any_pb2.Any(type_url="something.Else", value=b""))


def test_create_and_restore_options_from_runc_options() -> None:
    runc = runc_options_pb2.Options(
        no_pivot_root=True, no_new_keyring=True, criu_image_path="/img", criu_work_path="/wk"
    )
    opts = create_options(_any("containerd.runc.v1.Options", runc))
    assert (opts.no_pivot, opts.no_new_keyring) == (True, True)
    restore = restore_options("/ctd/ckpt", _any("containerd.runc.v1.Options", runc))
    assert (restore.image_path, restore.work_path) == ("/img", "/wk")
    assert restore_options("/ctd/ckpt", any_pb2.Any()).image_path == "/ctd/ckpt"
    with pytest.raises(Unsupported, match="SystemdCgroup"):
        create_options(
            _any("containerd.runc.v1.Options", runc_options_pb2.Options(systemd_cgroup=True))
        )
    with pytest.raises(InvalidArgument):
        create_options(any_pb2.Any(type_url="foo.Bar", value=b""))
