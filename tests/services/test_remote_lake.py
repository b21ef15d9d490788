"""A lake on an object store (S3 through moto's server on loopback): replaced in one step."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import boto3
import pyarrow.parquet as pq
import pytest
from conftest import HAND_CUR2, check_verdicts, gzip_file, write_cur2_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus import lake as lake_module
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake

BUCKET = "costlake-lake"
FOCUS_KEY = "lake/focus/provider=aws/billing_period=2026-11/part-00000.parquet"


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
        "lake/ingests/provider=aws/billing_period=2026-11/ingest.json",
        "lake/rejects/provider=aws/billing_period=2026-11/part-00000.parquet",
    ]
    # Both files' rows, in one file: twice the hand-summed cost (hand_cur2.csv: 1,217.50).
    assert sum(billed_cost_of_object(s3, FOCUS_KEY)) == pytest.approx(2 * float(hand_cost()))
    metadata = pq.read_metadata(
        io.BytesIO(s3.get_object(Bucket=BUCKET, Key=FOCUS_KEY)["Body"].read())
    )
    assert metadata.metadata[b"focus_version"] == b"1.2"
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
    assert check_verdicts(result) == {"reconciles_to_bill": True, "schema_is_focus": True}
    assert sum(billed_cost_of_object(s3, FOCUS_KEY)) == pytest.approx(float(hand_cost()))
    # The raw delivery is landed in the lake itself (a step in another container finds it),
    # and nothing is written into the working folder.
    raw = [k for k in keys(s3) if "/raw/provider=aws/billing_period=2026-11/" in k]
    assert any(k.endswith("/a.csv.gz") for k in raw) and any(k.endswith("landed.json") for k in raw)
    assert not (tmp_path / ".costlake").exists()


def test_credentials_in_the_url_are_refused():
    with pytest.raises(ValueError, match="credentials in the URL are refused"):
        Lake("s3://AKIAEXAMPLE:secret@bucket/lake")
