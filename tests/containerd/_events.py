"""`ctr events` as a test reads it: started, proven subscribed, then waited on by content.

ctr subscribes some time after it starts; a fixed sleep before the first event loses
it on a slow host. `subscribed()` instead creates throwaway namespaces until ctr prints
the create of one (containerd publishes `/namespaces/create`), so every event after it
is seen."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Callable

from .harness import TIMEOUT, Containerd


class CtrEvents:
    def __init__(self, ctd: Containerd, env: dict[str, str] | None = None) -> None:
        self._ctd, self._env = ctd, env  # None: ctr gets our environment
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._proc = subprocess.Popen(
            ["ctr", "--address", ctd.address, "events"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    def wait_for(self, seen: Callable[[str], bool], what: str, timeout: float = TIMEOUT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: any(map(seen, self._lines)), timeout):
                raise AssertionError(f"ctr events did not print {what}: {self._lines}")

    def subscribed(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        made: list[str] = []
        try:
            for n in itertools.count():
                probe = f"events-probe-{os.getpid()}-{n}"
                self._ctr("namespaces", "create", probe)
                made.append(probe)

                def created(line: str, probe: str = probe) -> bool:
                    return "/namespaces/create" in line and probe in line

                try:
                    self.wait_for(created, f"the create of {probe}", timeout=0.2)
                    return
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
        finally:
            for probe in made:
                self._ctr("namespaces", "remove", probe)

    def _ctr(self, *args: str) -> None:
        subprocess.run(
            ["ctr", "--address", self._ctd.address, *args],
            capture_output=True, timeout=TIMEOUT, env=self._env, check=True,
        )  # fmt: skip

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
