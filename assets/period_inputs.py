"""What the period marts (AI, GPU, anomalies, budgets, the scorecard, the report) read: every
provider's FOCUS rows of a billing period, and input files (request logs, GPU telemetry) found
under folders."""

from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from dagster import AssetDep, AssetSpec, MultiToSingleDimensionPartitionMapping

from assets.lake_tables import table_spec
from assets.partitions import period_partitions
from costlake.focus.lake import Lake, partition_dir

SHOWN = 10  # rows of a list in the UI's metadata

# A period mart depends on the focus partitions of its period, one per provider.
focus_of_period = AssetDep(
    "focus",
    partition_mapping=MultiToSingleDimensionPartitionMapping(
        partition_dimension_name="billing_period"
    ),
)


def period_table(table: str, description: str, *more_deps: str) -> AssetSpec:
    """The asset of a mart table of each billing period, read from the period's FOCUS rows
    (and ``more_deps``: tables of the same computation it is derived from)."""
    return table_spec(table, description, [focus_of_period, *more_deps], period_partitions, "marts")


def period_days(billing_period: str) -> tuple[date, date]:
    """First day of the period and first day of the next one."""
    start = date.fromisoformat(f"{billing_period}-01")
    return start, (start + timedelta(days=32)).replace(day=1)


def period_focus(lake: Lake, billing_period: str) -> pl.LazyFrame:
    """Every provider's FOCUS rows of one period (none yet: an empty frame of the schema)."""
    try:
        return lake.scan("focus").filter(pl.col("billing_period") == billing_period)
    except FileNotFoundError:
        return lake.scan_partition("focus", "aws", billing_period)


def period_mart(lake: Lake, table: str, billing_period: str) -> pl.LazyFrame | None:
    """One period of a mart that spans the providers (``marts/<name>``), read through the
    lake's filesystem (a local folder or an object store), or None when the lake does not hold
    it (a mart another asset has not built yet)."""
    relative = partition_dir(table, None, billing_period)
    return lake.scan_folder(relative, table) if lake.files(relative) else None


def input_files(
    locations: Iterable[str], suffixes: tuple[str, ...], what: str, skip: str | None = None
) -> list[Path]:
    """The files at ``locations``: a file as named, a folder read recursively for files ending
    in ``suffixes`` (``skip`` left out); a location that does not exist is an error naming
    ``what`` it should hold."""
    skipped = Path(skip).resolve() if skip else None
    found: list[Path] = []
    for location in locations:
        path = Path(location)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix in suffixes and p.resolve() != skipped
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{what} location {location} does not exist")
    return found


def listed(items: list) -> str:
    """The first ``SHOWN`` of ``items`` as a Markdown list, saying how many more there are."""
    lines = [f"- {item}" for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"- … and {len(items) - SHOWN} more")
    return "\n".join(lines) or "none"
