"""The demo CUR 2.0 export is deterministic, laid out like AWS's bucket and internally consistent.

Expected figures are derived from the demo's stated prices (p5.48xlarge $55.04/h on demand,
Compute Savings Plan rate and commitment $26.50/h, r6i.2xlarge RI $0.15/h amortised upfront plus
$0.15/h recurring for 2 instances), never copied from generated output.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demo.aws import (
    CUR2_COLUMN_NAMES,
    write_demo_aws_export,
    write_synthetic_cur2_export,
)

EXPORT = "cur2/costlake-demo"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _key(uri: str) -> str:
    assert uri.startswith("s3://demo-billing-bucket/")
    return uri.split("/", 3)[3]


def _rows(root: Path, manifest: dict) -> list[dict[str, str]]:
    rows = []
    for uri in manifest["dataFiles"]:
        with gzip.open(root / _key(uri), "rt", encoding="utf-8", newline="") as stream:
            rows += list(csv.DictReader(stream))
    return rows


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    root = tmp_path_factory.mktemp("bucket")
    paths = write_demo_aws_export(root)
    manifests = {json.loads(p.read_text())["billingPeriod"]["start"][:6]: p for p in paths}
    assert sorted(manifests) == ["202610", "202611"]
    return root, {
        "2026-10": json.loads(manifests["202610"].read_text()),
        "2026-11": json.loads(manifests["202611"].read_text()),
    }


@pytest.fixture(scope="module")
def rows(demo: tuple[Path, dict[str, dict]]) -> dict[str, list[dict[str, str]]]:
    root, manifests = demo
    return {period: _rows(root, m) for period, m in manifests.items()}


def test_two_runs_write_byte_identical_files(tmp_path: Path) -> None:
    write_demo_aws_export(tmp_path / "a")
    write_demo_aws_export(tmp_path / "b")
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)


def test_manifest_names_exactly_the_newest_execution_and_a_stale_one_lingers(demo) -> None:
    root, manifests = demo
    for period, manifest in manifests.items():
        data = root / EXPORT / "data" / f"BILLING_PERIOD={period}"
        named = [_key(uri) for uri in manifest["dataFiles"]]
        assert len(named) >= 2
        assert all((root / key).is_file() for key in named)
        current = data / manifest["executionId"]
        on_disk = sorted(p.relative_to(root).as_posix() for p in current.iterdir())
        assert sorted(named) == on_disk
        assert manifest["billingPeriod"]["start"] == period.replace("-", "") + "01T000000.000Z"
        executions = sorted(p.name for p in data.iterdir())
        if period == "2026-11":  # newest period: an older execution no manifest names
            assert len(executions) == 2
            stale = data / next(e for e in executions if e != manifest["executionId"])
            stale_files = list(stale.glob("*.csv.gz"))
            assert stale_files
            assert not {p.relative_to(root).as_posix() for p in stale_files} & set(named)
        else:
            assert executions == [manifest["executionId"]]
    assert manifests["2026-11"]["billingPeriod"]["end"] == "20261201T000000.000Z"


def test_csv_header_matches_manifest_columns(demo) -> None:
    root, manifests = demo
    for manifest in manifests.values():
        names = [c["name"] for c in manifest["columns"]]
        assert names == CUR2_COLUMN_NAMES
        assert {c["type"] for c in manifest["columns"]} <= {
            "string",
            "double",
            "timestamp",
            "map<string,string>",
        }
        for uri in manifest["dataFiles"]:
            with gzip.open(root / _key(uri), "rt", encoding="utf-8", newline="") as stream:
                assert next(csv.reader(stream)) == names


def test_rows_stay_inside_their_period_and_november_is_month_to_date(rows) -> None:
    bounds = {
        "2026-10": (datetime(2026, 10, 1), datetime(2026, 11, 1)),
        "2026-11": (datetime(2026, 11, 1), datetime(2026, 12, 1)),
    }
    for period, items in rows.items():
        start, end = bounds[period]
        for row in items:
            assert _ts(row["bill_billing_period_start_date"]) == start
            assert _ts(row["bill_billing_period_end_date"]) == end
            assert start <= _ts(row["line_item_usage_start_date"])
            assert _ts(row["line_item_usage_end_date"]) <= end
            assert row["line_item_currency_code"] == "USD"
    november_days = {r["line_item_usage_start_date"][:10] for r in rows["2026-11"]}
    assert max(november_days) == "2026-11-25"  # delivered on 2026-11-26
    # The invoice id is blank until the month is invoiced.
    assert all(r["bill_invoice_id"] for r in rows["2026-10"])
    assert not any(r["bill_invoice_id"] for r in rows["2026-11"])


def test_each_negation_is_the_exact_negative_of_one_covered_row(rows) -> None:
    for items in rows.values():
        covered = Counter(
            (
                r["line_item_resource_id"],
                r["line_item_usage_start_date"],
                r["line_item_unblended_cost"],
            )
            for r in items
            if r["line_item_line_item_type"] == "SavingsPlanCoveredUsage"
        )
        negations = Counter(
            (
                r["line_item_resource_id"],
                r["line_item_usage_start_date"],
                r["line_item_unblended_cost"].removeprefix("-"),
            )
            for r in items
            if r["line_item_line_item_type"] == "SavingsPlanNegation"
        )
        assert covered and covered == negations
        for r in items:
            if r["line_item_line_item_type"] == "SavingsPlanNegation":
                assert r["line_item_unblended_cost"].startswith("-")
                assert r["savings_plan_savings_plan_effective_cost"] == "0"
                assert r["pricing_public_on_demand_cost"] == "0"


def test_hand_checked_savings_plan_and_reserved_instance_rows(rows) -> None:
    october = rows["2026-10"]
    day = "2026-10-01T00:00:00.000Z"

    def one(line_type: str, **match: str) -> dict[str, str]:
        found = [
            r
            for r in october
            if r["line_item_line_item_type"] == line_type
            and r["line_item_usage_start_date"] == day
            and all(r[k] == v for k, v in match.items())
        ]
        assert found, line_type
        return found[0]

    # A full p5 day: 24 h x $55.04 on demand, 24 h x $26.50 at the plan rate.
    covered = one("SavingsPlanCoveredUsage", line_item_usage_amount="24")
    assert Decimal(covered["line_item_unblended_cost"]) == Decimal("1320.96")
    assert Decimal(covered["pricing_public_on_demand_cost"]) == Decimal("1320.96")
    assert Decimal(covered["savings_plan_savings_plan_effective_cost"]) == Decimal("636")
    assert covered["product_instance_type"] == "p5.48xlarge"
    assert json.loads(covered["product"])["gpu"] == "8"
    # An RI-covered r6i.2xlarge day: no unblended cost, 24 h x ($0.15 + $0.15) effective.
    ri = one("DiscountedUsage", line_item_usage_amount="24")
    assert Decimal(ri["line_item_unblended_cost"]) == 0
    assert Decimal(ri["reservation_effective_cost"]) == Decimal("7.2")
    assert Decimal(ri["reservation_amortized_upfront_cost_for_usage"]) == Decimal("3.6")
    assert Decimal(ri["reservation_recurring_fee_for_usage"]) == Decimal("3.6")
    assert Decimal(ri["pricing_public_on_demand_cost"]) == Decimal("12.096")  # 24 x 0.504
    # The RIFee charges every reserved hour of October: 2 RIs x 744 h x $0.15.
    (fee,) = [r for r in october if r["line_item_line_item_type"] == "RIFee"]
    assert Decimal(fee["line_item_usage_amount"]) == 1488
    assert Decimal(fee["line_item_unblended_cost"]) == Decimal("223.2")


def test_commitments_are_fully_accounted_for(rows) -> None:
    for period, items in rows.items():
        by_day: dict[str, Decimal] = {}
        for r in items:
            day = r["line_item_usage_start_date"]
            if r["line_item_line_item_type"] == "SavingsPlanCoveredUsage":
                by_day[day] = by_day.get(day, 0) + Decimal(
                    r["savings_plan_savings_plan_effective_cost"]
                )
            elif r["line_item_line_item_type"] == "SavingsPlanRecurringFee":
                unused = Decimal(r["savings_plan_total_commitment_to_date"]) - Decimal(
                    r["savings_plan_used_commitment"]
                )
                assert unused >= 0
                assert Decimal(r["line_item_unblended_cost"]) == Decimal("636")  # 24 x 26.50
                by_day[day] = by_day.get(day, 0) + unused
        # Used plus unused commitment is the whole commitment, every day.
        assert set(by_day.values()) == {Decimal("636")}, period
        # Reserved hours are either used (DiscountedUsage) or reported unused on the RIFee.
        used = sum(
            Decimal(r["line_item_usage_amount"])
            for r in items
            if r["line_item_line_item_type"] == "DiscountedUsage"
        )
        (fee,) = [r for r in items if r["line_item_line_item_type"] == "RIFee"]
        days = len(
            {
                r["line_item_usage_start_date"]
                for r in items
                if r["line_item_line_item_type"] == "SavingsPlanRecurringFee"
            }
        )
        assert used + Decimal(fee["reservation_unused_quantity"]) == 2 * 24 * days
    unused_days = [
        r
        for r in rows["2026-10"]
        if r["line_item_line_item_type"] == "SavingsPlanRecurringFee"
        and r["savings_plan_used_commitment"] != r["savings_plan_total_commitment_to_date"]
    ]
    assert unused_days, "some October days should leave Savings Plan commitment unused"


def test_tags_and_charge_types_look_like_a_real_bill(rows) -> None:
    for items in rows.values():
        types = {r["line_item_line_item_type"] for r in items}
        assert {
            "Usage",
            "DiscountedUsage",
            "SavingsPlanCoveredUsage",
            "SavingsPlanNegation",
            "SavingsPlanRecurringFee",
            "RIFee",
            "Fee",
            "Tax",
            "Credit",
        } <= types
        for r in items:
            if r["line_item_line_item_type"] in ("Tax", "Fee", "Credit", "Refund"):
                assert r["resource_tags"] in ("", "{}")
                assert (
                    not r["pricing_public_on_demand_cost"] or r["line_item_line_item_type"] == "Fee"
                )
        usage = [r for r in items if r["line_item_line_item_type"] == "Usage"]
        assert any(
            r["pricing_term"] == "Spot" and "SpotUsage:g5.2xlarge" in r["line_item_usage_type"]
            for r in usage
        )
        assert any(r["bill_billing_entity"] == "AWS Marketplace" for r in usage)
        keys = {k for r in items if r["resource_tags"] for k in json.loads(r["resource_tags"])}
        assert {"user_project", "user_Project", "user_env", "user_Environment"} <= keys
    assert any(r["line_item_line_item_type"] == "Refund" for r in rows["2026-10"])


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_synthetic_export_is_complete_and_deterministic(tmp_path: Path, fmt: str) -> None:
    n_rows = 3_001
    first = write_synthetic_cur2_export(tmp_path / "a", n_rows, fmt, files=3)
    write_synthetic_cur2_export(tmp_path / "b", n_rows, fmt, files=3)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    manifest = json.loads(first.read_text())
    keys = [uri.split("/", 3)[3] for uri in manifest["dataFiles"]]
    assert len(keys) == 3
    paths = [tmp_path / "a" / key for key in keys]
    if fmt == "parquet":
        table = pa.concat_tables(pq.read_table(p) for p in paths)
        assert table.schema.names == CUR2_COLUMN_NAMES
        assert pa.types.is_map(table.schema.field("resource_tags").type)
        rows = table.select(["line_item_line_item_type", "line_item_unblended_cost"]).to_pylist()
    else:
        rows = []
        for p in paths:
            with gzip.open(p, "rt", encoding="utf-8", newline="") as stream:
                reader = csv.DictReader(stream)
                assert reader.fieldnames == CUR2_COLUMN_NAMES
                rows += [
                    {**r, "line_item_unblended_cost": float(r["line_item_unblended_cost"])}
                    for r in reader
                ]
    assert len(rows) == n_rows
    covered = [
        r["line_item_unblended_cost"]
        for r in rows
        if r["line_item_line_item_type"] == "SavingsPlanCoveredUsage"
    ]
    negated = [
        -r["line_item_unblended_cost"]
        for r in rows
        if r["line_item_line_item_type"] == "SavingsPlanNegation"
    ]
    assert covered and sorted(covered) == sorted(negated)
