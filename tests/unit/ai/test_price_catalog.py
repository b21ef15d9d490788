"""The offline LLM price catalog (a genai-prices 0.2.3 snapshot), prices by date, request costs
and workload estimates. Every expected cost is worked out by hand below from the stated prices
(USD per million tokens), never copied from the code's output."""

from __future__ import annotations

import json
import logging
from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from costlake.ai.estimate import compare_models, monthly_cost
from costlake.ai.prices import (
    CATALOG_VERSION,
    NoPriceOnDay,
    PriceCatalogError,
    UnknownModel,
    canonical_model,
    canonical_provider,
    load_price_catalog,
    priced_requests,
    request_cost,
    unmatched_models,
)

DAY = date(2026, 11, 1)  # after genai-prices' batch prices start (2026-10-14)
M = 1_000_000


@pytest.fixture(scope="module")
def catalog():
    return load_price_catalog()


# --------------------------------------------------------------------------- the snapshot


def test_snapshot_is_small_versioned_and_licensed():
    data = resources.files("costlake").joinpath("data")
    csv_bytes = data.joinpath("llm_prices.csv").read_bytes()
    meta = json.loads(data.joinpath("llm_prices.meta.json").read_text())
    assert len(csv_bytes) < 1_000_000
    assert CATALOG_VERSION == meta["catalog_version"] == "genai-prices-0.2.3"
    assert meta["license"] == "MIT"
    assert meta["upstream"] == "https://github.com/pydantic/genai-prices"
    date.fromisoformat(meta["snapshot_date"])
    for provider in ("openai", "anthropic", "google", "aws", "azure", "mistral", "cohere"):
        assert provider in meta["providers"]
    for provider in ("meta", "deepseek", "x-ai"):
        assert provider in meta["providers"]


def test_frame_has_one_row_per_provider_model_and_valid_from(catalog):
    frame = catalog.frame()
    assert frame.schema["valid_from"] == pl.Date
    assert frame.schema["valid_to"] == pl.Date
    assert frame.schema["input"] == pl.Float64
    assert frame.schema["long_context_threshold"] == pl.Int64
    assert frame.select("provider", "model", "valid_from").is_duplicated().sum() == 0
    assert set(frame["source"]) == {"genai-prices 0.2.3"}
    assert set(frame["catalog_version"]) == {"genai-prices-0.2.3"}
    # Every model's rows follow each other: valid_to of one is valid_from of the next.
    gaps = (
        frame.sort("provider", "model", "valid_from", nulls_last=False)
        .with_columns(pl.col("valid_from").shift(-1).over("provider", "model").alias("next"))
        .filter(pl.col("next").is_not_null() & (pl.col("next") != pl.col("valid_to")))
    )
    assert gaps.height == 0


