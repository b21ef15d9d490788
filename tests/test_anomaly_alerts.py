"""Every kind of anomaly row becomes an alert whose text is complete: no missing bound or
expected value reaches a format string. Expected lines are worked out by hand from the rows."""

from __future__ import annotations

from datetime import date

import polars as pl

from connectors.webhook import slack_message
from costlake.anomaly_alerts import anomaly_alert, anomaly_alerts
from costlake.anomaly_marts import SCORES_SCHEMA

DAY = date(2026, 10, 20)


def row(**values) -> dict:
    base = {name: None for name in SCORES_SCHEMA}
    base.update(
        anomaly_id="0123456789abcdef-20261020",
        kind="cost",
        series="aws · 111 · Amazon EC2 · USD",
        x_Provider="aws",
        day=DAY,
        currency="USD",
        status="anomaly",
        severity="high",
        provisional=False,
    )
    base.update(values)
    return base


def test_a_cost_anomaly_with_its_band_and_contributors():
    alert = anomaly_alert(
        row(actual=400.0, expected=100.0, lower=90.0, upper=110.0, provisional=True),
        [("ResourceId", "i-b", 300.0), ("RegionId", "us-east-1", -2.5)],
        "2026-10",
    )
    assert alert.alert_id == "0123456789abcdef-20261020"
    assert (alert.kind, alert.severity, alert.billing_period) == ("anomaly", "high", "2026-10")
    assert alert.title == "Cost anomaly · aws · 111 · Amazon EC2 · USD"
    # (400 - 100) / 100 = +300.0 %
    assert alert.lines == (
        "2026-10-20 (provisional): actual 400.00 USD, expected 100.00 USD "
        "(normal range 90.00 USD – 110.00 USD): +300.0 %",
        "Top contributors:",
        "• ResourceId = i-b: +300.00 USD",
        "• RegionId = us-east-1: -2.50 USD",
    )


def test_an_untagged_share_jump_has_no_lower_bound_and_is_a_share():
    # The crash: the untagged share has no lower bound. Shares print as percentages:
    # 0.45 → 45.0 %, baseline 0.12 → 12.0 %, alert level 0.12 + 0.15 → 27.0 %, jump 33.0 points.
    alert = anomaly_alert(
        row(
            kind="untagged_share_jump",
            series="aws · USD",
            actual=0.45,
            expected=0.12,
            lower=None,
            upper=0.27,
            severity="medium",
        ),
        [],
        "2026-10",
    )
    assert alert.title == "Untagged share jump · aws · USD"
    assert alert.lines == (
        "2026-10-20: actual 45.0 %, expected 12.0 % (alert above 27.0 %): +33.0 points",
    )


def test_a_new_service_expected_nothing():
    alert = anomaly_alert(
        row(kind="new_service", actual=12.5, expected=0.0, lower=None, upper=10.0), [], "2026-10"
    )
    assert alert.title.startswith("New service · ")
    assert alert.lines == (
        "2026-10-20: actual 12.50 USD, expected 0.00 USD (alert above 10.00 USD): nothing expected",
    )


def test_a_row_missing_every_number_but_the_actual_still_formats():
    alert = anomaly_alert(row(actual=5.0), [], "2026-10")
    assert alert.lines == ("2026-10-20: actual 5.00 USD",)
    lower_only = anomaly_alert(row(actual=5.0, expected=20.0, lower=10.0), [], "2026-10")
    # (5 - 20) / 20 = -75.0 %
    assert lower_only.lines == (
        "2026-10-20: actual 5.00 USD, expected 20.00 USD (alert below 10.00 USD): -75.0 %",
    )


def test_the_mart_rows_of_every_kind_become_alerts_and_one_message():
    rows = [
        row(anomaly_id="c-1", actual=400.0, expected=100.0, lower=90.0, upper=110.0),
        row(anomaly_id="u-1", kind="untagged_share_jump", actual=0.45, expected=0.12, upper=0.27),
        row(anomaly_id="n-1", kind="new_model", actual=12.5, expected=0.0, upper=10.0),
        row(anomaly_id="gone", status="normal", actual=100.0, expected=100.0),
    ]
    anomalies = pl.DataFrame(rows, schema=SCORES_SCHEMA)
    contributions = pl.DataFrame(
        {
            "anomaly_id": ["c-1"],
            "dimension": ["ResourceId"],
            "value": ["i-b"],
            "contribution": [300.0],
        }
    )
    alerts = anomaly_alerts(anomalies, contributions, "2026-10")
    assert [a.alert_id for a in alerts] == ["c-1", "u-1", "n-1"]  # the normal day is no alert
    assert alerts[0].lines[1:] == ("Top contributors:", "• ResourceId = i-b: +300.00 USD")
    message = slack_message(alerts)
    assert [b.get("block_id") for b in message["blocks"]] == [None, "c-1", "u-1", "n-1"]
