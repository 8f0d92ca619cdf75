"""A private containerd for tests: own root, state, config, gRPC and ttrpc sockets in one temp dir.

    with Containerd.started(tmp_dir) as ctd:
        ctd.ctr("run", "--runtime", "io.containerd.pyshim.v1", ...)

containerd finds `containerd-shim-pyshim-v1` on its PATH: a spy script first (it
records each invocation, with its cwd and, for `start`, the address printed, in
`ctd.shim_calls()`), then the venv's bin. CRI is on (its facts on this host:
`restrict_oom_score_adj`, the `native` snapshotter, a busybox sandbox image built by
tests/containerd/oci_image.py and imported into `k8s.io` under SANDBOX_IMAGE), with
runtimes `pyshim` (the default) and `runc`. `stop()` removes every task and
container, stops containerd, kills shims it left, unmounts what is under the temp
dir, removes our shims' sockets from /run/containerd/s and the namespace cgroups that
appeared, and returns what it had to clean (the leak report the fixture asserts on).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shim.shimv2.grouping import SOCKET_DIR

from .oci_image import build_image

SANDBOX_IMAGE = "pyshim.test/sandbox:1"
BUSYBOX_IMAGE = "pyshim.test/busybox:1"
VENV_BIN = Path(sys.executable).parent
SHIM = VENV_BIN / "containerd-shim-pyshim-v1"
TIMEOUT = 60
CGROUP_NAMESPACES = ("default", "k8s.io", "test")

CONFIG = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "{level}"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "pyshim"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyshim]
      runtime_type = "io.containerd.pyshim.v1"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/net.d"
"""

SPY = """\
#!/bin/sh
# Test spy: log how containerd runs the shim, then run the real one.
echo "call $$ $(pwd) $*" >> {log}
case " $* " in
*" start ") out=$({real} "$@"); rc=$?; echo "address $$ $out" >> {log}; printf %s "$out"; exit $rc;;
esac
exec {real} "$@"
"""


def _cgroup_dirs(name: str) -> list[Path]:
    """/sys/fs/cgroup/<hierarchy>/<name> in every hierarchy where it exists."""
    root = Path("/sys/fs/cgroup")
    found = [root / name] if (root / name).is_dir() else []
    return found + [p / name for p in sorted(root.iterdir()) if (p / name).is_dir()]


class ShimCall:
    def __init__(self, pid: str, cwd: str, argv: list[str]) -> None:
        self.pid, self.cwd, self.argv = pid, cwd, argv
        self.address = ""

    @property
    def action(self) -> str:
        return self.argv[-1] if self.argv and self.argv[-1] in ("start", "delete") else ""

    def flag(self, name: str) -> str:
        return self.argv[self.argv.index(f"-{name}") + 1] if f"-{name}" in self.argv else ""


