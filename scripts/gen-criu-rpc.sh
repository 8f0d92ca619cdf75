#!/bin/bash
# Regenerate shim/criu/rpc_pb2.py and rpc_pb2.pyi from shim/criu/rpc.proto (CRIU's
# images/rpc.proto, copied unchanged from the criu source scripts/build-criu.sh builds).
# The same protoc as scripts/gen-proto.sh (grpcio-tools 1.74.0, protoc 31.1), so that
# both generated packages need the one protobuf range pyproject.toml pins.
# The proto path is the repository root, so the file registers in the default
# descriptor pool as "shim/criu/rpc.proto", not "rpc.proto" (containerd's protos live
# in the same pool), and its module is shim.criu.rpc_pb2.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c 'import grpc_tools' 2>/dev/null; then
	"$PY" -m pip install -q 'grpcio-tools==1.74.0'
fi
"$PY" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. shim/criu/rpc.proto
