"""A tag key's tags are read once per file, in the first slice that holds it; later slices with
the same key get the same tag columns and the same reject.

The bill is ``tests/fixtures/azure/EA_ActualCost_Small.csv`` (11 rows of 2023-09, Tags as JSON
object members). Its data rows 5 and 9 both have the tags ``"CostCenter": "SubACM"``; rows 3 and
10 are given the same malformed Tags here, and no cost (a rejected row that carries cost fails
the period's audit, which is tested elsewhere). In slices of two source rows (rows 1-2, 3-4, ... as
CSV; the Parquet form's one row group of 11 cut into rows 1, 2-3, 4-5, ... 10-11) each pair
falls into two slices.
"""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest
from conftest import FIXTURES

from costlake.focus import ingest
from costlake.focus.deliveries import Delivery, DeliveryFile
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake

EA_ACTUAL = FIXTURES / "azure" / "EA_ActualCost_Small.csv"
BAD_TAGS = '"env": "prod'  # an unterminated string: not JSON object members
BAD_ROWS = (3, 10)


def _bill(tmp_path, fmt: str) -> tuple[str, int, list[dict]]:
    """The fixture with rows 3 and 10 given ``BAD_TAGS`` and a cost of 0, as CSV or as Parquet
    of one row group (every column text); its file name, size and rows."""
    with open(EA_ACTUAL, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    for number in BAD_ROWS:
        rows[number - 1]["Tags"] = BAD_TAGS
        rows[number - 1]["Cost"] = "0"
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    folder = tmp_path / "landed"
    folder.mkdir()
    path = folder / f"part_0_0001.{fmt}"
    if fmt == "csv":
        path.write_text(text.getvalue())
    else:
        frame = pl.read_csv(io.StringIO(text.getvalue()), infer_schema=False)
        frame.write_parquet(path, row_group_size=len(rows))
    return path.name, path.stat().st_size, rows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_key_seen_in_an_earlier_slice_gets_its_tags_and_its_reject(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(ingest, "SLICE_ROWS", 2)
    name, size, rows = _bill(tmp_path, fmt)
    delivery = Delivery(
        provider="azure",
        source_dataset="azure_actual",
        billing_period="2023-09",
        delivery_id="slices",
        manifest_path="slices.manifest",
        files=(DeliveryFile(name, size),),
    )
    lake = Lake(tmp_path / "lake")
    report = ingest_delivery(delivery, tmp_path / "landed", lake)
    assert len(lake.files("focus")) == 6  # the file was read in six slices
    assert report.rows_read == 11
    assert report.rows_rejected == 2
    assert report.reject_reasons == {"Tags is not a list of JSON object members": 2}
    rejects = lake.scan_partition("rejects", "azure", "2023-09").collect()
    assert sorted(rejects["x_SourceRow"]) == list(BAD_ROWS)
    focus = lake.scan_partition("focus", "azure", "2023-09").collect()
    assert sorted(focus["x_SourceRow"]) == [n for n in range(1, 12) if n not in BAD_ROWS]
    # "CostCenter" is an alias of cost_center (costlake/data/tags.yaml); rows 5 and 9 carry it.
    same = focus.filter(pl.col("x_SourceRow").is_in([5, 9])).sort("x_SourceRow")
    assert rows[4]["Tags"] == rows[8]["Tags"] == '"CostCenter": "SubACM"'
    assert same["Tags"].to_list() == ['{"CostCenter":"SubACM"}'] * 2
    assert same["x_tag_cost_center"].str.to_lowercase().to_list() == ["subacm"] * 2
    assert same["x_tag_cost_center_source"].to_list() == ["alias"] * 2
