"""Several accounts of one cloud: each delivers its own export, and a period holds them all."""

import pytest
import yaml
from conftest import HAND_CUR2, check_verdicts, gzip_file, write_cur2_delivery
from dagster import SkipReason, build_sensor_context

from costlake.focus.ingest import IngestReport
from costlake.focus.lake import Lake, partition_dir
from pipelines.sensors import new_deliveries_sensor

HAND_CUR2_TOTAL = 1217.5  # Σ line_item_unblended_cost of hand_cur2.csv, summed by hand


@pytest.fixture
def accounts(tmp_path):
    """Two accounts' export folders, each with its own November delivery of hand_cur2.csv."""
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    folders = {name: tmp_path / name for name in ("payer-a", "payer-b")}
    write_cur2_delivery(folders["payer-a"], {"a.csv.gz": part}, "2026-11", "exec-a-1")
    write_cur2_delivery(folders["payer-b"], {"b.csv.gz": part}, "2026-11", "exec-b-1")
    return folders


def settings_for(tmp_path, folders: dict) -> dict:
    sources = [{"name": name, "root": str(root)} for name, root in folders.items()]
    return {"lake_root": str(tmp_path / "lake"), "aws": sources}


def ingest_record(tmp_path) -> IngestReport:
    text = Lake(tmp_path / "lake").read_text(
        f"{partition_dir('ingests', 'aws', '2026-11')}/ingest.json"
    )
    return IngestReport.from_json(text)


def test_one_period_holds_every_accounts_delivery(tmp_path, nightly_run, accounts):
    result = nightly_run(settings_for(tmp_path, accounts), "aws")
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    focus = Lake(tmp_path / "lake").scan_partition("focus", "aws", "2026-11").collect()
    assert focus["BilledCost"].sum() == pytest.approx(2 * HAND_CUR2_TOTAL)
    assert set(focus["x_DeliveryId"]) == {"exec-a-1", "exec-b-1"}
    assert set(focus["x_SourceFile"]) == {
        "cur2/exp/data/BILLING_PERIOD=2026-11/exec-a-1/a.csv.gz",
        "cur2/exp/data/BILLING_PERIOD=2026-11/exec-b-1/b.csv.gz",
    }
    assert ingest_record(tmp_path).delivery_id == "exec-a-1+exec-b-1"


def test_a_new_delivery_of_one_account_replaces_only_its_rows(tmp_path, nightly_run, accounts):
    assert nightly_run(settings_for(tmp_path, accounts), "aws").success
    # payer-b re-delivers November with its first three rows only: 98.32 - 98.32 + 70.00.
    lines = HAND_CUR2.read_text().splitlines(keepends=True)
    smaller = tmp_path / "smaller.csv"
    smaller.write_text("".join(lines[:4]))
    part = gzip_file(smaller, tmp_path / "smaller.csv.gz")
    write_cur2_delivery(accounts["payer-b"], {"b.csv.gz": part}, "2026-11", "exec-b-2")

    assert nightly_run(settings_for(tmp_path, accounts), "aws").success
    focus = Lake(tmp_path / "lake").scan_partition("focus", "aws", "2026-11").collect()
    assert focus["BilledCost"].sum() == pytest.approx(HAND_CUR2_TOTAL + 70.00)
    assert set(focus["x_DeliveryId"]) == {"exec-a-1", "exec-b-2"}
    raw = tmp_path / "lake/raw/provider=aws/billing_period=2026-11"
    assert sorted(p.name for p in (raw / "payer-b").iterdir()) == ["exec-b-2"]  # old copy gone
    assert sorted(p.name for p in (raw / "payer-a").iterdir()) == ["exec-a-1"]


def test_two_sources_of_the_same_export_are_refused(tmp_path, nightly_run, accounts):
    """The same folder configured twice would count every row twice."""
    assert nightly_run(settings_for(tmp_path, accounts), "aws").success
    lake = Lake(tmp_path / "lake")
    before = lake.scan_partition("focus", "aws", "2026-11").collect()

    twice = {"payer-a": accounts["payer-a"], "payer-a-again": accounts["payer-a"]}
    result = nightly_run(settings_for(tmp_path, twice), "aws")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "payer-a and payer-a-again" in message and "count twice" in message
    assert lake.scan_partition("focus", "aws", "2026-11").collect().equals(before)


def test_the_sensor_requests_a_period_when_any_account_redelivers(tmp_path, nightly_run, accounts):
    assert nightly_run(settings_for(tmp_path, accounts), "aws").success
    sensor = new_deliveries_sensor("aws")

    def requested() -> list[str]:
        return [r.run_key for r in sensor(build_sensor_context()) if not isinstance(r, SkipReason)]

    assert requested() == []
    part = gzip_file(HAND_CUR2, tmp_path / "again.csv.gz")
    write_cur2_delivery(accounts["payer-a"], {"a.csv.gz": part}, "2026-11", "exec-a-2")
    assert requested() == ["aws|2026-11|exec-a-2+exec-b-1"]


def test_a_source_name_must_be_a_safe_folder_name(tmp_path):
    from costlake.config import load_settings

    config = tmp_path / "costlake.yaml"
    config.write_text(yaml.safe_dump({"aws": [{"name": "../escape", "root": "x"}]}))
    with pytest.raises(ValueError, match=r"(?s)costlake.yaml.*aws\.0\.folder\.name"):
        load_settings(config)
