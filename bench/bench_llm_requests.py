"""Benchmark: reading application request logs into the ``llm_requests`` table.

Generates N model calls (default 1,000,000) in each log format into a temporary folder, then
times the reader of ``costlake.ai.requests`` on each, up to the collected table (JSON parse,
checks, token normalization, tags): OTel JSON lines, LiteLLM spend logs as CSV (``psql \\copy``)
and as JSON lines, and OTLP JSON (``--otlp`` adds it: 1M spans are ~1.2 GB of text). Rows are
realistic in size and variety: several providers and models, cache and reasoning tokens, ~2 %
failed calls, agent traces of several calls, LiteLLM ``metadata`` with its usage object and
hashed key. Each format is timed ``--repeat`` times and the fastest run is reported. Usage::

    .venv/bin/python bench/bench_llm_requests.py --rows 1000000 --otlp
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from costlake.ai.costs import (
    ai_unit_costs,
    billed_token_cost,
    costed_requests,
    unattributed_cost,
)
from costlake.ai.prices import load_price_catalog
from costlake.ai.requests import (
    LogRead,
    read_litellm_spend_logs,
    read_otel_jsonl,
    read_otlp_json,
)

OTEL_MODELS = [
    ("azure.ai.openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", None),
    ("gcp.vertex_ai", "gemini-2.5-pro", "gemini-2.5-pro"),
    ("openai", "o4-mini", "o4-mini-2025-04-16"),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    ("oci.genai", "cohere.command-r-plus-08-2024", None),
]
LITELLM_MODELS = [
    ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("azure", "gpt-4o", "gpt-4o"),
    ("vertex_ai", "gemini-2.5-pro", "gemini-pro"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet"),
]
PROJECTS = ["atlas", "helpdesk", "search", "ledger"]
ENVIRONMENTS = ["prod", "staging", "dev"]
TEAMS = ["search-team", "ml-research", "platform"]
START = datetime(2025, 6, 2, tzinfo=UTC)


def _calls(rows: int, seed: int):
    """(i, start, latency ms, model index, input, cache read, output, reasoning, failed, trace)."""
    rng = random.Random(seed)
    trace = 0
    for i in range(rows):
        if rng.random() < 0.4:  # a new query; else one more call of the current agent trace
            trace += 1
        start = START + timedelta(milliseconds=i * 80 + rng.randint(0, 50))
        input_ = rng.randint(200, 12000)
        cache = rng.choice([0, 0, 1024, input_ // 2])
        output = rng.randint(5, 1500)
        reasoning = rng.choice([0, 0, 0, output // 3])
        failed = rng.random() < 0.02
        yield (
            i,
            start,
            rng.randint(80, 9000),
            rng.randrange(6),
            input_,
            cache,
            output,
            reasoning,
            failed,
            trace,
        )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_otel_jsonl(path: Path, rows: int) -> None:
    """OTel spans, one flat JSON object per line."""
    with open(path, "w") as out:
        for i, start, latency, m, input_, cache, output, reasoning, failed, trace in _calls(
            rows, 1
        ):
            provider, model, response = OTEL_MODELS[m]
            span = {
                "trace_id": f"{trace:032x}",
                "span_id": f"{i:016x}",
                "name": f"chat {model}",
                "start_time": _iso(start),
                "end_time": _iso(start + timedelta(milliseconds=latency)),
                "status": "ERROR" if failed else "OK",
                "service.name": "helpdesk-bot",
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "project": PROJECTS[trace % 4],
                "environment": ENVIRONMENTS[trace % 3],
                "cost_center": "CC-4100",
                "user.id": f"u-{trace % 997}",
            }
            if failed:
                span["error.type"] = "RateLimitError"
            else:
                if response:
                    span["gen_ai.response.model"] = response
                span["gen_ai.usage.input_tokens"] = input_
                span["gen_ai.usage.output_tokens"] = output
                if cache:
                    span["gen_ai.usage.cache_read.input_tokens"] = cache
                if reasoning:
                    span["gen_ai.usage.reasoning.output_tokens"] = reasoning
            out.write(json.dumps(span) + "\n")


def _litellm_rows(rows: int):
    key = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    for i, start, latency, m, input_, cache, output, reasoning, failed, trace in _calls(rows, 2):
        provider, model, group = LITELLM_MODELS[m % 5]
        usage = None
        if not failed:
            usage = {
                "total_tokens": input_ + output,
                "prompt_tokens": input_,
                "completion_tokens": output,
                "prompt_tokens_details": {"cached_tokens": cache},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            }
        metadata = {
            "usage_object": usage,
            "user_api_key": key,
            "user_api_key_alias": "search-prod",
            "user_api_key_team_id": "9f1c2d3e-4b5a-6c7d-8e9f-0a1b2c3d4e5f",
            "user_api_key_team_alias": TEAMS[trace % 3],
            "user_api_key_user_id": f"u-{trace % 97}",
            "spend_logs_metadata": {"cost_center": "CC-4100"} if trace % 5 == 0 else None,
            "requester_ip_address": "",
            "status": "failure" if failed else "success",
            "applied_guardrails": [],
        }
        yield {
            "request_id": f"chatcmpl-{i:08x}-5b3d-4c8e-9f10-2a4b6c8d0e1f",
            "call_type": "acompletion",
            "api_key": key,
            "spend": round((input_ * 2.5 + output * 10) / 1e6, 8),
            "total_tokens": 0 if failed else input_ + output,
            "prompt_tokens": 0 if failed else input_,
            "completion_tokens": 0 if failed else output,
            "startTime": start.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            "endTime": (start + timedelta(milliseconds=latency)).strftime("%Y-%m-%d %H:%M:%S.%f")[
                :-3
            ],
            "model": model,
            "model_group": group,
            "custom_llm_provider": provider,
            "api_base": "https://api.example.com/v1",
            "user": f"u-{trace % 97}",
            "metadata": metadata,
            "cache_hit": "False",
            "cache_key": "",
            "request_tags": [
                f"project:{PROJECTS[trace % 4]}",
                f"environment:{ENVIRONMENTS[trace % 3]}",
            ],
            "team_id": "9f1c2d3e-4b5a-6c7d-8e9f-0a1b2c3d4e5f",
            "end_user": "",
            "messages": {},
            "response": {},
            "session_id": f"sess-{trace}",
            "status": "failure" if failed else "success",
        }


def write_litellm_jsonl(path: Path, rows: int) -> None:
    """LiteLLM spend logs as JSON lines (``metadata`` and ``request_tags`` as JSON values)."""
    with open(path, "w") as out:
        for row in _litellm_rows(rows):
            out.write(json.dumps(row) + "\n")


def write_litellm_csv(path: Path, rows: int) -> None:
    """LiteLLM spend logs as Postgres writes CSV (JSON columns as quoted JSON text)."""
    import csv

    with open(path, "w", newline="") as out:
        writer = None
        for row in _litellm_rows(rows):
            row = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)


def _attribute(key: str, value: object) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def write_otlp_json(path: Path, rows: int, spans_per_request: int = 200) -> None:
    """OTLP JSON, one ExportTraceServiceRequest of ``spans_per_request`` spans per line."""
    resource = {
        "attributes": [
            _attribute("service.name", "helpdesk-bot"),
            _attribute("deployment.environment.name", "prod"),
            _attribute("costlake.project", "helpdesk"),
        ]
    }
    with open(path, "w") as out:
        spans = []
        for i, start, latency, m, input_, cache, output, reasoning, failed, trace in _calls(
            rows, 3
        ):
            provider, model, response = OTEL_MODELS[m]
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "user.id": f"u-{trace % 997}",
                "server.address": "api.example.com",
            }
            if not failed:
                attributes |= {
                    "gen_ai.response.model": response or model,
                    "gen_ai.usage.input_tokens": input_,
                    "gen_ai.usage.output_tokens": output,
                    "gen_ai.usage.cache_read.input_tokens": cache,
                    "gen_ai.usage.reasoning.output_tokens": reasoning,
                }
            nanos = int(start.timestamp() * 1e9)
            spans.append(
                {
                    "traceId": f"{trace:032x}",
                    "spanId": f"{i:016x}",
                    "name": f"chat {model}",
                    "kind": 3,
                    "startTimeUnixNano": str(nanos),
                    "endTimeUnixNano": str(nanos + latency * 1_000_000),
                    "attributes": [_attribute(k, v) for k, v in attributes.items()],
                    "status": {"code": 2} if failed else {},
                }
            )
            if len(spans) == spans_per_request:
                request = {
                    "resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]
                }
                out.write(json.dumps(request, separators=(",", ":")) + "\n")
                spans = []
        if spans:
            request = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
            out.write(json.dumps(request, separators=(",", ":")) + "\n")


TAG_COLUMNS = ("project", "environment", "workload_type")


def timed(reader: Callable[[Path], LogRead], path: Path, repeat: int) -> tuple[int, float]:
    """Rows of the collected table and the fastest wall time of ``repeat`` runs."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        read = reader(path)
        rows = read.rows.collect().height
        best = min(best, time.perf_counter() - started)
        if read.problems:
            raise SystemExit(f"{path.name}: unexpected problems, first: {read.problems[0]}")
    return rows, best


