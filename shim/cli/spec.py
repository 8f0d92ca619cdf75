"""`spec` (runc's default config.json, or a busybox bundle) and `features`."""

from __future__ import annotations

import os
import sys

from shim.errors import ShimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation


def cmd_spec(inv: Invocation) -> int:
    from shim.spec.default import default_config

    bundle = inv.flag_str("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ShimError("File config.json exists. Remove it first")
    if inv.flag_bool("busybox"):
        from shim.spec.busybox import busybox_bundle

        busybox_bundle(bundle, rootless=inv.flag_bool("rootless"))
        return 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as err:
        raise ShimError(f"open {path}: {(err.strerror or str(err)).lower()}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(default_config(inv.flag_bool("rootless")))
    return 0


def cmd_features(inv: Invocation) -> int:
    from shim.spec.features import features_json

    sys.stdout.buffer.write(features_json())
    return 0
