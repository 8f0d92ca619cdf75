"""The hot one-shot commands import nothing beyond the list kept in import_sets.txt.

Start-up time is mostly imports (bench/: "where shim's time goes"), and one careless
top-level import brings back `typing`, `re` or msgspec for every call. Each command
runs for real through the installed script, with its own #! flags plus
`-X importtime`, and every module it loaded must be listed under `[*]` or under the
command's own name.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHIM, TIMEOUT, BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import is_v2_only

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged]

SETS = Path(__file__).with_name("import_sets.txt")


def allowed_sets() -> dict[str, set[str]]:
    sets: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in SETS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = sets.setdefault(line[1:-1], set())
        elif line:
            assert current is not None, f"{SETS}: {line!r} before any [command]"
            current.add(line)
    return sets


def _interpreter() -> list[str]:
    first = Path(SHIM).read_text().split("\n", 1)[0]
    assert first.startswith("#!"), first
    return first[2:].split()


def imported(shim: Shim, *args: str) -> set[str]:
    """Run `shim ARGS` as the script would start, under -X importtime; what it loaded."""
    argv = [*_interpreter(), "-X", "importtime", SHIM, "--root", str(shim.root), *args]
    # A file, not a pipe: a container inherits our stderr and holds it open.
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            timeout=TIMEOUT, check=False,
        )  # fmt: skip
        err.seek(0)
        text = err.read().decode(errors="replace")
    assert done.returncode == 0, text[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }


def _with_seccomp(config: dict[str, Any]) -> None:
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["kexec_load", "open_by_handle_at"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        ],
    }  # fmt: skip


def _wait_stopped(shim: Shim, cid: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while shim.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline, f"{cid} still running"
        time.sleep(0.02)


def test_hot_commands_import_only_their_listed_modules(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    sleeper = make_bundle(["sleep", "100"], name="sleeper")
    true = make_bundle(["true"], name="true")
    shim.ids.add(cid)
    shim.ids.add(cid + "-run")
    seen = {"--version": imported(shim, "--version")}
    seen["create"] = imported(shim, "create", "--bundle", str(sleeper), cid)
    seen["state"] = imported(shim, "state", cid)
    seen["list"] = imported(shim, "list")
    seen["start"] = imported(shim, "start", cid)
    seen["exec"] = imported(shim, "exec", cid, "true")
    seen["kill"] = imported(shim, "kill", cid, "KILL")
    _wait_stopped(shim, cid)
    seen["delete"] = imported(shim, "delete", cid)
    seen["run"] = imported(shim, "run", "--bundle", str(true), cid + "-run")
    # Every container containerd, docker or podman makes has a seccomp profile.
    profiled = make_bundle(["true"], edit=_with_seccomp, name="seccomp")
    shim.ids.add(cid + "-sec")
    seen["create with seccomp"] = imported(shim, "create", "--bundle", str(profiled), cid + "-sec")
    allowed = allowed_sets()
    common = allowed["*"]
    if is_v2_only():  # device rules become a BPF program: create and run load its module
        for cmd in ("create", "run", "create with seccomp"):
            allowed[cmd] = allowed[cmd] | allowed["on cgroup v2"]
    extra = {cmd: sorted(mods - common - allowed.get(cmd, set())) for cmd, mods in seen.items()}
    extra = {cmd: mods for cmd, mods in extra.items() if mods}
    assert not extra, (
        f"new imports on hot commands: {extra}. Import them inside the branch that needs"
        f" them, or add them to {SETS.name} if the command really needs them."
    )


def test_the_list_is_read_as_written() -> None:
    sets = allowed_sets()
    assert set(sets) == {"*", "--version", "create", "state", "list", "start", "exec", "kill",
                         "delete", "run", "create with seccomp", "on cgroup v2"}  # fmt: skip
    for heavy in ("typing", "re", "msgspec", "enum", "json", "logging", "site"):
        assert not any(heavy in mods for mods in sets.values()), heavy
