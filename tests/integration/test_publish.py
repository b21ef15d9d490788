"""Write, audit, publish: a bad re-delivery, a crash at each publish step and two runs at once
leave the last good version readable, and the next run repairs what a killed one left."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import HAND_CUR2, REPO_ROOT, check_verdicts, write_cur2_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus import ingest as ingest_module
from costlake.focus.audit import AuditOutcome
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import AuditFailed, Lake, partition_dir
from costlake.focus.lock import LockBusy

PERIOD = "2026-11"
CHILD = Path(__file__).with_name("publish_child.py")  # the other process of each test


def child(*args: object) -> list[str]:
    """The command line of a ``publish_child.py`` run."""
    return [sys.executable, str(CHILD), *map(str, args)]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def hand_total(copies: int = 1) -> float:
    """Σ line_item_unblended_cost of hand_cur2.csv read straight from the file (1,217.50 for
    its 9 rows), times the number of copies of the file a delivery holds."""
    with open(HAND_CUR2, newline="") as f:
        return float(
            copies * sum(Decimal(r["line_item_unblended_cost"]) for r in csv.DictReader(f))
        )


def with_cost(target: Path, row: int, cost: str) -> Path:
    """hand_cur2.csv with data row ``row``'s cost replaced by ``cost`` (such as "NaN")."""
    with open(HAND_CUR2, newline="") as f:
        rows = list(csv.reader(f))
    rows[row][rows[0].index("line_item_unblended_cost")] = cost
    with open(target, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return target


def deliver(bucket: Path, execution: str, copies: int = 1, source: Path = HAND_CUR2):
    """A CUR 2.0 delivery of ``copies`` copies of ``source``; (delivery, folder of its files)."""
    files = {f"part-{n}.csv": source for n in range(copies)}
    write_cur2_delivery(bucket, files, PERIOD, execution)
    store = LocalFileStore(bucket)
    delivery = find_aws_deliveries(store)[PERIOD]
    return delivery, store.local_path(delivery.files[0].path).parent


def state(lake: Lake) -> tuple[float, tuple[str, ...], str | None]:
    """What a reader sees of the period: Σ BilledCost, the delivery ids of the focus rows, and
    the delivery id the ingest record names."""
    focus = lake.scan_partition("focus", "aws", PERIOD).collect()
    record = lake.read_text(f"{partition_dir('ingests', 'aws', PERIOD)}/ingest.json")
    ingested = json.loads(record)["delivery_id"] if record else None
    return round(focus["BilledCost"].sum(), 6), tuple(sorted(set(focus["x_DeliveryId"]))), ingested


def version(total: float, delivery_id: str) -> tuple[float, tuple[str, ...], str]:
    return round(total, 6), (delivery_id,), delivery_id


@pytest.fixture
def published(bucket, tmp_path) -> Lake:
    """A lake holding November from delivery exec-1 (one copy of hand_cur2.csv)."""
    lake = Lake(tmp_path / "lake")
    ingest_delivery(*deliver(bucket, "exec-1"), lake)
    assert state(lake) == version(hand_total(), "exec-1")
    return lake


def leftovers(lake: Lake) -> list[str]:
    """What a publish leaves behind when it is not finished: journals and staging."""
    return lake.files("_journal", suffix="") + lake.files("_staging", suffix="")


# --- a failed audit publishes nothing ----------------------------------------------------------


@pytest.mark.parametrize("cost", ["NaN", "inf", "-inf"])
def test_a_non_finite_cost_publishes_nothing_and_keeps_the_failed_version(
    published, bucket, tmp_path, cost
):
    bad = with_cost(tmp_path / "bad.csv", 3, cost)
    with pytest.raises(AuditFailed) as failed:
        ingest_delivery(*deliver(bucket, "exec-2", source=bad), published)
    assert state(published) == version(hand_total(), "exec-1")  # the previous version stays
    kept = Path(failed.value.kept_at)
    assert str(kept) in str(failed.value)  # the error names where the failed version is
    assert kept.parent == published.local_path(f"_failed/aws/{PERIOD}")
    assert "reconciles_to_bill: FAILED" in (kept / "audit.txt").read_text()
    # The kept version is the bad delivery's, readable for inspection.
    staged_focus = published.scan_folder(f"{failed.value.kept}/focus", "focus").collect()
    assert set(staged_focus["x_DeliveryId"]) <= {"exec-2"}
    assert not leftovers(published)


def test_a_reader_during_a_failed_run_sees_the_last_good_version(
    published, bucket, tmp_path, monkeypatch
):
    seen = []
    real_audit = ingest_module.period_audit

    def audit_while_reading(*args):
        # Mid-run: the new version is staged, not yet judged. Another reader opens the lake.
        seen.append(state(Lake(published.root, read_only=True)))
        return real_audit(*args)

    monkeypatch.setattr(ingest_module, "period_audit", audit_while_reading)
    bad = with_cost(tmp_path / "bad.csv", 1, "NaN")
    with pytest.raises(AuditFailed):
        ingest_delivery(*deliver(bucket, "exec-2", source=bad), published)
    assert seen == [version(hand_total(), "exec-1")]
    assert state(published) == version(hand_total(), "exec-1")


def test_only_the_newest_failed_versions_are_kept(published, bucket, tmp_path):
    from costlake.focus.lake import FAILED_KEPT

    def failing(_staged):
        return (AuditOutcome("always_fails", False, True, ("failed on purpose",)),)

    for _ in range(FAILED_KEPT + 2):
        with pytest.raises(AuditFailed), published.staged_period("aws", PERIOD, audit=failing) as s:
            s.write_text("ingests", "ingest.json", "{}")
    assert len(list(published.local_path(f"_failed/aws/{PERIOD}").iterdir())) == FAILED_KEPT


def test_the_nightly_job_fails_a_nan_redelivery_and_keeps_the_good_period(
    tmp_path, bucket, nightly_run
):
    settings = {"lake_root": str(tmp_path / "lake"), "aws": [{"root": str(bucket)}]}
    write_cur2_delivery(bucket, {"a.csv": HAND_CUR2}, PERIOD, "exec-1")
    assert nightly_run(settings, "aws").success
    bad = with_cost(tmp_path / "bad.csv", 2, "NaN")
    write_cur2_delivery(bucket, {"a.csv": bad}, PERIOD, "exec-2")

    result = nightly_run(settings, "aws")

    assert not result.success
    verdicts = check_verdicts(result)
    # Every check was recorded although nothing was materialized; the money check failed.
    assert set(verdicts) == {
        "reconciles_to_bill",
        "schema_is_focus",
        "amounts_are_finite",
        "no_duplicate_line_items",
    }
    assert verdicts["reconciles_to_bill"] is False
    lake = Lake(tmp_path / "lake")
    assert state(lake) == version(hand_total(), "exec-1")
    # The raw delivery of the published version is still there, beside the failed one.
    raw = lake.local_path(partition_dir("raw", "aws", PERIOD))
    assert {p.name for p in raw.glob("*/*") if p.is_dir()} >= {"exec-1", "exec-2"}
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    (kept,) = lake.local_path(f"_failed/aws/{PERIOD}").iterdir()
    assert str(kept) in failure.step_failure_data.error.message


# --- a crash at each publish step ---------------------------------------------------------------


def run_crashing(root: str, bucket: Path, work: Path, die_at: int, mode: str) -> int:
    """An ingest in another process that dies (os._exit) just before its ``die_at``th publish
    step: every rename, exchange, copy or delete of the lake's files. Its exit status."""
    run = subprocess.run(
        child("crash", root, bucket, work, die_at, mode),
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 17), run.stderr
    return run.returncode


# With an exchange: the journal renamed in place, an exchange per table (focus, rejects, the
# contract commitments, ingests), the journal removed, the staging removed: 7 steps. Where the
# filesystem cannot exchange, each table takes the attempt and two renames: 15 steps. One more
# than the steps lets the publish finish.
@pytest.mark.parametrize(
    ("mode", "die_at"),
    [("exchange", n) for n in range(1, 9)] + [("rename", n) for n in range(1, 17)],
)
def test_a_crash_at_each_publish_step_is_repaired_on_the_next_open(
    published, bucket, tmp_path, mode, die_at
):
    deliver(bucket, "exec-2", copies=2)  # the new version: both files, twice the cost
    old, new = version(hand_total(), "exec-1"), version(hand_total(2), "exec-2")
    code = run_crashing(published.root, bucket, tmp_path / "work", die_at, mode)

    reader = Lake(published.root, read_only=True)  # what a reader sees before any repair
    total, focus_ids, _ = state(reader)
    if mode == "rename" and die_at == 4:
        # Killed between the two renames of focus: its period is missing until the repair
        # (the gap the exchange closes).
        assert (total, focus_ids) == (0, ())
    else:
        # focus is whole: the previous version or the new one, never a mix of files.
        assert (total, focus_ids) in {old[:2], new[:2]}
    if code == 17:
        assert reader.files("_staging", suffix="")  # the dead run's work is still there

    repaired = Lake(published.root)  # the next open repairs, as the next run would
    # Before the journal is in place nothing was published; after it, the audited version is
    # rolled forward whole.
    assert state(repaired) == (old if die_at == 1 else new)
    assert not leftovers(repaired)


def test_a_killed_runs_staging_is_cleaned_by_the_next_but_a_live_runs_is_not(published, tmp_path):
    holding = tmp_path / "holding"
    writer = subprocess.Popen(child("stage-and-die", published.root, holding), env=child_env())
    while not holding.exists():
        assert writer.poll() is None, "the writer died before staging"
        time.sleep(0.05)
    stage = holding.read_text()
    Lake(published.root)  # opened while the writer lives: its staging is left alone
    assert published.exists(stage)
    Path(f"{holding}.kill").write_text("")
    assert writer.wait() == 9
    Lake(published.root)  # the next open: the writer is dead, its staging goes
    assert not published.exists(stage)
    assert state(published) == version(hand_total(), "exec-1")


# --- two runs at once ---------------------------------------------------------------------------


def start_holder(root: str, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    ready, release = tmp_path / "ready", tmp_path / "release"
    holder = subprocess.Popen(child("hold", root, ready, release), env=child_env())
    while not ready.exists():
        assert holder.poll() is None, "the holder died before taking the lock"
        time.sleep(0.05)
    return holder, ready, release


def test_a_second_run_fails_naming_the_run_that_holds_the_period(published, bucket, tmp_path):
    holder, _, release = start_holder(published.root, tmp_path)
    try:
        impatient = Lake(published.root, lock_wait_seconds=0.5)
        expected = rf"aws/{PERIOD} is being written by .* pid {holder.pid} \(run-holder\)"
        with pytest.raises(LockBusy, match=expected):
            ingest_delivery(*deliver(bucket, "exec-2", copies=2), impatient)
        assert state(published) == version(hand_total(), "exec-1")
    finally:
        release.write_text("")
        assert holder.wait() == 0


def test_a_second_run_waits_for_the_first_then_publishes(published, bucket, tmp_path):
    holder, ready, release = start_holder(published.root, tmp_path)
    # Let the holder go a little later, while this run is waiting for the lock.
    threading.Timer(1.0, release.write_text, args=("",)).start()
    ingest_delivery(*deliver(bucket, "exec-2", copies=2), Lake(published.root))
    assert holder.wait() == 0
    assert json.loads(Path(f"{ready}.seen").read_text()) == ["exec-1"]
    assert state(published) == version(hand_total(2), "exec-2")


def test_two_runs_at_once_leave_one_whole_version(published, tmp_path):
    buckets = {"exec-2": (tmp_path / "b2", 2), "exec-3": (tmp_path / "b3", 3)}
    for execution, (folder, copies) in buckets.items():
        deliver(folder, execution, copies=copies)
    runs = [
        subprocess.Popen(child("ingest", published.root, folder), env=child_env())
        for folder, _ in buckets.values()
    ]
    assert [run.wait() for run in runs] == [0, 0]  # one waited for the other
    assert state(published) in {
        version(hand_total(2), "exec-2"),
        version(hand_total(3), "exec-3"),
    }
    assert not leftovers(published)
