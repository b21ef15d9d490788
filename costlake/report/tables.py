"""Which lake tables feed the month-end report, read by name for the period and the ones before.

Other areas add marts over time (budgets, forecasts, commitments, ...), so the report never
assumes a table exists: each is read by its name in ``REPORT_TABLES`` and a table with no file
for the periods asked is simply absent from the result, which its section shows as such.

Partition columns (``provider``, ``billing_period``) are added from the folder names: some marts
also store ``billing_period`` inside their files, and a Hive read would then see it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from costlake.focus.lake import Lake, partition_dir

# Tables partitioned per provider and period, then those partitioned by period alone.
PROVIDER_TABLES = ("focus", "marts/tag_coverage")
PERIOD_TABLES = (
    "marts/ai_unit_costs",
    "marts/model_routing_savings",
    "marts/gpu_utilization",
    "marts/anomaly_events",
    "marts/anomaly_contributions",
    "marts/budgets",
    "marts/forecasts",
    "marts/arbitrage",
    "marts/maturity_scorecard",
)
REPORT_TABLES = PROVIDER_TABLES + PERIOD_TABLES
# The focus columns the report reads (the table has ~90).
FOCUS_COLUMNS = (
    "ChargePeriodStart",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "ServiceName",
    "x_Untaggable",
    "x_tag_project",
    "x_tag_team",
)
PREVIOUS_PERIODS = 2  # periods shown before the report's own


@dataclass(frozen=True)
class ReportInputs:
    """The frames of the periods shown (oldest first) and the ingest records."""

    period: str
    periods: tuple[str, ...]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    ingests: tuple[dict, ...] = ()

    def table(self, name: str) -> pl.DataFrame | None:
        """A table's rows for the periods shown, or None when the lake has none."""
        return self.tables.get(name)


def periods_up_to(period: str, previous: int = PREVIOUS_PERIODS) -> tuple[str, ...]:
    """``period`` and the ``previous`` billing periods before it, oldest first."""
    first = date.fromisoformat(f"{period}-01")
    found = []
    for back in range(previous, -1, -1):
        months = first.year * 12 + first.month - 1 - back
        found.append(f"{months // 12:04d}-{months % 12 + 1:02d}")
    return tuple(found)


def _read(lake: Lake, table: str, provider: str | None, period: str) -> pl.DataFrame | None:
    files = lake.files(partition_dir(table, provider, period))
    if not files:
        return None
    columns = list(FOCUS_COLUMNS) if table == "focus" else None
    if lake.remote:
        frames = [
            pl.read_parquet(lake.fs.open_input_file(f), columns=columns, hive_partitioning=False)
            for f in files
        ]
    else:
        frames = [pl.read_parquet(f, columns=columns, hive_partitioning=False) for f in files]
    frame = pl.concat(frames, how="diagonal_relaxed")
    extra = {"billing_period": pl.lit(period)}
    if provider is not None:
        extra["provider"] = pl.lit(provider)
    return frame.with_columns(**extra)


def read_report_inputs(lake: Lake, period: str) -> ReportInputs:
    """Every report table of ``period`` and the periods before it that the lake holds."""
    periods = periods_up_to(period)
    providers = sorted({p for p, _ in lake.partitions("focus")})
    tables: dict[str, pl.DataFrame] = {}
    for table in REPORT_TABLES:
        owners = providers if table in PROVIDER_TABLES else [None]
        frames = [
            frame
            for shown in periods
            for owner in owners
            if (frame := _read(lake, table, owner, shown)) is not None and frame.height
        ]
        if frames:
            tables[table] = pl.concat(frames, how="diagonal_relaxed")
    ingests = []
    for provider in providers:
        for shown in periods:
            text = lake.read_text(f"{partition_dir('ingests', provider, shown)}/ingest.json")
            if text is not None:
                ingests.append(json.loads(text))
    return ReportInputs(period, periods, tables, tuple(ingests))


REPORT_TABLE = "reports"
REPORT_FILE = "report.html"


def write_report(lake: Lake, period: str, html: str) -> str:
    """Put the period's report page in the lake (staged, then swapped in like a mart) and
    return its lake-relative path, ``reports/billing_period=YYYY-MM/report.html``."""
    with lake.staged_period(None, period, (REPORT_TABLE,)) as staged:
        staged.write_text(REPORT_TABLE, REPORT_FILE, html)
    return f"{partition_dir(REPORT_TABLE, None, period)}/{REPORT_FILE}"
