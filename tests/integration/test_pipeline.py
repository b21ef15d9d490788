"""The nightly Dagster job on the demo delivery: lineage, checks, money and run history."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, build_schedule_context

from assets.partitions import partition_key
from costlake.focus.lake import Lake
from costlake.focus.periods import periods_to_refresh
from demo.aws import write_demo_aws_export
from pipelines.definitions import defs, nightly_schedule

NO_TELEMETRY = {"telemetry": {"enabled": False}}


def manifest_rows(bucket: Path, period: str) -> list[dict[str, str]]:
    """Every row of the files the period's manifest names, read straight from the CSV.gz."""
    manifest = next(bucket.glob(f"**/metadata/BILLING_PERIOD={period}/*-Manifest.json"))
    rows = []
    for uri in json.loads(manifest.read_text())["dataFiles"]:
        key = uri.split("/", 3)[3]
        with gzip.open(bucket / key, "rt", newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def unused_commitment_rows(rows: list[dict[str, str]]) -> int:
    """Fee rows with unused commitment: FOCUS gives each unused part a row of its own."""

    def amount(row: dict[str, str], column: str) -> Decimal:
        return Decimal(row[column] or "0")

    count = 0
    for row in rows:
        kind = row["line_item_line_item_type"]
        if kind == "RIFee":
            unused = amount(row, "reservation_unused_amortized_upfront_fee_for_billing_period")
            unused += amount(row, "reservation_unused_recurring_fee")
        elif kind == "SavingsPlanRecurringFee":
            unused = amount(row, "savings_plan_total_commitment_to_date")
            unused -= amount(row, "savings_plan_used_commitment")
        else:
            continue
        count += unused != 0
    return count


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    bucket = root / "bucket"
    write_demo_aws_export(bucket)
    config = root / "costlake.yaml"
    config.write_text(
        yaml.safe_dump(
            {"lake_root": str(root / "lake"), "aws": [{"name": "demo", "root": str(bucket)}]}
        )
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("COSTLAKE_CONFIG", str(config))
    (root / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(root / "dagster"), overrides=NO_TELEMETRY)
    job = defs.resolve_job_def("nightly")
    results = {
        period: job.execute_in_process(
            partition_key=partition_key(period, "aws"),
            instance=instance,
            raise_on_error=False,
        )
        for period in ("2026-10", "2026-11")
    }
    yield bucket, Lake(root / "lake"), instance, results
    mp.undo()


def test_every_run_succeeds_and_every_check_passes(demo_run):
    _, _, instance, results = demo_run
    for result in results.values():
        assert result.success
        checks = [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert sorted(c.check_name for c in checks) == [
            "amounts_are_finite",
            "commitments_used_and_not_expiring",  # warns: the demo's RIs idle on some days
            "no_duplicate_line_items",
            "reconciles_to_bill",
            "schema_is_focus",
            "untagged_share_under_threshold",  # a governance check: the demo's share is high
        ]
        assert all(c.passed for c in checks if c.asset_key.path == ["focus"])
    assert len(instance.get_runs()) == 2  # the run history is kept in the instance


def test_the_job_shows_one_asset_per_lake_table_from_raw_delivery_to_the_tag_marts():
    job = defs.resolve_job_def("nightly")
    graph = job.asset_layer.asset_graph
    tables = {
        "raw_delivery",
        "focus",
        "rejects",
        "focus_contract_commitments",
        "ingests",
        "tag_coverage",
        "untagged_spend",
        "commitment_utilization",
        "commitment_coverage",
    }
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == tables
    # one computation, published together
    for table in ("focus", "rejects", "focus_contract_commitments", "ingests"):
        assert graph.get(AssetKey(table)).parent_keys == {AssetKey("raw_delivery")}
    for mart in ("tag_coverage", "untagged_spend", "commitment_coverage"):
        assert graph.get(AssetKey(mart)).parent_keys == {AssetKey("focus")}
    assert graph.get(AssetKey("commitment_utilization")).parent_keys == {
        AssetKey("focus"),
        AssetKey("focus_contract_commitments"),
    }


def test_the_raw_delivery_of_a_partition_lands_its_own_providers_delivery(tmp_path, nightly_run):
    bucket = tmp_path / "bucket"
    write_demo_aws_export(bucket)
    settings = {"lake_root": str(tmp_path / "lake"), "aws": [{"name": "demo", "root": str(bucket)}]}
    result = nightly_run(settings, "azure")  # no azure source: nothing for this partition
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no azure delivery for billing period 2026-11" in failure.step_failure_data.error.message
    assert not (tmp_path / "lake/focus/provider=aws").exists()


@pytest.mark.parametrize("period", ["2026-10", "2026-11"])
def test_lake_billed_cost_equals_the_manifest_files_unblended_cost(demo_run, period):
    bucket, lake, _, _ = demo_run
    rows = manifest_rows(bucket, period)
    expected = sum(Decimal(r["line_item_unblended_cost"]) for r in rows)
    focus = lake.scan_partition("focus", "aws", period).collect()
    assert focus.height == len(rows) + unused_commitment_rows(rows)
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-6)


def test_stale_execution_folders_are_not_ingested(demo_run):
    bucket, lake, _, _ = demo_run
    focus = lake.scan_partition("focus", "aws", "2026-11").collect()
    named = {
        uri.split("/", 3)[3]
        for uri in json.loads(
            next(bucket.glob("**/BILLING_PERIOD=2026-11/*-Manifest.json")).read_text()
        )["dataFiles"]
    }
    all_files = {
        p.relative_to(bucket).as_posix()
        for p in bucket.glob("**/BILLING_PERIOD=2026-11/*/*.csv.gz")
    }
    assert all_files - named, "the demo keeps a stale execution folder"
    assert set(focus["x_SourceFile"].unique()) == named


def test_effective_cost_of_covered_and_negation_rows_come_from_their_source_fields(demo_run):
    bucket, lake, _, _ = demo_run
    rows = manifest_rows(bucket, "2026-10")
    focus = lake.scan_partition("focus", "aws", "2026-10").collect()
    source_row = {(r["x_SourceFile"], r["x_SourceRow"]): r for r in focus.iter_rows(named=True)}
    # Map each source row to its lake row through the lineage columns.
    manifest = next(bucket.glob("**/metadata/BILLING_PERIOD=2026-10/*-Manifest.json"))
    keys = [u.split("/", 3)[3] for u in json.loads(manifest.read_text())["dataFiles"]]
    checked = set()
    for key in keys:
        with gzip.open(bucket / key, "rt", newline="") as f:
            for number, raw in enumerate(csv.DictReader(f), start=1):
                kind = raw["line_item_line_item_type"]
                lake_row = source_row[(key, number)]
                if kind == "SavingsPlanCoveredUsage":
                    want = float(raw["savings_plan_savings_plan_effective_cost"])
                elif kind == "DiscountedUsage":
                    want = float(raw["reservation_effective_cost"])
                elif kind == "SavingsPlanNegation":
                    want = 0.0
                else:
                    continue
                assert lake_row["EffectiveCost"] == pytest.approx(want, abs=1e-9), (kind, number)
                assert lake_row["BilledCost"] == pytest.approx(
                    float(raw["line_item_unblended_cost"]), abs=1e-9
                )
                checked.add(kind)
    assert checked == {"SavingsPlanCoveredUsage", "DiscountedUsage", "SavingsPlanNegation"}
    assert len(rows) + unused_commitment_rows(rows) == focus.height


def test_nightly_schedule_requests_current_and_restated_previous_period(tmp_path, monkeypatch):
    assert periods_to_refresh(date(2026, 11, 3)) == ["2026-10", "2026-11"]
    assert periods_to_refresh(date(2026, 11, 15)) == ["2026-10", "2026-11"]
    assert periods_to_refresh(date(2026, 11, 16)) == ["2026-11"]
    assert periods_to_refresh(date(2027, 1, 2)) == ["2026-12", "2027-01"]
    from datetime import datetime

    context = build_schedule_context(scheduled_execution_time=datetime(2026, 12, 4, 4, tzinfo=UTC))
    config = tmp_path / "costlake.yaml"
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    config.write_text(yaml.safe_dump({"aws": [{"root": "a"}], "oci": [{"root": "b"}]}))
    requests = list(nightly_schedule(context))
    assert [r.partition_key for r in requests] == [
        "2026-11|aws",
        "2026-11|oci",
        "2026-12|aws",
        "2026-12|oci",
    ]
    # Each run is the whole nightly job on its partition: its provider's delivery, focus and
    # the tag marts (the period marts follow through their automation condition).
    assert all(r.asset_selection is None for r in requests)
    # Only providers with an export location are refreshed.
    config.write_text(yaml.safe_dump({"aws": [{"root": "a"}]}))
    assert [r.partition_key for r in nightly_schedule(context)] == ["2026-11|aws", "2026-12|aws"]


@pytest.fixture
def nightly(tmp_path, nightly_run):
    """``run(provider, root, period)``: the nightly job on one provider's export folder, with the
    lake in ``tmp_path/lake``; returns the run's result."""

    def run(provider: str, root: Path, period: str = "2026-11"):
        settings = {"lake_root": str(tmp_path / "lake"), provider: [{"root": str(root)}]}
        return nightly_run(settings, provider, period)

    return run


def test_a_broken_redelivery_fails_the_run_and_keeps_the_lake_and_the_good_raw_copy(
    tmp_path, nightly
):
    from conftest import HAND_CUR2, gzip_file, write_cur2_delivery

    bucket = tmp_path / "bucket"
    good = gzip_file(HAND_CUR2, tmp_path / "good.csv.gz")
    write_cur2_delivery(bucket, {"part-1.csv.gz": good}, "2026-11", "exec-good")
    assert nightly("aws", bucket).success
    lake = Lake(tmp_path / "lake")
    before = lake.scan_partition("focus", "aws", "2026-11").collect()
    assert before["BilledCost"].sum() == pytest.approx(1217.5)  # hand_cur2.csv, summed by hand

    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(good.read_bytes()[:-40])
    write_cur2_delivery(bucket, {"part-1.csv.gz": truncated}, "2026-11", "exec-broken")
    result = nightly("aws", bucket)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "exec-broken/part-1.csv.gz" in failure.step_failure_data.error.message
    assert lake.scan_partition("focus", "aws", "2026-11").collect().equals(before)
    raw = tmp_path / "lake/raw/provider=aws/billing_period=2026-11/default"
    assert sorted(p.name for p in raw.iterdir()) == ["exec-broken", "exec-good"]


def test_a_gcp_export_folder_runs_through_the_nightly_job(tmp_path, nightly):
    """GCP's embedded form: one folder per invoice month under a folder named like the table."""
    from conftest import FIXTURES, check_verdicts

    bucket = tmp_path / "gcp"
    month = bucket / "gcp_billing_export_resource_v1_01A2B3/invoice_month=202611"
    month.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "gcp" / "hand_billing_export.jsonl", month / "export-000.jsonl")
    result = nightly("gcp", bucket)
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    focus = Lake(tmp_path / "lake").scan_partition("focus", "gcp", "2026-11").collect()
    # Hand-worked in tests/fixtures/gcp/README.md: Σ cost + Σ credits = 93.299 - 38.013.
    assert focus["BilledCost"].sum() == pytest.approx(55.286)
    assert focus.height == 10  # 7 rows and 3 credits


def test_the_azure_demo_runs_through_the_nightly_job(tmp_path, nightly):
    from demo.azure import write_demo_azure_export

    container = tmp_path / "azure"
    manifests = write_demo_azure_export(container)
    result = nightly("azure", container)
    assert result.success
    # The newest November run is the delivery: sum its blobs' own cost column.
    newest = max(
        (m for m in manifests if "20261101" in str(m)),
        key=lambda m: json.loads(m.read_text())["runInfo"]["submittedTime"],
    )
    expected = Decimal(0)
    for blob in json.loads(newest.read_text())["blobs"]:
        with gzip.open(container / blob["blobName"], "rt", encoding="utf-8-sig", newline="") as f:
            expected += sum(Decimal(r["CostInBillingCurrency"]) for r in csv.DictReader(f))
    focus = Lake(tmp_path / "lake").scan_partition("focus", "azure", "2026-11").collect()
    assert set(focus["BillingCurrency"]) == {"EUR"}
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-6)


