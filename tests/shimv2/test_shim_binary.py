"""containerd-shim-pyshim-v1 as containerd runs it: start, the daemon, delete (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from google.protobuf.empty_pb2 import Empty

from shim.shimv2.proto import shim_pb2
from shim.shimv2.ttrpc_client import ClosedError, open_client
from shim.shimv2.ttrpc_framing import MAX_DATA, encode_frame

from ..conftest import BundleFactory, Shim, needs_busybox, needs_root
from ._shim_env import BINARY, Env, daemons_of
from ._ttrpc_helpers import raw_peer, request_frame

TASK = "containerd.task.v2.Task"
TIMEOUT = 20
pytestmark = needs_root


async def _connect(address: str) -> shim_pb2.ConnectResponse:
    async with open_client(address.removeprefix("unix://")) as client:
        return await client.call(
            TASK, "Connect", shim_pb2.ConnectRequest(id="c1"), shim_pb2.ConnectResponse
        )


def test_start_listens_detaches_and_writes_address(env: Env) -> None:
    bundle = env.bundle("c1")
    address = env.start(bundle, "c1")
    assert (bundle / "address").read_text() == address
    assert (bundle / "runtime-root").read_text() == "/run/containerd/pyshim/default"
    path = address.removeprefix("unix://")
    assert os.stat(path).st_mode & 0o777 == 0o600
    (pid,) = daemons_of(env.address)
    assert anyio.run(_connect, address).shim_pid == pid  # serving: set up as it will stay
    assert os.getpgid(pid) == os.getsid(pid) == pid  # its own session
    assert os.readlink(f"/proc/{pid}/cwd") == str(bundle)
    assert os.readlink(f"/proc/{pid}/fd/0") == os.readlink(f"/proc/{pid}/fd/1") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/2") == str(bundle / "log")
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))[:4] == [0, 1, 2, 3]
    assert os.readlink(f"/proc/{pid}/fd/3").startswith("socket:")
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == str(
        min(int(Path(f"/proc/{os.getpid()}/oom_score_adj").read_text()) + 1, 1000)
    )


def test_same_sandbox_shares_one_daemon_and_another_gets_its_own(env: Env) -> None:
    pod = {"io.kubernetes.cri.sandbox-id": "pod1"}
    first = env.start(env.bundle("c1", pod), "c1")
    second = env.start(env.bundle("c2", pod), "c2")
    assert first == second
    assert len(daemons_of(env.address)) == 1
    other = env.start(env.bundle("c3"), "c3")
    assert other != first
    assert len(daemons_of(env.address)) == 2


def test_namespace_grouping_from_runtime_options(env: Env) -> None:
    from google.protobuf import any_pb2

    from shim.shimv2.proto import runtimeoptions_pb2

    options = runtimeoptions_pb2.Options(config_body=b'group = "namespace"\n')
    stdin = any_pb2.Any(type_url="runtimeoptions.v1.Options", value=options.SerializeToString())
    a = env.start(env.bundle("c1"), "c1", stdin.SerializeToString())
    b = env.start(env.bundle("c2"), "c2", stdin.SerializeToString())
    assert a == b
    assert len(daemons_of(env.address)) == 1


def test_bad_start_input_fails_with_a_message(env: Env) -> None:
    bundle = env.bundle("c1")
    result = env.run(bundle, "c1", "start", stdin=b"\x0a\x05")
    assert (result.returncode, result.stdout) == (1, b"")
    assert b"runtime options: truncated field" in result.stderr
    (bundle / "config.json").write_text("{")
    result = env.run(bundle, "c1", "start")
    assert result.returncode == 1
    assert b"config.json: Expecting" in result.stderr
    assert daemons_of(env.address) == []


def test_killed_daemon_is_replaced_and_delete_cleans_up(env: Env) -> None:
    bundle = env.bundle("c1")
    address = env.start(bundle, "c1")
    (pid,) = daemons_of(env.address)
    os.kill(pid, signal.SIGKILL)
    while daemons_of(env.address):
        time.sleep(0.01)
    path = address.removeprefix("unix://")
    assert os.path.exists(path)  # a SIGKILLed shim leaves its socket
    assert env.start(bundle, "c1") == address  # the stale socket is replaced
    (pid,) = daemons_of(env.address)
    os.kill(pid, signal.SIGKILL)
    (bundle / "init.pid").write_text("4321")
    for _ in range(2):  # idempotent
        result = env.run(bundle, "c1", "-bundle", str(bundle), "delete")
        assert result.returncode == 0, result.stderr
        reply = shim_pb2.DeleteResponse.FromString(result.stdout)
        assert (reply.pid, reply.exit_status) == (4321, 137)
        assert abs(reply.exited_at.seconds - time.time()) < 60
    assert not os.path.exists(path)  # nobody answered there: removed


def test_delete_keeps_a_live_group_socket(env: Env) -> None:
    pod = {"io.kubernetes.cri.sandbox-id": "pod1"}
    address = env.start(env.bundle("c1", pod), "c1")
    bundle2 = env.bundle("c2", pod)
    env.start(bundle2, "c2")
    result = env.run(bundle2, "c2", "delete")
    assert result.returncode == 0, result.stderr
    assert shim_pb2.DeleteResponse.FromString(result.stdout).pid == 0
    assert os.path.exists(address.removeprefix("unix://"))
    assert anyio.run(_connect, address).shim_pid == daemons_of(env.address)[0]


def test_shutdown_without_containers_exits_and_unlinks_the_socket(env: Env) -> None:
    address = env.start(env.bundle("c1"), "c1")

    async def shutdown() -> None:
        with anyio.fail_after(TIMEOUT):
            await _shutdown()

    async def _shutdown() -> None:
        async with open_client(address.removeprefix("unix://")) as client:
            await client.call(TASK, "Shutdown", shim_pb2.ShutdownRequest(id="c1"), Empty)
            with pytest.raises(ClosedError):  # the daemon is gone
                await client.call(
                    TASK, "Connect", shim_pb2.ConnectRequest(id="c1"), shim_pb2.ConnectResponse
                )

    anyio.run(shutdown)
    deadline = time.monotonic() + TIMEOUT
    while daemons_of(env.address) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert daemons_of(env.address) == []
    assert not os.path.exists(address.removeprefix("unix://"))


def test_sigterm_shuts_the_daemon_down(env: Env) -> None:
    address = env.start(env.bundle("c1"), "c1")
    (pid,) = daemons_of(env.address)
    assert anyio.run(_connect, address).shim_pid == pid  # serving: its handlers are in place
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + TIMEOUT
    while daemons_of(env.address) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert daemons_of(env.address) == []
    assert not os.path.exists(address.removeprefix("unix://"))


def test_daemon_survives_garbage_oversized_and_half_closed_connections(env: Env) -> None:
    address = env.start(env.bundle("c1"), "c1")
    path = Path(address.removeprefix("unix://"))

    async def abuse() -> None:
        with anyio.fail_after(TIMEOUT):
            await _abuse()

    async def _abuse() -> None:
        async with raw_peer(path) as peer:  # garbage: an unknown frame type
            await peer.send(encode_frame(1, 9, b"\xde\xad"))
            assert await peer.closed()
        async with raw_peer(path) as peer:  # oversized: answered, connection kept
            big = MAX_DATA + 1
            await peer.send(big.to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x01\x00")
            await peer.send(b"\x00" * big)
            assert (await peer.status())[:2] == (1, 8)
            await peer.send(
                request_frame(
                    3, TASK, "Connect", shim_pb2.ConnectRequest(id="c1").SerializeToString()
                )
            )
            assert (await peer.status())[:2] == (3, 0)
        async with raw_peer(path) as peer:  # half-closed in the middle of a frame
            await peer.send(request_frame(1, TASK, "Connect")[:7])
            peer.stream.send_eof()
            assert await peer.closed()
        reply = await _connect(address)
        assert reply.shim_pid == daemons_of(env.address)[0]

    anyio.run(abuse)


def test_a_log_fifo_nobody_reads_never_blocks_the_daemon(env: Env) -> None:
    bundle = env.bundle("c1")
    holder = os.open(bundle / "log", os.O_RDWR | os.O_NONBLOCK)  # containerd's end, never read
    try:
        argv = [BINARY, "-namespace", "default", "-address", env.address, "-id", "c1", "-debug"]
        result = subprocess.run(
            [*argv, "start"], cwd=bundle, capture_output=True, timeout=TIMEOUT, check=True
        )
        address = result.stdout.decode()
        env.sockets.add(address.removeprefix("unix://"))

        async def many() -> int:
            with anyio.fail_after(TIMEOUT):
                return await _many()

        async def _many() -> int:
            async with open_client(address.removeprefix("unix://")) as client:
                for _ in range(1500):  # each logs a debug line: far more than the fifo holds
                    await client.call(
                        TASK, "Connect", shim_pb2.ConnectRequest(id="c1"), shim_pb2.ConnectResponse
                    )
            return 1500

        assert anyio.run(many) == 1500
        logged = os.read(holder, 1 << 20)
        assert b"ttrpc: containerd.task.v2.Task/Connect" in logged
        assert len(logged) <= 65536  # the fifo filled up; the rest was dropped, not waited for
    finally:
        os.close(holder)


@needs_busybox
def test_delete_force_deletes_a_running_container_and_unmounts_rootfs(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    oci = make_bundle(["sleep", "100"])
    shim.ok("run", "-d", "--bundle", str(oci), cid)
    pid = int(str(shim.state(cid)["pid"]))
    bundle = tmp_path / "containerd-bundle"  # what containerd would give our delete
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "runtime-root").write_text(str(shim.root))
    (bundle / "init.pid").write_text(str(pid))
    delete = [BINARY, "-namespace", "default", "-address", "/nowhere", "-id", cid]
    delete += ["-bundle", str(bundle), "delete"]
    # a private mount namespace: mount something on rootfs, delete must take it off
    script = (
        'mount -t tmpfs pyshim-test "$1/rootfs" && shift && "$@" > "$0" && ! mountpoint -q "$0.d"'
    )
    out = tmp_path / "reply"
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         script.replace('"$0.d"', f'"{bundle}/rootfs"'), str(out), str(bundle), *delete],
        capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = shim_pb2.DeleteResponse.FromString(out.read_bytes())
    assert (reply.pid, reply.exit_status) == (pid, 137)
    assert shim("state", cid).code != 0  # gone from the runtime
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )
