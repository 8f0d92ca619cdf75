"""The native front (csrc/front/shim_front.c): the common `start`, and a `delete` with
nothing to clean, without Python; everything else handed to the Python shim unchanged.

Each test builds the front itself with ASan and UBSan, once as installed (its fallback is
the real Python shim) and once with `/bin/false` as its fallback: a start that succeeds
through the latter never ran Python, and one that exits 1 through it was handed over.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shim
from shim.json_codec import loads
from shim.shimv2 import delete as delete_py
from shim.shimv2 import zygote
from shim.shimv2.grouping import socket_path
from shim.shimv2.proto import shim_pb2
from tests.conftest import needs_root

from ._shim_env import BINARY, Env, daemons_of
from .test_shim_binary import _connect
from .test_zygote import _ppid, _serving, _wait_for, _zygote_pid

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "csrc" / "front" / "shim_front.c"
PACKAGE = os.path.dirname(shim.__file__)  # what zygote.fingerprint() digests
SCRIPT = Path(sys.executable).parent.parent / "libexec" / "containerd-shim-pyshim-v1"
CFLAGS = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wformat=2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def build(out: Path, script: str) -> str:
    defines = [f'-DSHIM_SCRIPT="{script}"', f'-DSHIM_PACKAGE="{PACKAGE}"']
    subprocess.run(
        ["gcc", *CFLAGS, *SANITIZE, "-DSHIM_FRONT_SELFTEST", *defines, "-o", str(out), str(SOURCE)],
        check=True,
        timeout=120,
    )
    return str(out)


@pytest.fixture(scope="module")
def fronts(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(the front as installed, the front whose fallback is /bin/false)."""
    d = tmp_path_factory.mktemp("front")
    return build(d / "front", str(SCRIPT)), build(d / "front-no-python", "/bin/false")


def selftest(front: str, *args: str, stdin: bytes = b"") -> str:
    out = subprocess.run([front, *args], input=stdin, capture_output=True, timeout=30, check=True)
    return out.stdout.decode().strip()


def test_the_installed_shim_is_the_front() -> None:
    """setup.sh put the compiled front in bin/ and the Python shim in libexec/."""
    assert Path(BINARY).read_bytes()[:4] == b"\x7fELF"
    assert SCRIPT.read_bytes().startswith(b"#!")
    version = subprocess.run([BINARY, "-v"], capture_output=True, timeout=30, check=True)
    assert b"containerd-shim-pyshim-v1" in version.stdout  # handed to Python, unchanged


def test_fingerprint_and_socket_path_are_pythons(fronts: tuple[str, str]) -> None:
    front = fronts[0]
    assert selftest(front, "-fingerprint") == zygote.fingerprint()
    cases = [
        ("/run/containerd/containerd.sock", "default", "c1"),
        ("/tmp/x//y/./containerd.sock", "k8s.io", "a" * 64),
        ("relative/containerd.sock/", "ns", "id.with-dots_"),
    ]
    for address, ns, cid in cases:
        assert selftest(front, "-socket-path", address, ns, cid) == socket_path(address, ns, cid)


JSON_SAMPLES = [
    b"{}", b"[]", b" {\n} ", b'{"a":[1,-2.5e3,0,true,false,null,"x\\u00e9\\n"]}', b"0",
    b"{", b"}", b'{"a" 1}', b'{"a":1,}', b"[1 2]", b"012", b"1.", b"-", b"1e", b'"\x01"',
    b'"\\x"', b'"\\u12"', b"nul", b"{} {}", b'"\xc3\xa9"', b"[" * 300 + b"]" * 300,
]  # fmt: skip


def _python_accepts(doc: bytes) -> bool:
    try:
        loads(doc)
    except ValueError:
        return False
    return True


def _plain(front: str, docs: list[bytes]) -> list[bool]:
    if not docs:
        return []
    out = selftest(front, "-plain-json", stdin=b"\0".join(docs) + b"\0")
    assert len(out) == len(docs)
    return [c == "1" for c in out]


def test_plain_json_is_a_subset_of_what_python_reads(fronts: tuple[str, str]) -> None:
    """Anything the front takes as config.json, Python reads too; what it refuses (errors,
    non-ASCII, deep nesting) goes to the Python start, which says what is wrong."""
    verdicts = dict(zip(JSON_SAMPLES, _plain(fronts[0], JSON_SAMPLES), strict=True))
    for doc, plain in verdicts.items():
        assert not plain or _python_accepts(doc), doc
    assert [d for d, plain in verdicts.items() if plain] == JSON_SAMPLES[:5]


