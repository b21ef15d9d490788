"""Backtest of the month-end forecast: which method, made on day 10 and day 20, ends nearest?

Two sets of daily series:

- evaluation series shaped like real cloud spend: a level (lognormal, 50 to 50,000 a day), a
  weekly profile (weekends at 40 to 100 % of weekdays), growth of -2 to +8 % a month,
  multiplicative noise of 3 to 12 %, a level shift of ±10 to 40 % on a random day in half of
  them (a new workload, a switched-off one), a monthly recurring fee on the 1st (5 to 30 % of a
  month's usage) in half and a daily amortized commitment in a quarter;
- the demo lake's provider × service series (``--lake``, after ``costlake demo``), when given.

For each series and each evaluated month, the forecast is made with the history up to day 10
and up to day 20 and compared with the month's true total: MAPE (mean |forecast - actual| /
actual), and how often the 80 % interval held the actual.

    python bench/backtest_forecasts.py [--series 300] [--lake lake]
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import date, timedelta

import polars as pl

from costlake.budgets.forecast import METHODS, forecast_period
from costlake.budgets.spend import daily_spend
from costlake.focus.lake import Lake

FIRST = date(2026, 3, 1)
EVALUATED = ("2026-07", "2026-08", "2026-09", "2026-10")
CUTS = (10, 20)


def evaluation_series(
    count: int, seed: int = 21
) -> list[tuple[list[date], list[float], list[float]]]:
    """``count`` synthetic daily series (days, usage, recurring) from FIRST to 2026-10-31."""
    rng = random.Random(seed)
    days = [FIRST + timedelta(days=k) for k in range((date(2026, 10, 31) - FIRST).days + 1)]
    series = []
    for _ in range(count):
        level = math.exp(rng.uniform(math.log(50), math.log(50_000)))
        weekend = rng.uniform(0.4, 1.0)
        growth = rng.uniform(-0.02, 0.08) / 30  # per day
        noise = rng.uniform(0.03, 0.12)
        shift_day = rng.randrange(len(days)) if rng.random() < 0.5 else None
        shift = 1 + rng.choice((-1, 1)) * rng.uniform(0.10, 0.40)
        monthly_fee = level * 30 * rng.uniform(0.05, 0.30) if rng.random() < 0.5 else 0.0
        daily_fee = level * rng.uniform(0.05, 0.3) if rng.random() < 0.25 else 0.0
        usage, recurring = [], []
        for t, day in enumerate(days):
            value = level * (1 + growth) ** t * (weekend if day.weekday() >= 5 else 1.0)
            if shift_day is not None and t >= shift_day:
                value *= shift
            usage.append(max(0.0, value * (1 + rng.gauss(0, noise))))
            recurring.append(daily_fee + (monthly_fee if day.day == 1 else 0.0))
        series.append((days, usage, recurring))
    return series


def demo_series(root: str) -> list[tuple[list[date], list[float], list[float]]]:
    """The demo lake's provider × service daily EffectiveCost series (one currency each)."""
    focus = Lake(root).scan("focus")
    first, last = (
        focus.select(
            pl.col("ChargePeriodStart").min().dt.date().alias("first"),
            pl.col("ChargePeriodStart").max().dt.date().alias("last"),
        )
        .collect()
        .row(0)
    )
    keys = focus.select("x_Provider", "ServiceName", "BillingCurrency").unique().collect()
    series = []
    for provider, service, currency in keys.iter_rows():
        scoped = focus.filter(
            (pl.col("x_Provider") == provider)
            & (pl.col("ServiceName") == service)
            & (pl.col("BillingCurrency") == currency)
        )
        daily = daily_spend(scoped, "EffectiveCost", first, last)
        series.append(
            (daily["day"].to_list(), daily["usage"].to_list(), daily["recurring"].to_list())
        )
    return series


def backtest(series, months) -> dict[tuple[str, int], tuple[float, float, int]]:
    """(method, cut day) -> (MAPE, interval coverage, forecasts) over every series × month."""
    errors: dict[tuple[str, int], list[float]] = {}
    held: dict[tuple[str, int], list[bool]] = {}
    for days, usage, recurring in series:
        index = {d: i for i, d in enumerate(days)}
        for month in months:
            start = date.fromisoformat(f"{month}-01")
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            if start not in index or end not in index:
                continue
            truth = sum(usage[index[start] : index[end] + 1]) + sum(
                recurring[index[start] : index[end] + 1]
            )
            if truth <= 0:
                continue
            for cut in CUTS:
                upto = index[start + timedelta(days=cut - 1)] + 1
                for method in METHODS:
                    made = forecast_period(
                        days[:upto], usage[:upto], recurring[:upto], start, end, method
                    )
                    errors.setdefault((method, cut), []).append(abs(made.total - truth) / truth)
                    held.setdefault((method, cut), []).append(made.lower <= truth <= made.upper)
    return {
        key: (sum(e) / len(e), sum(held[key]) / len(held[key]), len(e)) for key, e in errors.items()
    }


def _print(title: str, results) -> None:
    print(f"\n{title}")
    print("| method | MAPE day 10 | MAPE day 20 | 80 % interval held (day 10 / 20) | forecasts |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for method in METHODS:
        ten, twenty = results.get((method, 10)), results.get((method, 20))
        if ten is None:
            continue
        held = "n/a" if method == "run_rate" else f"{ten[1]:.0%} / {twenty[1]:.0%}"
        print(f"| {method} | {ten[0]:.2%} | {twenty[0]:.2%} | {held} | {ten[2]} + {twenty[2]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--lake", default=None, help="a demo lake root (after costlake demo)")
    args = parser.parse_args()
    _print(
        f"evaluation series: {args.series}, months {', '.join(EVALUATED)}",
        backtest(evaluation_series(args.series), EVALUATED),
    )
    if args.lake:
        demo = demo_series(args.lake)
        last = max(days[-1] for days, _, _ in demo if days)
        # the newest month the lake holds whole (the demo's last month is still running)
        month = (last + timedelta(days=1)).replace(day=1) - timedelta(days=1)
        month = (month if month == last else last.replace(day=1) - timedelta(days=1)).strftime(
            "%Y-%m"
        )
        _print(
            f"demo lake {args.lake}: {len(demo)} provider x service series, month {month}",
            backtest(demo, (month,)),
        )


if __name__ == "__main__":
    main()
