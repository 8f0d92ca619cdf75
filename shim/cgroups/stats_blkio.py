"""Block I/O statistics in runc's `blkio` shape: v1's recursive files (bfq, then cfq,
then throttling, the first complete set wins, as runc 1.1 reads them) and v2's
`io.stat` as Read/Write entries."""

from __future__ import annotations

from shim.cgroups import fs

_BLKIO_GROUPS: tuple[tuple[tuple[str, str], ...], ...] = (
    (  # bfq scheduler
        ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive"),
        ("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
    ),
    (  # cfq scheduler
        ("blkio.io_service_bytes_recursive", "ioServiceBytesRecursive"),
        ("blkio.io_serviced_recursive", "ioServicedRecursive"),
        ("blkio.io_queued_recursive", "ioQueueRecursive"),
        ("blkio.io_service_time_recursive", "ioServiceTimeRecursive"),
        ("blkio.io_wait_time_recursive", "ioWaitTimeRecursive"),
        ("blkio.io_merged_recursive", "ioMergedRecursive"),
        ("blkio.time_recursive", "ioTimeRecursive"),
        ("blkio.sectors_recursive", "sectorsRecursive"),
    ),
    (  # throttling only
        ("blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive"),
        ("blkio.throttle.io_serviced_recursive", "ioServicedRecursive"),
    ),
)
_BLKIO_ORDER = (
    "ioServiceBytesRecursive",
    "ioServicedRecursive",
    "ioQueueRecursive",
    "ioServiceTimeRecursive",
    "ioWaitTimeRecursive",
    "ioMergedRecursive",
    "ioTimeRecursive",
    "sectorsRecursive",
)


def _omit_zero(pairs: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in pairs.items() if v}


def _blkio_entries(text: str) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue  # the "Total N" line
        major, _, minor = fields[0].partition(":")
        op = fields[1] if len(fields) == 3 else ""
        entries.append(
            _omit_zero(
                {
                    "major": fs.parse_int(major),
                    "minor": fs.parse_int(minor),
                    "op": op,
                    "value": fs.parse_int(fields[-1]),
                }
            )
        )
    return entries


def blkio_v1(directory: str | None) -> dict[str, object]:
    if directory is None:
        return {}
    for group in _BLKIO_GROUPS:
        texts = [(key, fs.read(f"{directory}/{name}")) for name, key in group]
        if all(text is not None for _, text in texts):
            found = {key: _blkio_entries(text or "") for key, text in texts}
            return {key: found[key] for key in _BLKIO_ORDER if found.get(key)}
    return {}


def io_v2(directory: str) -> dict[str, object]:
    service_bytes: list[dict[str, object]] = []
    serviced: list[dict[str, object]] = []
    for line in (fs.read(f"{directory}/io.stat") or "").splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        values = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        for target, keys in (
            (service_bytes, (("rbytes", "Read"), ("wbytes", "Write"))),
            (serviced, (("rios", "Read"), ("wios", "Write"))),
        ):
            for key, op in keys:
                target.append(
                    _omit_zero(
                        {
                            "major": fs.parse_int(major),
                            "minor": fs.parse_int(minor),
                            "op": op,
                            "value": fs.parse_int(values.get(key, "0")),
                        }
                    )
                )
    return _omit_zero({"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced})
