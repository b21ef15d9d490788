"""The bill's token cost split across logged requests, worked by hand on a small day.

The bill of 2026-10-06 charges Claude 3 Haiku on Bedrock $1.00 of input and $3.00 of output
tokens, and Nova Lite $2.00 that no request logged. Bedrock lists Claude 3 Haiku at $0.25 /
$1.25 per million input / output tokens, OpenAI lists gpt-4o at $2.50 / $10.00.

Requests (one trace "t1" of two calls, one failed call in trace "t2", one direct gpt-4o call):
  r1  haiku  1,000 in,   100 out   estimated input 0.00025,  output 0.000125
  r2  haiku  3,000 in,   500 out   estimated input 0.00075,  output 0.000625
  r3  haiku  failed, no tokens
  r4  gpt-4o (openai) 1,000 in (400 cached at $1.25), 1,000 out: 600 × 2.5 + 400 × 1.25 +
      1,000 × 10 = 12,000 micro-dollars = $0.012, no bill line: estimated

Input $1.00 splits 0.00025 : 0.00075 = 1 : 3 → r1 0.25, r2 0.75.
Output $3.00 splits 0.000125 : 0.000625 = 1 : 5 → r1 0.50, r2 2.50.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from typer.testing import CliRunner

from costlake.ai.costs import (
    ai_cost_reconciliation,
    ai_unit_costs,
    billed_token_cost,
    costed_requests,
    model_key,
    unattributed_cost,
)
from costlake.ai.prices import load_price_catalog
from costlake.ai.requests import LLM_REQUESTS_SCHEMA
from costlake.ai.routing import Capabilities, model_routing_savings
from pipelines import cli

DAY = date(2026, 10, 6)
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def bill_lines() -> pl.LazyFrame:
    """token_lines output for the day: model names as the bill spells them, normalized."""
    rows = [
        ("claude-3-haiku", "input", 4_000.0, 1.00, "support-bot"),
        ("claude-3-haiku", "output", 600.0, 3.00, "support-bot"),
        ("nova-lite", "input", 1_000_000.0, 2.00, "helpdesk"),
    ]
    return pl.LazyFrame(
        {
            "x_Provider": ["aws"] * 3,
            "day": [DAY] * 3,
            "model": [r[0] for r in rows],
            "direction": [r[1] for r in rows],
            "quantity": [r[2] for r in rows],
            "quantity_unit": ["tokens"] * 3,
            "EffectiveCost": [r[3] for r in rows],
            "BillingCurrency": ["USD"] * 3,
            "x_tag_project": [r[4] for r in rows],
            "x_tag_environment": ["prod"] * 3,
            "x_tag_workload_type": ["inference"] * 3,
        }
    )


def requests() -> pl.LazyFrame:
    start = datetime(2026, 10, 6, 9)
    base = {column: None for column in LLM_REQUESTS_SCHEMA}
    calls = [
        ("r1", "t1", "aws", HAIKU, 1_000, 0, 100, "ok", "u1"),
        ("r2", "t1", "aws", HAIKU, 3_000, 0, 500, "ok", "u1"),
        ("r3", "t2", "aws", HAIKU, 0, 0, 0, "error", "u2"),
        ("r4", "t3", "openai", "gpt-4o-2024-08-06", 1_000, 400, 1_000, "ok", "u3"),
    ]
    rows = [
        {
            **base,
            "request_id": rid,
            "trace_id": trace,
            "start_time": start,
            "end_time": start,
            "day": DAY,
            "provider": provider,
            "model_requested": model,
            "model_responded": model,
            "input_tokens": tokens_in,
            "cache_read_tokens": cached,
            "cache_write_tokens": 0,
            "output_tokens": tokens_out,
            "requests": 1,
            "status": status,
            "user_id": user,
            "project": "support-bot" if provider == "aws" else "atlas",
            "environment": "prod",
            "workload_type": "inference" if provider == "aws" else "evaluation",
        }
        for rid, trace, provider, model, tokens_in, cached, tokens_out, status, user in calls
    ]
    return pl.LazyFrame(rows, schema=LLM_REQUESTS_SCHEMA)


@pytest.fixture(scope="module")
def costed() -> tuple[pl.DataFrame, pl.LazyFrame, pl.LazyFrame]:
    billed = billed_token_cost(bill_lines())
    frame = costed_requests(requests(), billed, load_price_catalog()).collect()
    return frame, billed, unattributed_cost(billed, frame.lazy())


def test_bill_and_log_spellings_share_a_model_key():
    assert model_key(HAIKU) == "claude-3-haiku"
    assert model_key("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert model_key("claude-3-haiku") == "claude-3-haiku"


def test_billed_cost_splits_by_each_requests_catalog_cost_of_each_token_kind(costed):
    frame, _, _ = costed
    cost = dict(zip(frame["request_id"], frame["cost"], strict=True))
    assert cost["r1"] == pytest.approx(0.25 + 0.50, rel=1e-12)
    assert cost["r2"] == pytest.approx(0.75 + 2.50, rel=1e-12)
    assert cost["r3"] == 0.0
    basis = dict(zip(frame["request_id"], frame["cost_basis"], strict=True))
    assert basis == {"r1": "billed", "r2": "billed", "r3": "billed", "r4": "estimated"}
    assert cost["r4"] == pytest.approx(0.012, rel=1e-12)


def test_unlogged_billed_cost_stays_visible_with_the_bills_tags(costed):
    _, _, unattributed = costed
    left = unattributed.collect()
    assert left.select("model", "kind", "project", "billed").rows() == [
        ("nova-lite", "input", "helpdesk", 2.00)
    ]


def test_reconciliation_adds_back_to_the_bill(costed):
    frame, billed, unattributed = costed
    recon = ai_cost_reconciliation(billed, frame.lazy(), unattributed).collect()
    rows = {r["model"]: r for r in recon.iter_rows(named=True)}
    assert rows["claude-3-haiku"]["billed"] == pytest.approx(4.00)
    assert rows["claude-3-haiku"]["allocated"] == pytest.approx(4.00, rel=1e-12)
    assert rows["claude-3-haiku"]["unattributed"] == 0.0
    # The catalog prices the logged haiku calls at 0.001 + 0.00075 = $0.00175 against $4.00
    # billed: a drift of (0.00175 - 4) / 4 = -99.95625 %.
    assert rows["claude-3-haiku"]["estimated"] == pytest.approx(0.00175, rel=1e-9)
    assert rows["claude-3-haiku"]["drift_pct"] == pytest.approx(-99.95625, rel=1e-9)
    assert rows["nova-lite"]["allocated"] == 0.0
    assert rows["nova-lite"]["unattributed"] == pytest.approx(2.00)


def test_unit_costs_per_query_token_and_user(costed):
    frame, _, unattributed = costed
    marts = ai_unit_costs(frame.lazy(), unattributed).collect()
    haiku = marts.filter(pl.col("model") == "claude-3-haiku").row(0, named=True)
    assert haiku["cost"] == pytest.approx(4.00, rel=1e-12)
    assert haiku["requests"] == 3
    assert haiku["queries"] == 2  # t1 (two calls) and t2
    assert haiku["users"] == 2
    assert haiku["cost_per_query"] == pytest.approx(2.00, rel=1e-12)
    assert haiku["cost_per_user"] == pytest.approx(2.00, rel=1e-12)
    assert haiku["tokens_per_query"] == pytest.approx((4_000 + 600) / 2)
    assert haiku["cost_per_1k_input_tokens"] == pytest.approx(1.00 / 4_000 * 1000, rel=1e-12)
    assert haiku["cost_per_1k_output_tokens"] == pytest.approx(3.00 / 600 * 1000, rel=1e-12)
    assert haiku["failed_share"] == pytest.approx(1 / 3)
    gpt = marts.filter(pl.col("model") == "gpt-4o").row(0, named=True)
    assert gpt["estimated_cost"] == pytest.approx(0.012, rel=1e-12)
    assert gpt["cache_hit_rate"] == pytest.approx(400 / 1_000)
    nova = marts.filter(pl.col("model") == "nova-lite").row(0, named=True)
    assert (nova["unattributed_cost"], nova["requests"], nova["queries"]) == (2.00, 0, 0)
    assert nova["cost_per_1k_input_tokens"] == pytest.approx(2.00 / 1_000_000 * 1000)


def test_routing_savings_price_the_same_tokens_on_the_cheapest_capable_model(costed):
    """Inference needs tier 2; gpt-4o-mini ($0.15 / $0.60, cached $0.075) and claude-3-haiku
    are tier 2. Haiku's 4,000 in / 600 out cost 0.001 + 0.00075 = $0.00175 at list prices and
    on gpt-4o-mini 0.0006 + 0.00036 = $0.00096: a saving of 1 - 0.96 / 1.75 of the $4.00."""
    frame, _, unattributed = costed
    marts = ai_unit_costs(frame.lazy(), unattributed).collect()
    table = Capabilities(
        workloads={"inference": 2}, models={"gpt-4o-mini": 2, "claude-3-haiku": 2, "gpt-4o": 3}
    )
    savings = model_routing_savings(marts, load_price_catalog(), table, DAY)
    haiku = savings.filter(pl.col("model") == "claude-3-haiku").row(0, named=True)
    assert haiku["cheapest_capable_model"] == "gpt-4o-mini"
    assert haiku["catalog_cost_usd"] == pytest.approx(0.00175, rel=1e-9)
    assert haiku["cheapest_capable_cost_usd"] == pytest.approx(0.00096, rel=1e-9)
    assert haiku["saving"] == pytest.approx(4.00 * (1 - 0.96 / 1.75), rel=1e-9)
    # One day of use: a 30-day month saves thirty times as much.
    assert haiku["monthly_saving"] == pytest.approx(30 * 4.00 * (1 - 0.96 / 1.75), rel=1e-9)


def test_estimate_command_prices_the_rag_chatbot_example():
    """10,000 queries a day × (2,000 in, 500 out) × 30 days: GPT-4o 600M × 2.50 + 150M × 10
    = $3,000; Claude 3 Haiku 600M × 0.25 + 150M × 1.25 = $337.50, 88.75 % less."""
    args = ["estimate", "--model", "gpt-4o", "--model", "claude-3-haiku"]
    args += ["--queries-per-day", "10000", "--input-tokens", "2000", "--output-tokens", "500"]
    args += ["--baseline", "gpt-4o", "--on", "2026-11-01"]
    result = CliRunner().invoke(cli.app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "$3,000.00" in result.output
    assert "$337.50" in result.output
    assert "88.8 %" in result.output


def test_estimate_command_names_an_unknown_model():
    args = ["estimate", "--model", "gpt-4-turbo-ultra-max", "--queries-per-day", "1"]
    args += ["--input-tokens", "1", "--output-tokens", "1"]
    result = CliRunner().invoke(cli.app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "gpt-4-turbo-ultra-max" in result.output
