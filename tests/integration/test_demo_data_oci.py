"""The demo OCI cost-report stream is deterministic, laid out like Oracle's usage bucket, holds
what its docstring promises and reaches the lake without a rejected row, to the cent of the
files' own costs per month of ``lineItem/intervalUsageStart``."""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from connectors.exports.oci import find_oci_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus.ingest import IngestReport, ingest_delivery
from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file
from demo.oci import COST_REPORT_HEADER, write_demo_oci_export

START = "lineItem/intervalUsageStart"
COST = "cost/myCost"
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("bucket")
    return root, write_demo_oci_export(root)


@pytest.fixture(scope="module")
def rows(export) -> list[dict[str, str]]:
    """Every row of every file, read with the stdlib, with its file name in ``__file``."""
    _, paths = export
    return [row for path in paths for row in _csv_rows(path)]


@pytest.fixture(scope="module")
def ingested(export, tmp_path_factory) -> tuple[Lake, dict[str, IngestReport]]:
    """Each billing period's delivery (every file holding one of its rows) in one lake."""
    root, _ = export
    store = LocalFileStore(root)
    lake = Lake(tmp_path_factory.mktemp("lake"))
    reports = {}
    for period, delivery in find_oci_deliveries(store).items():
        folder = store.local_path(delivery.files[0].path).parent
        reports[period] = ingest_delivery(delivery, folder, lake)
    return lake, reports


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [row | {"__file": path.name} for row in csv.DictReader(f)]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _by_month(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    months = defaultdict(list)
    for row in rows:
        months[row[START][:7]].append(row)
    return dict(months)


def _cost(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(r[COST]) for r in rows), Decimal(0))


def _untagged(row: dict[str, str]) -> bool:
    return not any(row[c] for c in row if c.startswith("tags/"))


