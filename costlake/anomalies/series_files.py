"""Scoring anyone's own daily series: ``series,day,cost`` in, one row per event out.

The same detector and settings as the pipeline's marts (``detect`` then ``events``), with the
series name as the only key. A file may carry a ``currency`` column; without one every series
is in ``XXX`` (ISO 4217's "no currency"), which only names it: amounts are never added across
series either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from costlake.anomalies.detector import CURRENCY, AnomalySettings, detect
from costlake.anomalies.events import events

SERIES = "series"
NO_CURRENCY = "XXX"
INPUT_SCHEMA = {SERIES: pl.String, "day": pl.Date, "cost": pl.Float64}
OUTPUT_COLUMNS = (
    "series",
    "event_id",
    "start",
    "end",
    "peak_day",
    "expected",
    "actual",
    "excess",
    "severity",
)


class SeriesFileError(ValueError):
    """A series file that cannot be scored, with the file, row and column that say why."""


def read_series_csv(path: Path) -> pl.DataFrame:
    """``path``'s rows as ``series, day, cost[, currency]``. Errors name the file, the data
    row (1 is the first after the header) and the column."""
    try:
        header = pl.read_csv(path, n_rows=0).columns
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SeriesFileError(f"{path}: cannot read it as CSV ({exc})") from None
    missing = [c for c in INPUT_SCHEMA if c not in header]
    if missing:
        raise SeriesFileError(
            f"{path}: missing column(s) {missing}; expected series,day,cost (one row per series "
            f"and day), found {header}"
        )
    raw = pl.read_csv(path, infer_schema=False).with_row_index("_row", offset=1)
    typed = raw.with_columns(
        pl.col("day").str.to_date("%Y-%m-%d", strict=False).alias("_day"),
        pl.col("cost").cast(pl.Float64, strict=False).alias("_cost"),
    )

    def fail(rows: pl.DataFrame, column: str, why: Callable[[dict], str]) -> None:
        if rows.height:
            row = rows.row(0, named=True)
            more = f" ({rows.height} such rows)" if rows.height > 1 else ""
            raise SeriesFileError(f"{path}: row {row['_row']}, column {column}: {why(row)}{more}")

    blank = pl.col(SERIES).is_null() | (pl.col(SERIES).str.strip_chars() == "")
    fail(typed.filter(blank), SERIES, lambda row: "empty")
    fail(
        typed.filter(pl.col("_day").is_null()),
        "day",
        lambda row: f"{row['day']!r} is not a date YYYY-MM-DD",
    )
    fail(
        typed.filter(pl.col("_cost").is_null() | ~pl.col("_cost").is_finite()),
        "cost",
        lambda row: f"{row['cost']!r} is not a number",
    )
    repeated = (
        typed.group_by(SERIES, "_day")
        .agg(pl.col("_row").sort(), pl.len().alias("_n"))
        .filter(pl.col("_n") > 1)
        .sort(pl.col("_row").list.first())
    )
    if repeated.height:
        row = repeated.row(0, named=True)
        rows = " and ".join(str(r) for r in row["_row"])
        raise SeriesFileError(
            f"{path}: rows {rows}: series {row[SERIES]!r} has day {row['_day']} more than "
            "once (one row per series and day)"
        )
    currency = pl.col(CURRENCY) if CURRENCY in header else pl.lit(NO_CURRENCY)
    return typed.select(
        pl.col(SERIES),
        pl.col("_day").alias("day"),
        pl.col("_cost").alias("cost"),
        currency.alias(CURRENCY),
    )


def detect_events(
    series: pl.DataFrame, detector: AnomalySettings | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, scored days) of ``series`` (``series, day, cost[, currency]``) with the
    pipeline's ``detector`` thresholds and the series name as the key."""
    detector = detector or AnomalySettings()
    values = detector.model_dump(exclude={"group_by", "child_dimensions"})
    settings = AnomalySettings(**values, group_by=(SERIES,), child_dimensions=())
    if CURRENCY not in series.columns:
        series = series.with_columns(pl.lit(NO_CURRENCY).alias(CURRENCY))
    detected = detect(series, settings)
    as_of = series["day"].max()
    found = events(detected, [SERIES, CURRENCY], as_of, settings.gap_days)
    return found, detected


def events_csv(found: pl.DataFrame) -> pl.DataFrame:
    """The rows ``costlake anomalies detect`` writes: ``OUTPUT_COLUMNS``, ``end`` empty while an
    event is open; amounts are the event's totals rounded to cents."""
    return found.select(
        *OUTPUT_COLUMNS[:5],
        *[pl.col(c).round(2) for c in ("expected", "actual", "excess")],
        "severity",
    ).sort("series", "start")
