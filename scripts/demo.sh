#!/bin/bash
# Set up, build a busybox bundle (from Debian's busybox-static), and run a container on it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bundle=$(mktemp -d /tmp/shim-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
.venv/bin/shim spec --busybox --bundle "$bundle"
# A non-interactive command instead of the default interactive `sh`.
.venv/bin/python - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["args"] = ["sh", "-c", "echo hello from $(hostname), pid $$; id; ls /"]
json.dump(config, open(path, "w"), indent="\t")
PY
.venv/bin/shim --root /run/shim-demo run --bundle "$bundle" "demo-$$"
