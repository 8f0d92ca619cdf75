#!/bin/bash
# Run a command where the host looks cgroup-v2-only: in a private mount namespace whose
# /sys/fs/cgroup holds only a fresh cgroup2 mount (the v1 hierarchies and the hybrid
# layout's tmpfs are detached there). The host's own mounts are never changed.
#   scripts/v2-only.sh .venv/bin/pytest -p no:cacheprovider -q tests/integration
set -euo pipefail
if [ "${SHIM_V2_ONLY_INNER:-}" != 1 ]; then
	exec env SHIM_V2_ONLY_INNER=1 unshare --mount --propagation private "$0" "$@"
fi
umount --recursive --lazy /sys/fs/cgroup
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
unset SHIM_V2_ONLY_INNER
exec "$@"