ascii_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(max_codepoint=127), max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(docs=st.lists(ascii_json, min_size=1, max_size=20), cuts=st.lists(st.integers(0, 200)))
def test_plain_json_agrees_with_python_on_generated_documents(
    fronts: tuple[str, str], docs: list[object], cuts: list[int]
) -> None:
    whole = [json.dumps(d).encode() for d in docs]  # ASCII: json.dumps escapes the rest
    broken = [w[: c % (len(w) + 1)] for w, c in zip(whole, cuts, strict=False)]
    assert all(_plain(fronts[0], whole))
    for doc, plain in zip(broken, _plain(fronts[0], broken), strict=True):
        assert plain == _python_accepts(doc), doc


def _run(
    env: Env, front: str, bundle: Path, cid: str, *action: str, stdin: bytes = b"", **extra: str
) -> subprocess.CompletedProcess[bytes]:
    argv = [front, "-namespace", "default", "-address", env.address]
    argv += ["-publish-binary", "/bin/false", "-id", cid, *action]
    return subprocess.run(
        argv, cwd=bundle, input=stdin, capture_output=True, timeout=30, check=False,
        env=dict(os.environ, **extra),
    )  # fmt: skip


def _warm_zygote(env: Env) -> int:
    path = zygote.socket_path()
    env.start(env.bundle("warm"), "warm")  # through Python if none runs: it starts one
    _wait_for(lambda: _zygote_pid(path) is not None and _serving(path), "a zygote")
    pid = _zygote_pid(path)
    assert pid is not None
    return pid


@needs_root
def test_a_plain_start_runs_no_python(env: Env, fronts: tuple[str, str]) -> None:
    zygote_pid = _warm_zygote(env)
    bundle = env.bundle("c1")
    result = _run(env, fronts[1], bundle, "c1", "start")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""  # containerd reads start's output as the address
    address = result.stdout.decode()
    env.sockets.add(address.removeprefix("unix://"))
    assert address == "unix://" + socket_path(env.address, "default", "c1")
    assert (bundle / "address").read_text() == address
    assert (bundle / "runtime-root").read_text() == "/run/containerd/pyshim/default"
    daemon = anyio.run(_connect, address).shim_pid
    assert _ppid(daemon) == zygote_pid
    assert os.readlink(f"/proc/{daemon}/cwd") == str(bundle)
    ours = int(Path(f"/proc/{os.getpid()}/oom_score_adj").read_text())
    assert int(Path(f"/proc/{daemon}/oom_score_adj").read_text()) == min(ours + 1, 1000)
    assert daemon in daemons_of(env.address)


@needs_root
def test_everything_else_is_handed_to_python(env: Env, fronts: tuple[str, str]) -> None:
    """Through the front whose Python is /bin/false: exit 1 means handed over. Nothing
    may be left of an attempt it gave up (no socket, no address, no daemon)."""
    _warm_zygote(env)
    no_python = fronts[1]
    options = b"\x0a\x19runtimeoptions.v1.Options\x12\x00"
    cases: list[tuple[str, dict[str, str], bytes, tuple[str, ...], dict[str, str]]] = [
        ("options", {}, options, ("start",), {}),
        ("sandbox", {"io.kubernetes.cri.sandbox-id": "pod"}, b"", ("start",), {}),
        ("group", {"io.containerd.runc.v2.group": "g"}, b"", ("start",), {}),
        ("by-ns", {"io.containerd.pyshim.v1.group": "namespace"}, b"", ("start",), {}),
        ("no-zygote", {}, b"", ("start",), {"SHIM_NO_ZYGOTE": "1"}),
        ("daemon", {}, b"", (), {}),
        ("version", {}, b"", ("-v",), {}),
        ("debug-false", {}, b"", ("-debug=false", "start"), {}),
        ("bundle-flag", {}, b"", ("-bundle", "/x", "start"), {}),
    ]
    for name, notes, stdin, action, extra in cases:
        bundle = env.bundle(name, notes)
        result = _run(env, no_python, bundle, name, *action, stdin=stdin, **extra)
        assert result.returncode == 1, (name, result)
        assert not (bundle / "address").exists(), name
        assert not os.path.exists(socket_path(env.address, "default", name)), name
    bundle = env.bundle("broken")
    (bundle / "config.json").write_text("{")
    assert _run(env, no_python, bundle, "broken", "start").returncode == 1
    assert len(daemons_of(env.address)) == 1  # the warm-up's: no other was started


