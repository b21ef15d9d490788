"""The lake's FOCUS output passes the public FOCUS validator (focus-validator 2.2.1, FOCUS 1.2).

Only the accepted failures listed in focus_validation.py (contradictions in the validator's own
1.2.0.1 rule model) are tolerated; everything else it reports fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import AWS_SAMPLE, HAND_CUR2
from focus_validation import focus_validation_failures, validator_executable

from costlake.demo_data import write_demo_aws_export
from costlake.lake import Lake
from costlake.single_file import normalize_file


@pytest.fixture(autouse=True)
def require_validator():
    if validator_executable() is None:
        message = "no FOCUS validator: run `bash scripts/setup_validator_env.sh` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def one_file(lake: Lake, target: Path) -> Path:
    """Every FOCUS part of the lake as one Parquet file, as the validator reads one file."""
    tables = [pq.read_table(f) for f in lake.files("focus")]
    writer = pq.ParquetWriter(target, tables[0].schema)
    for table in tables:
        writer.write_table(table)
    writer.close()
    return target


@pytest.mark.parametrize(
    ("source", "dataset"), [(AWS_SAMPLE, "aws_cur_legacy"), (HAND_CUR2, "aws_cur2")]
)
def test_normalized_fixture_passes_the_validator(tmp_path, source, dataset):
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, dataset, None)
    assert focus_validation_failures(one_file(lake, tmp_path / "focus.parquet")) == []


def test_demo_output_passes_the_validator(tmp_path):
    from connectors.aws_exports import find_aws_deliveries
    from connectors.filestore import LocalFileStore
    from costlake.ingest import ingest_delivery

    bucket = tmp_path / "bucket"
    write_demo_aws_export(bucket)
    store = LocalFileStore(bucket)
    lake = Lake(tmp_path / "lake")
    for delivery in find_aws_deliveries(store).values():
        folder = store.local_path(delivery.files[0].path).parent
        ingest_delivery(delivery, folder, lake)
    assert focus_validation_failures(one_file(lake, tmp_path / "focus.parquet")) == []
