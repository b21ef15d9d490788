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


def _arbitrage(rows: list[tuple]) -> pl.DataFrame:
    """(period, kind, item, provider, region, currency, cost, alt provider, alt region, basis,
    catalog date, saving) rows; the other mart columns are not read by the section."""
    return pl.DataFrame(
        rows,
        schema={
            "billing_period": pl.String,
            "kind": pl.String,
            "item": pl.String,
            "provider": pl.String,
            "region": pl.String,
            "currency": pl.String,
            "cost": pl.Float64,
            "alternative_provider": pl.String,
            "alternative_region": pl.String,
            "alternative_basis": pl.String,
            "catalog_date": pl.Date,
            "saving": pl.Float64,
        },
        orient="row",
    ).with_columns(saving_share=pl.col("saving") / pl.col("cost"))


CATALOG = date(2026, 10, 15)
ARBITRAGE = _arbitrage(
    [
        ("2026-11", "gpu", "H100", "aws", "us-east-1", "USD", 900.0, "gcp", "us-central1", "list",
         CATALOG, 300.0),
        ("2026-11", "model", "claude-x", "aws", None, "USD", 50.0, "gcp", "us-east5",
         "negotiated", date(2026, 9, 1), 20.0),
        ("2026-11", "model", "gpt-y", "azure", None, "EUR", 80.0, "openai", "global", "list",
         CATALOG, 8.0),
        # already the cheapest: no alternative, nothing to show
        ("2026-11", "model", "gpt-z", "azure", None, "USD", 10.0, None, None, None, None, 0.0),
        # October's saving is not November's
        ("2026-10", "gpu", "H100", "aws", "us-east-1", "USD", 900.0, "gcp", "us-central1", "list",
         CATALOG, 999.0),
    ]
)  # fmt: skip


def test_arbitrage_shows_the_period_savings_per_currency_largest_first():
    found = sections.arbitrage(ARBITRAGE, "2026-11")
    # By hand: the EUR row alone, then USD 300 (H100) before 20 (claude-x); gpt-z saves nothing
    # and October's 999 is another period.
    assert found.select("currency", "item", "saving").rows() == [
        ("EUR", "gpt-y", 8.0),
        ("USD", "H100", 300.0),
        ("USD", "claude-x", 20.0),
    ]


def test_arbitrage_section_names_the_catalog_date_and_price_basis():
    inputs = ReportInputs("2026-11", periods_up_to("2026-11"), {"marts/arbitrage": ARBITRAGE})
    html = report_html(inputs, datetime(2026, 12, 1, tzinfo=UTC))
    # $300 saved on 900 = 33.3%; the negotiated price is dated by its override row
    assert 'data-figure="arbitrage:gpu:H100:aws:us-east-1:USD">$300.00<' in html
    assert 'data-figure="arbitrage:model:gpt-y:azure::EUR">€8.00<' in html
    assert "<td>negotiated</td><td>2026-09-01</td>" in html
    assert "<td>list</td><td>2026-10-15</td>" in html
    assert "33.3%" in html
    assert "gpt-z" not in html


SCORECARD = pl.DataFrame(
    [
        ("2026-11", "atlas", "tag_coverage", 0.95, "run", "95 of 100 USD tagged", "fly", 0.98,
         "tag more: from 0.95 to 0.98 (fly)"),
        ("2026-11", "atlas", "budgets", None, "no evidence", "marts/budgets not in the lake yet",
         None, None, None),
        ("2026-11", "atlas", "overall", None, "run", "weakest of 1 criteria with evidence "
         "(1 without): tag_coverage at run", "fly", 0.98, "tag more: from 0.95 to 0.98 (fly)"),
        ("2026-11", "(untagged)", "tag_coverage", 0.5, "crawl", "5 of 10 USD tagged", "walk",
         0.8, "tag more: from 0.5 to 0.8 (walk)"),
        ("2026-11", "(untagged)", "overall", None, "crawl", "weakest", "walk", 0.8,
         "tag more: from 0.5 to 0.8 (walk)"),
        ("2026-10", "atlas", "overall", None, "walk", "October", None, None, None),
    ],
    schema={
        "billing_period": pl.String,
        "project": pl.String,
        "criterion": pl.String,
        "value": pl.Float64,
        "level": pl.String,
        "evidence": pl.String,
        "next_level": pl.String,
        "next_threshold": pl.Float64,
        "next_step": pl.String,
    },
    orient="row",
)  # fmt: skip


def test_maturity_puts_each_projects_overall_row_first_and_keeps_the_criteria_order():
    card = sections.maturity(SCORECARD, "2026-11")
    assert card.select("project", "criterion").rows() == [
        ("(untagged)", "overall"),
        ("(untagged)", "tag_coverage"),
        ("atlas", "overall"),
        ("atlas", "tag_coverage"),
        ("atlas", "budgets"),
    ]


def test_maturity_section_is_a_table_per_project_with_level_evidence_and_next_step():
    inputs = ReportInputs(
        "2026-11", periods_up_to("2026-11"), {"marts/maturity_scorecard": SCORECARD}
    )
    html = report_html(inputs, datetime(2026, 12, 1, tzinfo=UTC))
    assert "<h3>Project atlas</h3>" in html and "<h3>Project (untagged)</h3>" in html
    assert 'data-figure="level:atlas:overall">run<' in html  # November's, not October's walk
    assert 'data-figure="maturity:atlas:tag_coverage">0.95<' in html
    assert 'data-figure="maturity:atlas:budgets">–<' in html
    assert "marts/budgets not in the lake yet" in html
    assert "tag more: from 0.95 to 0.98 (fly)" in html


def test_without_the_marts_the_new_sections_say_there_is_no_data():
    html = report_html(
        ReportInputs("2026-11", periods_up_to("2026-11"), {"focus": FOCUS}),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert 'data-missing="maturity">No scorecard' in html
    assert 'data-missing="arbitrage">No arbitrage data' in html
    # a scorecard of earlier periods only is no scorecard of this one
    october = SCORECARD.filter(pl.col("billing_period") == "2026-10")
    html = report_html(
        ReportInputs("2026-11", periods_up_to("2026-11"), {"marts/maturity_scorecard": october}),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert 'data-missing="maturity">No scorecard' in html