def allocated(rows: pl.DataFrame) -> float:
    """Seconds to price ``rows``, split a bill of their cloud calls across them and build the
    ``ai_unit_costs`` mart: the rest of what a nightly run does with the logs. The bill is made
    from the rows themselves (a cent per thousand tokens of each kind), so every cloud call has
    a bill line to take its share of."""
    catalog = load_price_catalog()
    lines = (
        rows.filter(pl.col("provider").is_in(["aws", "azure", "gcp", "oci"]))
        .group_by("provider", "day", "model_responded")
        .agg(pl.col("input_tokens", "output_tokens").sum())
        .unpivot(
            index=["provider", "day", "model_responded"],
            variable_name="direction",
            value_name="quantity",
        )
        .select(
            pl.col("provider").alias("x_Provider"),
            "day",
            pl.col("model_responded").alias("model"),
            pl.col("direction").str.replace("_tokens", ""),
            pl.col("quantity").cast(pl.Float64),
            pl.lit("tokens").alias("quantity_unit"),
            (pl.col("quantity") / 100_000).alias("EffectiveCost"),
            pl.lit("USD").alias("BillingCurrency"),
            *[pl.lit(None, pl.String).alias(f"x_tag_{t}") for t in TAG_COLUMNS],
        )
    )
    started = time.perf_counter()
    billed = billed_token_cost(lines.lazy()).collect().lazy()
    costed = costed_requests(rows.lazy(), billed, catalog).collect()
    ai_unit_costs(costed.lazy(), unattributed_cost(billed, costed.lazy())).collect()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--otlp", action="store_true", help="also OTLP JSON (large)")
    args = parser.parse_args()
    cases: list[tuple[str, str, Callable, Callable]] = [
        ("otel_jsonl", "spans.jsonl", write_otel_jsonl, read_otel_jsonl),
        ("litellm csv", "spend_logs.csv", write_litellm_csv, read_litellm_spend_logs),
        ("litellm jsonl", "spend_logs.jsonl", write_litellm_jsonl, read_litellm_spend_logs),
    ]
    if args.otlp:
        cases.append(("otlp_json", "traces.jsonl", write_otlp_json, read_otlp_json))
    folder = Path(tempfile.mkdtemp(prefix="bench_llm_requests_"))
    try:
        print(f"{'format':<14} {'rows':>10} {'MB':>8} {'seconds':>8} {'rows/s':>11}")
        for name, file, write, read in cases:
            path = folder / file
            write(path, args.rows)
            rows, seconds = timed(read, path, args.repeat)
            size = path.stat().st_size / 1e6
            print(f"{name:<14} {rows:>10,} {size:>8,.0f} {seconds:>8.2f} {rows / seconds:>11,.0f}")
            if name == "otel_jsonl":
                table = read(path).rows.collect()
                more = allocated(table)
                print(
                    f"{'  + allocated':<14} {rows:>10,} {'':>8} {seconds + more:>8.2f} "
                    f"{rows / (seconds + more):>11,.0f}   (priced, split across a bill, "
                    f"ai_unit_costs built: +{more:.2f} s)"
                )
            path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
