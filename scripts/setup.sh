#!/bin/bash
# Install everything shim needs on a fresh Debian machine (idempotent), into ./.venv.
# Debian packages: gcc and libc headers (the init helper), busybox-static (the test
# and demo rootfs), runc (the peer the tests compare against), crun and time (the
# bench's second peer, and GNU time for its peak-RSS figure), containerd (1.6: the
# daemon, ctr and containerd-shim-runc-v2 that tests/containerd and the shim bench drive),
# python3-venv, podman (the checkpoint/restore and tmpcopyup tests drive shim through it) and criu
# (bookworm's 3.17: too old for current kernels; the tests check that shim says so). A
# criu that works here comes from scripts/build-criu.sh (cached; about 50 s the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=()
for pkg in gcc libc6-dev busybox-static runc crun time containerd podman criu; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -q
	apt-get install -y -q "${need[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
	"$PY" -m venv .venv
fi
# compat mode: the package dir on sys.path, helper and cffi module built in place.
# pip's chatter goes to a log, shown only when it fails.
log=.venv/pip.log
if ! { .venv/bin/pip install -q --upgrade pip &&
	.venv/bin/pip install -q -e '.[test]' --config-settings editable_mode=compat; } >"$log" 2>&1; then
	cat "$log" >&2
	exit 1
fi
# The shim scripts start the interpreter with -IS and set up their own sys.path (no
# `site`: ~3.5 ms of every command, and of containerd's every `start` and `delete`); each
# is left as pip wrote it if a lean start cannot work.
.venv/bin/python -m shim.launcher .venv/bin/shim || true
# containerd execs the shim for every container: a native front (csrc/front/shim_front.c)
# does the common `start` and an empty `delete` in about a millisecond and execs the
# Python shim, moved to .venv/libexec, for everything else. Without a compiler the
# Python shim stays in bin/.
shim_py=$PWD/.venv/libexec/containerd-shim-pyshim-v1
mkdir -p .venv/libexec
if head -c 2 .venv/bin/containerd-shim-pyshim-v1 | grep -q '#!'; then # pip (re)wrote it
	mv -f .venv/bin/containerd-shim-pyshim-v1 "$shim_py"
fi
.venv/bin/python -m shim.launcher "$shim_py" || true
shim_pkg=$(.venv/bin/python -c 'import os, shim; print(os.path.dirname(shim.__file__))')
if ${CC:-gcc} -std=c11 -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-DSHIM_SCRIPT="\"$shim_py\"" -DSHIM_PACKAGE="\"$shim_pkg\"" \
	-o .venv/bin/.containerd-shim-pyshim-v1.new csrc/front/shim_front.c; then
	mv -f .venv/bin/.containerd-shim-pyshim-v1.new .venv/bin/containerd-shim-pyshim-v1
else
	echo "setup: no native front; containerd-shim-pyshim-v1 is the Python shim" >&2
	cp -f "$shim_py" .venv/bin/containerd-shim-pyshim-v1
fi
# Bytecode now: one-shot commands must not compile their imports on every start.
.venv/bin/python -m compileall -q shim >/dev/null
# criu for checkpoint/restore: built once into /var/cache/shim-criu (README). Not being
# able to build it only costs those commands: the tests then say they were skipped.
if [ "$(id -u)" -eq 0 ] && [ "${SHIM_SETUP_CRIU:-1}" != 0 ]; then
	scripts/build-criu.sh >/dev/null 2>.venv/build-criu.log ||
		echo "setup: no criu (checkpoint/restore tests will be skipped): $(tail -1 .venv/build-criu.log)" >&2
fi
