"""Azure export runs: the newest manifest.json of a month is its delivery."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest
from conftest import FIXTURES, write_azure_run

from connectors.exports.azure import find_azure_deliveries
from connectors.exports.landing import land_delivery
from connectors.stores.files import LocalFileStore
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake

EA_ACTUAL = FIXTURES / "azure" / "EA_ActualCost_Small.csv"


def test_the_newest_run_of_a_month_wins(tmp_path):
    container = tmp_path / "container"
    write_azure_run(
        container, {"part_0_0001.csv": EA_ACTUAL}, "2023-09", "run-old", "2023-09-10T06:00:00Z"
    )
    write_azure_run(
        container, {"part_0_0001.csv": EA_ACTUAL}, "2023-09", "run-new", "2023-09-11T06:00:00Z"
    )
    delivery = find_azure_deliveries(LocalFileStore(container))["2023-09"]
    assert (delivery.delivery_id, delivery.source_dataset) == ("run-new", "azure_actual")
    assert [f.path.rsplit("/", 2)[-2] for f in delivery.files] == ["run-new"]


def test_a_run_delivers_into_the_lake_and_reconciles(tmp_path):
    container = tmp_path / "container"
    write_azure_run(
        container, {"part_0_0001.csv": EA_ACTUAL}, "2023-09", "run-1", "2023-09-11T06:00:00Z"
    )
    store = LocalFileStore(container)
    delivery = find_azure_deliveries(store)["2023-09"]
    landed = land_delivery(store, delivery, tmp_path / "raw" / "run-1")
    report = ingest_delivery(delivery, landed, Lake(tmp_path / "lake"))
    with open(EA_ACTUAL, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    expected = sum(Decimal(r["Cost"]) for r in rows)  # this older EA export names it "Cost"
    assert report.rows_read == len(rows)
    assert report.rows_rejected == 0
    [(currency, total)] = report.bill_totals.items()
    assert currency == rows[0]["BillingCurrency"]
    assert total == pytest.approx(float(expected), abs=1e-6)


def test_a_blob_of_another_size_than_the_manifest_says_fails(tmp_path):
    container = tmp_path / "container"
    manifest = write_azure_run(
        container, {"part_0_0001.csv": EA_ACTUAL}, "2023-09", "run-1", "2023-09-11T06:00:00Z"
    )
    data = json.loads(manifest.read_text())
    data["blobs"][0]["byteCount"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(DeliveryError, match=r"manifest\.json.*part_0_0001\.csv.*bytes"):
        find_azure_deliveries(LocalFileStore(container))


def test_two_kinds_of_export_for_one_month_are_refused(tmp_path):
    container = tmp_path / "container"
    write_azure_run(container, {"a.csv": EA_ACTUAL}, "2023-09", "run-1", "2023-09-11T06:00:00Z")
    write_azure_run(
        container, {"b.csv": EA_ACTUAL}, "2023-09", "run-2", "2023-09-11T07:00:00Z", "AmortizedCost"
    )
    with pytest.raises(DeliveryError, match="azure_actual, azure_amortized"):
        find_azure_deliveries(LocalFileStore(container))
