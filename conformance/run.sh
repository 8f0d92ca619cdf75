#!/bin/bash
# conformance/run.sh [RUNTIME [OUTDIR]]
# Run the OCI runtime-tools validation suite (../shared/tools/oci-validation.sh, all
# 58 programs) against shim, then compare the run with conformance/expected.txt and
# conformance/reasons.txt: exit 1 on a regression; new passes are listed, to raise
# expected.txt with `python -m conformance write OUTDIR`. As root: about 1.5 min,
# plus the suite's build the first time (cached under $PEERS_WORK, default /tmp/peers).
# RUNTIME: default .venv/bin/shim. OUTDIR: default a new /tmp/shim-conformance.XXXXXX.
# Env: OCI_VALIDATION (the tool), OCI_TESTS (some programs only: compared as a
#      partial run), OCI_TEST_TIMEOUT (s per program, default 60), PYTHON.
# The tool runs under tests/host_guard.py: if the host's "/" mounts, /dev/null,
# /dev/full or canary files change, the step fails (exit 1) with a banner.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${OCI_VALIDATION:-../shared/tools/oci-validation.sh}
runtime=${1:-.venv/bin/shim}
out=${2:-$(mktemp -d /tmp/shim-conformance.XXXXXX)}
[ -f "$tool" ] || { echo "conformance: $tool not found" >&2; exit 2; }
mkdir -p "$out"
# The slowest program (delete) takes 15 s: a hang costs a minute, not two.
export OCI_TEST_TIMEOUT=${OCI_TEST_TIMEOUT:-60}
echo "conformance: OCI runtime-tools validation against $runtime, output in $out"
status=0
# Under the host-integrity guard (tests/host_guard.py): a run once deleted a host's /etc.
"${PYTHON:-python3}" -m tests.host_guard -- bash "$tool" "$runtime" "$out" >"$out/tool.log" || status=$?
if [ $status -eq 99 ]; then
	echo "conformance: REGRESSION: the run changed the host (see above)" >&2
	exit 1
fi
if [ $status -ne 0 ] || [ ! -f "$out/summary.txt" ]; then
	tail -20 "$out/tool.log" >&2
	echo "conformance: the validation tool failed (exit $status)" >&2
	exit 2
fi
grep -E '^(TOTAL|programs without|[0-9]+ passed)' "$out/summary.txt" | sed 's/^/conformance: /'
# The tool restores a host /dev/null a runtime chowned (crun does): for shim it is a bug.
if grep -q 'host /dev/null chowned' "$out/summary.txt"; then
	grep 'host /dev/null chowned' "$out/summary.txt" >&2
	echo "conformance: REGRESSION: the runtime chowned the host's /dev/null" >&2
	status=1
fi
partial=()
[ -z "${OCI_TESTS:-}" ] || partial=(--partial)
"${PYTHON:-python3}" -m conformance check "${partial[@]}" "$out" || status=$?
exit $status
