"""A lake on an object store (S3 through moto's server on loopback): replaced in one step."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from decimal import Decimal

import boto3
import pyarrow.parquet as pq
import pytest
from conftest import HAND_CUR2, REPO_ROOT, check_verdicts, gzip_file, write_cur2_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus import lake as lake_module
from costlake.focus import lock as lake_lock
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import AuditFailed, Lake
from costlake.focus.lock import LockBusy, LockLost, S3Lock, acquire

BUCKET = "costlake-lake"
FOCUS_KEY = "lake/focus/provider=aws/billing_period=2026-11/part-00000.parquet"
INGEST_KEY = "lake/ingests/provider=aws/billing_period=2026-11/ingest.json"
LOCK_KEY = "lake/_locks/aws/2026-11.json"


@pytest.fixture
def s3(s3_endpoint, aws_env):
    """A fresh bucket; credentials only in the environment, as the SDK chain finds them."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def root(s3_endpoint, s3) -> str:
    host = s3_endpoint.removeprefix("http://")
    return f"s3://{BUCKET}/lake?endpoint_override={host}&scheme=http&region=us-east-1"


def keys(client) -> list[str]:
    """Object keys, leaving out the empty "folder/" markers pyarrow's S3 filesystem writes."""
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(o["Key"] for o in listed if not o["Key"].endswith("/"))


def billed_cost_of_object(client, key: str) -> float:
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body), columns=["BilledCost"])["BilledCost"].to_pylist()


def hand_cost(rows: slice = slice(None)) -> Decimal:
    """Σ line_item_unblended_cost of hand_cur2.csv, read straight from the file."""
    with open(HAND_CUR2, newline="") as f:
        costs = [Decimal(r["line_item_unblended_cost"]) for r in csv.DictReader(f)]
    return sum(costs[rows], Decimal(0))


def ingest(bucket, execution, files, root, tmp_path):
    write_cur2_delivery(bucket, files, "2026-11", execution)
    store = LocalFileStore(bucket)
    delivery = find_aws_deliveries(store)["2026-11"]
    folder = store.local_path(delivery.files[0].path).parent
    return ingest_delivery(delivery, folder, Lake(root, work_dir=tmp_path / "work"))


def test_a_delivery_of_two_files_is_one_object_per_table(tmp_path, bucket, root, s3):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    report = ingest(bucket, "exec-1", {"a.csv.gz": part, "b.csv.gz": part}, root, tmp_path)
    assert report.rows_rejected == 0
    assert keys(s3) == [
        "lake/focus/provider=aws/billing_period=2026-11/part-00000.parquet",
        "lake/focus_contract_commitments/provider=aws/billing_period=2026-11/part-00000.parquet",
        "lake/ingests/provider=aws/billing_period=2026-11/ingest.json",
        "lake/rejects/provider=aws/billing_period=2026-11/part-00000.parquet",
    ]
    # Both files' rows, in one file: twice the hand-summed cost (hand_cur2.csv: 1,217.50).
    assert sum(billed_cost_of_object(s3, FOCUS_KEY)) == pytest.approx(2 * float(hand_cost()))
    metadata = pq.read_metadata(
        io.BytesIO(s3.get_object(Bucket=BUCKET, Key=FOCUS_KEY)["Body"].read())
    )
    assert metadata.metadata[b"focus_version"] == b"1.3"
    # The lake reads its remote tables back, with the Hive columns.
    lake = Lake(root, work_dir=tmp_path / "work")
    totals = lake.scan("focus").group_by("provider", "billing_period").len().collect()
    assert totals.rows() == [("aws", "2026-11", metadata.num_rows)]
    assert not list((tmp_path / "work").rglob("*.parquet"))  # local staging cleaned up


def test_rerunning_a_delivery_gives_the_same_bytes(tmp_path, bucket, root, s3):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    ingest(bucket, "exec-1", {"a.csv.gz": part}, root, tmp_path)
    first = s3.get_object(Bucket=BUCKET, Key=FOCUS_KEY)["Body"].read()
    ingest(bucket, "exec-1", {"a.csv.gz": part}, root, tmp_path)
    assert s3.get_object(Bucket=BUCKET, Key=FOCUS_KEY)["Body"].read() == first


def test_an_upload_cut_short_leaves_the_previous_version(tmp_path, bucket, root, s3, monkeypatch):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    ingest(bucket, "exec-1", {"a.csv.gz": part}, root, tmp_path)
    before = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys(s3)}

    def torn(parts, sink):
        sink.write(b"PAR1 half a file")
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(lake_module, "_merge_parquet", torn)
    with pytest.raises(ConnectionResetError):
        ingest(bucket, "exec-2", {"a.csv.gz": part, "b.csv.gz": part}, root, tmp_path)
    after = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys(s3)}
    assert after == before  # no torn object in place, nothing left under _staging/


