"""What an anomaly says when it is announced: one ``Alert`` per current anomaly of a period.

The anomaly marts hold every kind in one shape (``SCORES_SCHEMA``), but not every kind has
every number: a new service has nothing expected and no lower bound, an untagged-share jump is
a share (0..1) with only an upper bound. ``anomaly_alert`` formats each of them from what it
has, so no missing value ever reaches a format string. This mapping is the one place that
knows both the anomaly rows and the alert text; the producer swaps it whole when the anomaly
rows change shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from costlake.alerts import Alert

KIND = "anomaly"
MAX_CONTRIBUTORS = 3  # values listed per alert, largest move first
TITLES = {
    "cost": "Cost anomaly",
    "new_service": "New service",
    "new_region": "New region",
    "new_model": "New model",
    "untagged_share_jump": "Untagged share jump",
}
SHARE_KINDS = frozenset({"untagged_share_jump"})  # amounts are shares of cost, 0..1


def top_contributors(
    contributions: pl.DataFrame, anomaly: str, limit: int = MAX_CONTRIBUTORS
) -> list[tuple[str, str, float]]:
    """The values that moved an anomaly most, over all its dimensions, largest first."""
    if contributions.is_empty():
        return []
    rows = (
        contributions.filter((pl.col("anomaly_id") == anomaly) & (pl.col("value") != "(other)"))
        .sort(pl.col("contribution").abs(), descending=True)
        .unique(["value"], keep="first", maintain_order=True)
        .head(limit)
    )
    return [(d, v, c) for d, v, c in rows.select("dimension", "value", "contribution").iter_rows()]


def _amount(value: float | None, kind: str, currency: str | None, signed: bool = False) -> str:
    if value is None:
        return "unknown"
    sign = "+" if signed else ""
    if kind in SHARE_KINDS:
        return f"{value * 100:{sign}.1f} %"
    return f"{value:{sign},.2f}" + (f" {currency}" if currency else "")


def _band(lower: float | None, upper: float | None, show) -> str | None:
    if lower is not None and upper is not None:
        return f"normal range {show(lower)} – {show(upper)}"
    if upper is not None:
        return f"alert above {show(upper)}"
    if lower is not None:
        return f"alert below {show(lower)}"
    return None


def _deviation(actual: float | None, expected: float | None, kind: str) -> str | None:
    if actual is None or expected is None:
        return None
    if kind in SHARE_KINDS:
        return f"{(actual - expected) * 100:+.1f} points"
    if expected <= 0:
        return "nothing expected"
    return f"{(actual - expected) / expected * 100:+.1f} %"


def anomaly_alert(
    row: Mapping[str, Any], contributors: Sequence[tuple[str, str, float]], billing_period: str
) -> Alert:
    """The alert of one anomaly row (a row of ``marts/anomalies``) and its top contributors."""
    kind, currency = row["kind"], row.get("currency")

    def show(value: float | None, signed: bool = False) -> str:
        return _amount(value, kind, currency, signed)

    day = f"{row['day']}" + (" (provisional)" if row.get("provisional") else "")
    amounts = f"actual {show(row.get('actual'))}"
    if row.get("expected") is not None:
        amounts += f", expected {show(row['expected'])}"
    band = _band(row.get("lower"), row.get("upper"), show)
    if band:
        amounts += f" ({band})"
    deviation = _deviation(row.get("actual"), row.get("expected"), kind)
    lines = [f"{day}: {amounts}" + (f": {deviation}" if deviation else "")]
    if contributors:
        lines.append("Top contributors:")
        lines += [
            f"• {dimension} = {value}: {show(amount, signed=True)}"
            for dimension, value, amount in contributors
        ]
    return Alert(
        alert_id=row["anomaly_id"],
        kind=KIND,
        title=f"{TITLES.get(kind, kind)} · {row['series']}",
        lines=tuple(lines),
        severity=row.get("severity") or "unknown",
        billing_period=billing_period,
    )


def anomaly_alerts(
    anomalies: pl.DataFrame, contributions: pl.DataFrame, billing_period: str
) -> list[Alert]:
    """One alert per current anomaly of the period (the outbox announces each id once)."""
    return [
        anomaly_alert(row, top_contributors(contributions, row["anomaly_id"]), billing_period)
        for row in anomalies.filter(pl.col("status") == "anomaly").iter_rows(named=True)
    ]
