"""Anomalies as events: what a person is told about, once, instead of one alarm per day.

``detect`` marks each anomalous day with its ``event_id`` (the series' digest and the event's
first day, so the id is the same on every run); this module folds those days into one row per
event and says which alerts an event raises:

* **one alert when it opens** (``alert_id`` = the event id), on the day its evidence first
  passed the detector's test (``opened_on``);
* **at most one more** when its severity rises above the one it opened with to ``high`` or
  ``critical`` (``alert_id`` = the event id + ``-escalated``), on the first day it did
  (``escalated_on``); the alerts' text is
  ``costlake.anomalies.alerts``'s;
* its **state**: ``open`` while its last anomalous day is within ``gap_days`` of the newest day
  scored (it may go on), ``closed`` after; a closed event has an ``end``. Closing raises no
  alert: the mart shows it.

Amounts are totals over the event's anomalous days: ``actual``, ``expected`` and ``excess`` =
actual - expected (negative for a drop). ``peak_day`` is the day of the largest |deviation|.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from costlake.anomalies.detector import DAY, OTHER, SEVERITIES

ESCALATED_SUFFIX = "-escalated"
# Only a rise to high or critical is worth a second message: a low event that grows medium is
# still in the mart, not in anyone's chat.
ESCALATION_RANK = SEVERITIES.index("high")
EVENT_SCHEMA = {
    "event_id": pl.String,
    "start": pl.Date,
    "end": pl.Date,  # null while open
    "last_day": pl.Date,
    "state": pl.String,  # open | closed
    "days": pl.UInt32,
    "direction": pl.String,
    "actual": pl.Float64,
    "expected": pl.Float64,
    "excess": pl.Float64,
    "peak_day": pl.Date,
    "peak_actual": pl.Float64,
    "peak_expected": pl.Float64,
    "peak_score": pl.Float64,
    "severity": pl.String,
    "opened_on": pl.Date,
    "opening_severity": pl.String,
    "escalated_on": pl.Date,
    "provisional": pl.Boolean,
}


def _rank(column: str) -> pl.Expr:
    return pl.col(column).replace_strict(
        {s: i for i, s in enumerate(SEVERITIES)}, default=None, return_dtype=pl.Int8
    )


def events(detected: pl.DataFrame, keys: Sequence[str], as_of: date, gap_days: int) -> pl.DataFrame:
    """One row per event of ``detect``'s output: ``keys`` (the series' columns, the currency
    included), then ``EVENT_SCHEMA``'s columns. Only the days in ``detected`` count: scored
    from a ``since``, an event that began before keeps its id and ``start`` but its totals are
    of the days given."""
    days = detected.filter(pl.col("status") == "anomaly").with_columns(
        _rank("severity").alias("_rank")
    )
    keys = list(keys)
    if days.height == 0:
        schema = {c: detected.schema[c] for c in keys} | EVENT_SCHEMA
        return pl.DataFrame(schema=schema)
    opened_rank = pl.col("_rank").filter(pl.col("event_opened")).first()
    opened_on = pl.col(DAY).filter(pl.col("event_opened")).first()
    by_size = pl.col("deviation").abs()
    grouped = (
        days.sort(DAY)
        .group_by([*keys, "event_id"], maintain_order=True)
        .agg(
            pl.col("event_start").first().alias("start"),
            pl.col(DAY).max().alias("last_day"),
            pl.len().alias("days"),
            pl.col("direction").first(),
            pl.col("actual").sum(),
            pl.col("expected").sum(),
            pl.col("deviation").sum().alias("excess"),
            pl.col(DAY)
            .sort_by(by_size, descending=True, maintain_order=True)
            .first()
            .alias("peak_day"),
            pl.col("actual")
            .sort_by(by_size, descending=True, maintain_order=True)
            .first()
            .alias("peak_actual"),
            pl.col("expected")
            .sort_by(by_size, descending=True, maintain_order=True)
            .first()
            .alias("peak_expected"),
            pl.col("score").abs().max().alias("peak_score"),
            pl.col("severity").last(),
            opened_on.alias("opened_on"),
            pl.col("severity").filter(pl.col("event_opened")).first().alias("opening_severity"),
            pl.col(DAY)
            .filter(
                (pl.col("_rank") > opened_rank)
                & (pl.col("_rank") >= ESCALATION_RANK)
                & (pl.col(DAY) > opened_on)
            )
            .first()
            .alias("escalated_on"),
            pl.col("provisional").any(),
        )
    )
    still_open = pl.col("last_day") >= pl.lit(as_of - timedelta(days=gap_days))
    return (
        grouped.with_columns(
            pl.when(still_open).then(pl.lit("open")).otherwise(pl.lit("closed")).alias("state"),
            pl.when(~still_open).then(pl.col("last_day")).alias("end"),
        )
        .select(*keys, *EVENT_SCHEMA)
        .cast(EVENT_SCHEMA)
        .sort([*keys, "start"], nulls_last=True)
    )


def event_contributions(day_contributions: pl.DataFrame, detected: pl.DataFrame, top_n: int):
    """Per event, dimension and value: the sum of its days' contributions (``explain`` with no
    top-n cut), then the ``top_n`` values by |contribution| and the rest as ``(other)``. Each
    day's contributions add up to that day's deviation, so each dimension's add up to the
    event's excess."""
    ids = detected.filter(pl.col("event_id").is_not_null()).select("anomaly_id", "event_id")
    summed = (
        day_contributions.join(ids, on="anomaly_id", how="inner")
        .group_by("event_id", "dimension", "value")
        .agg(pl.col("actual", "expected", "adjustment", "contribution").sum())
        .with_columns(pl.col("contribution").abs().alias("_size"))
        .sort(["event_id", "dimension", "_size", "value"], descending=[False, False, True, False])
        .with_columns(
            pl.int_range(1, pl.len() + 1).over("event_id", "dimension").cast(pl.Int32).alias("rank")
        )
    )
    kept = summed.filter(pl.col("rank") <= top_n)
    rest = (
        summed.filter(pl.col("rank") > top_n)
        .group_by("event_id", "dimension")
        .agg(pl.col("actual", "expected", "adjustment", "contribution").sum())
        .with_columns(pl.lit(OTHER).alias("value"), pl.lit(top_n + 1, pl.Int32).alias("rank"))
    )
    columns = ["event_id", "dimension", "rank", "value", "actual", "expected", "adjustment"]
    both = pl.concat([kept.select(*columns, "contribution"), rest.select(*columns, "contribution")])
    total = pl.col("contribution").sum().over("event_id", "dimension")
    return both.with_columns(
        pl.when(total != 0).then(pl.col("contribution") / total).alias("share")
    ).sort("event_id", "dimension", "rank")


