"""Commitments on a bill built with known ones: the Contract Commitment table, utilization,
coverage, unused cost and savings equal values worked out by hand, and money still reconciles.

The bill (CUR 2.0, one day of November 2026, every usage row in account 222233334444):

- savings plan sp-1: 24 h x $10/h committed = fee $240; it covered 3 h of p5 at $100/h
  on demand ($300 list) for $200 of commitment, so $40 went unused (ends 2029).
- reserved instances ri-1: 2 x 24 = 48 reserved hours at $0.30/h = RIFee $14.40; 36 h of r6i
  used them ($0.504/h on demand: 36 x 0.504 = $18.144 list, 36 x 0.30 = $10.80 amortized),
  12 h unused = $3.60; the reservation ends 2026-12-10 (9 days after the period).
- 10 h of g5 on demand at $10/h = $100, not covered; $50 of EBS storage (not eligible:
  priced per GB-month); $10 tax.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from costlake.commitments.marts import (
    commitment_coverage,
    commitment_utilization,
    commitment_warnings,
    period_coverage,
    period_utilization,
)
from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file

SP = "arn:aws:savingsplans::111122223333:savingsplan/sp-1"
RI = "arn:aws:ec2:us-east-1:111122223333:reserved-instances/ri-1"
COLUMNS = [
    "identity_line_item_id",
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_account_id",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_resource_id",
    "line_item_usage_amount",
    "line_item_currency_code",
    "line_item_unblended_rate",
    "line_item_unblended_cost",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "pricing_term",
    "pricing_unit",
    "product_instance_type",
    "product_region_code",
    "reservation_reservation_a_r_n",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "reservation_start_time",
    "reservation_end_time",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "savings_plan_start_time",
    "savings_plan_end_time",
]
DAY = "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"
SP_TERM = {
    "savings_plan_start_time": "2026-02-01T00:00:00Z",
    "savings_plan_end_time": "2029-01-31T23:59:59Z",
}
RI_TERM = {
    "reservation_start_time": "2025-12-10T00:00:00Z",
    "reservation_end_time": "2026-12-10T00:00:00Z",
}


def _row(key: str, line_type: str, product: str, amount, rate, cost, when=DAY, **extra) -> dict:
    return {
        "identity_line_item_id": key,
        "bill_payer_account_id": "111122223333",
        "bill_billing_period_start_date": "2026-11-01T00:00:00Z",
        "bill_billing_period_end_date": "2026-12-01T00:00:00Z",
        "line_item_usage_account_id": "222233334444",
        "line_item_line_item_type": line_type,
        "line_item_usage_start_date": when[0],
        "line_item_usage_end_date": when[1],
        "line_item_product_code": product,
        "line_item_usage_amount": amount,
        "line_item_currency_code": "USD",
        "line_item_unblended_rate": rate,
        "line_item_unblended_cost": cost,
        "product_region_code": "us-east-1",
        **extra,
    }


BILL = [
    _row(
        "sp-covered",
        "SavingsPlanCoveredUsage",
        "AmazonEC2",
        3,
        100,
        300,
        line_item_usage_type="USE1-BoxUsage:p5.48xlarge",
        pricing_unit="Hrs",
        pricing_term="OnDemand",
        pricing_public_on_demand_cost=300,
        pricing_public_on_demand_rate=100,
        product_instance_type="p5.48xlarge",
        line_item_resource_id="i-p5",
        savings_plan_savings_plan_a_r_n=SP,
        savings_plan_savings_plan_effective_cost=200,
        **SP_TERM,
    ),
    _row(
        "sp-negation",
        "SavingsPlanNegation",
        "AmazonEC2",
        3,
        -100,
        -300,
        line_item_usage_type="USE1-BoxUsage:p5.48xlarge",
        pricing_unit="Hrs",
        pricing_term="OnDemand",
        pricing_public_on_demand_cost=0,
        pricing_public_on_demand_rate=0,
        line_item_resource_id="i-p5",
        savings_plan_savings_plan_a_r_n=SP,
        savings_plan_savings_plan_effective_cost=0,
        **SP_TERM,
    ),
    _row(
        "sp-fee",
        "SavingsPlanRecurringFee",
        "ComputeSavingsPlans",
        24,
        10,
        240,
        line_item_usage_type="ComputeSP:1yrNoUpfront",
        pricing_unit="Hrs",
        line_item_resource_id=SP,
        savings_plan_savings_plan_a_r_n=SP,
        savings_plan_total_commitment_to_date=240,
        savings_plan_used_commitment=200,
        **SP_TERM,
    ),
    _row(
        "ri-covered",
        "DiscountedUsage",
        "AmazonEC2",
        36,
        0,
        0,
        line_item_usage_type="USE1-HeavyUsage:r6i.2xlarge",
        pricing_unit="Hrs",
        pricing_term="Reserved",
        pricing_public_on_demand_cost=18.144,
        pricing_public_on_demand_rate=0.504,
        product_instance_type="r6i.2xlarge",
        line_item_resource_id="i-db",
        reservation_reservation_a_r_n=RI,
        reservation_effective_cost=10.8,
        **RI_TERM,
    ),
    _row(
        "ri-fee",
        "RIFee",
        "AmazonEC2",
        48,
        0.3,
        14.4,
        when=("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        line_item_usage_type="USE1-HeavyUsage:r6i.2xlarge",
        pricing_unit="Hrs",
        reservation_reservation_a_r_n=RI,
        reservation_unused_recurring_fee=3.6,
        reservation_unused_amortized_upfront_fee_for_billing_period=0,
        **RI_TERM,
    ),
    _row(
        "g5",
        "Usage",
        "AmazonEC2",
        10,
        10,
        100,
        line_item_usage_type="USE1-BoxUsage:g5.12xlarge",
        pricing_unit="Hrs",
        pricing_term="OnDemand",
        pricing_public_on_demand_cost=100,
        pricing_public_on_demand_rate=10,
        product_instance_type="g5.12xlarge",
        line_item_resource_id="i-g5",
    ),
    _row(
        "ebs",
        "Usage",
        "AmazonEBS",
        625,
        0.08,
        50,
        line_item_usage_type="USE1-EBS:VolumeUsage.gp3",
        pricing_unit="GB-Mo",
        pricing_term="OnDemand",
        pricing_public_on_demand_cost=50,
        pricing_public_on_demand_rate=0.08,
        line_item_resource_id="vol-1",
    ),
    _row("tax", "Tax", "AmazonEC2", 1, None, 10),
]


def write_bill(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    normalize_file(write_bill(tmp_path / "cur2.csv", BILL), lake, "aws_cur2", "2026-11")
    return lake


def test_money_still_reconciles(lake):
    # 300 - 300 + 240 + 0 + 14.4 + 100 + 50 + 10: the unblended column of the bill.
    total = lake.scan("focus").select(pl.col("BilledCost").sum()).collect().item()
    assert total == pytest.approx(414.4)


def test_the_contract_commitment_table_sums_to_the_fee_rows(lake):
    table = lake.scan("focus_contract_commitments").collect().sort("ContractCommitmentId")
    assert table["ContractCommitmentId"].to_list() == [RI, SP]
    # Σ commitment cost = the SavingsPlanRecurringFee and RIFee rows: 240 + 14.4.
    assert table["ContractCommitmentCost"].sum() == pytest.approx(254.4)
    ri, sp = table.rows(named=True)
    assert (ri["ContractCommitmentType"], ri["ContractCommitmentCategory"]) == (
        "Reserved Instance",
        "Usage",
    )
    assert (ri["ContractCommitmentQuantity"], ri["ContractCommitmentUnit"]) == (48.0, "Hours")
    assert ri["ContractCommitmentPeriodEnd"] == datetime(2026, 12, 10, tzinfo=UTC)
    assert (sp["ContractCommitmentCategory"], sp["ContractCommitmentUnit"]) == ("Spend", "USD")
    assert sp["ContractCommitmentQuantity"] == pytest.approx(240.0)
    # Every cost row of a commitment points at it: SP covered, negation, fee, its unused part.
    linked = lake.scan("focus").filter(pl.col("ContractApplied").is_not_null()).collect()
    ids = linked["ContractApplied"].str.json_path_match("$.Elements[0].ContractCommitmentId")
    assert sorted(ids.to_list()) == sorted([SP] * 4 + [RI] * 3)


def test_utilization_unused_cost_and_savings_per_commitment(lake):
    focus = lake.scan("focus")
    period = period_utilization(commitment_utilization(focus)).collect()
    by_id = {row["ContractCommitmentId"]: row for row in period.iter_rows(named=True)}
    sp, ri = by_id[SP], by_id[RI]
    # SP: used 200, unused 240 - 200 = 40; utilization 200 / 240; saved 300 - 240 = 60.
    assert (sp["used_cost"], sp["unused_cost"], sp["commitment_cost"]) == pytest.approx(
        (200, 40, 240)
    )
    assert sp["utilization"] == pytest.approx(200 / 240)
    assert sp["covered_on_demand_cost"] == pytest.approx(300)
    assert sp["realized_savings"] == pytest.approx(60)
    assert sp["savings_rate"] == pytest.approx(0.2)
    # RI: used 36 h x 0.30 = 10.8, unused 12 h x 0.30 = 3.6; 10.8 / 14.4 = 75 %;
    # saved 18.144 - 14.4 = 3.744.
    assert (ri["used_cost"], ri["unused_cost"], ri["commitment_cost"]) == pytest.approx(
        (10.8, 3.6, 14.4)
    )
    assert ri["utilization"] == pytest.approx(0.75)
    assert ri["realized_savings"] == pytest.approx(3.744)
    # Per day: the RIFee (and its unused part) is dated the 1st, the usage the 2nd.
    daily = commitment_utilization(focus).filter(pl.col("ContractCommitmentId") == RI).collect()
    assert daily.select("day", "used_cost", "unused_cost").rows() == [
        (date(2026, 11, 1), 0.0, pytest.approx(3.6)),
        (date(2026, 11, 2), pytest.approx(10.8), 0.0),
    ]


def test_coverage_and_effective_savings_rate(lake):
    period = period_coverage(commitment_coverage(lake.scan("focus"))).collect()
    assert period.height == 1
    row = period.row(0, named=True)
    # Eligible at on demand: p5 300 + r6i 18.144 + g5 100 (EBS and tax are not eligible);
    # covered: 300 + 18.144.
    assert row["eligible_on_demand_cost"] == pytest.approx(418.144)
    assert row["covered_on_demand_cost"] == pytest.approx(318.144)
    assert row["coverage"] == pytest.approx(318.144 / 418.144)
    # Paid for it: 200 (SP) + 10.8 (RI) + 100 (on demand) + 40 + 3.6 (unused) = 354.4.
    assert row["eligible_cost"] == pytest.approx(354.4)
    assert row["effective_savings_rate"] == pytest.approx((418.144 - 354.4) / 418.144)


def test_warnings_for_low_utilization_and_an_expiring_commitment(lake):
    period = period_utilization(commitment_utilization(lake.scan("focus"))).collect()
    table = lake.scan("focus_contract_commitments").collect()
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    found = {(w.commitment_id, w.kind) for w in commitment_warnings(period, table, as_of)}
    # Both under 90 %; the RI ends on 2026-12-10, within 30 days; the SP ends in 2029.
    assert found == {(SP, "utilization"), (RI, "utilization"), (RI, "expiry")}
    lower = commitment_warnings(period, table, as_of, threshold=0.8, expiry_days=5)
    assert {(w.commitment_id, w.kind) for w in lower} == {(RI, "utilization")}


def test_eligible_usage_spreads_daily_rows_over_their_hours(lake):
    from costlake.commitments.recommend import eligible_hourly_usage

    # Only the g5 row is eligible and uncovered: $100 over one day = 100 / 24 an hour.
    usage, currency, granularity = eligible_hourly_usage(lake.scan("focus"), "aws", days=1)
    assert (currency, granularity, len(usage)) == ("USD", "daily", 24)
    assert usage.to_list() == pytest.approx([100 / 24] * 24)


def test_the_command_prints_the_summary_and_a_recommendation(lake):
    from typer.testing import CliRunner

    from pipelines.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["commitments", "--root", lake.root], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "83.3%" in shown.output and "75.0%" in shown.output  # the two utilizations
    assert "ends 2026-12-10, in 9 day(s)" in shown.output
    advice = runner.invoke(
        app,
        [
            "commitments",
            "recommend",
            "--provider",
            "aws",
            "--days",
            "1",
            "--discount",
            "0.4",
            "--root",
            lake.root,
        ],
        env={"COLUMNS": "200"},
    )
    assert advice.exit_code == 0, advice.output
    # Flat 100/24 an hour: commit all of it; saves 40 % of $100.
    assert "40.00" in advice.output
    assert "break-even utilization 60%" in advice.output


def test_a_lake_of_two_table_versions_is_refused_naming_the_periods_to_rebuild(lake, tmp_path):
    import pyarrow.parquet as pq

    from costlake.focus.lake import LakeVersionError

    # A period written by version 4 (before FOCUS 1.3) beside the version-5 period.
    old = tmp_path / "lake" / "focus" / "provider=aws" / "billing_period=2026-10"
    old.mkdir(parents=True)
    current = pq.read_table(lake.files("focus")[0])
    metadata = {b"focus_version": b"1.2", b"costlake_table_version": b"4"}
    pq.write_table(current.replace_schema_metadata(metadata), old / "part-00000.parquet")
    with pytest.raises(LakeVersionError) as refused:
        lake.scan("focus")
    assert "version 4: provider=aws/billing_period=2026-10" in str(refused.value)
    assert "2026-11" not in str(refused.value)
    assert "costlake run --period" in str(refused.value)
    # The Contract Commitment table has only version-5 periods: it is read.
    assert lake.scan("focus_contract_commitments").collect().height == 2


def test_ai_capacity_lines_become_provisioned_throughput_commitments(tmp_path):
    # Bedrock provisioned throughput: 24 model-unit hours at $20 = $480, no commitment id.
    rows = [
        _row(
            "pt",
            "Usage",
            "AmazonBedrock",
            24,
            20,
            480,
            line_item_usage_type="USE1-ProvisionedThroughput-ModelUnits-Claude3Haiku",
            pricing_unit="Hrs",
            pricing_term="OnDemand",
            pricing_public_on_demand_cost=480,
            pricing_public_on_demand_rate=20,
            line_item_resource_id="arn:aws:bedrock:pt-1",
        ),
        *BILL,
    ]
    lake = Lake(tmp_path / "lake")
    normalize_file(write_bill(tmp_path / "cur2.csv", rows), lake, "aws_cur2", "2026-11")
    table = lake.scan("focus_contract_commitments").collect()
    capacity = table.filter(pl.col("ContractCommitmentType") == "Provisioned Throughput")
    assert capacity["ContractCommitmentId"].to_list() == ["arn:aws:bedrock:pt-1"]
    assert capacity["ContractCommitmentCost"].to_list() == pytest.approx([480.0])
    assert (
        capacity["ContractCommitmentQuantity"].item(),
        capacity["ContractCommitmentUnit"].item(),
    ) == (24.0, "Hours")
    linked = lake.scan("focus").filter(pl.col("ResourceId") == "arn:aws:bedrock:pt-1").collect()
    assert linked["ContractApplied"].str.json_path_match(
        "$.Elements[0].ContractCommitmentId"
    ).to_list() == ["arn:aws:bedrock:pt-1"]
    # Capacity is not eligible usage for coverage: the account's figures are the first bill's.
    period = period_coverage(commitment_coverage(lake.scan("focus"))).collect()
    assert period["eligible_on_demand_cost"].item() == pytest.approx(418.144)


AZURE_COLUMNS = [
    "BillingAccountId",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "SubscriptionId",
    "Date",
    "MeterCategory",
    "MeterName",
    "ConsumedService",
    "ResourceId",
    "ResourceLocation",
    "Quantity",
    "UnitOfMeasure",
    "UnitPrice",
    "EffectivePrice",
    "PayGPrice",
    "CostInBillingCurrency",
    "BillingCurrency",
    "ChargeType",
    "PricingModel",
    "BenefitId",
    "BenefitName",
]
ORDER = "/providers/Microsoft.Capacity/reservationOrders/o-1"
RESERVATION = f"{ORDER}/reservations/r-1"


def _azure(charge: str, model: str, hours: float, cost: float, benefit: str = "") -> dict:
    return {
        "BillingAccountId": "enr-1",
        "BillingPeriodStartDate": "2026-11-01",
        "BillingPeriodEndDate": "2026-11-30",
        "SubscriptionId": "sub-1",
        "Date": "2026-11-02",
        "MeterCategory": "Virtual Machines",
        "MeterName": "D4s v5",
        "ConsumedService": "Microsoft.Compute",
        "ResourceId": "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/"
        "virtualMachines/vm1",
        "ResourceLocation": "westeurope",
        "Quantity": hours,
        "UnitOfMeasure": "1 Hour",
        "UnitPrice": 0.8,
        "EffectivePrice": cost / hours,
        "PayGPrice": 0.8,
        "CostInBillingCurrency": cost,
        "BillingCurrency": "EUR",
        "ChargeType": charge,
        "PricingModel": model,
        "BenefitId": benefit,
        "BenefitName": "r-1" if benefit else "",
    }


def test_an_azure_amortized_reservation_with_unused_hours(tmp_path):
    # A 24 h reservation amortized at 0.50/h: 18 h used (9.00, 18 x 0.80 = 14.40 pay-as-you-go),
    # 6 h unused (3.00); beside it 10 h on demand at 0.80 = 8.00.
    rows = [
        _azure("Usage", "Reservation", 18, 9.0, RESERVATION),
        _azure("UnusedReservation", "Reservation", 6, 3.0, RESERVATION),
        _azure("Usage", "OnDemand", 10, 8.0),
    ]
    path = tmp_path / "amortized.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, AZURE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lake = Lake(tmp_path / "lake")
    normalize_file(path, lake, "azure_amortized", "2026-11")
    table = lake.scan("focus_contract_commitments").collect()
    # No purchase row in an amortized export: the cost is used + unused, 9 + 3; the
    # commitment is the reservation order, which purchases and usage both name.
    assert table.select("ContractCommitmentId", "ContractCommitmentCost").rows() == [
        (ORDER, pytest.approx(12.0))
    ]
    assert (table["ContractCommitmentQuantity"].item(), table["ContractCommitmentUnit"].item()) == (
        24.0,
        "Hours",
    )
    focus = lake.scan("focus")
    sp = period_utilization(commitment_utilization(focus)).collect().row(0, named=True)
    assert sp["utilization"] == pytest.approx(0.75)  # 9 / 12
    assert sp["realized_savings"] == pytest.approx(14.4 - 12.0)
    cover = period_coverage(commitment_coverage(focus)).collect().row(0, named=True)
    assert cover["coverage"] == pytest.approx(14.4 / 22.4)
    assert cover["effective_savings_rate"] == pytest.approx((22.4 - 20.0) / 22.4)  # 9 + 8 + 3 paid


def test_gcp_cud_pools_sum_to_the_commitment_fee_rows_of_the_export(tmp_path):
    import json

    from connectors.exports.gcp import find_gcp_deliveries
    from connectors.stores.files import LocalFileStore
    from costlake.focus.ingest import ingest_delivery
    from demo.gcp import write_demo_gcp_export

    files = write_demo_gcp_export(tmp_path / "export")
    # The export's own fee rows: SKUs "Commitment …", summed straight from the JSON lines.
    fees: dict[str, float] = {}
    for path in files:
        if path.suffix != ".jsonl":
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if ((row.get("sku") or {}).get("description") or "").startswith("Commitment"):
                month = row["invoice"]["month"]
                fees[month] = fees.get(month, 0.0) + float(row["cost"])
    assert fees  # the demo has a CUD
    store = LocalFileStore(tmp_path / "export")
    lake = Lake(tmp_path / "lake")
    for delivery in find_gcp_deliveries(store).values():
        ingest_delivery(delivery, store.local_path(delivery.files[0].path).parent, lake)
    table = lake.scan("focus_contract_commitments").collect()
    assert set(table["ContractCommitmentType"]) == {"Committed Use Discount"}
    assert set(table["ContractCommitmentId"]) == {
        "gcp-cud/" + table["BillingAccountId"][0] + "/us-central1/cpu",
        "gcp-cud/" + table["BillingAccountId"][0] + "/us-central1/ram",
    }
    sums = table.group_by(pl.col("BillingPeriodStart").dt.strftime("%Y%m")).agg(
        pl.col("ContractCommitmentCost").sum()
    )
    assert dict(sums.rows()) == pytest.approx(fees)
    # The credits cancel the covered usage at its on-demand price: covered value > 0.
    assert (table["x_CoveredListCost"] > 0).all()


def test_an_azure_actual_reservation_is_charged_on_its_purchase(tmp_path):
    # Actual (invoice) export: the purchase of the order (10.00) and 18 h of usage it covered,
    # at cost 0 (18 x 0.80 = 14.40 pay-as-you-go); no unused rows, so no utilization.
    purchase = _azure("Purchase", "Reservation", 1, 10.0, ORDER) | {
        "ResourceId": "",
        "MeterCategory": "Virtual Machines",
        "PayGPrice": 0,
    }
    rows = [purchase, _azure("Usage", "Reservation", 18, 0.0, RESERVATION)]
    path = tmp_path / "actual.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, AZURE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lake = Lake(tmp_path / "lake")
    normalize_file(path, lake, "azure_actual", "2026-11")
    table = lake.scan("focus_contract_commitments").collect()
    assert table.select("ContractCommitmentId", "ContractCommitmentCost").rows() == [
        (ORDER, pytest.approx(10.0))
    ]
    focus = lake.scan("focus")
    used = period_utilization(commitment_utilization(focus)).collect().row(0, named=True)
    assert used["utilization"] is None
    assert used["realized_savings"] == pytest.approx(14.4 - 10.0)
    cover = period_coverage(commitment_coverage(focus)).collect().row(0, named=True)
    # Eligible 14.40 on demand, all covered, paid the purchase: 1 - 10 / 14.4.
    assert cover["coverage"] == pytest.approx(1.0)
    assert cover["effective_savings_rate"] == pytest.approx(1 - 10.0 / 14.4)
