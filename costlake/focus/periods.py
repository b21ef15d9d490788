"""Which billing periods a nightly run refreshes: providers restate the previous month."""

from __future__ import annotations

from datetime import date

RESTATEMENT_DAYS = 15


def periods_to_refresh(today: date) -> list[str]:
    """The current period and, in the first 15 days of a month, the previous one (oldest first)."""
    current = f"{today.year:04d}-{today.month:02d}"
    if today.day > RESTATEMENT_DAYS:
        return [current]
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return [f"{year:04d}-{month:02d}", current]
