#!/bin/bash
# Regenerate the Python code (and .pyi stubs for mypy) of shim/shimv2/proto/*.proto.
# The protoc is grpcio-tools' (a dev-only tool, from PyPI; not a runtime dependency):
# grpcio-tools 1.74.0 bundles protoc 31.1, whose output needs protobuf >= 6.31.1, < 7
# at run time (pyproject.toml pins that range). Paths are rooted at the repository, so
# the generated imports read `from shim.shimv2.proto import ..._pb2`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c 'import grpc_tools' 2>/dev/null; then
	"$PY" -m pip install -q 'grpcio-tools==1.74.0'
fi
rm -f shim/shimv2/proto/*_pb2.py shim/shimv2/proto/*_pb2.pyi
"$PY" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. shim/shimv2/proto/*.proto
