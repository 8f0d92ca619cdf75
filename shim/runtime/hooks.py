"""Hooks the runtime process runs itself: prestart, createRuntime, poststart, poststop.

createContainer and startContainer run inside the container, in the helper (csrc/hooks.c).
A hook gets the OCI state on stdin, exactly its own env, the bundle as cwd;
its output is captured and shown only when it fails (runc's behaviour).
"""

from __future__ import annotations

import _signal
import os
import time

from shim.errors import Cancelled, HookFailed, TimedOut

TYPE_CHECKING = False
if TYPE_CHECKING:
    from subprocess import Popen

    from shim.cancel import CancelToken
    from shim.children import Child, ChildReaper


class HookSpec:
    """The fields of an OCI hook, from a Spec's Hook or from state.json."""

    __slots__ = ("args", "env", "path", "timeout")

    def __init__(self, path: str, args: list[str], env: list[str], timeout: int | None) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> HookSpec:
        path, args, env, timeout = (
            raw.get("path"),
            raw.get("args", []),
            raw.get("env", []),
            raw.get("timeout"),
        )
        if not isinstance(path, str) or not isinstance(args, list) or not isinstance(env, list):
            raise HookFailed(f"malformed hook in state: {raw!r}")
        return cls(
            path,
            [str(a) for a in args],
            [str(e) for e in env],
            timeout if isinstance(timeout, int) else None,
        )


def _env(entries: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if sep:
            env[key] = value
    return env


def run_hook(
    hook: HookSpec,
    state_json: str,
    cwd: str,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> None:
    """Run one hook; HookFailed with runc's text (without the "#N" prefix) if it fails.

    The hook is a child adopted by the process's reaper (never waited on by `subprocess`,
    whose waitpid would race the reaper); its `timeout` kills it, and so does `cancel`.
    """
    import subprocess  # only paid for by containers that have hooks

    argv = hook.args or [hook.path]
    deadline = None if not hook.timeout else time.monotonic() + hook.timeout
    with reaper.hold():  # nobody may reap it before it is adopted
        try:
            proc = subprocess.Popen(
                argv,
                executable=hook.path,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_env(hook.env),
                cwd=cwd,
                start_new_session=True,  # its own process group: a kill takes its children too
            )
        except OSError as err:
            reason = err.strerror.lower() if err.strerror else str(err)
            raise HookFailed(f"fork/exec {hook.path}: {reason}") from None
        child = reaper.adopt(proc.pid)
    try:
        try:
            out, err_ = _communicate(proc, child, state_json.encode(), deadline, cancel)
            exit_ = reaper.wait(child, deadline, cancel)
        except (TimedOut, Cancelled) as stop:
            os.killpg(child.pid, _signal.SIGKILL)  # the group lives while its leader is unreaped
            exit_ = reaper.wait(child)
            if isinstance(stop, Cancelled):
                raise
            raise HookFailed(
                f"hook ran past specified timeout of {float(hook.timeout or 0):.1f}s"
            ) from None
    finally:
        proc.returncode = child.exit.status if child.exit else -1  # Popen must not wait
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        reaper.release(child)
    if exit_.status == 0:
        return
    text_out, text_err = out.decode(errors="replace"), err_.decode(errors="replace")
    if exit_.signal:
        status = f"signal: {go_signal_name(exit_.signal)}"
    else:
        status = f"exit status {exit_.status}"
    raise HookFailed(f"error running hook: {status}, stdout: {text_out}, stderr: {text_err}")


def _communicate(
    proc: Popen[bytes],
    child: Child,
    data: bytes,
    deadline: float | None,
    cancel: CancelToken | None,
) -> tuple[bytes, bytes]:
    """Feed stdin, collect stdout and stderr. Stops reading once the hook has exited and
    its pipes hold nothing more: a daemon it left behind may keep them open forever."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    stdin, outputs = proc.stdin.fileno(), [proc.stdout.fileno(), proc.stderr.fileno()]
    chunks: dict[int, list[bytes]] = {fd: [] for fd in outputs}
    for fd in (stdin, *outputs):
        os.set_blocking(fd, False)
    pending = memoryview(data)
    if not pending:
        proc.stdin.close()
        stdin = -1
    exited = False
    open_outputs = list(outputs)
    while open_outputs and not exited:
        watch = [*open_outputs, child.pidfd]
        writable = [stdin] if stdin >= 0 else []
        ready = _ready(watch, writable, deadline, cancel)
        if child.pidfd in ready:
            exited = True
        if stdin in ready:
            try:
                pending = pending[os.write(stdin, pending) :]
            except (BrokenPipeError, BlockingIOError) as err:
                if isinstance(err, BrokenPipeError):
                    pending = pending[:0]
            if not pending:
                proc.stdin.close()
                stdin = -1
        for fd in list(open_outputs):
            if fd in ready or exited:
                while (chunk := _read(fd)) is not None:
                    if not chunk:
                        open_outputs.remove(fd)
                        break
                    chunks[fd].append(chunk)
    return b"".join(chunks[outputs[0]]), b"".join(chunks[outputs[1]])


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None


def _ready(
    readable: list[int], writable: list[int], deadline: float | None, cancel: CancelToken | None
) -> set[int]:
    import select

    poller = select.poll()
    for fd in readable:
        poller.register(fd, select.POLLIN)
    for fd in writable:
        poller.register(fd, select.POLLOUT)
    if cancel is not None:
        poller.register(cancel.fileno(), select.POLLIN)
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
    ready = {fd for fd, _ in poller.poll(timeout)}
    if cancel is not None and cancel.fileno() in ready:
        raise Cancelled("hook: cancelled")
    if not ready and deadline is not None:
        raise TimedOut("hook: timed out")
    return ready


def go_signal_name(num: int) -> str:
    """A signal as Go's os/exec names it: "bad system call", "killed", but "CPU time..."."""
    import signal  # only when a hook was killed: the module builds enums at import

    name = signal.strsignal(num) or f"signal {num}"
    return name[0].lower() + name[1:] if name[1:2].islower() else name


def run_hooks(
    hooks: list[HookSpec],
    state_json: str,
    cwd: str,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> None:
    """Run hooks in order; the first failure stops the rest ("error running hook #N: ...")."""
    for index, hook in enumerate(hooks):
        try:
            run_hook(hook, state_json, cwd, reaper, cancel)
        except HookFailed as err:
            raise HookFailed(f"error running hook #{index}: {err}") from None


def run_hooks_warning(
    hooks: list[HookSpec],
    state_json: str,
    cwd: str,
    kind: str,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> None:
    """poststart/poststop: a failure is logged and the rest still run (OCI: "as if the hook
    had succeeded"); never raises HookFailed."""
    from shim.logs import get_logger

    for index, hook in enumerate(hooks):
        try:
            run_hook(hook, state_json, cwd, reaper, cancel)
        except HookFailed as err:
            get_logger().warning(f"{kind} hook failed: error running hook #{index}: {err}")
