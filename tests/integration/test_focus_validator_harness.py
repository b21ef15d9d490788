"""Check the FOCUS validator harness (tests/focus_validation.py) on hand-made FOCUS 1.2 files.

A small, correct FOCUS 1.2 file must come back with no failed rules, and deliberately broken
copies must not: this proves that the validator runs, that its report is read, and that a
pass means something. The correct file also shows what the validator (focus-validator 2.2.1,
rule model 1.2.0.1, all applicability criteria on) demands of typed Parquet output:

- every column below present, even when all-null: with the criteria on, a missing
  conditional column (CommitmentDiscount*, CapacityReservation*, PricingCurrency*, ...) fails
  its presence rule, and a missing ServiceSubcategory fails CostAndUsage-D-042-O;
- PricingCurrency non-null on every row, Tax rows included (PricingCurrency-C-004-M);
- ServiceSubcategory and ChargeFrequency non-null on every row;
- Tax rows: null ListUnitPrice, ContractedUnitPrice, PricingQuantity, PricingUnit,
  PricingCategory, SkuId, SkuPriceId, SkuMeter, ConsumedQuantity and ConsumedUnit;
- date/time columns as timestamps (a date32 column is dropped by the loader and reported
  missing); Tags / SkuPriceDetails as JSON-object strings (a Parquet map fails Tags-C-001-M);
- BillingCurrency / PricingCurrency upper-case ISO 4217 codes.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from focus_validation import STRICT_CRITERIA, focus_validation_failures, validator_executable

STRING = pa.string()
DECIMAL = pa.float64()
DATETIME = pa.timestamp("us", tz="UTC")

# FOCUS 1.2 columns (Mandatory, Recommended and the Conditional ones a cloud bill fills),
# then ServiceProviderName / HostProviderName (FOCUS 1.3 names, kept beside the 1.2
# ProviderName / PublisherName), then x_-prefixed extension columns.
SCHEMA = pa.schema(
    [
        ("AvailabilityZone", STRING),
        ("BilledCost", DECIMAL),
        ("BillingAccountId", STRING),
        ("BillingAccountName", STRING),
        ("BillingAccountType", STRING),
        ("BillingCurrency", STRING),
        ("BillingPeriodEnd", DATETIME),
        ("BillingPeriodStart", DATETIME),
        ("CapacityReservationId", STRING),
        ("CapacityReservationStatus", STRING),
        ("ChargeCategory", STRING),
        ("ChargeClass", STRING),
        ("ChargeDescription", STRING),
        ("ChargeFrequency", STRING),
        ("ChargePeriodEnd", DATETIME),
        ("ChargePeriodStart", DATETIME),
        ("CommitmentDiscountCategory", STRING),
        ("CommitmentDiscountId", STRING),
        ("CommitmentDiscountName", STRING),
        ("CommitmentDiscountQuantity", DECIMAL),
        ("CommitmentDiscountStatus", STRING),
        ("CommitmentDiscountType", STRING),
        ("CommitmentDiscountUnit", STRING),
        ("ConsumedQuantity", DECIMAL),
        ("ConsumedUnit", STRING),
        ("ContractedCost", DECIMAL),
        ("ContractedUnitPrice", DECIMAL),
        ("EffectiveCost", DECIMAL),
        ("InvoiceId", STRING),
        ("InvoiceIssuerName", STRING),
        ("ListCost", DECIMAL),
        ("ListUnitPrice", DECIMAL),
        ("PricingCategory", STRING),
        ("PricingCurrency", STRING),
        ("PricingCurrencyContractedUnitPrice", DECIMAL),
        ("PricingCurrencyEffectiveCost", DECIMAL),
        ("PricingCurrencyListUnitPrice", DECIMAL),
        ("PricingQuantity", DECIMAL),
        ("PricingUnit", STRING),
        ("ProviderName", STRING),
        ("PublisherName", STRING),
        ("RegionId", STRING),
        ("RegionName", STRING),
        ("ResourceId", STRING),
        ("ResourceName", STRING),
        ("ResourceType", STRING),
        ("ServiceCategory", STRING),
        ("ServiceName", STRING),
        ("ServiceSubcategory", STRING),
        ("SkuId", STRING),
        ("SkuMeter", STRING),
        ("SkuPriceDetails", STRING),
        ("SkuPriceId", STRING),
        ("SubAccountId", STRING),
        ("SubAccountName", STRING),
        ("SubAccountType", STRING),
        ("Tags", STRING),
        ("ServiceProviderName", STRING),
        ("HostProviderName", STRING),
        ("x_Source", STRING),
        ("x_UsageType", STRING),
    ]
)

BILLING_START = datetime(2025, 1, 1, tzinfo=UTC)
BILLING_END = datetime(2025, 2, 1, tzinfo=UTC)

# Values shared by every row: one billing account, one invoice, one provider.
COMMON: dict[str, Any] = {
    "BillingAccountId": "123456789012",
    "BillingAccountName": "Acme Payer",
    "BillingAccountType": "Billing Account",
    "BillingCurrency": "USD",
    "BillingPeriodStart": BILLING_START,
    "BillingPeriodEnd": BILLING_END,
    "InvoiceId": "INV-2025-01-0001",
    "InvoiceIssuerName": "Example Cloud",
    "PricingCurrency": "USD",
    "ProviderName": "Example Cloud",
    "PublisherName": "Example Cloud",
    "ServiceProviderName": "Example Cloud",
    "HostProviderName": "Example Cloud",
    "SubAccountId": "210987654321",
    "SubAccountName": "acme-dev",
    "SubAccountType": "Account",
    "x_Source": "costlake-test",
}


def _usage(**values: Any) -> dict[str, Any]:
    """A Usage row at standard (list == contracted == billed) prices for one hour."""
    quantity = values.pop("quantity")
    price = values.pop("price")
    cost = round(quantity * price, 10)
    row = {
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": datetime(2025, 1, 15, 10, tzinfo=UTC),
        "ChargePeriodEnd": datetime(2025, 1, 15, 11, tzinfo=UTC),
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "ContractedCost": cost,
        "ListUnitPrice": price,
        "ContractedUnitPrice": price,
        "PricingQuantity": quantity,
        "ConsumedQuantity": quantity,
        "PricingCategory": "Standard",
        "PricingCurrencyListUnitPrice": price,
        "PricingCurrencyContractedUnitPrice": price,
        "PricingCurrencyEffectiveCost": cost,
        "RegionId": "us-east-1",
        "RegionName": "US East (N. Virginia)",
    }
    row.update(values)
    return row


def focus_rows() -> list[dict[str, Any]]:
    """Three rows of a correct FOCUS 1.2 bill: VM usage, object storage usage and a tax."""
    vm = _usage(
        quantity=1.0,
        price=0.096,
        AvailabilityZone="us-east-1a",
        ChargeDescription="m5.large Linux on-demand instance hour",
        ConsumedUnit="Hours",
        PricingUnit="Hours",
        ResourceId="i-0123456789abcdef0",
        ResourceName="web-1",
        ResourceType="Virtual Machine",
        ServiceCategory="Compute",
        ServiceSubcategory="Virtual Machines",
        ServiceName="Example Compute",
        SkuId="SKU-M5-LARGE",
        SkuMeter="Compute Usage",
        SkuPriceId="PRICE-M5-LARGE-LINUX-OD",
        SkuPriceDetails=json.dumps({"InstanceType": "m5.large", "CoreCount": 2}),
        Tags=json.dumps({"env": "prod", "team": "data"}),
        x_UsageType="BoxUsage:m5.large",
    )
    storage = _usage(
        quantity=10.0,
        price=0.023,
        ChargeDescription="Object storage, standard class, per GB-month",
        ConsumedUnit="GB-Months",
        PricingUnit="GB-Months",
        ResourceId="acme-data-bucket",
        ResourceName="acme-data-bucket",
        ResourceType="Bucket",
        ServiceCategory="Storage",
        ServiceSubcategory="Object Storage",
        ServiceName="Example Object Storage",
        SkuId="SKU-OBJ-STD",
        SkuMeter="Storage",
        SkuPriceId="PRICE-OBJ-STD",
        SkuPriceDetails=json.dumps({"StorageClass": "Standard"}),
        Tags=json.dumps({"env": "prod"}),
        x_UsageType="TimedStorage-ByteHrs",
    )
    tax = {
        "ChargeCategory": "Tax",
        "ChargeFrequency": "Recurring",
        "ChargeDescription": "Sales tax",
        "ChargePeriodStart": BILLING_START,
        "ChargePeriodEnd": BILLING_END,
        "BilledCost": 0.03,
        "EffectiveCost": 0.03,
        "ListCost": 0.03,
        "ContractedCost": 0.03,
        "PricingCurrencyEffectiveCost": 0.03,
        "ServiceCategory": "Other",
        "ServiceSubcategory": "Other (Other)",
        "ServiceName": "Tax",
        "x_UsageType": "Tax",
    }
    return [{**COMMON, **row} for row in (vm, storage, tax)]


def write_focus_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows (missing keys become nulls) as typed Parquet in the SCHEMA column order."""
    columns = {field.name: [row.get(field.name) for row in rows] for field in SCHEMA}
    pq.write_table(pa.table(columns, schema=SCHEMA), path)
    return path


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


