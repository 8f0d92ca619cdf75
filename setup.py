"""Build steps pyproject.toml cannot express: the C init helper and the cffi bindings."""

import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wformat=2"]


def build_helper(out: str) -> None:
    """Compile csrc/*.c into a static shim-init (static: no loader or libc lookups at exec)."""
    srcdir = os.path.join(HERE, "csrc")
    sources = sorted(os.path.join(srcdir, f) for f in os.listdir(srcdir) if f.endswith(".c"))
    extra = os.environ.get("SHIM_HELPER_CFLAGS", "").split()
    static = [] if "-fsanitize" in " ".join(extra) else ["-static", "-s"]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cc = os.environ.get("CC", "gcc")
    subprocess.run([cc, *CFLAGS, *extra, *static, "-o", out, *sources], check=True)


class BuildPy(build_py):
    def run(self) -> None:
        # Into the source tree too, so an editable install finds it.
        build_helper(os.path.join(HERE, "shim", "_helper", "shim-init"))
        super().run()
        if not self.editable_mode:
            build_helper(os.path.join(self.build_lib, "shim", "_helper", "shim-init"))


setup(
    cmdclass={"build_py": BuildPy},
    cffi_modules=["shim/sys/_build.py:ffibuilder", "shim/sys/_build.py:libseccomp_builder"],
    package_data={"shim": ["_helper/shim-init", "py.typed"]},
    scripts=["bin/shim", "bin/containerd-shim-pyshim-v1"],
)
