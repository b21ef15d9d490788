"""The anomaly marts of a period: restatements clear a provisional event, an event closes,
each explanation adds up to its event's excess, and a webhook hears of an event once.

The hand-made bill: one AWS account "111" with Amazon EC2 (two instances, 60 + 40 a day) from
2026-09-01. On 2026-10-20, the newest day of the lake, instance i-b costs 340 instead of 40:
the day's 400 against an expected 100 (the series is flat: every level and weekday factor says
100) is a deviation of +300, far beyond every threshold (the noise is its 3 % floor, so 300 is
100 spreads of 3; min_abs 50; min_rel 15 %). AWS settles in one day, so the newest day is
provisional.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
import yaml
from dagster import DagsterInstance
from webhook_receiver import PATH, receiving

from costlake.anomalies.detector import AnomalySettings
from costlake.anomalies.marts import data_horizon, period_anomalies
from costlake.focus.schema import FOCUS_FILE_METADATA, conform_to_focus, focus_polars_schema

FIRST, AFTER = date(2026, 10, 1), date(2026, 11, 1)
SPIKE = date(2026, 10, 20)


def focus_rows(last: date, spike: float | None, days: int = 1) -> pl.DataFrame:
    """Daily EC2 rows of account 111 from 2026-09-01 to ``last``; i-b costs ``spike`` on
    SPIKE (and the ``days - 1`` days before it) when given."""
    rows = []
    day = date(2026, 9, 1)
    while day <= last:
        for resource, cost in (("i-a", 60.0), ("i-b", 40.0)):
            spiking = SPIKE - timedelta(days=days - 1) <= day <= SPIKE
            if resource == "i-b" and spiking and spike is not None:
                cost = spike
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            rows.append(
                {
                    "x_Provider": "aws",
                    "BillingAccountId": "111",
                    "SubAccountId": "111",
                    "ServiceName": "Amazon EC2",
                    "RegionId": "us-east-1",
                    "ResourceId": resource,
                    "ChargePeriodStart": start,
                    "ChargePeriodEnd": start + timedelta(days=1),
                    "ChargeCategory": "Usage",
                    "ChargeFrequency": "Usage-Based",
                    "BilledCost": cost,
                    "EffectiveCost": cost,
                    "BillingCurrency": "USD",
                    "x_tag_project": "atlas",
                    "x_Untaggable": False,
                }
            )
        day += timedelta(days=1)
    frame = pl.DataFrame(rows)
    schema = focus_polars_schema()
    return frame.select(
        [
            pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )


ACCOUNT_SERVICE = "x_Provider × BillingAccountId × ServiceName"


def event_of(result) -> dict:
    rows = result.events.filter(pl.col("grouping") == ACCOUNT_SERVICE)
    assert rows.height == 1
    return rows.row(0, named=True)


def test_a_restated_day_clears_its_provisional_event_on_the_next_run():
    focus = focus_rows(SPIKE, spike=340.0).lazy()
    assert data_horizon(focus) == SPIKE
    first = period_anomalies(focus, FIRST, AFTER, SPIKE, AnomalySettings())
    flagged = event_of(first)
    assert (flagged["start"], flagged["state"], flagged["provisional"]) == (SPIKE, "open", True)
    assert flagged["status_change"] == "new"
    assert (flagged["actual"], flagged["expected"], flagged["excess"]) == (400.0, 100.0, 300.0)
    day = first.scores.filter((pl.col("grouping") == ACCOUNT_SERVICE) & (pl.col("day") == SPIKE))
    assert day.select("status", "event_id").row(0) == ("anomaly", flagged["event_id"])

    # AWS restates the day (i-b back to 40) and delivers the next one: the event is gone.
    restated = focus_rows(SPIKE + timedelta(days=1), spike=None).lazy()
    second = period_anomalies(
        restated, FIRST, AFTER, SPIKE + timedelta(days=1), AnomalySettings(), previous=first.events
    )
    cleared = event_of(second)
    assert cleared["event_id"] == flagged["event_id"]
    assert (cleared["state"], cleared["status_change"]) == ("cleared", "cleared")
    assert cleared["previous_state"] == "open"


def test_an_event_closes_after_a_quiet_day_more_than_its_gap():
    # gap_days is 1: on 2026-10-21 (one normal day) the event may still go on: open; on
    # 2026-10-22 (two) it is closed, ending on the 20th.
    first = period_anomalies(
        focus_rows(SPIKE, spike=340.0).lazy(), FIRST, AFTER, SPIKE, AnomalySettings()
    )
    runs = [first]
    for extra in (1, 2):
        later = focus_rows(SPIKE + timedelta(days=extra), spike=340.0).lazy()
        runs.append(
            period_anomalies(
                later,
                FIRST,
                AFTER,
                SPIKE + timedelta(days=extra),
                AnomalySettings(),
                previous=runs[-1].events,
            )
        )
    states = [(event_of(r)["state"], event_of(r)["status_change"]) for r in runs]
    assert states == [("open", "new"), ("open", "unchanged"), ("closed", "closed")]
    closed = event_of(runs[-1])
    assert (closed["end"], closed["provisional"]) == (SPIKE, False)


def test_each_dimensions_contributions_add_up_to_the_events_excess():
    # i-b at 340 for three days (18-20 October): one event of three days, 3 x 300 = 900.
    result = period_anomalies(
        focus_rows(SPIKE, spike=340.0, days=3).lazy(), FIRST, AFTER, SPIKE, AnomalySettings()
    )
    event = event_of(result)
    assert (event["start"], event["days"], event["excess"]) == (date(2026, 10, 18), 3, 900.0)
    parts = result.contributions.filter(pl.col("event_id") == event["event_id"])
    sums = parts.group_by("dimension").agg(pl.col("contribution").sum())
    assert set(sums["dimension"]) >= {"ResourceId", "SubAccountId", "RegionId"}
    for total in sums["contribution"]:
        assert total == pytest.approx(900.0, abs=1e-9)
    by_resource = dict(
        parts.filter(pl.col("dimension") == "ResourceId")
        .select("value", "contribution")
        .iter_rows()
    )
    assert by_resource["i-b"] == pytest.approx(900.0)  # 340 against its usual 40, three days
    assert by_resource["i-a"] == pytest.approx(0.0, abs=1e-9)


def test_the_period_job_alerts_a_webhook_once(tmp_path, monkeypatch):
    """Runs of the period marts over the same lake, each from its own working folder: the
    first meets a webhook that is down (500 beyond the retries), the second a recovered one,
    which gets the pending alerts once; the third sends nothing. The webhook's secret path
    never reaches the run's logs or metadata."""
    from pipelines.definitions import defs

    lake = tmp_path / "lake"
    part = lake / "focus/provider=aws/billing_period=2026-10"
    part.mkdir(parents=True)
    # A period file as the lake writes it: the contract's columns and table version.
    contract = conform_to_focus(focus_rows(SPIKE, spike=340.0).lazy()).collect()
    contract.write_parquet(part / "part-00000.parquet", metadata=FOCUS_FILE_METADATA)
    config = tmp_path / "costlake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "lake_root": str(lake),
                "anomalies": {"webhook_url_env": "COSTLAKE_TEST_WEBHOOK"},
            }
        )
    )
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("period_marts")
    runs = []
    with receiving(then=500) as hook:
        monkeypatch.setenv("COSTLAKE_TEST_WEBHOOK", hook.url)
        for n in range(3):
            (tmp_path / f"run-{n}").mkdir()
            monkeypatch.chdir(tmp_path / f"run-{n}")
            runs.append(job.execute_in_process(partition_key="2026-10", instance=instance))
            hook.then = 200  # the webhook recovers after the first run
    assert all(run.success for run in runs)
    assert [r.status for r in hook.received] == [500] * 5 + [200]  # 1 + 4 retries, then once
    body = json.loads(hook.received[-1].body)
    assert "aws · 111 · Amazon EC2 · USD" in body["text"]
    meta = [
        next(
            m.metadata
            for m in run.asset_materializations_for_node("anomaly_marts")
            if m.asset_key.path == ["anomaly_events"]
        )
        for run in runs
    ]
    counts = [
        tuple(
            m[k].value for k in ("alerts_added", "alerts_sent", "alerts_failed", "alerts_pending")
        )
        for m in meta
    ]
    # The spike is seen by each grouping: account × service, project (atlas), model (none).
    assert counts == [(3, 0, 3, 3), (0, 3, 0, 0), (0, 0, 0, 0)]
    sections = [b for b in body["blocks"] if b["type"] == "section"]
    ids = set(pl.read_parquet(lake / "marts/anomaly_events/billing_period=2026-10")["event_id"])
    assert {b["block_id"] for b in sections} <= ids and len(sections) == 3
    logs = "\n".join(str(event.message) for run in runs for event in instance.all_logs(run.run_id))
    assert PATH not in logs and PATH not in str(meta)
    found = pl.read_parquet(tmp_path / "lake/marts/anomaly_events/billing_period=2026-10")
    assert set(found["status_change"]) == {"unchanged"}  # the last run's view
    # Nothing was written relative to the working folders.
    assert all(not any((tmp_path / f"run-{n}").iterdir()) for n in range(3))
