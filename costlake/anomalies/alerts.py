"""What an anomaly event says when it is announced: one ``Alert`` when it opens, one more if it
escalates.

The events mart (``marts/anomaly_events``) holds every kind in one shape, but not every kind
has every number: a new service has nothing expected, an untagged-share jump is a share (0..1).
``event_alert`` formats each of them from what it has, so no missing value ever reaches a
format string. This mapping is the one place that knows both the event rows and the alert text.

Ids: the opening alert's ``alert_id`` is the event's id (the series' digest and the event's
first day), the escalation's the same id + ``-escalated``; both are the same on every run, so
the outbox announces each once however often the period is re-scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from costlake.alerts import Alert
from costlake.anomalies.events import ESCALATED_SUFFIX

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
    contributions: pl.DataFrame, event: str, limit: int = MAX_CONTRIBUTORS
) -> list[tuple[str, str, float]]:
    """The values that moved an event most, over all its dimensions, largest first."""
    if contributions.is_empty():
        return []
    rows = (
        contributions.filter((pl.col("event_id") == event) & (pl.col("value") != "(other)"))
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


def _deviation(actual: float | None, expected: float | None, kind: str) -> str | None:
    if actual is None or expected is None:
        return None
    if kind in SHARE_KINDS:
        return f"{(actual - expected) * 100:+.1f} points"
    if expected <= 0:
        return "nothing expected"
    return f"{(actual - expected) / expected * 100:+.1f} %"


def _when(row: Mapping[str, Any]) -> str:
    days = f"{row['days']} day" + ("s" if row["days"] != 1 else "")
    if row["days"] == 1 and row.get("end") is not None:
        span = f"{row['start']}"
    elif row.get("end") is None:
        span = f"since {row['start']} ({days} so far, ongoing)"
    else:
        span = f"{row['start']} to {row['end']} ({days})"
    return span + (" (provisional)" if row.get("provisional") else "")


def event_alert(
    row: Mapping[str, Any],
    contributors: Sequence[tuple[str, str, float]],
    billing_period: str,
    *,
    escalated: bool = False,
) -> Alert:
    """The alert of one event row (a row of ``marts/anomaly_events``): its opening, or with
    ``escalated`` its escalation."""
    kind, currency = row["kind"], row.get("currency")

    def show(value: float | None, signed: bool = False) -> str:
        return _amount(value, kind, currency, signed)

    amounts = f"actual {show(row.get('actual'))}"
    if row.get("expected") is not None:
        amounts += f", expected {show(row['expected'])}"
    deviation = _deviation(row.get("actual"), row.get("expected"), kind)
    lines = [f"{_when(row)}: {amounts}" + (f": {deviation}" if deviation else "")]
    if row["days"] > 1 and row.get("peak_actual") is not None:
        peak = f"peak {row['peak_day']}: {show(row['peak_actual'])}"
        if row.get("peak_expected") is not None:
            peak += f" against {show(row['peak_expected'])}"
        lines.append(peak)
    if escalated:
        lines.append(
            f"escalated from {row['opening_severity']} to {row['severity']} on "
            f"{row['escalated_on']}"
        )
    if contributors:
        lines.append("Top contributors:")
        lines += [
            f"• {dimension} = {value}: {show(amount, signed=True)}"
            for dimension, value, amount in contributors
        ]
    title = f"{TITLES.get(kind, kind)} · {row['series']}"
    return Alert(
        alert_id=row["event_id"] + (ESCALATED_SUFFIX if escalated else ""),
        kind=KIND,
        title=title + (" (escalated)" if escalated else ""),
        lines=tuple(lines),
        severity=(row.get("severity") if escalated else row.get("opening_severity"))
        or row.get("severity")
        or "unknown",
        billing_period=billing_period,
    )


def event_alerts(
    found: pl.DataFrame, contributions: pl.DataFrame, billing_period: str
) -> list[Alert]:
    """The alerts of a period's events: one per event that opened in the period and one per
    escalation; cleared events (a restatement removed them) raise none. The outbox announces
    each id once."""
    alerts = []
    for row in found.filter(pl.col("state") != "cleared").iter_rows(named=True):
        movers = top_contributors(contributions, row["event_id"])
        if row["opened_on"] is not None:
            alerts.append(event_alert(row, movers, billing_period))
        if row["escalated_on"] is not None:
            alerts.append(event_alert(row, movers, billing_period, escalated=True))
    return alerts
