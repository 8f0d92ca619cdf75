"""A warm parent that forks each new shim daemon (a fork server).

A daemon started from scratch pays the interpreter and ~230 ms of imports (anyio,
protobuf, the runtime) before it can answer containerd's first Create: on the path of
every `ctr run`. The zygote pays them once per host: it imports everything a daemon
needs, freezes the heap (`gc.freeze()`: no collection will touch, and so copy, those
pages), and then only forks. `start` hands it the listening socket; the child becomes
the daemon at once, with its own process, session and event loop, sharing the
zygote's pages copy-on-write (its PSS is only what it writes itself).

    start ---- connect, {argv, cwd, env} + listener fd ----> zygote (one thread, no loop)
          <--- {"pid": N} ------------------------------------ fork(): N serves the socket

The socket lives in /run/containerd/pyshim (0700) and is named after a fingerprint of
the installed code, so a changed installation never gets a daemon of the old code; the
zygote answers only root (SO_PEERCRED). It reaps its children and leaves once it has had
none and no request for IDLE_EXIT seconds. `SHIM_NO_ZYGOTE=1` in containerd's
environment turns it off: `start` then spawns each daemon itself, as before.
"""

from __future__ import annotations

import _socket
import os
import sys

from shim.shimv2.start import answers

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

ZYGOTE_DIR = "/run/containerd/pyshim"
IDLE_EXIT = float(os.environ.get("SHIM_ZYGOTE_IDLE", "300"))  # seconds; tests shorten it
# A zygote that is there answers once it has warmed up (its imports: ~0.3 s, seconds on a
# loaded machine); waiting for it is still cheaper than a fresh interpreter.
CONNECT_TIMEOUT = 30.0
MAX_REQUEST = 64 << 10
STALE_AFTER = 60.0  # seconds: a zygote binds and listens within microseconds
# containerd's environment a daemon reads (spec section 3.3); the rest is the zygote's.
PASSED_ENV = (
    *("TTRPC_ADDRESS", "GRPC_ADDRESS", "NAMESPACE", "MAX_SHIM_VERSION", "SCHED_CORE"),
    *("PATH", "SHIM_CRIU"),  # where a daemon finds criu (Checkpoint, restore)
)


def fingerprint(root: str | None = None) -> str:
    """A digest of the installed shim package (every .py and .so file's path, size and
    mtime), or of the package tree at `root`."""
    import _sha256

    if root is None:
        import shim

        root = os.path.dirname(shim.__file__)
    digest = _sha256.sha256()
    stack = [root]
    while stack:
        for entry in sorted(os.scandir(stack.pop()), key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                stack.append(entry.path)
            elif entry.name.endswith((".py", ".so")):
                st = entry.stat()
                digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def socket_path(print_: str | None = None) -> str:
    return os.path.join(ZYGOTE_DIR, f"zygote-{print_ or fingerprint()}.sock")


# -- the client side: `start` --------------------------------------------------------


def fork_daemon(argv: list[str], cwd: str, listener: int) -> int | None:
    """Ask the zygote for a daemon serving `listener`; its pid, or None when no zygote
    answers (the caller spawns the daemon itself, and the zygote for next time)."""
    from shim.fdpass import rights
    from shim.json_codec import dumps, loads

    if os.environ.get("SHIM_NO_ZYGOTE") == "1":
        return None
    path = socket_path()
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            spawn_zygote(path)
            return None
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        request = dumps({"argv": argv, "cwd": cwd, "env": env}).encode()
        sock.sendmsg([request], rights([listener]))
        reply = sock.recv(4096)
    except OSError:
        return None  # a zygote that misbehaves: the classic way still works
    finally:
        sock.close()
    try:
        data = loads(reply)
    except ValueError:
        return None
    pid = data.get("pid") if isinstance(data, dict) else None
    return pid if isinstance(pid, int) and pid > 0 else None


def spawn_zygote(path: str) -> None:
    """Start a zygote in the background (own session, stdio /dev/null); never waited for."""
    script = os.path.abspath(sys.argv[0])
    argv = [sys.executable, script, "-zygote", path]
    null = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDWR, 0) for fd in (0, 1, 2)]
    old_cwd = os.getcwd()
    os.chdir("/")  # posix_spawn has no cwd argument; the bundle must not stay its cwd
    try:
        pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=null, setsid=True)
    except OSError:
        return
    finally:
        os.chdir(old_cwd)
    # Not waited for: it outlives us and is re-parented (to containerd's subreaper or init).
    del pid


# -- the zygote ------------------------------------------------------------------------


def warm_up() -> None:
    """Import everything a daemon runs, so a fork finds it loaded."""
    import anyio._backends._asyncio
    import anyio.streams.memory  # noqa: F401

    import shim.cgroups.manager
    import shim.cgroups.oom
    import shim.cgroups.v1
    import shim.cgroups.v2
    import shim.runtime.container_stats
    import shim.runtime.create
    import shim.runtime.delete
    import shim.runtime.exec
    import shim.runtime.kill
    import shim.runtime.pause
    import shim.runtime.query
    import shim.runtime.start
    import shim.runtime.update
    import shim.shimv2.daemon
    import shim.shimv2.task_service
    import shim.spec.load
    import shim.sys._native  # noqa: F401


