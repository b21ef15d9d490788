"""The demo GCP detailed export is deterministic, laid out as the GCP finder expects, and
normalized without a rejected row to the cent of the files' own cost and credits.

Expected values come from the JSON files (read with the stdlib) or from GCP's list prices,
never from the normalizer's output."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from connectors.exports.gcp import find_gcp_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake
from demo.gcp import write_demo_gcp_export

TABLE = "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
MONTHS = {"2026-10": "202610", "2026-11": "202611"}
VERTEX_AI = "C7E2-9256-1C43"
MANDATORY = {"project", "environment", "cost_center", "workload_type", "model", "team"}


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("gcp")
    return root, write_demo_gcp_export(root)


@pytest.fixture(scope="module")
def months(export) -> dict[str, list[dict]]:
    """Each invoice month's rows, read straight from its files (money as Decimal)."""
    root, _ = export
    rows = {}
    for period, month in MONTHS.items():
        parts = sorted((root / TABLE / f"invoice_month={month}").glob("*.jsonl"))
        rows[period] = [
            json.loads(line, parse_float=Decimal)
            for part in parts
            for line in part.read_text(encoding="utf-8").splitlines()
        ]
    return rows


@pytest.fixture(scope="module")
def ingested(export, tmp_path_factory):
    """Both months ingested, as the nightly job does: the lake and each month's report."""
    root, _ = export
    store = LocalFileStore(root)
    lake = Lake(tmp_path_factory.mktemp("lake"))
    reports = {}
    for period, delivery in find_gcp_deliveries(store).items():
        folder = store.local_path(delivery.files[0].path).parent
        reports[period] = ingest_delivery(delivery, folder, lake)
    return lake, reports


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _net(rows: list[dict]) -> Decimal:
    """The bill: Σ cost + Σ credits.amount."""
    return sum(r["cost"] + sum(c["amount"] for c in r["credits"]) for r in rows)


def _labels(row: dict) -> dict[str, str]:
    return {kv["key"]: kv["value"] for kv in row["labels"]}


def _system(row: dict) -> dict[str, str]:
    return {kv["key"]: kv["value"] for kv in row["system_labels"]}


def _sku(rows: list[dict], description: str) -> list[dict]:
    return [r for r in rows if r["sku"]["description"] == description]


def test_two_writes_are_byte_identical(tmp_path):
    first = write_demo_gcp_export(tmp_path / "a")
    second = write_demo_gcp_export(tmp_path / "b")
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    write_demo_gcp_export(tmp_path / "c", seed=14)
    assert _files(tmp_path / "c") != _files(tmp_path / "a")


def test_layout_is_what_the_finder_reads(export, months):
    root, paths = export
    assert sorted(paths) == paths
    by_month = defaultdict(list)
    for path in paths:
        table, folder, name = path.relative_to(root).parts
        assert table == TABLE
        by_month[folder].append(name)
    assert sorted(by_month) == ["invoice_month=202610", "invoice_month=202611"]
    for names in by_month.values():
        assert 1 <= len(names) <= 2
        assert names == [f"part-{i:012d}.jsonl" for i in range(len(names))]

    deliveries = find_gcp_deliveries(LocalFileStore(root))
    assert sorted(deliveries) == ["2026-10", "2026-11"]
    for period, delivery in deliveries.items():
        assert delivery.source_dataset == "gcp_billing_export_detailed"
        assert [f.path for f in delivery.files] == [
            p.relative_to(root).as_posix() for p in paths if MONTHS[period] in p.parent.name
        ]
        rows = months[period]
        assert 300 <= len(rows) <= 1500
        assert {r["invoice"]["month"] for r in rows} == {MONTHS[period]}
        assert {r["billing_account_id"] for r in rows} == {"01A2B3-C4D5E6-F7A8B9"}
        assert {(r["currency"], r["currency_conversion_rate"]) for r in rows} == {("USD", 1)}
        assert all(r["usage_start_time"].endswith(" UTC") for r in rows)
    # November is month-to-date: usage through 25 November (the day before DEMO_TODAY).
    assert max(r["usage_end_time"] for r in months["2026-11"]) == "2026-11-26 00:00:00 UTC"


