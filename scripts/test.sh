#!/bin/bash
# Set up, then lint, type-check and run the whole test suite (as root: namespaces,
# mounts and cgroups are tested for real). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check shim tests bench conformance examples
.venv/bin/ruff format --check shim tests bench conformance examples
.venv/bin/mypy
# The helper's C also runs once under ASan/UBSan (tests/integration/test_sanitizers.py).
.venv/bin/pytest -p no:cacheprovider "$@"
# Again as on a cgroup-v2-only host: in a private mount namespace whose /sys/fs/cgroup is
# a fresh cgroup2 mount and nothing else (scripts/v2-only.sh; the host's mounts stay as
# they are). Tests that need a controller this host's cgroup2 tree lacks skip, saying so.
# About as long as the first pass; SHIM_V2_PASS=0 leaves it out.
if [ "${SHIM_V2_PASS:-1}" = 0 ]; then
	echo "cgroup v2-only pass: SKIPPED (SHIM_V2_PASS=0)"
elif [ "$(id -u)" -ne 0 ]; then
	echo "cgroup v2-only pass: SKIPPED (needs root for the private mount namespace)"
else
	echo "cgroup v2-only pass:"
	scripts/v2-only.sh .venv/bin/pytest -p no:cacheprovider "$@"
fi
# The OCI runtime-tools validation suite (README, "Conformance"): a regression against
# conformance/expected.txt fails the run. About 2 min; SHIM_CONFORMANCE=0 leaves it out.
if [ "${SHIM_CONFORMANCE:-1}" = 0 ]; then
	echo "conformance: SKIPPED (SHIM_CONFORMANCE=0)"
elif [ ! -f ../shared/tools/oci-validation.sh ]; then
	echo "conformance: SKIPPED (../shared/tools/oci-validation.sh not found beside the checkout)"
elif [ "$(id -u)" -ne 0 ]; then
	echo "conformance: SKIPPED (the validation suite needs root)"
else
	PYTHON=.venv/bin/python conformance/run.sh .venv/bin/shim
fi
