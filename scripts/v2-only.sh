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
# Any other cgroup mount (criu's cgroup yard, say) goes too: a v2-only host has one.
awk '{ split($0, a, " - "); split(a[2], b, " "); if (b[1] ~ /^cgroup2?$/) print $5 }' \
	/proc/self/mountinfo | sort -r | while read -r point; do umount --lazy "$point" || true; done
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
# The containerd shim's zygote is host-wide state: the "other host" gets its own (a zygote
# of the real host, in its cgroup layout, must not fork daemons here, nor one of ours
# leave a socket behind there).
mkdir -p /run/containerd/pyshim
mount -t tmpfs -o mode=0700 tmpfs /run/containerd/pyshim
unset SHIM_V2_ONLY_INNER
exec "$@"