def test_a_broken_delivery_leaves_the_remote_version(tmp_path, bucket, root, s3):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    ingest(bucket, "exec-1", {"a.csv.gz": part}, root, tmp_path)
    before = s3.get_object(Bucket=BUCKET, Key=FOCUS_KEY)["Body"].read()
    truncated = tmp_path / "t.csv.gz"
    truncated.write_bytes(part.read_bytes()[:-40])
    with pytest.raises(DeliveryError, match="exec-2/a.csv.gz"):
        ingest(bucket, "exec-2", {"a.csv.gz": truncated}, root, tmp_path)
    assert s3.get_object(Bucket=BUCKET, Key=FOCUS_KEY)["Body"].read() == before


def test_the_nightly_job_writes_and_checks_a_remote_lake(tmp_path, bucket, root, s3, nightly_run):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-11", "e1")
    result = nightly_run({"lake_root": root, "aws": [{"root": str(bucket)}]}, "aws")
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    assert sum(billed_cost_of_object(s3, FOCUS_KEY)) == pytest.approx(float(hand_cost()))
    # The raw delivery is landed in the lake itself (a step in another container finds it),
    # and nothing is written into the working folder.
    raw = [k for k in keys(s3) if "/raw/provider=aws/billing_period=2026-11/" in k]
    assert any(k.endswith("/a.csv.gz") for k in raw) and any(k.endswith("landed.json") for k in raw)
    assert not (tmp_path / ".costlake").exists()


def test_credentials_in_the_url_are_refused():
    with pytest.raises(ValueError, match="credentials in the URL are refused"):
        Lake("s3://AKIAEXAMPLE:secret@bucket/lake")


# --- write, audit, publish on an object store --------------------------------------------------


def test_a_nan_cost_publishes_nothing_and_keeps_the_failed_version_in_the_bucket(
    tmp_path, bucket, root, s3
):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    ingest(bucket, "exec-1", {"a.csv.gz": part}, root, tmp_path)
    before = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys(s3)}
    rows = HAND_CUR2.read_text().splitlines()
    header = rows[0].split(",")
    first = rows[1].split(",")
    first[header.index("line_item_unblended_cost")] = "NaN"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")
    with pytest.raises(AuditFailed) as failed:
        ingest(
            bucket, "exec-2", {"a.csv.gz": gzip_file(bad, tmp_path / "b.csv.gz")}, root, tmp_path
        )
    assert failed.value.kept_at.startswith(f"s3://{BUCKET}/lake/_failed/aws/2026-11/")
    now = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys(s3)}
    kept = failed.value.kept_at.removeprefix(f"s3://{BUCKET}/")
    assert {k: v for k, v in now.items() if not k.startswith(kept)} == before
    assert sorted(k.removeprefix(kept) for k in now if k.startswith(kept)) == [
        "/audit.txt",
        "/focus/provider=aws/billing_period=2026-11/part-00000.parquet",
        "/focus_contract_commitments/provider=aws/billing_period=2026-11/part-00000.parquet",
        "/ingests/provider=aws/billing_period=2026-11/ingest.json",
        "/rejects/provider=aws/billing_period=2026-11/part-00000.parquet",
    ]


def test_one_run_holds_an_s3_period_and_an_expired_lease_is_taken_over(s3, monkeypatch):
    key = "lake/_locks/aws/2026-11.json"
    first, second = S3Lock(s3, BUCKET, key, "run-a"), S3Lock(s3, BUCKET, key, "run-b")
    assert first.try_acquire()
    assert not second.try_acquire()  # the conditional create fails: the object exists
    with pytest.raises(LockBusy, match="aws/2026-11 is being written by run-a since"):
        acquire(second, "aws/2026-11", wait_seconds=0.3)
    first.release()
    assert second.try_acquire()
    second.release()
    # A holder that stopped renewing: its lease is in the past, the next run takes it over.
    monkeypatch.setattr(lake_lock, "LEASE_SECONDS", -1.0)
    assert first.try_acquire()
    monkeypatch.setattr(lake_lock, "LEASE_SECONDS", 600.0)
    assert second.try_acquire()
    first.renewed = float("-inf")  # its next step would renew: it finds the lock taken
    with pytest.raises(LockLost):
        first.keep_alive()
    first.release()  # not its lock any more: left alone
    assert second.holder()["holder"] == "run-b"
    second.release()
    assert not [k for k in keys(s3) if "_locks" in k]


