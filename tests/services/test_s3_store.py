"""S3FileStore: AWS deliveries found, landed and ingested straight from a bucket.

A moto server on loopback stands for S3; faults moto cannot make (a 503 SlowDown, a connection
cut mid-object) come from a tiny loopback HTTP server speaking just enough of S3's GET.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import boto3
import pyarrow.parquet as pq
import pytest
from conftest import HAND_CUR2, check_verdicts, gzip_file, upload_tree, write_cur2_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.exports.landing import land_delivery
from connectors.stores.files import LocalFileStore
from connectors.stores.s3 import S3FileStore
from costlake.focus.deliveries import Delivery, DeliveryError, DeliveryFile
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake

pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture
def s3(s3_endpoint):
    """A fresh, empty bucket on the moto server: (boto3 client, bucket name)."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"exports-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield client, name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        if page.get("Contents"):
            objects = [{"Key": item["Key"]} for item in page["Contents"]]
            client.delete_objects(Bucket=name, Delete={"Objects": objects})
    client.delete_bucket(Bucket=name)


@pytest.fixture
def store(s3, s3_endpoint) -> S3FileStore:
    return S3FileStore(s3[1], endpoint_url=s3_endpoint)


def hand_cost() -> Decimal:
    """Σ line_item_unblended_cost of hand_cur2.csv, read straight from the file."""
    with open(HAND_CUR2, newline="") as f:
        return sum((Decimal(r["line_item_unblended_cost"]) for r in csv.DictReader(f)), Decimal(0))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- listing ---------------------------------------------------------------------------------


def test_listing_is_recursive_paginated_and_skips_folder_markers(s3, store):
    client, bucket = s3
    many = {f"many/obj-{i:04d}.txt": str(i).encode() for i in range(1005)}

    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, many.items()))
    nested = {
        "cur2/exp/data/BILLING_PERIOD=2026-11/exec-1/a.csv": b"x" * 10,
        "cur2/exp/metadata/BILLING_PERIOD=2026-11/exp-Manifest.json": b"{}",
        "cur2x/other.csv": b"not under cur2/",
    }
    for key, body in nested.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    for marker in ("cur2/", "cur2/exp/data/", "many/"):
        client.put_object(Bucket=bucket, Key=marker, Body=b"")
    before = time.time()

    # One list_objects_v2 call returns at most 1,000 keys: the store must follow the pages.
    assert client.list_objects_v2(Bucket=bucket, Prefix="many/")["IsTruncated"]
    listed = store.list("many")
    assert len(listed) == 1005
    assert listed[0].key == "many/obj-0000.txt"
    assert listed[-1].key == "many/obj-1004.txt"
    assert {o.key: o.size for o in listed} == {k: len(v) for k, v in many.items()}
    assert all(abs(o.modified - before) < 300 for o in listed)  # epoch seconds

    # A prefix is a folder, as for a local folder: "cur2" does not take in "cur2x/".
    cur2 = store.list("cur2")
    assert [(o.key, o.size) for o in cur2] == [
        ("cur2/exp/data/BILLING_PERIOD=2026-11/exec-1/a.csv", 10),
        ("cur2/exp/metadata/BILLING_PERIOD=2026-11/exp-Manifest.json", 2),
    ]
    assert store.list("cur2/") == cur2
    everything = store.list("")
    assert len(everything) == 1005 + 3  # the three markers are not objects to read
    assert not [o for o in everything if o.key.endswith("/")]
    assert store.list("nothing-here") == []


def test_describe_names_the_bucket_never_credentials(s3_endpoint):
    assert S3FileStore("exports").describe() == "s3://exports"
    store = S3FileStore("exports", endpoint_url="https://user:secret@minio.example:9000")
    assert store.describe() == "s3://exports at https://minio.example:9000"
    assert "testing" not in S3FileStore("exports", endpoint_url=s3_endpoint).describe()


def test_keys_outside_the_bucket_are_refused(store):
    with pytest.raises(ValueError, match="outside the store"):
        store.open("cur2/../../etc/passwd")
    with pytest.raises(ValueError, match="outside the store"):
        store.list("/cur2")


# --- deliveries over S3 -----------------------------------------------------------------------