def test_a_sensor_requests_each_new_delivery_once(tmp_path, monkeypatch):
    from conftest import HAND_CUR2, gzip_file, write_cur2_delivery
    from dagster import SkipReason, build_sensor_context

    from connectors.exports.aws import find_aws_deliveries
    from connectors.stores.files import LocalFileStore
    from costlake.focus.ingest import ingest_delivery
    from pipelines.sensors import new_deliveries_sensor

    bucket = tmp_path / "bucket"
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-10", "exec-oct-1")
    write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-11", "exec-nov-1")
    config = tmp_path / "costlake.yaml"
    config.write_text(
        yaml.safe_dump({"lake_root": str(tmp_path / "lake"), "aws": [{"root": str(bucket)}]})
    )
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    sensor = new_deliveries_sensor("aws")

    def requested() -> list[tuple[str, str]]:
        result = sensor(build_sensor_context())
        return [(r.partition_key, r.run_key) for r in result if not isinstance(r, SkipReason)]

    # An empty lake: both periods, keyed by the manifests' executionIds.
    assert requested() == [
        ("2026-10|aws", "aws|2026-10|exec-oct-1"),
        ("2026-11|aws", "aws|2026-11|exec-nov-1"),
    ]
    # November ingested (its rows are November's, so it passes its audit): only October is new.
    store = LocalFileStore(bucket)
    november = find_aws_deliveries(store)["2026-11"]
    ingest_delivery(
        november, store.local_path(november.files[0].path).parent, Lake(tmp_path / "lake")
    )
    assert requested() == [("2026-10|aws", "aws|2026-10|exec-oct-1")]
    # AWS re-delivers the closed November (late credits): November is new again.
    write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-11", "exec-nov-2")
    assert requested()[1] == ("2026-11|aws", "aws|2026-11|exec-nov-2")
    # A cloud without a source is skipped, saying why.
    (skip,) = new_deliveries_sensor("gcp")(build_sensor_context())
    assert isinstance(skip, SkipReason) and "no gcp source" in skip.skip_message


def test_the_lake_records_when_each_delivery_was_ingested(tmp_path):
    from datetime import datetime

    from conftest import HAND_CUR2

    from costlake.focus.ingest import IngestReport
    from costlake.focus.single_file import normalize_file

    lake = Lake(tmp_path / "lake")
    before = datetime.now(UTC).replace(microsecond=0)
    normalize_file(HAND_CUR2, lake, "aws_cur2", "2026-11")
    text = lake.read_text("ingests/provider=aws/billing_period=2026-11/ingest.json")
    record = IngestReport.from_json(text)
    assert record.delivery_id == "file:hand_cur2.csv"
    assert before <= datetime.fromisoformat(record.ingested_at) <= datetime.now(UTC)
