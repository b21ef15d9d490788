"""The lake's FOCUS output passes the public FOCUS validator (focus-validator 2.2.1, FOCUS 1.2).

Only the accepted failures listed in focus_validation.py (contradictions in the validator's own
1.2.0.1 rule model) are tolerated; everything else it reports fails the test.
"""

from __future__ import annotations

import pytest
from conftest import AWS_SAMPLE, HAND_CUR2

from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file
from demo.aws import write_demo_aws_export


@pytest.mark.parametrize(
    ("source", "dataset"), [(AWS_SAMPLE, "aws_cur_legacy"), (HAND_CUR2, "aws_cur2")]
)
def test_normalized_fixture_passes_the_validator(tmp_path, focus_validator, source, dataset):
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, dataset, None)
    assert focus_validator(lake, tmp_path) == []


def test_demo_output_passes_the_validator(tmp_path, focus_validator):
    from connectors.exports.aws import find_aws_deliveries
    from connectors.stores.files import LocalFileStore
    from costlake.focus.ingest import ingest_delivery

    bucket = tmp_path / "bucket"
    write_demo_aws_export(bucket)
    store = LocalFileStore(bucket)
    lake = Lake(tmp_path / "lake")
    for delivery in find_aws_deliveries(store).values():
        folder = store.local_path(delivery.files[0].path).parent
        ingest_delivery(delivery, folder, lake)
    assert focus_validator(lake, tmp_path) == []
