#!/bin/bash
# Regenerate shim/criu/rpc_pb2.py and rpc_pb2.pyi from shim/criu/rpc.proto (CRIU's
# images/rpc.proto, copied unchanged from the criu source scripts/build-criu.sh builds).
# Needs protoc (Debian's protobuf-compiler); its 3.21 gencode has no runtime version
# check, so it loads on every protobuf runtime from 4.21 on (pyproject's range).
# The proto path includes shim/criu/ so that the file registers in the default
# descriptor pool as "shim/criu/rpc.proto", not "rpc.proto": containerd's protos live
# in the same pool.
set -euo pipefail
cd "$(dirname "$0")/.."
protoc -I . --python_out=. --pyi_out=. shim/criu/rpc.proto
