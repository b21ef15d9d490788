"""Deliveries, not files: the newest manifest of a period decides what is read."""

from __future__ import annotations

import json
import os

import pytest
from conftest import AWS_SAMPLE, HAND_CUR2, write_cur2_delivery, write_legacy_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore, safe_key
from costlake.focus.deliveries import DeliveryError


def test_legacy_root_manifest_names_the_current_assembly(bucket):
    write_legacy_delivery(bucket, AWS_SAMPLE, "asm-old")
    write_legacy_delivery(bucket, AWS_SAMPLE, "asm-new")  # rewrites the root manifest
    found = find_aws_deliveries(LocalFileStore(bucket), "cur")
    delivery = found["2023-11"]
    assert delivery.delivery_id == "asm-new"
    assert delivery.source_dataset == "aws_cur_legacy"
    assert [f.path for f in delivery.files] == [
        "cur/report/20231101-20231201/asm-new/report-1.csv.gz"
    ]
    # The stale assembly's file is still in the bucket but not part of the delivery.
    assert (bucket / "cur/report/20231101-20231201/asm-old/report-1.csv.gz").exists()


def test_cur2_newest_manifest_of_each_period_wins(bucket):
    old = write_cur2_delivery(bucket, {"a.csv": HAND_CUR2}, "2026-11", "exec-1")
    os.utime(old, (1_000, 1_000))
    newer = bucket / "cur2/exp/metadata/BILLING_PERIOD=2026-11/exec-2/exp-Manifest.json"
    newer.parent.mkdir(parents=True)
    key = "cur2/exp/data/BILLING_PERIOD=2026-11/exec-2/b.csv"
    (bucket / key).parent.mkdir(parents=True)
    (bucket / key).write_bytes(HAND_CUR2.read_bytes())
    newer.write_text(json.dumps({"executionId": "exec-2", "dataFiles": [f"s3://bucket/{key}"]}))
    delivery = find_aws_deliveries(LocalFileStore(bucket), "cur2")["2026-11"]
    assert delivery.delivery_id == "exec-2"
    assert [f.path for f in delivery.files] == [key]
    assert delivery.files[0].size == HAND_CUR2.stat().st_size


def test_focus_export_is_recognised_by_its_columns(bucket):
    manifest = write_cur2_delivery(bucket, {"a.csv": HAND_CUR2}, "2026-10", "exec-9")
    data = json.loads(manifest.read_text())
    data["columns"] = [{"name": "BilledCost", "type": "double"}]
    manifest.write_text(json.dumps(data))
    assert find_aws_deliveries(LocalFileStore(bucket))["2026-10"].source_dataset == "aws_focus"


def test_manifest_naming_a_missing_file_fails_naming_it(bucket):
    manifest = write_cur2_delivery(bucket, {"a.csv": HAND_CUR2}, "2026-11", "exec-1")
    data = json.loads(manifest.read_text())
    data["dataFiles"].append("s3://bucket/cur2/exp/data/BILLING_PERIOD=2026-11/exec-1/gone.csv")
    manifest.write_text(json.dumps(data))
    with pytest.raises(DeliveryError, match=r"exp-Manifest\.json.*gone\.csv"):
        find_aws_deliveries(LocalFileStore(bucket))


def test_keys_escaping_the_store_are_refused():
    with pytest.raises(ValueError, match="outside the store"):
        safe_key("cur/../../etc/passwd")
    with pytest.raises(ValueError):
        safe_key("/etc/passwd")


def test_gcp_month_folders_are_deliveries_and_one_table_per_source(tmp_path):
    from connectors.exports.gcp import find_gcp_deliveries

    month = tmp_path / "gcp_billing_export_v1_01A2B3/invoice_month=202611"
    month.mkdir(parents=True)
    (month / "a.jsonl").write_text("{}\n")
    first = find_gcp_deliveries(LocalFileStore(tmp_path))["2026-11"]
    assert first.source_dataset == "gcp_billing_export"
    assert [f.path for f in first.files] == [
        "gcp_billing_export_v1_01A2B3/invoice_month=202611/a.jsonl"
    ]
    (month / "a.jsonl").write_text("{}\n{}\n")  # re-exported: a new delivery
    assert find_gcp_deliveries(LocalFileStore(tmp_path))["2026-11"].delivery_id != first.delivery_id
    detailed = tmp_path / "gcp_billing_export_resource_v1_01A2B3/invoice_month=202611"
    detailed.mkdir(parents=True)
    (detailed / "b.jsonl").write_text("{}\n")
    with pytest.raises(DeliveryError, match="standard and the detailed"):
        find_gcp_deliveries(LocalFileStore(tmp_path))


def test_a_symlink_leading_out_of_the_export_folder_is_refused_naming_it(bucket, tmp_path):
    manifest = write_cur2_delivery(bucket, {"part-1.csv": HAND_CUR2}, "2026-11", "exec-1")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "id_rsa").write_text("not a bill")
    link = manifest.parent / "notes.json"
    link.symlink_to(outside / "id_rsa")
    with pytest.raises(DeliveryError) as error:
        find_aws_deliveries(LocalFileStore(bucket), "cur2")
    assert str(error.value).startswith(f"{link}: a symbolic link to {outside / 'id_rsa'}, outside")
    link.unlink()
    (bucket / "cur2" / "elsewhere").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DeliveryError, match="elsewhere: a symbolic link to .*private, outside"):
        LocalFileStore(bucket).list("")


def test_a_key_through_a_symlinked_folder_is_refused_and_one_inside_is_read(bucket, tmp_path):
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "x.csv").write_text("a,b\n")
    (bucket / "out").symlink_to(outside, target_is_directory=True)
    store = LocalFileStore(bucket)
    for read in (store.open, store.local_path):
        with pytest.raises(DeliveryError, match="out/x.csv: a symbolic link"):
            read("out/x.csv")  # as a manifest naming it would
    (bucket / "real.csv").write_text("a,b\n")
    (bucket / "alias.csv").symlink_to(bucket / "real.csv")  # stays inside: fine
    with store.open("alias.csv") as stream:
        assert stream.read() == b"a,b\n"
