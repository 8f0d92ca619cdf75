#!/bin/bash
# scripts/build-criu.sh: print the path of a criu >= 4.1 that passes `criu check`,
# building it first when the cache has none (checkpoint/restore need it; README,
# "Checkpoint and restore").
#
# Why build: Debian bookworm ships criu 3.17. Current kernels map [vvar_vclock] in the
# vDSO, which criu < 4.1 cannot dump, and since Linux 6.16 getsockopt(SO_PASSCRED) fails
# on inet sockets, which makes criu < 4.2 fail to dump any TCP socket (criu issue 2718).
# So criu >= 4.2 is wanted. The build uses Debian's archive only: the criu source
# package of sid (4.2.1 today), fetched with apt-get
# source through a private deb-src list (the machine's apt setup is not touched), and
# bookworm's build dependencies. Only the
# criu binary is built (no docs, crit or plugins), with nftables network locking as
# default so that no iptables binary is needed at dump time. (Adapted from
# ../shared/tools/build-criu.sh.)
#
# Cached: nothing is rebuilt when $OUT already works; concurrent callers wait on a
# lock for one build. About 40 s on 2 cores the first time, ~0.1 s afterwards.
# Env: SHIM_CRIU_WORK (cache dir, default /var/cache/shim-criu), CRIU_SUITE (the Debian
#      suites to try in order, default sid; trixie has 4.1.1, which needs CRIU_MIN=4.1),
#      CRIU_VERSION (Debian version to pin, e.g. 4.2.1-1; default the newest), CRIU_MIN
#      (the oldest version accepted, default 4.2).
# Needs root. Exit 1 (reason on stderr) when criu cannot be had on this machine.
set -uo pipefail
mkdir -p "${SHIM_CRIU_WORK:-/var/cache/shim-criu}" &&
	WORK=$(readlink -f "${SHIM_CRIU_WORK:-/var/cache/shim-criu}") || exit 1
SUITES=${CRIU_SUITE:-sid}
MIN=${CRIU_MIN:-4.2}
OUT=$WORK/bin/criu
PKGS=(gcc make libc6-dev pkgconf xz-utils libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
	libnl-3-dev libcap-dev uuid-dev libnet1-dev libbsd-dev libnftables-dev libgnutls28-dev)
export DEBIAN_FRONTEND=noninteractive
log() { echo "[build-criu] $*" >&2; }
die() { log "$*"; exit 1; }

# Waits for another apt/dpkg; one `apt-get update` when a package is not found.
apt_install() {
	local missing=() p i updated=0 out
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	for i in $(seq 1 30); do
		out=$(apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends "${missing[@]}" 2>&1) && return 0
		if ! grep -qi lock <<<"$out" && [ $updated -eq 0 ]; then
			apt-get -o DPkg::Lock::Timeout=60 update -q >/dev/null 2>&1 && updated=1
		elif ! grep -qi lock <<<"$out"; then
			break
		fi
		sleep 10
	done
	echo "$out" | tail -5 >&2
	return 1
}

# A criu at $OUT that is >= $MIN and passes `criu check`.
criu_ok() {
	local v
	[ -x "$OUT" ] || return 1
	v=$("$OUT" --version 2>/dev/null | awk '/^Version:/{print $2}')
	[ -n "$v" ] && dpkg --compare-versions "$v" ge "$MIN" || return 1
	# --no-default-config: a stray /etc/criu/default.conf must not change the answer.
	"$OUT" check --no-default-config >/dev/null 2>&1
}

[ "$(id -u)" -eq 0 ] || die "needs root (apt-get, criu check)"
cd "$WORK" || exit 1
exec 9>"$WORK/.lock"
flock 9

if criu_ok; then
	log "$OUT is working: $("$OUT" --version | head -1)"
	echo "$OUT"
	exit 0
fi
apt_install "${PKGS[@]}" || die "apt-get install of the build dependencies failed"
# 1. Source from Debian: private deb-src list, lists and cache under $WORK/apt.
# fetch SUITE: the upstream tarball of criu in SUITE, checked, in $WORK/src; sets $orig.
fetch() {
	local suite=$1 A=$WORK/apt/$1 uri want sum
	mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$WORK/src"
	uri=$(. /etc/os-release && apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
		awk -v c="$VERSION_CODENAME" '$2==c{print $1; exit}')
	[ -n "$uri" ] || { log "no Debian archive URI found in the apt setup"; return 1; }
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >"$A/src.list"
	APT=(apt-get -q -o Dir::Etc::sourcelist="$A/src.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$A/lists"
		-o Dir::Cache="$A/cache" -o APT::Sandbox::User=root)
	"${APT[@]}" update >"$A/update.log" 2>&1 || { cat "$A/update.log" >&2; log "apt-get update ($suite deb-src) failed"; return 1; }
	want=criu${CRIU_VERSION:+=$CRIU_VERSION}
	"${APT[@]}" source --print-uris "$want" >"$A/uris" 2>"$A/uris.err" || { log "no source package $want in $suite"; return 1; }
	orig=$(awk -F"'" '/orig\.tar/{print $2}' "$A/uris" | xargs -r -n1 basename)
	sum=$(awk '/orig\.tar/{for(i=1;i<=NF;i++) if($i ~ /^SHA256:/) print substr($i,8)}' "$A/uris")
	[ -n "$orig" ] || { log "no orig tarball listed for $want in $suite"; return 1; }
	if ! { [ -f "$WORK/src/$orig" ] && echo "$sum  $WORK/src/$orig" | sha256sum -c --quiet 2>/dev/null; }; then
		log "apt-get source --download-only $want ($suite)"
		# The .dsc and .debian.tar.xz may be 404 on the mirror: only the upstream
		# tarball is needed; its sha256 from the Sources index is checked.
		(cd "$WORK/src" && "${APT[@]}" source --download-only "$want" >"$A/source.log" 2>&1)
		[ -f "$WORK/src/$orig" ] || { cat "$A/source.log" >&2; log "could not download $orig"; return 1; }
		echo "$sum  $WORK/src/$orig" | sha256sum -c --quiet || { log "sha256 mismatch for $orig"; return 1; }
	fi
}
orig=
for suite in $SUITES; do
	fetch "$suite" && break
	orig=
done
[ -n "$orig" ] || die "no criu source in any of: $SUITES"
upstream=$(sed -e 's/^criu_//' -e 's/\.orig\.tar\..*//' <<<"$orig")
SRC=$WORK/src/criu-$upstream
# 2. Build only the criu binary.
rm -rf "$SRC" && mkdir -p "$SRC" && tar -xf "$WORK/src/$orig" -C "$SRC" --strip-components=1 || die "unpack failed"
log "make criu $upstream (log: $WORK/make.log)"
start=$(date +%s)
make -C "$SRC" -j"$(nproc)" NETWORK_LOCK_DEFAULT=NETWORK_LOCK_NFTABLES criu >"$WORK/make.log" 2>&1 ||
	{ tail -20 "$WORK/make.log" >&2; die "make failed"; }
log "built in $(($(date +%s) - start)) s"
mkdir -p "$WORK/bin" && install -m 0755 "$SRC/criu/criu" "$OUT.new" && mv -f "$OUT.new" "$OUT"
criu_ok || { "$OUT" check --no-default-config >&2; die "$OUT check failed"; }
log "$OUT: $("$OUT" --version | head -1), criu check: Looks good."
echo "$OUT"
