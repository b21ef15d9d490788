"""OCI cost reports and Oracle's FOCUS reports to FOCUS, against values read off the sources."""

from __future__ import annotations

import csv
import gzip
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
from costlake.providers import oci

OCI_COST = FIXTURES / "oci" / "reports_cost-csv_0000000030000269.csv"
OCI_FOCUS = FIXTURES / "oci" / "focus_sample_1.0_oracle.csv"
HAND_COST = FIXTURES / "oci" / "hand_cost.csv"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocfcgzaabtrit47ex2igzu2j6lhuadrrglca"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _focus(lake: Lake) -> pl.DataFrame:
    return lake.scan("focus").collect().sort("x_SourceRow")


def _by_row(lake: Lake) -> dict[int, dict]:
    return {r["x_SourceRow"]: r for r in _focus(lake).iter_rows(named=True)}


def test_headers_are_matched_by_name_whatever_their_case():
    mapping = oci.cost_report_rename_map(
        ["product/description", "COST/MYCOST", "tags/Oracle-Tags.CreatedBy", "brand/new"]
    )
    assert mapping == {
        "product/description": "product/Description",
        "COST/MYCOST": "cost/myCost",
        "tags/Oracle-Tags.CreatedBy": "__tag__Oracle-Tags.CreatedBy",
        "brand/new": "brand/new",
    }


def test_real_cost_report_billed_cost_equals_my_cost(tmp_path):
    rows = _rows(OCI_COST)
    expected = sum(Decimal(r["cost/myCost"]) for r in rows)
    lake = Lake(tmp_path / "lake")
    report = normalize_file(OCI_COST, lake, "oci_cost", None)
    focus = _focus(lake)
    assert report.billing_period == "2023-11"  # usage on 2023-11-13
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (506, 506, 0)
    assert float(expected) == pytest.approx(focus["BilledCost"].sum(), rel=1e-12)
    assert report.bill_totals["USD"] == pytest.approx(float(expected), rel=1e-12)
    assert focus["x_SourceRow"].to_list() == list(range(1, 507))
    for column in ("AvailabilityZone", "Tags", "ChargeClass", "ResourceId"):
        assert focus.filter(pl.col(column) == "").height == 0
    # Every row of the sample is in one tenancy, one region, and none is a correction.
    assert set(focus["BillingAccountId"]) == {TENANCY}
    assert set(focus["RegionName"]) == {"US West (San Jose)"}
    assert focus["ChargeClass"].null_count() == 506
    assert focus.filter(pl.col("ServiceName") == "TELEMETRY").height == sum(
        r["product/service"] == "TELEMETRY" for r in rows
    )


def test_first_cost_report_row_by_hand(tmp_path):
    lake = Lake(tmp_path / "lake")
    normalize_file(OCI_COST, lake, "oci_cost", None)
    row = _by_row(lake)[1]
    # Values read off data row 1 of the source file.
    assert row["BilledCost"] == pytest.approx(0.012264277499950943)
    assert row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"] == row["BilledCost"]
    assert row["ContractedUnitPrice"] == pytest.approx(0.14717133)
    assert row["PricingQuantity"] == row["ConsumedQuantity"] == pytest.approx(0.083333333333)
    assert row["PricingUnit"] == row["ConsumedUnit"] == "Hours"
    assert row["BillingCurrency"] == row["PricingCurrency"] == "USD"
    assert row["ChargePeriodStart"] == datetime(2023, 11, 13, 10, tzinfo=UTC)
    assert row["ChargePeriodEnd"] == datetime(2023, 11, 13, 11, tzinfo=UTC)
    assert row["BillingPeriodStart"] == datetime(2023, 11, 1, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2023, 12, 1, tzinfo=UTC)
    assert (row["ChargeCategory"], row["ChargeFrequency"]) == ("Usage", "Usage-Based")
    assert (row["ServiceName"], row["ServiceCategory"]) == ("DATABASE", "Databases")
    assert row["ServiceSubcategory"] == "Relational Databases"
    assert row["RegionId"] == "us-sanjose-1"
    assert row["AvailabilityZone"] == "sj-1"
    assert row["ResourceId"].startswith("ocid1.autonomousdatabase.oc1.us-sanjose-1.anzwuljr33")
    assert row["ResourceType"] == "autonomousdatabase"
    assert (row["SkuId"], row["SkuMeter"]) == ("B92911", "Oracle APEX Application Development")
    assert row["ChargeDescription"] == "Oracle APEX Application Development"
    assert (row["SubAccountId"], row["SubAccountName"]) == (TENANCY, "platformpm2022")
    # The compartment is kept as x_ too (here the root compartment, which is the tenancy).
    assert (row["x_CompartmentId"], row["x_CompartmentName"]) == (TENANCY, "platformpm2022")
    assert row["ProviderName"] == row["InvoiceIssuerName"] == "Oracle"
    assert json.loads(row["Tags"]) == {
        "Oracle-Tags.CreatedBy": "default/phil.newman@oracle.com",
        "OracleInternalReserved.CostCenter": "607825",
        "OracleInternalReserved.OwnerEmail": "marek.czajka@oracle.com",
        "OracleInternalReserved.Phonebook": "accounts",
        "OracleInternalReserved.ServiceType": "Other",
        "OracleInternalReserved.UsageType": "development-pre-production",
        "Valtest.Cat": "boots",
    }
    # Row 2: monitoring priced per million datapoints, no tags, no availability domain.
    row = _by_row(lake)[2]
    assert row["PricingUnit"] == "1000000 Datapoints"
    assert row["BilledCost"] == pytest.approx(2.32376e-9)
    assert (row["Tags"], row["AvailabilityZone"]) == (None, None)
    assert (row["ServiceCategory"], row["ServiceSubcategory"]) == (
        "Management and Governance",
        "Observability",
    )


