"""Every kind of anomaly event becomes an alert whose text is complete (no missing figure
reaches a format string), once when it opens and once more if it escalates. Expected lines are
worked out by hand from the rows."""

from __future__ import annotations

from datetime import date

import polars as pl

from connectors.webhook import slack_message
from costlake.anomalies.alerts import event_alert, event_alerts
from costlake.anomalies.marts import CHANGES_SCHEMA, EVENTS_SCHEMA

DAY = date(2026, 10, 20)


def row(**values) -> dict:
    base = {name: None for name in EVENTS_SCHEMA | CHANGES_SCHEMA}
    base.update(
        event_id="0123456789abcdef-20261020",
        kind="cost",
        series="aws · 111 · Amazon EC2 · USD",
        x_Provider="aws",
        currency="USD",
        start=DAY,
        end=DAY,
        last_day=DAY,
        state="closed",
        days=1,
        direction="spike",
        peak_day=DAY,
        opened_on=DAY,
        severity="high",
        opening_severity="high",
        provisional=False,
    )
    base.update(values)
    return base


def test_a_one_day_cost_event_with_its_contributors():
    alert = event_alert(
        row(actual=400.0, expected=100.0, excess=300.0, end=None, state="open", provisional=True),
        [("ResourceId", "i-b", 300.0), ("RegionId", "us-east-1", -2.5)],
        "2026-10",
    )
    assert alert.alert_id == "0123456789abcdef-20261020"
    assert (alert.kind, alert.severity, alert.billing_period) == ("anomaly", "high", "2026-10")
    assert alert.title == "Cost anomaly · aws · 111 · Amazon EC2 · USD"
    # Open: no end yet. (400 - 100) / 100 = +300.0 %
    assert alert.lines == (
        "since 2026-10-20 (1 day so far, ongoing) (provisional): actual 400.00 USD, "
        "expected 100.00 USD: +300.0 %",
        "Top contributors:",
        "• ResourceId = i-b: +300.00 USD",
        "• RegionId = us-east-1: -2.50 USD",
    )


def test_an_event_of_days_says_its_span_and_peak_and_its_escalation():
    event = row(
        start=date(2026, 10, 18),
        days=3,
        actual=1200.0,
        expected=300.0,
        excess=900.0,
        peak_day=date(2026, 10, 19),
        peak_actual=500.0,
        peak_expected=100.0,
        opening_severity="medium",
        severity="critical",
        escalated_on=date(2026, 10, 19),
    )
    opening = event_alert(event, [], "2026-10")
    # (1200 - 300) / 300 = +300.0 %; the opening alert carries the severity it opened with.
    assert opening.severity == "medium"
    assert opening.lines == (
        "2026-10-18 to 2026-10-20 (3 days): actual 1,200.00 USD, expected 300.00 USD: +300.0 %",
        "peak 2026-10-19: 500.00 USD against 100.00 USD",
    )
    escalation = event_alert(event, [], "2026-10", escalated=True)
    assert escalation.alert_id == "0123456789abcdef-20261020-escalated"
    assert (escalation.severity, escalation.title) == (
        "critical",
        "Cost anomaly · aws · 111 · Amazon EC2 · USD (escalated)",
    )
    assert escalation.lines[-1] == "escalated from medium to critical on 2026-10-19"


def test_an_untagged_share_jump_is_a_share():
    # 0.45 → 45.0 %, baseline 0.12 → 12.0 %, jump 33.0 points.
    alert = event_alert(
        row(kind="untagged_share_jump", series="aws · USD", actual=0.45, expected=0.12),
        [],
        "2026-10",
    )
    assert alert.title == "Untagged share jump · aws · USD"
    assert alert.lines == ("2026-10-20: actual 45.0 %, expected 12.0 %: +33.0 points",)


def test_a_new_service_expected_nothing_and_missing_figures_still_format():
    alert = event_alert(row(kind="new_service", actual=12.5, expected=0.0), [], "2026-10")
    assert alert.title.startswith("New service · ")
    assert alert.lines == ("2026-10-20: actual 12.50 USD, expected 0.00 USD: nothing expected",)
    bare = event_alert(row(actual=5.0), [], "2026-10")
    assert bare.lines == ("2026-10-20: actual 5.00 USD",)


def test_the_mart_rows_become_one_alert_per_opening_and_escalation():
    rows = [
        row(event_id="c-1", actual=400.0, expected=100.0, excess=300.0),
        row(event_id="u-1", kind="untagged_share_jump", actual=0.45, expected=0.12),
        row(event_id="e-1", actual=900.0, expected=100.0, escalated_on=DAY, severity="critical"),
        # Opened in the period before (its opening alert was that period's): only its
        # escalation, if any, is this period's; a cleared event raises nothing.
        row(event_id="old", opened_on=None, actual=200.0, expected=100.0),
        row(event_id="gone", state="cleared", actual=400.0, expected=100.0),
    ]
    found = pl.DataFrame(rows, schema=EVENTS_SCHEMA | CHANGES_SCHEMA)
    contributions = pl.DataFrame(
        {
            "event_id": ["c-1"],
            "dimension": ["ResourceId"],
            "value": ["i-b"],
            "contribution": [300.0],
        }
    )
    alerts = event_alerts(found, contributions, "2026-10")
    assert [a.alert_id for a in alerts] == ["c-1", "u-1", "e-1", "e-1-escalated"]
    assert alerts[0].lines[1:] == ("Top contributors:", "• ResourceId = i-b: +300.00 USD")
    message = slack_message(alerts)
    assert [b.get("block_id") for b in message["blocks"]] == [
        None,
        "c-1",
        "u-1",
        "e-1",
        "e-1-escalated",
    ]