def serve(path: str) -> int:
    """The zygote's life: bind, warm up, fork on request; 0 when idle long enough."""
    import gc
    import select
    import signal
    import socket
    import time

    from shim.shimv2.peercred import peer_credentials

    os.chdir("/")  # not the bundle `start` ran in: it must not stay busy for our lifetime
    os.makedirs(ZYGOTE_DIR, mode=0o700, exist_ok=True)
    os.chmod(ZYGOTE_DIR, 0o700)  # root's: only root may reach the zygote, or the state roots
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        listener.bind(path)
    except OSError:
        if answers(path, _socket.SOCK_SEQPACKET):
            return 0  # another zygote won the race
        try:  # a dead zygote's socket (SIGKILLed, or its machine rebooted under /run)
            os.unlink(path)
            listener.bind(path)
        except OSError:
            return 0
    os.chmod(path, 0o600)
    listener.listen(64)
    sweep_dead_sockets(path)
    warm_up()
    gc.collect()
    gc.freeze()  # the warm heap stays shared with every child
    children: set[int] = set()
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_w)  # a SIGCHLD wakes the select below: reap at once
    signal.signal(signal.SIGCHLD, lambda *_: None)
    last_busy = time.monotonic()
    try:
        while True:
            _reap(children)
            if children:
                last_busy = time.monotonic()
            idle = IDLE_EXIT - (time.monotonic() - last_busy)
            if idle <= 0 and not children:
                return 0
            ready, _, _ = select.select([listener.fileno(), wake_r], [], [], max(idle, 1.0))
            if wake_r in ready:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            if listener.fileno() not in ready:
                continue
            conn, _ = listener.accept()
            last_busy = time.monotonic()
            with conn:
                try:
                    _, uid, _ = peer_credentials(conn)
                    if uid not in (0, os.getuid()):
                        continue
                    pid = _handle(conn, listener)
                except (OSError, ValueError, UnicodeDecodeError):
                    continue  # that request fails; the zygote serves on
                if pid:
                    children.add(pid)
    finally:
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def sweep_dead_sockets(ours: str, min_age: float = STALE_AFTER) -> list[str]:
    """Remove the sockets that SIGKILLed zygotes of this or older installations left in
    ZYGOTE_DIR (a clean exit removes its own). Only those older than `min_age` seconds that
    nobody answers: a zygote between its bind and its listen refuses connections too."""
    import time

    removed = []
    now = time.time()
    for entry in os.scandir(ZYGOTE_DIR):
        if entry.path == ours or not entry.name.startswith("zygote-"):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age:
                continue
            if not answers(entry.path, _socket.SOCK_SEQPACKET):
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:
            continue
    return removed


def _reap(children: set[int]) -> None:
    """The zygote's children are the daemons: collect each that exited (their own
    children, the containers, are theirs to reap)."""
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            children.discard(pid)


def _handle(conn: socket.socket, listener: socket.socket) -> int:
    """Read one request, fork the daemon, answer its pid; 0 if the request was bad."""
    import select

    from shim.fdpass import received_fds
    from shim.json_codec import dumps, loads

    data, anc, flags, _ = conn.recvmsg(MAX_REQUEST, _socket.CMSG_SPACE(4), _socket.MSG_CMSG_CLOEXEC)
    fds = received_fds(anc)
    try:
        try:
            truncated = flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC)
            request = None if truncated else loads(data)
        except ValueError:
            request = None
        ok = (
            isinstance(request, dict)
            and len(fds) == 1
            and isinstance(request.get("argv"), list)
            and isinstance(request.get("cwd"), str)
            and isinstance(request.get("env"), dict)
        )
        if not ok or not isinstance(request, dict):
            conn.send(b'{"error":"bad request"}')
            return 0
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            conn.close()
            listener.close()
            os.close(ready_r)
            _become_daemon(request, fds[0], ready_w)  # never returns
        os.close(ready_w)
        # The child has its session, cwd and fds once it closes its end (or dies): only then
        # does `start` learn its pid, as with a daemon that posix_spawn set up.
        select.select([ready_r], [], [], 5.0)
        os.close(ready_r)
        conn.send(dumps({"pid": pid}).encode())
        return pid
    finally:
        for fd in fds:
            os.close(fd)


def _become_daemon(request: dict[str, object], listener_fd: int, ready: int) -> None:
    """In the forked child: the daemon `start` would have exec'd, minus the exec. Closing
    `ready` tells the zygote the process is set up (session, cwd, stdio, fd 3)."""
    import signal

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.chdir(str(request["cwd"]))
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.dup2(listener_fd, 3)  # a dup2'd fd is not close-on-exec: as fd 3 after an exec
        os.closerange(4, 1 << 16)  # `ready` too: that is the signal
        env = request["env"]
        assert isinstance(env, dict)
        for key in PASSED_ENV:
            os.environ.pop(key, None)
        os.environ.update({str(k): str(v) for k, v in env.items()})
        argv = request["argv"]
        assert isinstance(argv, list)
        sys.argv = [sys.argv[0], *(str(a) for a in argv)]
        from shim.shimv2.main import main

        code = main([str(a) for a in argv])
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            pass
        os._exit(code)
