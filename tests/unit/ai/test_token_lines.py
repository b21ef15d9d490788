"""AI token lines of the four clouds' bills: raw rows written as each cloud writes its export,
normalized by the project's own normalizers, then read by ``costlake.ai.token_lines``.

Every expected figure is worked out by hand from the rows written here (usage amount × the
pricing unit's size), or for the AWS demo bill from the generated CSV rows themselves,
independently of ``token_lines``.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from costlake.ai.token_lines import (
    TOKEN_LINE_COLUMNS,
    UNRECOGNISED_COLUMNS,
    ai_usage_lines,
    normalize_model,
    token_lines,
    unrecognised_ai_lines,
)
from costlake.focus.lake import Lake
from costlake.focus.schema import focus_polars_schema
from costlake.focus.single_file import normalize_file


def _write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in header})
    return path


def _normalized(tmp_path: Path, source: Path, dataset: str) -> pl.LazyFrame:
    """The FOCUS rows the project's own ingest writes for one export file."""
    lake = Lake(tmp_path / "lake")
    report = normalize_file(source, lake, dataset, None)
    assert report.rows_rejected == 0
    return lake.scan("focus")


def _listings(focus: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Token lines and unrecognised AI lines, after checking that they partition the AI usage
    lines: each in exactly one listing, none dropped, none doubled. A row is known by its
    lineage (file, row) and its charge period (file names repeat across periods)."""
    tokens = token_lines(focus).collect(engine="streaming")
    unknown = unrecognised_ai_lines(focus).collect(engine="streaming")
    ai = ai_usage_lines(focus).collect(engine="streaming")
    assert tokens.columns == TOKEN_LINE_COLUMNS
    assert unknown.columns == UNRECOGNISED_COLUMNS
    key = ["x_SourceFile", "x_SourceRow", "ChargePeriodStart"]
    token_keys = set(tokens.select(key).iter_rows())
    unknown_keys = set(unknown.select(key).iter_rows())
    assert len(token_keys) == tokens.height and len(unknown_keys) == unknown.height
    assert not token_keys & unknown_keys
    assert token_keys | unknown_keys == set(ai.select(key).iter_rows())
    assert tokens.height + unknown.height == ai.height
    assert unknown["reason"].null_count() == 0
    return tokens, unknown


def _by_row(focus: pl.LazyFrame) -> tuple[dict[int, dict], dict[int, dict]]:
    """``_listings`` of a one-file bill, each listing by source row."""
    tokens, unknown = _listings(focus)
    return (
        {row["x_SourceRow"]: row for row in tokens.iter_rows(named=True)},
        {row["x_SourceRow"]: row for row in unknown.iter_rows(named=True)},
    )


def _line(row: dict) -> tuple:
    return (
        row["model_billed"],
        row["model"],
        row["direction"],
        row["tier"],
        row["quantity"],
        row["quantity_unit"],
    )


# -- AWS: CUR 2.0 -------------------------------------------------------------------------

CUR2_HEADER = [
    "identity_line_item_id",
    "bill_billing_entity",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_account_id",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_resource_id",
    "line_item_usage_amount",
    "line_item_currency_code",
    "line_item_unblended_rate",
    "line_item_unblended_cost",
    "line_item_line_item_description",
    "line_item_legal_entity",
    "pricing_public_on_demand_cost",
    "pricing_term",
    "pricing_unit",
    "product_region_code",
    "resource_tags",
    "product",
]
CLAUDE_PRODUCT = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"
NOVA_PROFILE = "arn:aws:bedrock:us-east-1:777788889999:application-inference-profile/hx7k2m9q4w1z"


def _cur_row(n: int, usage_type: str, unit: str, amount: str, cost: str, **extra: str) -> dict:
    row = {
        "identity_line_item_id": f"li-{n}",
        "bill_billing_entity": "AWS",
        "bill_payer_account_id": "111122223333",
        "bill_payer_account_name": "Acme",
        "bill_billing_period_start_date": "2026-11-01T00:00:00.000Z",
        "bill_billing_period_end_date": "2026-12-01T00:00:00.000Z",
        "line_item_usage_account_id": "777788889999",
        "line_item_line_item_type": "Usage",
        "line_item_usage_start_date": "2026-11-03T00:00:00.000Z",
        "line_item_usage_end_date": "2026-11-04T00:00:00.000Z",
        "line_item_product_code": "AmazonBedrock",
        "line_item_usage_type": usage_type,
        "line_item_operation": "InvokeModelInference",
        "line_item_usage_amount": amount,
        "line_item_currency_code": "USD",
        "line_item_unblended_cost": cost,
        "pricing_public_on_demand_cost": cost,
        "pricing_term": "OnDemand",
        "pricing_unit": unit,
        "product_region_code": "us-east-1",
        "resource_tags": "{}",
        "product": json.dumps({"product_name": "Amazon Bedrock", "servicecode": "AmazonBedrock"}),
    }
    row.update(extra)
    return row


def _marketplace(n: int, usage_type: str, unit: str, amount: str, cost: str) -> dict:
    return _cur_row(
        n,
        usage_type,
        unit,
        amount,
        cost,
        bill_billing_entity="AWS Marketplace",
        line_item_product_code="AmazonBedrockFoundationModels",
        line_item_operation="Usage",
        line_item_legal_entity="Anthropic, PBC",
        line_item_line_item_description=f"Per 1M tokens for {CLAUDE_PRODUCT}",
        product=json.dumps(
            {"product_name": CLAUDE_PRODUCT, "servicecode": "AmazonBedrockFoundationModels"}
        ),
    )


def test_bedrock_first_party_and_marketplace_lines(tmp_path):
    nova_tags = json.dumps({"user_project": "helpdesk-bot", "user_team": "support"})
    rows = [
        # 1: first party, 1K tokens: 1,234.5 thousand tokens = 1,234,500 tokens.
        _cur_row(
            1,
            "USE1-NovaLite-input-tokens",
            "1K tokens",
            "1234.5",
            "0.07407",
            line_item_resource_id=NOVA_PROFILE,
            resource_tags=nova_tags,
        ),
        # 2: 12.5 thousand output tokens = 12,500.
        _cur_row(2, "USE1-Claude3Haiku-output-tokens", "1K tokens", "12.5", "0.015625"),
        # 3: batch, 40 thousand input tokens = 40,000.
        _cur_row(3, "USE1-Claude3Haiku-input-tokens-batch", "1K tokens", "40", "0.005"),
        # 4: cross-region global inference, 2 thousand cache reads = 2,000.
        _cur_row(
            4,
            "USE1-Claude4Sonnet-cache-read-input-token-count-cross-region-global",
            "1K tokens",
            "2",
            "0.0006",
        ),
        # 5: Marketplace Claude, 1M tokens: 2.75 million cache reads = 2,750,000.
        _marketplace(
            5, "USE1-MP:USE1_CacheReadInputTokenCount-Units", "1M tokens", "2.75", "0.825"
        ),
        # 6: Marketplace global output, 0.4 million = 400,000.
        _marketplace(6, "USE1-MP:USE1_OutputTokenCount_Global-Units", "1M tokens", "0.4", "6"),
        # 7: a Bedrock line whose unit does not say how many tokens one unit is.
        _marketplace(7, "USE1-MP:USE1_InputTokenCount-Units", "Units", "3", "9"),
        # 8: provisioned throughput, billed by the hour.
        _cur_row(8, "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits", "Hrs", "24", "480"),
        # 9: not AI at all; 10: a Bedrock credit, not usage: in neither listing.
        _cur_row(
            9,
            "USE1-BoxUsage:m6i.large",
            "Hrs",
            "24",
            "2.304",
            line_item_product_code="AmazonEC2",
            product=json.dumps({"product_name": "Amazon Elastic Compute Cloud"}),
        ),
        _cur_row(10, "", "", "", "-1", line_item_line_item_type="Credit"),
    ]
    source = _write_csv(tmp_path / "cur2.csv", CUR2_HEADER, rows)
    tokens, unknown = _by_row(_normalized(tmp_path, source, "aws_cur2"))

    assert sorted(tokens) == [1, 2, 3, 4, 5, 6]
    assert sorted(unknown) == [7, 8]
    expected = {
        1: ("NovaLite", "nova-lite", "input", "standard", 1_234_500.0, "tokens"),
        2: ("Claude3Haiku", "claude-3-haiku", "output", "standard", 12_500.0, "tokens"),
        3: ("Claude3Haiku", "claude-3-haiku", "input", "batch", 40_000.0, "tokens"),
        4: ("Claude4Sonnet", "claude-sonnet-4", "cache_read", "global", 2_000.0, "tokens"),
        5: (
            "Claude Sonnet 4.5",
            "claude-sonnet-4-5",
            "cache_read",
            "standard",
            2_750_000.0,
            "tokens",
        ),
        6: ("Claude Sonnet 4.5", "claude-sonnet-4-5", "output", "global", 400_000.0, "tokens"),
    }
    for n, line in expected.items():
        assert _line(tokens[n]) == pytest.approx(line), n
    nova = tokens[1]
    assert (nova["x_Provider"], nova["BillingAccountId"], nova["SubAccountId"]) == (
        "aws",
        "111122223333",
        "777788889999",
    )
    assert nova["day"] == date(2026, 11, 3)
    assert nova["ChargePeriodStart"] == datetime(2026, 11, 3, tzinfo=UTC)
    assert nova["ResourceId"] == NOVA_PROFILE
    assert (nova["BilledCost"], nova["EffectiveCost"]) == (pytest.approx(0.07407),) * 2
    assert (nova["x_tag_project"], nova["x_tag_team"]) == ("helpdesk-bot", "support")
    assert nova["x_SourceFile"] == "cur2.csv"
    assert tokens[5]["ServiceName"] == CLAUDE_PRODUCT
    assert tokens[5]["model_version"] is None

    assert "'Units'" in unknown[7]["reason"]
    assert unknown[7]["x_UsageType"] == "USE1-MP:USE1_InputTokenCount-Units"
    assert unknown[7]["BilledCost"] == pytest.approx(9)
    assert unknown[8]["tier"] == "provisioned"
    assert unknown[8]["reason"].startswith("provisioned or dedicated capacity")


@pytest.mark.parametrize(
    ("usage_type", "model", "direction", "tier"),
    [
        ("USE1-NovaLite-output-tokens", "nova-lite", "output", "standard"),
        ("USE1-Claude3Haiku-batch-input-tokens", "claude-3-haiku", "input", "batch"),
        ("USE1-NovaPro-input-tokens-global", "nova-pro", "input", "global"),
        (
            "USE1-Claude4Sonnet-input-tokens-cross-region-global",
            "claude-sonnet-4",
            "input",
            "global",
        ),
        ("EU-Nova2.0Lite-output-tokens-cross-region-eu", "nova-2-lite", "output", "data_zone"),
        (
            "USW2-Claude4.5Sonnet-cache-write-input-token-count",
            "claude-sonnet-4-5",
            "cache_write",
            "standard",
        ),
        (
            "USE1-Claude3.5Haiku-input-tokens-latency-optimized",
            "claude-3-5-haiku",
            "input",
            "latency_optimized",
        ),
        ("USE1-Llama4-Maverick-17B-input-tokens-batch", "llama-4-maverick-17b", "input", "batch"),
        (
            "USE1-GPT-OSS-Safeguard-20B-output-tokens-priority",
            "gpt-oss-safeguard-20b",
            "output",
            "priority",
        ),
        ("USE1-qwen.qwen3-32b-mantle-input-tokens-flex", "qwen3-32b", "input", "flex"),
        ("USE1-MP:USE1_InputTokenCount_Batch-Units", "claude-sonnet-4-5", "input", "batch"),
        (
            "USW2-MP:USW2_cache_write_tokens_global_standard-Units",
            "claude-sonnet-4-5",
            "cache_write",
            "global",
        ),
    ],
)
def test_bedrock_usage_type_shapes(usage_type, model, direction, tier):
    marketplace = "MP:" in usage_type
    frame = _focus_frame(
        [
            {
                "x_Provider": "aws",
                "ServiceName": CLAUDE_PRODUCT if marketplace else "Amazon Bedrock",
                "ServiceSubcategory": "Generative AI",
                "x_ProductCode": "AmazonBedrockFoundationModels"
                if marketplace
                else "AmazonBedrock",
                "x_UsageType": usage_type,
                "PricingUnit": "1000000 Tokens" if marketplace else "1000 Tokens",
                "PricingQuantity": 2.5,
            }
        ]
    )
    tokens, _ = _by_row(frame)
    line = tokens[1]
    assert (line["model"], line["direction"], line["tier"]) == (model, direction, tier)
    assert line["quantity"] == pytest.approx(2_500_000.0 if marketplace else 2_500.0)


# -- AWS: the demo bill -------------------------------------------------------------------

BEDROCK_CODES = ("AmazonBedrock", "AmazonBedrockFoundationModels")
UNIT_SIZE = {"1K tokens": Decimal(1_000), "1M tokens": Decimal(1_000_000)}
MARKETPLACE_METRICS = {
    "InputTokenCount": "input",
    "OutputTokenCount": "output",
    "CacheReadInputTokenCount": "cache_read",
    "CacheWriteInputTokenCount": "cache_write",
}
# The catalog ids of the demo's model spellings.
DEMO_MODELS = {
    "NovaLite": "nova-lite",
    "Claude3Haiku": "claude-3-haiku",
    "Claude Sonnet 4.5": "claude-sonnet-4-5",
}


def _billed_model_and_direction(row: dict[str, str]) -> tuple[str, str]:
    """A generated Bedrock row's model spelling and direction, read with plain string
    operations from its usage type and product name (not by ``token_lines``)."""
    usage = row["line_item_usage_type"]
    if row["line_item_product_code"] == "AmazonBedrock":
        _region, model, rest = usage.split("-", 2)  # USE1-NovaLite-input-tokens
        return model, rest.removesuffix("-tokens")
    product = json.loads(row["product"])["product_name"]
    metric = usage.split("_", 1)[1].removesuffix("-Units")  # USE1-MP:USE1_InputTokenCount-Units
    return product.removesuffix(" (Amazon Bedrock Edition)"), MARKETPLACE_METRICS[metric]


def test_demo_bill_every_bedrock_line_is_a_token_line(tmp_path):
    from connectors.exports.aws import find_aws_deliveries
    from connectors.stores.files import LocalFileStore
    from costlake.focus.ingest import ingest_delivery
    from demo.aws import write_demo_aws_export

    bucket = tmp_path / "bucket"
    manifests = write_demo_aws_export(bucket)
    # What the generator wrote, read straight from the CSV files the manifests name.
    raw = []
    for manifest in manifests:
        for uri in json.loads(manifest.read_text())["dataFiles"]:
            with gzip.open(bucket / uri.split("/", 3)[3], "rt", newline="") as f:
                raw += list(csv.DictReader(f))
    bedrock = [
        r
        for r in raw
        if r["line_item_product_code"] in BEDROCK_CODES and r["line_item_line_item_type"] == "Usage"
    ]
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in bedrock:
        size = UNIT_SIZE[r["pricing_unit"]]
        expected[_billed_model_and_direction(r)] += Decimal(r["line_item_usage_amount"]) * size
    assert {
        ("NovaLite", "input"),
        ("NovaLite", "output"),
        ("Claude Sonnet 4.5", "input"),
        ("Claude Sonnet 4.5", "output"),
        ("Claude Sonnet 4.5", "cache_read"),
        ("Claude Sonnet 4.5", "cache_write"),
    } <= set(expected)

    store = LocalFileStore(bucket)
    lake = Lake(tmp_path / "lake")
    for delivery in find_aws_deliveries(store).values():
        ingest_delivery(delivery, store.local_path(delivery.files[0].path).parent, lake)
    listed, unknown = _listings(lake.scan("focus"))
    tokens = listed.to_dicts()

    assert unknown.is_empty()
    assert len(tokens) == len(bedrock)
    found: dict[tuple[str, str], float] = defaultdict(float)
    for line in tokens:
        assert (line["quantity_unit"], line["tier"]) == ("tokens", "standard")
        assert line["model"] == DEMO_MODELS[line["model_billed"]]
        found[(line["model_billed"], line["direction"])] += line["quantity"]
    assert found.keys() == expected.keys()
    for key, total in expected.items():
        assert found[key] == pytest.approx(float(total), rel=1e-12), key
    billed = sum(Decimal(r["line_item_unblended_cost"]) for r in bedrock)
    assert sum(line["BilledCost"] for line in tokens) == pytest.approx(float(billed))
    nova = [line for line in tokens if line["model"] == "nova-lite"]
    assert {line["x_tag_project"] for line in nova} == {"helpdesk-bot"}  # the demo's tag
    assert {line["day"] for line in nova} == {line["ChargePeriodStart"].date() for line in nova}


# -- Azure: cost details export -------------------------------------------------------------

AZURE_HEADER = [
    "invoiceId",
    "billingAccountId",
    "billingAccountName",
    "billingProfileId",
    "billingProfileName",
    "billingPeriodStartDate",
    "billingPeriodEndDate",
    "date",
    "productName",
    "meterCategory",
    "meterSubCategory",
    "meterName",
    "meterId",
    "quantity",
    "unitPrice",
    "costInBillingCurrency",
    "billingCurrency",
    "resourceLocation",
    "consumedService",
    "ResourceId",
    "SubscriptionId",
    "subscriptionName",
    "tags",
    "unitOfMeasure",
    "chargeType",
    "frequency",
    "pricingModel",
    "publisherType",
]
OPENAI_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/ai/providers/"
    "Microsoft.CognitiveServices/accounts/oai-prod"
)


def _azure_row(meter: str, quantity: str, cost: str, unit: str = "1K") -> dict[str, str]:
    return {
        "billingAccountId": "acct:1234",
        "billingAccountName": "Contoso",
        "billingProfileId": "PROF-1",
        "billingProfileName": "Contoso EU",
        "billingPeriodStartDate": "2025-03-01",
        "billingPeriodEndDate": "2025-03-31",
        "date": "2025-03-05",
        "productName": f"Azure OpenAI - {meter} - SE Central",
        "meterCategory": "Cognitive Services",
        "meterSubCategory": "Azure OpenAI",
        "meterName": meter,
        "meterId": "meter-" + meter.replace(" ", "-"),
        "quantity": quantity,
        "unitPrice": "0.001",
        "costInBillingCurrency": cost,
        "billingCurrency": "EUR",
        "resourceLocation": "swedencentral",
        "consumedService": "Microsoft.CognitiveServices",
        "ResourceId": OPENAI_ID,
        "SubscriptionId": "00000000-0000-0000-0000-000000000001",
        "subscriptionName": "AI prod",
        "tags": '"team": "ml","env": "prod"',
        "unitOfMeasure": unit,
        "chargeType": "Usage",
        "frequency": "UsageBased",
        "pricingModel": "OnDemand",
        "publisherType": "Microsoft",
    }


def test_azure_openai_meters(tmp_path):
    rows = [
        # 1: cached input, global deployment: 250 × 1K = 250,000 tokens.
        _azure_row("gpt 4o 1120 cached Inp glbl Tokens", "250", "0.31"),
        # 2: batch through a data zone deployment: batch wins, 80 × 1K = 80,000.
        _azure_row("gpt 4o 0806 Batch Inp Data Zone Tokens", "80", "0.1"),
        # 3: regional output of the mini model: 3.2 × 1K = 3,200.
        _azure_row("gpt 4o mini 0718 Outp regnl Tokens", "3.2", "0.002"),
        # 4: the older spelling: 1.5 × 1K = 1,500.
        _azure_row("gpt 4o 0513 Input global Tokens", "1.5", "0.0075"),
        # 5: provisioned throughput units, by the hour: AI spend, not a token line.
        _azure_row("Provisioned Managed Global Unit", "24", "24", unit="1 Hour"),
    ]
    source = _write_csv(tmp_path / "azure.csv", AZURE_HEADER, rows)
    tokens, unknown = _by_row(_normalized(tmp_path, source, "azure_actual"))

    assert sorted(tokens) == [1, 2, 3, 4]
    expected = {
        1: ("gpt 4o 1120", "gpt-4o", "cache_read", "global", 250_000.0, "tokens"),
        2: ("gpt 4o 0806", "gpt-4o", "input", "batch", 80_000.0, "tokens"),
        3: ("gpt 4o mini 0718", "gpt-4o-mini", "output", "regional", 3_200.0, "tokens"),
        4: ("gpt 4o 0513", "gpt-4o", "input", "global", 1_500.0, "tokens"),
    }
    for n, line in expected.items():
        assert _line(tokens[n]) == pytest.approx(line), n
    assert [tokens[n]["model_version"] for n in (1, 2, 3, 4)] == ["1120", "0806", "0718", "0513"]
    cached = tokens[1]
    assert (cached["ServiceName"], cached["BillingCurrency"]) == ("Azure OpenAI", "EUR")
    assert (cached["BillingAccountId"], cached["SubAccountId"]) == (
        "PROF-1",
        "00000000-0000-0000-0000-000000000001",
    )
    assert (cached["x_tag_team"], cached["x_tag_environment"]) == ("ml", "prod")
    assert cached["day"] == date(2025, 3, 5)
    assert cached["BilledCost"] == pytest.approx(0.31)

    assert sorted(unknown) == [5]
    assert unknown[5]["tier"] == "provisioned"
    assert unknown[5]["SkuMeter"] == "Provisioned Managed Global Unit"
    assert unknown[5]["reason"].startswith("provisioned or dedicated capacity")


# -- GCP: detailed billing export (JSON lines) ------------------------------------------------


def _gcp_row(sku: str, usage: dict, cost: float, service: tuple[str, str] | None = None) -> dict:
    service_id, service_name = service or ("C7E2-9256-1C43", "Vertex AI")
    return {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": service_id, "description": service_name},
        "sku": {"id": "SKU-" + sku.split()[0].upper(), "description": sku},
        "usage_start_time": "2026-11-05 00:00:00 UTC",
        "usage_end_time": "2026-11-05 01:00:00 UTC",
        "project": {
            "id": "app-prod",
            "number": "222233334444",
            "name": "App Prod",
            "labels": [],
            "ancestry_numbers": "/111/222233334444/",
        },
        "labels": [{"key": "team", "value": "search"}, {"key": "project", "value": "atlas"}],
        "system_labels": [],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1"},
        "resource": {"name": None, "global_name": None},
        "export_time": "2026-11-05 06:00:00 UTC",
        "cost": cost,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "usage": usage,
        "credits": [],
        "invoice": {"month": "202611"},
        "cost_type": "regular",
        "cost_at_list": cost,
        "price": None,
    }


def _count(amount: float) -> dict:
    return {
        "amount": amount,
        "unit": "count",
        "amount_in_pricing_units": amount,
        "pricing_unit": "count",
    }


def test_vertex_ai_gemini_skus(tmp_path):
    rows = [
        # 1: priced per 1,000 characters: 10,000,000 characters (10,000 pricing units).
        _gcp_row(
            "Gemini 1.5 Flash Input Characters",
            {
                "amount": 10_000_000.0,
                "unit": "characters",
                "amount_in_pricing_units": 10_000.0,
                "pricing_unit": "1000 characters",
            },
            0.75,
        ),
        # 2: long-context input tokens, counted one by one: 350,000 tokens.
        _gcp_row("Gemini 2.5 Pro Text Input (>200k)", _count(350_000.0), 0.875),
        # 3: thinking output is output: 120,000 tokens, short context.
        _gcp_row("Gemini 2.5 Pro Thinking Output (≤200k)", _count(120_000.0), 1.2),
        # 4: batch: 900,000 tokens.
        _gcp_row("Gemini 2.0 Flash Batch Text Input", _count(900_000.0), 0.045),
        # 5: images of a character-priced model counted in "count": not assumed to be tokens.
        _gcp_row("Gemini 1.5 Flash Image Input - Predictions", _count(40.0), 0.0008),
        # 6: not AI: in neither listing.
        _gcp_row(
            "Nvidia L4 GPU running in Americas",
            {
                "amount": 3600.0,
                "unit": "seconds",
                "amount_in_pricing_units": 1.0,
                "pricing_unit": "hour",
            },
            0.56,
            service=("6F81-5844-456A", "Compute Engine"),
        ),
    ]
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tokens, unknown = _by_row(_normalized(tmp_path, source, "gcp_billing_export_detailed"))

    assert sorted(tokens) == [1, 2, 3, 4]
    expected = {
        1: ("Gemini 1.5 Flash", "gemini-1.5-flash", "input", "standard", 1e7, "characters"),
        2: ("Gemini 2.5 Pro", "gemini-2.5-pro", "input", "long_context", 350_000.0, "tokens"),
        3: ("Gemini 2.5 Pro", "gemini-2.5-pro", "output", "standard", 120_000.0, "tokens"),
        4: ("Gemini 2.0 Flash", "gemini-2.0-flash", "input", "batch", 900_000.0, "tokens"),
    }
    for n, line in expected.items():
        assert _line(tokens[n]) == pytest.approx(line), n
    first = tokens[1]
    assert (first["BillingAccountId"], first["SubAccountId"]) == (
        "01A2B3-C4D5E6-F7A8B9",
        "app-prod",
    )
    assert (first["x_tag_team"], first["x_tag_project"]) == ("search", "atlas")
    assert first["day"] == date(2026, 11, 5)

    assert sorted(unknown) == [5]
    assert "gemini-1.5-flash" in unknown[5]["reason"]
    assert "priced per character" in unknown[5]["reason"]


# -- OCI: cost report ---------------------------------------------------------------------

OCI_HEADER = [
    "lineItem/referenceNo",
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "product/service",
    "product/compartmentId",
    "product/compartmentName",
    "product/region",
    "product/resourceId",
    "usage/billedQuantity",
    "cost/productSku",
    "product/Description",
    "cost/unitPrice",
    "cost/myCost",
    "cost/currencyCode",
    "cost/billingUnitReadable",
    "cost/skuUnitDescription",
    "lineItem/isCorrection",
    "tags/CostTracking.project",
]


OCI_READABLE = {
    "10,000 Characters": "10000 NONE NONE TRANSACTIONS",
    "1,000,000 Tokens": "1000000 NONE NONE TOKENS",
}


def _oci_row(n: int, service: str, sku: str, description: str, unit: str, quantity: str) -> dict:
    return {
        "lineItem/referenceNo": f"ref-{n}",
        "lineItem/tenantId": "ocid1.tenancy.oc1..acme",
        "lineItem/intervalUsageStart": "2026-11-03T10:00Z",
        "lineItem/intervalUsageEnd": "2026-11-03T11:00:00Z",
        "product/service": service,
        "product/compartmentId": "ocid1.compartment.oc1..inference",
        "product/compartmentName": "ml-inference",
        "product/region": "uk-london-1",
        "product/resourceId": f"ocid1.generativeaimodel.oc1.uk-london-1.res{n}",
        "usage/billedQuantity": quantity,
        "cost/productSku": sku,
        "product/Description": description,
        "cost/unitPrice": "1",
        "cost/myCost": quantity,
        "cost/currencyCode": "GBP",
        "cost/billingUnitReadable": OCI_READABLE.get(unit, ""),
        "cost/skuUnitDescription": unit,
        "lineItem/isCorrection": "false",
        "tags/CostTracking.project": "support-bot",
    }


def test_oci_generative_ai_lines(tmp_path):
    rows = [
        # 1: on-demand chat per 10,000 characters: 23.5 × 10,000 = 235,000 characters.
        _oci_row(
            1,
            "GENERATIVE_AI",
            "B108077",
            "OCI Generative AI - Large Cohere",
            "10,000 Characters",
            "23.5",
        ),
        # 2 and 3: per 1,000,000 tokens: 0.42 M in = 420,000, 0.105 M out = 105,000.
        _oci_row(
            2,
            "GENERATIVE_AI",
            "B110461",
            "OCI Generative AI - Meta Llama 3.1 70B - Input Tokens",
            "1,000,000 Tokens",
            "0.42",
        ),
        _oci_row(
            3,
            "GENERATIVE_AI",
            "B110462",
            "OCI Generative AI - Meta Llama 3.1 70B - Output Tokens",
            "1,000,000 Tokens",
            "0.105",
        ),
        # 4: a dedicated AI cluster, by the unit-hour: AI spend, not a token line.
        _oci_row(
            4,
            "GENERATIVE_AI",
            "B108079",
            "OCI Generative AI - Dedicated AI Cluster - Unit Hour",
            "Unit Hours",
            "1",
        ),
        # 5: a GPU VM: not a generative-AI service, in neither listing.
        _oci_row(5, "COMPUTE", "B95909", "Compute - GPU - A10 - VM.GPU.A10.1", "GPU Per Hour", "1"),
    ]
    source = _write_csv(tmp_path / "0000000030000001.csv", OCI_HEADER, rows)
    tokens, unknown = _by_row(_normalized(tmp_path, source, "oci_cost"))

    assert sorted(tokens) == [1, 2, 3]
    expected = {
        1: ("Large Cohere", "command-r-plus", "input_output", "standard", 235_000.0, "characters"),
        2: ("Meta Llama 3.1 70B", "llama-3.1-70b", "input", "standard", 420_000.0, "tokens"),
        3: ("Meta Llama 3.1 70B", "llama-3.1-70b", "output", "standard", 105_000.0, "tokens"),
    }
    for n, line in expected.items():
        assert _line(tokens[n]) == pytest.approx(line), n
    cohere = tokens[1]
    assert (cohere["ServiceName"], cohere["BillingCurrency"]) == ("GENERATIVE_AI", "GBP")
    assert cohere["SubAccountId"] == "ocid1.compartment.oc1..inference"
    assert cohere["x_tag_project"] == "support-bot"
    assert cohere["BilledCost"] == pytest.approx(23.5)

    assert sorted(unknown) == [4]
    assert unknown[4]["tier"] == "provisioned"
    # oci.py writes "Unit Hours" in FOCUS form, "Unit-Hours".
    assert (
        unknown[4]["reason"] == "provisioned or dedicated capacity billed in Unit-Hours, not tokens"
    )
    assert unknown[4]["model"] is None


# -- FOCUS-shaped rows and model names -----------------------------------------------------


def _focus_frame(rows: list[dict]) -> pl.LazyFrame:
    """FOCUS rows in the lake's schema: Usage rows dated 2 Nov 2026, numbered from 1."""
    schema = focus_polars_schema()
    base = {
        "ChargeCategory": "Usage",
        "BillingAccountId": "acct",
        "BillingCurrency": "USD",
        "ChargePeriodStart": datetime(2026, 11, 2, tzinfo=UTC),
        "BilledCost": 1.0,
        "EffectiveCost": 1.0,
        "x_SourceFile": "rows",
    }
    full = [
        {**dict.fromkeys(schema), **base, **row, "x_SourceRow": n}
        for n, row in enumerate(rows, start=1)
    ]
    return pl.DataFrame(full, schema=schema).lazy()


def test_lines_without_a_model_a_direction_or_a_token_unit_are_listed_with_a_reason():
    frame = _focus_frame(
        [
            {  # 1: a meter naming tokens but no direction
                "x_Provider": "azure",
                "ServiceName": "Azure OpenAI",
                "ServiceSubcategory": "Generative AI",
                "SkuMeter": "Model Routers GL 1M Tokens",
                "PricingUnit": "1000000 Tokens",
                "PricingQuantity": 1.0,
            },
            {  # 2: a Bedrock usage type that is not a token usage type
                "x_Provider": "aws",
                "ServiceName": "Amazon Bedrock",
                "x_ProductCode": "AmazonBedrock",
                "x_UsageType": "USE1-NovaCanvas-T2I-1024-Standard-Images",
                "PricingUnit": "Images",
                "PricingQuantity": 4.0,
            },
            {  # 3: a token usage type priced in a unit that counts no tokens
                "x_Provider": "aws",
                "ServiceName": "Amazon Bedrock",
                "x_ProductCode": "AmazonBedrock",
                "x_UsageType": "USE1-NovaLite-input-tokens",
                "PricingUnit": "Requests",
                "PricingQuantity": 4.0,
            },
            {  # 4: a credit on Bedrock: not usage, in neither listing
                "x_Provider": "aws",
                "ChargeCategory": "Credit",
                "ServiceName": "Amazon Bedrock",
                "x_ProductCode": "AmazonBedrock",
            },
        ]
    )
    tokens, unknown = _by_row(frame)
    assert tokens == {}
    assert sorted(unknown) == [1, 2, 3]
    assert unknown[1]["reason"].startswith("no token direction")
    assert unknown[2]["reason"].startswith("not a token usage type")
    assert unknown[3]["reason"] == "unit 'Requests' is not a token or character unit"


@pytest.mark.parametrize(
    ("billed", "model"),
    [
        ("NovaLite", "nova-lite"),
        ("Nova2.0Lite", "nova-2-lite"),
        ("Claude3Haiku", "claude-3-haiku"),
        ("Claude3.5Sonnet", "claude-3-5-sonnet"),
        ("Claude4.5Sonnet", "claude-sonnet-4-5"),
        ("Claude Sonnet 4.5 (Amazon Bedrock Edition)", "claude-sonnet-4-5"),
        ("cohere.command-r-plus", "command-r-plus"),
        ("meta.llama3-70b", "llama-3-70b"),
        ("Meta Llama 3.3 70B", "llama-3.3-70b"),
        ("gpt 4o", "gpt-4o"),
        ("gpt 4o mini", "gpt-4o-mini"),
        ("gpt 4.1 nano", "gpt-4.1-nano"),
        ("gpt 35 turbo", "gpt-3.5-turbo"),
        ("o3 mini", "o3-mini"),
        ("Gemini 2.5 Pro", "gemini-2.5-pro"),
        ("Gemini 1.5 Flash", "gemini-1.5-flash"),
        ("DeepSeek-R1", "deepseek-r1"),
        ("Large Cohere", "command-r-plus"),
        ("5.6", None),
    ],
)
def test_model_spellings(billed, model):
    frame = pl.DataFrame({"billed": [billed]})
    assert frame.select(normalize_model(pl.col("billed"))).item() == model