def test_cur2_delivery_is_found_in_s3_as_in_a_local_folder(s3, store, bucket, tmp_path):
    client, name = s3
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    old = write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-11", "exec-1")
    upload_tree(client, name, bucket)
    os.utime(old, (1_000, 1_000))
    time.sleep(1.1)  # S3's LastModified has whole seconds: the second manifest is later
    # A second execution of the same period, in its own metadata folder: the newer one wins.
    newer = bucket / "cur2/exp/metadata/BILLING_PERIOD=2026-11/exec-2/exp-Manifest.json"
    key = "cur2/exp/data/BILLING_PERIOD=2026-11/exec-2/b.csv.gz"
    (bucket / key).parent.mkdir(parents=True)
    (bucket / key).write_bytes(part.read_bytes())
    client.put_object(Bucket=name, Key=key, Body=part.read_bytes())
    newer.parent.mkdir(parents=True)
    newer.write_text(json.dumps({"executionId": "exec-2", "dataFiles": [f"s3://bucket/{key}"]}))
    newer_key = newer.relative_to(bucket).as_posix()
    client.put_object(Bucket=name, Key=newer_key, Body=newer.read_bytes())

    from_s3 = find_aws_deliveries(store, "cur2")
    from_local = find_aws_deliveries(LocalFileStore(bucket), "cur2")
    assert from_s3 == from_local
    delivery = from_s3["2026-11"]
    assert delivery.delivery_id == "exec-2"
    assert delivery.manifest_path == newer_key
    assert [(f.path, f.size) for f in delivery.files] == [(key, part.stat().st_size)]


def test_a_delivery_lands_byte_for_byte_and_ingests_to_the_hand_sum(s3, store, bucket, tmp_path):
    client, name = s3
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-11", "exec-1")
    uploaded = upload_tree(client, name, bucket)
    delivery = find_aws_deliveries(store, "cur2")["2026-11"]
    assert find_aws_deliveries(LocalFileStore(bucket), "cur2")["2026-11"] == delivery

    folder = land_delivery(store, delivery, tmp_path / "raw")
    data_key = "cur2/exp/data/BILLING_PERIOD=2026-11/exec-1/a.csv.gz"
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv.gz", "delivery.json"]
    assert sha256((folder / "a.csv.gz").read_bytes()) == sha256(uploaded[data_key])
    assert sha256(uploaded[data_key]) == sha256(part.read_bytes())

    lake = Lake(tmp_path / "lake")
    report = ingest_delivery(delivery, folder, lake)
    assert report.rows_rejected == 0
    billed = sum(
        sum(pq.read_table(f, columns=["BilledCost"])["BilledCost"].to_pylist())
        for f in lake.files("focus")
    )
    assert hand_cost() == Decimal("1217.50")  # the fixture's hand-summed bill
    assert billed == pytest.approx(float(hand_cost()))


def test_a_manifest_naming_a_missing_object_fails_naming_it(s3, store, bucket):
    client, name = s3
    manifest = write_cur2_delivery(bucket, {"a.csv": HAND_CUR2}, "2026-11", "exec-1")
    data = json.loads(manifest.read_text())
    data["dataFiles"].append("s3://bucket/cur2/exp/data/BILLING_PERIOD=2026-11/exec-1/gone.csv")
    manifest.write_text(json.dumps(data))
    upload_tree(client, name, bucket)
    with pytest.raises(DeliveryError, match=rf"exp-Manifest\.json.*gone\.csv.*s3://{name}"):
        find_aws_deliveries(store, "cur2")


def test_an_object_deleted_after_listing_is_a_delivery_error(s3, store, bucket, tmp_path):
    client, name = s3
    write_cur2_delivery(bucket, {"a.csv": HAND_CUR2}, "2026-11", "exec-1")
    upload_tree(client, name, bucket)
    delivery = find_aws_deliveries(store, "cur2")["2026-11"]
    key = delivery.files[0].path
    client.delete_object(Bucket=name, Key=key)
    with pytest.raises(DeliveryError, match=rf"s3://{name}/{key} disappeared after listing"):
        land_delivery(store, delivery, tmp_path / "raw")
    assert list((tmp_path / "raw").iterdir()) == []


