#!/bin/bash
# scripts/disposable-root.sh [-s N] [-o REPORT] -- CMD [ARGS...]
#
# Run CMD (as root) in a disposable copy of this machine, for what might damage the
# host (issue 16: a conformance run deleted the host's /etc). Nothing CMD does reaches
# the real files:
#   - a private mount namespace whose "/" is an overlay of the real root filesystem with
#     a tmpfs upper layer (pivoted into; the old root is detached), so a deletion is a
#     whiteout in the tmpfs;
#   - fresh /proc, /sys, a tmpfs /dev with its own nodes and devpts instance;
#   - a cgroup namespace rooted at new child cgroups of ours, with fresh cgroup mounts,
#     so a recursive remove can only reach cgroups made in here (all killed and removed
#     at the end);
#   - -s N: "/" stacked N more times (`mount --rbind / /`) before CMD, with CMD's root
#     at the bottom of the stack, as on the machine that lost its /etc.
# A watcher records every whiteout (deleted path) in the upper layer with the time since
# CMD started; the list is printed at the end (and written to REPORT with -o).
# Exit status: CMD's.
set -euo pipefail
stack=0 report=""
while getopts "s:o:" opt; do
	case $opt in
	s) stack=$OPTARG ;;
	o) report=$OPTARG ;;
	*) echo "usage: $0 [-s N] [-o REPORT] -- CMD [ARGS...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-s N] [-o REPORT] -- CMD [ARGS...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 2; }
self=$(readlink -f "$0")

case ${_DISPOSABLE_STAGE:-} in
"")
	# Stage 0, on the host: our own child cgroups, then the private namespaces.
	tag=disposable-$$
	cgdirs=()
	while IFS=: read -r _ ctrls path; do
		case $ctrls in
		"") mnt=/sys/fs/cgroup/unified ;;
		name=*) mnt=/sys/fs/cgroup/${ctrls#name=} ;;
		*) mnt=/sys/fs/cgroup/${ctrls%%,*} ;;
		esac
		[ -d "$mnt$path" ] || continue
		mkdir "$mnt${path%/}/$tag" && cgdirs+=("$mnt${path%/}/$tag")
	done </proc/self/cgroup
	cleanup_cgroups() {
		local d
		for d in "${cgdirs[@]}"; do # out of them ourselves first
			echo $$ >"$(dirname "$d")/cgroup.procs"
		done
		for d in "${cgdirs[@]}"; do
			[ -f "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
		done
		for d in "${cgdirs[@]}"; do
			for _ in $(seq 50); do
				find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
				[ -d "$d" ] || break
				sleep 0.1
			done
			[ -d "$d" ] && echo "disposable-root: could not remove $d" >&2
		done
		return 0
	}
	trap cleanup_cgroups EXIT
	for d in "${cgdirs[@]}"; do
		if [ -f "$d/cpuset.cpus" ]; then # an empty cpuset refuses tasks
			cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"
			cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"
		fi
		echo $$ >"$d/cgroup.procs"
	done
	status=0
	_DISPOSABLE_CWD=$PWD _DISPOSABLE_STAGE=outer unshare -m -C --propagation private "$self" -s "$stack" -o "$report" -- "$@" || status=$?
	exit $status
	;;
outer)
	# Stage 1: private mount and cgroup namespaces. Build the disposable root.
	T=$(mktemp -d /tmp/disposable-root.XXXXXX)
	mount -t tmpfs -o mode=700 disposable "$T"
	mkdir "$T/upper" "$T/work" "$T/root"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
	R=$T/root
	mount -t proc proc "$R/proc"
	mount -t sysfs sysfs "$R/sys"
	mount -t tmpfs -o mode=755 cgroup "$R/sys/fs/cgroup"
	while read -r _ point _ fstype opts _; do
		case $fstype in
		cgroup2) mkdir -p "$R$point" && mount -t cgroup2 cgroup2 "$R$point" ;;
		cgroup)
			name=$(tr , '\n' <<<"$opts" | grep -E '^name=|^(cpu|cpuacct|cpuset|memory|devices|freezer|blkio|pids|net_cls|net_prio|hugetlb|perf_event|rdma|misc)$' | paste -sd, -)
			mkdir -p "$R$point" && mount -t cgroup -o "$name" cgroup "$R$point"
			;;
		esac
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2" {print $1, $2, $3, $3, $4, $5}' /proc/mounts)
	mount -t tmpfs -o mode=755,nosuid dev "$R/dev"
	while read -r node major minor; do
		mknod -m 666 "$R/dev/$node" c "$major" "$minor"
	done <<<$'null 1 3\nzero 1 5\nfull 1 7\nrandom 1 8\nurandom 1 9\ntty 5 0'
	mkdir "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
	ln -s pts/ptmx "$R/dev/ptmx"
	mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
	mount -t mqueue mqueue "$R/dev/mqueue"
	ln -s /proc/self/fd "$R/dev/fd"
	ln -s /proc/self/fd/0 "$R/dev/stdin"
	ln -s /proc/self/fd/1 "$R/dev/stdout"
	ln -s /proc/self/fd/2 "$R/dev/stderr"
	# The watcher stays in this namespace, where the upper layer is still reachable.
	start=$(date +%s.%N)
	(
		cd "$T/upper"
		seen=""
		while :; do
			stopping=0
			[ -e "$T/stop" ] && stopping=1 # one more look after CMD ended
			find . -type c -printf '%P\n' 2>/dev/null | sort >"$T/now"
			comm -13 <(printf '%s' "$seen") "$T/now" | while read -r p; do
				printf '%6.1fs deleted /%s\n' "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{print e-s}')" "$p"
			done >>"$T/log"
			seen=$(cat "$T/now")
			[ -z "$seen" ] || seen="$seen"$'\n'
			[ $stopping = 0 ] || break
			sleep 0.2
		done
	) &
	watcher=$!
	status=0
	_DISPOSABLE_STAGE=inner _DISPOSABLE_ROOT=$R unshare -m --propagation private "$self" -s "$stack" -- "$@" || status=$?
	touch "$T/stop"
	wait $watcher || true
	{
		echo "disposable-root: exit status $status; deleted paths (whiteouts in the upper layer):"
		if [ -s "$T/log" ]; then cat "$T/log"; else echo "  none"; fi
	} | tee ${report:+"$report"} >&2
	exit $status
	;;
inner)
	# Stage 2: a mount namespace of our own, pivoted into the disposable root.
	cd "$_DISPOSABLE_ROOT"
	mkdir -p .disposable-oldroot
	pivot_root . .disposable-oldroot
	cd /
	umount -l /.disposable-oldroot
	rmdir /.disposable-oldroot
	for _ in $(seq "$stack"); do mount --rbind / /; done
	cd "$_DISPOSABLE_CWD" 2>/dev/null || cd /
	unset _DISPOSABLE_STAGE _DISPOSABLE_ROOT _DISPOSABLE_CWD
	exec "$@"
	;;
esac
