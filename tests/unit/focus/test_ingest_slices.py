"""A Parquet file read in slices gives the lake exactly what one read gives."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus import ingest
from costlake.focus.lake import Lake
from costlake.focus.readers import parquet_slices
from demo.aws import write_synthetic_cur2_export

ROWS = 2_000


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A synthetic CUR 2.0 Parquet delivery, each file rewritten in 150-row row groups."""
    bucket = tmp_path_factory.mktemp("bucket")
    write_synthetic_cur2_export(bucket, ROWS, "parquet", files=2)
    for path in bucket.rglob("*.parquet"):
        pq.write_table(pq.read_table(path), path, row_group_size=150)
    store = LocalFileStore(bucket)
    (delivery,) = find_aws_deliveries(store).values()
    return delivery, store.local_path(delivery.files[0].path).parent


def test_slices_take_small_row_groups_whole_and_cut_large_ones(export, tmp_path):
    delivery, folder = export
    path = folder / delivery.files[0].path.rsplit("/", 1)[-1]
    assert pq.read_metadata(path).num_rows == ROWS // 2  # 1,000 rows: 6 × 150 + 100
    # At most 400 rows a slice, whole groups together: 150+150, 150+150, then 150+150+100.
    assert parquet_slices(path, 400) == [(0, 300), (300, 300), (600, 400)]
    # At most 100: each 150-row group in two halves of 75, the last group of 100 whole.
    assert parquet_slices(path, 100) == [(i, 75) for i in range(0, 900, 75)] + [(900, 100)]
    # One 1,000-row group (as a writer may make it) and a 10-row one, at most 300 a slice:
    # the large group in four parts of 250, then the small one.
    mixed = tmp_path / "mixed.parquet"
    table = pq.read_table(path)
    with pq.ParquetWriter(mixed, table.schema) as writer:
        writer.write_table(table, row_group_size=1_000)
        writer.write_table(table.slice(0, 10))
    assert [pq.read_metadata(mixed).row_group(i).num_rows for i in range(2)] == [1_000, 10]
    assert parquet_slices(mixed, 300) == [(0, 250), (250, 250), (500, 250), (750, 250), (1000, 10)]


@pytest.mark.parametrize("slice_rows", [400, 100])  # row groups taken together; cut in two
def test_sliced_ingest_equals_one_read(tmp_path, export, monkeypatch, slice_rows):
    delivery, folder = export
    whole = ingest.ingest_delivery(delivery, folder, Lake(tmp_path / "whole"))
    monkeypatch.setattr(ingest, "SLICE_ROWS", slice_rows)
    sliced_lake = Lake(tmp_path / "sliced")
    sliced = ingest.ingest_delivery(delivery, folder, sliced_lake)

    def source_cost(path):
        return pc.sum(pq.read_table(path, columns=["line_item_unblended_cost"])[0]).as_py()

    expected = sum(source_cost(folder / f.path.rsplit("/", 1)[-1]) for f in delivery.files)
    assert sliced.rows_read == whole.rows_read == ROWS
    assert sliced.rows_written == whole.rows_written
    assert sliced.bill_totals == {"USD": pytest.approx(expected, rel=1e-12)}
    parts = sliced_lake.files("focus/provider=aws/billing_period=2026-11")
    assert [p.rsplit("/", 1)[-1] for p in parts][:2] == [
        "part-00000-0000.parquet",
        "part-00000-0001.parquet",
    ]
    key = ["x_SourceFile", "x_SourceRow"]
    one = Lake(tmp_path / "whole").scan("focus").collect().sort(key, maintain_order=True)
    many = sliced_lake.scan("focus").collect().sort(key, maintain_order=True)
    assert many.equals(one)
