"""Scorecard levels from lakes built to sit exactly at and just around each criterion's threshold
of the shipped table (costlake/data/maturity_thresholds.csv): at a threshold the level is
reached, a hair below it is not.

Shipped thresholds (walk / run / fly): tag_coverage and allocated_share 0.80 / 0.90 / 0.97,
budgets 1 / 3 / 5, anomalies_handled 0.50 / 0.80 / 0.95, commitment_utilization 0.80 / 0.90 /
0.95, model_routing 0.70 / 0.90 / 0.97, forecast_accuracy 0.85 / 0.88 / 0.95.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from costlake.maturity.scorecard import NO_EVIDENCE, load_thresholds, maturity_scorecard

MANDATORY = ["project", "team"]


def _focus(tagged: float, untagged: float) -> pl.LazyFrame:
    """Project atlas: ``tagged`` cost carrying project and team, ``untagged`` only project."""
    return pl.LazyFrame(
        {
            "x_tag_project": ["atlas", "atlas"],
            "x_tag_team": ["ml", None],
            "x_Untaggable": [False, False],
            "EffectiveCost": [tagged, untagged],
            "BillingCurrency": ["USD", "USD"],
        }
    )


def _unit_costs(cost: float, unattributed: float) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "project": ["atlas"],
            "workload_type": ["inference"],
            "model": ["claude-3-haiku"],
            "currency": ["USD"],
            "cost": [cost],
            "unattributed_cost": [unattributed],
            "input_tokens": [1_000.0],
        }
    )


def _level(tables: dict[str, pl.LazyFrame], criterion: str, project: str = "atlas") -> tuple:
    """The level and value of one criterion; the period's FOCUS rows name the project."""
    card = maturity_scorecard({"focus": _focus(90, 10)} | tables, load_thresholds(), MANDATORY)
    row = card.filter((pl.col("project") == project) & (pl.col("criterion") == criterion))
    return row["level"][0], row["value"][0]


@pytest.mark.parametrize(
    ("tagged", "untagged", "level"),
    [(97, 3, "fly"), (90, 10, "run"), (89, 11, "walk"), (80, 20, "walk"), (79, 21, "crawl")],
)
def test_tag_coverage(tagged: float, untagged: float, level: str) -> None:
    assert _level({"focus": _focus(tagged, untagged)}, "tag_coverage") == (
        level,
        pytest.approx(tagged / 100),
    )


@pytest.mark.parametrize(
    ("unattributed", "level"), [(3, "fly"), (10, "run"), (20, "walk"), (20.5, "crawl")]
)
def test_allocated_share(unattributed: float, level: str) -> None:
    # (100 − unattributed) of 100 allocated to logged calls.
    tables = {"marts/ai_unit_costs": _unit_costs(100.0, unattributed)}
    assert _level(tables, "allocated_share")[0] == level


@pytest.mark.parametrize(("budgets", "level"), [(5, "fly"), (3, "run"), (2, "walk"), (1, "walk")])
def test_budgets(budgets: int, level: str) -> None:
    # One more budget has no data in the period: it is not tracked and does not count.
    names = [f"b{i}" for i in range(budgets + 1)]
    statuses = ["ok"] * budgets + ["no_data"]
    tables = {"marts/budgets": pl.LazyFrame({"budget": names, "status": statuses})}
    assert _level(tables, "budgets") == (level, budgets)


def test_no_budget_with_data_is_no_evidence() -> None:
    tables = {"marts/budgets": pl.LazyFrame({"budget": ["b"], "status": ["no_data"]})}
    assert _level(tables, "budgets")[0] == NO_EVIDENCE


@pytest.mark.parametrize(
    ("closed", "events", "level"),
    [(19, 20, "fly"), (16, 20, "run"), (15, 20, "walk"), (10, 20, "walk"), (9, 20, "crawl")],
)
def test_anomalies_handled(closed: int, events: int, level: str) -> None:
    states = ["closed"] * closed + ["open"] * (events - closed)
    tables = {"marts/anomaly_events": pl.LazyFrame({"state": states})}
    assert _level(tables, "anomalies_handled") == (level, closed / events)


