"""The cost of failed and retried calls, worked by hand on one billed day.

The bill of 2026-10-06 charges Claude 3 Haiku on Bedrock $2.00 of input tokens (8,000 tokens)
and no output. The logs hold, all Haiku, team "support":

  trace t1: a1 fails at 09:00 with 2,000 input tokens, a2 retries at 09:01 and succeeds with
            2,000 input tokens: a1 is a failed, retried call, a2 a retry;
  trace t2: b1 succeeds with 4,000 input tokens; b2 (a second step of the agent, same model)
            succeeds with no tokens: two calls, no failure, no retry;
  trace t3: c1 fails with no tokens (throttled before the model ran), nothing after it:
            failed, not retried, costs nothing.

Input $2.00 splits by the catalog cost of each call's input, here proportional to tokens
(one price): a1 2,000 / 8,000 → $0.50, a2 $0.50, b1 $1.00. So, for the day and model:
calls 5, failed 2 (a1, c1), retries 1 (a2), retried 1 (a1), wasted tokens 2,000, wasted cost
$0.50 of $2.00 = 25 %, api_efficiency = 3 / 5 = 0.6.

Team "eval" makes one direct gpt-4o-mini call that fails with 1,000 input tokens: no bill line,
so its cost is the catalog estimate 1,000 × $0.15 / 1M = $0.00015, all wasted, not billed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from costlake.ai.costs import billed_token_cost, costed_requests
from costlake.ai.failures import failed_call_costs, wasted_share_over
from costlake.ai.prices import load_price_catalog
from costlake.ai.requests import LLM_REQUESTS_SCHEMA

DAY = date(2026, 10, 6)
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def _bill() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "x_Provider": ["aws"],
            "day": [DAY],
            "model": ["claude-3-haiku"],
            "direction": ["input"],
            "quantity": [8_000.0],
            "quantity_unit": ["tokens"],
            "EffectiveCost": [2.00],
            "BillingCurrency": ["USD"],
            "x_tag_project": ["bot"],
            "x_tag_environment": ["prod"],
            "x_tag_workload_type": ["inference"],
        }
    )


def _requests() -> pl.LazyFrame:
    start = datetime(2026, 10, 6, 9)
    calls = [
        ("a1", "t1", 0, "aws", HAIKU, 2_000, "error", "support"),
        ("a2", "t1", 1, "aws", HAIKU, 2_000, "ok", "support"),
        ("b1", "t2", 2, "aws", HAIKU, 4_000, "ok", "support"),
        ("b2", "t2", 3, "aws", HAIKU, 0, "ok", "support"),
        ("c1", "t3", 4, "aws", HAIKU, 0, "error", "support"),
        ("e1", "t4", 5, "openai", "gpt-4o-mini", 1_000, "error", "eval"),
    ]
    base = {column: None for column in LLM_REQUESTS_SCHEMA}
    rows = [
        {
            **base,
            "request_id": rid,
            "trace_id": trace,
            "start_time": start + timedelta(minutes=minute),
            "end_time": start + timedelta(minutes=minute),
            "day": DAY,
            "provider": provider,
            "model_requested": model,
            "model_responded": model,
            "input_tokens": tokens,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "output_tokens": 0,
            "requests": 1,
            "status": status,
            # OTel error.type of the failed calls: Bedrock throttles, the direct call times out.
            "error_type": None if status == "ok" else "timeout" if team == "eval" else "Throttled",
            "team": team,
        }
        for rid, trace, minute, provider, model, tokens, status, team in calls
    ]
    return pl.DataFrame(rows, schema=LLM_REQUESTS_SCHEMA).lazy()


@pytest.fixture(scope="module")
def mart() -> pl.DataFrame:
    catalog = load_price_catalog()
    billed = billed_token_cost(_bill()).collect().lazy()
    costed = costed_requests(_requests(), billed, catalog)
    return failed_call_costs(costed).collect()


def test_failed_and_retried_calls_of_a_billed_model(mart: pl.DataFrame) -> None:
    row = mart.filter(pl.col("team") == "support").row(0, named=True)
    assert (row["day"], row["provider"], row["model"], row["currency"]) == (
        DAY,
        "aws",
        "claude-3-haiku",
        "USD",
    )
    assert (row["calls"], row["failed_calls"], row["retries"], row["retried_calls"]) == (5, 2, 1, 1)
    assert row["wasted_tokens"] == 2_000
    assert row["cost"] == pytest.approx(2.00)
    assert row["wasted_cost"] == pytest.approx(0.50)
    assert row["wasted_billed_cost"] == pytest.approx(0.50)
    assert row["wasted_share"] == pytest.approx(0.25)
    assert row["api_efficiency"] == pytest.approx(0.6)
    assert row["error_types"] == "Throttled"


def test_a_failed_direct_call_wastes_its_estimate(mart: pl.DataFrame) -> None:
    row = mart.filter(pl.col("team") == "eval").row(0, named=True)
    assert (row["calls"], row["failed_calls"], row["retries"]) == (1, 1, 0)
    assert row["wasted_cost"] == pytest.approx(0.00015)
    assert row["wasted_billed_cost"] == 0.0
    assert row["api_efficiency"] == 0.0
    assert row["error_types"] == "timeout"


def test_the_check_lists_models_over_the_level(mart: pl.DataFrame) -> None:
    # Haiku wastes 25 %, gpt-4o-mini 100 %: a 30 % level keeps only gpt-4o-mini.
    assert wasted_share_over(mart, 0.30)["model"].to_list() == ["gpt-4o-mini"]
    assert wasted_share_over(mart, 0.25)["model"].to_list() == ["gpt-4o-mini"]
    assert sorted(wasted_share_over(mart, 0.2499)["model"].to_list()) == [
        "claude-3-haiku",
        "gpt-4o-mini",
    ]
