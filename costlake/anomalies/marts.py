"""The anomaly marts of a billing period: every scored day, the anomalies, their explanations.

``costlake.anomalies.detector`` scores one grouping of series; this module runs it over each
configured grouping (provider × billing account × service, provider × project, provider × model by
default) and adds the new services, regions and models and the jumps in the untagged share, in
one table of one shape, so BI tools and the alerting read one place. A run compares its scores
with the previous run's (``rescore``): a provisional anomaly that a restatement removed is
``cleared``, one that settled is ``confirmed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from costlake.anomalies.detector import (
    DEFAULT_GROUP_BY,
    MODEL_GROUP_BY,
    PROJECT_GROUP_BY,
    AnomalySettings,
    anomaly_id,
    daily_series,
    detect,
    explain,
    new_entities,
    rescore,
    untagged_share_jumps,
)

DEFAULT_GROUPINGS = (DEFAULT_GROUP_BY, PROJECT_GROUP_BY, MODEL_GROUP_BY)
# Enough days before a period for the baseline (6 weeks), the spread's residuals (84 days) and
# the new-entity lookback (30 days) of its first day.
HISTORY_DAYS = 140
SCORES_SCHEMA = {
    "anomaly_id": pl.String,
    "kind": pl.String,  # cost | new_service | new_region | new_model | untagged_share_jump
    "grouping": pl.String,
    "series": pl.String,
    "x_Provider": pl.String,
    "day": pl.Date,
    "currency": pl.String,
    "actual": pl.Float64,
    "expected": pl.Float64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "deviation": pl.Float64,
    "score": pl.Float64,
    "status": pl.String,
    "direction": pl.String,
    "severity": pl.String,
    "provisional": pl.Boolean,
    "history_weeks": pl.Int32,
}


@dataclass(frozen=True)
class PeriodAnomalies:
    """What one run finds: every scored day, the anomalies with their status change since the
    previous run, and each anomaly's contributions by child dimension."""

    scores: pl.DataFrame
    anomalies: pl.DataFrame
    contributions: pl.DataFrame


def settings_for(detector: AnomalySettings, group_by: Sequence[str]) -> AnomalySettings:
    """``detector``'s thresholds for one grouping (its child dimensions follow the grouping)."""
    values = detector.model_dump(exclude={"group_by", "child_dimensions"})
    return AnomalySettings(**values, group_by=tuple(group_by))


def data_horizon(focus: pl.LazyFrame) -> date | None:
    """The newest charge day in ``focus``: what "as of" means for a lake. Each provider's
    days within its settle lag of it are provisional (AWS: that day; Azure: the last three)."""
    newest = focus.select(pl.col("ChargePeriodStart").max()).collect().item()
    return None if newest is None else newest.date()


def _series_title(group_by: Sequence[str]) -> pl.Expr:
    values = [pl.col(c).cast(pl.String).fill_null("(none)") for c in group_by]
    return pl.concat_str([*values, pl.col("currency")], separator=" · ")


def _scored(detected: pl.DataFrame, group_by: Sequence[str]) -> pl.DataFrame:
    provider = pl.col("x_Provider") if "x_Provider" in group_by else pl.lit(None, pl.String)
    return detected.select(
        "anomaly_id",
        pl.lit("cost").alias("kind"),
        pl.lit(" × ".join(group_by)).alias("grouping"),
        _series_title(group_by).alias("series"),
        provider.alias("x_Provider"),
        *list(SCORES_SCHEMA)[5:],
    ).cast(SCORES_SCHEMA)


def _entities(found: pl.DataFrame, detector: AnomalySettings) -> pl.DataFrame:
    """New services, regions and models as scored anomaly rows (expected: nothing)."""
    return found.select(
        "anomaly_id",
        "kind",
        pl.concat_str(pl.lit("new "), pl.col("kind").str.strip_prefix("new_")).alias("grouping"),
        pl.concat_str(
            [pl.col("x_Provider"), pl.col("BillingAccountId"), pl.col("value"), pl.col("currency")],
            separator=" · ",
            ignore_nulls=True,
        ).alias("series"),
        "x_Provider",
        "day",
        "currency",
        pl.col("cost").alias("actual"),
        pl.lit(0.0).alias("expected"),
        pl.lit(None, pl.Float64).alias("lower"),
        pl.lit(detector.new_entity_min_cost).alias("upper"),
        pl.col("cost").alias("deviation"),
        pl.lit(None, pl.Float64).alias("score"),
        pl.lit("anomaly").alias("status"),
        pl.lit("spike").alias("direction"),
        pl.lit("medium").alias("severity"),
        "provisional",
        pl.lit(None, pl.Int32).alias("history_weeks"),
    ).cast(SCORES_SCHEMA)


