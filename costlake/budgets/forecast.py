"""Where will a daily cost series end the month (or quarter)? A forecast with an interval.

The total at the end of a period is what was spent to date, plus the usage of the days left,
plus the recurring fees of the days left. Recurring fees (FOCUS ``ChargeFrequency`` =
``Recurring``: reservations, savings plans, support, licences) are known ahead: each day left
repeats the fee billed on the same day of the month before (a monthly fee on the 1st adds
nothing later in the month; a daily amortized commitment adds its daily amount). Usage is
forecast by one of three established methods, chosen by the backtest in
``bench/backtest_forecasts.py`` (figures in docs/budgets.md):

- ``run_rate``: spend to date / days elapsed × days in the period, the naive reference;
- ``seasonal_naive``: each day left is the mean of the same weekday over the last two weeks;
- ``seasonal_trend``: the last four weeks' usage divided by weekday factors (weekly
  seasonality), a least-squares line through it (trend), each day left the line × its
  weekday factor.

With under two weeks of history (a new scope, a lake started this month) both seasonal methods
fall back to ``usage_rate``: the period's usage per day so far for each day left, plus the
recurring fees known ahead.

The interval of the two seasonal methods is empirical: the ``LEVEL`` quantile of the method's own
errors on the same number of days ahead, forecast from each of the last four weeks' days of the
history, so level shifts and trend changes widen it as they did in the past. With too short a
history it is the residual spread of one day grown with the square root of the days left. The
backtest reports how often it held the truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

METHODS = ("run_rate", "seasonal_naive", "seasonal_trend")
DEFAULT_METHOD = "seasonal_naive"  # the backtest's choice (docs/budgets.md)
LEVEL = 0.80
_Z = 1.2815515655446004  # the standard normal quantile of (1 + LEVEL) / 2
TREND_DAYS = 28
NAIVE_WEEKS = 2
ORIGINS, MIN_ORIGINS = 28, 5  # forecasts of the past that size the interval (see _past_error)
MIN_DAYS = 14  # fewer days of history than this: the seasonal methods fall back to usage_rate


@dataclass(frozen=True)
class Forecast:
    """A period's forecast total (to date + days left), its interval, and how it was made."""

    actual: float
    total: float
    lower: float
    upper: float
    method: str


def _month_back(day: date) -> date:
    """The same day of the month before (the month's last day when it has fewer)."""
    first = day.replace(day=1) - timedelta(days=1)
    return first.replace(day=min(day.day, first.day))


def known_recurring(recurring: dict[date, float], as_of: date, days_left: Sequence[date]) -> float:
    """Recurring fees of the days left: each repeats the fee of the same day one month earlier
    (or more, for a quarter's later months), the latest month already billed."""
    total = 0.0
    for day in days_left:
        source = _month_back(day)
        while source > as_of:
            source = _month_back(source)
        total += recurring.get(source, 0.0)
    return total


def _weekday_factors(days: Sequence[date], values: Sequence[float]) -> list[float]:
    """Each weekday's mean over the overall mean (1 when there is no spend)."""
    overall = sum(values) / len(values)
    factors = []
    for weekday in range(7):
        same = [v for d, v in zip(days, values, strict=True) if d.weekday() == weekday]
        factors.append(sum(same) / len(same) / overall if same and overall > 0 else 1.0)
    return factors


def _seasonal_trend(
    days: Sequence[date], values: Sequence[float], days_left: Sequence[date]
) -> tuple[float, float]:
    """Σ of the days left and the residual spread of one day."""
    days, values = days[-TREND_DAYS:], values[-TREND_DAYS:]
    factors = _weekday_factors(days, values)
    flat = [
        v / factors[d.weekday()] if factors[d.weekday()] else 0.0
        for d, v in zip(days, values, strict=True)
    ]
    n = len(flat)
    mean_t, mean_y = (n - 1) / 2, sum(flat) / n
    var_t = sum((t - mean_t) ** 2 for t in range(n))
    slope = sum((t - mean_t) * (y - mean_y) for t, y in enumerate(flat)) / var_t
    intercept = mean_y - slope * mean_t
    fitted = [(intercept + slope * t) * factors[d.weekday()] for t, d in enumerate(days)]
    spread = _spread([v - f for v, f in zip(values, fitted, strict=True)], 2)
    last = days[-1]
    ahead = sum(
        max(0.0, (intercept + slope * (n - 1 + (d - last).days)) * factors[d.weekday()])
        for d in days_left
    )
    return ahead, spread


