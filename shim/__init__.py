"""shim: an OCI runtime with runc's command line, and a containerd shim."""

from __future__ import annotations

# the dict itself: the name `sys` here would be rebound to shim.sys once that is imported
from sys import modules as _modules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__version__ = "0.1.0"
OCI_VERSION = "1.0.2-dev"  # what runc 1.1 reports in state, list and hooks


def lazy_exports(package: str, table: dict[str, str]) -> Callable[[str], object]:
    """A package's module `__getattr__` that imports `package.<table[name]>` on first use of
    `name`: a package `__init__` that imports nothing until asked (start-up time)."""

    def __getattr__(name: str) -> object:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        __import__(f"{package}.{module}")  # importlib itself would cost an import
        return getattr(_modules[f"{package}.{module}"], name)

    return __getattr__
