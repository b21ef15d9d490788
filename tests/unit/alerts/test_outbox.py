"""The alert outbox in the lake: each id pending until delivered, known ids ignored, records
written whole, one run delivering at a time (on S3: tests/services/test_remote_lake.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from costlake.alerts import LOCK_NAME, OUTBOX_DIR, Alert, Outbox
from costlake.focus.lake import Lake

A = Alert(
    "a-1", "anomaly", "Cost anomaly · aws", ("2025-11-02: actual 5.00 USD",), "high", "2025-11"
)
B = Alert(
    "b-2", "budget", "Budget · team atlas", ("spent 80 % of 1,000.00 USD",), "medium", "2025-11"
)
ODD = Alert("budget/atlas 2025-11 (80 %)", "budget", "Budget", ("x",), "low", "2025-11")


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(Lake(tmp_path / "lake"))


def test_new_ids_become_pending_and_known_ones_are_ignored(outbox):
    assert outbox.add([A, B, A]) == 2  # A given twice counts once
    assert outbox.pending() == [A, B]  # added in one call: by id
    changed = Alert("a-1", "anomaly", "Cost anomaly · aws", ("another text",), "low", "2025-11")
    assert outbox.add([changed]) == 0  # a known id keeps what was first added
    assert outbox.pending() == [A, B]


def test_a_delivered_alert_is_neither_pending_nor_added_again(outbox):
    outbox.add([A, B])
    outbox.mark_delivered([A.alert_id])
    assert outbox.pending() == [B]
    assert outbox.add([A]) == 0
    assert outbox.pending() == [B]


def test_a_failed_alert_stays_pending_and_counts_its_attempts(outbox):
    outbox.add([A])
    outbox.mark_failed([A.alert_id], "http://127.0.0.1:1/…: HTTP 500 after 5 attempts")
    outbox.mark_failed([A.alert_id], "http://127.0.0.1:1/…: ConnectionError")
    assert outbox.pending() == [A]
    failures = outbox.failures(A.alert_id)
    assert (failures["attempts"], failures["error"]) == (2, "http://127.0.0.1:1/…: ConnectionError")
    outbox.mark_delivered([A.alert_id])
    assert outbox.pending() == []


def test_an_id_that_is_no_file_name_is_kept_by_its_digest(outbox):
    outbox.add([ODD])
    [name] = [p.name for p in Path(outbox.folder).iterdir()]
    assert len(name) == 64 + len(".json") and "/" not in name
    assert outbox.pending() == [ODD]
    outbox.mark_delivered([ODD.alert_id])
    assert outbox.pending() == []


def test_the_outbox_is_in_the_lake_not_the_working_folder(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        Outbox(Lake(lake)).add([A])
    assert Outbox(Lake(lake)).pending() == [A]
    assert (lake / OUTBOX_DIR / "a-1.json").is_file()
    assert list((tmp_path / "one").iterdir()) == list((tmp_path / "two").iterdir()) == []


def test_a_half_written_file_is_never_read(outbox):
    outbox.add([A])
    # A writer killed mid-write leaves only its temporary file, under a name readers skip.
    (Path(outbox.folder) / ".tmp-b-2.json.tmp").write_text('{"alert": {"alert_id": "b-')
    assert outbox.pending() == [A]


def test_one_run_delivers_at_a_time_and_a_dead_runs_lease_expires(outbox):
    with outbox.delivering(wait=0) as first:
        assert first is not None
        with outbox.delivering(wait=0.3) as second:
            assert second is None  # another run holds it: this one leaves the alerts pending
    with outbox.delivering(wait=0) as again:
        assert again is not None  # released at the end of the block
    lock = Path(outbox.folder) / LOCK_NAME
    lock.write_text('{"token": "a run that was killed"}')
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with outbox.delivering(wait=1, lease=60) as taken:
        assert taken is not None
    assert not lock.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"lines": ("fine", None)}, "every line must be text"),
        ({"alert_id": ""}, "alert id"),
        ({"alert_id": "x" * 256}, "alert id"),
        ({"severity": ""}, "severity"),
        ({"billing_period": "2025-13"}, "billing period '2025-13'"),
    ],
)
def test_an_alert_without_its_text_is_refused(fields, error):
    values = {
        "alert_id": "i",
        "kind": "anomaly",
        "title": "t",
        "lines": ("l",),
        "severity": "high",
        "billing_period": "2025-11",
        **fields,
    }
    with pytest.raises(ValueError, match=error):
        Alert(**values)


def test_an_alerts_period_is_normalized():
    assert Alert("i", "budget", "t", ["l"], "low", "2025-5").billing_period == "2025-05"
    assert Alert("i", "budget", "t", ["l"], "low", "2025-5").lines == ("l",)