def test_tag_with_a_backslash_in_its_namespace(tmp_path):
    rows = _rows(OCI_COST)
    column = "tags/DevRel\\redbull-analytics-hol-4cb4.release"
    tagged = [i for i, r in enumerate(rows, start=1) if r[column]]
    lake = Lake(tmp_path / "lake")
    normalize_file(OCI_COST, lake, "oci_cost", None)
    row = _by_row(lake)[tagged[0]]
    assert json.loads(row["Tags"])["DevRel\\redbull-analytics-hol-4cb4.release"] == "1.0"
    assert row["SubAccountName"] == "redbullhol"


def test_generative_ai_gpu_and_correction_rows(tmp_path):
    lake = Lake(tmp_path / "lake")
    report = normalize_file(HAND_COST, lake, "oci_cost", None)
    assert (report.billing_period, report.rows_rejected) == ("2026-11", 0)
    rows = _by_row(lake)
    characters, tokens, gpu, correction, unknown = (rows[i] for i in range(1, 6))
    for row in (characters, tokens):
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["ServiceSubcategory"] == "Generative AI"
    # The bill's own unit is kept: characters stay characters, tokens stay tokens.
    assert (characters["PricingUnit"], characters["PricingQuantity"]) == ("10000 Characters", 12.5)
    assert (tokens["PricingUnit"], tokens["PricingQuantity"]) == ("1000000 Tokens", 0.25)
    assert characters["BillingCurrency"] == "USD"  # "usd" in the source
    assert json.loads(characters["Tags"]) == {"ai.team": "search"}
    assert json.loads(tokens["Tags"]) == {
        "ai.team": 'chat "beta"',
        "Oracle-Tags.CreatedBy": "default/alice",
    }
    assert characters["ChargeDescription"] == "OCI Generative AI - Cohere Command - Characters"
    assert (gpu["ServiceCategory"], gpu["ServiceSubcategory"]) == ("Compute", "Virtual Machines")
    assert (gpu["PricingUnit"], gpu["x_InstanceType"]) == ("GPU-Hours", "BM.GPU.H100.8")
    assert gpu["RegionName"] == "Germany Central (Frankfurt)"
    assert (gpu["SubAccountId"], gpu["SubAccountName"]) == (
        "ocid1.compartment.oc1..gpu",
        "gpu-train",
    )
    assert correction["ChargeClass"] == "Correction"  # "TRUE" in the source
    assert correction["BilledCost"] == -1.5
    assert correction["ContractedUnitPrice"] == 3.0
    assert (unknown["ServiceCategory"], unknown["ServiceSubcategory"]) == ("Other", "Other (Other)")
    assert (unknown["PricingUnit"], unknown["PricingQuantity"]) == (None, None)
    assert unknown["RegionName"] == "xx-nowhere-9"  # not in the table: the id stands in
    assert unknown["SubAccountName"] == "ocid1.compartment.oc1..misc"
    assert unknown["BillingPeriodStart"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert _focus(lake)["BilledCost"].sum() == pytest.approx(0.01875 + 0.375 + 80 - 1.5 + 2)


def test_bad_cost_and_time_become_rejects(tmp_path):
    lines = OCI_COST.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    rows = [next(csv.reader([line])) for line in lines[1:4]]
    rows[0][header.index("cost/myCost")] = "12,5"
    rows[1][header.index("lineItem/intervalUsageStart")] = "13/11/2023 10:00"
    source = tmp_path / "bad.csv"
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    lake = Lake(tmp_path / "lake")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(lambda: normalize_file(source, lake, "oci_cost", "2023-11"))
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 1, 2)
    rejects = lake.scan("rejects").collect().sort("x_SourceRow")
    assert rejects["reason"].to_list() == [
        "cost/myCost is not a number",
        "lineItem/intervalUsageStart is not an ISO-8601 UTC timestamp",
    ]
    assert rejects["raw_cost"][0] == "12,5"


