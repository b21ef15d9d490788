"""OciObjectStore: OCI usage reports found, landed and ingested straight from a bucket.

No OCI emulator exists: the real SDK client talks to a small loopback server speaking
ListObjects and GetObject (``oci_loopback.py``), with faults injected per object or listing
call. Requests are signed with a throwaway API key, as from a real config file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import oci
import pytest
from conftest import check_verdicts
from oci_loopback import LoopbackObjectStorage, serving, write_api_key

from connectors.exports.landing import land_delivery
from connectors.exports.oci import find_oci_deliveries
from connectors.state import StateFile
from connectors.stores.files import LocalFileStore, StoredObject
from connectors.stores.oci import RETRY_STRATEGY, OciObjectStore
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake
from demo.oci import write_demo_oci_export

NAMESPACE = "bling"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaacostlakedemo"  # the demo's tenancy: its bucket's name
BUCKET = TENANCY
USER = "ocid1.user.oc1..aaaaaaaacostlakereader"
PREFIX = "reports/cost-csv/"
START = "lineItem/intervalUsageStart"


@pytest.fixture(scope="module")
def api_key(tmp_path_factory) -> tuple[Path, str]:
    """A throwaway API signing key: (PEM file, fingerprint)."""
    return write_api_key(tmp_path_factory.mktemp("oci-key"))


@pytest.fixture
def server() -> Iterator[LoopbackObjectStorage]:
    """The tenancy's report bucket, listing at most 10 objects a page."""
    with serving(NAMESPACE, BUCKET, page_size=10) as running:
        yield running


def client_config(api_key: tuple[Path, str]) -> dict[str, str]:
    key_file, fingerprint = api_key
    return {
        "user": USER,
        "tenancy": TENANCY,
        "fingerprint": fingerprint,
        "key_file": str(key_file),
        "region": "uk-london-1",
    }


def store_on(server: LoopbackObjectStorage, api_key, retry_strategy=None, bucket=BUCKET):
    """A store whose client talks to ``server``; without retries unless given a strategy."""
    client = oci.object_storage.ObjectStorageClient(
        client_config(api_key),
        service_endpoint=server.endpoint,
        retry_strategy=retry_strategy or oci.retry.NoneRetryStrategy(),
    )
    return OciObjectStore(client, NAMESPACE, bucket, endpoint=server.endpoint)


@pytest.fixture
def store(server, api_key) -> OciObjectStore:
    return store_on(server, api_key)