def test_catalog_holds_genai_prices_list_prices(catalog):
    # What genai-prices 0.2.3 holds (USD per million tokens), checked against its data module:
    gpt4o = catalog.price("gpt-4o", DAY)
    assert (gpt4o.provider, gpt4o.model) == ("openai", "gpt-4o")
    assert (gpt4o.input, gpt4o.output, gpt4o.cache_read) == (2.50, 10.00, 1.25)
    assert (gpt4o.batch_input, gpt4o.batch_output) == (1.25, 5.00)
    # gpt-4o has no dated change of its standard price; only its batch price starts 2026-10-14.
    rows = catalog.prices("gpt-4o")
    assert [(r.valid_from, r.valid_to) for r in rows] == [
        (None, date(2026, 10, 14)),
        (date(2026, 10, 14), None),
    ]
    assert {(r.input, r.output) for r in rows} == {(2.50, 10.00)}
    assert rows[0].batch_input is None

    haiku = catalog.price("claude-3-haiku", DAY)
    assert (haiku.provider, haiku.model) == ("anthropic", "claude-3-haiku")
    assert (haiku.input, haiku.output, haiku.cache_read, haiku.cache_write) == (
        0.25,
        1.25,
        0.03,
        0.30,
    )
    assert haiku.valid_from is None and haiku.valid_to is None

    pro = catalog.price("gemini-2.5-pro", DAY)
    assert (pro.input, pro.output, pro.cache_read) == (1.25, 10.00, 0.125)
    assert (pro.input_long, pro.output_long, pro.cache_read_long) == (2.50, 15.00, 0.25)
    assert pro.long_context_threshold == 200_000
    assert (pro.batch_input, pro.batch_output) == (0.625, 5.00)

    nova = catalog.price("nova-lite", DAY)
    assert (nova.provider, nova.model) == ("aws", "amazon.nova-lite-v1:0")
    assert (nova.input, nova.output, nova.cache_read) == (0.06, 0.24, 0.015)

    sonnet = catalog.price("claude-sonnet-4-5", DAY)
    assert (sonnet.input, sonnet.output, sonnet.cache_read, sonnet.cache_write) == (
        3.0,
        15.0,
        0.30,
        3.75,
    )
    assert (sonnet.input_long, sonnet.output_long, sonnet.long_context_threshold) == (
        6.0,
        22.5,
        200_000,
    )
    assert (sonnet.batch_input, sonnet.batch_output) == (1.5, 7.5)