def test_each_month_ingests_without_rejects_to_the_files_own_net_cost(ingested, months):
    lake, reports = ingested
    assert sorted(reports) == ["2026-10", "2026-11"]
    for period, report in reports.items():
        rows = months[period]
        credits = sum(len(r["credits"]) for r in rows)
        assert report.rows_rejected == 0, report.reject_reasons
        assert (report.rows_read, report.rows_written) == (len(rows), len(rows) + credits)
        focus = lake.scan_partition("focus", "gcp", period).collect()
        billed = Decimal(str(focus["BilledCost"].sum()))
        assert abs(billed - _net(rows)) < Decimal("0.005")
        assert abs(Decimal(str(report.bill_totals["USD"])) - _net(rows)) < Decimal("0.005")
        assert focus.filter(pl.col("ChargeCategory") == "Credit").height == credits


def test_vertex_ai_tokens_count_and_gemini_1_0_characters(months):
    rows = months["2026-10"] + months["2026-11"]
    tokens = _sku(rows, "Gemini 2.5 Pro Text Input (≤200k)")
    characters = _sku(rows, "Gemini 1.0 Pro Text Input - Predictions")
    assert tokens and characters
    for row in tokens + characters:
        assert row["service"] == {"id": VERTEX_AI, "description": "Vertex AI"}
    for row in tokens:  # $1.25 per million input tokens, counted in "count"
        usage = row["usage"]
        assert (usage["unit"], usage["pricing_unit"]) == ("count", "count")
        assert usage["amount"] == usage["amount_in_pricing_units"]
        assert abs(row["cost"] - usage["amount"] * Decimal("0.00000125")) <= Decimal("0.000001")
    for row in characters:  # $0.000125 per 1,000 characters
        usage = row["usage"]
        assert (usage["unit"], usage["pricing_unit"]) == ("characters", "1000 characters")
        assert usage["amount"] == 1000 * usage["amount_in_pricing_units"]
        expected = usage["amount_in_pricing_units"] * Decimal("0.000125")
        assert abs(row["cost"] - expected) <= Decimal("0.000001")


def test_gpu_vms_and_services(months):
    rows = months["2026-10"] + months["2026-11"]
    h100 = _sku(rows, "Nvidia H100 80GB GPU running in Americas")
    cores = {r["usage_start_time"]: r for r in _sku(rows, "A3 Instance Core running in Americas")}
    assert h100
    for row in h100:
        assert _system(row)["compute.googleapis.com/machine_spec"] == "a3-highgpu-8g"
        usage = row["usage"]
        assert (usage["unit"], usage["pricing_unit"]) == ("seconds", "hour")
        assert usage["amount"] == 3600 * usage["amount_in_pricing_units"]
        # An a3-highgpu-8g has 8 GPUs and 208 vCPUs: 26 core-hours per GPU-hour.
        core_hours = cores[row["usage_start_time"]]["usage"]["amount_in_pricing_units"]
        assert core_hours == 26 * usage["amount_in_pricing_units"]
    specs = {_system(r).get("compute.googleapis.com/machine_spec") for r in rows}
    assert {"a3-highgpu-8g", "a2-highgpu-1g", "g2-standard-8"} <= specs
    assert {"A3 Instance Core running in Americas", "A3 Instance Ram running in Americas"} <= {
        r["sku"]["description"] for r in rows
    }
    services = {r["service"]["description"] for r in rows}
    assert {"Compute Engine", "Cloud Storage", "BigQuery", "Vertex AI"} <= services
    projects = {r["project"]["id"]: r["project"] for r in rows if r["project"]}
    assert 2 <= len(projects) <= 3
    assert all(p["labels"] for p in projects.values())


