"""How much has a budget's scope spent, day by day, in the budget's currency?

The scope is a filter on lake columns (``settings.SCOPE_KEYS``). Spend in the budget's currency
is summed as it is; spend in another currency only through the dated rate table of
``costlake.focus.currency`` (the converted ``x_Converted*`` columns), and without one the budget
refuses it, naming the currencies: amounts of two currencies are never added.

Each day's spend is split into usage and recurring fees (FOCUS ``ChargeFrequency`` =
``Recurring``): the forecast extrapolates usage but repeats recurring fees as they were billed,
because those are known ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from costlake.budgets.settings import SCOPE_KEYS, Budget
from costlake.focus.currency import CONVERTED_COSTS, with_converted_cost

DAY = "day"
DAILY_SCHEMA = {DAY: pl.Date, "usage": pl.Float64, "recurring": pl.Float64}


def scope_filter(scope: dict[str, list[str]]) -> pl.Expr:
    """The rows of a scope: every key's column holds one of its values (empty scope: all)."""
    return pl.all_horizontal(
        pl.lit(True), *[pl.col(SCOPE_KEYS[key]).is_in(values) for key, values in scope.items()]
    )


def in_budget_currency(
    focus: pl.LazyFrame, budget: Budget, rates: pl.DataFrame | None
) -> tuple[pl.LazyFrame, str]:
    """The scope's rows, and the column holding their cost in the budget's currency.

    Raises ``ValueError`` naming the budget and the other currencies when some spend of the
    scope is in another currency and there is no rate table (or it lacks a needed rate)."""
    scoped = focus.filter(scope_filter(budget.scope))
    if rates is not None:
        try:
            converted = with_converted_cost(scoped, rates, budget.currency)
        except ValueError as exc:
            raise ValueError(f"budget {budget.name}: {exc}") from None
        return converted, CONVERTED_COSTS[budget.measure]
    others = (
        scoped.filter(pl.col("BillingCurrency") != budget.currency)
        .group_by("BillingCurrency")
        .agg(pl.len().alias("rows"))
        .sort("BillingCurrency")
        .collect()
    )
    if others.height:
        found = ", ".join(f"{c} ({n:,} rows)" for c, n in others.iter_rows())
        raise ValueError(
            f"budget {budget.name}: its scope has spend in {found}, the budget is in "
            f"{budget.currency}; set exchange_rates (a dated rate table, see docs/currency.md) "
            "or narrow the scope to one currency: currencies are never added together"
        )
    return scoped, budget.measure


def daily_spend(
    scoped: pl.LazyFrame, cost: str, first: date, through: date, by: Sequence[str] = ()
) -> pl.DataFrame:
    """Usage and recurring spend of each day ``first`` .. ``through`` per ``by`` (no ``by``:
    one series, every day present, days without spend 0). Aggregated lazily, so only the
    daily sums are collected."""
    if first > through:
        return pl.DataFrame(schema={**{k: pl.String for k in by}, **DAILY_SCHEMA})
    recurring = pl.col("ChargeFrequency") == "Recurring"
    charged = (
        scoped.with_columns(pl.col("ChargePeriodStart").dt.date().alias(DAY))
        .filter(pl.col(DAY).is_between(first, through))
        .group_by(*by, DAY)
        .agg(
            pl.col(cost).filter(~recurring | recurring.is_null()).sum().alias("usage"),
            pl.col(cost).filter(recurring).sum().alias("recurring"),
        )
        .collect()
        .cast({"usage": pl.Float64, "recurring": pl.Float64})
    )
    if by:
        return charged.sort(*by, DAY)
    return filled(charged, first, through)


def filled(daily: pl.DataFrame, first: date, through: date) -> pl.DataFrame:
    """One series' daily sums with every day ``first`` .. ``through`` present (absent: 0)."""
    days = pl.DataFrame({DAY: pl.date_range(first, through, "1d", eager=True)})
    return (
        days.join(daily.select(list(DAILY_SCHEMA)), on=DAY, how="left")
        .with_columns(pl.col("usage", "recurring").fill_null(0.0))
        .select(list(DAILY_SCHEMA))
    )


def top_movers(
    scoped: pl.LazyFrame, cost: str, as_of: date, count: int = 3
) -> list[tuple[str, float, float]]:
    """The scope's provider · service values whose spend moved most between the 7 days to
    ``as_of`` and the 7 days before: (name, before, now), biggest change first."""
    week = as_of - timedelta(days=6)
    before = week - timedelta(days=7)
    day = pl.col("ChargePeriodStart").dt.date()
    moved = (
        scoped.filter(day.is_between(before, as_of))
        .group_by(pl.concat_str("x_Provider", "ServiceName", separator=" · ").alias("name"))
        .agg(
            pl.col(cost).filter(day < week).sum().cast(pl.Float64).alias("before"),
            pl.col(cost).filter(day >= week).sum().cast(pl.Float64).alias("now"),
        )
        .with_columns((pl.col("now") - pl.col("before")).abs().alias("change"))
        .sort(["change", "name"], descending=[True, False], nulls_last=True)
        .head(count)
        .collect()
    )
    return [(n or "(none)", b, a) for n, b, a in moved.select("name", "before", "now").iter_rows()]
