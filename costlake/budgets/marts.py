"""Is each budget on track? The budgets and forecasts marts of a billing period, and its alerts.

For a billing period (the Dagster partition) each budget is evaluated over the budget period
that holds it (its month, quarter or year): spend to date in the budget's currency
(``spend.in_budget_currency``), the forecast at the period's end with its interval
(``forecast.forecast_period``), the share used and the thresholds crossed now. ``status`` is
``over`` (actual spend at or past the amount), ``at_risk`` (some threshold crossed), ``ok``, or
``no_data`` (no spend of the period in the lake yet).

Alerts are derived from the thresholds crossed *now*, each with an id stable per budget, budget
period and threshold (``budget:<name>:<period>:<threshold>``): the outbox keeps every id it has
seen, so a rerun announces nothing twice, and a restatement that lowers spend under a threshold
simply stops crossing it (its status clears) without any second message if it crosses again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from costlake.budgets.forecast import DEFAULT_METHOD, forecast_period
from costlake.budgets.settings import Budget
from costlake.budgets.spend import DAY, daily_spend, filled, in_budget_currency, top_movers

# Days of history before a period that feed the forecast (the seasonal methods use 2-4 weeks,
# and their interval four more weeks of past forecasts).
HISTORY_DAYS = 63
BUDGETS_SCHEMA = {
    "budget": pl.String,
    "billing_period": pl.String,  # the partition this row was computed for (YYYY-MM)
    "period": pl.String,  # the budget's period: 2026-11, 2026-Q4 or 2026
    "period_start": pl.Date,
    "period_end": pl.Date,  # its last day
    "as_of": pl.Date,  # the last day of spend counted
    "measure": pl.String,  # EffectiveCost | BilledCost
    "currency": pl.String,
    "amount": pl.Float64,
    "actual": pl.Float64,  # spend to date, in currency
    "forecast": pl.Float64,  # forecast total at period_end
    "forecast_lower": pl.Float64,
    "forecast_upper": pl.Float64,
    "pct_used": pl.Float64,  # actual / amount × 100
    "pct_forecast": pl.Float64,  # forecast / amount × 100
    "status": pl.String,  # ok | at_risk | over | no_data
    "crossed": pl.String,  # thresholds crossed now, e.g. "actual-80,forecast-100" ("" none)
    "method": pl.String,  # the forecast method used
}
FORECASTS_SCHEMA = {
    "billing_period": pl.String,
    "scope": pl.String,  # budget | provider_service
    "series": pl.String,  # the budget's name, or "<provider> · <service>"
    "x_Provider": pl.String,  # null for a budget
    "ServiceName": pl.String,  # null for a budget
    "horizon": pl.String,  # month | quarter | year
    "period": pl.String,
    "period_end": pl.Date,
    "as_of": pl.Date,
    "currency": pl.String,
    "actual": pl.Float64,
    "forecast": pl.Float64,
    "forecast_lower": pl.Float64,
    "forecast_upper": pl.Float64,
    "method": pl.String,
}


def budget_period(billing_period: str, kind: str) -> tuple[str, date, date]:
    """The label, first and last day of the month, quarter or year holding ``billing_period``."""
    year, month = (int(part) for part in billing_period.split("-"))
    if kind == "month":
        first, months, label = date(year, month, 1), 1, f"{year}-{month:02d}"
    elif kind == "quarter":
        quarter = (month - 1) // 3
        first, months, label = date(year, 3 * quarter + 1, 1), 3, f"{year}-Q{quarter + 1}"
    else:
        first, months, label = date(year, 1, 1), 12, f"{year}"
    ends = first.month - 1 + months
    after = date(first.year + ends // 12, ends % 12 + 1, 1)
    return label, first, after - timedelta(days=1)


def _forecast(daily: pl.DataFrame, first: date, last: date, method: str):
    return forecast_period(
        daily[DAY].to_list(),
        daily["usage"].to_list(),
        daily["recurring"].to_list(),
        first,
        last,
        method,
    )


def crossed_thresholds(
    budget: Budget, actual: float, forecast: float, period_over: bool
) -> list[str]:
    """The thresholds crossed by spend to date, and (while the period runs) by the forecast."""
    crossed = [
        f"actual-{t:g}" for t in budget.thresholds.actual if actual >= budget.amount * t / 100
    ]
    if not period_over:
        crossed += [
            f"forecast-{t:g}"
            for t in budget.thresholds.forecast
            if forecast >= budget.amount * t / 100
        ]
    return crossed


def evaluate_budgets(
    focus: pl.LazyFrame,
    budgets: Sequence[Budget],
    rates: pl.DataFrame | None,
    billing_period: str,
    horizon: date,
    method: str = DEFAULT_METHOD,
) -> tuple[pl.DataFrame, dict[str, list[tuple[str, float, float]]]]:
    """The budgets mart of ``billing_period`` with the lake's data up to ``horizon`` (its newest
    charge day), and each budget's top movers (drivers of its alerts)."""
    rows, drivers = [], {}
    for budget in budgets:
        label, first, last = budget_period(billing_period, budget.period)
        as_of = min(horizon, last)
        scoped, cost = in_budget_currency(focus, budget, rates)
        daily = daily_spend(scoped, cost, first - timedelta(days=HISTORY_DAYS), as_of)
        made = _forecast(daily, first, last, method)
        has_data = as_of >= first and daily.filter(pl.col(DAY) >= first).height > 0
        crossed = crossed_thresholds(budget, made.actual, made.total, as_of >= last)
        if not has_data:
            status = "no_data"
        elif made.actual >= budget.amount:
            status = "over"
        else:
            status = "at_risk" if crossed else "ok"
        rows.append(
            {
                "budget": budget.name,
                "billing_period": billing_period,
                "period": label,
                "period_start": first,
                "period_end": last,
                "as_of": as_of,
                "measure": budget.measure,
                "currency": budget.currency,
                "amount": budget.amount,
                "actual": made.actual,
                "forecast": made.total,
                "forecast_lower": made.lower,
                "forecast_upper": made.upper,
                "pct_used": made.actual / budget.amount * 100,
                "pct_forecast": made.total / budget.amount * 100,
                "status": status,
                "crossed": ",".join(crossed),
                "method": made.method,
            }
        )
        drivers[budget.name] = top_movers(scoped, cost, as_of) if crossed else []
    return pl.DataFrame(rows, schema=BUDGETS_SCHEMA), drivers


