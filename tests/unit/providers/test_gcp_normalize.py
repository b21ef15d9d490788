"""GCP billing export rows to FOCUS: credits as rows, money, units, periods, against hand-worked
values from tests/fixtures/gcp/hand_billing_export.jsonl (see the fixture's README)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FIXTURES, failed_audit

from costlake.focus.deliveries import DeliveryError
from costlake.focus.lake import Lake
from costlake.focus.readers import ROW_COLUMN
from costlake.focus.reconcile import reconcile
from costlake.focus.single_file import normalize_file

HAND_EXPORT = FIXTURES / "gcp" / "hand_billing_export.jsonl"
DATASET = "gcp_billing_export_detailed"

# Hand-worked from the fixture: Σ cost and Σ credits.amount.
SUM_COST = 88.0 + 2.5 + 0.75 + 7.04 + 0.013 - 5.0 - 0.004
SUM_CREDITS = -30.0 - 8.0 - 0.013
NET = 55.286

KEY_VALUE = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
# The detailed export's Parquet form: TIMESTAMP → timestamp[us, UTC], NUMERIC → decimal128(38, 9).
PARQUET_SCHEMA = pa.schema(
    [
        ("billing_account_id", pa.string()),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("usage_start_time", pa.timestamp("us", tz="UTC")),
        ("usage_end_time", pa.timestamp("us", tz="UTC")),
        (
            "project",
            pa.struct(
                [
                    ("id", pa.string()),
                    ("number", pa.string()),
                    ("name", pa.string()),
                    ("labels", KEY_VALUE),
                    ("ancestry_numbers", pa.string()),
                ]
            ),
        ),
        ("labels", KEY_VALUE),
        ("system_labels", KEY_VALUE),
        (
            "location",
            pa.struct(
                [
                    ("location", pa.string()),
                    ("country", pa.string()),
                    ("region", pa.string()),
                    ("zone", pa.string()),
                ]
            ),
        ),
        ("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())])),
        ("export_time", pa.timestamp("us", tz="UTC")),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("currency_conversion_rate", pa.float64()),
        (
            "usage",
            pa.struct(
                [
                    ("amount", pa.float64()),
                    ("unit", pa.string()),
                    ("amount_in_pricing_units", pa.float64()),
                    ("pricing_unit", pa.string()),
                ]
            ),
        ),
        (
            "credits",
            pa.list_(
                pa.struct(
                    [
                        ("name", pa.string()),
                        ("amount", pa.float64()),
                        ("full_name", pa.string()),
                        ("id", pa.string()),
                        ("type", pa.string()),
                    ]
                )
            ),
        ),
        ("invoice", pa.struct([("month", pa.string())])),
        ("cost_type", pa.string()),
        ("cost_at_list", pa.float64()),
        (
            "price",
            pa.struct(
                [
                    ("effective_price", pa.decimal128(38, 9)),
                    ("tier_start_amount", pa.decimal128(38, 9)),
                    ("unit", pa.string()),
                    ("pricing_unit_quantity", pa.decimal128(38, 9)),
                ]
            ),
        ),
    ]
)


def hand_rows() -> list[dict]:
    return [json.loads(line) for line in HAND_EXPORT.read_text().splitlines() if line.strip()]


def _timestamp(text: str) -> datetime:
    return datetime.strptime(
        text.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    ).replace(tzinfo=UTC)


def write_parquet(rows: list[dict], path: Path, drop: tuple[str, ...] = ()) -> Path:
    """The rows as BigQuery's Parquet export writes them (nested structs and lists)."""
    typed = []
    for row in rows:
        row = dict(row)
        for name in ("usage_start_time", "usage_end_time", "export_time"):
            row[name] = _timestamp(row[name])
        if row.get("price"):
            row["price"] = {k: Decimal(v) if k != "unit" else v for k, v in row["price"].items()}
        typed.append(row)
    schema = pa.schema([f for f in PARQUET_SCHEMA if f.name not in drop])
    pq.write_table(pa.Table.from_pylist(typed, schema=schema), path)
    return path


@pytest.fixture
def lake_and_report(tmp_path):
    lake = Lake(tmp_path / "lake")
    report = normalize_file(
        write_parquet(hand_rows(), tmp_path / "export.parquet"), lake, DATASET, None
    )
    return lake, report


def _focus(lake: Lake) -> pl.DataFrame:
    return lake.scan("focus").collect().sort(ROW_COLUMN, maintain_order=True)


def _rows(lake: Lake) -> dict[int, list[dict]]:
    rows: dict[int, list[dict]] = {}
    for row in _focus(lake).iter_rows(named=True):
        rows.setdefault(row[ROW_COLUMN], []).append(row)
    return rows