# --------------------------------------------------------------------------- model names


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("claude-3-haiku-20240307", "claude-3-haiku-20240307"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
        ("us.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
        ("bedrock/eu.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
        ("apac.amazon.nova-lite-v1:0", "nova-lite"),
        ("amazon.nova-lite-v1:0", "nova-lite"),
        ("meta.llama3-1-70b-instruct-v1:0", "llama3-1-70b-instruct"),
        ("azure/GPT-4o", "gpt-4o"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("vertex_ai/gemini-2.0-flash-001", "gemini-2.0-flash-001"),
        ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("text-embedding-004@001", "text-embedding-004"),
        ("claude-3-haiku@20240307", "claude-3-haiku"),
        ("  Claude 3_Haiku ", "claude-3-haiku"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("some-model:0", "some-model"),
    ],
)
def test_canonical_model(name, canonical):
    assert canonical_model(name) == canonical


@pytest.mark.parametrize(
    ("name", "provider", "model"),
    [
        ("claude-3-haiku-20240307", "anthropic", "claude-3-haiku"),
        # Bedrock ids point at AWS, whose price genai-prices lists separately.
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            "aws",
            "regional.anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            "aws",
            "regional.anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("gpt-4o", "openai", "gpt-4o"),
        ("gpt-4o-2024-08-06", "openai", "gpt-4o"),
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("gemini-2.5-pro", "google", "gemini-2.5-pro"),
        ("gemini-2.0-flash", "google", "gemini-2.0-flash"),
        ("amazon.nova-lite-v1:0", "aws", "amazon.nova-lite-v1:0"),
        ("nova-lite", "aws", "amazon.nova-lite-v1:0"),
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5"),
        ("models/gemini-2.0-flash-001", "google", "gemini-2.0-flash"),
        ("claude-3-haiku@20240307", "anthropic", "claude-3-haiku"),
        (
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
    ],
)
def test_free_form_names_resolve(catalog, name, provider, model):
    found = catalog.resolve(name)
    assert (found.provider, found.model) == (provider, model)
    assert catalog.price(name, DAY).model == model


def test_provider_picks_that_providers_price(catalog):
    # Bedrock in-region Claude Sonnet 4.5 is listed 10 % above Anthropic's $3 / $15.
    bedrock = catalog.price("claude-sonnet-4-5-20250929", DAY, provider="aws.bedrock")
    assert bedrock.model == "regional.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert (bedrock.input, bedrock.output) == (3.3, 16.5)
    vertex = catalog.price("claude-sonnet-4-5", DAY, provider="gcp.vertex_ai")
    assert (vertex.provider, vertex.model) == ("google", "claude-sonnet-4-5")
    # Azure lists no gpt-4o of its own: genai-prices falls back from azure to openai.
    assert catalog.price("gpt-4o", DAY, provider="azure.ai.openai").provider == "openai"
    assert catalog.price("azure/gpt-4o", DAY).provider == "openai"
    assert canonical_provider("aws.bedrock") == "aws"
    assert canonical_provider("gcp.gemini") == "google"
    assert canonical_provider("mistral_ai") == "mistral"
    assert canonical_provider("x_ai") == "x-ai"


def test_unknown_model_lists_close_matches(catalog):
    with pytest.raises(UnknownModel) as caught:
        catalog.price("gpt-4o-minni", DAY)
    assert "gpt-4o-mini" in caught.value.suggestions
    assert "unknown model 'gpt-4o-minni'" in str(caught.value)
    assert "close matches: " in str(caught.value)
    with pytest.raises(UnknownModel):
        catalog.price("definitely-not-a-model", DAY)


# --------------------------------------------------------------------------- request costs


def test_cached_input_openai_convention(catalog):
    gpt4o = catalog.price("gpt-4o", DAY)  # $2.50 in, $1.25 cached in, $10.00 out
    # 10,000 input tokens of which 4,000 cached, 500 output:
    # 6,000 x 2.50 + 4,000 x 1.25 + 500 x 10.00 = 15,000 + 5,000 + 5,000 = 25,000 -> $0.025
    assert request_cost(gpt4o, 10_000, 4_000, 0, 500) == pytest.approx(0.025)
    # Nothing cached: 10,000 x 2.50 + 500 x 10.00 = 30,000 -> $0.03
    assert request_cost(gpt4o, 10_000, 0, 0, 500) == pytest.approx(0.030)

    haiku = catalog.price("claude-3-haiku", DAY)  # 0.25 in, 0.03 read, 0.30 write, 1.25 out
    # 10,000 input = 5,000 uncached + 2,000 read + 3,000 written; 1,000 output:
    # 5,000 x 0.25 + 2,000 x 0.03 + 3,000 x 0.30 + 1,000 x 1.25
    # = 1,250 + 60 + 900 + 1,250 = 3,460 -> $0.00346
    assert request_cost(haiku, 10_000, 2_000, 3_000, 1_000) == pytest.approx(0.00346)

    # Bedrock's Claude 3 Haiku has no cache prices: cached tokens fall back to $0.25 input.
    bedrock = catalog.price("us.anthropic.claude-3-haiku-20240307-v1:0", DAY)
    assert bedrock.cache_read is None and bedrock.cache_write is None
    # 10,000 x 0.25 + 1,000 x 1.25 = 2,500 + 1,250 = 3,750 -> $0.00375, whatever is cached
    assert request_cost(bedrock, 10_000, 2_000, 3_000, 1_000) == pytest.approx(0.00375)

    with pytest.raises(ValueError, match="include cached tokens"):
        request_cost(gpt4o, 1_000, 800, 300, 10)  # Anthropic-style counts, not added up


def test_long_context_tier_prices_the_whole_request(catalog):
    pro = catalog.price("gemini-2.5-pro", DAY)  # 1.25 / 10 up to 200k input, 2.50 / 15 above
    # 150,000 in, 1,000 out: 150,000 x 1.25 + 1,000 x 10 = 187,500 + 10,000 -> $0.1975
    assert request_cost(pro, 150_000, 0, 0, 1_000) == pytest.approx(0.1975)
    # Exactly 200,000 is not above the boundary: 200,000 x 1.25 = 250,000 -> $0.25
    assert request_cost(pro, 200_000, 0, 0, 0) == pytest.approx(0.25)
    # 250,000 in (50,000 cached at 0.25 long), 1,000 out at 15:
    # 200,000 x 2.50 + 50,000 x 0.25 + 1,000 x 15 = 500,000 + 12,500 + 15,000 -> $0.5275
    assert request_cost(pro, 250_000, 50_000, 0, 1_000) == pytest.approx(0.5275)


def test_batch_prices(catalog):
    gpt4o = catalog.price("gpt-4o", DAY)  # batch $1.25 in, $5.00 out
    # 10,000 x 1.25 + 1,000 x 5.00 = 12,500 + 5,000 -> $0.0175
    assert request_cost(gpt4o, 10_000, 0, 0, 1_000, batch=True) == pytest.approx(0.0175)
    # genai-prices has no batch cache-read price for gpt-4o: the standard $1.25 applies:
    # 6,000 x 1.25 + 4,000 x 1.25 + 1,000 x 5.00 = 7,500 + 5,000 + 5,000 -> $0.0175
    assert request_cost(gpt4o, 10_000, 4_000, 0, 1_000, batch=True) == pytest.approx(0.0175)
    # Before 2026-10-14 genai-prices records no batch price: the standard one is used:
    # 10,000 x 2.50 + 1,000 x 10.00 = 35,000 -> $0.035
    early = catalog.price("gpt-4o", date(2026, 10, 1))
    assert request_cost(early, 10_000, 0, 0, 1_000, batch=True) == pytest.approx(0.035)

    sonnet = catalog.price("claude-sonnet-4-5", DAY)  # batch 1.50 / 7.50, long 3.00 / 11.25
    assert (sonnet.batch_input_long, sonnet.batch_output_long) == (3.0, 11.25)
    # 300,000 in, 1,000 out, batch and long: 300,000 x 3.00 + 1,000 x 11.25 -> $0.91125
    assert request_cost(sonnet, 300_000, 0, 0, 1_000, batch=True) == pytest.approx(0.91125)
    # The same request, not batch: 300,000 x 6.00 + 1,000 x 22.50 = 1,822,500 -> $1.8225
    assert request_cost(sonnet, 300_000, 0, 0, 1_000) == pytest.approx(1.8225)


def test_prices_by_date(catalog):
    # genai-prices dates OpenAI's o3 cut: $10 / $40 until 2025-06-09, $2 / $8 from 2025-06-10.
    before = catalog.price("o3", date(2025, 6, 9))
    after = catalog.price("o3", date(2025, 6, 10))
    assert (before.input, before.output, before.valid_to) == (10.0, 40.0, date(2025, 6, 10))
    assert (after.input, after.output, after.valid_from) == (2.0, 8.0, date(2025, 6, 10))
    # The same 100,000 in / 10,000 out call re-priced on each day:
    # before: 100,000 x 10 + 10,000 x 40 = 1,400,000 -> $1.40
    # after:  100,000 x 2 + 10,000 x 8 = 280,000 -> $0.28
    assert request_cost(before, 100_000, 0, 0, 10_000) == pytest.approx(1.40)
    assert request_cost(after, 100_000, 0, 0, 10_000) == pytest.approx(0.28)
    assert catalog.price("o3-2025-04-16", date(2025, 5, 1)).input == 10.0


# --------------------------------------------------------------------------- override files

OVERRIDE_CSV = """provider,model,aliases,valid_from,input,output,cache_read
openai,gpt-4o,,,2.00,8.00,1.00
anthropic,claude-3-haiku,,2026-01-01,0.20,1.00,
acme,acme-chat-1,acme-chat|acme-chat-1-*,,1.50,3.00,
"""


def test_override_replaces_and_adds_rows(tmp_path: Path):
    path = tmp_path / "negotiated.csv"
    path.write_text(OVERRIDE_CSV)
    catalog = load_price_catalog(path)
    assert catalog.version == "genai-prices-0.2.3+override:negotiated.csv"

    # Replaced: the since-ever gpt-4o row; the 2026-10-14 row of the snapshot stays.
    early = catalog.price("gpt-4o", date(2026, 1, 1))
    assert (early.input, early.output, early.cache_read) == (2.0, 8.0, 1.0)
    assert early.valid_to == date(2026, 10, 14)
    assert early.source == "override:negotiated.csv"
    assert early.catalog_version == catalog.version
    assert catalog.price("gpt-4o", DAY).input == 2.50
    # 1,000 in (400 cached) + 100 out: 600 x 2.00 + 400 x 1.00 + 100 x 8.00 = 2,400 -> $0.0024
    assert request_cost(early, 1_000, 400, 0, 100) == pytest.approx(0.0024)

    # Added: a dated Claude 3 Haiku price; the snapshot's row now ends where it starts.
    assert catalog.price("claude-3-haiku", date(2025, 12, 31)).input == 0.25
    assert catalog.price("claude-3-haiku", date(2025, 12, 31)).valid_to == date(2026, 1, 1)
    assert catalog.price("claude-3-haiku", date(2026, 1, 1)).input == 0.20

    # Added: a model of a provider genai-prices does not list, found by its aliases.
    assert catalog.price("acme-chat", DAY).model == "acme-chat-1"
    assert catalog.price("acme-chat-1-0613", DAY, provider="acme").output == 3.0
    rows = catalog.frame().filter(pl.col("provider") == "acme")
    assert rows.height == 1 and rows["source"][0] == "override:negotiated.csv"
    # The shipped catalog is untouched.
    assert load_price_catalog().price("gpt-4o", date(2026, 1, 1)).input == 2.50


def test_yaml_override(tmp_path: Path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "prices:\n"
        "  - provider: openai\n"
        "    model: gpt-4o-mini\n"
        "    valid_from: 2026-11-15\n"
        "    input: 0.10\n"
        "    output: 0.40\n"
    )
    catalog = load_price_catalog(path)
    assert catalog.version == "genai-prices-0.2.3+override:prices.yaml"
    assert catalog.price("gpt-4o-mini", date(2026, 11, 14)).input == 0.15
    assert catalog.price("gpt-4o-mini", date(2026, 11, 15)).input == 0.10


def test_override_row_before_its_first_day_has_no_price(tmp_path: Path):
    path = tmp_path / "new.csv"
    path.write_text("provider,model,valid_from,input,output\nacme,acme-2,2026-06-01,1,2\n")
    catalog = load_price_catalog(path)
    with pytest.raises(NoPriceOnDay, match="acme/acme-2"):
        catalog.price("acme-2", date(2026, 5, 31))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "provider,model,input,output\nopenai,gpt-4o,2.5,10\nopenai,gpt-4o-mini,-0.15,0.6\n",
            "bad.csv, row 2 (line 3), column input: expected a price >= 0 in USD per million "
            "tokens, got '-0.15'",
        ),
        (
            "provider,model,input,output,cache_reed\nopenai,gpt-4o,2.5,10,1\n",
            "column 'cache_reed' is not a price catalog column (did you mean 'cache_read'?)",
        ),
        (
            "provider,model,valid_from,input,output\nopenai,gpt-4o,01/11/2026,2.5,10\n",
            "bad.csv, row 1 (line 2), column valid_from: expected a date YYYY-MM-DD",
        ),
        (
            "provider,model,input,output\nopenai,gpt-4o,,10\n",
            "bad.csv, row 1 (line 2), column input: expected a price in USD per million tokens,"
            " got an empty value",
        ),
        (
            "provider,model,input,output\nopenai,gpt-4o,two,10\n",
            "column input: expected a price >= 0 in USD per million tokens, got 'two'",
        ),
        (
            "provider,model,input,input_long\nopenai,gpt-4o,2,4\n",
            "column long_context_threshold: expected the tier boundary in input tokens",
        ),
        (
            "provider,model,input\nopenai,gpt-4o,2\nopenai,gpt-4o,3\n",
            "bad.csv, row 2 (line 3): duplicate of row 1 (line 2)",
        ),
        ("model,input\ngpt-4o,2\n", "missing column(s) provider"),
    ],
)
def test_bad_override_names_file_row_and_column(tmp_path: Path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PriceCatalogError) as caught:
        load_price_catalog(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_bad_yaml_override_names_row_and_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "- provider: openai\n"
        "  model: gpt-4o\n"
        "  input: 2.5\n"
        "- provider: openai\n"
        "  model: gpt-4o-mini\n"
        "  valid_from: soon\n"
        "  input: 0.15\n"
    )
    with pytest.raises(PriceCatalogError) as caught:
        load_price_catalog(path)
    assert "bad.yaml, row 2 (line 4), column valid_from: expected a date YYYY-MM-DD" in str(
        caught.value
    )
    assert "got 'soon'" in str(caught.value)


# --------------------------------------------------------------------------- many requests


def _requests(rows: list[dict]) -> pl.LazyFrame:
    schema = {
        "day": pl.Date,
        "provider": pl.String,
        "model_responded": pl.String,
        "model_requested": pl.String,
        "input_tokens": pl.Int64,
        "cache_read_tokens": pl.Int64,
        "cache_write_tokens": pl.Int64,
        "output_tokens": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").lazy()


def test_priced_requests_by_model_and_day(catalog, caplog):
    requests = _requests(
        [
            # gpt-4o: 10,000 in (4,000 cached), 500 out -> 6,000 x 2.5 + 4,000 x 1.25
            # + 500 x 10 = 25,000 -> $0.025
            (DAY, "openai", "gpt-4o-2024-08-06", "gpt-4o", 10_000, 4_000, 0, 500),
            # Responded model missing: the requested Haiku, 2,000 in, 500 out
            # -> 2,000 x 0.25 + 500 x 1.25 = 1,125 -> $0.001125
            (DAY, "anthropic", None, "claude-3-haiku-20240307", 2_000, 0, 0, 500),
            # Bedrock, in-region Sonnet 4.5 at 3.30 / 16.50: 1,000 in, 100 out
            # -> 1,000 x 3.3 + 100 x 16.5 = 4,950 -> $0.00495
            (
                DAY,
                "aws.bedrock",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                None,
                1_000,
                0,
                0,
                100,
            ),
            # o3 before and after its 2025-06-10 cut: 100,000 in, 10,000 out
            # -> $1.40 on 2025-06-09, $0.28 on 2025-06-10
            (date(2025, 6, 9), "openai", "o3-2025-04-16", "o3", 100_000, 0, 0, 10_000),
            (date(2025, 6, 10), "openai", "o3-2025-04-16", "o3", 100_000, 0, 0, 10_000),
            # Gemini 2.5 Pro, long context: 250,000 in (50,000 cached), 1,000 out
            # -> 200,000 x 2.5 + 50,000 x 0.25 + 1,000 x 15 = 527,500 -> $0.5275
            (DAY, "gcp.vertex_ai", "gemini-2.5-pro", None, 250_000, 50_000, 0, 1_000),
            # Unknown model: kept, cost null, listed.
            (DAY, "openai", "my-finetune-xyz", "my-finetune-xyz", 1_000, 0, 0, 10),
            # Cache tokens above input (not the OpenAI convention): kept, cost null.
            (DAY, "openai", "gpt-4o", None, 100, 200, 0, 10),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="costlake.ai.prices"):
        priced = priced_requests(requests, catalog).collect()
    assert priced.height == 8
    assert priced["estimated_cost"].to_list()[:6] == pytest.approx(
        [0.025, 0.001125, 0.00495, 1.40, 0.28, 0.5275]
    )
    assert priced["estimated_cost"].to_list()[6:] == [None, None]
    assert priced["catalog_model"].to_list() == [
        "gpt-4o",
        "claude-3-haiku",
        "regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "o3",
        "o3",
        "gemini-2.5-pro",
        None,
        "gpt-4o",
    ]
    assert set(priced["catalog_version"]) == {"genai-prices-0.2.3"}
    assert "my-finetune-xyz" in caplog.text
    missing = unmatched_models(priced)
    assert missing["model_responded"].to_list() == ["my-finetune-xyz"]
    assert missing["requests"].to_list() == [1]
    # The requests' own columns come back unchanged, in order.
    assert priced.columns[:8] == requests.collect_schema().names()


def test_priced_requests_batch_column(catalog):
    frame = _requests([(DAY, "openai", "gpt-4o", None, 10_000, 0, 0, 1_000)] * 2)
    frame = frame.with_columns(pl.Series("batch", [False, True]))
    costs = priced_requests(frame, catalog).collect()["estimated_cost"].to_list()
    # 10,000 x 2.50 + 1,000 x 10 = 35,000 -> $0.035; batch 10,000 x 1.25 + 1,000 x 5 -> $0.0175
    assert costs == pytest.approx([0.035, 0.0175])


def test_a_million_requests_price_in_one_plan(catalog):
    base = [
        (DAY, "openai", "gpt-4o", "gpt-4o", 2_000, 500, 0, 300),
        (DAY, "anthropic", "claude-3-haiku-20240307", None, 3_000, 0, 1_000, 200),
        (date(2026, 10, 2), "aws.bedrock", "amazon.nova-lite-v1:0", None, 1_000, 0, 0, 100),
        (DAY, "gcp.vertex_ai", "gemini-2.5-pro", None, 250_000, 0, 0, 1_000),
        (DAY, "openai", "unknown-model", None, 10, 0, 0, 1),
    ]
    small = _requests(base).collect()
    big = small.select(pl.all().gather(pl.int_range(1_000_000) % len(base))).lazy()
    priced = priced_requests(big, catalog).collect()
    assert priced.height == 1_000_000
    assert priced["estimated_cost"].null_count() == 200_000
    # Nova Lite row: 1,000 x 0.06 + 100 x 0.24 = 84 -> $0.000084, 200,000 times -> $16.80
    nova = priced.filter(pl.col("catalog_model") == "amazon.nova-lite-v1:0")
    assert nova["estimated_cost"].sum() == pytest.approx(16.80)


# --------------------------------------------------------------------------- workload estimates

# The classic RAG chatbot: 10,000 queries a day, 2,000 input and 500 output tokens, 30 days.
QUERIES, INPUT, OUTPUT, DAYS = 10_000, 2_000, 500, 30
GPT4O_IN, GPT4O_OUT = 2.50, 10.00  # USD per million tokens
HAIKU_IN, HAIKU_OUT = 0.25, 1.25


def test_rag_chatbot_monthly_cost(catalog):
    # GPT-4o per query: 2,000 x 2.50 / 1M = $0.005 in + 500 x 10.00 / 1M = $0.005 out = $0.01;
    # a month: 0.01 x 10,000 x 30 = $3,000.00 (input $1,500, output $1,500).
    gpt4o_query = (INPUT * GPT4O_IN + OUTPUT * GPT4O_OUT) / M
    assert gpt4o_query == pytest.approx(0.01)
    assert gpt4o_query * QUERIES * DAYS == pytest.approx(3_000.00)
    # Claude 3 Haiku per query: 2,000 x 0.25 / 1M = $0.0005 + 500 x 1.25 / 1M = $0.000625
    # = $0.001125; a month: 0.001125 x 300,000 = $337.50.
    haiku_query = (INPUT * HAIKU_IN + OUTPUT * HAIKU_OUT) / M
    assert haiku_query * QUERIES * DAYS == pytest.approx(337.50)

    gpt4o = monthly_cost(catalog, "gpt-4o", QUERIES, INPUT, OUTPUT, days=DAYS, day=DAY)
    assert gpt4o.monthly_cost == pytest.approx(3_000.00)
    assert gpt4o.per_query_cost == pytest.approx(0.01)
    assert (gpt4o.input_cost, gpt4o.output_cost) == (pytest.approx(1_500.0), pytest.approx(1_500.0))
    assert (gpt4o.model, gpt4o.provider) == ("gpt-4o", "openai")
    assert gpt4o.catalog_version == "genai-prices-0.2.3"
    assert gpt4o.price_date == DAY
    haiku = monthly_cost(catalog, "claude-3-haiku-20240307", QUERIES, INPUT, OUTPUT, day=DAY)
    assert haiku.monthly_cost == pytest.approx(337.50)
    # 150 + 187.50
    assert (haiku.input_cost, haiku.output_cost) == (pytest.approx(150.0), pytest.approx(187.5))


def test_compare_models_saving(catalog):
    ranked = compare_models(
        catalog,
        ["gpt-4o", "claude-3-haiku-20240307"],
        QUERIES,
        INPUT,
        OUTPUT,
        days=DAYS,
        day=DAY,
        baseline="gpt-4o",
    )
    assert [e.model for e in ranked] == ["claude-3-haiku", "gpt-4o"]
    # (3,000 - 337.50) / 3,000 = 2,662.50 / 3,000 = 88.75 % (about 89 %)
    assert ranked[0].saving_vs_most_expensive_pct == pytest.approx(88.75)
    assert ranked[0].saving_vs_baseline_pct == pytest.approx(88.75)
    assert round(ranked[0].saving_vs_most_expensive_pct) == 89
    assert ranked[1].saving_vs_most_expensive_pct == pytest.approx(0.0)
    assert ranked[1].baseline == "gpt-4o"

    three = compare_models(
        catalog,
        ["gpt-4o", "gpt-4o-mini", "claude-3-haiku"],
        QUERIES,
        INPUT,
        OUTPUT,
        day=DAY,
        baseline="claude-3-haiku",
    )
    # gpt-4o-mini at 0.15 / 0.60: (2,000 x 0.15 + 500 x 0.60) / 1M = $0.0006 a query -> $180
    assert [round(e.monthly_cost, 2) for e in three] == [180.0, 337.5, 3_000.0]
    # versus Haiku: (337.50 - 180) / 337.50 = 46.67 %; GPT-4o: (337.50 - 3,000) / 337.50 = -788.9 %
    assert three[0].saving_vs_baseline_pct == pytest.approx((337.5 - 180) / 337.5 * 100)
    assert three[2].saving_vs_baseline_pct == pytest.approx(-788.888, rel=1e-4)


def test_monthly_cost_with_cache_share(catalog):
    # GPT-4o, 1,000 queries a day, 2,000 input of which half cached, 500 output, 30 days:
    # per query 1,000 x 2.50 + 1,000 x 1.25 + 500 x 10 = 8,750 -> $0.00875;
    # a month 0.00875 x 30,000 = $262.50 = input $112.50 + output $150.00.
    estimate = monthly_cost(catalog, "gpt-4o", 1_000, 2_000, 500, cached_share=0.5, day=DAY)
    assert estimate.monthly_cost == pytest.approx(262.50)
    assert estimate.input_cost == pytest.approx(112.50)
    assert estimate.output_cost == pytest.approx(150.00)
    with pytest.raises(ValueError, match="cached_share"):
        monthly_cost(catalog, "gpt-4o", 1_000, 2_000, 500, cached_share=1.5, day=DAY)


def test_monthly_cost_long_context_output(catalog):
    # Gemini 2.5 Pro, 100 queries a day of 300,000 input (long tier 2.50 / 15.00), 1,000 output:
    # per query 300,000 x 2.50 + 1,000 x 15 = 765,000 -> $0.765; 30 days x 100 = 3,000 queries
    # -> $2,295 = input $2,250 + output $45.
    estimate = monthly_cost(catalog, "gemini-2.5-pro", 100, 300_000, 1_000, day=DAY)
    assert estimate.monthly_cost == pytest.approx(2_295.0)
    assert estimate.input_cost == pytest.approx(2_250.0)
    assert estimate.output_cost == pytest.approx(45.0)