# --- faults moto cannot make: a loopback server speaking S3's GET ----------------------------


class FaultyS3(ThreadingHTTPServer):
    """Serves path-style ``GET /bucket/key`` of ``objects``; ``faults[key]`` spoils answers:
    "slowdown" answers the first GET with 503 SlowDown, "cut" closes after half the body."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FaultyHandler)
        self.objects: dict[str, bytes] = {}
        self.faults: dict[str, str] = {}
        self.gets: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FaultyHandler(BaseHTTPRequestHandler):
    server: FaultyS3

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _key(self) -> str:
        _, _bucket, key = self.path.split("?", 1)[0].split("/", 2)
        return unquote(key)

    def _object_headers(self, data: bytes) -> None:
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
        self.send_header("Last-Modified", formatdate(usegmt=True))
        self.end_headers()

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>0</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        data = self.server.objects.get(self._key())
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self._object_headers(data)

    def do_GET(self) -> None:
        key = self._key()
        self.server.gets[key] = self.server.gets.get(key, 0) + 1
        data = self.server.objects.get(key)
        fault = self.server.faults.get(key)
        if data is None:
            self._error(404, "NoSuchKey", "The specified key does not exist.")
        elif fault == "slowdown" and self.server.gets[key] == 1:
            self._error(503, "SlowDown", "Please reduce your request rate.")
        else:
            self.send_response(200)
            self._object_headers(data)
            self.wfile.write(data[: len(data) // 2] if fault == "cut" else data)
            self.wfile.flush()
            self.close_connection = True  # the rest never comes: the socket closes


@pytest.fixture
def faulty_s3():
    server = FaultyS3()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_throttling_and_5xx_are_retried_by_botocore(faulty_s3):
    store = S3FileStore("exports", endpoint_url=faulty_s3.endpoint)
    retries = store.client.meta.config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == 9  # botocore counts the first try: 1 + 8 retries

    data = os.urandom(100_000)
    faulty_s3.objects["cur2/a.csv.gz"] = data
    faulty_s3.faults["cur2/a.csv.gz"] = "slowdown"
    with store.open("cur2/a.csv.gz") as stream:
        assert stream.read() == data
    assert faulty_s3.gets["cur2/a.csv.gz"] == 2  # 503 SlowDown, then the object


def test_a_connection_cut_mid_download_fails_landing_and_leaves_nothing(faulty_s3, tmp_path):
    store = S3FileStore("exports", endpoint_url=faulty_s3.endpoint)
    key = "cur2/exp/data/BILLING_PERIOD=2026-11/exec-1/a.csv.gz"
    data = os.urandom(1 << 20)
    faulty_s3.objects[key] = data
    faulty_s3.faults[key] = "cut"
    delivery = Delivery(
        provider="aws",
        source_dataset="aws_cur2",
        billing_period="2026-11",
        delivery_id="exec-1",
        manifest_path="cur2/exp/metadata/BILLING_PERIOD=2026-11/exp-Manifest.json",
        files=(DeliveryFile(key, len(data)),),
    )
    folder = tmp_path / "raw"
    with pytest.raises(DeliveryError, match=rf"{key}: download failed: s3://exports/{key}"):
        land_delivery(store, delivery, folder)
    assert faulty_s3.gets[key] == 1  # headers arrived: the cut is mid-body, not retried
    assert list(folder.iterdir()) == []  # no .partial, no a.csv.gz, no delivery.json


def test_the_nightly_job_reads_an_s3_source_from_the_configuration(
    s3, s3_endpoint, bucket, tmp_path, nightly_run
):
    client, name = s3
    part = gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")
    write_cur2_delivery(bucket, {"a.csv.gz": part}, "2026-11", "exec-1")
    upload_tree(client, name, bucket)
    source = {"kind": "s3", "bucket": name, "prefix": "cur2", "endpoint_url": s3_endpoint}
    result = nightly_run({"lake_root": str(tmp_path / "lake"), "aws": [source]}, "aws")
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    lake = Lake(tmp_path / "lake")
    billed = lake.scan_partition("focus", "aws", "2026-11").collect()["BilledCost"].sum()
    assert billed == pytest.approx(float(hand_cost()))