class Containerd:
    def __init__(self, root: Path) -> None:
        self.dir = root
        self.address = str(root / "containerd.sock")
        self.ttrpc_address = self.address + ".ttrpc"
        self.log_path = root / "containerd.log"
        self.spy_log = root / "shim-calls.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}  # set before start(): containerd's (and shims')
        # bench/: no spy script in front of our shim (a shell per start and delete) and no
        # debug logging (containerd passes -debug on to both runtimes' shims)
        self.bench = False
        self._cgroups_before = {str(p) for ns in CGROUP_NAMESPACES for p in _cgroup_dirs(ns)}

    # -- life --------------------------------------------------------------------------
    def start(self) -> None:
        d = self.dir
        for sub in ("root", "state", "opt", "cni/bin", "cni/net.d", "spy"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        level = "info" if self.bench else "debug"
        (d / "config.toml").write_text(CONFIG.format(d=d, sandbox=SANDBOX_IMAGE, level=level))
        spy = d / "spy" / "containerd-shim-pyshim-v1"
        if not self.bench:
            spy.write_text(SPY.format(log=self.spy_log, real=SHIM))
            spy.chmod(0o755)
        (d / "tmp").mkdir(exist_ok=True)
        env = dict(
            os.environ,
            PATH=f"{d / 'spy'}:{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            TMPDIR=str(d / "tmp"),  # containerd leaves its ctrd-checkpoint* dirs there
            **self.extra_env,
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            ["containerd", "--config", str(d / "config.toml")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"containerd exited {self.proc.returncode}:\n{self.log()[-3000:]}"
                )
            if self.ctr("version", check=False, timeout=5).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not come up:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def import_images(self) -> None:
        images = self.dir / "images"
        images.mkdir(exist_ok=True)
        sandbox = build_image(images / "sandbox.tar", SANDBOX_IMAGE, ["/bin/sleep", "2147483647"])
        busybox = build_image(images / "busybox.tar", BUSYBOX_IMAGE, ["/bin/sh"])
        self.ctr("-n", "k8s.io", "image", "import", "--snapshotter", "native", str(sandbox))
        for ns in ("default", "k8s.io"):  # ctr's tests, and CRI's workload containers
            self.ctr("-n", ns, "image", "import", "--snapshotter", "native", str(busybox))

    @classmethod
    @contextmanager
    def started(
        cls, root: Path, images: bool = True, env: dict[str, str] | None = None, bench: bool = False
    ) -> Iterator[Containerd]:
        ctd = cls(root)
        ctd.extra_env = dict(env or {})
        ctd.bench = bench
        try:
            ctd.start()
            if images:
                ctd.import_images()
            yield ctd
        finally:
            leaks = ctd.stop()
        assert leaks == [], f"containerd harness had to clean up after the test: {leaks}"

    def restart(self) -> None:
        """Stop containerd (SIGTERM; shims and tasks keep running) and start it again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=TIMEOUT)
        self.start()

    def stop(self) -> list[str]:
        """Tear everything down; what was found left behind (after removing it)."""
        leaks: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            self._remove_tasks_and_containers()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        for pid in self.shim_pids():
            leaks.append(f"shim process {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._wait(lambda: not self.shim_pids(), "shim processes to die")
        leaks += self._unmount_all()
        for sock in self.shim_sockets():
            if os.path.exists(sock):
                leaks.append(f"socket {sock}")
                os.unlink(sock)
        leaks += self._remove_new_cgroups()
        return leaks

    def _remove_tasks_and_containers(self) -> None:
        for ns in self.ctr("namespaces", "ls", "-q", check=False).stdout.split():
            for task in self.ctr("-n", ns, "tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("-n", ns, "tasks", "kill", "-a", "-s", "KILL", task, check=False)
                self.ctr("-n", ns, "tasks", "delete", "-f", task, check=False)
            for container in self.ctr(
                "-n", ns, "containers", "ls", "-q", check=False
            ).stdout.split():
                self.ctr("-n", ns, "containers", "delete", container, check=False)

    def _unmount_all(self) -> list[str]:
        from shim.sys import unmount_detach

        mine = []
        with open("/proc/self/mountinfo") as file:
            for line in file:
                target = line.split()[4].replace("\\040", " ")
                if target.startswith(str(self.dir) + "/"):
                    mine.append(target)
        for target in reversed(mine):
            unmount_detach(target)
        return [f"mount {m}" for m in mine]

    def _remove_new_cgroups(self) -> list[str]:
        leaks = []
        for ns in CGROUP_NAMESPACES:
            for path in _cgroup_dirs(ns):
                if str(path) in self._cgroups_before:
                    continue
                children = [p for p in path.iterdir() if p.is_dir()]
                leaks += [f"cgroup {c}" for c in children]
                for child in children:
                    child.rmdir()
                path.rmdir()  # the namespace level containerd made: expected, not a leak
        return leaks

    def _wait(self, done: object, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.01)

    # -- looking ---------------------------------------------------------------------
    def ctr(self, *args: str, check: bool = True, timeout: float = TIMEOUT,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        env = dict(os.environ, CONTAINERD_SNAPSHOTTER="native")
        result = subprocess.run(
            ["ctr", "--address", self.address, *args],
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
            input=input.decode() if input is not None else None,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: exit {result.returncode}: {result.stderr}")
        return result

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def shim_calls(self) -> list[ShimCall]:
        calls: dict[str, ShimCall] = {}
        if not self.spy_log.exists():
            return []
        for line in self.spy_log.read_text().splitlines():
            kind, pid, rest = line.split(" ", 2)
            if kind == "call":
                cwd, _, argv = rest.partition(" ")
                calls[pid] = ShimCall(pid, cwd, argv.split())
            elif pid in calls:
                calls[pid].address = rest
        return list(calls.values())

    def shim_sockets(self) -> list[str]:
        return sorted({c.address.removeprefix("unix://") for c in self.shim_calls() if c.address})

    def _ours(self, pid: str) -> bool:
        """A zygote's child serving this containerd: its cwd is one of our bundles (the
        zygote itself sits in /)."""
        try:
            return os.readlink(f"/proc/{pid}/cwd").startswith(str(self.dir) + "/")
        except OSError:
            return False

    def shim_pids(self) -> list[int]:
        """Live shim processes (ours or runc-v2's) serving this containerd."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if not any(b"containerd-shim" in a for a in argv[:2]):
                continue
            if self.address.encode() in argv or (b"-zygote" in argv and self._ours(entry)):
                pids.append(int(entry))  # a daemon exec'd by start, or forked by the zygote
        return pids


def sockets_dir_entries() -> set[str]:
    return set(os.listdir(SOCKET_DIR)) if os.path.isdir(SOCKET_DIR) else set()


def containerd_missing() -> str:
    """Why the containerd tests cannot run here, or ""."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs Debian's containerd)"
    return _v2_without_cpu()


def _v2_without_cpu() -> str:
    """containerd's specs set cpu resources: on a cgroup-v2-only host whose cgroup2 tree
    has no cpu controller (this VM's, seen through scripts/v2-only.sh) no runtime can run
    them, runc-v2 included."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        if any(" - cgroup " in line for line in f):
            return ""  # v1 or hybrid
    try:
        offered = Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
    except OSError:
        return ""
    if "cpu" in offered:
        return ""
    return "containerd sets cpu resources, and this host's cgroup2 tree has no cpu controller"
