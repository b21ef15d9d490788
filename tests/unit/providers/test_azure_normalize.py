"""Azure cost details (EA / MCA, actual / amortized) and FocusCost to FOCUS, against values read
off the source files by hand or summed with Python's csv module."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, failed_audit

from costlake.focus.deliveries import DeliveryError
from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file
from costlake.providers import azure

EA_ACTUAL = FIXTURES / "azure" / "EA_ActualCost_Small.csv"
EA_AMORTIZED = FIXTURES / "azure" / "EA_AmortizedCost_Small.csv"
EA_ANONYMOUS = FIXTURES / "azure" / "sample-anonymous-ea-export-dataset.csv"
MS_FOCUS = FIXTURES / "azure" / "focus_sample_1.0_microsoft.csv"
SEPT_2023 = datetime(2023, 9, 1, tzinfo=UTC)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _normalize(tmp_path: Path, source: Path, dataset: str) -> tuple[pl.DataFrame, object]:
    lake = Lake(tmp_path / "lake")
    report = normalize_file(source, lake, dataset, None)
    return lake.scan("focus").collect().sort("x_SourceRow"), report


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_headers_match_whatever_their_case_and_synonyms():
    mapping = azure.cost_details_rename_map(
        ["costInBillingCurrency", "billingCurrency", "Cost", "BILLINGCURRENCYCODE", "brandNew"]
    )
    # The canonical spelling wins; the synonyms that lost keep a private name.
    assert mapping["costInBillingCurrency"] == "CostInBillingCurrency"
    assert mapping["billingCurrency"] == "BillingCurrency"
    assert mapping["Cost"] == "__azure_Cost"
    assert mapping["BILLINGCURRENCYCODE"] == "__azure_BILLINGCURRENCYCODE"
    assert mapping["brandNew"] == "__azure_brandNew"
    older = azure.cost_details_rename_map(["Cost", "BillingCurrencyCode", "Product"])
    assert older == {
        "Cost": "CostInBillingCurrency",
        "BillingCurrencyCode": "BillingCurrency",
        "Product": "ProductName",
    }


@pytest.mark.parametrize(
    ("source", "dataset", "cost_column", "currency", "rows"),
    [
        (EA_ACTUAL, "azure_actual", "Cost", "USD", 11),
        (EA_AMORTIZED, "azure_amortized", "Cost", "USD", 28),
        (EA_ANONYMOUS, "azure_actual", "CostInBillingCurrency", "CAD", 27),
    ],
)
def test_real_samples_billed_cost_equals_the_exports_cost(
    tmp_path, source, dataset, cost_column, currency, rows
):
    source_rows = _rows(source)
    expected = sum(Decimal(r[cost_column]) for r in source_rows)
    focus, report = _normalize(tmp_path, source, dataset)
    assert report.billing_period == "2023-09"
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (rows, rows, 0)
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), rel=1e-12)
    assert report.bill_totals == {currency: pytest.approx(float(expected), rel=1e-12)}
    assert focus["x_SourceRow"].to_list() == list(range(1, rows + 1))
    assert set(focus["ProviderName"]) == set(focus["InvoiceIssuerName"]) == {"Microsoft"}
    for column in ("RegionId", "Tags", "ResourceId", "PricingUnit", "CommitmentDiscountId"):
        assert focus.filter(pl.col(column) == "").height == 0


def test_actual_export_purchase_has_no_effective_cost(tmp_path):
    focus, _ = _normalize(tmp_path, EA_ACTUAL, "azure_actual")
    source = _rows(EA_ACTUAL)
    total = sum(Decimal(r["Cost"]) for r in source)
    # Row 1 is the only Purchase (Reservation, 3.25); every other row keeps its cost.
    assert focus["EffectiveCost"].sum() == pytest.approx(float(total - Decimal("3.25")))
    purchase = focus.row(0, named=True)
    assert purchase["ChargeCategory"] == "Purchase"
    assert purchase["BilledCost"] == 3.25
    assert purchase["EffectiveCost"] == 0.0
    assert purchase["ChargeFrequency"] == "Recurring"
    assert purchase["CommitmentDiscountType"] == "Reservation"
    assert purchase["CommitmentDiscountCategory"] == "Usage"
    assert purchase["CommitmentDiscountName"] == "VM_RI_06-21-2023_18-56"
    assert purchase["CommitmentDiscountStatus"] is None  # a status is for usage rows only
    assert purchase["ConsumedQuantity"] is None
    assert purchase["PricingCategory"] is None
    assert purchase["ServiceName"] == "Azure Reservations"


def test_storage_row_by_hand(tmp_path):
    focus, _ = _normalize(tmp_path, EA_ACTUAL, "azure_actual")
    row = focus.row(1, named=True)  # source row 2: Tiered Block Blob operations, "10K"
    assert row["BilledCost"] == row["EffectiveCost"] == pytest.approx(0.00004)
    assert row["BillingAccountId"] == "8611537"
    assert row["BillingAccountName"] == "Trey Research Demo (DO NOT USE)"
    assert row["BillingAccountType"] == "Billing Account"
    assert row["BillingCurrency"] == row["PricingCurrency"] == "USD"
    assert row["BillingPeriodStart"] == SEPT_2023
    assert row["BillingPeriodEnd"] == datetime(2023, 10, 1, tzinfo=UTC)  # 09/30 inclusive
    assert row["ChargePeriodStart"] == datetime(2023, 9, 4, tzinfo=UTC)
    assert row["ChargePeriodEnd"] == datetime(2023, 9, 5, tzinfo=UTC)
    assert (row["ChargeCategory"], row["ChargeFrequency"]) == ("Usage", "Usage-Based")
    assert row["PricingCategory"] == "Standard"
    # Quantity 0.0004 blocks of 10,000 operations at 0.1 per block.
    assert row["PricingUnit"] == "10000 Units"
    assert row["PricingQuantity"] == pytest.approx(0.0004)
    assert row["ContractedUnitPrice"] == row["ListUnitPrice"] == pytest.approx(0.1)
    assert row["ConsumedUnit"] == "Units"
    assert row["ConsumedQuantity"] == pytest.approx(4.0)
    assert row["ServiceName"] == "Storage Accounts"
    assert (row["ServiceCategory"], row["ServiceSubcategory"]) == ("Storage", "Storage Platforms")
    assert (row["RegionId"], row["RegionName"]) == ("eastus2", "East US 2")  # from "EastUS2"
    assert row["ResourceType"] == "microsoft.storage/storageaccounts"
    assert row["ResourceName"] == "dbstoragewp6hglwvvrad2"
    assert row["SubAccountId"] == "ed570627-0265-4620-bb42-bae06bcfa914"
    assert row["SubAccountName"] == "Trey Research IT"
    assert row["SubAccountType"] == "Subscription"
    assert row["SkuId"] == "AAD-37090"
    assert row["SkuPriceId"] == "AAD-37090_aaaef613-418a-4a5f-af72-d224d7dee2c6"  # part_meter
    assert row["SkuMeter"] == "GRS List and Create Container Operations"
    assert json.loads(row["Tags"]) == {
        "CostCenter": "1234",
        "env": "prod",
        "org": "trey",
        "application": "databricks",
        "databricks-environment": "true",
    }
    assert row["x_ProductCode"] == "Storage"
    assert row["x_LineItemType"] == "Usage"


def test_amortized_commitment_rows(tmp_path):
    focus, _ = _normalize(tmp_path, EA_AMORTIZED, "azure_amortized")
    assert (focus["BilledCost"] == focus["EffectiveCost"]).all()
    reservation = focus.row(0, named=True)  # 8 hours of D2 v2 covered by a reservation
    assert reservation["BilledCost"] == reservation["EffectiveCost"] == pytest.approx(0.493152)
    assert reservation["CommitmentDiscountId"] == (
        "/providers/Microsoft.Capacity/reservationOrders/a965d46f-aedf-4176-8ff1-2617943b8960"
        "/reservations/f39d1c73-af74-4308-9083-fbf5efab37d1"
    )
    assert reservation["CommitmentDiscountName"] == "ProdDS1VMReservation"
    assert reservation["CommitmentDiscountType"] == "Reservation"
    assert reservation["CommitmentDiscountStatus"] == "Used"
    assert reservation["PricingCategory"] == "Committed"
    assert reservation["ContractedCost"] == pytest.approx(8 * 0.146)  # UnitPrice × Quantity
    assert reservation["x_InstanceType"] == "Standard_DS2_v2"  # AdditionalInfo.ServiceType
    assert reservation["ServiceName"] == "Virtual Machine Scale Sets"
    savings_plan = focus.row(1, named=True)
    assert savings_plan["CommitmentDiscountType"] == "Savings Plan"
    assert savings_plan["CommitmentDiscountCategory"] == "Spend"
    assert savings_plan["CommitmentDiscountName"] == "Compute_SavingsPlan_11-07-2022_09-55"
    assert savings_plan["CommitmentDiscountStatus"] == "Used"
    retention = focus.row(4, named=True)  # "1 GB/Month" of Log Analytics retention
    assert retention["PricingUnit"] == retention["ConsumedUnit"] == "GB-Months"
    assert retention["ServiceName"] == "Azure Monitor"


def test_spot_and_placeholder_ids_in_the_anonymous_sample(tmp_path):
    focus, _ = _normalize(tmp_path, EA_ANONYMOUS, "azure_actual")
    spot = focus.row(2, named=True)
    assert spot["PricingCategory"] == "Dynamic"
    assert spot["BillingCurrency"] == "CAD"
    assert spot["ChargePeriodStart"] == datetime(2023, 9, 2, tzinfo=UTC)  # "9/2/2023"
    # ListUnitPrice is PayGPrice (0.40000), ContractedUnitPrice the UnitPrice (0.1).
    first = focus.row(0, named=True)
    assert (first["ListUnitPrice"], first["ContractedUnitPrice"]) == (0.4, 0.1)
    assert first["ListCost"] == pytest.approx(0.4 * 0.027265128)
    # The resource id is a placeholder: the service comes from the meter category.
    assert (first["ServiceName"], first["ServiceCategory"]) == ("Virtual Network", "Networking")
    cost_small = focus.row(1, named=True)
    assert cost_small["BilledCost"] == pytest.approx(5.64902e-05)  # "5.64902E-05"


MCA_HEADER = [
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
    "PayGPrice",
    "effectivePrice",
    "costInBillingCurrency",
    "costInPricingCurrency",
    "costInUsd",
    "exchangeRatePricingToBilling",
    "billingCurrency",
    "pricingCurrency",
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
    "benefitId",
    "benefitName",
]
OPENAI_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/ai/providers/"
    "Microsoft.CognitiveServices/accounts/oai-prod"
)


def _mca_row(**overrides: str) -> list[str]:
    values = {
        "invoiceId": "G012345678",
        "billingAccountId": "acct:1234",
        "billingAccountName": "Contoso",
        "billingProfileId": "PROF-1",
        "billingProfileName": "Contoso EU",
        "billingPeriodStartDate": "2025-03-01",
        "billingPeriodEndDate": "2025-03-31",
        "date": "2025-03-05",
        "productName": "Azure OpenAI - gpt 4o 0513 Input global Tokens",
        "meterCategory": "Cognitive Services",
        "meterSubCategory": "Azure OpenAI",
        "meterName": "gpt 4o 0513 Input global Tokens",
        "meterId": "meter-1",
        "quantity": "1500",
        "unitPrice": "0.0025",
        "PayGPrice": "0.0025",
        "effectivePrice": "0.0025",
        "costInBillingCurrency": "3.45",
        "costInPricingCurrency": "3.75",
        "costInUsd": "3.75",
        "exchangeRatePricingToBilling": "0.92",
        "billingCurrency": "EUR",
        "pricingCurrency": "USD",
        "resourceLocation": "swedencentral",
        "consumedService": "Microsoft.CognitiveServices",
        "ResourceId": OPENAI_ID,
        "SubscriptionId": "00000000-0000-0000-0000-000000000001",
        "subscriptionName": "AI prod",
        "tags": '"team": "ml","env": "prod"',
        "unitOfMeasure": "1K",
        "chargeType": "Usage",
        "frequency": "UsageBased",
        "pricingModel": "OnDemand",
        "publisherType": "Microsoft",
        "benefitId": "",
        "benefitName": "",
    }
    values.update(overrides)
    return [values[c] for c in MCA_HEADER]


def test_mca_openai_token_meter(tmp_path):
    source = _write_csv(tmp_path / "mca.csv", MCA_HEADER, [_mca_row()])
    focus, report = _normalize(tmp_path, source, "azure_actual")
    row = focus.row(0, named=True)
    assert report.bill_totals == {"EUR": pytest.approx(3.45)}
    assert row["BilledCost"] == row["EffectiveCost"] == pytest.approx(3.45)
    assert row["BillingCurrency"] == "EUR"
    assert row["PricingCurrency"] == "USD"
    assert row["PricingCurrencyEffectiveCost"] == pytest.approx(3.75)
    # MCA's USD columns are kept as x_: costInUsd 3.75, exchangeRatePricingToBilling 0.92.
    assert (row["x_CostInUsd"], row["x_ExchangeRatePricingToBilling"]) == (3.75, 0.92)
    # Prices are per 1,000 tokens in USD; in EUR at the export's rate 0.92.
    assert row["PricingCurrencyContractedUnitPrice"] == pytest.approx(0.0025)
    assert row["ContractedUnitPrice"] == pytest.approx(0.0025 * 0.92)
    assert row["PricingUnit"] == "1000 Tokens"
    assert row["PricingQuantity"] == pytest.approx(1500)
    assert row["ConsumedUnit"] == "Tokens"
    assert row["ConsumedQuantity"] == pytest.approx(1_500_000)
    assert row["ServiceName"] == "Azure OpenAI"
    assert row["ServiceCategory"] == "AI and Machine Learning"
    assert row["ServiceSubcategory"] == "Generative AI"
    assert row["BillingAccountId"] == "PROF-1"  # MCA invoices per billing profile
    assert row["BillingAccountName"] == "Contoso EU"
    assert row["BillingAccountType"] == "Billing Profile"
    assert row["InvoiceId"] == "G012345678"
    assert (row["RegionId"], row["RegionName"]) == ("swedencentral", "Sweden Central")
    assert row["ResourceType"] == "microsoft.cognitiveservices/accounts"
    assert json.loads(row["Tags"]) == {"team": "ml", "env": "prod"}


def test_amortized_unused_reservation_is_unused_usage(tmp_path):
    benefit = "/providers/Microsoft.Capacity/reservationOrders/o-1/reservations/r-1"
    unused = _mca_row(
        chargeType="UnusedReservation",
        pricingModel="Reservation",
        benefitId=benefit,
        benefitName="ri-1",
        costInBillingCurrency="12.5",
        costInPricingCurrency="13.5",
        meterName="D2 v3",
        unitOfMeasure="1 Hour",
        quantity="5",
        tags="",
    )
    source = _write_csv(tmp_path / "amortized.csv", MCA_HEADER, [unused])
    focus, _ = _normalize(tmp_path, source, "azure_amortized")
    row = focus.row(0, named=True)
    assert row["ChargeCategory"] == "Usage"
    assert row["CommitmentDiscountStatus"] == "Unused"
    assert row["CommitmentDiscountId"] == benefit
    assert row["BilledCost"] == row["EffectiveCost"] == 12.5
    assert row["PricingUnit"] == "Hours"
    assert row["Tags"] is None


def test_bad_values_become_rejects_with_reasons(tmp_path):
    rows = [
        _mca_row(),
        _mca_row(costInBillingCurrency="abc"),
        _mca_row(date="31/31/2025"),
        _mca_row(tags='"team": "ml'),
        _mca_row(billingCurrency=""),
    ]
    source = _write_csv(tmp_path / "bad.csv", MCA_HEADER, rows)
    lake = Lake(tmp_path / "lake")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(lambda: normalize_file(source, lake, "azure_actual", "2025-03"))
    rejects = pl.read_parquet(lake.files("rejects")).sort("x_SourceRow")
    assert (report.rows_written, report.rows_rejected) == (1, 4)
    assert rejects["x_SourceRow"].to_list() == [2, 3, 4, 5]
    assert rejects["reason"].to_list() == [
        "CostInBillingCurrency is not a number",
        "Date is not a MM/DD/YYYY or ISO-8601 date",
        "Tags is not a list of JSON object members",
        "BillingCurrency is empty",
    ]
    assert rejects["raw_cost"][0] == "abc"


def test_missing_required_column_names_the_file_and_column(tmp_path):
    header = [c for c in MCA_HEADER if c != "costInBillingCurrency"]
    row = [v for c, v in zip(MCA_HEADER, _mca_row(), strict=True) if c != "costInBillingCurrency"]
    source = _write_csv(tmp_path / "no_cost.csv", header, [row])
    with pytest.raises(DeliveryError, match=r"no_cost\.csv.*CostInBillingCurrency"):
        normalize_file(source, Lake(tmp_path / "lake"), "azure_actual", "2025-03")


def test_parquet_export_with_native_types(tmp_path):
    rows = _rows(EA_ANONYMOUS)
    frame = pl.DataFrame(rows).with_columns(
        pl.col("CostInBillingCurrency", "Quantity", "UnitPrice", "PayGPrice").cast(pl.Float64),
        pl.col("Date", "BillingPeriodStartDate", "BillingPeriodEndDate").str.to_date("%m/%d/%Y"),
    )
    path = tmp_path / "part_0_0001.parquet"
    frame.write_parquet(path)
    focus, report = _normalize(tmp_path, path, "azure_actual")
    expected = sum(Decimal(r["CostInBillingCurrency"]) for r in rows)
    assert report.rows_rejected == 0
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), rel=1e-12)
    assert focus["ChargePeriodStart"][0] == datetime(2023, 9, 2, tzinfo=UTC)


def test_microsoft_focus_rows_pass_through(tmp_path):
    rows = _rows(MS_FOCUS)
    expected = sum(Decimal(r["BilledCost"]) for r in rows)
    focus, report = _normalize(tmp_path, MS_FOCUS, "azure_focus")
    assert report.billing_period == "2024-09"
    assert (report.rows_written, report.rows_rejected) == (51, 0)
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), rel=1e-12)
    first = focus.row(0, named=True)
    assert first["ChargeClass"] is None  # the literal NULL
    assert first["ServiceName"] == "Storage Accounts"
    assert first["ServiceSubcategory"] == "Storage Platforms"  # FOCUS 1.2 column, filled in
    assert first["PricingCurrency"] == "USD"
    assert first["SubAccountType"] == "Subscription"
    assert json.loads(first["Tags"])["Project"] == "Foo"
    # "GB/Month" is written in FOCUS unit format.
    assert "GB/Month" not in set(focus["PricingUnit"].drop_nulls())
    assert focus.filter(pl.col("PricingUnit") == "GB-Months").height == sum(
        r["PricingUnit"] == "GB/Month" for r in rows
    )


@pytest.mark.parametrize(
    ("source", "dataset"),
    [
        (EA_ACTUAL, "azure_actual"),
        (EA_AMORTIZED, "azure_amortized"),
        (EA_ANONYMOUS, "azure_actual"),
        (MS_FOCUS, "azure_focus"),
    ],
)
def test_output_passes_the_focus_validator(tmp_path, focus_validator, source, dataset):
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, dataset, None)
    assert focus_validator(lake, tmp_path) == []


def test_mca_output_passes_the_focus_validator(tmp_path, focus_validator):
    benefit = "/providers/Microsoft.Capacity/reservationOrders/o-1/reservations/r-1"
    rows = [
        _mca_row(),
        _mca_row(
            chargeType="UnusedReservation",
            pricingModel="Reservation",
            benefitId=benefit,
            benefitName="ri-1",
            unitOfMeasure="1 Hour",
        ),
        _mca_row(
            chargeType="Purchase",
            frequency="OneTime",
            pricingModel="Reservation",
            benefitId=benefit,
            benefitName="ri-1",
            unitOfMeasure="1 Hour",
        ),
    ]
    source = _write_csv(tmp_path / "mca.csv", MCA_HEADER, rows)
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, "azure_actual", None)
    assert focus_validator(lake, tmp_path) == []
