"""The ``llm_requests`` table from application request logs (``costlake.ai.requests``).

Every expected value below is worked out by hand from the fixture files in
``tests/fixtures/llm_logs/`` (see their README): token sums, latencies from the start and end
times, the provider each spelling maps to, the tag each precedence rule picks.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES

from costlake.ai.requests import (
    LITELLM_SPEND_LOGS,
    LLM_REQUESTS_SCHEMA,
    OPENAI_USAGE,
    OTEL_JSONL,
    OTLP_JSON,
    LogFormatError,
    LogProblem,
    LogProblemsError,
    detect_log_format,
    llm_requests,
    read_litellm_spend_logs,
    read_llm_requests,
    read_openai_usage,
    read_otel_jsonl,
    read_otlp_json,
)

LOGS = FIXTURES / "llm_logs"
GOOD_FILES = (
    "otlp_export.jsonl",
    "otlp_single_request.json",
    "otel_spans.jsonl",
    "litellm_spend_logs.csv",
    "litellm_spend_logs.jsonl",
    "openai_usage_completions.json",
)
BAD_FILES = (
    "otlp_bad.jsonl",
    "otel_spans_bad.jsonl",
    "litellm_spend_logs_bad.csv",
    "openai_usage_bad.jsonl",
)


def by_id(frame: pl.LazyFrame) -> dict[str, dict]:
    """Rows of the collected table by ``request_id``."""
    return {row["request_id"]: row for row in frame.collect().to_dicts()}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def problems_as_tuples(problems: list[LogProblem]) -> list[tuple[str, int, str]]:
    return [(p.file, p.row, p.column) for p in problems]


# ---------------------------------------------------------------------------------------------
# Format detection and the schema


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("otlp_export.jsonl", OTLP_JSON),
        ("otlp_single_request.json", OTLP_JSON),
        ("otlp_bad.jsonl", OTLP_JSON),
        ("otel_spans.jsonl", OTEL_JSONL),
        ("otel_spans_bad.jsonl", OTEL_JSONL),
        ("litellm_spend_logs.csv", LITELLM_SPEND_LOGS),
        ("litellm_spend_logs.jsonl", LITELLM_SPEND_LOGS),
        ("litellm_spend_logs_bad.csv", LITELLM_SPEND_LOGS),
        ("openai_usage_completions.json", OPENAI_USAGE),
        ("openai_usage_bad.jsonl", OPENAI_USAGE),
    ],
)
def test_detect_log_format(name: str, expected: str) -> None:
    assert detect_log_format(LOGS / name) == expected


def test_detection_reads_the_content_not_the_extension(tmp_path: Path) -> None:
    pairs = {
        "spans.log": ("otel_spans.jsonl", OTEL_JSONL),
        "export.txt": ("litellm_spend_logs.csv", LITELLM_SPEND_LOGS),
        "usage.data": ("openai_usage_completions.json", OPENAI_USAGE),
        "traces.out": ("otlp_export.jsonl", OTLP_JSON),
    }
    for target, (source, expected) in pairs.items():
        shutil.copy(LOGS / source, tmp_path / target)
        assert detect_log_format(tmp_path / target) == expected
    # and the reader follows the content too: the CSV named .txt is read as CSV
    assert read_litellm_spend_logs(tmp_path / "export.txt").rows.collect().height == 5


@pytest.mark.parametrize(
    "content",
    ["date,service,cost\n2025-06-02,Bedrock,12.5\n", '{"hello": "world"}\n', ""],
)
def test_an_unknown_format_is_an_error_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "mystery.jsonl"
    path.write_text(content)
    with pytest.raises(LogFormatError, match="mystery.jsonl"):
        detect_log_format(path)


@pytest.mark.parametrize(
    "reader", [read_otlp_json, read_otel_jsonl, read_litellm_spend_logs, read_openai_usage]
)
@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_an_empty_file_is_an_empty_table(tmp_path: Path, reader, content: str) -> None:
    path = tmp_path / "empty.log"
    path.write_text(content)
    read = reader(path)
    assert read.rows.collect().schema == LLM_REQUESTS_SCHEMA
    assert read.rows.collect().height == 0
    assert (read.problems, read.skipped) == ([], 0)


@pytest.mark.parametrize("name", GOOD_FILES + BAD_FILES)
def test_every_reader_returns_exactly_the_schema(name: str) -> None:
    read = read_llm_requests([LOGS / name])
    assert read.rows.collect_schema() == LLM_REQUESTS_SCHEMA
    assert read.rows.collect().schema == LLM_REQUESTS_SCHEMA


# ---------------------------------------------------------------------------------------------
# OTLP JSON


def test_otlp_export_keeps_model_calls_and_skips_other_spans() -> None:
    read = read_otlp_json(LOGS / "otlp_export.jsonl")
    rows = by_id(read.rows)
    assert read.problems == []
    # skipped: the HTTP server span, the invoke_agent span (its tokens repeat its children's),
    # the database span
    assert read.skipped == 3
    assert set(rows) == {
        "53995c3f42cd8ad8",
        "8a3c60f7d188f8fa",
        "c1d9b0a4e3f27a65",
        "b7ad6b7169203331",
        "00f067aa0ba902b7",
    }

    azure = rows["53995c3f42cd8ad8"]
    assert azure["provider"] == "azure"  # azure.ai.openai
    assert (azure["model_requested"], azure["model_responded"]) == ("gpt-4o", "gpt-4o-2024-08-06")
    # semconv: 1200 input tokens already include the 1024 read from the cache
    assert azure["input_tokens"] == 1200
    assert azure["cache_read_tokens"] == 1024
    assert azure["cache_write_tokens"] is None
    assert azure["output_tokens"] == 150
    assert azure["reasoning_tokens"] is None
    assert azure["requests"] == 1
    assert azure["status"] == "ok"
    assert azure["start_time"] == utc(2025, 6, 2, 9, 15, 0, 250000)
    assert azure["end_time"] == utc(2025, 6, 2, 9, 15, 1, 500000)
    assert azure["day"] == date(2025, 6, 2)
    assert azure["latency_ms"] == 1250.0
    assert azure["user_id"] == "u-1042"
    assert azure["trace_id"] == "5b8efff798038103d269b633813fc60c"
    # tags from the resource: costlake.project, cost_center, and environment from
    # deployment.environment.name
    assert (azure["project"], azure["environment"], azure["cost_center"]) == (
        "helpdesk",
        "prod",
        "CC-4100",
    )
    assert azure["team"] is None
    assert (azure["source_format"], azure["source_file"], azure["source_row"]) == (
        "otlp_json",
        "otlp_export.jsonl",
        1,
    )

    bedrock = rows["8a3c60f7d188f8fa"]
    assert bedrock["provider"] == "aws"
    # 3800 >= 3000 + 500 and no total: read as inclusive (semconv)
    assert (bedrock["input_tokens"], bedrock["cache_read_tokens"]) == (3800, 3000)
    assert (bedrock["cache_write_tokens"], bedrock["output_tokens"]) == (500, 420)
    assert bedrock["team"] == "support"  # span attribute tag.team
    assert bedrock["latency_ms"] == 1500.0

    embedding = rows["c1d9b0a4e3f27a65"]
    assert embedding["provider"] == "gcp"  # gcp.vertex_ai
    assert (embedding["input_tokens"], embedding["output_tokens"]) == (64, None)
    assert embedding["latency_ms"] == 80.0

    failed = rows["b7ad6b7169203331"]
    assert failed["status"] == "error"  # status code 2 and error.type
    assert failed["error_type"] == "openai.RateLimitError"
    assert rows["8a3c60f7d188f8fa"]["error_type"] is None
    assert failed["provider"] == "openai"
    assert failed["input_tokens"] is None
    # the resource's exact key "environment" wins over deployment.environment.name "stg"
    assert (failed["project"], failed["environment"]) == ("atlas", "staging")
    assert failed["owner"] == "ml-platform"  # resource tag.owner
    assert failed["source_row"] == 2

    gemini = rows["00f067aa0ba902b7"]
    assert gemini["provider"] == "google"  # gcp.gemini: the Gemini API, not Vertex
    assert (gemini["input_tokens"], gemini["output_tokens"]) == (900, 300)
    assert gemini["reasoning_tokens"] == 120
    assert gemini["workload_type"] == "batch"  # span costlake.workload_type
    assert gemini["latency_ms"] == 2500.0


def test_one_trace_of_three_calls_is_three_requests_and_one_query() -> None:
    table = read_otlp_json(LOGS / "otlp_export.jsonl").rows.collect()
    trace = table.filter(pl.col("trace_id") == "5b8efff798038103d269b633813fc60c")
    assert trace.get_column("requests").sum() == 3
    assert trace.get_column("trace_id").n_unique() == 1
    # five calls in three queries
    assert table.get_column("requests").sum() == 5
    assert table.get_column("trace_id").n_unique() == 3


def test_otlp_single_document_with_numbers_and_base64_ids() -> None:
    read = read_otlp_json(LOGS / "otlp_single_request.json")
    assert read.problems == []
    (row,) = read.rows.collect().to_dicts()
    assert row["request_id"] == "a1b2c3d4e5f60718"  # obLD1OX2Bxg= in hex
    assert row["trace_id"] == "7d3c1f0e9a2b4c5d8e6f708192a3b4c5"
    # Anthropic's convention, shown by the total: 7700 = 4000 + 3000 + 500 + 200, so the
    # 4000 input tokens are the uncached ones: 4000 + 3000 + 500 = 7500 in all
    assert row["input_tokens"] == 7500
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (3000, 500)
    assert row["output_tokens"] == 200
    assert row["provider"] == "anthropic"
    assert row["latency_ms"] == 12345.0
    assert row["day"] == date(2025, 6, 3)
    assert row["user_id"] == "legal-ops-3"  # enduser.id
    assert (row["project"], row["environment"], row["budget_code"]) == ("ledger", "prod", "BC-2207")
    assert row["source_row"] == 1


# ---------------------------------------------------------------------------------------------
# OTel JSON lines


def test_otel_jsonl_spans() -> None:
    read = read_otel_jsonl(LOGS / "otel_spans.jsonl")
    rows = by_id(read.rows)
    assert read.problems == []
    assert read.skipped == 2  # the execute_tool span and the HTTP span
    assert set(rows) == {
        "1a2b3c4d5e6f7081",
        "2b3c4d5e6f708192",
        "4d5e6f708192a3b4",
        "5e6f708192a3b4c5",
    }

    claude = rows["1a2b3c4d5e6f7081"]
    # Anthropic's convention: 1000 uncached < 3000 + 500 cached, so 1000 + 3000 + 500
    assert claude["input_tokens"] == 4500
    assert (claude["cache_read_tokens"], claude["cache_write_tokens"]) == (3000, 500)
    assert claude["output_tokens"] == 250
    assert claude["provider"] == "anthropic"
    assert claude["latency_ms"] == 4250.0
    assert claude["user_id"] == "u-7"
    assert {tag: claude[tag] for tag in ("project", "environment", "cost_center")} == {
        "project": "atlas",
        "environment": "prod",  # costlake.environment
        "cost_center": "CC-4300",  # tag.cost_center
    }
    assert {tag: claude[tag] for tag in ("workload_type", "team", "owner", "budget_code")} == {
        "workload_type": "inference",
        "team": "research",
        "owner": "j.doe",
        "budget_code": "BC-17",
    }

    o4 = rows["2b3c4d5e6f708192"]
    # OpenAI's convention: 5000 already includes the 4096 cached tokens
    assert (o4["input_tokens"], o4["cache_read_tokens"]) == (5000, 4096)
    assert (o4["output_tokens"], o4["reasoning_tokens"]) == (800, 512)
    assert o4["provider"] == "openai"

    failed = rows["4d5e6f708192a3b4"]
    assert failed["status"] == "error"
    assert failed["provider"] == "azure"  # the older gen_ai.system az.ai.openai
    assert (failed["input_tokens"], failed["output_tokens"]) == (None, None)
    assert failed["latency_ms"] == 30000.0

    cohere = rows["5e6f708192a3b4c5"]
    assert cohere["provider"] == "oci"  # oci.genai
    # no operation name, but a request model; the older prompt/completion token names
    assert (cohere["input_tokens"], cohere["output_tokens"]) == (700, 90)
    assert cohere["user_id"] == "digest-bot"  # enduser.id
    # started a tenth of a second before midnight: the day is the start's
    assert cohere["day"] == date(2025, 6, 2)
    assert cohere["end_time"] == utc(2025, 6, 3, 0, 0, 1, 400000)
    assert cohere["latency_ms"] == 1500.0
    assert cohere["source_row"] == 5


def test_otel_jsonl_agent_trace_counts_once() -> None:
    table = read_otel_jsonl(LOGS / "otel_spans.jsonl").rows.collect()
    trace = table.filter(pl.col("trace_id") == "a3f1c2d4e5b6978812345678deadbeef")
    assert trace.height == 3
    assert trace.get_column("requests").sum() == 3
    assert trace.get_column("trace_id").n_unique() == 1


def test_blank_lines_keep_the_line_numbers(tmp_path: Path) -> None:
    lines = (LOGS / "otel_spans_bad.jsonl").read_text().splitlines()
    path = tmp_path / "spans.jsonl"
    path.write_text(lines[0] + "\n\n" + lines[0].replace("e4d909c290d0fb1c", "ffff") + "\n")
    table = read_otel_jsonl(path).rows.collect()
    assert table.get_column("source_row").to_list() == [1, 3]


def _one_span(tmp_path: Path, attributes: dict) -> Path:
    span = {
        "trace_id": "0123456789abcdef0123456789abcdef",
        "span_id": "0123456789abcdef",
        "start_time": "2025-06-02T12:00:00Z",
        "end_time": "2025-06-02T12:00:01Z",
        "status": "OK",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "some-model",
        **attributes,
    }
    path = tmp_path / "span.jsonl"
    path.write_text(json.dumps(span) + "\n")
    return path


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("aws.bedrock", "aws"),
        ("azure.ai.openai", "azure"),
        ("az.ai.openai", "azure"),
        ("azure.ai.inference", "azure"),
        ("gcp.vertex_ai", "gcp"),
        ("gcp.gen_ai", "gcp"),
        ("gcp.gemini", "google"),
        ("oci.genai", "oci"),
        ("oci.generative_ai", "oci"),
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("DeepSeek", "deepseek"),  # unknown: passes through, lower-cased
    ],
)
def test_otel_provider_names(tmp_path: Path, name: str, provider: str) -> None:
    path = _one_span(tmp_path, {"gen_ai.provider.name": name})
    assert read_otel_jsonl(path).rows.collect().get_column("provider").to_list() == [provider]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"code": 2, "message": "upstream timeout"}, "error"),  # the span status as an object
        ({"code": 1}, "ok"),
        ("STATUS_CODE_ERROR", "error"),
        ("UNSET", "ok"),
    ],
)
def test_otel_jsonl_span_status(tmp_path: Path, status: object, expected: str) -> None:
    path = _one_span(tmp_path, {"status": status})
    assert read_otel_jsonl(path).rows.collect().get_column("status").to_list() == [expected]


def test_otel_jsonl_times_in_other_spellings(tmp_path: Path) -> None:
    # an offset (10:00:00.5 at +02:00 is 08:00:00.5 UTC) and Unix nanoseconds (08:00:01 UTC)
    path = _one_span(
        tmp_path, {"start_time": "2025-06-02 10:00:00.5+02:00", "end_time": "1748851201000000000"}
    )
    (row,) = read_otel_jsonl(path).rows.collect().to_dicts()
    assert row["start_time"] == utc(2025, 6, 2, 8, 0, 0, 500000)
    assert row["end_time"] == utc(2025, 6, 2, 8, 0, 1)
    assert row["latency_ms"] == 500.0


# ---------------------------------------------------------------------------------------------
# LiteLLM spend logs


def test_litellm_csv_export() -> None:
    read = read_litellm_spend_logs(LOGS / "litellm_spend_logs.csv")
    rows = by_id(read.rows)
    assert read.problems == []
    assert len(rows) == 5

    bedrock = rows["chatcmpl-7f2c9a1e-5b3d-4c8e-9f10-2a4b6c8d0e1f"]
    # prompt_tokens 4500 already includes the 3000 + 500 cache tokens (and 4500 + 320 is the
    # total), so it stays 4500
    assert bedrock["input_tokens"] == 4500
    assert (bedrock["cache_read_tokens"], bedrock["cache_write_tokens"]) == (3000, 500)
    assert bedrock["output_tokens"] == 320
    assert bedrock["provider"] == "aws"  # custom_llm_provider bedrock
    assert bedrock["model_requested"] == "claude-3-5-sonnet"  # model_group
    assert bedrock["model_responded"] == "anthropic.claude-3-5-sonnet-20241022-v2:0"
    assert bedrock["trace_id"] == "sess-91b2"  # session_id
    assert bedrock["start_time"] == utc(2025, 6, 2, 9, 15, 2, 123000)  # naive = UTC
    assert bedrock["latency_ms"] == 3500.0
    assert bedrock["user_id"] == "u-analyst-3"
    assert (bedrock["project"], bedrock["environment"]) == ("atlas", "prod")  # request_tags
    assert bedrock["team"] == "search-team"  # the key's team alias, not the team_id

    failed = rows["chatcmpl-0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"]
    assert failed["status"] == "error"  # status failure
    assert failed["provider"] == "azure"
    assert (failed["input_tokens"], failed["output_tokens"]) == (0, 0)
    assert failed["trace_id"] == "sess-91b2"  # same session: the same query as the first
    assert failed["latency_ms"] == 30000.0

    gemini = rows["9c2e6c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"]
    assert gemini["provider"] == "gcp"  # vertex_ai
    assert gemini["trace_id"] == "trace-4711"  # metadata.spend_logs_metadata.trace_id
    assert (gemini["input_tokens"], gemini["cache_read_tokens"]) == (2100, 0)
    assert (gemini["output_tokens"], gemini["reasoning_tokens"]) == (1500, 700)
    assert (gemini["cost_center"], gemini["workload_type"]) == ("CC-4100", "rag")
    assert gemini["team"] is None
    assert gemini["user_id"] == "customer-42"  # user empty: end_user
    assert gemini["latency_ms"] == 7500.0

    embedding = rows["emb-51f0a2b3-c4d5-4e6f-a7b8-c9d0e1f2a3b4"]
    assert embedding["trace_id"] == "emb-51f0a2b3-c4d5-4e6f-a7b8-c9d0e1f2a3b4"  # no session
    assert embedding["project"] == "search"  # request_tags before spend_logs_metadata
    assert embedding["user_id"] is None
    assert embedding["latency_ms"] == 180.0

    mistral = rows["e8d7c6b5-a4f3-4e2d-9c1b-0a9f8e7d6c5b"]
    assert mistral["provider"] == "mistral"  # no custom_llm_provider: the model's prefix
    assert mistral["team"] == "platform"  # request tag costlake.team before the key's alias
    assert mistral["owner"] == "a.kim"  # request tag tag.owner
    assert mistral["day"] == date(2025, 6, 3)


def test_litellm_hashed_api_key_is_never_copied() -> None:
    table = read_litellm_spend_logs(LOGS / "litellm_spend_logs.csv").rows.collect()
    text = table.select(pl.col(pl.String)).write_csv()
    assert "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b" not in text
    assert "5d41402abc4b2a76b9719d911017c592aeb0c3f1d5e8a7b6c5d4e3f2a1b0c9d8" not in text


def test_litellm_json_lines() -> None:
    read = read_litellm_spend_logs(LOGS / "litellm_spend_logs.jsonl")
    rows = by_id(read.rows)
    assert read.problems == []

    claude = rows["chatcmpl-3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"]
    # an older LiteLLM row in Anthropic's convention: prompt_tokens 1000 is below the
    # 3000 + 500 cache tokens, so it cannot include them: 1000 + 3000 + 500
    assert claude["input_tokens"] == 4500
    assert (claude["cache_read_tokens"], claude["cache_write_tokens"]) == (3000, 500)
    assert claude["trace_id"] == "lf-trace-20250602-0001"  # metadata.trace_id comes first
    assert (claude["team"], claude["budget_code"]) == ("legal", "BC-9")
    assert claude["provider"] == "anthropic"
    assert claude["latency_ms"] == 3500.0

    nova = rows["d41d8cd9-8f00-4b20-9e98-00998ecf8427"]  # metadata and tags as JSON text
    assert nova["provider"] == "aws"  # bedrock_converse
    assert (nova["input_tokens"], nova["output_tokens"]) == (800, 100)
    assert nova["trace_id"] == "sess-77"
    assert nova["user_id"] == "acme-corp"
    assert nova["project"] == "atlas"
    assert nova["latency_ms"] == 1200.0


def test_litellm_json_lines_typed_or_as_text_give_the_same_table(tmp_path: Path) -> None:
    # All values typed as LiteLLM writes them (read in one pass), and the same rows with
    # metadata and request_tags as JSON text (read as text, then decoded).
    metadata = {
        "usage_object": {
            "prompt_tokens": 9000,
            "completion_tokens": 600,
            "prompt_tokens_details": {"cached_tokens": 8192},
            "completion_tokens_details": {"reasoning_tokens": 256},
        },
        "user_api_key": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "user_api_key_team_alias": "",
        "spend_logs_metadata": {"owner": "r.iyer", "trace_id": "t-9"},
        "status": "success",
    }
    row = {
        "request_id": "chatcmpl-1",
        "call_type": "acompletion",
        "api_key": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "total_tokens": 9600,
        "prompt_tokens": 9000,
        "completion_tokens": 600,
        "startTime": "2025-06-02T08:00:00.000000",
        "endTime": "2025-06-02T08:00:06.000000",
        "model": "o3",
        "model_group": "o3",
        "custom_llm_provider": "openai",
        "user": "",
        "metadata": metadata,
        "request_tags": ["project:atlas"],
        "team_id": "",
        "end_user": "",
        "session_id": None,
        "status": "success",
    }
    typed = tmp_path / "typed.jsonl"
    typed.write_text(json.dumps(row) + "\n" + json.dumps(row | {"request_id": "chatcmpl-2"}) + "\n")
    as_text = row | {
        "metadata": json.dumps(metadata),
        "request_tags": json.dumps(["project:atlas"]),
    }
    text = tmp_path / "text.jsonl"
    text.write_text(json.dumps(as_text) + "\n" + json.dumps(as_text | {"request_id": "chatcmpl-2"}))
    tables = [read_litellm_spend_logs(p).rows.collect().drop("source_file") for p in (typed, text)]
    assert tables[0].equals(tables[1])
    first = tables[0].row(0, named=True)
    assert (first["input_tokens"], first["cache_read_tokens"]) == (9000, 8192)
    assert (first["output_tokens"], first["reasoning_tokens"]) == (600, 256)
    assert (first["trace_id"], first["owner"], first["project"]) == ("t-9", "r.iyer", "atlas")
    assert (first["team"], first["user_id"]) == (None, None)  # "" is no value
    assert first["latency_ms"] == 6000.0
    assert tables[0].get_column("source_row").to_list() == [1, 2]


def test_litellm_json_array_from_the_api(tmp_path: Path) -> None:
    rows = [
        {
            "request_id": "a",
            "call_type": "acompletion",
            "startTime": "2025-06-02T10:00:00",
            "endTime": "2025-06-02T10:00:02",
            "model": "gpt-4o",
            "prompt_tokens": 5,
            "completion_tokens": 1,
        },
        {
            "request_id": "b",
            "call_type": "acompletion",
            "startTime": "2025-06-02T10:00:00",
            "endTime": "2025-06-02T10:00:02",
            "model": "gpt-4o",
            "prompt_tokens": [1],
        },
    ]
    path = tmp_path / "spend_logs.json"
    path.write_text(json.dumps(rows, indent=2))
    assert detect_log_format(path) == LITELLM_SPEND_LOGS
    read = read_litellm_spend_logs(path)
    (row,) = read.rows.collect().to_dicts()
    assert (row["request_id"], row["input_tokens"], row["source_row"]) == ("a", 5, 1)
    assert row["latency_ms"] == 2000.0  # naive times are UTC
    assert read.problems == [
        LogProblem(
            "spend_logs.json", 2, "prompt_tokens", "expected a non-negative integer, got '[1]'"
        )
    ]


@pytest.mark.parametrize(
    ("custom_llm_provider", "provider"),
    [
        ("bedrock", "aws"),
        ("bedrock_converse", "aws"),
        ("azure", "azure"),
        ("azure_ai", "azure"),
        ("vertex_ai", "gcp"),
        ("vertex_ai_beta", "gcp"),
        ("gemini", "google"),
        ("oci", "oci"),
        ("groq", "groq"),  # unknown: as given
    ],
)
def test_litellm_provider_names(tmp_path: Path, custom_llm_provider: str, provider: str) -> None:
    row = {
        "request_id": "r-1",
        "call_type": "acompletion",
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "startTime": "2025-06-02T12:00:00Z",
        "endTime": "2025-06-02T12:00:01Z",
        "model": "some-model",
        "custom_llm_provider": custom_llm_provider,
    }
    path = tmp_path / "spend.jsonl"
    path.write_text(json.dumps(row) + "\n")
    table = read_litellm_spend_logs(path).rows.collect()
    assert table.get_column("provider").to_list() == [provider]


# ---------------------------------------------------------------------------------------------
# OpenAI usage API


def test_openai_usage_buckets() -> None:
    read = read_openai_usage(LOGS / "openai_usage_completions.json")
    rows = by_id(read.rows)
    assert read.problems == []
    first = rows["openai_usage_completions.json:1"]
    assert first["requests"] == 17  # num_model_requests
    assert (first["input_tokens"], first["cache_read_tokens"]) == (120000, 40000)
    assert first["cache_write_tokens"] is None
    assert first["output_tokens"] == 30000
    assert first["trace_id"] is None
    assert first["provider"] == "openai"
    assert first["model_requested"] == first["model_responded"] == "gpt-4o-2024-08-06"
    assert (first["start_time"], first["end_time"]) == (utc(2025, 6, 2), utc(2025, 6, 3))
    assert first["day"] == date(2025, 6, 2)
    assert first["latency_ms"] is None
    assert first["status"] == "ok"
    assert (first["project"], first["user_id"]) == ("proj_Hk2xq8Wd0aLm", "user-Jq7rT2pX")

    batch = rows["openai_usage_completions.json:2"]
    assert (batch["requests"], batch["input_tokens"], batch["user_id"]) == (3, 48000, None)

    second_day = rows["openai_usage_completions.json:3"]
    assert (second_day["day"], second_day["requests"]) == (date(2025, 6, 3), 5)
    assert second_day["project"] == "proj_Zr4vN1cY7bQe"
    assert read.rows.collect().get_column("requests").sum() == 17 + 3 + 5


def test_openai_usage_list_of_pages_and_json_lines(tmp_path: Path) -> None:
    page = json.loads((LOGS / "openai_usage_completions.json").read_text())
    listed = tmp_path / "pages.json"
    listed.write_text(json.dumps([page, page], indent=2))
    lines = tmp_path / "pages.jsonl"
    lines.write_text(json.dumps(page) + "\n" + json.dumps(page) + "\n")
    for path in (listed, lines):
        table = read_openai_usage(path).rows.collect()
        assert table.get_column("source_row").to_list() == [1, 2, 3, 4, 5, 6]
        assert table.get_column("requests").sum() == 2 * (17 + 3 + 5)


# ---------------------------------------------------------------------------------------------
# Bad records: left out, and reported with file, row and column


def test_bad_otel_spans_are_reported() -> None:
    file = "otel_spans_bad.jsonl"
    read = read_otel_jsonl(LOGS / file)
    assert list(by_id(read.rows)) == ["e4d909c290d0fb1c"]
    assert problems_as_tuples(read.problems) == [
        (file, 2, ""),  # the line is cut short
        (file, 3, "gen_ai.usage.input_tokens"),  # -5
        (file, 4, "gen_ai.usage.output_tokens"),  # 12.5
        (file, 5, "gen_ai.request.model"),  # no model
        (file, 7, "end_time"),  # ends before it starts
        (file, 8, "start_time"),  # "yesterday"
        (file, 9, "gen_ai.usage.input_tokens"),  # "many"
    ]
    texts = [p.problem for p in read.problems]
    assert texts[0].startswith("not valid JSON")
    assert texts[1] == "expected a non-negative integer, got '-5'"
    assert texts[2] == "expected a non-negative integer, got '12.5'"
    assert texts[3] == "missing model"
    assert "before start time" in texts[4]
    assert texts[5] == "expected an ISO-8601 time, got 'yesterday'"
    assert texts[6] == "expected a non-negative integer, got 'many'"


def test_bad_litellm_rows_are_reported() -> None:
    file = "litellm_spend_logs_bad.csv"
    read = read_litellm_spend_logs(LOGS / file)
    assert list(by_id(read.rows)) == ["req-0001"]
    assert problems_as_tuples(read.problems) == [
        (file, 2, "prompt_tokens"),  # -12
        (file, 3, "model"),  # model and model_group empty
        (file, 4, "endTime"),  # 10:03:01 before 10:03:05
        (file, 5, "metadata"),  # cut-off JSON
        (file, 6, "completion_tokens"),  # 7.5
        (file, 6, "total_tokens"),  # 307.5
        (file, 7, "metadata.usage_object.cache_read_input_tokens"),  # -1
    ]
    assert read.problems[0].problem == "expected a non-negative integer, got '-12'"
    assert read.problems[3].problem.startswith("expected a JSON object, got")


def test_bad_openai_usage_results_are_reported() -> None:
    file = "openai_usage_bad.jsonl"
    read = read_openai_usage(LOGS / file)
    table = read.rows.collect()
    # results 1 (first page) and 5 (third page); the second page's line is cut short
    assert table.get_column("source_row").to_list() == [1, 5]
    assert table.get_column("requests").to_list() == [2, 4]
    assert problems_as_tuples(read.problems) == [
        (file, 2, ""),  # line 2: not valid JSON
        (file, 2, "input_tokens"),  # result 2: -40
        (file, 3, "model"),  # result 3: model null
        (file, 4, "num_model_requests"),  # result 4: 2.5
    ]
    assert read.problems[0].problem.startswith("not valid JSON")


def test_bad_otlp_spans_are_reported() -> None:
    file = "otlp_bad.jsonl"
    read = read_otlp_json(LOGS / file)
    assert list(by_id(read.rows)) == ["1111111111111111"]
    assert problems_as_tuples(read.problems) == [
        (file, 1, "gen_ai.usage.input_tokens"),
        (file, 1, "endTimeUnixNano"),
        (file, 1, "gen_ai.request.model"),
        (file, 2, ""),
    ]
    assert read.problems[0].problem == (
        "span 2222222222222222: expected a non-negative integer, got '-3'"
    )
    assert read.problems[1].problem.startswith("span 3333333333333333: end time")
    assert read.problems[2].problem == "span 4444444444444444: missing model"
    assert read.problems[3].problem.startswith("not valid JSON")


# ---------------------------------------------------------------------------------------------
# All files together


def test_read_llm_requests_concatenates_every_format() -> None:
    read = read_llm_requests(LOGS / name for name in GOOD_FILES)
    table = read.rows.collect()
    assert read.problems == []
    assert read.skipped == 3 + 2  # OTLP export, OTel JSON lines
    counts = dict(table.group_by("source_format").len().iter_rows())
    assert counts == {
        "otlp_json": 5 + 1,
        "otel_jsonl": 4,
        "litellm_spend_logs": 5 + 2,
        "openai_usage": 3,
    }
    assert table.height == 20
    assert table.get_column("request_id").n_unique() == 20


def test_llm_requests_raises_on_bad_records() -> None:
    assert llm_requests([LOGS / "otel_spans.jsonl"]).collect().height == 4
    with pytest.raises(LogProblemsError, match="otel_spans_bad.jsonl, row 3") as caught:
        llm_requests([LOGS / "otel_spans.jsonl", LOGS / "otel_spans_bad.jsonl"])
    assert len(caught.value.problems) == 7
