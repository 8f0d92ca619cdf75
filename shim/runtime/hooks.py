"""Hooks the runtime process runs itself: prestart, createRuntime, poststart, poststop.

createContainer and startContainer run inside the container, in the helper (csrc/hooks.c).
A hook gets the OCI state on stdin, exactly its own env, the bundle as cwd;
its output is captured and shown only when it fails (runc's behaviour).
"""

from __future__ import annotations

from shim.errors import HookFailed


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


def run_hook(hook: HookSpec, state_json: str, cwd: str) -> None:
    """Run one hook; HookFailed with runc's text (without the "#N" prefix) if it fails."""
    import subprocess  # only paid for by containers that have hooks

    argv = hook.args or [hook.path]
    try:
        proc = subprocess.run(
            argv,
            executable=hook.path,
            input=state_json.encode(),
            capture_output=True,
            env=_env(hook.env),
            cwd=cwd,
            timeout=hook.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HookFailed(
            f"hook ran past specified timeout of {float(hook.timeout or 0):.1f}s"
        ) from None
    except OSError as err:
        reason = err.strerror.lower() if err.strerror else str(err)
        raise HookFailed(f"fork/exec {hook.path}: {reason}") from None
    if proc.returncode == 0:
        return
    out, err_ = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    status = (
        f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal: {-proc.returncode}"
    )
    raise HookFailed(f"error running hook: {status}, stdout: {out}, stderr: {err_}")


def run_hooks(hooks: list[HookSpec], state_json: str, cwd: str) -> None:
    """Run hooks in order; the first failure stops the rest ("error running hook #N: ...")."""
    for index, hook in enumerate(hooks):
        try:
            run_hook(hook, state_json, cwd)
        except HookFailed as err:
            raise HookFailed(f"error running hook #{index}: {err}") from None


def run_hooks_warning(hooks: list[HookSpec], state_json: str, cwd: str, kind: str) -> None:
    """poststart/poststop: a failure is logged and the rest still run (OCI: "as if the hook
    had succeeded"); never raises HookFailed."""
    from shim.logs import get_logger

    for index, hook in enumerate(hooks):
        try:
            run_hook(hook, state_json, cwd)
        except HookFailed as err:
            get_logger().warning(f"{kind} hook failed: error running hook #{index}: {err}")
