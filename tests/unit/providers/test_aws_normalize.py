"""AWS CUR rows to FOCUS: money, charge attributes, tags, names, against hand-derived values."""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import AWS_SAMPLE, FIXTURES, HAND_CUR2, failed_audit

from costlake.focus.deliveries import DeliveryError
from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file
from costlake.providers.aws import canonical_cur_name, tag_key


def _focus(lake: Lake) -> pl.DataFrame:
    return lake.scan("focus").collect()


def test_legacy_header_names_become_cur2_names():
    assert canonical_cur_name("lineItem/UnblendedCost") == "line_item_unblended_cost"
    assert canonical_cur_name("savingsPlan/SavingsPlanARN") == "savings_plan_savings_plan_a_r_n"
    assert canonical_cur_name("pricing/publicOnDemandCost") == "pricing_public_on_demand_cost"
    assert canonical_cur_name("bill/BillingPeriodStartDate") == "bill_billing_period_start_date"
    assert tag_key("resourceTags/user:Project") == "Project"
    assert tag_key("resourceTags/aws:createdBy") == "aws:createdBy"
    assert tag_key("resource_tags_user_cost_center") == "cost_center"
    assert tag_key("product/instanceType") is None


def test_real_cur_sample_billed_cost_equals_unblended_cost(tmp_path):
    with open(AWS_SAMPLE, newline="") as f:
        rows = list(csv.DictReader(f))
    expected = sum(Decimal(r["lineItem/UnblendedCost"]) for r in rows)
    lake = Lake(tmp_path / "lake")
    report = normalize_file(AWS_SAMPLE, lake, "aws_cur_legacy", None)
    focus = _focus(lake)
    assert report.billing_period == "2023-11"
    assert focus.height == len(rows) == 1281
    assert report.rows_rejected == 0
    assert float(expected) == pytest.approx(focus["BilledCost"].sum(), abs=1e-9)
    # Tax rows keep their category; the rest of this sample is usage.
    assert focus.filter(pl.col("ChargeCategory") == "Tax").height == sum(
        r["lineItem/LineItemType"] == "Tax" for r in rows
    )
    # Nulls are nulls: the sample's empty cells never become "" in the lake.
    for column in ("RegionId", "ResourceId", "PricingUnit", "ChargeClass"):
        assert focus.filter(pl.col(column) == "").height == 0
    assert focus["x_SourceRow"].to_list() == list(range(1, 1282))


def _rows_by_type(lake: Lake) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in _focus(lake).sort("x_SourceRow").iter_rows(named=True):
        rows.setdefault(row["x_LineItemType"], []).append(row)
    return rows


def test_effective_cost_follows_each_line_item_type(tmp_path):
    lake = Lake(tmp_path / "lake")
    normalize_file(HAND_CUR2, lake, "aws_cur2", None)
    rows = _rows_by_type(lake)
    by_type = {kind: found[0] for kind, found in rows.items()}
    # Hand-worked from hand_cur2.csv (see the fixture's README):
    assert by_type["SavingsPlanCoveredUsage"]["EffectiveCost"] == pytest.approx(60.00)
    assert by_type["SavingsPlanCoveredUsage"]["BilledCost"] == pytest.approx(98.32)
    assert by_type["SavingsPlanNegation"]["EffectiveCost"] == 0.0
    assert by_type["SavingsPlanNegation"]["BilledCost"] == pytest.approx(-98.32)
    assert by_type["DiscountedUsage"]["EffectiveCost"] == pytest.approx(0.3045)
    assert by_type["DiscountedUsage"]["BilledCost"] == 0.0
    assert by_type["Fee"]["EffectiveCost"] == 0.0  # RI upfront fee: amortized into usage
    assert by_type["Usage"]["EffectiveCost"] == pytest.approx(2.5)
    assert by_type["Credit"]["EffectiveCost"] == pytest.approx(-10.0)
    # Commitment fees: the purchase row has EffectiveCost 0, the unused part a row of its own.
    for kind, billed, unused in [
        ("SavingsPlanRecurringFee", 70.0, 70.0 - 60.0),
        ("RIFee", 150.0, 12.5 + 7.25),
    ]:
        purchase, unused_row = rows[kind]
        assert (purchase["ChargeCategory"], purchase["BilledCost"]) == ("Purchase", billed)
        assert purchase["EffectiveCost"] == 0.0
        assert unused_row["ChargeCategory"] == "Usage"
        assert unused_row["CommitmentDiscountStatus"] == "Unused"
        assert unused_row["BilledCost"] == 0.0
        assert unused_row["EffectiveCost"] == pytest.approx(unused)
        assert unused_row["x_SourceRow"] == purchase["x_SourceRow"]
    focus = _focus(lake)
    assert focus["BilledCost"].sum() == pytest.approx(
        98.32 - 98.32 + 70 + 0 + 150 + 2.5 + 5 + 1000 - 10
    )
    assert focus["EffectiveCost"].sum() == pytest.approx(
        60 + 0 + 10 + 0.3045 + 19.75 + 2.5 + 5 + 0 - 10
    )


