"""`start`: listen where containerd will dial, hand the socket to a detached daemon, print it.

Spec section 4, in order:
 1. config.json (cwd = the bundle) -> annotations -> group key; runtime options from stdin.
 2. Bind and listen on /run/containerd/s/<hash> *before* printing: containerd dials at
    once. EADDRINUSE: a live shim of the same group answers there -> reuse it (write
    `address`, print, exit 0, no daemon); nobody answers (a SIGKILLed shim's leftover)
    -> unlink and bind again.
 3. posix_spawn the daemon (this script, no action) with the listener as fd 3,
    stdio /dev/null (containerd reads start's output to EOF: an inherited pipe would
    hang it), its own session; oom_score_adj = containerd's + 1, as runc-v2 does.
 4. `address` written atomically (containerd 1.x reads it again after a restart), and
    `runtime-root` for `delete` (it gets no options), then the address printed.

Lean on purpose: os, _socket, _sha256, _json and our own small modules only.
"""

from __future__ import annotations

import _socket
import os
import sys

from shim.shimv2.flags import Flags
from shim.shimv2.grouping import SOCKET_DIR, group_key, socket_path
from shim.shimv2.options_wire import ShimOptions, parse_options

ADDRESS_FILE = "address"
RUNTIME_ROOT_FILE = "runtime-root"  # where the daemon keeps container state, for `delete`


class StartError(Exception):
    pass


def read_annotations(bundle: str) -> dict[str, str]:
    from shim.json_codec import loads

    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as file:
            spec = loads(file.read())
    except OSError as err:
        raise StartError(f"read {path}: {err.strerror}") from None
    except ValueError as err:
        raise StartError(f"{path}: {err}") from None
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    if not isinstance(annotations, dict):
        return {}
    return {k: v for k, v in annotations.items() if isinstance(k, str) and isinstance(v, str)}


def _read_stdin() -> bytes:
    chunks = []
    try:
        while chunk := os.read(0, 65536):
            chunks.append(chunk)
    except OSError:  # no stdin at all (closed fd): no options
        pass
    return b"".join(chunks)


def answers(path: str, kind: int = _socket.SOCK_STREAM) -> bool:
    """Whether something accepts a connection on the unix socket `path` (`kind`: a shim
    serves ttrpc on a stream socket; the zygote listens on a SEQPACKET one)."""
    probe = _socket.socket(_socket.AF_UNIX, kind | _socket.SOCK_CLOEXEC)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def listen(path: str) -> int | None:
    """A listening socket's fd at `path`, or None when a live shim already serves there."""
    os.makedirs(SOCKET_DIR, 0o711, exist_ok=True)
    for _attempt in range(2):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            sock.bind(path)
        except OSError as err:
            sock.close()
            if err.errno != 98:  # EADDRINUSE
                raise StartError(f"listen {path}: {err.strerror}") from None
            if answers(path):
                return None
            try:  # a dead shim's socket: nothing removes it but us (spec 4.1)
                os.unlink(path)
            except FileNotFoundError:
                pass
            continue
        os.chmod(path, 0o600)
        sock.listen(128)
        return sock.detach()
    raise StartError(f"listen {path}: address in use and nobody answers")


def write_atomic(path: str, data: str) -> None:
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def daemon_argv(flags: Flags) -> list[str]:
    script = os.path.abspath(sys.argv[0])
    argv = [sys.executable, script, "-namespace", flags.namespace, "-id", flags.id]
    argv += ["-address", flags.address, "-publish-binary", flags.publish_binary]
    return [*argv, "-debug"] if flags.debug else argv


def spawn_daemon(flags: Flags, listener_fd: int, bundle: str) -> int:
    """Start the daemon detached (own session, stdio /dev/null, listener on fd 3)."""
    import fcntl

    high = fcntl.fcntl(listener_fd, fcntl.F_DUPFD_CLOEXEC, 10)  # so dup2(_, 3) is a real dup
    actions: list[tuple[int, int, str, int, int] | tuple[int, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, high, 3),
    ]
    argv = daemon_argv(flags)
    old_cwd = os.getcwd()
    os.chdir(bundle)  # posix_spawn has no cwd argument
    try:
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True)
    except OSError as err:
        raise StartError(f"spawn {argv[1]}: {err.strerror}") from None
    finally:
        os.chdir(old_cwd)
        os.close(high)


def _fork_or_spawn(flags: Flags, listener: int, bundle: str) -> int:
    """The daemon from the warm zygote when one answers (shim.shimv2.zygote), else a fresh
    interpreter (and a zygote started for the next time)."""
    from shim.shimv2.zygote import fork_daemon

    pid = fork_daemon(daemon_argv(flags)[2:], bundle, listener)
    return pid if pid is not None else spawn_daemon(flags, listener, bundle)


def adjust_oom_score(pid: int) -> None:
    """The daemon gets containerd's oom_score_adj + 1 (containerd is start's parent)."""
    try:
        with open(f"/proc/{os.getppid()}/oom_score_adj") as file:
            score = int(file.read())
        with open(f"/proc/{pid}/oom_score_adj", "w") as file:
            file.write(str(min(score + 1, 1000)))
    except (OSError, ValueError) as err:
        raise StartError(f"failed to adjust OOM score for shim: {err}") from None


def start(flags: Flags) -> str:
    """Do `start`; the address to print. Raises StartError (and OptionsError, ValueError)."""
    if not flags.namespace:
        raise StartError("shim namespace cannot be empty")
    if not flags.id or not flags.address:
        raise StartError("start needs -id and -address")
    bundle = flags.bundle or os.getcwd()
    options: ShimOptions = parse_options(_read_stdin())
    group = group_key(read_annotations(bundle), flags.id, options.group_by)
    path = socket_path(flags.address, flags.namespace, group)
    address = "unix://" + path
    listener = listen(path)
    write_atomic(os.path.join(bundle, RUNTIME_ROOT_FILE), options.root_for(flags.namespace))
    if listener is not None:
        try:
            pid = _fork_or_spawn(flags, listener, bundle)
        finally:
            os.close(listener)
        try:
            adjust_oom_score(pid)
        except StartError:
            os.kill(pid, 9)
            os.unlink(path)
            raise
    write_atomic(os.path.join(bundle, ADDRESS_FILE), address)
    return address
