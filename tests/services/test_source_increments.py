"""Deliveries arriving one after another at each cloud service, read through its real SDK.

For S3 (moto, AWS CUR 2.0 deliveries), Azure Blob (Azurite, Azure export runs) and OCI Object
Storage (a loopback server, OCI cost report files), the same files sit in the stand-in and in
a local folder, and the nightly job (and the provider's sensor) run against the service:

- the service and the folder give the same FOCUS rows;
- a second run with nothing new downloads nothing and leaves the period as it was;
- a restated month replaces the old one whole;
- a new delivery of the previous, already ingested month is sensed and ingested.

Every expected value is worked out here from the files placed (costs summed as Decimals
straight from the CSVs, delivery ids from the manifests), never taken from costlake's output.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from azure.storage.blob import ContainerClient
from azurite import running_azurite
from conftest import HAND_CUR2, check_verdicts
from dagster import RunRequest, SkipReason, build_sensor_context
from oci_loopback import LoopbackObjectStorage, serving, write_api_key
from polars.testing import assert_frame_equal

from connectors.stores.blob import AzureBlobStore
from connectors.stores.oci import OciObjectStore
from connectors.stores.s3 import S3FileStore
from costlake.focus.lake import Lake
from demo.aws import write_demo_aws_export
from demo.azure import write_demo_azure_export
from demo.oci import write_demo_oci_export
from pipelines.sensors import new_deliveries_sensor

OCTOBER, NOVEMBER = "2026-10", "2026-11"
CLOUDS = ["aws", "azure", "oci"]


@dataclass(frozen=True)
class Expected:
    """What the lake should hold for a period, worked out from the files placed."""

    delivery_id: str
    files: list[str]  # keys of the delivery's data files
    bill: Decimal  # the bill's own cost column, summed over the period's rows


@dataclass
class Cloud:
    """One service stand-in, a local folder holding the same objects, and how this cloud's
    exports grow: a restated November and a late delivery of October."""

    provider: str
    root: Path  # the local folder: the bucket or container, object by object
    source: dict  # the service's entry in costlake.yaml
    put: Callable[[str, bytes], None]  # writes one object to the stand-in
    november: Callable[[], Expected]  # the newest November delivery as first written
    restate_november: Callable[[], Expected]  # writes a newer November delivery
    redeliver_october: Callable[[], Expected]  # writes a newer October delivery
    rereads: Callable[[str], bool]  # objects the finder reads on every run (manifests)
    # GETs per object as the stand-in itself counted them, where it counts them (OCI's).
    served: Callable[[], dict[str, int]] | None = None
    sent: dict[str, bytes] = field(default_factory=dict)

    def sync(self) -> None:
        """Put every object of the folder that the stand-in does not hold yet (or holds with
        other bytes) in the stand-in, in key order (AWS's data files before its manifest)."""
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            key, data = path.relative_to(self.root).as_posix(), path.read_bytes()
            if self.sent.get(key) != data:
                self.put(key, data)
                self.sent[key] = data

    def settings(self, lake: Path, source: dict | None = None) -> dict:
        return {"lake_root": str(lake), self.provider: [source or self.source]}

    def folder_settings(self, lake: Path) -> dict:
        return self.settings(lake, {"root": str(self.root), "prefix": self.source["prefix"]})


# --- reading the files placed ----------------------------------------------------------------


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a (gzip) CSV file, as text."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def cost_sum(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(r[column]) for r in rows), Decimal(0))


def csv_gzip(header: list[str], rows: list[dict[str, str]], bom: bool = False) -> bytes:
    """Rows as a gzip CSV, CRLF line ends as the clouds write them."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode("utf-8-sig" if bom else "utf-8"))


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- AWS: CUR 2.0 executions named by a manifest ---------------------------------------------

AWS_EXPORT = "cur2/costlake-demo"
AWS_COST = "line_item_unblended_cost"


def aws_manifest_path(root: Path, period: str) -> Path:
    """Where AWS keeps a period's manifest; an export set to overwrite rewrites it in place."""
    return root / AWS_EXPORT / "metadata" / f"BILLING_PERIOD={period}/costlake-demo-Manifest.json"


def aws_expected(root: Path, period: str) -> Expected:
    manifest = json.loads(aws_manifest_path(root, period).read_text())
    keys = [uri.split("/", 3)[3] for uri in manifest["dataFiles"]]  # s3://bucket/key
    rows = [row for key in keys for row in csv_rows(root / key)]
    return Expected(manifest["executionId"], keys, cost_sum(rows, AWS_COST))


def hand_cur2_file(rows: list[dict[str, str]]) -> bytes:
    """Some of the hand file's line items as a CUR 2.0 data file (the hand file's columns)."""
    return csv_gzip(list(csv_rows(HAND_CUR2)[0]), rows)


def aws_execution(root: Path, period: str, execution: str, files: dict[str, bytes]) -> None:
    """A new execution of the export: its data files, then the period's manifest naming them."""
    keys = []
    for name, data in files.items():
        key = f"{AWS_EXPORT}/data/BILLING_PERIOD={period}/{execution}/{name}"
        write_file(root / key, data)
        keys.append(key)
    path = aws_manifest_path(root, period)
    manifest = json.loads(path.read_text())
    bucket = manifest["bucket"]
    manifest.update(executionId=execution, dataFiles=[f"s3://{bucket}/{k}" for k in keys])
    path.write_text(json.dumps(manifest, indent=2))


def to_october(row: dict[str, str]) -> dict[str, str]:
    """A hand CUR 2.0 row of November moved to October (its billing period and usage dates)."""
    return {
        k: v.replace("2026-11-", "2026-10-").replace("2026-12-", "2026-11-") for k, v in row.items()
    }


def aws_restate_november(root: Path) -> Expected:
    """November re-delivered smaller: four of the hand file's line items."""
    hand = {row["identity_line_item_id"]: row for row in csv_rows(HAND_CUR2)}
    kept = [hand[i] for i in ("c", "f", "g", "i")]
    # SavingsPlanRecurringFee 70.00 + Usage 2.5 + Tax 5.0 + Credit -10, by hand:
    assert cost_sum(kept, AWS_COST) == Decimal("67.50")
    aws_execution(
        root, NOVEMBER, "exec-nov-restated", {"costlake-demo-00001.csv.gz": hand_cur2_file(kept)}
    )
    return aws_expected(root, NOVEMBER)


def aws_redeliver_october(root: Path) -> Expected:
    """October re-delivered with a late credit: its two files as before, and a third holding
    the hand file's credit line moved to October."""
    before = aws_expected(root, OCTOBER)
    parts = {Path(key).name: (root / key).read_bytes() for key in before.files}
    credit = to_october(next(r for r in csv_rows(HAND_CUR2) if r["identity_line_item_id"] == "i"))
    assert credit[AWS_COST] == "-10" and credit["bill_billing_period_start_date"][:7] == OCTOBER
    parts["costlake-demo-00003.csv.gz"] = hand_cur2_file([credit])
    aws_execution(root, OCTOBER, "exec-oct-late-credit", parts)
    expected = aws_expected(root, OCTOBER)
    assert expected.bill == before.bill - 10
    return expected


# --- Azure: export runs described by their manifest.json -------------------------------------

AZURE_PREFIX = "exports/costlake/"
AZURE_COST = "CostInBillingCurrency"


def azure_expected(root: Path, manifest_path: Path) -> Expected:
    manifest = json.loads(manifest_path.read_text())
    keys = [blob["blobName"] for blob in manifest["blobs"]]
    rows = [row for key in keys for row in csv_rows(root / key)]
    return Expected(manifest["runInfo"]["runId"], keys, cost_sum(rows, AZURE_COST))


def azure_run(root: Path, previous: Path, rows: list[dict[str, str]], submitted: str) -> Path:
    """A newer run of the export that wrote ``previous``: a run folder (export folder /
    yyyyMMddHHmm / run id) with one data blob and the manifest.json naming it."""
    manifest = json.loads(previous.read_text())
    run_id = str(uuid.uuid4())
    export_folder = previous.parent.parent.parent.relative_to(root).as_posix()
    run = f"{export_folder}/{submitted[:16].replace('-', '').replace('T', '').replace(':', '')}"
    key = f"{run}/{run_id}/part_0_0001.csv.gz"
    header = list(csv_rows(root / manifest["blobs"][0]["blobName"])[0])
    size = write_file(root / key, csv_gzip(header, rows, bom=True)).stat().st_size
    manifest["runInfo"].update(runId=run_id, submittedTime=submitted)
    manifest["blobs"] = [{"blobName": key, "byteCount": size, "dataRowCount": len(rows)}]
    path = root / run / run_id / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path


def azure_rows(root: Path, manifest_path: Path) -> list[dict[str, str]]:
    blobs = json.loads(manifest_path.read_text())["blobs"]
    return [row for blob in blobs for row in csv_rows(root / blob["blobName"])]


# --- OCI: a stream of report files, each period made of the files holding its rows -----------

OCI_PREFIX = "reports/cost-csv/"
OCI_COST, OCI_START = "cost/myCost", "lineItem/intervalUsageStart"
OCI_NAMESPACE = "bling"
OCI_TENANCY = "ocid1.tenancy.oc1..aaaaaaaacostlakedemo"  # the demo's: its bucket's name


def oci_expected(root: Path, period: str) -> Expected:
    """Every report file holding a row of ``period`` (the month its usage starts in); the
    delivery id is the digest of those files' names and sizes, as OCI deliveries are named."""
    files, rows = [], []
    for path in sorted((root / OCI_PREFIX).glob("*.csv.gz")):
        of_period = [r for r in csv_rows(path) if r[OCI_START][:7] == period]
        if of_period:
            files.append(path.relative_to(root).as_posix())
            rows += of_period
    listing = "\n".join(f"{key}\t{(root / key).stat().st_size}" for key in files)
    digest = hashlib.sha256(listing.encode()).hexdigest()[:16]
    return Expected(f"{period}-{digest}", files, cost_sum(rows, OCI_COST))


def oci_correction_file(root: Path, originals: list[dict[str, str]]) -> Path:
    """The next report file (OCI adds files, never rewrites one): a correction giving back each
    original line in full, pointing at it by its reference number."""
    newest = max(int(p.name.split(".")[0]) for p in (root / OCI_PREFIX).glob("*.csv.gz"))
    corrections = []
    for original in originals:
        back = original["lineItem/referenceNo"]
        corrections.append(
            original
            | {
                "lineItem/referenceNo": hashlib.md5(f"correction:{back}".encode()).hexdigest(),
                "lineItem/isCorrection": "true",
                "lineItem/backreferenceNo": back,
                "usage/billedQuantity": f"-{original['usage/billedQuantity']}",
                OCI_COST: f"-{original[OCI_COST]}",
            }
        )
    path = root / OCI_PREFIX / f"{newest + 1:016d}.csv.gz"
    return write_file(path, csv_gzip(list(originals[0]), corrections))


def oci_rows(root: Path, period: str) -> list[dict[str, str]]:
    """The rows of ``period`` in the report files, in file and row order."""
    paths = sorted((root / OCI_PREFIX).glob("*.csv.gz"))
    return [r for p in paths for r in csv_rows(p) if r[OCI_START][:7] == period]


def oci_correct(root: Path, period: str, count: int) -> Expected:
    """A later report file correcting the first ``count`` positive-cost rows of ``period``."""
    before = oci_expected(root, period)
    originals = [r for r in oci_rows(root, period) if Decimal(r[OCI_COST]) > 0][:count]
    oci_correction_file(root, originals)
    expected = oci_expected(root, period)
    assert expected.bill == before.bill - cost_sum(originals, OCI_COST)
    assert len(expected.files) == len(before.files) + 1
    return expected


# --- the stand-ins ---------------------------------------------------------------------------


@pytest.fixture
def aws_cloud(tmp_path, s3_endpoint, aws_env) -> Iterator[Cloud]:
    """The demo CUR 2.0 export (October and November) in a fresh moto bucket and a folder."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    root = tmp_path / "bucket"
    write_demo_aws_export(root)
    cloud = Cloud(
        provider="aws",
        root=root,
        source={"kind": "s3", "bucket": bucket, "prefix": "cur2", "endpoint_url": s3_endpoint},
        put=lambda key, data: client.put_object(Bucket=bucket, Key=key, Body=data),
        november=lambda: aws_expected(root, NOVEMBER),
        restate_november=lambda: aws_restate_november(root),
        redeliver_october=lambda: aws_redeliver_october(root),
        rereads=lambda key: key.endswith("-Manifest.json"),
    )
    cloud.sync()
    yield cloud
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        if page.get("Contents"):
            objects = [{"Key": item["Key"]} for item in page["Contents"]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory) -> Iterator[str]:
    """The connection string of an Azurite started once for this module."""
    with running_azurite(tmp_path_factory.mktemp("azurite")) as conn_str:
        yield conn_str


AZURE_CONN_ENV = "COSTLAKE_TEST_INCREMENTS_AZURITE"


@pytest.fixture
def azure_cloud(tmp_path, monkeypatch, azurite) -> Iterator[Cloud]:
    """The demo ActualCost export (an October run, two November runs) in a fresh container
    and a folder; the connection string is in the environment, as in production."""
    monkeypatch.setenv(AZURE_CONN_ENV, azurite)
    container = ContainerClient.from_connection_string(azurite, f"c-{uuid.uuid4().hex[:12]}")
    container.create_container()
    root = tmp_path / "container"
    october_run, *_, november_run = write_demo_azure_export(root)
    runs = {OCTOBER: october_run, NOVEMBER: november_run}  # the newest run of each month

    def restate_november() -> Expected:
        # The month re-run: the storage lines re-rated, the egress lines gone.
        rows = [r for r in azure_rows(root, runs[NOVEMBER]) if r["MeterCategory"] != "Bandwidth"]
        assert 0 < len(rows) < len(azure_rows(root, runs[NOVEMBER]))
        for row in rows:
            if row["MeterCategory"] == "Storage":
                row[AZURE_COST] = str(Decimal(row[AZURE_COST]) * Decimal("0.9"))
        runs[NOVEMBER] = azure_run(root, runs[NOVEMBER], rows, "2026-11-27T04:05:06.1234567Z")
        return azure_expected(root, runs[NOVEMBER])

    def redeliver_october() -> Expected:
        # The closed month re-run by hand: one line's cost corrected to 1.25.
        rows = azure_rows(root, runs[OCTOBER])
        before = cost_sum(rows, AZURE_COST)
        old_cost = Decimal(rows[0][AZURE_COST])
        rows[0][AZURE_COST] = "1.25"
        runs[OCTOBER] = azure_run(root, runs[OCTOBER], rows, "2026-11-27T09:30:00.0000000Z")
        expected = azure_expected(root, runs[OCTOBER])
        assert expected.bill == before - old_cost + Decimal("1.25") != before
        return expected

    cloud = Cloud(
        provider="azure",
        root=root,
        source={
            "kind": "blob",
            "container": container.container_name,
            "prefix": AZURE_PREFIX,
            "connection_string_env": AZURE_CONN_ENV,
        },
        put=lambda key, data: container.upload_blob(key, data, overwrite=True),
        november=lambda: azure_expected(root, runs[NOVEMBER]),
        restate_november=restate_november,
        redeliver_october=redeliver_october,
        rereads=lambda key: key.endswith("/manifest.json"),
    )
    cloud.sync()
    yield cloud
    container.delete_container()


@pytest.fixture(scope="module")
def oci_api_key(tmp_path_factory) -> tuple[Path, str]:
    """A throwaway API signing key: (PEM file, fingerprint)."""
    return write_api_key(tmp_path_factory.mktemp("oci-key"))


@pytest.fixture
def oci_server() -> Iterator[LoopbackObjectStorage]:
    """The tenancy's usage-report bucket, listing at most 10 objects a page."""
    with serving(OCI_NAMESPACE, OCI_TENANCY, page_size=10) as running:
        yield running


@pytest.fixture
def oci_cloud(tmp_path, oci_server, oci_api_key) -> Cloud:
    """The demo tenancy's daily cost reports (October and November) served and in a folder;
    the SDK signs with a profile of an OCI config file."""
    key_file, fingerprint = oci_api_key
    config_file = tmp_path / "oci-config"
    config_file.write_text(
        "[costlake]\n"
        "user=ocid1.user.oc1..aaaaaaaacostlakereader\n"
        f"tenancy={OCI_TENANCY}\nfingerprint={fingerprint}\nkey_file={key_file}\n"
        "region=uk-london-1\n"
    )
    root = tmp_path / "bucket"
    write_demo_oci_export(root)
    cloud = Cloud(
        provider="oci",
        root=root,
        source={
            "kind": "object_storage",
            "bucket": OCI_TENANCY,
            "prefix": OCI_PREFIX,
            "profile": "costlake",
            "config_file": str(config_file),
            "service_endpoint": oci_server.endpoint,
        },
        put=lambda key, data: oci_server.put(key, data, (root / key).stat().st_mtime),
        november=lambda: oci_expected(root, NOVEMBER),
        restate_november=lambda: oci_correct(root, NOVEMBER, 2),
        redeliver_october=lambda: oci_correct(root, OCTOBER, 1),
        rereads=lambda key: False,  # the report-period cache: a report file is read once
        served=lambda: dict(oci_server.gets),
    )
    cloud.sync()
    return cloud


@pytest.fixture(params=CLOUDS)
def cloud(request) -> Cloud:
    return request.getfixturevalue(f"{request.param}_cloud")


# --- what the pipeline does ------------------------------------------------------------------


@dataclass
class Opens:
    """The objects the service's store opened, by who opened them."""

    finding: list[str] = field(default_factory=list)  # the delivery finders (and the sensor)
    landing: list[str] = field(default_factory=list)  # the raw-delivery assets

    def clear(self) -> None:
        self.finding.clear()
        self.landing.clear()


@pytest.fixture
def opens(monkeypatch) -> Opens:
    """Every object a service's store opens (the SDK still fetches it from the stand-in),
    noted as landing (within ``land_delivery``) or finding (the finders, the sensor)."""
    counted = Opens()
    for store_class in (S3FileStore, AzureBlobStore, OciObjectStore):

        def counting_open(self, key: str, real_open=store_class.open):
            stack = {frame.name for frame in traceback.extract_stack()}
            (counted.landing if "land_delivery" in stack else counted.finding).append(key)
            return real_open(self, key)

        monkeypatch.setattr(store_class, "open", counting_open)
    return counted


def run_ok(nightly_run, settings: dict, provider: str, period: str) -> None:
    result = nightly_run(settings, provider, period)
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }


def focus_rows(lake: Path, provider: str, period: str):
    frame = Lake(lake).scan_partition("focus", provider, period).collect()
    return frame.sort(["x_SourceFile", "x_SourceRow"], maintain_order=True)


def assert_holds(lake: Path, provider: str, period: str, expected: Expected) -> None:
    """The period in the lake is exactly the expected delivery: its id, files and bill."""
    focus = focus_rows(lake, provider, period)
    assert focus.height > 0
    assert set(focus["x_DeliveryId"]) == {expected.delivery_id}
    assert set(focus["x_SourceFile"]) == set(expected.files)
    assert focus["BilledCost"].sum() == pytest.approx(float(expected.bill), abs=1e-6)


def sensed(provider: str) -> list[tuple[str, str]]:
    """(partition key, run key) of each run the provider's sensor requests now."""
    results = list(new_deliveries_sensor(provider)(build_sensor_context()))
    requests = [r for r in results if isinstance(r, RunRequest)]
    assert all(isinstance(r, RunRequest | SkipReason) for r in results)
    return [(str(r.partition_key), r.run_key) for r in requests]


def raw_files(lake: Path, provider: str, period: str) -> dict[str, int]:
    """The landed data files of a period (not the landing record), with their mtimes."""
    folder = lake / "raw" / f"provider={provider}" / f"billing_period={period}"
    return {
        p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and p.name != "landed.json"
    }