def test_charge_attributes_and_commitments(tmp_path):
    lake = Lake(tmp_path / "lake")
    normalize_file(HAND_CUR2, lake, "aws_cur2", None)
    rows = {kind: found[0] for kind, found in _rows_by_type(lake).items()}
    covered = rows["SavingsPlanCoveredUsage"]
    assert (covered["ChargeCategory"], covered["PricingCategory"]) == ("Usage", "Committed")
    assert covered["CommitmentDiscountId"] == "arn:aws:savingsplans::111122223333:savingsplan/sp-1"
    assert covered["CommitmentDiscountName"] == "sp-1"
    assert covered["CommitmentDiscountType"] == "Savings Plan"
    assert covered["CommitmentDiscountCategory"] == "Spend"
    assert covered["CommitmentDiscountStatus"] == "Used"
    assert covered["ListCost"] == pytest.approx(98.32)
    assert covered["PricingUnit"] == "Hours"  # "Hrs" in FOCUS unit format
    assert covered["RegionName"] == "US East (N. Virginia)"
    negation = rows["SavingsPlanNegation"]
    assert negation["ContractedUnitPrice"] is None  # the bill's rate is -98.32; prices are >= 0
    ri = rows["DiscountedUsage"]
    assert ri["CommitmentDiscountType"] == "Reserved Instance"
    assert ri["CommitmentDiscountCategory"] == "Usage"
    assert rows["RIFee"]["ChargeCategory"] == "Purchase"
    assert rows["RIFee"]["ChargeFrequency"] == "Recurring"
    assert rows["Fee"]["ChargeFrequency"] == "One-Time"
    tax = rows["Tax"]
    assert tax["ChargeCategory"] == "Tax"
    assert (tax["PricingCategory"], tax["SkuId"], tax["PricingQuantity"]) == (None, None, None)
    assert tax["PricingCurrency"] == "USD"
    assert rows["Credit"]["ChargeCategory"] == "Credit"
    bedrock = rows["Usage"]
    assert bedrock["ServiceName"] == "Amazon Bedrock"
    assert bedrock["ServiceCategory"] == "AI and Machine Learning"
    assert bedrock["ServiceSubcategory"] == "Generative AI"
    assert bedrock["PricingUnit"] == "1000 Tokens"
    assert bedrock["ConsumedQuantity"] == pytest.approx(41.6666666667)
    assert covered["ServiceName"] == "Amazon Elastic Compute Cloud"  # from the product map
    assert covered["RegionId"] == "us-east-1"
    assert covered["x_InstanceType"] == "p5.48xlarge"
    assert covered["x_UsageType"] == "USE1-BoxUsage:p5.48xlarge"


def test_tags_from_cur2_json_map_drop_the_user_prefix(tmp_path):
    lake = Lake(tmp_path / "lake")
    normalize_file(HAND_CUR2, lake, "aws_cur2", None)
    rows = {r["x_SourceRow"]: r for r in _focus(lake).iter_rows(named=True)}
    assert json.loads(rows[1]["Tags"]) == {"Project": "atlas", "env": "prod"}
    assert rows[2]["Tags"] is None  # an empty map is no tags, not "{}"
    assert json.loads(rows[4]["Tags"]) == {"project": "ledger"}


