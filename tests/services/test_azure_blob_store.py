"""Azure exports read from a real Blob service (Azurite on loopback) as from a local folder."""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.server
import io
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from azure.storage.blob import (
    AccountSasPermissions,
    ContainerClient,
    ResourceTypes,
    generate_account_sas,
)
from azurite import ACCOUNT, ACCOUNT_KEY, connection_string, running_azurite
from conftest import check_verdicts

from connectors.exports.azure import find_azure_deliveries
from connectors.exports.landing import land_delivery
from connectors.stores.blob import AzureBlobStore
from connectors.stores.files import LocalFileStore
from costlake.focus.deliveries import Delivery, DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake
from demo.azure import write_demo_azure_export

PREFIX = "exports/costlake/"
CONN_ENV = "COSTLAKE_TEST_AZURITE_CONNECTION_STRING"
SMALL_CHUNK = 1024  # the demo's blobs are ~4.6 KiB: several ranged GETs each


@pytest.fixture(scope="module")
def azurite(tmp_path_factory) -> Iterator[str]:
    """The connection string of an Azurite started once for this module."""
    with running_azurite(tmp_path_factory.mktemp("azurite")) as conn_str:
        yield conn_str


@pytest.fixture
def container(azurite, monkeypatch) -> Iterator[ContainerClient]:
    """A fresh container; its connection string is in the environment, as in production."""
    monkeypatch.setenv(CONN_ENV, azurite)
    client = ContainerClient.from_connection_string(azurite, f"exports-{uuid.uuid4().hex[:12]}")
    client.create_container()
    yield client
    client.delete_container()


