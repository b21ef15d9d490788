"""The anomaly marts of a billing period: every scored day, the events, what moved each.

``costlake.anomalies.detector`` scores one grouping of series and ``costlake.anomalies.events``
folds its anomalous days into events; this module runs them over each configured grouping
(provider × billing account × service, provider × project, provider × model by default) and adds
the new services, regions and models and the jumps in the untagged share as one-day events, in one
table of one shape, so BI tools and the alerting read one place. A run compares its events
with the previous run's (``event_changes``): ``new``, ``escalated``, ``closed``, ``cleared`` (a
restatement removed it) or ``unchanged``.
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
    untagged_share_jumps,
)
from costlake.anomalies.events import EVENT_SCHEMA, event_changes, event_contributions, events

DEFAULT_GROUPINGS = (DEFAULT_GROUP_BY, PROJECT_GROUP_BY, MODEL_GROUP_BY)
# Enough days before a period for the settled level (6 weeks), the weekday factors (8 weeks),
# the noise's residuals (84 days after the first two weeks) and the new-entity lookback (30
# days) of its first day.
HISTORY_DAYS = 160
SCORES_SCHEMA = {
    "anomaly_id": pl.String,
    "event_id": pl.String,
    "kind": pl.String,  # cost | new_service | new_region | new_model | untagged_share_jump
    "grouping": pl.String,
    "series": pl.String,
    "x_Provider": pl.String,
    "day": pl.Date,
    "currency": pl.String,
    "actual": pl.Float64,
    "expected": pl.Float64,
    "baseline": pl.String,
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
EVENTS_SCHEMA = {
    "event_id": pl.String,
    "kind": pl.String,
    "grouping": pl.String,
    "series": pl.String,
    "x_Provider": pl.String,
    "currency": pl.String,
    **{name: dtype for name, dtype in EVENT_SCHEMA.items() if name != "event_id"},
}
CHANGES_SCHEMA = {
    "status_change": pl.String,
    "previous_severity": pl.String,
    "previous_state": pl.String,
}
EXPLAIN_ALL = 1_000_000  # no top-n cut per day: the cut is made per event


@dataclass(frozen=True)
class PeriodAnomalies:
    """What one run finds: every scored day, the events with their change since the previous
    run, and each event's contributions by child dimension."""

    scores: pl.DataFrame
    events: pl.DataFrame
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
        "event_id",
        pl.lit("cost").alias("kind"),
        pl.lit(" × ".join(group_by)).alias("grouping"),
        _series_title(group_by).alias("series"),
        provider.alias("x_Provider"),
        *list(SCORES_SCHEMA)[6:],
    ).cast(SCORES_SCHEMA)


def _cost_events(found: pl.DataFrame, group_by: Sequence[str]) -> pl.DataFrame:
    provider = pl.col("x_Provider") if "x_Provider" in group_by else pl.lit(None, pl.String)
    return found.select(
        "event_id",
        pl.lit("cost").alias("kind"),
        pl.lit(" × ".join(group_by)).alias("grouping"),
        _series_title(group_by).alias("series"),
        provider.alias("x_Provider"),
        *list(EVENTS_SCHEMA)[5:],
    ).cast(EVENTS_SCHEMA)


def _one_day_events(scored: pl.DataFrame) -> pl.DataFrame:
    """New entities and untagged-share jumps (scored rows) as events of one day each, opened
    that day: they are news once, not runs of days."""
    return scored.select(
        pl.col("anomaly_id").alias("event_id"),
        "kind",
        "grouping",
        "series",
        "x_Provider",
        "currency",
        pl.col("day").alias("start"),
        pl.col("day").alias("end"),
        pl.col("day").alias("last_day"),
        pl.lit("closed").alias("state"),
        pl.lit(1).alias("days"),
        "direction",
        "actual",
        "expected",
        pl.col("deviation").alias("excess"),
        pl.col("day").alias("peak_day"),
        pl.col("actual").alias("peak_actual"),
        pl.col("expected").alias("peak_expected"),
        pl.col("score").alias("peak_score"),
        "severity",
        pl.col("day").alias("opened_on"),
        pl.col("severity").alias("opening_severity"),
        pl.lit(None, pl.Date).alias("escalated_on"),
        "provisional",
    ).cast(EVENTS_SCHEMA)


def _entities(found: pl.DataFrame, detector: AnomalySettings) -> pl.DataFrame:
    """New services, regions and models as scored anomaly rows (expected: nothing)."""
    return found.select(
        "anomaly_id",
        pl.col("anomaly_id").alias("event_id"),
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
        pl.lit("none").alias("baseline"),
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
        pl.Series("event_id", ids, dtype=pl.String),
        pl.lit("untagged_share_jump").alias("kind"),
        pl.lit("untagged share").alias("grouping"),
        pl.concat_str([pl.col("x_Provider"), pl.col("currency")], separator=" · ").alias("series"),
        "x_Provider",
        "day",
        "currency",
        pl.col("untagged_share").alias("actual"),
        pl.col("baseline_share").alias("expected"),
        pl.lit("same_weekday").alias("baseline"),
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
    ``as_of``, fold them into events and compare those with the ``previous`` run's events of
    the same period (``marts/anomaly_events``)."""
    recent = focus.filter(
        (pl.col("ChargePeriodStart").dt.date() >= first - timedelta(days=HISTORY_DAYS))
        & (pl.col("ChargePeriodStart").dt.date() < after)
        # Recurring fees and one-time purchases land on calendar days (a support fee on the
        # 1st, a reservation bought once): expected events, not anomalies of daily spend.
        & (pl.col("ChargeFrequency").fill_null("Usage-Based") == "Usage-Based")
    )
    names = recent.collect_schema().names()
    scores, found_events, contributions = [], [], []
    for group_by in groupings:
        if any(column not in names for column in group_by):
            raise ValueError(f"anomaly grouping {list(group_by)}: no such FOCUS column")
        settings = settings_for(detector, group_by)
        series = daily_series(recent, group_by).filter(pl.col("day") < after)
        detected = detect(series, settings, as_of, since=first)
        scores.append(_scored(detected, group_by))
        keys = [*group_by, "currency"]
        found_events.append(
            _cost_events(events(detected, keys, as_of, settings.gap_days), group_by)
        )
        per_day = explain(recent, detected, settings, top_n=EXPLAIN_ALL)
        contributions.append(event_contributions(per_day, detected, settings.explain_top_n))
    found = new_entities(recent, as_of, detector, since=first).filter(pl.col("day") < after)
    jumps = untagged_share_jumps(recent, detector).filter(
        (pl.col("day") >= first) & (pl.col("day") < after)
    )
    one_day = pl.concat([_entities(found, detector), _untagged(jumps, as_of, detector)])
    scores.append(one_day)
    found_events.append(_one_day_events(one_day))
    before = pl.DataFrame(schema=EVENTS_SCHEMA) if previous is None else previous
    current = event_changes(before.select(list(EVENTS_SCHEMA)), pl.concat(found_events))
    current = current.sort(pl.col("excess").abs(), descending=True, nulls_last=True)
    return PeriodAnomalies(pl.concat(scores), current, pl.concat(contributions))