# --- the increments --------------------------------------------------------------------------


def test_the_service_and_the_folder_give_the_same_focus_rows(cloud, nightly_run, tmp_path):
    by_service, by_folder = tmp_path / "lake-service", tmp_path / "lake-folder"
    run_ok(nightly_run, cloud.settings(by_service), cloud.provider, NOVEMBER)
    run_ok(nightly_run, cloud.folder_settings(by_folder), cloud.provider, NOVEMBER)

    from_service = focus_rows(by_service, cloud.provider, NOVEMBER)
    assert_frame_equal(from_service, focus_rows(by_folder, cloud.provider, NOVEMBER))
    assert_holds(by_service, cloud.provider, NOVEMBER, cloud.november())


def test_a_run_with_nothing_new_downloads_nothing(cloud, nightly_run, tmp_path, opens):
    lake = tmp_path / "lake"
    november = cloud.november()
    run_ok(nightly_run, cloud.settings(lake), cloud.provider, NOVEMBER)
    # The counting works: the first run landed each of November's files once, from the service,
    # and the finder read what tells it the deliveries (OCI: every report file, for its periods).
    assert sorted(opens.landing) == sorted(november.files)
    if cloud.provider == "oci":
        assert sorted(opens.finding) == sorted(cloud.sent)
    else:
        assert opens.finding and all(cloud.rereads(key) for key in opens.finding)  # manifests
    before = focus_rows(lake, cloud.provider, NOVEMBER)
    landed = raw_files(lake, cloud.provider, NOVEMBER)
    served = cloud.served() if cloud.served else None
    opens.clear()

    run_ok(nightly_run, cloud.settings(lake), cloud.provider, NOVEMBER)
    assert opens.landing == []
    assert [key for key in opens.finding if not cloud.rereads(key)] == []
    assert_frame_equal(focus_rows(lake, cloud.provider, NOVEMBER), before)
    assert raw_files(lake, cloud.provider, NOVEMBER) == landed  # not one file written again
    assert_holds(lake, cloud.provider, NOVEMBER, november)
    if cloud.served:
        assert cloud.served() == served  # the stand-in sent no object again
    if cloud.provider == "oci":
        # What each served report file holds is remembered in the lake's state.
        cache = json.loads((lake / "state/connectors/oci-report-periods.json").read_text())
        remembered = [k.split("|")[1] for k in cache if k.startswith(f"oci://{OCI_TENANCY}@")]
        assert sorted(remembered) == sorted(cloud.sent)


