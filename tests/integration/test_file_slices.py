"""A file is published in slices of source rows (a Parquet file's along its row groups): the
same rows, money and duplicate count as in one slice, and each source row's FOCUS rows (a fee
and its unused part) in one part.

Expected values come from ``tests/fixtures/aws/hand_cur2.csv`` itself: its nine rows, their
``line_item_unblended_cost``, and its first row repeated at the end as a tenth.
"""

from __future__ import annotations

import csv
import io
import math

import polars as pl
import pytest
from conftest import HAND_CUR2

from costlake.focus import ingest
from costlake.focus.deliveries import Delivery, DeliveryFile
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake


def _bill(tmp_path, fmt: str) -> tuple[list[dict], str, int]:
    """The fixture with its first row repeated, landed in a folder as CSV or as Parquet of
    one-row row groups (every column text, as the CSV gives it); its rows, file name and size."""
    text = HAND_CUR2.read_text()
    lines = text.splitlines()
    data = "\n".join([*lines, lines[1]]) + "\n"
    folder = tmp_path / "landed"
    folder.mkdir()
    path = folder / f"part-1.{fmt}"
    if fmt == "csv":
        path.write_text(data)
    else:
        frame = pl.read_csv(io.StringIO(data), infer_schema=False)
        frame.write_parquet(path, row_group_size=1)
    return list(csv.DictReader(io.StringIO(data))), path.name, path.stat().st_size


def _delivery(name: str, size: int) -> Delivery:
    return Delivery(
        provider="aws",
        source_dataset="aws_cur2",
        billing_period="2026-11",
        delivery_id="slices",
        manifest_path="slices.manifest",
        files=(DeliveryFile(name, size),),
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("slice_rows", [2, 3, 1000])
def test_a_file_in_slices_gives_the_rows_money_and_duplicates_of_the_bill(
    tmp_path, monkeypatch, fmt, slice_rows
):
    monkeypatch.setattr(ingest, "SLICE_ROWS", slice_rows)
    rows, name, size = _bill(tmp_path, fmt)
    lake = Lake(tmp_path / "lake")
    report = ingest_delivery(_delivery(name, size), tmp_path / "landed", lake)
    assert report.rows_read == len(rows) == 10
    assert report.duplicate_rows == 1
    bill = sum(float(r["line_item_unblended_cost"] or 0) for r in rows)
    focus = lake.scan_partition("focus", "aws", "2026-11").collect()
    assert math.isclose(focus["BilledCost"].sum(), bill, rel_tol=1e-12)
    assert set(focus["x_SourceRow"]) == set(range(1, 11))
    # Each part holds the source rows of its own range, all FOCUS rows of each.
    parts = sorted(lake.files("focus"))
    assert len(parts) == math.ceil(10 / slice_rows)
    for number, part in enumerate(parts):
        held = set(pl.read_parquet(part)["x_SourceRow"])
        first = number * slice_rows + 1
        assert held == set(range(first, min(first + slice_rows, 11)))
