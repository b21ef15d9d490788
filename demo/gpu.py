"""The demo's GPU telemetry: what its AWS GPU instances did in the first week of November.

``nvidia-smi --query-gpu=timestamp,index,uuid,name,utilization.gpu,memory.used,memory.total,
power.draw --format=csv -l 300`` on three hosts, one file each, for the hours the AWS demo bill
says each instance ran on 2026-11-02 … 2026-11-08:

* ``ip-10-0-1-17``: the p5.48xlarge training node (8 × H100), project atlas: busy 0.9 from
  00:00 to 18:00 UTC and 0.1 after. Its agent was down from 10:00 to 11:00 on 2026-11-03: that
  hour has no samples (unknown, not idle).
* ``ip-10-0-2-33``: the first g5.12xlarge (4 × A10G) serving atlas: busy 0.6 from 08:00 to 20:00,
  0.05 otherwise.
* ``ip-10-0-2-58``: the second g5.12xlarge, untagged: busy 0.3 whenever it runs, with a small
  model in memory (a right-sizing candidate).

Each sample is stamped at the end of the five minutes its utilization describes (nvidia-smi
reports utilization over the past sample period), and an instance's first sample after a stop
describes its first five minutes. The agents start with a sample at midnight on 2026-11-02.
``mapping.csv`` maps every GPU's UUID to its instance id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from demo.aws import demo_rows

PERIOD = "2026-11"
FIRST_DAY, LAST_DAY = date(2026, 11, 2), date(2026, 11, 8)
INTERVAL = timedelta(minutes=5)
OUTAGE = (datetime(2026, 11, 3, 10, tzinfo=UTC), datetime(2026, 11, 3, 11, tzinfo=UTC))
_NAMESPACE = uuid.UUID("6a1f0c52-93d4-4c1e-b7f0-2d5e8a9c3b41")


@dataclass(frozen=True)
class DemoHost:
    """One GPU instance of the demo bill and how busy its GPUs are by hour of day (UTC)."""

    host: str
    resource_id: str
    gpus: int
    gpu_name: str
    memory_total_mib: int
    busy: Callable[[int], float]
    memory_used_mib: Callable[[int], int]


HOSTS = (
    DemoHost(
        "ip-10-0-1-17",
        "i-0a7f3c9e21b845d60",
        8,
        "NVIDIA H100 80GB HBM3",
        81559,
        lambda hour: 0.9 if hour < 18 else 0.1,
        lambda hour: 70000 if hour < 18 else 2000,
    ),
    DemoHost(
        "ip-10-0-2-33",
        "i-03be8d2f6a1c79e45",
        4,
        "NVIDIA A10G",
        23028,
        lambda hour: 0.6 if 8 <= hour < 20 else 0.05,
        lambda hour: 15000,
    ),
    DemoHost(
        "ip-10-0-2-58",
        "i-0c6e1a9d3f52b8071",
        4,
        "NVIDIA A10G",
        23028,
        lambda hour: 0.3,
        lambda hour: 6000,
    ),
)


def gpu_uuid(host: DemoHost, index: int) -> str:
    """A stable UUID of one GPU, as nvidia-smi prints it."""
    return f"GPU-{uuid.uuid5(_NAMESPACE, f'{host.host}:{index}')}"


def billed_hours(seed: int = 7) -> dict[tuple[str, date], float]:
    """Hours each demo GPU instance ran per day of the week, from the AWS demo bill itself."""
    ids = {h.resource_id for h in HOSTS}
    hours: dict[tuple[str, date], float] = {}
    for row in demo_rows(PERIOD, seed):
        day = row["line_item_usage_start_date"]
        day = day.date() if isinstance(day, datetime) else day
        if (
            row["line_item_resource_id"] in ids
            and "BoxUsage" in (row["line_item_usage_type"] or "")
            and row["line_item_line_item_type"] in ("Usage", "SavingsPlanCoveredUsage")
            and FIRST_DAY <= day <= LAST_DAY
        ):
            hours[(row["line_item_resource_id"], day)] = float(row["line_item_usage_amount"])
    return hours


def sample_times(host: DemoHost, hours: dict[tuple[str, date], float]) -> list[datetime]:
    """The end of every five minutes the host ran, less the agent's outage on the p5; the
    agents start at midnight on the first day, with one sample then."""
    times = [datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)]
    day = FIRST_DAY
    while day <= LAST_DAY:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        ran = timedelta(hours=hours.get((host.resource_id, day), 0.0))
        slot = start
        while slot < start + ran:
            end = slot + INTERVAL
            outage = host.gpus == 8 and OUTAGE[0] < end <= OUTAGE[1]
            if not outage:
                times.append(end)
            slot = end
        day += timedelta(days=1)
    return times


def write_demo_gpu_telemetry(root: Path, seed: int = 7) -> list[Path]:
    """One nvidia-smi CSV per host and ``mapping.csv`` under ``root``; returns the CSVs."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    hours = billed_hours(seed)
    written = []
    mapping = ["gpu_uuid,resource_id,host"]
    for host in HOSTS:
        path = root / f"{host.host}.csv"
        lines = [
            "timestamp, index, uuid, name, utilization.gpu [%], memory.used [MiB], "
            "memory.total [MiB], power.draw [W]"
        ]
        for moment in sample_times(host, hours):
            hour = (moment - INTERVAL).hour  # the hour the five minutes belong to
            busy, used = host.busy(hour), host.memory_used_mib(hour)
            stamp = moment.strftime("%Y/%m/%d %H:%M:%S.000")
            for index in range(host.gpus):
                lines.append(
                    f"{stamp}, {index}, {gpu_uuid(host, index)}, {host.gpu_name}, "
                    f"{busy * 100:.0f} %, {used} MiB, {host.memory_total_mib} MiB, "
                    f"{70 + busy * 500:.2f} W"
                )
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
        mapping += [f"{gpu_uuid(host, i)},{host.resource_id},{host.host}" for i in range(host.gpus)]
    (root / "mapping.csv").write_text("\n".join(mapping) + "\n")
    return written
