"""The report's figures on small hand-made frames, and a page built from a lake that lacks
most marts (each absent section says so; the budgets one says no budgets are configured)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from costlake.report import sections
from costlake.report.page import money, report_html, unit_money
from costlake.report.tables import ReportInputs, periods_up_to


def _focus(rows: list[tuple]) -> pl.DataFrame:
    """(period, provider, day, service, currency, billed, untaggable, project, team) rows."""
    return pl.DataFrame(
        rows,
        schema={
            "billing_period": pl.String,
            "provider": pl.String,
            "ChargePeriodStart": pl.Datetime("us", "UTC"),
            "ServiceName": pl.String,
            "BillingCurrency": pl.String,
            "BilledCost": pl.Float64,
            "x_Untaggable": pl.Boolean,
            "x_tag_project": pl.String,
            "x_tag_team": pl.String,
        },
        orient="row",
    )


NOV = datetime(2026, 11, 3, tzinfo=UTC)
OCT = datetime(2026, 10, 3, tzinfo=UTC)
FOCUS = _focus(
    [
        ("2026-10", "aws", OCT, "EC2", "USD", 100.0, False, "atlas", "ml"),
        ("2026-11", "aws", NOV, "EC2", "USD", 150.0, False, "atlas", "ml"),
        ("2026-11", "aws", NOV, "EC2", "USD", 30.0, False, None, "ml"),
        ("2026-11", "aws", NOV, "Tax", "USD", 12.0, True, None, None),
        ("2026-11", "aws", NOV, "S3", "USD", 8.0, False, "atlas", None),
        ("2026-11", "azure", NOV, "VMs", "EUR", 40.0, False, "atlas", None),
    ]
)


def test_previous_periods_cross_the_year():
    assert periods_up_to("2027-01") == ("2026-11", "2026-12", "2027-01")


def test_untagged_and_untaggable_spend_are_bars_of_their_own_per_currency():
    spend = sections.tag_spend(FOCUS, "project", "2026-11")
    got = {(r["value"], r["currency"]): r["cost"] for r in spend.iter_rows(named=True)}
    # By hand: atlas USD 150 + 8; the 30 without a project; the 12 of tax cannot carry tags.
    assert got == {
        ("atlas", "USD"): 158.0,
        (sections.UNTAGGED, "USD"): 30.0,
        (sections.UNTAGGABLE, "USD"): 12.0,
        ("atlas", "EUR"): 40.0,
    }


def test_top_services_change_from_the_previous_period_and_new_ones_have_none():
    top = sections.top_services(FOCUS, "2026-11", "2026-10")
    ec2 = top.filter(pl.col("ServiceName") == "EC2").row(0, named=True)
    assert (ec2["cost"], ec2["previous_cost"], ec2["change"]) == (180.0, 100.0, 80.0)
    assert ec2["change_share"] == 0.8
    s3 = top.filter(pl.col("ServiceName") == "S3").row(0, named=True)
    assert s3["change"] is None  # not billed in October: new, not "+8"


def test_reconciliation_flags_a_bill_the_lake_does_not_match():
    ingests = (
        {"provider": "aws", "billing_period": "2026-11", "bill_totals": {"USD": 200.0}},
        {"provider": "azure", "billing_period": "2026-11", "bill_totals": {"EUR": 40.5}},
    )
    found = sections.reconciliation(ingests, FOCUS.filter(pl.col("billing_period") == "2026-11"))
    status = {r["provider"]: (r["lake_total"], r["status"]) for r in found.iter_rows(named=True)}
    # aws: 150 + 30 + 12 + 8 = 200 in the lake; azure 40 against a bill of 40.50
    assert status == {"aws": (200.0, "ok"), "azure": (40.0, "mismatch")}


def test_ai_unit_costs_per_model_add_up_before_dividing():
    ai = pl.DataFrame(
        {
            "billing_period": ["2026-11", "2026-11"],
            "day": [date(2026, 11, 1), date(2026, 11, 2)],
            "model": ["m", "m"],
            "currency": ["USD", "USD"],
            "cost": [1.0, 3.0],
            "input_tokens": [400_000.0, 600_000.0],
            "cached_tokens": [0.0, 250_000.0],
            "output_tokens": [0.0, 1_000_000.0],
            "queries": [10, 30],
        }
    )
    row = sections.ai_unit_costs(ai, "2026-11").row(0, named=True)
    # $4 over 2M tokens = $2 per 1M; $4 / 40 queries; 250k cached of 1M input
    assert (row["cost_per_1m_tokens"], row["cost_per_query"], row["cache_hit_rate"]) == (
        2.0,
        0.1,
        0.25,
    )


def test_money_keeps_the_currency_and_the_sign():
    assert money(-1234.5, "EUR") == "-€1,234.50"
    assert money(3.0, "CHF") == "CHF 3.00"
    assert unit_money(0.00071, "USD") == "$0.0007"


def test_a_lake_with_only_focus_still_gets_a_page_that_names_what_is_missing():
    inputs = ReportInputs("2026-11", ("2026-09", "2026-10", "2026-11"), {"focus": FOCUS})
    html = report_html(inputs, datetime(2026, 12, 1, tzinfo=UTC))
    assert 'data-missing="budgets">No budgets configured' in html
    for section in ("ai", "gpu", "anomalies"):
        assert f'data-missing="{section}"' in html
    assert 'data-figure="total:2026-11:azure:EUR">€40.00<' in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
