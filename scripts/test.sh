#!/bin/bash
# Set up, then lint, type-check and run the whole test suite (as root: namespaces,
# mounts and cgroups are tested for real). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check shim tests
.venv/bin/ruff format --check shim tests
.venv/bin/mypy
# The helper's C also runs once under ASan/UBSan (tests/integration/test_sanitizers.py).
.venv/bin/pytest -p no:cacheprovider "$@"