def service_forecasts(
    focus: pl.LazyFrame, billing_period: str, horizon: date, method: str = DEFAULT_METHOD
) -> pl.DataFrame:
    """Month-end and quarter-end forecasts of every provider × service × currency with spend
    in the month, each in its own BillingCurrency."""
    month, first, _ = budget_period(billing_period, "month")
    _, quarter_first, _ = budget_period(billing_period, "quarter")
    start = min(first, quarter_first) - timedelta(days=HISTORY_DAYS)
    keys = ["x_Provider", "ServiceName", "BillingCurrency"]
    daily = daily_spend(focus, "EffectiveCost", start, horizon, by=keys)
    active = daily.filter(pl.col(DAY) >= first).select(keys).unique()
    daily = daily.join(active, on=keys, how="semi", nulls_equal=True)
    rows = []
    for key, part in daily.partition_by(keys, as_dict=True, maintain_order=True).items():
        provider, service, currency = key
        for kind in ("month", "quarter"):
            label, period_first, last = budget_period(billing_period, kind)
            as_of = min(horizon, last)
            made = _forecast(filled(part, start, as_of), period_first, last, method)
            rows.append(
                {
                    "billing_period": billing_period,
                    "scope": "provider_service",
                    "series": f"{provider} · {service}",
                    "x_Provider": provider,
                    "ServiceName": service,
                    "horizon": kind,
                    "period": label,
                    "period_end": last,
                    "as_of": as_of,
                    "currency": currency,
                    "actual": made.actual,
                    "forecast": made.total,
                    "forecast_lower": made.lower,
                    "forecast_upper": made.upper,
                    "method": made.method,
                }
            )
    return pl.DataFrame(rows, schema=FORECASTS_SCHEMA)


def budget_forecasts(budgets: pl.DataFrame) -> pl.DataFrame:
    """The budgets' own forecasts, in the forecasts mart's shape."""
    return budgets.select(
        "billing_period",
        pl.lit("budget").alias("scope"),
        pl.col("budget").alias("series"),
        pl.lit(None, pl.String).alias("x_Provider"),
        pl.lit(None, pl.String).alias("ServiceName"),
        pl.when(pl.col("period").str.contains("Q"))
        .then(pl.lit("quarter"))
        .when(pl.col("period").str.len_chars() == 4)
        .then(pl.lit("year"))
        .otherwise(pl.lit("month"))
        .alias("horizon"),
        "period",
        "period_end",
        "as_of",
        "currency",
        "actual",
        "forecast",
        "forecast_lower",
        "forecast_upper",
        "method",
    ).cast(FORECASTS_SCHEMA)


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def budget_alerts(
    budgets: pl.DataFrame, drivers: dict[str, list[tuple[str, float, float]]]
) -> list[dict[str, object]]:
    """The fields of one ``costlake.alerts.Alert`` per threshold each budget crosses now."""
    alerts = []
    for row in budgets.iter_rows(named=True):
        for threshold in filter(None, row["crossed"].split(",")):
            which, percent = threshold.split("-", 1)
            money = row["currency"]
            if which == "actual":
                title = (
                    f"Budget {row['budget']} {row['period']}: {row['pct_used']:.0f} % spent "
                    f"(threshold {percent} %)"
                )
            else:
                title = (
                    f"Budget {row['budget']} {row['period']}: forecast {row['pct_forecast']:.0f}"
                    f" % by {row['period_end']} (threshold {percent} %)"
                )
            lines = [
                f"Spent {_money(row['actual'], money)} of {_money(row['amount'], money)} "
                f"({row['measure']}) to {row['as_of']}.",
                f"Forecast at {row['period_end']}: {_money(row['forecast'], money)} "
                f"({row['forecast_lower']:,.2f} to {row['forecast_upper']:,.2f}, "
                f"80 % interval, {row['method']}).",
            ]
            moved = drivers.get(row["budget"], [])
            if moved:
                lines.append("Top movers, the last 7 days against the 7 before:")
                lines += [
                    f"  {name}: {before:,.2f} -> {now:,.2f} ({now - before:+,.2f} {money})"
                    for name, before, now in moved
                ]
            alerts.append(
                {
                    "alert_id": f"budget:{row['budget']}:{row['period']}:{threshold}",
                    "kind": "budget",
                    "title": title,
                    "lines": tuple(lines),
                    "severity": "critical"
                    if which == "actual" and float(percent) >= 100
                    else "warning",
                    "billing_period": row["billing_period"],
                }
            )
    return alerts
