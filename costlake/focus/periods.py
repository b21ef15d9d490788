"""Billing periods: the one way a period is written (``YYYY-MM``), and which periods a nightly
run refreshes (providers restate the previous month).

Every place that accepts a period from a person or a file (the CLI's ``--period``, partition
keys, deliveries, settings) passes it through ``billing_period``, so ``2025-5`` and ``2025-05``
can never become two partitions of the same month.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator

RESTATEMENT_DAYS = 15
_PERIOD = re.compile(r"(\d{4})-(\d{1,2})")


def billing_period(text: str) -> str:
    """``text`` as ``YYYY-MM`` (``2025-5`` → ``2025-05``); ``ValueError`` naming it when it is
    not a year and a month 1-12 (``2025-13``, ``2025/05``, ``May 2025``)."""
    found = _PERIOD.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise ValueError(f"billing period {text!r}: expected a year and month as YYYY-MM")
    return f"{found.group(1)}-{int(found.group(2)):02d}"


# A settings field holding a billing period, normalized on load.
BillingPeriod = Annotated[str, AfterValidator(billing_period)]


def periods_to_refresh(today: date) -> list[str]:
    """The current period and, in the first 15 days of a month, the previous one (oldest first)."""
    current = f"{today.year:04d}-{today.month:02d}"
    if today.day > RESTATEMENT_DAYS:
        return [current]
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return [f"{year:04d}-{month:02d}", current]