@pytest.mark.parametrize(("used", "level"), [(95, "fly"), (90, "run"), (89, "walk"), (79, "crawl")])
def test_commitment_utilization(used: float, level: str) -> None:
    frame = pl.LazyFrame(
        {"currency": ["USD"], "used_cost": [float(used)], "unused_cost": [100.0 - used]}
    )
    assert _level({"marts/commitment_utilization": frame}, "commitment_utilization")[0] == level


@pytest.mark.parametrize(
    ("saving_share", "level"), [(0.1, "run"), (0.11, "walk"), (0.3, "walk"), (0.31, "crawl")]
)
def test_model_routing(saving_share: float, level: str) -> None:
    # routed = (100 − 100 × saving_share) / 100: 0.9 at a 10 % saving, 0.7 at 30 %.
    routing = pl.LazyFrame(
        {
            "workload_type": ["inference"],
            "model": ["claude-3-haiku"],
            "currency": ["USD"],
            "saving_share": [saving_share],
        }
    )
    tables = {
        "marts/ai_unit_costs": _unit_costs(100.0, 0.0),
        "marts/model_routing_savings": routing,
    }
    assert _level(tables, "model_routing")[0] == level


def _forecasts(early: float, final: float) -> pl.LazyFrame:
    end = date(2026, 10, 31)
    return pl.LazyFrame(
        {
            "scope": ["budget", "budget"],
            "series": ["platform", "platform"],
            "horizon": ["month", "month"],
            "period": ["2026-10", "2026-10"],
            "period_end": [end, end],
            "as_of": [date(2026, 10, 15), end],
            "currency": ["USD", "USD"],
            "actual": [480.0, final],
            "forecast": [float(early), final],
        }
    )


@pytest.mark.parametrize(
    ("forecast", "level"),
    [(1050, "fly"), (1120, "run"), (880, "run"), (1150, "walk"), (1151, "crawl")],
)
def test_forecast_accuracy(forecast: float, level: str) -> None:
    # accuracy = 1 − |forecast − 1,000| / 1,000 of the mid-month forecast: 0.85 at 1,150.
    assert _level({"marts/forecasts": _forecasts(forecast, 1000.0)}, "forecast_accuracy") == (
        level,
        pytest.approx(1 - abs(forecast - 1000) / 1000),
    )


def test_missing_marts_are_no_evidence_and_the_weakest_criterion_sets_the_level() -> None:
    # Tag coverage at run, allocation at walk, budgets at fly; the other marts are absent.
    tables = {
        "focus": _focus(90, 10),
        "marts/ai_unit_costs": _unit_costs(100.0, 20.0),
        "marts/budgets": pl.LazyFrame({"budget": list("abcde"), "status": ["ok"] * 5}),
    }
    card = maturity_scorecard(tables, load_thresholds(), MANDATORY)
    atlas = {r["criterion"]: r for r in card.filter(pl.col("project") == "atlas").to_dicts()}
    assert atlas["commitment_utilization"]["level"] == NO_EVIDENCE
    assert (
        "marts/commitment_utilization not in the lake"
        in atlas["commitment_utilization"]["evidence"]
    )
    assert atlas["anomalies_handled"]["level"] == NO_EVIDENCE
    # model_routing needs both of its inputs.
    assert "marts/model_routing_savings" in atlas["model_routing"]["evidence"]
    overall = atlas["overall"]
    assert overall["level"] == "walk"
    assert "allocated_share at walk" in overall["evidence"]
    assert (overall["next_level"], overall["next_threshold"]) == ("run", 0.90)
    assert overall["next_step"].startswith("trace the model calls")


def test_the_thresholds_table_has_a_source_per_row() -> None:
    criteria = load_thresholds()
    assert [c.name for c in criteria] == [
        "tag_coverage",
        "allocated_share",
        "budgets",
        "anomalies_handled",
        "commitment_utilization",
        "model_routing",
        "forecast_accuracy",
    ]
    assert all(c.source for c in criteria)