@pytest.fixture
def demo(tmp_path, container) -> Path:
    """The demo export written to a folder, then uploaded blob by blob under the same names."""
    root = tmp_path / "container"
    write_demo_azure_export(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with open(path, "rb") as data:
            container.upload_blob(path.relative_to(root).as_posix(), data)
    return root


def store_of(container: ContainerClient) -> AzureBlobStore:
    return AzureBlobStore.from_connection_string(CONN_ENV, container.container_name)


def small_chunk_store(azurite: str, container: ContainerClient) -> AzureBlobStore:
    """A store whose downloads take several ranged GETs per demo blob."""
    client = ContainerClient.from_connection_string(
        azurite,
        container.container_name,
        max_single_get_size=SMALL_CHUNK,
        max_chunk_get_size=SMALL_CHUNK,
    )
    return AzureBlobStore(client)


def newest_november(store: AzureBlobStore) -> Delivery:
    return find_azure_deliveries(store, PREFIX)["2026-11"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_demo_export_is_found_as_in_a_local_folder(demo, container):
    store = store_of(container)
    local = LocalFileStore(demo)
    assert [(o.key, o.size) for o in store.list(PREFIX)] == [
        (o.key, o.size) for o in local.list(PREFIX)
    ]
    found = find_azure_deliveries(store, PREFIX)
    # Same periods, run ids, manifests, files and sizes: the Delivery records are equal.
    assert found == find_azure_deliveries(local, PREFIX)
    assert sorted(found) == ["2026-10", "2026-11"]
    november = found["2026-11"]
    assert november.manifest_path.split("/")[-3:-1] == ["202611260413", november.delivery_id]
    assert [f.size for f in november.files] == [
        (demo / f.path).stat().st_size for f in november.files
    ]


def test_landing_the_newest_run_streams_the_uploaded_bytes_and_reconciles(
    tmp_path, demo, container
):
    store = store_of(container)
    delivery = newest_november(store)
    landed = land_delivery(store, delivery, tmp_path / "raw")
    blobs = {f.path: container.download_blob(f.path).readall() for f in delivery.files}
    for path, data in blobs.items():
        assert sha256((landed / Path(path).name).read_bytes()) == sha256(data)
        assert sha256(data) == sha256((demo / path).read_bytes())  # what was uploaded
    assert not list(landed.glob("*.partial"))

    rows = []
    for data in blobs.values():
        text = gzip.decompress(data).decode("utf-8-sig")
        rows += list(csv.DictReader(io.StringIO(text, newline="")))
    expected = sum((Decimal(r["CostInBillingCurrency"]) for r in rows), Decimal(0))
    report = ingest_delivery(delivery, landed, Lake(tmp_path / "lake"))
    assert report.rows_read == len(rows)
    assert report.rows_rejected == 0
    [(currency, total)] = report.bill_totals.items()
    assert currency == "EUR"
    assert total == pytest.approx(float(expected), abs=1e-6)


def test_a_blob_is_downloaded_chunk_by_chunk_as_it_is_read(azurite, demo, container):
    delivery = newest_november(store_of(container))
    key = delivery.files[0].path
    ranges: list[str] = []
    client = ContainerClient.from_connection_string(
        azurite,
        container.container_name,
        max_single_get_size=SMALL_CHUNK,
        max_chunk_get_size=SMALL_CHUNK,
        raw_response_hook=lambda r: ranges.append(r.http_request.headers.get("x-ms-range", "")),
    )
    with AzureBlobStore(client).open(key) as stream:
        assert stream.read(10) == (demo / key).read_bytes()[:10]
        assert len(ranges) == 1  # only the first chunk has been fetched
        sink = io.BytesIO()
        shutil.copyfileobj(stream, sink, 8 << 20)
    assert b"".join([(demo / key).read_bytes()[:10], sink.getvalue()]) == (demo / key).read_bytes()
    assert len(ranges) == -(-delivery.files[0].size // SMALL_CHUNK)
    assert all(r.startswith("bytes=") for r in ranges)


def test_a_blob_deleted_between_finding_and_landing_fails_naming_it(tmp_path, demo, container):
    store = store_of(container)
    delivery = newest_november(store)
    gone = delivery.files[1].path
    container.delete_blob(gone)
    with pytest.raises(DeliveryError) as failure:
        land_delivery(store, delivery, tmp_path / "raw")
    message = str(failure.value)
    assert gone in message and container.container_name in message
    assert "disappeared" in message and "after it was listed" in message
    assert not (tmp_path / "raw" / "delivery.json").exists()  # not recorded as landed
    assert not list((tmp_path / "raw").glob("*.partial"))


def test_a_manifest_naming_a_missing_blob_fails_naming_it(demo, container):
    missing = newest_november(store_of(container)).files[0].path
    container.delete_blob(missing)
    with pytest.raises(DeliveryError, match=rf"names data file {missing}, which is not in Azure"):
        find_azure_deliveries(store_of(container), PREFIX)


def test_a_blob_deleted_while_being_landed_leaves_no_partial(tmp_path, azurite, demo, container):
    store = small_chunk_store(azurite, container)
    delivery = newest_november(store)

    class DeletedMidRead:
        """The store, but every blob is deleted once its first chunk has been fetched."""

        def list(self, prefix):
            return store.list(prefix)

        def describe(self):
            return store.describe()

        def open(self, key):
            stream = store.open(key)
            container.delete_blob(key)
            return stream

    with pytest.raises(DeliveryError, match=rf"{delivery.files[0].path}: download failed"):
        land_delivery(DeletedMidRead(), delivery, tmp_path / "raw")
    assert list((tmp_path / "raw").iterdir()) == []  # partial removed, no record written


def test_a_blob_rewritten_while_being_read_is_not_spliced(azurite, demo, container):
    store = small_chunk_store(azurite, container)
    key = newest_november(store).files[0].path
    with store.open(key) as stream:
        stream.read(10)
        container.upload_blob(key, os.urandom(5000), overwrite=True)  # a new export run
        with pytest.raises(OSError, match=rf"{key}: reading the blob failed"):
            stream.read()


def test_the_connection_string_comes_from_the_named_variable_only(monkeypatch, demo, container):
    other = "COSTLAKE_TEST_UNSET_CONNECTION_STRING"
    monkeypatch.delenv(other, raising=False)
    store = AzureBlobStore.from_connection_string(CONN_ENV, container.container_name)
    assert store.list(PREFIX)
    described = store.describe()
    assert container.container_name in described and f"/{ACCOUNT}" in described
    assert "AccountKey" not in described and ACCOUNT_KEY not in described
    with pytest.raises(ValueError, match=f"environment variable {other} is not set"):
        AzureBlobStore.from_connection_string(other, container.container_name)
    with pytest.raises(ValueError, match="NAME of an environment variable") as failure:
        AzureBlobStore.from_connection_string(os.environ[CONN_ENV], container.container_name)
    assert ACCOUNT_KEY not in str(failure.value)


def test_a_sas_connection_string_reads_and_stays_out_of_describe(monkeypatch, demo, container):
    sas = generate_account_sas(
        ACCOUNT,
        ACCOUNT_KEY,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    endpoint = container.url.rsplit("/", 1)[0]
    monkeypatch.setenv("COSTLAKE_TEST_SAS", f"BlobEndpoint={endpoint};SharedAccessSignature={sas}")
    store = AzureBlobStore.from_connection_string("COSTLAKE_TEST_SAS", container.container_name)
    assert "2026-11" in find_azure_deliveries(store, PREFIX)
    assert "sig=" not in store.describe() and sas not in store.describe()
    assert store.describe() == store_of(container).describe()


def test_an_account_url_with_a_sas_token_is_refused():
    with pytest.raises(ValueError, match="must not carry credentials"):
        AzureBlobStore.from_account("https://acct.blob.core.windows.net/?sv=1&sig=x", "exports")


def test_a_prefix_is_a_folder_and_directory_entries_are_not_files(container):
    container.upload_blob("exports/costlake/a/part_0.csv.gz", b"data")
    container.upload_blob("exports/costlake2/part_0.csv.gz", b"other export")
    # What an account with a hierarchical namespace lists for each folder.
    container.upload_blob("exports/costlake/a", b"", metadata={"hdi_isfolder": "true"})
    store = store_of(container)
    assert [(o.key, o.size) for o in store.list("exports/costlake")] == [
        ("exports/costlake/a/part_0.csv.gz", 4)
    ]
    assert [o.key for o in store.list("")] == [
        "exports/costlake/a/part_0.csv.gz",
        "exports/costlake2/part_0.csv.gz",
    ]


def test_a_missing_container_is_named(azurite, monkeypatch):
    monkeypatch.setenv(CONN_ENV, azurite)
    store = AzureBlobStore.from_connection_string(CONN_ENV, "no-such-container")
    with pytest.raises(DeliveryError, match="Azure container no-such-container at .* not exist"):
        store.list(PREFIX)


def test_a_busy_service_is_retried(monkeypatch):
    """Blob Storage throttles with 503 Server Busy: the store's client waits and tries again."""
    answers = [503, 404]
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            status = answers.pop(0)
            code = "ServerBusy" if status == 503 else "ContainerNotFound"
            self.send_response(status)
            self.send_header("x-ms-error-code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        monkeypatch.setenv(CONN_ENV, connection_string(port))
        store = AzureBlobStore.from_connection_string(CONN_ENV, "exports")
        try:
            with pytest.raises(DeliveryError, match="does not exist"):
                store.list(PREFIX)
        finally:
            server.shutdown()
    assert len(seen) == 2  # the 503, then the retry


def test_the_nightly_job_reads_a_blob_source_from_the_configuration(
    tmp_path, demo, container, nightly_run
):
    source = {
        "kind": "blob",
        "container": container.container_name,
        "prefix": PREFIX,
        "connection_string_env": CONN_ENV,
    }
    result = nightly_run({"lake_root": str(tmp_path / "lake"), "azure": [source]}, "azure")
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    # The newest November run's own cost column, read from its blobs in Azurite.
    delivery = newest_november(store_of(container))
    expected = Decimal(0)
    for item in delivery.files:
        text = gzip.decompress(container.download_blob(item.path).readall()).decode("utf-8-sig")
        rows = csv.DictReader(io.StringIO(text, newline=""))
        expected += sum((Decimal(r["CostInBillingCurrency"]) for r in rows), Decimal(0))
    focus = Lake(tmp_path / "lake").scan_partition("focus", "azure", "2026-11").collect()
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-6)
