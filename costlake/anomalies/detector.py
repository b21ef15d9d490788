"""Cost anomalies that explain themselves: a robust baseline that follows each series, and
runs of unusual days judged as one event.

Pure polars: no Dagster, no network, no model fitted per series (a thousand series of two years
score in seconds). Amounts are ``EffectiveCost`` (the amortized cost) and the currency is always
part of a series' key: amounts are never added across currencies.

The method (each step reads only days before the one it scores):

* **Series.** ``daily_series`` sums ``EffectiveCost`` per day (the UTC date of
  ``ChargePeriodStart``), per group (``AnomalySettings.group_by``) and ``BillingCurrency``; days
  without a row between a series' first and last day are 0.
* **Weekday factor** (``season``): the median, over the last ``season_weeks`` (16) weeks, of the
  same weekday's ratio of its cost to the mean of the 7 days ending on it. A ratio, not a
  difference, so the weekly shape scales with the level and survives growth and level shifts;
  a median, so a spike is one ratio among sixteen (more weeks make a steadier factor,
  so a smaller change stands out of the noise).
* **Two levels** of the series with the weekday factor divided out: *recent*, the median of the
  last ``level_days`` (14) days, and *settled*, the median of the last ``7 x weeks`` (42) days;
  ``expected_recent`` and ``expected_settled`` are each times the day's factor. The recent
  level follows the series (growth lags it by a week, a level shift is absorbed once it holds
  half of the 14 days: a step is one event of about a week, not three weeks of alarms); the
  settled one remembers what was normal before a short excursion. A day is judged against the
  nearer of the two (``expected``, ``baseline`` says which): the day after a runaway job
  stopped is near the settled level and raises nothing, a level that has settled is near the
  recent one.
* **Noise** (``noise``): 1.4826 x the median of the series' own relative residuals against the
  recent expectation over its last ``spread_days`` (84) days, twice (the second pass leaves out
  the days beyond 4 x the first estimate, so an anomaly does not widen the band after it),
  never below ``spread_floor_rel`` (3 %); and the residuals' lag-1 autocorrelation (busy days
  come in runs). ``spread`` = noise x expected, ``score`` = deviation / spread, and ``lower`` /
  ``upper`` = expected -/+ k x spread.
* **Runs and events.** Days whose score is beyond ``k_continue`` (1.75) in one direction form a
  run (up to ``gap_days`` (1) quieter days inside it do not break it). A run opens an **event**
  on the first day where the sum of the scores of its current stretch of consecutive days,
  over that sum's standard deviation (sqrt(n) for independent days, more with autocorrelation),
  passes a bar that falls from ``k_one_day`` (5) for one day towards ``k`` (3) as days
  accumulate (``k + (k_one_day - k) / n``: single days are where the noise's heavy tails are,
  several days in a row average them out), and the stretch's mean deviation is material
  (``min_abs`` 50 a day and ``min_rel`` 15 %). The event starts on the run's day from which
  the evidence is strongest (the change point), so a noisy day just before a spike is left
  out and the first days of a slow rise are not; it goes on while the run does. Its days are
  ``anomaly``, with ``event_id`` = the series' digest and the event's first day, the same on
  every run; ``event_opened`` marks the day it opened (when it is alerted).
  ``costlake.anomalies.events`` folds them into one row per event.
* **CUSUM** (``_cusum``): a small change kept for days, with no day beyond the one-day bar and
  some below ``k_continue``, opens an event by Page's CUSUM on the scores (clipped to
  ``cusum_clip``, discounted for autocorrelation): S = max(0, S + z - ``cusum_drift``) per
  series and direction past ``cusum_threshold``, the stretch's mean deviation material. Its
  days up to the opening join the run; the stretch starts after the cumulative sum's last
  minimum.
* **Cold start.** A series' first ``min_history_weeks`` (5) weeks, or until it has
  ``spread_min_days`` (21) residuals (counted from the day its recent level has its full
  window: a ramp-up would inflate the noise), are ``insufficient_history``: the detector says
  so instead of guessing.
* **Severity** of an event as of a day is the lower of two tiers, so both its statistical
  strength and its money must be large: by its peak |score| (below 2k low, below 4k medium,
  below 8k high, else critical) and by its |excess| so far (below 4 x ``min_abs`` low, below
  20 x medium, below 100 x high, else critical: 200, 1,000 and 5,000 in the series' currency).
  It never falls while the event lasts.
* **Settling.** Days newer than ``as_of - settle_days[provider]`` are ``provisional``: the
  provider may still restate them; each run re-scores them.

Why no STL, Holt-Winters or statsforecast model: they fit each series (a thousand fits a
night, each a second or more), their forecasts follow a level shift only after weeks unless
made robust by hand, and they would bring numpy, scipy and pandas for what medians and a
rolling MAD do in a few polars expressions whose every figure is a column a person can check.

``explain`` says which values of each child dimension (sub account, region, resource, usage
type, model, …) moved an anomalous day, with contributions that add up exactly to its
deviation (and so, summed over its days, to an event's excess). ``new_entities`` and
``untagged_share_jumps`` catch what a per-series baseline cannot: spend that has no history
yet, and spend that lost its tags.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

COST = "EffectiveCost"
CURRENCY = "currency"
DAY = "day"
SERIES_COST = "cost"
PROVIDER = "x_Provider"
OTHER = "(other)"
NONE_VALUE = "(none)"
MAD_SCALE = 1.4826
TINY = 1e-9

DEFAULT_GROUP_BY = ("x_Provider", "BillingAccountId", "ServiceName")
PROJECT_GROUP_BY = ("x_Provider", "x_tag_project")
MODEL_GROUP_BY = ("x_Provider", "x_tag_model")
DEFAULT_CHILD_DIMENSIONS = (
    "SubAccountId",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "x_UsageType",
    "x_tag_model",
)
DEFAULT_SETTLE_DAYS = {"aws": 1, "azure": 3, "gcp": 2, "oci": 2}
NEW_ENTITY_KINDS = {"new_service": "ServiceName", "new_region": "RegionId", "new_model": None}
STATUSES = ("anomaly", "normal", "insufficient_history")
SEVERITIES = ("low", "medium", "high", "critical")


class AnomalySettings(BaseModel):
    """What a series is and when one of its days is an anomaly. Frozen: one value per run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_by: tuple[str, ...] = Field(
        DEFAULT_GROUP_BY,
        description="Columns whose values make a series (the currency is always added). Other "
        "useful ones: PROJECT_GROUP_BY, and MODEL_GROUP_BY for AI spend.",
    )
    child_dimensions: tuple[str, ...] = Field(
        DEFAULT_CHILD_DIMENSIONS,
        description="Columns explain() breaks an anomaly down by; by default "
        "DEFAULT_CHILD_DIMENSIONS less the group_by columns.",
    )
    weeks: int = Field(
        6, ge=2, le=26, description="Weeks of the settled level (the median of 7 x weeks days)."
    )
    level_days: int = Field(
        14, ge=7, description="Days of the recent level (their median), which follows the series."
    )
    season_weeks: int = Field(
        16, ge=2, description="Weeks of same-weekday ratios in each weekday's factor (median)."
    )
    min_history_weeks: int = Field(
        5, ge=1, description="A series' first weeks are insufficient_history."
    )
    k: float = Field(
        3.0, gt=0, description="An event opens when its scores' sum / sqrt(days) exceeds k."
    )
    k_one_day: float = Field(
        5.0,
        gt=0,
        description="The bar for an event of one day so far: single days are where the "
        "noise's heavy tails are, runs of days average them out.",
    )
    k_continue: float = Field(
        1.75, gt=0, description="A day beyond this score (same direction) extends a run."
    )
    cusum_drift: float = Field(
        0.5,
        ge=0,
        description="The CUSUM's reference value, in spreads: days nearer the expectation than "
        "this take evidence away from a candidate change.",
    )
    cusum_threshold: float = Field(
        4.5,
        gt=0,
        description="The CUSUM's bar, in spreads: evidence accumulated over a stretch of days "
        "beyond it opens an event (a small change kept for several days).",
    )
    cusum_clip: float = Field(
        3.0,
        gt=0,
        description="A day adds at most this many spreads to the CUSUM, so no single day "
        "(heavy tails) opens an event by it: that is the k_one_day bar's job.",
    )
    gap_days: int = Field(
        1, ge=0, description="Days within a run's bounds that do not break it (or close it)."
    )
    min_abs: float = Field(
        50.0, ge=0, description="Smallest mean daily |deviation| of an event, in currency."
    )
    min_rel: float = Field(
        0.15, ge=0, description="Smallest mean daily |deviation| / |expected| of an event."
    )
    spread_floor_rel: float = Field(
        0.03, ge=0, description="The noise (of the log) is never taken below this."
    )
    spread_floor_abs: float = Field(
        1.0, gt=0, description="Added to both sides of the log ratio, in currency."
    )
    spread_days: int = Field(84, ge=7, description="Days of residuals in the noise estimate.")
    spread_min_days: int = Field(
        21, ge=1, description="Fewer residuals than this: insufficient_history."
    )
    settle_days: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_SETTLE_DAYS),
        description="Per provider (x_Provider): days newer than as_of - this are provisional.",
    )
    unknown_settle_days: int = Field(
        3,
        ge=0,
        description="Settle days of a provider not in settle_days, or of a series "
        "whose key has no x_Provider (then the largest of all applies).",
    )
    new_entity_min_cost: float = Field(
        50.0, ge=0, description="Material daily spend for a new service, region or model."
    )
    new_entity_lookback_days: int = Field(
        30, ge=1, description="No spend in this many days before: the entity is new."
    )
    new_entity_scope: tuple[str, ...] = Field(
        ("x_Provider", "BillingAccountId"),
        description="Within what an entity is new (plus the currency).",
    )
    untagged_column: str = Field(
        "x_tag_project", description="The tag whose absence makes taggable spend untagged."
    )
    untagged_jump: float = Field(
        0.10, gt=0, le=1, description="Flag an untagged-share rise above this (0.10 = 10 pp)."
    )
    explain_top_n: int = Field(5, ge=1, description="Values kept per dimension; rest: (other).")

    @model_validator(mode="before")
    @classmethod
    def _default_children(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("child_dimensions") is None:
            group_by = data.get("group_by") or DEFAULT_GROUP_BY
            data = dict(data)
            data["child_dimensions"] = tuple(
                d for d in DEFAULT_CHILD_DIMENSIONS if d not in set(group_by)
            )
        return data

    @field_validator("group_by", "new_entity_scope")
    @classmethod
    def _non_empty_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one column")
        if len(set(value)) != len(value):
            raise ValueError(f"repeats a column: {list(value)}")
        if CURRENCY in value or "BillingCurrency" in value:
            raise ValueError("the currency is always part of the key; do not list it")
        return value

    @field_validator("settle_days")
    @classmethod
    def _settle(cls, value: dict[str, int]) -> dict[str, int]:
        if any(days < 0 for days in value.values()):
            raise ValueError("settle days cannot be negative")
        return {provider.lower(): int(days) for provider, days in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> AnomalySettings:
        if self.min_history_weeks > self.weeks:
            raise ValueError(
                f"min_history_weeks ({self.min_history_weeks}) exceeds weeks ({self.weeks})"
            )
        overlap = set(self.child_dimensions) & set(self.group_by)
        if overlap:
            raise ValueError(f"child_dimensions repeat group_by columns: {sorted(overlap)}")
        return self


# ---------------------------------------------------------------------------------------------
# Series


def _lazy(frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _day_expr() -> pl.Expr:
    start = pl.col("ChargePeriodStart")
    return start.dt.convert_time_zone("UTC").dt.date().alias(DAY)


def _focus_day(focus: pl.LazyFrame) -> pl.Expr:
    """The UTC date of ChargePeriodStart (a ``day`` column, if the frame has one, wins)."""
    schema = focus.collect_schema()
    if DAY in schema.names():
        return pl.col(DAY).cast(pl.Date)
    dtype = schema["ChargePeriodStart"]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return _day_expr()
    return pl.col("ChargePeriodStart").cast(pl.Date).alias(DAY)


def _model_column(names: Sequence[str]) -> str | None:
    if "x_tag_model" in names:
        return "x_tag_model"
    return "model" if "model" in names else None


def daily_series(
    focus: pl.LazyFrame | pl.DataFrame, group_by: Sequence[str] = DEFAULT_GROUP_BY
) -> pl.LazyFrame:
    """Daily ``EffectiveCost`` per group and currency: the group columns, ``currency``, ``day``
    and ``cost``, sorted; days with no row between a series' first and last day are 0."""
    focus = _lazy(focus)
    keys = [*group_by, CURRENCY]
    daily = (
        focus.select(
            *[pl.col(c) for c in group_by],
            pl.col("BillingCurrency").alias(CURRENCY),
            _focus_day(focus),
            pl.col(COST).fill_null(0.0).cast(pl.Float64).alias(SERIES_COST),
        )
        .group_by([*keys, DAY])
        .agg(pl.col(SERIES_COST).sum())
    )
    grid = (
        daily.group_by(keys)
        .agg(pl.col(DAY).min().alias("_first"), pl.col(DAY).max().alias("_last"))
        .select(*keys, pl.date_ranges("_first", "_last").alias(DAY))
        .explode(DAY)
    )
    return (
        grid.join(daily, on=[*keys, DAY], how="left", nulls_equal=True)
        .with_columns(pl.col(SERIES_COST).fill_null(0.0))
        .sort([*keys, DAY], nulls_last=True)
    )


# ---------------------------------------------------------------------------------------------
# Ids


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def series_digest(keys: Mapping[str, Any]) -> str:
    """The stable digest of a series' key (column names and values, the currency included)."""
    canonical = json.dumps(
        [[name, _jsonable(value)] for name, value in sorted(keys.items())],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def anomaly_id(keys: Mapping[str, Any], day: date) -> str:
    """The stable id of a series' day: the digest of its key (the group columns with their
    values and ``currency``) then the day, e.g. ``3f9c0a1b2c3d4e5f-20250107``. The same
    anomaly keeps its id on every run (alert once); the digest is sha256, not polars' hash,
    so it does not change with the library's version."""
    return f"{series_digest(keys)}-{day:%Y%m%d}"


def _attach_ids(
    frame: pl.DataFrame, keys: Sequence[str], extra: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """``frame`` with ``anomaly_id``: ``series_digest`` of ``keys`` (plus constant ``extra``
    key values) per distinct key, then the day."""
    extra = dict(extra or {})
    distinct = frame.select(keys).unique()
    digests = [
        series_digest({**dict(zip(keys, row, strict=True)), **extra})
        for row in distinct.iter_rows()
    ]
    distinct = distinct.with_columns(pl.Series("_digest", digests, dtype=pl.String))
    return (
        frame.join(distinct, on=list(keys), how="left", nulls_equal=True)
        .with_columns(
            pl.concat_str(pl.col("_digest"), pl.lit("-"), pl.col(DAY).dt.strftime("%Y%m%d")).alias(
                "anomaly_id"
            )
        )
        .drop("_digest")
    )


# ---------------------------------------------------------------------------------------------
# Scoring


def _settle_expr(settings: AnomalySettings, keys: Sequence[str]) -> pl.Expr:
    """Settle days per row: the provider's (x_Provider in the key) or the most cautious."""
    if PROVIDER not in keys:
        return pl.lit(max([settings.unknown_settle_days, *settings.settle_days.values()]))
    return (
        pl.col(PROVIDER)
        .str.to_lowercase()
        .replace_strict(
            settings.settle_days, default=settings.unknown_settle_days, return_dtype=pl.Int64
        )
    )


def _same_weekday_lags(value: str, sid: str, weeks: int) -> list[pl.Expr]:
    """The value 7, 14, … days before, on a frame sorted by series and day with one row per
    day: a shift of 7i rows is 7i days as long as the series id is the same."""
    return [
        pl.when(pl.col(sid).shift(7 * i) == pl.col(sid)).then(pl.col(value).shift(7 * i))
        for i in range(1, weeks + 1)
    ]


def _sorted_columns(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Sort each row's values of ``columns`` in place, ascending (odd-even transposition
    network: one pass of compare-and-swap column pairs per column; vectorised, no lists)."""
    for round_ in range(len(columns)):
        swaps = []
        for i in range(round_ % 2, len(columns) - 1, 2):
            low, high = columns[i], columns[i + 1]
            swaps += [
                pl.min_horizontal(low, high).alias(low),
                pl.max_horizontal(low, high).alias(high),
            ]
        if swaps:
            frame = frame.with_columns(swaps)
    return frame


def _row_median(columns: list[str], count: pl.Expr) -> pl.Expr:
    """The median of the first ``count`` of the row-sorted ``columns`` (null when 0)."""
    median = pl.when(count == 1).then(pl.col(columns[0]))
    for n in range(2, len(columns) + 1):
        median = median.when(count == n).then(
            (pl.col(columns[(n - 1) // 2]) + pl.col(columns[n // 2])) / 2
        )
    return median


def _baseline(frame: pl.DataFrame, value: str, sid: str, weeks: int) -> pl.DataFrame:
    """``frame`` (sorted by ``sid`` then day, one row per day) with ``expected``, the median of
    ``value`` on the same weekday over the last ``weeks`` weeks (the day itself excluded),
    ``mad``, the median absolute deviation of those values from ``expected``, and
    ``history_weeks``, how many of them there are. Missing values (before a series' first day,
    or null) are left out."""
    lags = [f"_lag{i}" for i in range(weeks)]
    spreads = [f"_dev{i}" for i in range(weeks)]
    count = pl.col("history_weeks")
    frame = frame.with_columns(
        [
            lag.alias(name)
            for lag, name in zip(_same_weekday_lags(value, sid, weeks), lags, strict=True)
        ]
    ).with_columns(
        pl.sum_horizontal([pl.col(c).is_not_null() for c in lags])
        .cast(pl.Int32)
        .alias("history_weeks")
    )
    # Missing values sort last as +inf and the median reads only the first history_weeks.
    frame = frame.with_columns([pl.col(c).fill_null(float("inf")) for c in lags])
    frame = _sorted_columns(frame, lags).with_columns(_row_median(lags, count).alias("expected"))
    frame = frame.with_columns(
        [
            (pl.col(c) - pl.col("expected")).abs().alias(d)
            for c, d in zip(lags, spreads, strict=True)
        ]
    )
    frame = _sorted_columns(frame, spreads).with_columns(_row_median(spreads, count).alias("mad"))
    return frame.drop(*lags, *spreads)


def _dense(
    series: pl.DataFrame, keys: Sequence[str], weeks: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per series and day, sorted, with an integer series id ``_sid``.

    A series is filled with 0 from its first day to the last day of data of its provider (of
    the whole input without x_Provider in the key), but for at most ``weeks`` weeks past its
    own last day: a series that stops is a drop, scored until its baseline has absorbed it."""
    ids = series.select(keys).unique().with_row_index("_sid")
    series = series.join(ids, on=list(keys), how="left", nulls_equal=True)
    spans = series.group_by("_sid").agg(
        *[pl.col(c).first() for c in keys],
        pl.col(DAY).min().alias("_first"),
        pl.col(DAY).max().alias("_last"),
    )
    if PROVIDER in keys:
        ends = series.group_by(PROVIDER).agg(pl.col(DAY).max().alias("_data_end"))
        spans = spans.join(ends, on=PROVIDER, how="left", nulls_equal=True)
    else:
        spans = spans.with_columns(pl.lit(series[DAY].max()).alias("_data_end"))
    spans = spans.with_columns(
        pl.min_horizontal(
            pl.max_horizontal("_last", "_data_end"),
            pl.col("_last") + pl.duration(days=7 * weeks),
        ).alias("_end")
    )
    grid = spans.select("_sid", *keys, pl.date_ranges("_first", "_end").alias(DAY)).explode(DAY)
    dense = (
        grid.join(series.select("_sid", DAY, SERIES_COST), on=["_sid", DAY], how="left")
        .with_columns(pl.col(SERIES_COST).fill_null(0.0))
        .sort("_sid", DAY)
    )
    return dense, ids


def _prepare_series(
    series: pl.LazyFrame | pl.DataFrame, keys: Sequence[str], as_of: date | None
) -> tuple[pl.DataFrame, date]:
    frame = _lazy(series)
    names = frame.collect_schema().names()
    if CURRENCY not in names and "BillingCurrency" in names:
        frame = frame.rename({"BillingCurrency": CURRENCY})
    cost = next((c for c in (SERIES_COST, "actual", COST) if c in names), None)
    missing = [c for c in [*keys, DAY] if c not in frame.collect_schema().names()]
    if cost is None or missing:
        raise ValueError(
            f"series needs columns {[*keys, DAY, SERIES_COST]} (as daily_series makes); "
            f"missing {missing or [SERIES_COST]}"
        )
    if as_of is not None:
        frame = frame.filter(pl.col(DAY) <= as_of)
    collected = (
        frame.group_by([*keys, DAY])
        .agg(pl.col(cost).fill_null(0.0).cast(pl.Float64).sum().alias(SERIES_COST))
        .collect()
    )
    if as_of is None:
        as_of = collected[DAY].max() if collected.height else date.today()
    return collected, as_of


def _tier(value: pl.Expr, steps: Sequence[float]) -> pl.Expr:
    return (
        pl.when(value < steps[0])
        .then(0)
        .when(value < steps[1])
        .then(1)
        .when(value < steps[2])
        .then(2)
        .otherwise(3)
    )


def _level_of(settings: AnomalySettings, peak_score: pl.Expr, excess: pl.Expr) -> pl.Expr:
    """Severity as a number 0-3: the lower of the tier of the event's peak |score| (2k, 4k, 8k)
    and of its |excess| so far (4, 20 and 100 x min_abs)."""
    k, floor = settings.k, settings.min_abs
    return pl.min_horizontal(
        _tier(peak_score, [2 * k, 4 * k, 8 * k]),
        _tier(excess, [4 * floor, 20 * floor, 100 * floor]),
    )


def _relative(actual: pl.Expr, expected: pl.Expr, floor: float) -> pl.Expr:
    """(actual - expected) / max(|expected|, floor): a day's deviation relative to its level. A
    day's spend is a sum over many resources and hours, so its noise is about proportional to
    its level and about as likely up as down."""
    return (actual - expected) / pl.max_horizontal(expected.abs(), pl.lit(floor))


def _baselines(dense: pl.DataFrame, settings: AnomalySettings) -> pl.DataFrame:
    """Weekday factors, the recent and the settled level, the two expectations and the noise.

    Each step reads only days before the one scored (``shift(1)`` within the series or the
    series' weekday), so a day never explains itself."""
    sid, floor = "_sid", settings.spread_floor_abs
    actual = pl.col("actual")
    week_mean = actual.rolling_mean(7, min_samples=7).over(sid)
    frame = dense.with_columns(
        pl.int_range(pl.len()).over(sid).alias("_t"),
        pl.col(DAY).dt.weekday().alias("_weekday"),
        pl.when(week_mean > floor).then(actual.clip(lower_bound=0.0) / week_mean).alias("_ratio"),
    )
    season = (
        pl.col("_ratio")
        .shift(1)
        .rolling_median(settings.season_weeks, min_samples=2)
        .over([sid, "_weekday"])
        .fill_null(1.0)
        .clip(lower_bound=0.05)
    )
    frame = frame.with_columns(season.alias("season")).with_columns(
        (actual / pl.col("season")).alias("_level_value")
    )
    values = pl.col("_level_value").shift(1)
    frame = frame.with_columns(
        (
            values.rolling_median(settings.level_days, min_samples=7).over(sid) * pl.col("season")
        ).alias("expected_recent"),
        (
            values.rolling_median(7 * settings.weeks, min_samples=7).over(sid) * pl.col("season")
        ).alias("expected_settled"),
    )
    # The noise: 1.4826 x the median |relative residual| against the recent expectation over
    # the last spread_days days, twice: the second pass leaves out the days beyond 4 x the
    # first estimate (anomalies), so an event does not widen the band after it. Then the
    # residuals' lag-1 autocorrelation (winsorized at 3 x the noise, clipped to 0-0.8): busy
    # days come in runs, and a run's evidence is discounted by it.
    # Only residuals from the day the recent level has its full window: before, a series that
    # ramps up (a service launched) leaves the level behind and would inflate its noise for
    # the next spread_days days, hiding its first anomalies.
    residual = pl.when(pl.col("_t") >= settings.level_days).then(
        _relative(actual, pl.col("expected_recent"), floor)
    )
    first = MAD_SCALE * residual.abs().shift(1).rolling_median(
        settings.spread_days, min_samples=settings.spread_min_days
    ).over(sid)
    frame = frame.with_columns(residual.alias("_residual"), first.alias("_noise_first"))
    kept = pl.when(
        pl.col("_noise_first").is_null() | (pl.col("_residual").abs() <= 4 * pl.col("_noise_first"))
    ).then(pl.col("_residual"))
    noise = MAD_SCALE * kept.abs().shift(1).rolling_median(
        settings.spread_days, min_samples=settings.spread_min_days
    ).over(sid)
    bound = 3 * pl.col("_noise_first")
    clipped = pl.col("_residual").clip(-bound, bound)
    frame = frame.with_columns(clipped.alias("_clipped"))
    lagged = (pl.col("_clipped") * pl.col("_clipped").shift(1).over(sid)).shift(1)
    square = (pl.col("_clipped") ** 2).shift(1)
    window = settings.spread_days
    correlation = lagged.rolling_mean(window, min_samples=settings.spread_min_days).over(
        sid
    ) / square.rolling_mean(window, min_samples=settings.spread_min_days).over(sid)
    return frame.with_columns(
        pl.when(noise.is_not_null())
        .then(pl.max_horizontal(noise, pl.lit(settings.spread_floor_rel)))
        .alias("noise"),
        correlation.fill_nan(0.0).fill_null(0.0).clip(0.0, 0.8).alias("autocorrelation"),
    )


def _score_days(dense: pl.DataFrame, settings: AnomalySettings) -> pl.DataFrame:
    """Every day's expected cost, bounds and score, then its run and event (see the module's
    docstring)."""
    sid, floor, k = "_sid", settings.spread_floor_abs, settings.k
    frame = _baselines(dense, settings)
    actual = pl.col("actual")
    recent, settled = pl.col("expected_recent"), pl.col("expected_settled")
    use_settled = settled.is_not_null() & (
        (actual - settled).abs() < (actual - recent).abs()
    ).fill_null(False)
    frame = frame.with_columns(
        pl.when(use_settled).then(settled).otherwise(recent).alias("expected"),
        pl.when(use_settled).then(pl.lit("settled")).otherwise(pl.lit("recent")).alias("baseline"),
    )
    expected, noise = pl.col("expected"), pl.col("noise")
    frame = frame.with_columns(
        pl.max_horizontal(noise * expected.abs(), pl.lit(floor)).alias("spread")
    )
    enough = (
        (pl.col("_t") >= 7 * settings.min_history_weeks)
        & noise.is_not_null()
        & expected.is_not_null()
    )
    frame = frame.with_columns(
        (actual - expected).alias("deviation"),
        (expected - k * pl.col("spread")).alias("lower"),
        (expected + k * pl.col("spread")).alias("upper"),
        ((actual - expected) / pl.col("spread")).alias("score"),
        pl.min_horizontal(pl.col("_t") // 7, pl.lit(settings.weeks))
        .cast(pl.Int32)
        .alias("history_weeks"),
        enough.alias("_enough"),
    )
    frame = _cusum(frame, settings)
    # Runs: days beyond k_continue in one direction, gaps of up to gap_days days between them,
    # and the days of a stretch whose CUSUM passed its bar, in the stretch's direction.
    score = pl.col("score")
    weak = pl.col("_enough") & (score.abs() > settings.k_continue)
    sign = pl.when(pl.col("_cusum_sign") != 0).then(pl.col("_cusum_sign")).otherwise(score.sign())
    frame = frame.with_columns(
        (weak.fill_null(False) | (pl.col("_cusum_sign") != 0)).alias("_weak"), sign.alias("_sign")
    )
    sign = pl.col("_sign")
    last_weak = pl.when("_weak").then(pl.col("_t")).shift(1).forward_fill().over(sid)
    last_sign = pl.when("_weak").then(sign).shift(1).forward_fill().over(sid)
    starts = pl.col("_weak") & (
        last_weak.is_null()
        | (pl.col("_t") - last_weak - 1 > settings.gap_days)
        | (last_sign != sign).fill_null(True)
    )
    # A segment: consecutive weak days. Only a segment's own days can open an event (two weak
    # days with a quiet day between them are no evidence of anything); a gap only lets an
    # event that is open go on.
    consecutive = pl.col("_weak") & (last_weak == pl.col("_t") - 1) & (last_sign == sign)
    frame = frame.with_columns(
        starts.alias("_starts"), (pl.col("_weak") & ~consecutive.fill_null(False)).alias("_cuts")
    )
    frame = frame.with_columns(
        pl.when("_weak").then(pl.col("_starts").cum_sum()).alias("_run"),
        pl.when("_weak").then(pl.col("_cuts").cum_sum()).alias("_segment"),
    )
    runs = _runs(frame.filter("_weak"), settings)
    frame = frame.join(runs, on=["_sid", "_t"], how="left")
    status = (
        pl.when(~pl.col("_enough"))
        .then(pl.lit("insufficient_history"))
        .when(pl.col("_event_start").is_not_null())
        .then(pl.lit("anomaly"))
        .otherwise(pl.lit("normal"))
    )
    return frame.with_columns(
        status.alias("status"),
        pl.when(pl.col("deviation") < 0)
        .then(pl.lit("drop"))
        .when(pl.col("deviation").is_not_null())
        .then(pl.lit("spike"))
        .alias("direction"),
    )


def _cusum(frame: pl.DataFrame, settings: AnomalySettings) -> pl.DataFrame:
    """``frame`` with ``_cusum_sign`` (+1 / -1 on the days of a stretch whose CUSUM passed its
    bar, up to the day it did; 0 otherwise) and ``_cusum_open`` (that day).

    A small change kept for days (+25 % on a series with 10 % noise) has no day beyond the
    one-day bar and may have days below ``k_continue``; the classic tool for it is Page's
    CUSUM on the standardized residuals: S = max(0, S + z - drift), per series and direction,
    with z clipped to ``cusum_clip`` and discounted for autocorrelation. Its Lindley form
    S_t = C_t - min(0, min C_s<=t) (C the cumulative sum) is a column expression. The stretch
    starts the day after C's last minimum (the classic change-point estimate) and opens an
    event on the first day S exceeds ``cusum_threshold`` while its mean deviation is material
    (``min_abs``, ``min_rel``). The expected values of a stretch's days are what the baseline
    said before each day, and the noise leaves out days beyond 4 x its first estimate."""
    sid, rho = "_sid", pl.col("autocorrelation")
    enough = pl.col("_enough").fill_null(False)
    z = (pl.col("score").clip(-settings.cusum_clip, settings.cusum_clip)) * (
        (1 - rho) / (1 + rho)
    ).sqrt()
    relative = pl.col("deviation") / pl.max_horizontal(pl.col("expected").abs(), pl.lit(TINY))
    frame = frame.with_columns(
        pl.when(enough).then(z).otherwise(0.0).fill_null(0.0).alias("_z"),
        pl.when(enough).then(pl.col("deviation")).otherwise(0.0).fill_null(0.0).alias("_dev0"),
        pl.when(enough).then(relative).otherwise(0.0).fill_null(0.0).alias("_rel0"),
    )
    marks = []
    for direction, name in ((1, "_up"), (-1, "_down")):
        step = pl.when(enough).then(direction * pl.col("_z") - settings.cusum_drift).otherwise(0.0)
        total = step.cum_sum().over(sid)
        frame = frame.with_columns(total.alias(f"{name}_c"))
        c = pl.col(f"{name}_c")
        low = pl.min_horizontal(c.cum_min().over(sid), pl.lit(0.0))
        # A reset: C at its running minimum (or not enough history): the next day may start a
        # stretch. The stretch's id counts resets; its sums run from the day after one.
        reset = ((c <= low) | ~enough).cast(pl.Int32)
        frame = frame.with_columns((c - low).alias(f"{name}_s"), reset.alias(f"{name}_reset"))
        # Sums over a stretch: the series' running sum less its value at the stretch's reset
        # (windows over the series only, not over each stretch: thousands of small groups).
        inside = pl.col(f"{name}_reset") == 0
        at_reset = pl.col(f"{name}_reset") == 1

        def since_reset(
            value: pl.Expr, inside: pl.Expr = inside, at_reset: pl.Expr = at_reset
        ) -> pl.Expr:
            running = pl.when(inside).then(value).otherwise(0.0).cum_sum().over(sid)
            return running - pl.when(at_reset).then(running).forward_fill().over(sid)

        n = since_reset(pl.lit(1.0))
        alarm = (
            inside
            & (pl.col(f"{name}_s") > settings.cusum_threshold)
            & (direction * since_reset(pl.col("_dev0")) / n >= settings.min_abs)
            & (direction * since_reset(pl.col("_rel0")) / n >= settings.min_rel)
        )
        frame = frame.with_columns(alarm.alias(f"{name}_alarm"))
        alarms = since_reset(pl.col(f"{name}_alarm").cast(pl.Float64))
        frame = frame.with_columns(
            (pl.col(f"{name}_alarm") & (alarms == 1)).alias(f"{name}_open"),
            (alarms == 0).alias(f"{name}_before"),
        )
        # The stretch's days before its opening: inside, no alarm yet, and the next opening of
        # the series comes before its next reset.
        t = pl.col("_t")
        next_open = pl.when(f"{name}_open").then(t).backward_fill().over(sid)
        next_reset = pl.when(at_reset).then(t).backward_fill().over(sid)
        frame = frame.with_columns(
            (
                pl.col(f"{name}_open")
                | (
                    inside
                    & pl.col(f"{name}_before")
                    & next_open.is_not_null()
                    & (next_reset.is_null() | (next_open < next_reset))
                )
            ).alias(f"{name}_mark")
        )
        marks.append(name)
    up, down = "_up", "_down"
    return frame.with_columns(
        pl.when(pl.col(f"{up}_mark"))
        .then(1)
        .when(pl.col(f"{down}_mark"))
        .then(-1)
        .otherwise(0)
        .alias("_cusum_sign"),
        (pl.col(f"{up}_open") | pl.col(f"{down}_open")).alias("_cusum_open"),
    ).drop(
        [c for m in marks for c in frame.columns if c.startswith(m + "_")]
        + ["_z", "_dev0", "_rel0"]
    )


def _sum_variance(count: pl.Expr, rho: pl.Expr) -> pl.Expr:
    """Var(sum of ``count`` unit scores) whose lag-1 autocorrelation is ``rho`` (AR(1)):
    n (1 + rho) / (1 - rho) - 2 rho (1 - rho^n) / (1 - rho)^2, which is n when rho = 0."""
    n = count.cast(pl.Float64)
    return n * (1 + rho) / (1 - rho) - 2 * rho * (1 - rho.pow(n)) / (1 - rho) ** 2


def _runs(weak: pl.DataFrame, settings: AnomalySettings) -> pl.DataFrame:
    """Per weak day (sorted by series and day): whether it belongs to an event and, if so, the
    event's start, whether the event opened that day and its severity as of that day.

    A run opens an event on the first of its days where the sum of the scores of its current
    segment (consecutive days) so far, over its standard deviation (sqrt(n) for independent
    days, more with autocorrelation), exceeds k (k_one_day for one day; two days beyond
    k / sqrt 2 each, ...) and the segment's mean deviation so far is material (min_abs and
    min_rel). The event starts on the run's day from which that sum is
    strongest (the change point: a noisy day just before a spike is left out, the first day of
    a slow rise is not), and goes on while the run does."""
    run, segment = "_run", "_segment"
    relative = pl.col("deviation") / pl.max_horizontal(pl.col("expected").abs(), pl.lit(TINY))
    frame = weak.with_columns(
        pl.int_range(1, pl.len() + 1).over(run).alias("_n"),
        pl.col("score").cum_sum().over(run).alias("_sum"),
        pl.col("deviation").cum_sum().over(run).alias("_excess"),
        pl.col("score").abs().cum_max().over(run).alias("_peak"),
        pl.int_range(1, pl.len() + 1).over(segment).alias("_segment_n"),
        pl.col("score").cum_sum().over(segment).alias("_segment_sum"),
        pl.col("deviation").cum_sum().over(segment).alias("_segment_excess"),
        relative.cum_sum().over(segment).alias("_segment_relative"),
    )
    rho, n = pl.col("autocorrelation"), pl.col("_segment_n")
    passes = (
        (
            pl.col("_segment_sum").abs() / _sum_variance(n, rho).sqrt()
            > settings.k + (settings.k_one_day - settings.k) / n
        )
        & (pl.col("_segment_excess").abs() / n >= settings.min_abs)
        & (pl.col("_segment_relative").abs() / n >= settings.min_rel)
    ) | pl.col("_cusum_open")
    frame = frame.with_columns(passes.alias("_passes"))
    opened = pl.col("_passes").cum_sum().over(run)
    frame = frame.with_columns((pl.col("_passes") & (opened == 1)).alias("event_opened"))
    openings = frame.filter("event_opened").select(
        run,
        pl.col("_t").alias("_t_open"),
        pl.col("_sum").alias("_sum_open"),
        pl.col("_n").alias("_n_open"),
        pl.col("autocorrelation").alias("_rho_open"),
    )
    suffix = (pl.col("_sum_open") - (pl.col("_sum") - pl.col("score"))).abs()
    length = pl.col("_n_open") - pl.col("_n") + 1
    starts = (
        frame.select(run, "_t", DAY, "_sum", "score", "_n")
        .join(openings, on=run)
        .filter(pl.col("_t") <= pl.col("_t_open"))
        .with_columns((suffix / _sum_variance(length, pl.col("_rho_open")).sqrt()).alias("_stat"))
        .sort([run, "_stat", "_t"], descending=[False, True, False])
        .group_by(run, maintain_order=True)
        .first()
        .select(run, pl.col("_t").alias("_start_t"), pl.col(DAY).alias("_start_day"))
    )
    member = pl.col("_t") >= pl.col("_start_t")
    frame = frame.join(starts, on=run, how="left").with_columns(
        pl.when(member).then(pl.col("_start_day")).alias("_event_start"),
        _level_of(settings, pl.col("_peak"), pl.col("_excess").abs()).alias("_level"),
    )
    # Severity as of each day: from the opening day on, the highest level reached so far;
    # before it (the event's first days, counted in once it opened), the level it opened at.
    after_opening = pl.when(opened >= 1).then(pl.col("_level")).cum_max().over(run)
    at_opening = pl.col("_level").filter(pl.col("event_opened")).first().over(run)
    return frame.select(
        "_sid",
        "_t",
        "_event_start",
        "event_opened",
        after_opening.fill_null(at_opening)
        .replace_strict(dict(enumerate(SEVERITIES)), default=None, return_dtype=pl.String)
        .alias("severity"),
    )


def detect(
    series: pl.LazyFrame | pl.DataFrame,
    settings: AnomalySettings | None = None,
    as_of: date | None = None,
    *,
    since: date | None = None,
) -> pl.DataFrame:
    """Score every day of every series up to ``as_of`` (the newest day of data by default).

    ``series`` is what ``daily_series`` returns for ``settings.group_by`` (``BillingCurrency``
    for ``currency`` and ``EffectiveCost`` or ``actual`` for ``cost`` are accepted too). One row
    per series and day (from ``since`` on, if given): the key, ``day``, ``currency``,
    ``actual``, ``expected`` with the ``baseline`` it comes from (``recent`` or ``settled``),
    ``expected_recent``, ``expected_settled``, ``season`` (the weekday factor), ``noise`` (of
    the log), ``spread``, ``lower``, ``upper``, ``deviation``, ``score``, ``status``,
    ``direction``, ``severity`` (of the day's event as of that day), ``provisional``,
    ``history_weeks``, ``anomaly_id`` (of the series-day), and for anomalies ``event_id``,
    ``event_start`` and ``event_opened`` (the day its event opened). See the module's
    docstring for the method.
    """
    settings = settings or AnomalySettings()
    keys = [*settings.group_by, CURRENCY]
    collected, as_of = _prepare_series(series, keys, as_of)
    if collected.height == 0:
        return _empty_detection(collected, keys)
    dense, _ = _dense(collected, keys, settings.weeks)
    scored = _score_days(dense.rename({SERIES_COST: "actual"}), settings).with_columns(
        (pl.col(DAY) > pl.lit(as_of) - pl.duration(days=_settle_expr(settings, keys))).alias(
            "provisional"
        ),
        pl.col("event_opened").fill_null(False),
    )
    if since is not None:
        scored = scored.filter(pl.col(DAY) >= since)
    scored = _attach_ids(scored, keys)
    event = pl.concat_str(
        pl.col("anomaly_id").str.slice(0, 16),
        pl.lit("-"),
        pl.col("_event_start").dt.strftime("%Y%m%d"),
    )
    scored = scored.with_columns(
        pl.when(pl.col("status") == "anomaly").then(event).alias("event_id"),
        pl.when(pl.col("status") == "anomaly").then(pl.col("severity")).alias("severity"),
        pl.when(pl.col("status") == "anomaly").then(pl.col("_event_start")).alias("event_start"),
    )
    return scored.select(_DETECT_COLUMNS(keys)).sort([*keys, DAY], nulls_last=True)


def _DETECT_COLUMNS(keys: Sequence[str]) -> list[str]:  # noqa: N802 - a constant list
    return [*keys[:-1], DAY, CURRENCY, *DETECT_SCHEMA]


DETECT_SCHEMA = {
    "actual": pl.Float64,
    "expected": pl.Float64,
    "baseline": pl.String,
    "expected_recent": pl.Float64,
    "expected_settled": pl.Float64,
    "season": pl.Float64,
    "noise": pl.Float64,
    "spread": pl.Float64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "deviation": pl.Float64,
    "score": pl.Float64,
    "status": pl.String,
    "direction": pl.String,
    "severity": pl.String,
    "provisional": pl.Boolean,
    "history_weeks": pl.Int32,
    "anomaly_id": pl.String,
    "event_id": pl.String,
    "event_start": pl.Date,
    "event_opened": pl.Boolean,
}


def _empty_detection(collected: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    schema = {c: collected.schema[c] for c in keys} | {DAY: pl.Date} | DETECT_SCHEMA
    return pl.DataFrame(schema=schema).select(_DETECT_COLUMNS(keys))


# ---------------------------------------------------------------------------------------------
# New services, regions and models


def new_entities(
    focus: pl.LazyFrame | pl.DataFrame,
    as_of: date,
    settings: AnomalySettings | None = None,
    *,
    since: date | None = None,
) -> pl.DataFrame:
    """Services, regions and models that start spending: per ``new_entity_scope`` (provider and
    billing account by default) and currency, an entity whose spend starts after at least
    ``new_entity_lookback_days`` (30) days without any (and after at least that many days of
    data in its scope, so nothing is new on the lake's first days) is reported on its first day
    with a spend of at least ``new_entity_min_cost``, if that day comes within the lookback of
    the first spend (a new service ramping up from a few cents is still caught).

    Kinds: ``new_service`` (``ServiceName``), ``new_region`` (``RegionId``) and ``new_model``
    (``x_tag_model``, or a ``model`` column). Rows: ``kind``, the scope columns, ``currency``,
    ``value``, ``day``, ``cost`` (that day's), ``first_spend_day``, ``provisional`` and
    ``anomaly_id`` (of the scope, kind and value on that day)."""
    settings = settings or AnomalySettings()
    focus = _lazy(focus)
    names = focus.collect_schema().names()
    scope = [c for c in settings.new_entity_scope if c in names]
    keys = [*scope, CURRENCY]
    kinds = {kind: (column or _model_column(names)) for kind, column in NEW_ENTITY_KINDS.items()}
    kinds = {kind: column for kind, column in kinds.items() if column and column in names}
    columns = sorted(set(kinds.values()))
    base = (
        focus.select(
            *[pl.col(c) for c in scope],
            pl.col("BillingCurrency").alias(CURRENCY),
            _focus_day(focus),
            pl.col(COST).fill_null(0.0).cast(pl.Float64).alias(SERIES_COST),
            *[pl.col(c).cast(pl.String) for c in columns],
        )
        .filter(pl.col(DAY) <= as_of)
        .collect()
    )
    lookback = settings.new_entity_lookback_days
    scope_start = base.group_by(keys).agg(pl.col(DAY).min().alias("_scope_start"))
    found = []
    for kind, column in kinds.items():
        entity = [*keys, "value"]
        daily = (
            base.filter(pl.col(column).is_not_null())
            .group_by([*keys, column, DAY])
            .agg(pl.col(SERIES_COST).sum())
            .rename({column: "value"})
            .filter(pl.col(SERIES_COST) != 0)
            .join(scope_start, on=keys, how="left", nulls_equal=True)
            .sort([*entity, DAY], nulls_last=True)
        )
        # Sorted by entity then day: the previous row is the entity's previous day of spend
        # when its key is the same.
        same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(c).shift(1)) for c in entity])
        previous = pl.when(same).then(pl.col(DAY).shift(1))
        gap = ((pl.col(DAY) - previous).dt.total_days() > lookback).fill_null(False)
        history = pl.col("_scope_start") <= pl.col(DAY) - pl.duration(days=lookback)
        episodes = daily.with_columns(
            (previous.is_null() | gap).alias("_starts"),
            ((previous.is_null() & history.fill_null(False)) | gap).alias("_qualifies"),
        ).with_columns(
            pl.col("_starts").cum_sum().alias("_episode"),
            pl.when("_starts").then(pl.col(DAY)).forward_fill().alias("first_spend_day"),
            pl.when("_starts").then(pl.col("_qualifies")).forward_fill().alias("_qualifies"),
        )
        found.append(
            episodes.filter(
                pl.col("_qualifies")
                & (pl.col(SERIES_COST) >= settings.new_entity_min_cost)
                & (pl.col(DAY) < pl.col("first_spend_day") + pl.duration(days=lookback))
            )
            .unique("_episode", keep="first", maintain_order=True)
            .select(
                pl.lit(kind).alias("kind"),
                *keys,
                "value",
                DAY,
                SERIES_COST,
                "first_spend_day",
            )
        )
    schema = {"kind": pl.String, **{c: base.schema[c] for c in keys}, "value": pl.String}
    schema |= {DAY: pl.Date, SERIES_COST: pl.Float64, "first_spend_day": pl.Date}
    result = pl.concat(
        [pl.DataFrame(schema=schema), *[f.cast(schema) for f in found]], how="vertical"
    )
    if since is not None:
        result = result.filter(pl.col(DAY) >= since)
    result = result.with_columns(
        (pl.col(DAY) > pl.lit(as_of) - pl.duration(days=_settle_expr(settings, keys))).alias(
            "provisional"
        )
    )
    return _attach_ids(result, ["kind", *keys, "value"]).sort(
        DAY, "kind", *keys, "value", nulls_last=True
    )


# ---------------------------------------------------------------------------------------------
# Untagged share


def untagged_share_jumps(
    focus: pl.LazyFrame | pl.DataFrame, settings: AnomalySettings | None = None
) -> pl.DataFrame:
    """Days when the untagged share of a provider's spend jumps, per provider and currency.

    *Taggable* cost is the ``EffectiveCost`` of rows whose ``x_Untaggable`` is not true (tax,
    support, credits, marketplace and commitment fees cannot carry a tag); *untagged* cost is
    the taggable cost whose ``untagged_column`` (``x_tag_project``) is null. The day's share is
    untagged / taggable (no share where taggable cost is 0 or less); its baseline is the median
    share of the same weekday over the last ``weeks`` weeks, with at least
    ``min_history_weeks`` of them. A day is reported when its share exceeds the baseline by
    more than ``untagged_jump`` (0.10: ten percentage points) and its untagged cost is at
    least ``min_abs``. Rows: ``x_Provider``, ``currency``, ``day``, ``taggable_cost``,
    ``untagged_cost``, ``untagged_share``, ``baseline_share``, ``jump``, ``history_weeks``."""
    settings = settings or AnomalySettings()
    focus = _lazy(focus)
    names = focus.collect_schema().names()
    untaggable = (
        pl.col("x_Untaggable").fill_null(False) if "x_Untaggable" in names else pl.lit(False)
    )
    tag = settings.untagged_column
    untagged = pl.col(tag).is_null() if tag in names else pl.lit(True)
    provider = pl.col(PROVIDER) if PROVIDER in names else pl.lit(None, pl.String)
    keys = [PROVIDER, CURRENCY]
    cost = pl.col(COST).fill_null(0.0)
    daily = (
        focus.select(
            provider.alias(PROVIDER),
            pl.col("BillingCurrency").alias(CURRENCY),
            _focus_day(focus),
            pl.when(~untaggable).then(cost).otherwise(0.0).alias("taggable_cost"),
            pl.when(~untaggable & untagged).then(cost).otherwise(0.0).alias("untagged_cost"),
        )
        .group_by([*keys, DAY])
        .agg(pl.col("taggable_cost").sum(), pl.col("untagged_cost").sum())
        .collect()
    )
    ids = daily.select(keys).unique().with_row_index("_sid")
    grid = (
        daily.group_by(keys)
        .agg(pl.col(DAY).min().alias("_first"), pl.col(DAY).max().alias("_last"))
        .join(ids, on=keys, nulls_equal=True)
        .select("_sid", *keys, pl.date_ranges("_first", "_last").alias(DAY))
        .explode(DAY)
    )
    share = pl.when(pl.col("taggable_cost") > 0).then(
        pl.col("untagged_cost") / pl.col("taggable_cost")
    )
    scored = (
        grid.join(daily, on=[*keys, DAY], how="left", nulls_equal=True)
        .sort("_sid", DAY)
        .with_columns(share.alias("untagged_share"))
        .pipe(_baseline, "untagged_share", "_sid", settings.weeks)
        .rename({"expected": "baseline_share"})
        .with_columns((pl.col("untagged_share") - pl.col("baseline_share")).alias("jump"))
    )
    return (
        scored.filter(
            (pl.col("history_weeks") >= settings.min_history_weeks)
            & (pl.col("jump") > settings.untagged_jump)
            & (pl.col("untagged_cost") >= settings.min_abs)
        )
        .select(
            *keys,
            DAY,
            "taggable_cost",
            "untagged_cost",
            "untagged_share",
            "baseline_share",
            "jump",
            "history_weeks",
        )
        .sort(*keys, DAY, nulls_last=True)
    )


# ---------------------------------------------------------------------------------------------
# Explanations

EXPLAIN_SCHEMA = {
    "anomaly_id": pl.String,
    DAY: pl.Date,
    "dimension": pl.String,
    "rank": pl.Int32,
    "value": pl.String,
    "actual": pl.Float64,
    "expected": pl.Float64,
    "adjustment": pl.Float64,
    "contribution": pl.Float64,
    "share": pl.Float64,
}


def explain(
    focus: pl.LazyFrame | pl.DataFrame,
    anomalies: pl.DataFrame,
    settings: AnomalySettings | None = None,
    *,
    top_n: int | None = None,
) -> pl.DataFrame:
    """Which values of each child dimension moved each anomaly, adding up to its delta.

    ``anomalies`` is ``detect``'s output (rows whose status is not ``anomaly`` are ignored);
    ``focus`` the FOCUS rows the series were made from. For each anomaly and each of
    ``settings.child_dimensions`` present in ``focus`` (``x_tag_model`` falls back to a
    ``model`` column; a null value is ``(none)``):

    1. each child value's ``actual`` is its cost on the day, and its ``expected`` its own
       baseline: the median of its cost on the same weekday over the same weeks as the
       anomaly's (``history_weeks``), a week without spend counting as 0;
    2. its raw contribution is ``actual - expected``. Medians do not add up: the children's
       baselines need not sum to the parent's, so the raw contributions need not sum to the
       anomaly's delta (``actual - expected`` of the anomaly). The difference, the
       *adjustment*, is spread over the values in proportion to their baselines (|expected|;
       by |actual| where every baseline is 0, evenly where every actual is 0 too), and the
       contribution is ``actual - expected + adjustment``: per dimension the contributions
       sum to the delta, to float precision;
    3. the ``top_n`` values (``settings.explain_top_n``) by |contribution| (ties by value) are
       kept, ranked, and the rest are summed into one ``(other)`` row, so the sums stay exact.

    Rows: ``anomaly_id``, ``day``, ``dimension``, ``rank``, ``value``, ``actual``, ``expected``
    (the value's own baseline), ``adjustment``, ``contribution`` and ``share`` (contribution /
    delta)."""
    settings = settings or AnomalySettings()
    top_n = top_n or settings.explain_top_n
    focus = _lazy(focus)
    names = focus.collect_schema().names()
    keys = [*settings.group_by, CURRENCY]
    if "status" in anomalies.columns:
        anomalies = anomalies.filter(pl.col("status") == "anomaly")
    dimensions = []
    for dimension in settings.child_dimensions:
        column = _model_column(names) if dimension == "x_tag_model" else dimension
        if column in names and column not in keys:
            dimensions.append((dimension, column))
    if anomalies.height == 0 or not dimensions:
        return pl.DataFrame(schema=EXPLAIN_SCHEMA)

    if "history_weeks" not in anomalies.columns:
        anomalies = anomalies.with_columns(pl.lit(settings.weeks).alias("history_weeks"))
    parents = anomalies.select(
        *keys,
        DAY,
        "anomaly_id",
        pl.col("history_weeks").cast(pl.Int64),
        (pl.col("actual") - pl.col("expected")).alias("_delta"),
    )
    offsets = parents.with_columns(
        pl.int_ranges(0, pl.col("history_weeks") + 1).alias("_week")
    ).explode("_week")
    offsets = offsets.with_columns(
        (pl.col(DAY) - pl.duration(days=7 * pl.col("_week"))).alias("_target")
    )
    needed = offsets.select(*keys, pl.col("_target").alias(DAY)).unique()
    base = (
        focus.select(
            *[pl.col(c) for c in settings.group_by],
            pl.col("BillingCurrency").alias(CURRENCY),
            _focus_day(focus),
            pl.col(COST).fill_null(0.0).cast(pl.Float64).alias(SERIES_COST),
            *[pl.col(column).cast(pl.String).alias(name) for name, column in dimensions],
        )
        .join(needed.lazy(), on=[*keys, DAY], how="semi", nulls_equal=True)
        .collect()
    )
    out = []
    for name, _ in dimensions:
        child = (
            base.group_by([*keys, DAY, name])
            .agg(pl.col(SERIES_COST).sum())
            .with_columns(pl.col(name).fill_null(NONE_VALUE).alias("value"))
            .drop(name)
        )
        joined = offsets.join(
            child,
            left_on=[*keys, "_target"],
            right_on=[*keys, DAY],
            how="inner",
            nulls_equal=True,
        )
        per_value = joined.group_by("anomaly_id", "value").agg(
            pl.col(SERIES_COST).filter(pl.col("_week") == 0).sum().alias("actual"),
            pl.col(SERIES_COST).filter(pl.col("_week") > 0).alias("_lags"),
            pl.col("history_weeks").first(),
            pl.col("_delta").first(),
            pl.col(DAY).first(),
        )
        padding = pl.lit(0.0).repeat_by(pl.col("history_weeks") - pl.col("_lags").list.len())
        per_value = per_value.with_columns(
            pl.concat_list("_lags", padding).list.median().fill_null(0.0).alias("expected")
        )
        out.append(_reconcile(per_value, top_n).with_columns(pl.lit(name).alias("dimension")))
    return (
        pl.concat(out, how="vertical")
        .select(list(EXPLAIN_SCHEMA))
        .cast(EXPLAIN_SCHEMA)
        .sort("anomaly_id", "dimension", "rank")
    )


def _reconcile(per_value: pl.DataFrame, top_n: int) -> pl.DataFrame:
    """Contributions that sum to the delta per anomaly, the top ``top_n`` and ``(other)``."""
    group = "anomaly_id"
    raw = pl.col("actual") - pl.col("expected")

    def weights(column: str) -> pl.Expr:
        return pl.col(column).abs() / pl.col(column).abs().sum().over(group)

    even = 1.0 / pl.len().over(group)
    weight = (
        pl.when(pl.col("expected").abs().sum().over(group) > 0)
        .then(weights("expected"))
        .when(pl.col("actual").abs().sum().over(group) > 0)
        .then(weights("actual"))
        .otherwise(even)
    )
    residual = pl.col("_delta") - raw.sum().over(group)
    ranked = (
        per_value.with_columns((residual * weight).alias("adjustment"))
        .with_columns((raw + pl.col("adjustment")).alias("contribution"))
        .with_columns(pl.col("contribution").abs().alias("_size"))
        .sort([group, "_size", "value"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over(group).cast(pl.Int32).alias("rank"))
    )
    kept = ranked.filter(pl.col("rank") <= top_n)
    rest = (
        ranked.filter(pl.col("rank") > top_n)
        .group_by(group)
        .agg(
            pl.col(DAY).first(),
            pl.col("_delta").first(),
            pl.lit(OTHER).alias("value"),
            pl.lit(top_n + 1, pl.Int32).alias("rank"),
            *[pl.col(c).sum() for c in ("actual", "expected", "adjustment", "contribution")],
        )
    )
    columns = [group, DAY, "value", "rank", "actual", "expected", "adjustment", "contribution"]
    both = pl.concat(
        [kept.select(*columns, "_delta"), rest.select(*columns, "_delta")], how="vertical"
    )
    return both.with_columns(
        pl.when(pl.col("_delta") != 0)
        .then(pl.col("contribution") / pl.col("_delta"))
        .alias("share")
    ).drop("_delta")