def test_billed_cost_is_cost_plus_credits_and_reconciles(lake_and_report):
    lake, report = lake_and_report
    focus = _focus(lake)
    assert (report.billing_period, report.rows_read, report.rows_written) == ("2026-11", 7, 10)
    assert report.rows_rejected == 0
    assert pytest.approx(NET) == SUM_COST + SUM_CREDITS
    assert focus["BilledCost"].sum() == pytest.approx(NET, abs=1e-9)
    assert focus["EffectiveCost"].sum() == pytest.approx(NET, abs=1e-9)
    # The bill's own numbers (cost, then each credit's amount) give the same total.
    assert report.bill_totals == {"USD": pytest.approx(NET, abs=1e-9)}
    lake_totals = {"USD": focus["BilledCost"].sum()}
    assert reconcile(report.bill_totals, lake_totals, report.rejected_cost_rows).ok
    credits = focus.filter(pl.col("ChargeCategory") == "Credit")
    assert credits["BilledCost"].sum() == pytest.approx(SUM_CREDITS)
    assert credits.height == 3
    # Credit rows follow their row, in source order.
    assert focus[ROW_COLUMN].to_list() == [1, 1, 1, 2, 3, 4, 5, 5, 6, 7]


def test_gpu_row_and_its_credit_rows(lake_and_report):
    lake, _ = lake_and_report
    usage, cud, promotion = _rows(lake)[1]
    november = datetime(2026, 11, 1, tzinfo=UTC)
    assert usage["ChargeCategory"] == "Usage"
    assert usage["ChargeClass"] is None
    # project.labels of fixture row 1, as an x_ JSON object beside the row's own labels.
    assert json.loads(usage["x_ProjectLabels"]) == {"cost-center": "cc-42"}
    assert usage["ChargeFrequency"] == "Usage-Based"
    assert (usage["BilledCost"], usage["EffectiveCost"], usage["ContractedCost"]) == (88, 88, 88)
    assert usage["ListCost"] == 96.0  # cost_at_list
    assert usage["PricingQuantity"] == 8.0  # usage.amount_in_pricing_units
    assert usage["PricingUnit"] == "Hours"  # "hour"
    assert usage["ListUnitPrice"] == pytest.approx(96 / 8)
    assert usage["ContractedUnitPrice"] == pytest.approx(88 / 8)
    assert (usage["ConsumedQuantity"], usage["ConsumedUnit"]) == (28800.0, "Seconds")
    assert usage["PricingCategory"] == "Standard"
    assert usage["BillingPeriodStart"] == november
    assert usage["BillingPeriodEnd"] == datetime(2026, 12, 1, tzinfo=UTC)
    assert usage["ChargePeriodStart"] == datetime(2026, 11, 3, 10, tzinfo=UTC)
    assert usage["ChargePeriodEnd"] == datetime(2026, 11, 3, 11, tzinfo=UTC)
    assert usage["BillingAccountId"] == usage["BillingAccountName"] == "01A2B3-C4D5E6-F7A8B9"
    assert usage["BillingAccountType"] == "Billing Account"
    assert (usage["BillingCurrency"], usage["PricingCurrency"]) == ("USD", "USD")
    assert (usage["ServiceName"], usage["ServiceCategory"], usage["ServiceSubcategory"]) == (
        "Compute Engine",
        "Compute",
        "Virtual Machines",
    )
    assert (usage["ProviderName"], usage["InvoiceIssuerName"]) == ("Google Cloud", "Google Cloud")
    assert (usage["RegionId"], usage["RegionName"]) == ("us-central1", "Iowa")
    assert usage["AvailabilityZone"] == "us-central1-a"
    assert usage["ResourceId"] == (
        "//compute.googleapis.com/projects/ml-train/zones/us-central1-a/instances/4711"
    )
    assert (usage["ResourceName"], usage["ResourceType"]) == ("trainer-1", "instances")
    assert (usage["SkuId"], usage["SkuPriceId"]) == ("9E2C-7B3D-41AA", "9E2C-7B3D-41AA")
    assert usage["SkuMeter"] == "Nvidia H100 80GB GPU running in Americas"
    assert (usage["SubAccountId"], usage["SubAccountName"], usage["SubAccountType"]) == (
        "ml-train",
        "ML Training",
        "Project",
    )
    assert json.loads(usage["Tags"]) == {"env": "prod", "team": 'research "core"'}
    assert (usage["x_LineItemType"], usage["x_ProductCode"]) == ("regular", "6F81-5844-456A")
    assert usage["x_InstanceType"] == "a3-highgpu-8g"  # system label machine_spec
    assert (usage["x_Provider"], usage["x_SourceDataset"]) == ("gcp", DATASET)

    for credit, amount, description, kind in [
        (cud, -30.0, "Committed use discount: GPU", "COMMITTED_USAGE_DISCOUNT"),
        (promotion, -8.0, "Free trial credit", "PROMOTION"),
    ]:
        assert credit["ChargeCategory"] == "Credit"
        for money in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            assert credit[money] == amount
        assert credit["PricingCurrencyEffectiveCost"] == amount
        assert (credit["ChargeDescription"], credit["x_LineItemType"]) == (description, kind)
        for empty in (
            "PricingQuantity",
            "PricingUnit",
            "ListUnitPrice",
            "ContractedUnitPrice",
            "ConsumedQuantity",
            "ConsumedUnit",
            "PricingCategory",
            "SkuPriceId",
        ):
            assert credit[empty] is None, empty
        # What was credited stays visible: the same SKU, project, service, period and tags.
        assert credit["SkuId"] == "9E2C-7B3D-41AA"
        assert credit["SubAccountId"] == "ml-train"
        assert credit["ServiceCategory"] == "Compute"
        assert credit["BillingPeriodStart"] == november
        assert credit["Tags"] == usage["Tags"]


