"""`shim` and `python -m shim`: the runc-compatible command line."""

from __future__ import annotations

import sys


def main() -> int:
    from shim.cli.dispatch import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
