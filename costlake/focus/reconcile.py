"""Does the lake hold exactly what the bill says? Per provider, billing period and currency."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 0.01


@dataclass(frozen=True)
class Reconciliation:
    """The verdict and one readable line per currency (and per reason it failed)."""

    ok: bool
    lines: tuple[str, ...]


def totals_by_currency(frame: pl.LazyFrame, cost: str, currency: str) -> dict[str, float]:
    """Σ cost per currency: amounts of different currencies are never added together."""
    grouped = frame.group_by(currency).agg(pl.col(cost).sum()).collect()
    return {str(row[0]): float(row[1]) for row in grouped.iter_rows()}


def within_tolerance(expected: float, actual: float) -> bool:
    """Equal to 1e-6 relative and one cent absolute, as the design's money rule says."""
    allowed = max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * abs(expected))
    return abs(expected - actual) <= allowed


def reconcile(
    bill_totals: dict[str, float], lake_totals: dict[str, float], rejected_cost_rows: int
) -> Reconciliation:
    """Compare the bill's own cost column with Σ BilledCost in the lake.

    Rejected rows that carried a cost value make the period fail even when the totals happen to
    agree: their amount cannot be in the lake, so the lake cannot match the invoice.
    """
    lines = []
    ok = True
    for currency in sorted(set(bill_totals) | set(lake_totals)):
        bill = bill_totals.get(currency, 0.0)
        lake = lake_totals.get(currency, 0.0)
        same = within_tolerance(bill, lake)
        ok &= same
        verdict = "ok" if same else f"MISMATCH by {lake - bill:+.6f}"
        lines.append(f"{currency}: bill {bill:.6f}, lake {lake:.6f}: {verdict}")
    if rejected_cost_rows:
        ok = False
        lines.append(f"{rejected_cost_rows} rejected row(s) carry cost that is not in the lake")
    return Reconciliation(ok, tuple(lines))