def test_vertex_ai_rows_are_generative_ai_in_their_own_units(lake_and_report):
    lake, _ = lake_and_report
    rows = _rows(lake)
    (gemini_25,) = rows[2]
    (gemini_15,) = rows[3]
    for row in (gemini_25, gemini_15):
        assert (row["ServiceName"], row["x_ProductCode"]) == ("Vertex AI", "C7E2-9256-1C43")
        assert (row["ServiceCategory"], row["ServiceSubcategory"]) == (
            "AI and Machine Learning",
            "Generative AI",
        )
    # The export counts these tokens in "count": the unit is the export's, never assumed.
    # FOCUS strings are ASCII: "≤" becomes "<=".
    assert gemini_25["SkuMeter"] == "Gemini 2.5 Pro Text Input (<=200k)"
    assert (gemini_25["PricingQuantity"], gemini_25["PricingUnit"]) == (2_000_000, "Count")
    assert (gemini_25["ConsumedQuantity"], gemini_25["ConsumedUnit"]) == (2_000_000, "Count")
    assert gemini_25["ContractedUnitPrice"] == pytest.approx(2.5 / 2_000_000)
    assert gemini_25["Tags"] is None  # an empty labels list is no tags, not "{}"
    assert gemini_25["AvailabilityZone"] is None
    # Gemini 1.5 was priced per 1,000 characters.
    assert (gemini_15["PricingQuantity"], gemini_15["PricingUnit"]) == (10_000, "1000 Characters")
    assert (gemini_15["ConsumedQuantity"], gemini_15["ConsumedUnit"]) == (1e7, "Characters")
    assert gemini_15["ListUnitPrice"] == pytest.approx(0.75 / 10_000)
    assert (gemini_15["RegionId"], gemini_15["RegionName"]) == ("europe-west4", "Netherlands")
    assert json.loads(gemini_15["Tags"]) == {"app": "chat"}
    assert gemini_15["ResourceId"] is None and gemini_15["ResourceType"] is None


