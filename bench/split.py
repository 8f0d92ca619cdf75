"""Where shim's time goes, measured in the same rounds as the commands themselves.

A phase that times some commands (the cycle's create, state, start and delete; `run`;
`exec`; ...) also runs, each round and in the rotated order: the bare interpreter
(`python -c pass` of the venv, the floor of the light commands), the interpreter as
the installed script starts it doing nothing ("lean": its own flags, -IS once
`shim.launcher` made it lean) and, per command, a process that only imports what that
command imports. Load on this shared machine changes from one phase to the next, so a
command is only ever compared with samples of its own phase.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from bench.model import Startup

BARE = "bare"
LEAN = "lean"
_EXIT = "import posix\nposix._exit(0)\n"  # what the script does instead of a teardown


class Script:
    """The installed `shim` script: its interpreter, flags and path set-up."""

    def __init__(self, path: str) -> None:
        with open(path) as f:
            lines = f.read().splitlines()
        words = lines[0][2:].split() if lines and lines[0].startswith("#!") else []
        if not words:
            raise ValueError(f"{path}: no #! line")
        self.path = path
        self.python, self.flags = words[0], words[1:]
        self.setup = "".join(f"{line}\n" for line in lines if "set by shim.launcher" in line)

    def argv(self, code: str) -> list[str]:
        return [self.python, *self.flags, "-c", f"import sys\n{self.setup}{code}"]


class Splitter:
    """The extra processes of each phase, and their samples by command."""

    def __init__(
        self, script: Script | None, modules: dict[str, list[str]], counts: dict[str, int]
    ) -> None:
        self.script = script
        self.modules = modules  # command -> the modules it imports directly, in order
        self.bare: dict[str, list[float]] = {}  # command -> bare interpreter, its phase
        self.result = Startup(
            interpreter=" ".join([script.python, *script.flags]) if script else "",
            lean={},
            imports={},
            modules=counts,  # command -> how many modules it imports in all
        )

    def jobs(self, commands: Iterable[str]) -> dict[str, list[str]]:
        """label -> argv of what a phase timing `commands` adds to each round."""
        out = {BARE: [sys.executable, "-c", "pass"]}
        if self.script is not None:
            out[LEAN] = self.script.argv(_EXIT)
            for cmd in commands:
                if cmd in self.modules:
                    code = "".join(f"import {n}\n" for n in self.modules[cmd]) + _EXIT
                    out[f"imports {cmd}"] = self.script.argv(code)
        return out

    def record(self, commands: Iterable[str], label: str, ms: float) -> None:
        if label == BARE:
            for cmd in commands:
                self.bare.setdefault(cmd, []).append(ms)
        elif label == LEAN:
            for cmd in commands:
                self.result.lean.setdefault(cmd, []).append(ms)
        else:
            self.result.imports.setdefault(label.removeprefix("imports "), []).append(ms)
