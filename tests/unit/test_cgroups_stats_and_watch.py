"""Stats in runc's shape from fake cgroup trees; the v2 OOM watch on a fake memory.events;
`/proc/net/dev` and `ps` output parsing."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from shim.cgroups.oom import V2OomWatch
from shim.cgroups.stats import stats_v1, stats_v2
from shim.cli.ps import filter_ps_output
from shim.errors import ShimError
from shim.json_codec import dumps
from shim.runtime.container_stats import Event, parse_net_dev


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    assert isinstance(request.param, str)
    return request.param


def _files(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_v1_stats_have_runcs_keys_and_omissions(tmp_path: Path) -> None:
    mem, cpu, pids = tmp_path / "memory", tmp_path / "cpu", tmp_path / "pids"
    _files(
        mem,
        {
            "memory.limit_in_bytes": "9223372036854771712\n",
            "memory.usage_in_bytes": "4096\n",
            "memory.max_usage_in_bytes": "8192\n",
            "memory.failcnt": "0\n",
            "memory.stat": "cache 0\nrss 4096\n",
        },
    )
    _files(cpu, {"cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"})
    _files(pids, {"pids.current": "3\n", "pids.max": "max\n"})
    data = stats_v1({"memory": str(mem), "cpu": str(cpu), "pids": str(pids)})
    assert list(data) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb"]
    assert dumps(data["cpu"]) == '{"usage":{"kernel":0,"user":0},"throttling":{}}'
    memory = data["memory"]
    assert isinstance(memory, dict)
    assert memory["usage"] == {
        "limit": 9223372036854771712,
        "usage": 4096,
        "max": 8192,
        "failcnt": 0,
    }
    assert memory["swap"] == {"limit": 0, "failcnt": 0}  # no memsw files: zeros, as runc
    assert "cache" not in memory
    assert memory["raw"] == {"cache": 0, "rss": 4096}
    assert data["pids"] == {"current": 3}  # max reads as limit 0, which is omitted
    assert data["blkio"] == {}


def test_v1_blkio_entries_parse_and_skip_the_total(tmp_path: Path) -> None:
    blkio = tmp_path / "blkio"
    _files(
        blkio,
        {
            "blkio.throttle.io_service_bytes_recursive": "8:0 Read 100\n8:0 Write 0\nTotal 100\n",
            "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n",
        },
    )
    data = stats_v1({"blkio": str(blkio)})
    assert data["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 100},
            {"major": 8, "op": "Write"},
        ],
        "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1}],
    }


def test_v2_stats_convert_units_and_limits(tmp_path: Path) -> None:
    _files(
        tmp_path,
        {
            "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 4\n"
            "nr_throttled 1\nthrottled_usec 7\n",
            "memory.current": "1000\n",
            "memory.max": "max\n",
            "memory.swap.current": "10\n",
            "memory.swap.max": "max\n",
            "memory.stat": "file 12\nanon 34\n",
            "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
            "pids.current": "1\n",
            "pids.max": "10\n",
            "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        },
    )
    data = stats_v2(str(tmp_path))
    assert data["cpu"] == {
        "usage": {"total": 5000, "kernel": 2000, "user": 3000},
        "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 7000},
    }
    memory = data["memory"]
    assert isinstance(memory, dict)
    assert memory["cache"] == 12
    assert memory["usage"] == {"limit": (1 << 64) - 1, "usage": 1000, "failcnt": 2}
    assert memory["swap"] == {"limit": (1 << 64) - 1, "usage": 1010, "failcnt": 0}
    assert data["pids"] == {"current": 1, "limit": 10}
    blkio = data["blkio"]
    assert isinstance(blkio, dict)
    assert blkio["ioServiceBytesRecursive"] == [
        {"major": 8, "op": "Read", "value": 10},
        {"major": 8, "op": "Write", "value": 20},
    ]


def test_an_event_line_is_runcs_json() -> None:
    assert Event("oom", "c1").to_json() == '{"type":"oom","id":"c1"}'
    assert Event("stats", "c1", {"a": 1}).to_json() == '{"type":"stats","id":"c1","data":{"a":1}}'


NET_DEV = "\n".join(
    [
        "Inter-|   Receive                                                |  Transmit",
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets"
        " errs drop fifo colls carrier compressed",
        "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0",
        "  eth0: 2000 20 1 2 0 0 0 0 3000 30 3 4 0 0 0 0",
    ]
)
RX = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
TX = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def test_net_dev_counters_leave_out_loopback() -> None:
    assert parse_net_dev(NET_DEV) == [
        {
            "name": "eth0",
            **dict(zip(RX, (2000, 20, 1, 2), strict=True)),
            **dict(zip(TX, (3000, 30, 3, 4), strict=True)),
        }
    ]
    assert parse_net_dev("\n".join(NET_DEV.splitlines()[:3])) is None


PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         100       1  0 10:00 ?        00:00:00 sh -c sleep 1
root         101     100  0 10:00 ?        00:00:00 sleep 1
"""


def test_ps_output_keeps_the_header_and_the_containers_lines() -> None:
    lines = PS.splitlines()
    assert filter_ps_output(PS, [100, 101]) == "\n".join([lines[0], lines[2], lines[3]]) + "\n"
    assert filter_ps_output(PS, []) == lines[0] + "\n"


def test_ps_output_without_a_pid_column_is_refused() -> None:
    with pytest.raises(ShimError, match="couldn't find PID field in ps output"):
        filter_ps_output("USER COMMAND\nroot init\n", [1])


@pytest.mark.anyio
async def test_v2_oom_watch_reports_each_oom_kill_increase(tmp_path: Path) -> None:
    events = tmp_path / "memory.events"
    events.write_text("oom 0\noom_kill 1\n")  # an OOM before the watch began: not reported
    watch = V2OomWatch(str(tmp_path))
    try:
        with anyio.fail_after(5):
            events.write_text("oom 1\noom_kill 2\n")
            await anyio.wait_readable(watch.fileno())
            assert watch.read() == 1
            events.write_text("oom 2\noom_kill 2\nmax 1\n")  # no new kill
            await anyio.wait_readable(watch.fileno())
            assert watch.read() == 0
            events.unlink()  # the cgroup is gone
            await anyio.wait_readable(watch.fileno())
            assert watch.read() is None
    finally:
        watch.close()
