"""The demo's month-end report opened in headless Chromium with the network closed: it loads,
draws every chart, logs no error, and shows the marts' numbers (recomputed here with DuckDB from
the mart Parquet and the ingest records, not by the report's own code)."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from chromium import open_offline
from typer.testing import CliRunner

from costlake.report.charts import symbol
from pipelines import cli

PERIOD = "2026-11"


def money(value: float, currency: str) -> str:
    return f"{'-' if value < 0 else ''}{symbol(currency)}{abs(value):,.2f}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``costlake demo`` with a fresh folder as the costlake home (its exports, lake and Dagster
    instance), then ``costlake report --out`` on the same built-in settings."""
    folder = tmp_path_factory.mktemp("report-demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("COSTLAKE_HOME", str(folder))
    mp.delenv("DAGSTER_HOME", raising=False)
    mp.delenv("COSTLAKE_CONFIG", raising=False)
    try:
        ran = CliRunner().invoke(cli.app, ["demo"])
        assert ran.exit_code == 0, ran.output
        out = folder / "report.html"
        made = CliRunner().invoke(cli.app, ["report", "--period", PERIOD, "--out", str(out)])
        assert made.exit_code == 0, made.output
    finally:
        mp.undo()
    return folder


@pytest.fixture(scope="module")
def page(demo, tmp_path_factory):
    with open_offline(demo / "report.html") as visit:
        visit.page.screenshot(
            path=tmp_path_factory.mktemp("artifacts") / "report.png", full_page=True
        )
        yield visit


def figure(page, name: str) -> str:
    return page.page.locator(f'[data-figure="{name}"]').inner_text().strip()


def sql(demo, query: str) -> list[tuple]:
    return duckdb.sql(query.replace("LAKE", str(demo / "lake"))).fetchall()


def test_the_page_loads_offline_without_errors(page):
    assert page.console_errors == []
    assert page.blocked == []  # nothing but the file itself was requested
    assert len(page.requests) == 1


def test_every_chart_is_drawn(page):
    charts = page.page.locator("figure.chart")
    assert charts.count() >= 8  # spend (3 currencies), services, tags, AI, GPU
    for i in range(charts.count()):
        svg = charts.nth(i).locator("svg").first
        box = svg.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, i
        # bars, areas and rules are paths: an empty chart has its axes only
        assert svg.locator("path").count() > 5, i


def test_the_asset_wrote_the_same_page_into_the_lake(demo):
    asset = (demo / f"lake/reports/billing_period={PERIOD}/report.html").read_text()
    command = (demo / "report.html").read_text()
    stamp = re.compile(r"Generated [0-9-]+ [0-9:]+ UTC")
    assert stamp.sub("", asset) == stamp.sub("", command)


def test_spend_and_reconciliation_are_the_bills(demo, page):
    focus = sql(
        demo,
        f"""SELECT provider, BillingCurrency, sum(BilledCost) FROM read_parquet(
        'LAKE/focus/**/*.parquet', hive_partitioning = true) WHERE billing_period = '{PERIOD}'
        GROUP BY ALL""",
    )
    assert len(focus) == 4
    for provider, currency, total in focus:
        assert figure(page, f"total:{PERIOD}:{provider}:{currency}") == money(total, currency)
        assert figure(page, f"lake:{PERIOD}:{provider}:{currency}") == money(total, currency)
        record = json.loads(
            (
                demo / f"lake/ingests/provider={provider}/billing_period={PERIOD}/ingest.json"
            ).read_text()
        )
        bill = record["bill_totals"][currency]
        assert figure(page, f"bill:{PERIOD}:{provider}:{currency}") == money(bill, currency)
        assert figure(page, f"status:{PERIOD}:{provider}:{currency}") == "ok"


def test_top_service_tag_coverage_ai_and_gpu_figures_are_the_marts(demo, page):
    service, cost = sql(
        demo,
        f"""SELECT ServiceName, sum(BilledCost) c FROM read_parquet('LAKE/focus/**/*.parquet',
        hive_partitioning = true) WHERE billing_period = '{PERIOD}' AND BillingCurrency = 'USD'
        GROUP BY ALL ORDER BY c DESC LIMIT 1""",
    )[0]
    assert figure(page, f"service:{service}:USD") == money(cost, "USD")

    for provider, currency, coverage in sql(
        demo,
        f"""SELECT provider, BillingCurrency, sum(project_tagged_cost) / sum(taggable_cost)
        FROM read_parquet('LAKE/marts/tag_coverage/**/*.parquet', hive_partitioning = true)
        WHERE billing_period = '{PERIOD}' GROUP BY ALL""",
    ):
        shown = figure(page, f"coverage:{provider}:{currency}:project")
        assert shown == f"{coverage * 100:.1f}%"

    per_model = sql(
        demo,
        f"""SELECT model, currency, sum(cost) / sum(input_tokens + output_tokens) * 1e6
        FROM read_parquet('LAKE/marts/ai_unit_costs/billing_period={PERIOD}/*.parquet')
        GROUP BY ALL HAVING sum(input_tokens + output_tokens) > 0""",
    )
    assert per_model
    for model, currency, per_million in per_model:
        assert figure(page, f"per1m:{model}:{currency}") == money(per_million, currency)

    idle = sql(
        demo,
        f"""SELECT gpu_model, currency, sum(idle_cost) FROM read_parquet(
        'LAKE/marts/gpu_utilization/billing_period={PERIOD}/*.parquet')
        WHERE gpu_model IS NOT NULL GROUP BY ALL""",
    )
    assert idle
    for gpu, currency, cost in idle:
        assert figure(page, f"idle:{gpu}:{currency}") == money(cost, currency)


def test_budgets_show_the_mart_or_say_none_are_configured(demo, page):
    budgets = demo / f"lake/marts/budgets/billing_period={PERIOD}"
    if not budgets.exists():
        missing = page.page.locator('[data-missing="budgets"]').inner_text()
        assert "No budgets configured" in missing
        return
    for name, actual, currency in sql(
        demo, f"SELECT budget, actual, currency FROM read_parquet('{budgets}/*.parquet')"
    ):
        assert figure(page, f"budget:{name}") == money(actual, currency)


def test_arbitrage_and_maturity_figures_are_the_marts(demo, page):
    savings = sql(
        demo,
        f"""SELECT kind, item, provider, coalesce(region, ''), currency, saving FROM read_parquet(
        'LAKE/marts/arbitrage/billing_period={PERIOD}/*.parquet')
        WHERE alternative_provider IS NOT NULL AND saving > 0 ORDER BY saving DESC LIMIT 1""",
    )
    assert savings  # the demo's GPU hours and models have a cheaper listed host
    kind, item, provider, region, currency, saving = savings[0]
    shown = figure(page, f"arbitrage:{kind}:{item}:{provider}:{region}:{currency}")
    assert shown == money(saving, currency)

    card = sql(
        demo,
        f"""SELECT project, criterion, value FROM read_parquet(
        'LAKE/marts/maturity_scorecard/billing_period={PERIOD}/*.parquet')
        WHERE criterion = 'tag_coverage' AND value IS NOT NULL""",
    )
    assert card
    for project, criterion, value in card:
        assert figure(page, f"maturity:{project}:{criterion}") == f"{value:.4g}"
    for project, level in sql(
        demo,
        f"""SELECT project, level FROM read_parquet(
        'LAKE/marts/maturity_scorecard/billing_period={PERIOD}/*.parquet')
        WHERE criterion = 'overall'""",
    ):
        assert figure(page, f"level:{project}:overall") == level


def test_the_page_prints_on_a4(page, tmp_path):
    pdf = tmp_path / "report.pdf"
    page.page.pdf(path=pdf, format="A4")
    assert pdf.read_bytes().startswith(b"%PDF")
