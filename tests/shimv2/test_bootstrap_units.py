"""The start/delete building blocks that need no daemon: flags, groups, options, DeleteResponse."""

from __future__ import annotations

import hashlib

import pytest
from google.protobuf import any_pb2

from shim.shimv2.delete import encode_delete_response
from shim.shimv2.flags import FlagError, parse
from shim.shimv2.grouping import NAMESPACE_GROUP, group_key, socket_path
from shim.shimv2.options_wire import (
    DEFAULT_RUNTIME_ROOT,
    OptionsError,
    fields,
    parse_config,
    parse_options,
)
from shim.shimv2.proto import runc_options_pb2, runtimeoptions_pb2, shim_pb2


def test_containerd_16_start_and_delete_command_lines() -> None:
    line = "-namespace default -address /run/containerd/containerd.sock -publish-binary"
    start = parse([*line.split(), "/usr/bin/containerd", "-id", "t-w", "-debug", "start"])
    assert (start.namespace, start.address, start.publish_binary) == (
        "default", "/run/containerd/containerd.sock", "/usr/bin/containerd"
    )  # fmt: skip
    assert (start.id, start.debug, start.action) == ("t-w", True, "start")
    delete = parse(["-namespace", "k8s.io", "-id", "c", "-bundle", "/b", "delete"])
    assert (delete.bundle, delete.action, delete.debug) == ("/b", "delete", False)
    daemon = parse(["-namespace=ns", "--id=x", "-address", "-weird-but-a-value"])
    assert (daemon.namespace, daemon.id, daemon.address, daemon.action) == (
        "ns", "x", "-weird-but-a-value", ""
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-nope"], "flag provided but not defined: -nope"),
        (["-id"], "flag needs an argument: -id"),
        (["-debug=maybe"], 'invalid boolean value "maybe" for -debug: parse error'),
        (["-debug", "false"], "unknown action 'false'"),
        (["---id", "x"], "bad flag syntax: ---id"),
        (["start", "extra"], "unexpected arguments after start: extra"),
    ],
)
def test_go_flag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError, match=message.replace("(", r"\(")):
        parse(argv)


def test_version_flags_and_terminator() -> None:
    assert parse(["-v"]).version
    assert parse(["-version"]).version
    assert not parse(["-v=false"]).version
    assert parse(["--", "start"]).action == "start"


def test_group_key_rules() -> None:
    assert group_key({}, "c1", "sandbox") == "c1"
    pod = {"io.kubernetes.cri.sandbox-id": "pod1"}
    assert group_key(pod, "c2", "sandbox") == "pod1"
    both = {**pod, "io.containerd.runc.v2.group": "g"}
    assert group_key(both, "c2", "sandbox") == "g"
    assert group_key(pod, "c2", "namespace") == NAMESPACE_GROUP
    assert (
        group_key({"io.containerd.pyshim.v1.group": "namespace"}, "c3", "sandbox")
        == NAMESPACE_GROUP
    )
    assert group_key({"io.containerd.pyshim.v1.group": "sandbox"}, "c3", "namespace") == "c3"
    with pytest.raises(ValueError, match="unknown grouping 'pods'"):
        group_key({"io.containerd.pyshim.v1.group": "pods"}, "c3", "sandbox")


def test_socket_path_is_runc_v2s_hash() -> None:
    # spec 4.1 [obs]: sha256("<grpc>/default/t-w") is the printed hash
    want = hashlib.sha256(b"/run/containerd/containerd.sock/default/t-w").hexdigest()
    assert (
        socket_path("/run/containerd/containerd.sock", "default", "t-w")
        == f"/run/containerd/s/{want}"
    )
    assert socket_path("/run/containerd//containerd.sock/", "default", "t-w").endswith(want)


def _any(message: runtimeoptions_pb2.Options | runc_options_pb2.Options) -> bytes:
    wrapped = any_pb2.Any(type_url=message.DESCRIPTOR.full_name, value=message.SerializeToString())
    return wrapped.SerializeToString()


def test_options_from_runtimeoptions_body_and_file(tmp_path: pytest.TempPathFactory) -> None:
    body = b'group = "namespace"\nruntime_root = "/run/x"\n'
    opts = parse_options(_any(runtimeoptions_pb2.Options(type_url="pyshim", config_body=body)))
    assert (opts.group_by, opts.root_for("k8s.io")) == ("namespace", "/run/x/k8s.io")
    path = f"{tmp_path}/pyshim.toml"
    with open(path, "wb") as file:
        file.write(b'group = "sandbox"\n')
    opts = parse_options(_any(runtimeoptions_pb2.Options(config_path=path, config_body=body)))
    assert (opts.group_by, opts.runtime_root) == ("sandbox", DEFAULT_RUNTIME_ROOT)


def test_options_from_runc_options_root_and_nothing() -> None:
    raw = _any(
        runc_options_pb2.Options(root="/run/r", binary_name="runc", systemd_cgroup=True, io_uid=7)
    )
    assert parse_options(raw).root_for("default") == "/run/r/default"
    assert parse_options(b"").root_for("default") == f"{DEFAULT_RUNTIME_ROOT}/default"


def test_wire_reader_agrees_with_protobuf() -> None:
    message = runc_options_pb2.Options(no_pivot_root=True, shim_cgroup="/x", io_gid=300, root="/r")
    assert fields(message.SerializeToString()) == {1: 1, 3: b"/x", 5: 300, 7: b"/r"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x0a\x05", "truncated field"),
        (b"\x0a", "truncated varint"),
        (b"\x0b", "unsupported wire type 3"),
        (
            any_pb2.Any(type_url="containerd.linux.runc.RuncOptions").SerializeToString(),
            "unsupported type",
        ),
        (
            _any(runtimeoptions_pb2.Options(config_path="/nonexistent/pyshim.toml")),
            "config /nonexistent/pyshim.toml: No such file or directory",
        ),
    ],
)
def test_bad_options_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_options(raw)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (b'group = "pod"', "group: invalid value 'pod'"),
        (b'runtime_root = "relative"', "runtime_root: invalid value"),
        (b"grup = 1", "unknown key 'grup'"),
        (b"group = ", "shim config:"),
    ],
)
def test_bad_config_is_refused(config: bytes, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_config(config)


@pytest.mark.parametrize(
    ("pid", "status", "when"),
    [(24336, 137, 1_700_000_000_500_000_000), (0, 137, 1_700_000_000_000_000_000), (1, 0, 5)],
)
def test_hand_encoded_delete_response_is_protobufs(pid: int, status: int, when: int) -> None:
    secs, nanos = divmod(when, 10**9)
    want = shim_pb2.DeleteResponse(pid=pid, exit_status=status)
    want.exited_at.seconds, want.exited_at.nanos = secs, nanos
    assert encode_delete_response(pid, status, when) == want.SerializeToString()
