"""The demo's exchange-rate table: weekly EUR and GBP to USD rates over its periods, so the
demo's cross-cloud budgets (Azure bills in EUR, OCI in GBP) convert with explicit rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

# Illustrative rates, as in docs/examples/exchange_rates.csv: not official ones.
RATES = {"EUR": 1.16, "GBP": 1.34}


def write_demo_rates(path: Path, periods: Sequence[str]) -> Path:
    """A rate CSV (docs/currency.md) with one rate a week from a month before the first period
    to the end of the last, for each currency of ``RATES`` to USD."""
    first = date.fromisoformat(f"{periods[0]}-01") - timedelta(days=31)
    last = (date.fromisoformat(f"{periods[-1]}-01") + timedelta(days=32)).replace(day=1)
    lines = ["date,from_currency,to_currency,rate,source"]
    day = first
    while day < last:
        lines += [f"{day},{cur},USD,{rate},illustrative demo rate" for cur, rate in RATES.items()]
        day += timedelta(days=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