def test_missing_required_column_names_the_file_and_column(tmp_path):
    source = tmp_path / "no-cost.csv.gz"
    rows = list(csv.reader(OCI_COST.read_text().splitlines()))
    drop = rows[0].index("cost/myCost")
    with gzip.open(source, "wt", newline="") as f:
        csv.writer(f).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    with pytest.raises(DeliveryError, match=r"no-cost\.csv\.gz.*cost/myCost"):
        normalize_file(source, Lake(tmp_path / "lake"), "oci_cost", "2023-11")


def test_oracle_focus_report_is_checked_and_repaired(tmp_path):
    rows = _rows(OCI_FOCUS)
    september = [r for r in rows if r["BillingPeriodStart"].startswith("2024-09")]
    lake = Lake(tmp_path / "lake")
    report = normalize_file(OCI_FOCUS, lake, "oci_focus", "2024-09")
    # One of the seven rows belongs to October's billing period: it is left to October's
    # delivery (OCI report files can hold two periods), neither written nor rejected here.
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (7, 6, 0)
    assert report.rows_other_periods == 1
    focus = _focus(lake)
    expected = sum(Decimal(r["BilledCost"]) for r in september)
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), rel=1e-12)
    row = _by_row(lake)[1]
    # Source row 1 as Oracle wrote it, with FOCUS 1.2's gaps filled in.
    assert (row["BilledCost"], row["EffectiveCost"], row["ListCost"]) == (0.012, 0.0, 0.012)
    assert row["ContractedCost"] == 0.012  # NULL in the source: the billed cost stands in
    assert row["ListUnitPrice"] == 0.0015
    assert row["ChargeFrequency"] == "Usage-Based"  # "Usage-based"
    assert (row["RegionId"], row["RegionName"]) == ("us-sanjose-1", "US West (San Jose)")
    assert (row["PricingUnit"], row["ConsumedUnit"]) == ("GB-Hours", "GB-Hours")  # "GB Hours"
    assert row["PricingCurrency"] == "USD"
    assert (row["ServiceCategory"], row["ServiceSubcategory"]) == ("Compute", "Virtual Machines")
    assert (row["SubAccountName"], row["SubAccountType"]) == ("crowddev", "Tenancy")
    assert row["BillingAccountName"] == "20209880"
    assert row["ChargeClass"] is None  # literal NULL
    assert row["CommitmentDiscountId"] is None  # quoted empty string
    assert json.loads(row["Tags"])["application"] == "SafeRadarCore"
    adjustment = _by_row(lake)[5]
    assert adjustment["ChargeCategory"] == "Adjustment"
    assert (adjustment["ConsumedQuantity"], adjustment["ConsumedUnit"]) == (None, None)
    assert adjustment["PricingUnit"] == "GB-Hours"  # "Gigabyte Per Hour"


def test_a_file_holding_two_periods_feeds_each_its_own_rows(tmp_path):
    rows = _rows(OCI_FOCUS)
    october = [r for r in rows if r["BillingPeriodStart"].startswith("2024-10")]
    lake = Lake(tmp_path / "lake")
    normalize_file(OCI_FOCUS, lake, "oci_focus", "2024-09")
    report = normalize_file(OCI_FOCUS, lake, "oci_focus", "2024-10")
    assert (report.rows_written, report.rows_rejected, report.rows_other_periods) == (1, 0, 6)
    assert report.bill_totals == {"USD": pytest.approx(float(october[0]["BilledCost"]))}
    written = lake.scan("focus").group_by("billing_period").len().collect()
    assert dict(written.iter_rows()) == {"2024-09": 6, "2024-10": 1}


def test_focus_report_bad_values_become_rejects(tmp_path):
    lines = OCI_FOCUS.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    rows = [next(csv.reader([line])) for line in lines[1:4]]
    rows[0][header.index("BilledCost")] = "abc"
    rows[1][header.index("ChargeCategory")] = "Usagee"
    source = tmp_path / "bad-focus.csv"
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    lake = Lake(tmp_path / "lake")
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(lambda: normalize_file(source, lake, "oci_focus", "2024-09"))
    assert (report.rows_written, report.rows_rejected) == (1, 2)
    reasons = lake.scan("rejects").collect().sort("x_SourceRow")["reason"].to_list()
    assert reasons == [
        "BilledCost is not a number",
        "ChargeCategory is not a FOCUS charge category",
    ]


@pytest.mark.parametrize(
    ("source", "dataset", "period"),
    [
        (OCI_COST, "oci_cost", None),
        (HAND_COST, "oci_cost", None),
        (OCI_FOCUS, "oci_focus", "2024-09"),
    ],
)
def test_output_passes_the_focus_validator(tmp_path, focus_validator, source, dataset, period):
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, dataset, period)
    assert focus_validator(lake, tmp_path) == []