@pytest.fixture
def demo(tmp_path, server) -> Path:
    """The demo export written to a folder, and served under the same names."""
    root = tmp_path / "bucket"
    write_demo_oci_export(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        server.put(path.relative_to(root).as_posix(), path.read_bytes(), path.stat().st_mtime)
    return root


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fast_retries() -> object:
    """The SDK's retry checks (429, 5xx but 501, connection errors) with millisecond backoff:
    the default strategy sleeps 1 to 2 s before its first retry."""
    return oci.retry.RetryStrategyBuilder(
        max_attempts=4,
        backoff_type=oci.retry.BACKOFF_FULL_JITTER_VALUE,
        retry_base_sleep_time_seconds=0.01,
        retry_max_wait_between_calls_seconds=0.05,
    ).get_retry_strategy()


def reports(server: LoopbackObjectStorage, count: int = 25) -> list[str]:
    """``count`` report files served, sizes 100 + i bytes, created an hour and a quarter second
    apart; their names in order."""
    names = [f"{PREFIX}{30_000_000 + i:016d}.csv.gz" for i in range(count)]
    for i, name in enumerate(names):
        server.put(name, bytes([i]) * (100 + i), 1_790_000_000.25 + 3600 * i)
    return names


# --- listing ---------------------------------------------------------------------------------


def test_listing_follows_every_page_and_a_prefix_is_a_folder(server, store):
    names = reports(server)
    server.put("reports/cost-csv2/0000000030000000.csv.gz", b"not under cost-csv/")
    server.put("reports/cost-csv/", b"")  # a folder marker, as the console's Create Folder makes
    server.put("FOCUS Reports/2026/11/01/focus report 1.csv.gz", b"12345", 1_790_000_100.5)

    listed = store.list("reports/cost-csv")
    assert listed == [
        StoredObject(name, 100 + i, 1_790_000_000.25 + 3600 * i) for i, name in enumerate(names)
    ]
    # 26 names under the prefix (the marker too) at 10 a page: three calls, each asking for
    # sizes and times, each starting where the last page said.
    assert [q.get("start") for q in server.list_queries] == [None, names[9], names[19]]
    assert {q["prefix"] for q in server.list_queries} == {PREFIX}
    assert {q["fields"] for q in server.list_queries} == {"name,size,timeCreated"}

    assert store.list(PREFIX) == listed
    assert store.list("FOCUS Reports") == [
        StoredObject("FOCUS Reports/2026/11/01/focus report 1.csv.gz", 5, 1_790_000_100.5)
    ]
    everything = [o.key for o in store.list("")]
    assert everything == [
        "FOCUS Reports/2026/11/01/focus report 1.csv.gz",
        *names,
        "reports/cost-csv2/0000000030000000.csv.gz",
    ]  # the marker is not a file to read
    assert "prefix" not in server.list_queries[-1]
    assert store.list("nothing-here") == []


def test_list_after_returns_only_the_names_after_the_last_one(server, store):
    names = reports(server)
    server.put("reports/cost-csv2/0000000030000000.csv.gz", b"sorts after every cost-csv/ name")

    after = store.list_after(PREFIX, names[12])
    assert [o.key for o in after] == names[13:]
    assert [o.size for o in after] == [100 + i for i in range(13, 25)]
    # The listing starts at the last name on the service's side (inclusive): two pages, not
    # all three, and nothing before it is listed again.
    assert [q.get("start") for q in server.list_queries] == [names[12], names[22]]

    between = names[4] + ".old"  # sorts after names[4], before names[5]
    assert [o.key for o in store.list_after("reports/cost-csv", between)] == names[5:]
    assert store.list_after(PREFIX, names[-1]) == []
    assert store.list_after(PREFIX, "") == store.list(PREFIX)


def test_a_missing_bucket_is_named(server, api_key):
    store = store_on(server, api_key, bucket="no-such-bucket")
    with pytest.raises(DeliveryError, match=r"oci://no-such-bucket@bling at http.* not found"):
        store.list(PREFIX)


def test_describe_names_the_bucket_never_credentials(server, api_key):
    store = store_on(server, api_key)
    assert store.describe() == f"oci://{BUCKET}@bling at {server.endpoint}"
    _, fingerprint = api_key
    for secret in (USER, fingerprint, "oci_api_key.pem"):
        assert secret not in store.describe()
    bare = OciObjectStore(store.client, NAMESPACE, BUCKET)
    assert bare.describe() == f"oci://{BUCKET}@bling"
    masked = OciObjectStore(store.client, NAMESPACE, BUCKET, "https://u:secret@os.example:8443")
    assert masked.describe() == f"oci://{BUCKET}@bling at https://os.example:8443"


def test_keys_outside_the_bucket_are_refused(store):
    with pytest.raises(ValueError, match="outside the store"):
        store.open("reports/../../etc/passwd")
    with pytest.raises(ValueError, match="outside the store"):
        store.list("/reports")


# --- deliveries over Object Storage ----------------------------------------------------------


def test_the_demo_export_is_found_as_in_a_local_folder(demo, server, store):
    local = LocalFileStore(demo)
    listed = store.list(PREFIX)
    assert len(listed) == 57  # every daily file of the demo's two periods
    assert [(o.key, o.size) for o in listed] == [
        (name, len(data)) for name, data in sorted(server.objects.items())
    ]
    found = find_oci_deliveries(store, PREFIX)
    # Same periods, ids (digests of names and sizes), folders, files and sizes.
    assert found == find_oci_deliveries(local, PREFIX)
    assert sorted(found) == ["2026-10", "2026-11"]
    for delivery in found.values():
        assert delivery.source_dataset == "oci_cost"
        assert [(f.path, f.size) for f in delivery.files] == [
            (f.path, len(server.objects[f.path])) for f in delivery.files
        ]
    # The file closing on 1 November holds the last hours of October and the first of November.
    shared = {f.path for f in found["2026-10"].files} & {f.path for f in found["2026-11"].files}
    assert len(shared) == 1


def test_a_remembered_listing_asks_only_for_reports_after_the_newest(tmp_path, demo, server, store):
    cache = StateFile(Lake(tmp_path / "lake"), "state/connectors/oci-report-periods.json")
    first = find_oci_deliveries(store, PREFIX, cache)
    newest = max(server.objects)
    server.list_queries.clear()
    assert find_oci_deliveries(store, PREFIX, cache) == first
    assert [q.get("start") for q in server.list_queries] == [newest]

    # A new report with a November row: November's delivery gains it, October's is unchanged.
    october = {f.path for f in first["2026-10"].files}
    november = next(f.path for f in first["2026-11"].files if f.path not in october)
    later = PREFIX + "0000000099999999.csv.gz"
    server.put(later, server.objects[november])
    again = find_oci_deliveries(store, PREFIX, cache)
    assert again["2026-10"] == first["2026-10"]
    assert [f.path for f in again["2026-11"].files] == [f.path for f in first["2026-11"].files] + [
        later
    ]


def test_landing_streams_the_bytes_and_each_period_reconciles(tmp_path, demo, server, store):
    # Each period's rows and their own cost, read from the served CSVs by hand: a row belongs to
    # the month its usage interval starts in, whichever file holds it.
    rows_of: dict[str, list[dict[str, str]]] = {}
    for data in server.objects.values():
        text = gzip.decompress(data).decode("utf-8")
        for row in csv.DictReader(io.StringIO(text, newline="")):
            rows_of.setdefault(row[START][:7], []).append(row)
    assert sorted(rows_of) == ["2026-10", "2026-11"]

    lake = Lake(tmp_path / "lake")
    for period, delivery in find_oci_deliveries(store, PREFIX).items():
        landed = land_delivery(store, delivery, tmp_path / "raw" / period)
        for item in delivery.files:
            assert sha256((landed / Path(item.path).name).read_bytes()) == sha256(
                server.objects[item.path]
            )
        assert not list(landed.glob("*.partial"))

        report = ingest_delivery(delivery, landed, lake)
        rows = rows_of[period]
        expected = sum((Decimal(r["cost/myCost"]) for r in rows), Decimal(0))
        assert {r["cost/currencyCode"] for r in rows} == {"GBP"}
        assert report.rows_rejected == 0
        assert report.rows_read - report.rows_other_periods == len(rows)
        assert list(report.bill_totals) == ["GBP"]
        assert report.bill_totals["GBP"] == pytest.approx(float(expected), abs=1e-6)
        billed = lake.scan_partition("focus", "oci", period).collect()["BilledCost"].sum()
        assert billed == pytest.approx(float(expected), abs=1e-6)


def test_an_object_is_streamed_as_it_is_read_not_fetched_whole(server, store):
    data = os.urandom(48 << 20)
    server.put(f"{PREFIX}0000000030739999.csv.gz", data)
    with store.open(f"{PREFIX}0000000030739999.csv.gz") as stream:
        assert stream.read(10) == data[:10]
        time.sleep(0.2)  # time for the server to push all it can into the socket buffers
        assert server.sent[f"{PREFIX}0000000030739999.csv.gz"] < len(data) // 2
        rest = stream.read()
    assert sha256(data[:10] + rest) == sha256(data)


def test_an_object_deleted_after_listing_is_a_delivery_error(tmp_path, demo, server, store):
    delivery = find_oci_deliveries(store, PREFIX)["2026-11"]
    gone = delivery.files[0].path
    del server.objects[gone]
    message = rf"oci://{re.escape(BUCKET)}@bling/{gone} disappeared after listing"
    with pytest.raises(DeliveryError, match=message):
        land_delivery(store, delivery, tmp_path / "raw")
    assert list((tmp_path / "raw").iterdir()) == []  # no partial, no record


def test_a_connection_cut_mid_body_fails_landing_and_leaves_nothing(tmp_path, demo, server, store):
    delivery = find_oci_deliveries(store, PREFIX)["2026-11"]
    key = delivery.files[0].path
    server.faults[key] = "cut"
    server.gets.clear()
    uri = f"oci://{re.escape(BUCKET)}@bling/{key}"
    with pytest.raises(DeliveryError, match=rf"{key}: download failed: {uri}: connection lost"):
        land_delivery(store, delivery, tmp_path / "raw")
    assert server.gets[key] == 1  # the headers came: a cut mid-body is not retried
    assert list((tmp_path / "raw").iterdir()) == []  # no .partial, no file, no delivery.json


# --- retries and credentials -----------------------------------------------------------------


def write_config_file(path: Path, api_key: tuple[Path, str]) -> Path:
    """OCI's config file with a decoy DEFAULT profile and the ``costlake`` one."""
    settings = client_config(api_key)
    profile = "\n".join(f"{k}={v}" for k, v in settings.items())
    decoy = profile.replace(USER, "ocid1.user.oc1..aaaaaaaadecoy").replace(
        "uk-london-1", "us-ashburn-1"
    )
    path.write_text(f"[DEFAULT]\n{decoy}\n\n[costlake]\n{profile}\n")
    return path


def test_a_503_is_retried_by_a_store_built_from_the_config_file(tmp_path, server, api_key):
    config_file = write_config_file(tmp_path / "oci-config", api_key)
    store = OciObjectStore.from_config_file(
        BUCKET, profile="costlake", config_file=str(config_file), service_endpoint=server.endpoint
    )
    assert store.client.retry_strategy is RETRY_STRATEGY is oci.retry.DEFAULT_RETRY_STRATEGY
    key = f"{PREFIX}0000000030739000.csv.gz"
    data = os.urandom(200_000)
    server.put(key, data)
    server.faults[key] = "unavailable"
    with store.open(key) as stream:  # the SDK's default backoff: 1 to 2 s before the retry
        assert stream.read() == data
    assert server.gets[key] == 2  # the 503, then the object
    # Signed with the costlake profile's key, named tenancy/user/fingerprint.
    _, fingerprint = api_key
    assert f'keyId="{TENANCY}/{USER}/{fingerprint}"' in server.authorizations[-1]


def test_the_profile_and_region_choose_the_endpoint(tmp_path, api_key):
    config_file = str(write_config_file(tmp_path / "oci-config", api_key))
    default = OciObjectStore.from_config_file(BUCKET, config_file=config_file)
    assert "us-ashburn-1" in default.client.base_client.endpoint
    costlake = OciObjectStore.from_config_file(BUCKET, profile="costlake", config_file=config_file)
    assert "uk-london-1" in costlake.client.base_client.endpoint
    home = OciObjectStore.from_config_file(BUCKET, config_file=config_file, region="eu-frankfurt-1")
    assert "eu-frankfurt-1" in home.client.base_client.endpoint
    assert home.describe() == f"oci://{BUCKET}@bling"
    with pytest.raises(oci.exceptions.ProfileNotFound):
        OciObjectStore.from_config_file(BUCKET, profile="nobody", config_file=config_file)


def test_a_throttled_listing_page_is_retried_and_the_listing_resumes(server, api_key):
    names = reports(server)
    server.list_faults = [None, 429]  # the second page is throttled once
    store = store_on(server, api_key, retry_strategy=fast_retries())
    assert [o.key for o in store.list(PREFIX)] == names
    assert [q.get("start") for q in server.list_queries] == [None, names[10], names[10], names[20]]


def test_without_retries_a_503_is_an_oserror_naming_the_object(server, store):
    key = f"{PREFIX}0000000030739000.csv.gz"
    server.put(key, b"data")
    server.faults[key] = "unavailable"
    uri = f"oci://{re.escape(BUCKET)}@bling/{key}"
    with pytest.raises(OSError, match=rf"{uri}: cannot fetch: 503 ServiceUnavailable"):
        store.open(key)
    assert server.gets[key] == 1


def test_instance_principals_sign_with_the_instance_token(monkeypatch, server, api_key):
    key_file, _ = api_key

    class InstancePrincipal(oci.auth.signers.SecurityTokenSigner):
        """What the real signer is once it has fetched its token from the instance metadata."""

        region = "uk-london-1"

        def __init__(self) -> None:
            private_key = oci.signer.load_private_key_from_file(str(key_file))
            super().__init__("instance-token", private_key)

    signers = oci.auth.signers
    monkeypatch.setattr(signers, "InstancePrincipalsSecurityTokenSigner", InstancePrincipal)
    names = reports(server, 3)
    store = OciObjectStore.with_instance_principals(BUCKET, service_endpoint=server.endpoint)
    assert store.client.retry_strategy is RETRY_STRATEGY
    assert [o.key for o in store.list(PREFIX)] == names
    assert 'keyId="ST$instance-token"' in server.authorizations[-1]
    own = OciObjectStore.with_instance_principals(BUCKET)
    assert "uk-london-1" in own.client.base_client.endpoint
    home = OciObjectStore.with_instance_principals(BUCKET, region="eu-frankfurt-1")
    assert "eu-frankfurt-1" in home.client.base_client.endpoint


def test_the_nightly_job_reads_an_object_storage_source_from_the_configuration(
    tmp_path, demo, server, api_key, nightly_run
):
    source = {
        "kind": "object_storage",
        "bucket": BUCKET,
        "prefix": PREFIX,
        "profile": "costlake",
        "config_file": str(write_config_file(tmp_path / "oci-config", api_key)),
        "service_endpoint": server.endpoint,
    }
    result = nightly_run({"lake_root": str(tmp_path / "lake"), "oci": [source]}, "oci", "2026-10")
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    # October's rows, read straight from the served report files.
    expected = Decimal(0)
    for path in sorted((demo / PREFIX).glob("*.csv.gz")):
        with gzip.open(path, "rt", newline="") as f:
            rows = csv.DictReader(f)
            expected += sum(Decimal(r["cost/myCost"]) for r in rows if r[START][:7] == "2026-10")
    focus = Lake(tmp_path / "lake").scan_partition("focus", "oci", "2026-10").collect()
    assert set(focus["BillingCurrency"]) == {"GBP"}
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-6)