def test_a_restated_month_replaces_the_old_one(cloud, nightly_run, tmp_path, opens):
    lake = tmp_path / "lake"
    first = cloud.november()
    run_ok(nightly_run, cloud.settings(lake), cloud.provider, NOVEMBER)
    assert_holds(lake, cloud.provider, NOVEMBER, first)

    restated = cloud.restate_november()
    cloud.sync()
    assert restated.delivery_id != first.delivery_id and restated.bill != first.bill
    opens.clear()
    run_ok(nightly_run, cloud.settings(lake), cloud.provider, NOVEMBER)
    if cloud.provider == "oci":  # reports are never rewritten: only the new one is downloaded
        assert sorted(opens.landing) == sorted(set(restated.files) - set(first.files))

    assert_holds(lake, cloud.provider, NOVEMBER, restated)  # no row of the old delivery is left
    # raw/ keeps only the new delivery's landing (<source name>/<delivery id>/...).
    landed = {Path(key).parts[:2] for key in raw_files(lake, cloud.provider, NOVEMBER)}
    assert landed == {("default", restated.delivery_id)}


def test_a_new_delivery_of_the_previous_month_is_sensed_and_ingested(cloud, nightly_run, tmp_path):
    lake = tmp_path / "lake"
    for period in (OCTOBER, NOVEMBER):
        run_ok(nightly_run, cloud.settings(lake), cloud.provider, period)
    assert sensed(cloud.provider) == []  # every delivery is in the lake

    october = cloud.redeliver_october()
    cloud.sync()
    partition = f"{OCTOBER}|{cloud.provider}"
    run_key = f"{cloud.provider}|{OCTOBER}|{october.delivery_id}"
    assert sensed(cloud.provider) == [(partition, run_key)]

    run_ok(nightly_run, cloud.settings(lake), cloud.provider, OCTOBER)
    assert_holds(lake, cloud.provider, OCTOBER, october)
    assert sensed(cloud.provider) == []
