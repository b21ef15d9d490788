"""How much should we commit, and when does it pay off?

The model (a savings plan, or reservations sized in on-demand dollars): a commitment level
``L`` (on-demand value per hour it covers) costs ``(1 - d) * L`` every hour, used or not, where
``d`` is the commitment's discount against on demand. In an hour of eligible on-demand usage
``u`` it covers ``min(u, L)`` and the rest is paid on demand, so over the hours of a window

    net savings S(L) = Σ_t min(u_t, L) - (1 - d) * L * T

S is concave and piecewise linear with kinks at the observed ``u_t``, so its maximum is at one
of them (or 0): ``optimal_level`` evaluates every candidate, vectorized, and keeps the best
(the smallest level among equals). A commitment breaks even at utilization ``1 - d`` (the share
of its hours it must be used to cost no more than on demand). The risk is the fall of usage
it survives: ``survivable_drop`` is the largest uniform drop of usage at which the chosen level
still saves (found by bisection: S falls monotonically as usage falls).

AI capacity (PTU, model units) is the same question in tokens: a unit costing ``c`` per hour
pays for itself against pay-as-you-go tokens at ``p`` per token above ``c / 60 / p`` tokens per
minute (``capacity_break_even_tpm``); ``compare_capacity`` puts the observed tokens per minute
from the bill's token lines (and the peak from request logs) beside it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path

import polars as pl

from costlake.commitments.dataset import COMMITMENT_ROLE, link_columns
from costlake.commitments.marts import eligible_usage

DISCOUNTS_CSV = Path(__file__).resolve().parent.parent / "data" / "commitment_discounts.csv"
TERMS = ("1y", "3y")
FLEX = 0.20  # the level ± this share is reported beside the optimum
USAGE_DROPS = (0.1, 0.2, 0.3, 0.5)


@cache
def default_discounts() -> dict[tuple[str, str], float]:
    """(provider, term) → the discount assumed when none is given (``data/commitment_discounts.
    csv``, each row with its source): a planning default, not a price quote."""
    with DISCOUNTS_CSV.open(encoding="utf-8", newline="") as handle:
        return {(r["provider"], r["term"]): float(r["discount"]) for r in csv.DictReader(handle)}


Usage = pl.Series | Sequence[float]


def _series(usage: Usage) -> pl.Series:
    return pl.Series("usage", usage, dtype=pl.Float64)


def net_savings(usage: Usage, level: float, discount: float) -> float:
    """S(L) of the module doc over the hours of ``usage`` (on-demand cost per hour)."""
    hours = _series(usage)
    covered = hours.clip(upper_bound=level).sum() if len(hours) else 0.0
    return float(covered - (1.0 - discount) * level * len(hours))


def optimal_level(usage: Usage, discount: float) -> float:
    """The commitment level (on-demand value per hour) that maximizes ``net_savings``.

    Candidates are 0 and every observed hourly usage; Σ min(u, L) at each is a prefix sum of the
    sorted usage, so all are evaluated in O(n log n)."""
    ordered = _series(usage).sort()
    count = len(ordered)
    if count == 0:
        return 0.0
    # For L = the k-th smallest: Σ min(u, L) = Σ of the k smallest + L x (n - k).
    frame = pl.DataFrame(
        {
            "level": pl.concat([pl.Series([0.0]), ordered]),
            "below": pl.concat([pl.Series([0.0]), ordered.cum_sum()]),
            "above": pl.Series(range(count, -1, -1), dtype=pl.Float64),
        }
    ).with_columns(
        savings=pl.col("below")
        + pl.col("level") * pl.col("above")
        - (1.0 - discount) * pl.col("level") * count
    )
    best = frame["savings"].arg_max()  # the first, so the smallest level among equals
    return float(frame["level"][best])


def survivable_drop(usage: Usage, level: float, discount: float) -> float:
    """The largest share by which all usage can fall with the level still saving (0 when it
    does not save now, 1 when it saves even at no usage, which needs no commitment cost)."""
    if level <= 0 or net_savings(usage, level, discount) <= 0:
        return 0.0
    low, high = 0.0, 1.0  # usage kept
    hours = _series(usage)
    for _ in range(60):
        mid = (low + high) / 2
        if net_savings(hours * mid, level, discount) > 0:
            high = mid
        else:
            low = mid
    return 1.0 - high


@dataclass(frozen=True)
class LevelOutcome:
    """What one commitment level would have done over the window."""

    level: float  # on-demand value per hour covered
    hourly_commitment: float  # (1 - d) x level: what it costs per hour
    savings: float  # net savings over the window
    utilization: float  # share of the commitment's value used


@dataclass(frozen=True)
class Recommendation:
    """The level that maximizes net savings, with its neighbours and its risk."""

    provider: str
    term: str
    discount: float
    currency: str
    hours: int
    granularity: str  # "hourly" | "daily" (a day's usage spread over its 24 hours)
    on_demand_cost: float  # of the eligible uncovered usage in the window
    best: LevelOutcome
    lower: LevelOutcome  # best level x (1 - FLEX)
    upper: LevelOutcome  # best level x (1 + FLEX)
    break_even_utilization: float  # 1 - d
    survivable_drop: float
    savings_if_usage_falls: dict[float, float] = field(default_factory=dict)


def _outcome(usage: pl.Series, level: float, discount: float) -> LevelOutcome:
    used = float(usage.clip(upper_bound=level).sum())
    possible = level * len(usage)
    return LevelOutcome(
        level=level,
        hourly_commitment=(1.0 - discount) * level,
        savings=net_savings(usage, level, discount),
        utilization=used / possible if possible else 0.0,
    )


def recommend(
    usage: Usage,
    discount: float,
    *,
    provider: str = "",
    term: str = "1y",
    currency: str = "",
    granularity: str = "hourly",
) -> Recommendation:
    """The commitment to buy for ``usage`` (on-demand cost per hour, one value an hour)."""
    usage = _series(usage)
    best = optimal_level(usage, discount)
    return Recommendation(
        provider=provider,
        term=term,
        discount=discount,
        currency=currency,
        hours=len(usage),
        granularity=granularity,
        on_demand_cost=float(usage.sum()),
        best=_outcome(usage, best, discount),
        lower=_outcome(usage, best * (1 - FLEX), discount),
        upper=_outcome(usage, best * (1 + FLEX), discount),
        break_even_utilization=1.0 - discount,
        survivable_drop=survivable_drop(usage, best, discount),
        savings_if_usage_falls={
            drop: net_savings(usage * (1 - drop), best, discount) for drop in USAGE_DROPS
        },
    )


def eligible_hourly_usage(
    focus: pl.LazyFrame, provider: str, days: int
) -> tuple[pl.Series, str, str]:
    """The last ``days`` days (ending at the newest usage) of a provider's eligible usage not
    yet covered by a commitment, as on-demand cost per hour, with its currency and granularity.

    Rows of an hour or less are summed per hour; rows of a day (or longer) are spread evenly
    over their hours ("daily"), which hides peaks inside the day. One currency only: a window
    with several is refused rather than added up.
    """
    rows = (
        link_columns(focus.filter(pl.col("x_Provider") == provider))
        .filter(eligible_usage() & pl.col(COMMITMENT_ROLE).is_null())
        .select(
            "ChargePeriodStart",
            "ChargePeriodEnd",
            "ListCost",
            "BillingCurrency",
        )
        .collect()
    )
    if rows.is_empty():
        raise ValueError(f"no eligible uncovered usage of {provider} in the lake")
    currencies = rows["BillingCurrency"].unique().to_list()
    if len(currencies) > 1:
        raise ValueError(f"{provider}: eligible usage in several currencies {currencies}")
    end = rows["ChargePeriodEnd"].max()
    first = end - timedelta(days=days)
    hours = (
        rows.with_columns(
            length=(pl.col("ChargePeriodEnd") - pl.col("ChargePeriodStart")).dt.total_hours()
        )
        .with_columns(length=pl.col("length").clip(lower_bound=1))
        .with_columns(
            hour=pl.datetime_ranges(
                pl.col("ChargePeriodStart").dt.truncate("1h"),
                pl.col("ChargePeriodEnd") - pl.duration(microseconds=1),
                "1h",
            ),
            per_hour=pl.col("ListCost") / pl.col("length"),
        )
        .explode("hour")
        .filter(pl.col("hour") >= first)
        .group_by("hour")
        .agg(pl.col("per_hour").sum())
    )
    window = pl.datetime_range(
        first, end, "1h", closed="left", eager=True, time_unit="us", time_zone="UTC"
    ).alias("hour")
    series = (
        pl.DataFrame(window)
        .join(hours, on="hour", how="left")
        .sort("hour")
        .get_column("per_hour")
        .fill_null(0.0)
    )
    lengths = (rows["ChargePeriodEnd"] - rows["ChargePeriodStart"]).dt.total_hours()
    daily = bool(lengths.median() >= 24)
    return series, str(currencies[0]), "daily" if daily else "hourly"


@dataclass(frozen=True)
class CapacityComparison:
    """Provisioned AI capacity (per unit and hour) against pay-as-you-go tokens."""

    tokens: float
    minutes: float
    payg_cost: float
    price_per_token: float
    average_tpm: float
    peak_tpm: float | None  # from request logs, when given
    unit_hourly_cost: float
    break_even_tpm: float  # per unit
    units: int | None  # for the peak, when tokens per minute per unit is known
    capacity_cost: float | None  # units x hourly cost x hours of the window


def capacity_break_even_tpm(unit_hourly_cost: float, price_per_token: float) -> float:
    """Tokens per minute above which one capacity unit costs less than pay-as-you-go."""
    return unit_hourly_cost / 60.0 / price_per_token


def compare_capacity(
    tokens: float,
    payg_cost: float,
    minutes: float,
    unit_hourly_cost: float,
    *,
    peak_tpm: float | None = None,
    tpm_per_unit: float | None = None,
) -> CapacityComparison:
    """Pay-as-you-go ``tokens`` costing ``payg_cost`` over ``minutes`` against capacity units."""
    if tokens <= 0 or minutes <= 0:
        raise ValueError("no pay-as-you-go tokens in the window to compare capacity with")
    price = payg_cost / tokens
    units = None
    capacity_cost = None
    if tpm_per_unit:
        units = max(1, math.ceil((peak_tpm or tokens / minutes) / tpm_per_unit))
        capacity_cost = units * unit_hourly_cost * minutes / 60.0
    return CapacityComparison(
        tokens=tokens,
        minutes=minutes,
        payg_cost=payg_cost,
        price_per_token=price,
        average_tpm=tokens / minutes,
        peak_tpm=peak_tpm,
        unit_hourly_cost=unit_hourly_cost,
        break_even_tpm=capacity_break_even_tpm(unit_hourly_cost, price),
        units=units,
        capacity_cost=capacity_cost,
    )


def payg_tokens(lines: pl.LazyFrame, model: str | None = None) -> tuple[float, float, float]:
    """(tokens, cost, minutes) of the pay-as-you-go token lines (``token_lines`` output, the
    provisioned tier excluded): EffectiveCost summed, over the whole days the lines span."""
    standard = lines.filter(pl.col("tier") != "provisioned")
    if model:
        standard = standard.filter(pl.col("model") == model)
    totals = standard.select(
        pl.col("quantity").sum().alias("tokens"),
        pl.col("EffectiveCost").sum().alias("cost"),
        ((pl.col("day").max() - pl.col("day").min()).dt.total_days() + 1).alias("days"),
        pl.col("BillingCurrency").n_unique().alias("currencies"),
    ).collect()
    tokens, cost, days, currencies = totals.row(0)
    if currencies and currencies > 1:
        raise ValueError("token lines in several currencies: choose a provider or a model")
    return float(tokens or 0.0), float(cost or 0.0), float(days or 0) * 24 * 60


def peak_tokens_per_minute(
    requests: pl.LazyFrame, model: str | None = None, quantile: float = 0.95
) -> float | None:
    """The ``quantile`` of tokens (input + output) per busy minute of request logs
    (``llm_requests`` rows): what capacity must carry, where the bill only has daily totals."""
    rows = requests
    if model:
        rows = rows.filter(pl.col("model_responded").fill_null(pl.col("model_requested")) == model)
    minutes = (
        rows.group_by(pl.col("start_time").dt.truncate("1m"))
        .agg((pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)).sum())
        .collect()
    )
    if minutes.is_empty():
        return None
    return float(minutes.get_column("input_tokens").quantile(quantile, "higher"))