def _seasonal_naive(
    days: Sequence[date], values: Sequence[float], days_left: Sequence[date]
) -> tuple[float, float]:
    window = NAIVE_WEEKS * 7
    recent = list(zip(days[-window:], values[-window:], strict=True))
    by_weekday = {w: [v for d, v in recent if d.weekday() == w] for w in range(7)}
    mean = {w: sum(vs) / len(vs) for w, vs in by_weekday.items() if vs}
    ahead = sum(mean.get(d.weekday(), 0.0) for d in days_left)
    fitted = [v - mean[d.weekday()] for d, v in recent]
    return ahead, _spread(fitted, 1)


def _past_error(model, days: Sequence[date], usage: Sequence[float], ahead: int) -> float | None:
    """The ``LEVEL`` quantile of the model's own errors on the sum of ``ahead`` days, made from
    each of the last ``ORIGINS`` days of the history that leave ``ahead`` days to compare
    (an empirical interval: errors of a level shift or a trend change count as they came);
    None with fewer than ``MIN_ORIGINS`` such days."""
    last = len(days) - ahead
    origins = range(max(MIN_DAYS, last - ORIGINS), last + 1)
    if len(origins) < MIN_ORIGINS:
        return None
    errors = sorted(
        abs(model(days[:o], usage[:o], days[o : o + ahead])[0] - sum(usage[o : o + ahead]))
        for o in origins
    )
    return errors[min(len(errors) - 1, math.ceil(LEVEL * len(errors)) - 1)]


def _spread(residuals: Sequence[float], parameters: int) -> float:
    """The standard deviation of residuals, for a fit that used ``parameters`` of them."""
    dof = max(1, len(residuals) - parameters)
    return math.sqrt(sum(r * r for r in residuals) / dof)


def forecast_period(
    days: Sequence[date],
    usage: Sequence[float],
    recurring: Sequence[float],
    period_start: date,
    period_end: date,
    method: str = DEFAULT_METHOD,
) -> Forecast:
    """The forecast total of ``period_start`` .. ``period_end`` (inclusive) from a daily series
    whose last day (``days[-1]``, consecutive days, ``as_of``) lies in the period.

    ``usage`` and ``recurring`` are the series' daily amounts (see ``spend.daily_spend``); the
    history before the period feeds the seasonal methods. ``as_of`` at or after the period's
    end: the total is the actual, with no interval.
    """
    if method not in METHODS:
        raise ValueError(f"unknown forecast method {method!r}; expected one of {METHODS}")
    # The series starts with its first spend: zeros before it (the lake's first days, a scope
    # that did not exist yet) are no history of a weekly pattern.
    start = next((i for i, (u, r) in enumerate(zip(usage, recurring, strict=True)) if u or r), 0)
    days, usage, recurring = days[start:], usage[start:], recurring[start:]
    if not days:
        return Forecast(0.0, 0.0, 0.0, 0.0, method)
    as_of = days[-1]
    in_period = [i for i, d in enumerate(days) if period_start <= d <= period_end]
    actual = sum(usage[i] + recurring[i] for i in in_period)
    days_left = [as_of + timedelta(days=k) for k in range(1, (period_end - as_of).days + 1)]
    if not days_left:
        return Forecast(actual, actual, actual, actual, method)
    if method == "run_rate" or not in_period:
        elapsed = len(in_period)
        total = actual / elapsed * (elapsed + len(days_left)) if elapsed else 0.0
        return Forecast(actual, total, total, total, "run_rate")
    fees = known_recurring(dict(zip(days, recurring, strict=True)), as_of, days_left)
    if len(days) < MIN_DAYS:
        # Too short a history for a weekly pattern: the usage rate of the period so far, the
        # recurring fees still repeated as billed (unlike run_rate, which multiplies them).
        spent = [usage[i] for i in in_period]
        rate = sum(spent) / len(spent)
        total = actual + rate * len(days_left) + fees
        half = _Z * _spread([v - rate for v in spent], 1) * math.sqrt(len(days_left))
        return Forecast(actual, total, max(actual + fees, total - half), total + half, "usage_rate")
    model = _seasonal_trend if method == "seasonal_trend" else _seasonal_naive
    ahead, spread = model(days, usage, days_left)
    total = actual + ahead + fees
    half = _past_error(model, days, usage, len(days_left))
    if half is None:
        half = _Z * spread * math.sqrt(len(days_left))
    return Forecast(actual, total, max(actual + fees, total - half), total + half, method)