@needs_root
def test_handed_over_starts_behave_as_pythons(env: Env, fronts: tuple[str, str]) -> None:
    """The installed front with the real Python behind it: stdin and argv reach it whole."""
    _warm_zygote(env)
    front = fronts[0]
    bundle = env.bundle("bad-options")
    result = _run(env, front, bundle, "bad-options", "start", stdin=b"\x0a\x05")
    assert (result.returncode, result.stdout) == (1, b"")
    assert b"runtime options: truncated field" in result.stderr
    first = _run(
        env, front, env.bundle("p1", {"io.kubernetes.cri.sandbox-id": "pod"}), "p1", "start"
    )
    second = _run(
        env, front, env.bundle("p2", {"io.kubernetes.cri.sandbox-id": "pod"}), "p2", "start"
    )
    assert first.returncode == second.returncode == 0, (first, second)
    assert first.stdout == second.stdout  # one shim for the pod
    env.sockets.add(first.stdout.decode().removeprefix("unix://"))


def _delete(
    env: Env, front: str, bundle: Path, cid: str
) -> tuple[subprocess.CompletedProcess[bytes], shim_pb2.DeleteResponse]:
    result = _run(env, front, bundle, cid, "-bundle", str(bundle), "delete")
    response = shim_pb2.DeleteResponse()
    if result.returncode == 0:
        response.ParseFromString(result.stdout)
    return result, response


@needs_root
def test_a_delete_with_nothing_to_clean_runs_no_python(
    env: Env, fronts: tuple[str, str], tmp_path: Path
) -> None:
    """What delete.py prints after a clean Delete (the state dir gone, nothing mounted,
    the socket answered or gone): DeleteResponse{init.pid, 137, now}."""
    no_python = fronts[1]
    bundle = env.bundle("c1")
    (bundle / "rootfs").mkdir()
    (bundle / "init.pid").write_text("4242\n")
    (bundle / "runtime-root").write_text(str(tmp_path / "state") + "\n")
    before = time.time()
    result, response = _delete(env, no_python, bundle, "c1")
    assert result.returncode == 0, result.stderr
    assert (response.pid, response.exit_status) == (4242, 137)
    assert before - 1 <= response.exited_at.ToNanoseconds() / 1e9 <= time.time() + 1
    assert result.stdout == delete_py.encode_delete_response(
        4242, 137, response.exited_at.ToNanoseconds()
    )
    (bundle / "init.pid").unlink()
    result, response = _delete(env, no_python, bundle, "c1")
    assert (result.returncode, response.pid) == (0, 0)


@needs_root
def test_a_delete_with_work_to_do_is_pythons(
    env: Env, fronts: tuple[str, str], tmp_path: Path
) -> None:
    no_python = fronts[1]
    state = tmp_path / "state"
    bundle = env.bundle("c1")
    (bundle / "runtime-root").write_text(str(state))
    (state / "c1").mkdir(parents=True)  # a container left to delete
    assert _delete(env, no_python, bundle, "c1")[0].returncode == 1
    (state / "c1").rmdir()
    dead = tmp_path / "dead.sock"  # a SIGKILLed shim's socket: Python removes it
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(dead))
    sock.close()
    (bundle / "address").write_text(f"unix://{dead}")
    assert _delete(env, no_python, bundle, "c1")[0].returncode == 1
    result, _ = _delete(env, fronts[0], bundle, "c1")  # the real Python behind it
    assert result.returncode == 0, result.stderr
    assert not dead.exists()
    (bundle / "init.pid").write_text("é")  # non-ASCII: Python reads it
    assert _delete(env, no_python, bundle, "c1")[0].returncode == 1
    (bundle / "init.pid").unlink()
    (bundle / "rootfs").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(bundle / "rootfs")], check=True)
    try:
        assert _delete(env, no_python, bundle, "c1")[0].returncode == 1
        assert _delete(env, fronts[0], bundle, "c1")[0].returncode == 0
        assert not os.path.ismount(bundle / "rootfs")  # Python unmounted it
    finally:
        subprocess.run(["umount", "-l", str(bundle / "rootfs")], check=False)