def event_changes(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """``current``'s events with what changed since the ``previous`` run's (same columns), by
    ``event_id``: ``status_change`` is ``new`` (not there before), ``escalated`` (a higher
    severity), ``closed`` (open before, closed now), ``cleared`` (there before, gone now: a
    restatement removed it; kept with the previous figures and state ``cleared``) or
    ``unchanged``; with ``previous_severity`` and ``previous_state``."""
    columns = current.columns
    was = previous.select(
        "event_id",
        pl.col("severity").alias("previous_severity"),
        pl.col("state").alias("previous_state"),
    )
    now = current.join(was, on="event_id", how="left")
    rank, before = _rank("severity"), _rank("previous_severity")
    change = (
        pl.when(pl.col("previous_state").is_null())
        .then(pl.lit("new"))
        .when(rank > before)
        .then(pl.lit("escalated"))
        .when((pl.col("state") == "closed") & (pl.col("previous_state") == "open"))
        .then(pl.lit("closed"))
        .otherwise(pl.lit("unchanged"))
    )
    gone = (
        previous.join(current.select("event_id"), on="event_id", how="anti")
        .filter(pl.col("state") != "cleared")
        .select(columns)
        .join(was, on="event_id")
        .with_columns(pl.lit("cleared").alias("state"), pl.lit("cleared").alias("_change"))
    )
    return (
        pl.concat([now.with_columns(change.alias("_change")), gone], how="vertical_relaxed")
        .rename({"_change": "status_change"})
        .select(*columns, "status_change", "previous_severity", "previous_state")
    )