def test_credits(months):
    rows = months["2026-10"] + months["2026-11"]
    credits = [(r, c) for r in rows for c in r["credits"]]
    types = {c["type"] for _, c in credits}
    assert {"SUSTAINED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT", "PROMOTION", "FREE_TIER"} <= (
        types
    )
    assert all(c["amount"] < 0 for _, c in credits)
    # A committed use discount cancels the covered usage; its fee rows carry the cost.
    assert all(r["cost"] == -c["amount"] for r, c in credits if c["type"].startswith("COMMITTED"))
    assert any(r["sku"]["description"].startswith("Commitment v1:") for r in rows)
    # BigQuery's first TiB of analysis each month is free: 1 TiB × $6.25.
    for period_rows in months.values():
        free = [c for r in period_rows for c in r["credits"] if c["type"] == "FREE_TIER"]
        assert sum(c["amount"] for c in free) == Decimal("-6.25")
    # The $1,500 Gemini 2.5 Pro promotion starts on 20 October and is used up by November.
    promoted = [(r, c) for r, c in credits if c["type"] == "PROMOTION"]
    assert sum(c["amount"] for _, c in promoted) == Decimal("-1500")
    assert all(r["sku"]["description"].startswith("Gemini 2.5 Pro") for r, _ in promoted)
    assert min(r["usage_start_time"] for r, _ in promoted) == "2026-10-20 00:00:00 UTC"


def test_tax_adjustment_and_rounding_error(months):
    october, november = months["2026-10"], months["2026-11"]
    (tax,) = [r for r in october if r["cost_type"] == "tax"]
    assert tax["cost"] > 0 and tax["usage"]["amount"] is None
    (rounding,) = [r for r in october if r["cost_type"] == "rounding_error"]
    assert abs(rounding["cost"]) < Decimal("0.005")
    assert _net(october) == _net(october).quantize(Decimal("0.01"))  # a closed invoice: cents
    # November is still open: no tax or rounding yet, but a correction of October.
    assert {r["cost_type"] for r in november} == {"regular", "adjustment"}
    (adjustment,) = [r for r in november if r["cost_type"] == "adjustment"]
    assert adjustment["cost"] < 0 and adjustment["usage_start_time"].startswith("2026-10-")


def test_labels_and_untagged_share(months):
    for rows in months.values():
        usage = [r for r in rows if r["cost_type"] == "regular"]
        untagged = sum(r["cost"] for r in usage if not r["labels"])
        assert Decimal("0.15") <= untagged / sum(r["cost"] for r in usage) <= Decimal("0.25")
    rows = months["2026-10"] + months["2026-11"]
    labels = [_labels(r) for r in rows]
    keys = {k for lab in labels for k in lab}
    assert keys >= MANDATORY
    assert {"cost-center", "env"} <= keys  # the variants teams drift into
    environments = {lab.get("environment") or lab.get("env") for lab in labels} - {None}
    assert {"prod", "production"} <= environments
    assert all(k == k.lower() for k in keys)  # GCP allows lower-case label keys only


def test_late_usage_of_october_is_on_the_november_invoice(months):
    late = [r for r in months["2026-11"] if r["usage_start_time"] < "2026-11-01"]
    late = [r for r in late if r["cost_type"] == "regular"]
    assert late
    for row in late:
        assert row["invoice"]["month"] == "202611"
        assert row["usage_start_time"] >= "2026-10-31 22:00:00 UTC"
        assert row["usage_end_time"] <= "2026-11-01 00:00:00 UTC"
        assert row["export_time"] >= "2026-11-01"
    # October's own rows of those SKUs stop where the late hours begin.
    skus = {r["sku"]["id"] for r in late}
    last_day = [
        r
        for r in months["2026-10"]
        if r["sku"]["id"] in skus and r["usage_start_time"].startswith("2026-10-31")
    ]
    assert last_day and all(r["usage_end_time"] == "2026-10-31 22:00:00 UTC" for r in last_day)


def test_focus_output_passes_the_validator(focus_validator, ingested, tmp_path):
    lake, _ = ingested
    assert focus_validator(lake, tmp_path) == []
