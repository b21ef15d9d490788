"""A repeated source row that becomes several FOCUS rows (an AWS fee and its unused part, a GCP
row and its credits) is one duplicate, not one per FOCUS row.

The expected counts come from the fixtures themselves: ``hand_cur2.csv`` line 4 is a
SavingsPlanRecurringFee and line 6 an RIFee, each with an unused part; line 1 of
``hand_billing_export.jsonl`` has two credits.
"""

from __future__ import annotations

import json

from conftest import FIXTURES, HAND_CUR2

from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file


def test_a_repeated_fee_row_with_its_unused_part_is_one_duplicate(tmp_path):
    lines = HAND_CUR2.read_text().splitlines()
    assert "SavingsPlanRecurringFee" in lines[3] and "RIFee" in lines[5]
    path = tmp_path / "cur2.csv"
    path.write_text("\n".join([*lines, lines[3], lines[5]]) + "\n")
    report = normalize_file(path, Lake(tmp_path / "lake"), "aws_cur2", "2026-11")
    assert report.rows_read == len(lines) - 1 + 2
    assert report.duplicate_rows == 2


def test_a_repeated_row_with_two_credits_is_one_duplicate(tmp_path):
    source = FIXTURES / "gcp" / "hand_billing_export.jsonl"
    lines = source.read_text().splitlines()
    assert len(json.loads(lines[0])["credits"]) == 2
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    report = normalize_file(path, Lake(tmp_path / "lake"), "gcp_billing_export", "2026-11")
    assert report.rows_read == len(lines) + 1
    assert report.duplicate_rows == 1