def _untagged(jumps: pl.DataFrame, as_of: date, detector: AnomalySettings) -> pl.DataFrame:
    """Jumps of the untagged share as scored anomaly rows (amounts are shares, 0..1)."""
    settle = pl.col("x_Provider").replace_strict(
        detector.settle_days, default=detector.unknown_settle_days, return_dtype=pl.Int64
    )
    ids = [
        anomaly_id({"kind": "untagged_share_jump", "x_Provider": p, "currency": c}, d)
        for p, c, d in jumps.select("x_Provider", "currency", "day").iter_rows()
    ]
    return jumps.select(
        pl.Series("anomaly_id", ids, dtype=pl.String),
        pl.lit("untagged_share_jump").alias("kind"),
        pl.lit("untagged share").alias("grouping"),
        pl.concat_str([pl.col("x_Provider"), pl.col("currency")], separator=" · ").alias("series"),
        "x_Provider",
        "day",
        "currency",
        pl.col("untagged_share").alias("actual"),
        pl.col("baseline_share").alias("expected"),
        pl.lit(None, pl.Float64).alias("lower"),
        (pl.col("baseline_share") + detector.untagged_jump).alias("upper"),
        pl.col("jump").alias("deviation"),
        pl.lit(None, pl.Float64).alias("score"),
        pl.lit("anomaly").alias("status"),
        pl.lit("spike").alias("direction"),
        pl.lit("medium").alias("severity"),
        (pl.col("day") > pl.lit(as_of) - pl.duration(days=settle)).alias("provisional"),
        "history_weeks",
    ).cast(SCORES_SCHEMA)


def period_anomalies(
    focus: pl.LazyFrame,
    first: date,
    after: date,
    as_of: date,
    detector: AnomalySettings,
    groupings: Sequence[Sequence[str]] = DEFAULT_GROUPINGS,
    previous: pl.DataFrame | None = None,
) -> PeriodAnomalies:
    """Score the days ``first`` ≤ day < ``after`` of every series of every grouping, as of
    ``as_of``, and compare with the ``previous`` run's scores of the same period."""
    recent = focus.filter(
        (pl.col("ChargePeriodStart").dt.date() >= first - timedelta(days=HISTORY_DAYS))
        & (pl.col("ChargePeriodStart").dt.date() < after)
        # Recurring fees and one-time purchases land on calendar days (a support fee on the
        # 1st, a reservation bought once): expected events, not anomalies of daily spend.
        & (pl.col("ChargeFrequency").fill_null("Usage-Based") == "Usage-Based")
    )
    names = recent.collect_schema().names()
    scores, contributions = [], []
    for group_by in groupings:
        if any(column not in names for column in group_by):
            raise ValueError(f"anomaly grouping {list(group_by)}: no such FOCUS column")
        settings = settings_for(detector, group_by)
        series = daily_series(recent, group_by).filter(pl.col("day") < after)
        detected = detect(series, settings, as_of, since=first)
        scores.append(_scored(detected, group_by))
        contributions.append(explain(recent, detected, settings))
    found = new_entities(recent, as_of, detector, since=first).filter(pl.col("day") < after)
    scores.append(_entities(found, detector))
    jumps = untagged_share_jumps(recent, detector).filter(
        (pl.col("day") >= first) & (pl.col("day") < after)
    )
    scores.append(_untagged(jumps, as_of, detector))
    current = pl.concat(scores)
    before = previous if previous is not None else pl.DataFrame(schema=SCORES_SCHEMA)
    anomalies = rescore(before, current).sort(
        pl.col("deviation").abs(), descending=True, nulls_last=True
    )
    return PeriodAnomalies(current, anomalies, pl.concat(contributions))