def test_two_writes_are_byte_identical_and_names_increase(tmp_path, export):
    first = write_demo_oci_export(tmp_path / "a")
    second = write_demo_oci_export(tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    write_demo_oci_export(tmp_path / "c", seed=18)
    assert _files(tmp_path / "c") != _files(tmp_path / "a")
    names = [p.name for p in first]
    assert all(re.fullmatch(r"\d{16}\.csv\.gz", n) for n in names)
    assert names == sorted(names) and len(set(names)) == len(names)
    assert all(p.parent == tmp_path / "a" / "reports" / "cost-csv" for p in first)
    assert all(p.read_bytes()[:2] == b"\x1f\x8b" for p in first)
    # One file per daily cut: 2026-10-01 .. 2026-11-26 (November is through 2026-11-25).
    _, paths = export
    assert len(paths) == 31 + 26
    assert [p.name for p in paths] == names


def test_files_follow_the_sample_and_one_spans_the_month_edge(export, rows):
    _, paths = export
    with gzip.open(paths[0], "rb") as f:
        raw = f.read()
    assert raw.startswith(b"lineItem/referenceNo,lineItem/tenantId,") and b"\r\n" in raw
    assert list(rows[0])[:-1] == list(COST_REPORT_HEADER)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00Z", r[START]) for r in rows)
    assert all(r["lineItem/intervalUsageEnd"].endswith(":00:00Z") for r in rows)
    assert all(re.fullmatch(r"-?\d+\.\d{18}", r[COST]) for r in rows)
    assert {r["cost/currencyCode"] for r in rows} == {"GBP"}
    assert {r["lineItem/tenantId"] for r in rows} == {"ocid1.tenancy.oc1..aaaaaaaacostlakedemo"}
    months_by_file = defaultdict(set)
    for row in rows:
        months_by_file[row["__file"]].add(row[START][:7])
    spanning = [name for name, months in months_by_file.items() if len(months) > 1]
    assert len(spanning) == 1
    edge = [r[START] for r in rows if r["__file"] == spanning[0]]
    assert any(s.startswith("2026-10-31T2") for s in edge)
    assert any(s.startswith("2026-11-01T0") for s in edge)
    # Files are slices of time (a late correction aside): usage moves on from file to file.
    usage = [r for r in rows if r["lineItem/isCorrection"] == "false"]
    firsts = [min(r[START] for r in usage if r["__file"] == p.name) for p in paths]
    assert firsts == sorted(firsts)


def test_each_month_reaches_the_lake_to_the_cent_without_rejects(rows, ingested):
    lake, reports = ingested
    months = _by_month(rows)
    assert sorted(reports) == sorted(months) == ["2026-10", "2026-11"]
    focus = lake.scan("focus").collect()
    for month, month_rows in months.items():
        report = reports[month]
        assert report.rows_rejected == 0, report.reject_reasons
        assert report.rows_written == len(month_rows)
        written = focus.filter(pl.col("billing_period") == month)
        assert written["BillingCurrency"].unique().to_list() == ["GBP"]
        billed = Decimal(str(written["BilledCost"].sum())).quantize(CENT)
        assert billed == _cost(month_rows).quantize(CENT)
        assert Decimal(str(report.bill_totals["GBP"])).quantize(CENT) == billed
    # The edge file feeds both months: each leaves the other's rows of it alone.
    assert reports["2026-10"].rows_other_periods > 0
    assert reports["2026-11"].rows_other_periods > 0


def test_normalize_file_takes_one_month_of_the_edge_file(export, rows, tmp_path):
    _, paths = export
    edge = next(p for p in paths if {r[START][:7] for r in _csv_rows(p)} == {"2026-10", "2026-11"})
    edge_rows = _by_month(_csv_rows(edge))
    for month, period in (("2026-10", None), ("2026-11", "2026-11")):
        lake = Lake(tmp_path / month)
        report = normalize_file(edge, lake, "oci_cost", period)
        assert report.billing_period == month  # None: the first row's month, October
        assert report.rows_rejected == 0
        assert report.rows_written == len(edge_rows[month])
        other = "2026-11" if month == "2026-10" else "2026-10"
        assert report.rows_other_periods == len(edge_rows[other])
        billed = Decimal(str(lake.scan("focus").collect()["BilledCost"].sum()))
        assert billed.quantize(CENT) == _cost(edge_rows[month]).quantize(CENT)


def test_gpu_generative_ai_and_compartments(rows, ingested):
    lake, _ = ingested
    focus = lake.scan("focus").collect()
    h100 = [r for r in rows if "BM.GPU.H100.8" in r["product/Description"]]
    a10 = [r for r in rows if "VM.GPU.A10.1" in r["product/Description"]]
    assert h100 and a10
    # The H100 node bills 8 GPU-hours per hour, the A10 VM one (the correction gives back 2).
    assert {Decimal(r["usage/billedQuantity"]) for r in h100} == {Decimal(8), Decimal(-2)}
    assert {Decimal(r["usage/billedQuantity"]) for r in a10} == {Decimal(1)}
    gpu = focus.filter(pl.col("x_InstanceType").is_not_null())
    assert gpu.group_by("x_InstanceType").len().sort("x_InstanceType").rows() == [
        ("BM.GPU.H100.8", len(h100)),
        ("VM.GPU.A10.1", len(a10)),
    ]
    assert gpu["PricingUnit"].unique().to_list() == ["GPU-Hours"]

    characters = [r for r in rows if r["cost/skuUnitDescription"] == "10,000 Characters"]
    tokens = [r for r in rows if r["cost/skuUnitDescription"] == "1,000,000 Tokens"]
    assert characters and tokens
    assert {r["product/service"] for r in characters + tokens} == {"GENERATIVE_AI"}
    genai = focus.filter(pl.col("ServiceSubcategory") == "Generative AI")
    assert genai.height == len(characters) + len(tokens)
    units = dict(genai.group_by("PricingUnit").len().rows())
    assert units == {"10000 Characters": len(characters), "1000000 Tokens": len(tokens)}
    assert set(genai["ServiceCategory"]) == {"AI and Machine Learning"}

    compartments = {(r["product/compartmentId"], r["product/compartmentName"]) for r in rows}
    assert {name for _, name in compartments} == {"ml-training", "ml-inference", "sandbox"}
    assert set(focus.select("SubAccountId", "SubAccountName").unique().rows()) == compartments
    services = {r["product/service"] for r in rows}
    assert {"COMPUTE", "BLOCK_STORAGE", "OBJECTSTORE", "NETWORK"} <= services


def test_one_correction_points_back_at_an_earlier_row(rows, ingested):
    lake, _ = ingested
    corrections = [r for r in rows if r["lineItem/isCorrection"] == "true"]
    assert len(corrections) == 1
    correction = corrections[0]
    assert {r["lineItem/isCorrection"] for r in rows} == {"true", "false"}
    at = rows.index(correction)
    refs = {r["lineItem/referenceNo"]: i for i, r in enumerate(rows)}
    assert len(refs) == len(rows)  # reference numbers are unique
    original = rows[refs[correction["lineItem/backreferenceNo"]]]
    assert refs[original["lineItem/referenceNo"]] < at
    assert original["__file"] < correction["__file"]  # it arrives in a later file
    assert correction[START] == original[START]
    assert correction["cost/productSku"] == original["cost/productSku"]
    assert Decimal(correction[COST]) < 0 < Decimal(original[COST])
    focus = lake.scan("focus").collect().filter(pl.col("ChargeClass") == "Correction")
    assert focus.height == 1
    assert Decimal(str(focus["BilledCost"][0])) == Decimal(correction[COST])
    assert focus["billing_period"][0] == correction[START][:7]


def test_tags_and_untagged_share(rows, ingested):
    lake, _ = ingested
    for month, month_rows in _by_month(rows).items():
        untagged = _cost([r for r in month_rows if _untagged(r)])
        assert Decimal("0.15") <= untagged / _cost(month_rows) <= Decimal("0.25"), month
    tag_columns = [c for c in COST_REPORT_HEADER if c.startswith("tags/")]
    assert "tags/Owner" in tag_columns
    assert {c for c in tag_columns if c.startswith("tags/CostTracking.")} == {
        f"tags/CostTracking.{key}"
        for key in ("project", "cost_center", "environment", "workload_type", "model")
    }
    # Spelling drift a tag-cleaning step has to fold.
    assert {"prod", "production", "Prod"} <= {r["tags/CostTracking.environment"] for r in rows}
    assert {"atlas", "Atlas"} <= {r["tags/CostTracking.project"] for r in rows}
    # A row with only the free-form tag is tagged.
    assert any(r["tags/Owner"] and not r["tags/CostTracking.project"] for r in rows)

    focus = lake.scan("focus").collect().sort("x_SourceFile", "x_SourceRow")
    assert focus["Tags"].null_count() == sum(_untagged(r) for r in rows)
    expected = {
        c.removeprefix("tags/"): v for c, v in rows[0].items() if c.startswith("tags/") and v
    }
    first = focus.filter(pl.col("x_SourceFile").str.ends_with(rows[0]["__file"]))
    assert json.loads(first.filter(pl.col("x_SourceRow") == 1)["Tags"][0]) == expected


def test_content_size_per_month(rows):
    months = _by_month(rows)
    for month_rows in months.values():
        assert 300 <= len(month_rows) <= 1500
    # Hourly compute, daily storage and egress.
    storage = [r for r in rows if r["product/service"] in ("BLOCK_STORAGE", "OBJECTSTORE")]
    assert all(r[START].endswith("T00:00Z") for r in storage)
    assert all(r["lineItem/intervalUsageEnd"].endswith("T00:00:00Z") for r in storage)


def test_output_passes_the_focus_validator(ingested, tmp_path, focus_validator):
    lake, _ = ingested
    assert focus_validator(lake, tmp_path) == []
