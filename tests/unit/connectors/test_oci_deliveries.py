"""OCI report files are a stream: each period's delivery is every file holding one of its rows."""

from __future__ import annotations

import csv
import gzip
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import FIXTURES, failed_audit, gzip_file

from connectors.exports.oci import find_oci_deliveries
from connectors.state import StateFile
from connectors.stores.files import LocalFileStore
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake

SAMPLE = FIXTURES / "oci" / "reports_cost-csv_0000000030000269.csv"  # 506 rows of 2023-11
HAND = FIXTURES / "oci" / "hand_cost.csv"
START, END = "lineItem/intervalUsageStart", "lineItem/intervalUsageEnd"


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _my_cost(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(r["cost/myCost"]) for r in rows), Decimal(0))


@pytest.fixture
def bucket(tmp_path) -> tuple[Path, dict[str, Decimal]]:
    """The real November 2023 report, then a report holding the last hour of November and the
    first of December (two rows of hand_cost.csv, re-dated); each period's cost by hand."""
    root = tmp_path / "bucket"
    gzip_file(SAMPLE, root / "reports/cost-csv/0000000030000269.csv.gz")
    header, hand = _rows(HAND)
    usd = [r for r in hand if r["cost/currencyCode"].upper() == "USD"][:2]
    usd[0] |= {START: "2023-11-30T23:00Z", END: "2023-12-01T00:00:00Z"}
    usd[1] |= {START: "2023-12-01T00:00Z", END: "2023-12-01T01:00:00Z"}
    _write(root / "reports/cost-csv/0000000030000270.csv.gz", header, usd)
    _, sample = _rows(SAMPLE)
    expected = {"2023-11": _my_cost(sample) + _my_cost(usd[:1]), "2023-12": _my_cost(usd[1:])}
    return root, expected


def test_each_period_gets_every_file_holding_its_rows(bucket):
    root, _ = bucket
    deliveries = find_oci_deliveries(LocalFileStore(root))
    files = {p: [Path(f.path).name for f in d.files] for p, d in deliveries.items()}
    assert files == {
        "2023-11": ["0000000030000269.csv.gz", "0000000030000270.csv.gz"],
        "2023-12": ["0000000030000270.csv.gz"],
    }
    assert {d.source_dataset for d in deliveries.values()} == {"oci_cost"}
    assert deliveries["2023-11"].delivery_id != deliveries["2023-12"].delivery_id


def test_each_period_holds_its_own_rows_and_reconciles(tmp_path, bucket):
    root, expected = bucket
    store = LocalFileStore(root)
    lake = Lake(tmp_path / "lake")
    reports = {}
    for period, delivery in find_oci_deliveries(store).items():
        folder = store.local_path(delivery.files[0].path).parent
        reports[period] = ingest_delivery(delivery, folder, lake)
    for period, report in reports.items():
        assert report.rows_rejected == 0
        assert report.bill_totals == {"USD": pytest.approx(float(expected[period]), abs=1e-9)}
        written = lake.scan_partition("focus", "oci", period).collect()
        assert written["BilledCost"].sum() == pytest.approx(float(expected[period]), abs=1e-9)
    # Each left the other's row of the shared file to it (December reads only that file).
    assert [reports[p].rows_other_periods for p in ("2023-11", "2023-12")] == [1, 1]
    assert [reports[p].rows_read for p in ("2023-11", "2023-12")] == [506 + 2, 2]


def test_a_new_report_file_changes_only_the_periods_it_touches(bucket):
    root, _ = bucket
    before = find_oci_deliveries(LocalFileStore(root))
    header, hand = _rows(HAND)
    _write(root / "reports/cost-csv/0000000030000271.csv.gz", header, hand[2:3])  # 2026-11
    after = find_oci_deliveries(LocalFileStore(root))
    assert after["2023-11"] == before["2023-11"]
    assert after["2023-12"] == before["2023-12"]
    assert [Path(f.path).name for f in after["2026-11"].files] == ["0000000030000271.csv.gz"]


def test_a_report_without_readable_dates_goes_to_the_month_it_was_written(tmp_path, bucket):
    root, _ = bucket
    header, hand = _rows(HAND)
    row = hand[0] | {START: "03/11/2023 10:00", END: "03/11/2023 11:00"}
    path = _write(root / "reports/cost-csv/0000000030000272.csv.gz", header, [row])
    written = datetime(2023, 12, 2, tzinfo=UTC).timestamp()
    os.utime(path, (written, written))
    store = LocalFileStore(root)
    delivery = find_oci_deliveries(store)["2023-12"]
    assert "reports/cost-csv/0000000030000272.csv.gz" in [f.path for f in delivery.files]
    # A rejected row with cost: the money audit fails, the failed version is kept.
    report, lake = failed_audit(
        lambda: ingest_delivery(delivery, path.parent, Lake(tmp_path / "lake"))
    )
    assert report.rows_rejected == 1  # counted and kept in rejects, never dropped
    assert report.rejected_cost_rows == 1


def test_cost_and_focus_reports_under_one_prefix_are_refused(bucket):
    root, _ = bucket
    gzip_file(FIXTURES / "oci" / "focus_sample_1.0_oracle.csv", root / "FOCUS Reports/x.csv.gz")
    with pytest.raises(DeliveryError, match="several report folders"):
        find_oci_deliveries(LocalFileStore(root))
    # A prefix picks one kind.
    focus = find_oci_deliveries(LocalFileStore(root), "FOCUS Reports/")
    assert {d.source_dataset for d in focus.values()} == {"oci_focus"}


class CountingStore(LocalFileStore):
    """A local store that counts the files it was asked to read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.opened: list[str] = []

    def open(self, key: str):
        self.opened.append(key)
        return super().open(key)


def test_with_a_cache_each_report_file_is_read_once(tmp_path, bucket):
    root, _ = bucket
    cache = StateFile(Lake(tmp_path / "lake"), "state/connectors/oci-report-periods.json")
    store = CountingStore(root)
    first = find_oci_deliveries(store, cache=cache)
    assert sorted(store.opened) == [
        "reports/cost-csv/0000000030000269.csv.gz",
        "reports/cost-csv/0000000030000270.csv.gz",
    ]
    store.opened.clear()
    assert find_oci_deliveries(store, cache=cache) == first  # nothing read again
    assert store.opened == []
    # A new report is the only file read; the others' periods come from the cache.
    header, hand = _rows(HAND)
    _write(root / "reports/cost-csv/0000000030000271.csv.gz", header, hand[2:3])  # 2026-11
    after = find_oci_deliveries(store, cache=cache)
    assert store.opened == ["reports/cost-csv/0000000030000271.csv.gz"]
    assert sorted(after) == ["2023-11", "2023-12", "2026-11"]
    # A damaged cache costs a re-read, never a wrong answer.
    cache.write("{not json")
    store.opened.clear()
    assert find_oci_deliveries(store, cache=cache) == after
    assert len(store.opened) == 3