def test_tax_adjustment_and_rounding_error(lake_and_report):
    lake, _ = lake_and_report
    rows = _rows(lake)
    (tax,) = rows[4]
    (adjustment,) = rows[6]
    (rounding,) = rows[7]
    assert (tax["ChargeCategory"], tax["BilledCost"], tax["ListCost"]) == ("Tax", 7.04, 7.04)
    assert tax["ChargeFrequency"] == "One-Time"
    for empty in (
        "ListUnitPrice",
        "ContractedUnitPrice",
        "PricingQuantity",
        "PricingUnit",
        "PricingCategory",
        "SkuId",
        "SkuPriceId",
        "SkuMeter",
        "ConsumedQuantity",
        "ConsumedUnit",
        "RegionId",
        "RegionName",
    ):
        assert tax[empty] is None, empty
    assert tax["PricingCurrency"] == "USD"
    assert tax["SubAccountId"] == "ml-train"
    # An adjustment of October's usage on the November invoice corrects an earlier bill.
    assert (adjustment["ChargeCategory"], adjustment["ChargeClass"]) == ("Adjustment", "Correction")
    assert adjustment["BilledCost"] == adjustment["ListCost"] == -5.0
    assert adjustment["BillingPeriodStart"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert adjustment["ConsumedQuantity"] is None  # only Usage rows consume
    assert adjustment["ContractedUnitPrice"] is None  # no price from a zero quantity
    assert (rounding["ChargeCategory"], rounding["ChargeClass"]) == ("Adjustment", None)
    assert rounding["BilledCost"] == -0.004
    assert rounding["ChargeDescription"] == "Rounding error"
    assert rounding["ServiceName"] == "Google Cloud"  # no service on the row
    assert (rounding["ServiceCategory"], rounding["ServiceSubcategory"]) == (
        "Other",
        "Other (Other)",
    )
    assert rounding["SubAccountId"] is None and rounding["SubAccountType"] is None


def test_late_usage_belongs_to_the_invoice_month(lake_and_report):
    """Usage of 31 October on the November invoice: period from invoice.month, not usage."""
    lake, _ = lake_and_report
    storage, free_tier = _rows(lake)[5]
    assert storage["BillingPeriodStart"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert storage["ChargePeriodStart"] == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert storage["ChargeClass"] is None  # late usage is not a correction
    assert (storage["ChargeCategory"], storage["BilledCost"]) == ("Usage", 0.013)
    assert (storage["PricingQuantity"], storage["PricingUnit"]) == (0.5, "GiB-Months")
    assert storage["ConsumedUnit"] == "Byte-Seconds"
    assert storage["RegionId"] is None and storage["RegionName"] is None  # "US" multi-region
    assert (storage["ResourceName"], storage["ResourceType"]) == ("app-assets", "buckets")
    assert storage["SubAccountName"] == "app-prod"  # no project name: the id stands in
    assert (free_tier["ChargeCategory"], free_tier["BilledCost"]) == ("Credit", -0.013)
    assert (free_tier["x_LineItemType"], free_tier["ChargeDescription"]) == (
        "FREE_TIER",
        "Free tier",
    )
    assert free_tier["BillingPeriodStart"] == datetime(2026, 11, 1, tzinfo=UTC)


def test_ndjson_export_gives_the_same_rows_as_parquet(lake_and_report, tmp_path):
    """BigQuery's JSON-lines export form, read through the ingest's own reader."""
    lake, _ = lake_and_report
    json_lake = Lake(tmp_path / "json-lake")
    report = normalize_file(HAND_EXPORT, json_lake, DATASET, None)
    assert report.rows_rejected == 0
    assert report.bill_totals == {"USD": pytest.approx(NET)}
    lineage = ("x_SourceFile", "x_DeliveryId")
    from_json = _focus(json_lake).drop(lineage)
    assert from_json.equals(_focus(lake).drop(lineage))


def test_malformed_invoice_month_rejects_the_row_and_its_credits(tmp_path):
    rows = hand_rows()
    rows[0]["invoice"] = {"month": "2026-11"}
    lake = Lake(tmp_path / "lake")
    path = write_parquet(rows, tmp_path / "bad-month.parquet")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(lambda: normalize_file(path, lake, DATASET, "2026-11"))
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (7, 7, 3)
    assert report.rejected_cost_rows == 3
    rejects = lake.scan("rejects").collect().sort(ROW_COLUMN, maintain_order=True)
    assert rejects["reason"].to_list() == ["invoice.month is not a YYYYMM month"] * 3
    assert rejects[ROW_COLUMN].to_list() == [1, 1, 1]
    assert rejects["raw_cost"].to_list() == ["88.0", "-30.0", "-8.0"]
    assert _focus(lake)["BilledCost"].sum() == pytest.approx(NET - (88 - 30 - 8))
    # The bill's total still counts them, so the period fails reconciliation loudly.
    assert report.bill_totals == {"USD": pytest.approx(NET)}


def test_unknown_cost_type_is_rejected(tmp_path):
    rows = hand_rows()
    rows[1]["cost_type"] = "refund"
    lake = Lake(tmp_path / "lake")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(
        lambda: normalize_file(
            write_parquet(rows, tmp_path / "x.parquet"), lake, DATASET, "2026-11"
        )
    )
    assert report.rows_rejected == 1
    reason = lake.scan("rejects").collect()["reason"].item()
    assert reason == "cost_type is not regular, tax, adjustment or rounding_error"


def test_missing_required_column_names_the_file_and_column(tmp_path):
    path = write_parquet(hand_rows(), tmp_path / "no-credits.parquet", drop=("credits",))
    with pytest.raises(DeliveryError, match=r"no-credits\.parquet.*credits"):
        normalize_file(path, Lake(tmp_path / "lake"), DATASET, "2026-11")


def test_standard_export_without_resource_or_price(tmp_path):
    path = write_parquet(hand_rows(), tmp_path / "standard.parquet", drop=("resource", "price"))
    with pytest.raises(DeliveryError, match=r"standard\.parquet.*resource"):
        normalize_file(path, Lake(tmp_path / "lake"), DATASET, "2026-11")
    lake = Lake(tmp_path / "lake")
    report = normalize_file(path, lake, "gcp_billing_export", "2026-11")
    focus = _focus(lake)
    assert (report.rows_written, report.rows_rejected) == (10, 0)
    assert focus["BilledCost"].sum() == pytest.approx(NET)
    assert focus["ResourceId"].null_count() == 10


def test_normalized_fixture_passes_the_validator(focus_validator, lake_and_report, tmp_path):
    lake, _ = lake_and_report
    assert focus_validator(lake, tmp_path) == []
