"""The lake keeps its last good version through bad deliveries, crashes and reruns."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import AWS_SAMPLE, HAND_CUR2, gzip_file, write_legacy_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.exports.landing import land_delivery
from connectors.stores.files import LocalFileStore
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import AuditFailed, Lake, partition_dir

SAMPLE_TOTAL = 1.6823086974  # Σ lineItem/UnblendedCost of the sample, summed by hand in Decimal


def ingest_newest(bucket: Path, lake: Lake, tmp_path: Path):
    delivery = find_aws_deliveries(LocalFileStore(bucket))["2023-11"]
    folder = land_delivery(
        LocalFileStore(bucket), delivery, tmp_path / "raw" / delivery.delivery_id
    )
    return ingest_delivery(delivery, folder, lake)


def period_state(lake: Lake) -> tuple[int, float]:
    focus = lake.scan_partition("focus", "aws", "2023-11").collect()
    return focus.height, round(focus["BilledCost"].sum(), 10)


def sample_rows() -> list[list[str]]:
    with open(AWS_SAMPLE, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture
def good_lake(bucket, tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    write_legacy_delivery(bucket, AWS_SAMPLE, "asm-good")
    ingest_newest(bucket, lake, tmp_path)
    assert period_state(lake) == (1281, SAMPLE_TOTAL)
    return lake


def test_truncated_gzip_fails_naming_the_file_and_keeps_the_lake(good_lake, bucket, tmp_path):
    write_legacy_delivery(bucket, AWS_SAMPLE, "asm-truncated")
    key = bucket / "cur/report/20231101-20231201/asm-truncated/report-1.csv.gz"
    data = key.read_bytes()
    key.write_bytes(data[: len(data) // 2])
    with pytest.raises(DeliveryError, match=r"asm-truncated/report-1\.csv\.gz"):
        ingest_newest(bucket, good_lake, tmp_path)
    assert period_state(good_lake) == (1281, SAMPLE_TOTAL)
    assert not good_lake.files("_staging")


def test_missing_column_fails_naming_it_and_keeps_the_lake(good_lake, bucket, tmp_path):
    rows = sample_rows()
    drop = rows[0].index("lineItem/LineItemType")
    broken = tmp_path / "broken.csv"
    with open(broken, "w", newline="") as f:
        csv.writer(f).writerows(r[:drop] + r[drop + 1 :] for r in rows)
    write_legacy_delivery(bucket, broken, "asm-broken")
    with pytest.raises(DeliveryError, match=r"report-1\.csv\.gz.*line_item_line_item_type"):
        ingest_newest(bucket, good_lake, tmp_path)
    assert period_state(good_lake) == (1281, SAMPLE_TOTAL)


def test_manifest_naming_a_missing_file_keeps_the_lake(good_lake, bucket, tmp_path):
    write_legacy_delivery(bucket, AWS_SAMPLE, "asm-missing")
    (bucket / "cur/report/20231101-20231201/asm-missing/report-1.csv.gz").unlink()
    with pytest.raises(DeliveryError, match=r"asm-missing/report-1\.csv\.gz"):
        ingest_newest(bucket, good_lake, tmp_path)
    assert period_state(good_lake) == (1281, SAMPLE_TOTAL)


def test_a_cost_that_is_not_a_number_is_rejected_and_fails_the_audit(good_lake, bucket, tmp_path):
    rows = sample_rows()
    cost = rows[0].index("lineItem/UnblendedCost")
    rows[5][cost] = "12,50"  # data row 5 (header excluded)
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    write_legacy_delivery(bucket, bad, "asm-badcost")
    with pytest.raises(AuditFailed, match="1 rejected row") as failed:
        ingest_newest(bucket, good_lake, tmp_path)
    report = failed.value.report
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (1281, 1280, 1)
    # Nothing published: the good version stays; the failed one is kept with its reject.
    assert period_state(good_lake) == (1281, SAMPLE_TOTAL)
    kept = f"{failed.value.kept}/{partition_dir('rejects', 'aws', '2023-11')}"
    rejects = good_lake.scan_folder(kept, "rejects").collect()
    assert rejects.height == 1
    reject = rejects.row(0, named=True)
    assert reject["x_SourceFile"].endswith("asm-badcost/report-1.csv.gz")
    assert reject["x_SourceRow"] == 5
    assert "line_item_unblended_cost is not a number" in reject["reason"]
    assert reject["raw_cost"] == "12,50"


def test_rerunning_the_same_delivery_gives_the_same_bytes(good_lake, bucket, tmp_path):
    def digests() -> list[str]:
        files = good_lake.files("focus") + good_lake.files("rejects")
        return [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]

    before = digests()
    ingest_newest(bucket, good_lake, tmp_path)
    assert digests() == before


def test_a_crash_while_writing_leaves_the_previous_version(good_lake):
    with pytest.raises(RuntimeError), good_lake.staged_period("aws", "2023-11") as staged:
        staged.write_text("focus", "part-00000.parquet", "half a file")
        raise RuntimeError("power cut")
    assert period_state(good_lake) == (1281, SAMPLE_TOTAL)
    assert not good_lake.files("_staging", suffix="")


def test_gzip_and_plain_csv_give_the_same_rows(tmp_path):
    from costlake.focus.single_file import normalize_file

    plain, packed = Lake(tmp_path / "a"), Lake(tmp_path / "b")
    normalize_file(AWS_SAMPLE, plain, "aws_cur_legacy", None)
    normalize_file(gzip_file(AWS_SAMPLE, tmp_path / "s.csv.gz"), packed, "aws_cur_legacy", None)
    drop = ["x_SourceFile", "x_DeliveryId"]
    assert plain.scan().drop(drop).collect().equals(packed.scan().drop(drop).collect())


def test_a_period_written_before_a_new_x_column_is_refused_not_read_as_a_mix(tmp_path):
    from costlake.focus.lake import LakeVersionError
    from costlake.focus.single_file import normalize_file

    lake = Lake(tmp_path / "lake")
    normalize_file(HAND_CUR2, lake, "aws_cur2", "2026-11")
    # An older table version's file of another period: the same rows without x_ProjectLabels
    # and without the table version in its metadata (as polars writes it).
    old = lake.scan_partition("focus", "aws", "2026-11").collect().drop("x_ProjectLabels")
    folder = lake.local_path("focus/provider=aws/billing_period=2026-10")
    folder.mkdir(parents=True)
    old.write_parquet(folder / "part-00000.parquet")
    with pytest.raises(LakeVersionError, match="provider=aws/billing_period=2026-10"):
        lake.scan("focus")
    # Rebuilt (here: removed and written again by this version), the table reads again.
    shutil.rmtree(folder)
    normalize_file(HAND_CUR2, lake, "aws_cur2", "2026-11")
    assert lake.scan("focus").collect().height == old.height