@pytest.fixture(scope="module")
def validator() -> Path:
    """The validator, or a skip (a failure under CI, where it must have been installed)."""
    executable = validator_executable()
    if executable is None:
        configured = os.environ.get("COSTLAKE_FOCUS_VALIDATOR")
        reason = (
            f"COSTLAKE_FOCUS_VALIDATOR={configured!r} is not an executable"
            if configured
            else "FOCUS validator not installed: run scripts/setup_validator_env.sh "
            "or set COSTLAKE_FOCUS_VALIDATOR"
        )
        if _ci():
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return executable


@pytest.mark.parametrize("criteria", [STRICT_CRITERIA, None], ids=["all-criteria", "default"])
def test_correct_focus_file_passes(validator: Path, tmp_path: Path, criteria: str | None) -> None:
    path = write_focus_file(tmp_path / "focus.parquet", focus_rows())
    assert focus_validation_failures(path, applicability_criteria=criteria) == []


@pytest.mark.parametrize(
    ("column", "value", "expected_rule"),
    [
        # Allowed-value lists are checked per dataset, not per row (an OR passes when any row
        # matches any allowed value), so the bad value must be on every row to be caught.
        ("ChargeCategory", "Bogus", "ChargeCategory-C-003-M"),
        ("BilledCost", None, "BilledCost-C-003-M"),
        # Tags rules only run with the applicability criteria on.
        ("Tags", "env=prod", "Tags-C-001-M"),
    ],
)
def test_broken_focus_file_fails(
    validator: Path, tmp_path: Path, column: str, value: Any, expected_rule: str
) -> None:
    rows = focus_rows()
    for row in rows:
        row[column] = value
    path = write_focus_file(tmp_path / "broken.parquet", rows)
    failures = focus_validation_failures(path)
    assert any(failure.startswith(f"{expected_rule} ") for failure in failures), failures