def test_tags_from_legacy_columns_keep_the_users_case(tmp_path):
    source = tmp_path / "legacy.csv"
    with open(AWS_SAMPLE, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        first = next(reader)
    header += ["resourceTags/user:Project", "resourceTags/user:cost-center"]
    with open(source, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerow([*first, "Atlas", 'R&D "core"'])
        writer.writerow([*first, "", ""])
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, "aws_cur_legacy", None)
    tags = _focus(lake).sort("x_SourceRow")["Tags"].to_list()
    assert json.loads(tags[0]) == {"Project": "Atlas", "cost-center": 'R&D "core"'}
    assert tags[1] is None


def test_cur2_parquet_with_map_columns(tmp_path):
    with open(HAND_CUR2, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {
        k: [r[k] or None for r in rows] for k in rows[0] if k not in ("resource_tags", "product")
    }
    table = pa.table(columns)
    money = ["line_item_unblended_cost", "savings_plan_savings_plan_effective_cost"]
    for name in money:
        table = table.set_column(
            table.schema.get_field_index(name), name, table[name].cast(pa.float64())
        )
    tags = [[("user_Project", "atlas")] if r["identity_line_item_id"] == "a" else [] for r in rows]
    table = table.append_column("resource_tags", pa.array(tags, pa.map_(pa.string(), pa.string())))
    products = [[("product_name", "Amazon Elastic Compute Cloud")]] + [[]] * (len(rows) - 1)
    table = table.append_column("product", pa.array(products, pa.map_(pa.string(), pa.string())))
    path = tmp_path / "cur2.parquet"
    pq.write_table(table, path)
    lake = Lake(tmp_path / "lake")
    normalize_file(path, lake, "aws_cur2", None)
    focus = _focus(lake).sort("x_SourceRow")
    assert focus["BilledCost"].sum() == pytest.approx(1217.5)
    assert focus["EffectiveCost"].sum() == pytest.approx(87.5545)
    assert focus["EffectiveCost"][0] == pytest.approx(60.0)
    assert json.loads(focus["Tags"][0]) == {"Project": "atlas"}
    assert focus["Tags"][1] is None
    assert focus["ServiceName"][0] == "Amazon Elastic Compute Cloud"  # from the product MAP
    assert focus["ServiceName"][2] == "Savings Plans for AWS Compute usage"  # from the table


def test_missing_required_column_names_the_file_and_column(tmp_path):
    source = tmp_path / "no-cost.csv.gz"
    with open(HAND_CUR2, newline="") as f:
        rows = list(csv.reader(f))
    drop = rows[0].index("line_item_unblended_cost")
    with gzip.open(source, "wt", newline="") as f:
        csv.writer(f).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    with pytest.raises(DeliveryError, match=r"no-cost\.csv\.gz.*line_item_unblended_cost"):
        normalize_file(source, Lake(tmp_path / "lake"), "aws_cur2", "2026-11")


def test_unknown_columns_are_ignored(tmp_path):
    source = tmp_path / "extra.csv"
    text = Path(HAND_CUR2).read_text().splitlines()
    lines = [text[0] + ",brand_new_column"] + [line + ",whatever" for line in text[1:]]
    source.write_text("\n".join(lines) + "\n")
    lake = Lake(tmp_path / "lake")
    report = normalize_file(source, lake, "aws_cur2", None)
    # 9 source rows; the two commitment fees each add an "Unused" row.
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (9, 11, 0)


def test_a_covered_row_without_its_effective_cost_is_rejected(tmp_path):
    rows = HAND_CUR2.read_text().splitlines()
    header = rows[0].split(",")
    covered = rows[1].split(",")
    covered[header.index("savings_plan_savings_plan_effective_cost")] = ""
    source = tmp_path / "no-effective.csv"
    source.write_text("\n".join([rows[0], ",".join(covered), *rows[2:]]) + "\n")
    lake = Lake(tmp_path / "lake")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(lambda: normalize_file(source, lake, "aws_cur2", None))
    assert (report.rows_read, report.rows_rejected, report.rejected_cost_rows) == (9, 1, 1)
    reject = lake.scan("rejects").collect().row(0, named=True)
    assert reject["x_SourceRow"] == 1
    assert reject["reason"].startswith("EffectiveCost is empty")
    assert reject["raw_cost"] == "98.32"


def test_legacy_cur_in_athena_parquet_form(tmp_path):
    """The legacy CUR's Parquet delivery uses snake_case names (``line_item_unblended_cost``)."""
    with open(AWS_SAMPLE, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {canonical_cur_name(k): [r[k] or None for r in rows] for k in rows[0]}
    columns["line_item_unblended_cost"] = [float(r["lineItem/UnblendedCost"]) for r in rows]
    columns["resource_tags_user_project"] = ["atlas"] + [None] * (len(rows) - 1)
    path = tmp_path / "legacy.parquet"
    pq.write_table(pa.table(columns), path)
    lake = Lake(tmp_path / "lake")
    report = normalize_file(path, lake, "aws_cur_legacy", None)
    focus = _focus(lake).sort("x_SourceRow")
    expected = sum(Decimal(r["lineItem/UnblendedCost"]) for r in rows)
    assert (report.rows_read, report.rows_rejected) == (1281, 0)
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-9)
    assert json.loads(focus["Tags"][0]) == {"project": "atlas"}
    assert focus["Tags"][1] is None


def test_aws_focus_export_is_checked_and_passed_through(tmp_path):
    """An AWS FOCUS export keeps its own values; AWS's x_ names map to costlake's."""
    export = FIXTURES / "aws" / "hand_focus_export.csv"
    lake = Lake(tmp_path / "lake")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(lambda: normalize_file(export, lake, "aws_focus", "2026-11"))
    focus = _focus(lake).sort("x_SourceRow")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 2, 2)
    assert focus["BilledCost"].to_list() == [12.5, -2.5]
    assert focus["EffectiveCost"].to_list() == [10.0, -2.5]
    first = focus.row(0, named=True)
    assert (first["x_UsageType"], first["x_ProductCode"]) == (
        "USE1-NovaLite-input-tokens",
        "AmazonBedrock",
    )
    assert json.loads(first["Tags"]) == {"team": "ml"}
    assert first["ServiceProviderName"] == "AWS"
    reasons = lake.scan("rejects").sort("x_SourceRow").collect()["reason"].to_list()
    assert reasons == [
        "BilledCost is not a number",
        "ChargeCategory is not a FOCUS charge category",
    ]
    assert report.bill_totals == {"USD": pytest.approx(12.5 - 2.5 + 1)}  # "oops" is not a number
    assert report.rejected_cost_rows == 2
