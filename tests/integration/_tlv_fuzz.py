"""Property-based fuzz of the helper's packet and TLV parser, against real helpers.

Run by tests/integration/test_fuzz.py as `python -m tests.integration._tlv_fuzz N DIR` in
a sandbox of its own (`unshare --mount --uts --ipc --net --pid --fork`, propagation
private): the helpers it starts inherit those namespaces, so whatever a fuzzed BOOT makes
one do (unshare, mount, sethostname) stays in there, and every helper process dies with
the sandbox's pid 1 at the latest.

For each example: a real helper is started from its sealed memfd (spawn_helper), says
HELLO, and gets one fuzzed BOOT packet on its control socket (malformed header lengths
and fd counts, truncated bodies, unknown tags with and without the optional bit, TLV
lengths past the end, records of garbage, real fds where none belong). Then the parent
hangs up. Every helper process (H1, and H2 if the BOOT got that far) must exit with
status 1 (an error), never die by a signal, within the deadline; nothing may stay
mounted in the sandbox. Exit status 0 if every example held; hypothesis prints the
falsifying example otherwise.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.init import protocol as p
from shim.init.spawn import spawn_helper
from shim.supervisor.reaper import Reaper

DEADLINE = 5.0
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x20000, 0x4000000, 0x8000000, 0x20000000
SCRATCH: list[str] = []  # the tmpfs the worker runs in (main sets it)
KNOWN_TAGS = [v for k, v in vars(p).items() if k[:2] in ("T_", "M_", "D_", "L_", "K_", "S_")]
# Only short names from a harmless alphabet: no "/" (a sysctl key, a rootfs, a mount
# destination or a hook path would otherwise, by a fluke, name something real).
WORD = st.text(alphabet="abcdefghij0123456789", min_size=0, max_size=12)


def _tlv(tag: int, value: bytes, tflags: int = 0, vlen: int | None = None) -> bytes:
    size = len(value) if vlen is None else vlen
    return struct.pack("=HHI", tag, tflags, size) + value + b"\0" * (-len(value) % 8)


@st.composite
def _value(draw: st.DrawFn, depth: int) -> bytes:
    kind = draw(st.sampled_from(["u32", "u64", "str", "raw", "record"] if depth else ["u32"]))
    if kind == "u32":
        return struct.pack("=I", draw(st.integers(0, 2**32 - 1)))
    if kind == "u64":
        return struct.pack("=Q", draw(st.integers(0, 2**64 - 1)))
    if kind == "str":
        text = draw(WORD).encode()
        return text + draw(st.sampled_from([b"\0", b"", b"\0x\0"]))  # NUL-less, embedded NUL
    if kind == "raw":
        return draw(st.binary(max_size=64))
    return draw(_block(depth - 1))


@st.composite
def _entry(draw: st.DrawFn, depth: int) -> bytes:
    tag = draw(st.one_of(st.sampled_from(KNOWN_TAGS), st.integers(0, 2**16 - 1)))
    tflags = draw(st.sampled_from([0, 0, 0, p.TLV_OPTIONAL, 0xFFFF]))
    value = draw(_value(depth))
    vlen = draw(st.one_of(st.none(), st.none(), st.integers(0, 2**32 - 1)))
    return _tlv(tag, value, tflags, vlen)


@st.composite
def _block(draw: st.DrawFn, depth: int = 2) -> bytes:
    return b"".join(draw(st.lists(_entry(depth), max_size=12)))


@st.composite
def _skeleton(draw: st.DrawFn) -> bytes:
    """A BOOT that parses (rootfs, args, a mount namespace), so the fuzzed entries after
    it reach the stages: H1 unshares, clones H2, H2 builds a rootfs in the scratch tmpfs."""
    flags = CLONE_NEWNS
    for extra in (CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID):
        flags |= extra if draw(st.booleans()) else 0
    return (
        _tlv(p.T_ROOTFS, SCRATCH[0].encode() + b"\0")
        + _tlv(p.T_ARG, b"true\0")
        + _tlv(p.T_CLONE_FLAGS, struct.pack("=I", flags))
    )


@st.composite
def boot_packets(draw: st.DrawFn) -> tuple[bytes, int]:
    """(packet bytes, how many fds to attach): a BOOT, mostly well framed, often not."""
    body = draw(st.one_of(st.just(b""), _skeleton())) + draw(_block())
    body += draw(st.sampled_from([b""] * 9 + [b"\0" * p.PROTO_MAX_PACKET]))
    if draw(st.booleans()):  # a truncated body
        body = body[: draw(st.integers(0, len(body)))]
    nfds = draw(st.sampled_from([0, 0, 0, 1, 2]))
    length = len(body) + p.HEADER.size
    length = draw(st.sampled_from([length, length, 0, length + 8, max(0, length - 1), 2**31]))
    mtype = draw(st.sampled_from([p.MSG_BOOT, p.MSG_BOOT, p.MSG_BOOT, p.MSG_HELLO, 0, 999]))
    header_fds = draw(st.sampled_from([nfds, nfds, nfds + 1, 64, 2**32 - 1]))
    header = struct.pack("=IHHII", length % 2**32, mtype, 0, 0, header_fds % 2**32)
    return header + body, nfds


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [" ".join(line.split()[3:5]) for line in f]


def _drain_children(deadline: float) -> list[str]:
    """Wait for every remaining child (H2 is ours too: CLONE_PARENT); problems found."""
    problems: list[str] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return problems
        if pid == 0:
            if time.monotonic() > deadline:
                os.kill(-1, 9)  # we are pid 1 of the sandbox (main checks): all of it
                return [*problems, "a helper process did not exit after the parent hung up"]
            time.sleep(0.005)
            continue
        if os.WIFSIGNALED(status):
            problems.append(f"helper {pid} killed by signal {os.WTERMSIG(status)}")
        elif os.WEXITSTATUS(status) != 1:
            problems.append(f"helper {pid} exited {os.WEXITSTATUS(status)}, not 1")


def run_one(packet: bytes, nfds: int, reaper: Reaper) -> list[str]:
    before = _mounts()
    helper = spawn_helper(reaper=reaper, preserve_fds=0, console_sock=None, fifo_fd=None)
    problems = []
    fds = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(nfds)]
    try:
        helper.ctl1.settimeout(DEADLINE)
        hello = helper.ctl1.recv(p.PROTO_MAX_PACKET)
        if hello[4:6] != struct.pack("=H", p.MSG_HELLO):
            problems.append(f"no HELLO: {hello!r}")
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{nfds}i", *fds))]
        try:
            helper.ctl1.sendmsg([packet], anc if fds else [])
            # Let it answer (an ERROR, or its next request, or EOF) before hanging up.
            helper.ctl1.recv(p.PROTO_MAX_PACKET)
        except OSError:
            pass  # EMSGSIZE and the like: it saw nothing, and gets EOF now
    finally:
        for fd in fds:
            os.close(fd)
        h1 = helper.h1
        helper.close()
    assert h1 is not None
    exit_ = reaper.wait(h1, time.monotonic() + DEADLINE)
    reaper.release(h1)
    if exit_.signal:
        problems.append(f"H1 killed by signal {exit_.signal}")
    elif exit_.status != 1:
        problems.append(f"H1 exited {exit_.status}, not 1")
    problems += _drain_children(time.monotonic() + DEADLINE)
    if _mounts() != before:
        problems.append("a mount was left in the sandbox")
    return problems


def _read_only_sandbox(scratch: str) -> None:
    """Every mount of the sandbox read-only (mount_setattr, recursive: this namespace's
    copies only), then a tmpfs on `scratch` as cwd and as the rootfs of well-formed
    BOOTs: a BOOT naming some real path can write nowhere but there."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    attr = struct.pack("=QQQQ", 1, 0, 0, 0)  # attr_set MOUNT_ATTR_RDONLY
    # 442: mount_setattr; -100: AT_FDCWD; 0x8000: AT_RECURSIVE
    if libc.syscall(442, -100, b"/", 0x8000, attr, len(attr)) != 0:
        raise OSError(ctypes.get_errno(), "mount_setattr / read-only")
    if libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), f"mount tmpfs on {scratch}")
    os.chdir(scratch)
    SCRATCH.append(scratch)


def main(argv: list[str]) -> int:
    if os.getpid() != 1 or len(argv) != 2:
        print("usage, as pid 1 of a sandbox: _tlv_fuzz EXAMPLES SCRATCH_DIR", file=sys.stderr)
        return 2
    _read_only_sandbox(argv[1])
    examples = int(argv[0])
    reaper = Reaper()
    seen = {"n": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=os.environ.get("SHIM_FUZZ_RANDOM") != "1",  # CI: the same examples
        suppress_health_check=list(HealthCheck),
    )
    @given(boot_packets())
    def helper_survives(case: tuple[bytes, int]) -> None:
        seen["n"] += 1
        problems = run_one(*case, reaper)
        assert problems == [], problems

    started = time.monotonic()
    helper_survives()
    print(f"tlv fuzz: {seen['n']} packets, {time.monotonic() - started:.1f}s, all held")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
