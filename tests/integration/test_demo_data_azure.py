"""The demo Azure EA ActualCost export is deterministic, laid out like Azure's container and
read by the Azure normalizer without a rejected row and to the cent of the files' own costs."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file
from demo.azure import EA_COLUMNS, write_demo_azure_export

CONTAINER_PATH = "exports/costlake"
EXPORT = "costlake-actual"


@pytest.fixture(scope="module")
def export_root(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("container")
    return root, write_demo_azure_export(root)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _newest_by_month(manifests: list[Path]) -> dict[str, dict]:
    newest: dict[str, dict] = {}
    for path in manifests:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        month = manifest["runInfo"]["startDate"][:7]
        held = newest.get(month)
        if held is None or manifest["runInfo"]["submittedTime"] > held["runInfo"]["submittedTime"]:
            newest[month] = {**manifest, "__path": path}
    return newest


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rb") as f:
        text = f.read().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_two_runs_are_byte_identical(tmp_path):
    first = write_demo_azure_export(tmp_path / "a")
    second = write_demo_azure_export(tmp_path / "b")
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    other_seed = write_demo_azure_export(tmp_path / "c", seed=12)
    assert _files(tmp_path / "c") != _files(tmp_path / "a")
    assert len(other_seed) == len(first)


def test_layout_and_manifests_name_exactly_their_run_folder(export_root):
    root, manifests = export_root
    # October: one run; November: the current run and an older, superseded one.
    assert len(manifests) == 3
    months = defaultdict(list)
    for path in manifests:
        rel = path.relative_to(root).parts
        assert rel[:2] == ("exports", "costlake") and rel[3] == EXPORT
        assert rel[-1] == "manifest.json" and len(rel) == 7
        months[rel[2]].append(path)
    assert sorted(months) == ["20261001-20261031", "20261101-20261130"]
    assert len(months["20261101-20261130"]) == 2

    newest = _newest_by_month(manifests)
    assert sorted(newest) == ["2026-10", "2026-11"]
    for manifest in newest.values():
        folder = manifest["__path"].parent
        run = manifest["runInfo"]
        assert folder.name == run["runId"]
        assert folder.parent.name == run["submittedTime"][:16].replace("-", "").replace(
            "T", ""
        ).replace(":", "")
        assert manifest["exportConfig"]["type"] == "ActualCost"
        assert manifest["exportConfig"]["dataVersion"] == "2023-12-01-preview"
        assert manifest["deliveryConfig"]["rootFolderPath"] == CONTAINER_PATH
        on_disk = sorted(p.name for p in folder.iterdir() if p.name != "manifest.json")
        named = sorted(b["blobName"].rsplit("/", 1)[1] for b in manifest["blobs"])
        assert on_disk == named and len(named) >= 2
        assert manifest["blobCount"] == len(named)
        rows = 0
        for blob in manifest["blobs"]:
            path = root / blob["blobName"]
            assert blob["blobName"].startswith(CONTAINER_PATH + "/")
            assert path.parent == folder
            assert path.stat().st_size == blob["byteCount"]
            assert path.read_bytes()[:2] == b"\x1f\x8b"
            data = _csv_rows(path)
            assert len(data) == blob["dataRowCount"]
            rows += len(data)
        assert manifest["dataRowCount"] == rows
        assert manifest["byteCount"] == sum(b["byteCount"] for b in manifest["blobs"])
    assert newest["2026-10"]["exportConfig"]["timeFrame"] == "TheLastMonth"
    assert newest["2026-10"]["runInfo"]["endDate"] == "2026-10-31T00:00:00"
    assert newest["2026-11"]["exportConfig"]["timeFrame"] == "MonthToDate"
    assert newest["2026-11"]["runInfo"]["endDate"] == "2026-11-25T00:00:00"
    # The superseded November run is older and holds fewer days.
    stale = [p for p in months["20261101-20261130"] if p != newest["2026-11"]["__path"]][0]
    old = json.loads(stale.read_text(encoding="utf-8"))
    assert old["runInfo"]["submittedTime"] < newest["2026-11"]["runInfo"]["submittedTime"]
    assert old["runInfo"]["endDate"] < newest["2026-11"]["runInfo"]["endDate"]
    assert old["dataRowCount"] < newest["2026-11"]["dataRowCount"]


def test_rows_look_like_an_ea_export_billed_in_eur(export_root):
    root, manifests = export_root
    first_part = root / _newest_by_month(manifests)["2026-11"]["blobs"][0]["blobName"]
    with gzip.open(first_part, "rb") as f:
        raw = f.read()
    assert raw.startswith(b"\xef\xbb\xbf" + b"InvoiceSectionName,")
    for manifest in _newest_by_month(manifests).values():
        rows = [r for b in manifest["blobs"] for r in _csv_rows(root / b["blobName"])]
        assert list(rows[0]) == list(EA_COLUMNS)
        assert {r["BillingCurrencyCode"] for r in rows} == {"EUR"}
        assert all(len(r["Date"]) == 10 and r["Date"][2] == "/" for r in rows)
        meters = {r["MeterName"] for r in rows}
        assert {"gpt 4o 0513 Input global Tokens", "gpt 4o 0513 Output global Tokens"} <= meters
        assert any("Standard_ND96isr_H100_v5" in r["AdditionalInfo"] for r in rows)
        purchases = [r for r in rows if r["ChargeType"] == "Purchase"]
        assert [r["PricingModel"] for r in purchases] == ["Reservation"]
        covered = [
            r for r in rows if r["ChargeType"] == "Usage" and r["PricingModel"] == "Reservation"
        ]
        assert covered and all(Decimal(r["CostInBillingCurrency"]) == 0 for r in covered)
        usage = [r for r in rows if r["ChargeType"] == "Usage"]
        total = sum(Decimal(r["CostInBillingCurrency"]) for r in usage)
        untagged = sum(Decimal(r["CostInBillingCurrency"]) for r in usage if not r["Tags"])
        assert Decimal("0.15") < untagged / total < Decimal("0.25")
        keys = {k for r in usage if r["Tags"] for k in json.loads("{" + r["Tags"] + "}")}
        assert {"project", "Project", "env", "Environment"} <= keys
        assert 1000 < sum(Decimal(r["CostInBillingCurrency"]) for r in rows) < 6000


def test_every_part_normalizes_without_rejects_to_the_files_cost(export_root, tmp_path):
    root, manifests = export_root
    for month, manifest in _newest_by_month(manifests).items():
        for index, blob in enumerate(manifest["blobs"]):
            part = root / blob["blobName"]
            expected = sum(Decimal(r["CostInBillingCurrency"]) for r in _csv_rows(part))
            lake = Lake(tmp_path / f"lake-{month}-{index}")
            report = normalize_file(part, lake, "azure_actual", None)
            assert report.billing_period == month
            assert report.rows_rejected == 0, report.reject_reasons
            assert report.rows_read == blob["dataRowCount"]
            focus = lake.scan("focus").collect()
            assert focus["BillingCurrency"].unique().to_list() == ["EUR"]
            billed = Decimal(str(focus["BilledCost"].sum()))
            assert abs(billed - expected) < Decimal("0.000001")
            assert focus.filter(pl.col("ChargeCategory") == "Purchase")["EffectiveCost"].sum() == 0
