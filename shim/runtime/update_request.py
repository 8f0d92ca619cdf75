"""What `update` was asked for as a LinuxResources JSON, and what the state then stores.

runc starts from zeros for every field it updates, then decodes `-r` over the zeros
(or fills in its flags: `shim.cli.update`), so a field not given is 0, which the
cgroup drivers read as "leave alone" and the stored config keeps as 0 (runc's quirk).
"""

from __future__ import annotations

from shim.errors import InvalidConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.resources import Resources


def from_json(raw: bytes) -> Resources:
    """`-r`: a LinuxResources object decoded over runc's zeros; unknown keys ignored."""
    from shim.record_decoder import DecodeError, decode_json
    from shim.spec.resources import CPU, BlockIO, Memory, Pids, Resources

    try:
        given = decode_json(raw, Resources)
    except DecodeError as err:
        raise InvalidConfig(f"resources: {err}") from None
    except UnicodeDecodeError as err:
        raise InvalidConfig(f"resources: not valid UTF-8 at byte {err.start}") from None
    except RecursionError:
        raise InvalidConfig("resources: nested too deeply (exceeded max depth)") from None
    mem, cpu, bio = given.memory or Memory(), given.cpu or CPU(), given.block_io or BlockIO()
    return Resources(
        memory=Memory(
            limit=mem.limit or 0,
            reservation=mem.reservation or 0,
            swap=mem.swap or 0,
            check_before_update=mem.check_before_update,
        ),
        cpu=CPU(
            shares=cpu.shares or 0,
            quota=cpu.quota or 0,
            period=cpu.period or 0,
            realtime_runtime=cpu.realtime_runtime or 0,
            realtime_period=cpu.realtime_period or 0,
            cpus=cpu.cpus,
            mems=cpu.mems,
            burst=cpu.burst,
            idle=cpu.idle,
        ),
        block_io=BlockIO(weight=bio.weight or 0),
        pids=Pids(limit=given.pids.limit if given.pids else 0),
        unified=given.unified,
    )


def stored_resources(old: object, res: Resources) -> dict[str, object]:
    """`linux.resources` as runc stores it after an update: the updated fields (0 when
    not given) over what was there; devices, hugepages and the rest are kept."""
    from shim.spec.resources import CPU, BlockIO, Memory

    out: dict[str, object] = dict(old) if isinstance(old, dict) else {}
    mem, cpu = res.memory or Memory(), res.cpu or CPU()
    out["memory"] = _merge(
        out.get("memory"), limit=mem.limit, reservation=mem.reservation, swap=mem.swap
    )
    out["cpu"] = _merge(
        out.get("cpu"),
        shares=cpu.shares,
        quota=cpu.quota,
        period=cpu.period,
        realtimeRuntime=cpu.realtime_runtime,
        realtimePeriod=cpu.realtime_period,
        cpus=cpu.cpus,
        mems=cpu.mems,
    )
    if cpu.burst is not None:
        out["cpu"] = _merge(out["cpu"], burst=cpu.burst)
    if cpu.idle is not None:
        out["cpu"] = _merge(out["cpu"], idle=cpu.idle)
    out["blockIO"] = _merge(out.get("blockIO"), weight=(res.block_io or BlockIO()).weight)
    out["pids"] = {"limit": res.pids.limit if res.pids else 0}
    out["unified"] = dict(res.unified)
    return out


def _merge(section: object, **values: int | str | None) -> dict[str, object]:
    out: dict[str, object] = dict(section) if isinstance(section, dict) else {}
    for key, value in values.items():
        out[key] = value if isinstance(value, str) else value or 0
    return out