@pytest.mark.parametrize("die_at", range(1, 8))  # 4 copies, 2 deletes, then done
def test_a_crash_at_each_remote_publish_step_is_rolled_forward(tmp_path, bucket, root, s3, die_at):
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    ingest(bucket, "exec-1", {"a.csv.gz": part}, root, tmp_path)
    write_cur2_delivery(bucket, {"a.csv.gz": part, "b.csv.gz": part}, "2026-11", "exec-2")
    # Another process ingests exec-2 and dies (os._exit) before its Nth copy or delete: the
    # journal is already in the bucket, so every step is past the point of no return.
    child = REPO_ROOT / "tests" / "integration" / "publish_child.py"
    run = subprocess.run(
        [
            sys.executable,
            str(child),
            "crash",
            root,
            str(bucket),
            str(tmp_path / "work"),
            str(die_at),
            "-",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 17), run.stderr
    # Before any repair each table is one whole object: the old one or the new one.
    costs = sum(billed_cost_of_object(s3, FOCUS_KEY))
    assert costs in (pytest.approx(float(hand_cost())), pytest.approx(2 * float(hand_cost())))
    if run.returncode == 17:
        lock = json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read())
        time.sleep(max(0.0, lock["expires_at"] - time.time()) + 0.1)  # the dead run's lease ends
    Lake(root, work_dir=tmp_path / "work")  # the next open finishes the publish
    assert sum(billed_cost_of_object(s3, FOCUS_KEY)) == pytest.approx(2 * float(hand_cost()))
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=INGEST_KEY)["Body"].read())
    assert record["delivery_id"] == "exec-2"
    assert not [k for k in keys(s3) if "/_staging/" in k or "/_journal/" in k or "_locks" in k]


def test_the_alert_outbox_on_an_object_store(s3, root):
    """Records written whole as objects; a known id is not added again from another Lake."""
    from costlake.alerts import OUTBOX_DIR, Alert, Outbox

    a = Alert("a-1", "anomaly", "Cost anomaly · aws", ("actual 5.00 USD",), "high", "2025-11")
    b = Alert("b-2", "budget", "Budget · atlas", ("spent 80 %",), "medium", "2025-11")
    outbox = Outbox(Lake(root))
    assert outbox.add([a, b]) == 2
    assert Outbox(Lake(root)).add([a]) == 0
    outbox.mark_failed([b.alert_id], "HTTP 500")
    outbox.mark_delivered([a.alert_id])
    assert outbox.pending() == [b]
    with outbox.delivering(wait=0) as lease:
        assert lease is not None
        lease.renew()
        with outbox.delivering(wait=0) as other:
            assert other is None
    assert keys(s3) == [
        f"lake/{OUTBOX_DIR}/a-1.delivered.json",
        f"lake/{OUTBOX_DIR}/a-1.json",
        f"lake/{OUTBOX_DIR}/b-2.failed.json",
        f"lake/{OUTBOX_DIR}/b-2.json",
    ]


def test_a_period_mart_on_an_object_store_is_read_back_by_the_marts_and_the_cli(tmp_path, root, s3):
    """The marts that read another mart (arbitrage, the scorecard, the anomalies' previous
    events) and the CLI read it through the lake's filesystem, not as a local path."""
    import polars as pl
    from typer.testing import CliRunner

    from assets.period_inputs import period_mart
    from costlake.budgets.marts import BUDGETS_SCHEMA
    from pipelines.cli import app

    lake = Lake(root, work_dir=tmp_path / "work")
    with lake.staged_period(None, "2026-10", ("marts/ai_unit_costs", "marts/budgets")) as staged:
        pl.DataFrame({"model": ["a", "b"], "cost": [1.25, 2.5]}).write_parquet(
            staged.part_path("marts/ai_unit_costs", 0)
        )
        pl.DataFrame(schema=BUDGETS_SCHEMA).write_parquet(staged.part_path("marts/budgets", 0))
    read = period_mart(lake, "marts/ai_unit_costs", "2026-10").collect()
    assert read.sort("model").rows() == [("a", 1.25), ("b", 2.5)]
    assert period_mart(lake, "marts/ai_unit_costs", "2026-11") is None

    result = CliRunner().invoke(app, ["budgets", "--root", root, "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "no budgets configured" in result.output


def test_a_table_read_whole_from_an_object_store_has_the_columns_of_a_local_one(tmp_path, root, s3):
    """A mart that spans the providers has no ``provider`` folder, and the forecasts mart holds
    ``billing_period`` as a column of its own: read whole, both give the same rows and columns
    on S3 as from a local folder (the maturity scorecard reads the forecasts this way)."""
    import polars as pl

    lakes = [Lake(root, work_dir=tmp_path / "work"), Lake(tmp_path / "local")]
    for lake in lakes:
        for period, actual in (("2026-10", 1.5), ("2026-11", 2.5)):
            with lake.staged_period(None, period, ("marts/forecasts",)) as staged:
                frame = pl.DataFrame({"billing_period": [period], "actual": [actual]})
                frame.write_parquet(staged.part_path("marts/forecasts", 0))
        with lake.staged_period("aws", "2026-10", ("marts/tag_coverage",)) as staged:
            pl.DataFrame({"share": [0.25]}).write_parquet(staged.part_path("marts/tag_coverage", 0))
    remote, local = (
        (
            lake.scan("marts/forecasts").collect().sort("billing_period").to_dicts(),
            lake.scan("marts/tag_coverage").collect().to_dicts(),
        )
        for lake in lakes
    )
    assert remote == local
    assert remote[0] == [
        {"billing_period": "2026-10", "actual": 1.5},
        {"billing_period": "2026-11", "actual": 2.5},
    ]
    assert remote[1] == [{"share": 0.25, "provider": "aws", "billing_period": "2026-10"}]
