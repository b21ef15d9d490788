"""The anomaly marts of a period: restatements change a provisional anomaly's status, each
explanation adds up to its anomaly, and a webhook hears of an anomaly once.

The hand-made bill: one AWS account "111" with Amazon EC2 (two instances, 60 + 40 a day) from
2026-09-01. On 2026-10-20, the newest day of the lake, instance i-b costs 340 instead of 40:
the day's 400 against an expected 100 (the same-weekday median; the series is flat) is a
deviation of +300, far beyond every threshold (k x spread: the spread's floor is 5 % of 100,
so 3.5 x 5 = 17.5; min_abs 50; min_rel 15 %). AWS settles in one day, so the newest day is
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
from costlake.focus.schema import focus_polars_schema

FIRST, AFTER = date(2026, 10, 1), date(2026, 11, 1)
SPIKE = date(2026, 10, 20)


def focus_rows(last: date, spike: float | None) -> pl.DataFrame:
    """Daily EC2 rows of account 111 from 2026-09-01 to ``last``; i-b costs ``spike`` on
    SPIKE when given."""
    rows = []
    day = date(2026, 9, 1)
    while day <= last:
        for resource, cost in (("i-a", 60.0), ("i-b", 40.0)):
            if resource == "i-b" and day == SPIKE and spike is not None:
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


def spike_of(result) -> dict:
    rows = result.anomalies.filter(
        (pl.col("grouping") == "x_Provider × BillingAccountId × ServiceName")
        & (pl.col("day") == SPIKE)
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def test_a_restated_day_clears_its_provisional_anomaly_on_the_next_run():
    focus = focus_rows(SPIKE, spike=340.0).lazy()
    assert data_horizon(focus) == SPIKE
    first = period_anomalies(focus, FIRST, AFTER, SPIKE, AnomalySettings())
    flagged = spike_of(first)
    assert (flagged["status"], flagged["provisional"], flagged["status_change"]) == (
        "anomaly",
        True,
        "new",
    )
    assert (flagged["actual"], flagged["expected"], flagged["deviation"]) == (400.0, 100.0, 300.0)

    # AWS restates the day (i-b back to 40) and delivers the next one: the day settles normal.
    restated = focus_rows(SPIKE + timedelta(days=1), spike=None).lazy()
    second = period_anomalies(
        restated, FIRST, AFTER, SPIKE + timedelta(days=1), AnomalySettings(), previous=first.scores
    )
    cleared = spike_of(second)
    assert cleared["anomaly_id"] == flagged["anomaly_id"]
    assert (cleared["status"], cleared["status_change"]) == ("normal", "cleared")
    assert (cleared["previous_status"], cleared["previous_provisional"]) == ("anomaly", True)


def test_a_spike_that_stays_is_confirmed_once_settled():
    focus = focus_rows(SPIKE, spike=340.0).lazy()
    first = period_anomalies(focus, FIRST, AFTER, SPIKE, AnomalySettings())
    later = focus_rows(SPIKE + timedelta(days=1), spike=340.0).lazy()
    second = period_anomalies(
        later, FIRST, AFTER, SPIKE + timedelta(days=1), AnomalySettings(), previous=first.scores
    )
    confirmed = spike_of(second)
    assert (confirmed["provisional"], confirmed["status_change"]) == (False, "confirmed")


def test_each_dimensions_contributions_add_up_to_the_anomalys_delta():
    result = period_anomalies(
        focus_rows(SPIKE, spike=340.0).lazy(), FIRST, AFTER, SPIKE, AnomalySettings()
    )
    spike = spike_of(result)
    parts = result.contributions.filter(pl.col("anomaly_id") == spike["anomaly_id"])
    sums = parts.group_by("dimension").agg(pl.col("contribution").sum())
    assert set(sums["dimension"]) >= {"ResourceId", "SubAccountId", "RegionId"}
    for total in sums["contribution"]:
        assert total == pytest.approx(300.0, abs=1e-9)
    by_resource = dict(
        parts.filter(pl.col("dimension") == "ResourceId")
        .select("value", "contribution")
        .iter_rows()
    )
    assert by_resource["i-b"] == pytest.approx(300.0)  # 340 against its usual 40
    assert by_resource["i-a"] == pytest.approx(0.0, abs=1e-9)


def test_the_period_job_alerts_a_webhook_once(tmp_path, monkeypatch):
    """Two runs of the period marts over the same lake: one POST to the webhook, the second run
    finds the anomaly already sent; the webhook's secret path never reaches the run's logs."""
    from pipelines.definitions import defs

    lake = tmp_path / "lake"
    part = lake / "focus/provider=aws/billing_period=2026-10"
    part.mkdir(parents=True)
    focus_rows(SPIKE, spike=340.0).write_parquet(part / "part-00000.parquet")
    config = tmp_path / "costlake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "lake_root": str(lake),
                "anomalies": {"webhook_url_env": "COSTLAKE_TEST_WEBHOOK"},
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("period_marts")
    with receiving() as hook:
        monkeypatch.setenv("COSTLAKE_TEST_WEBHOOK", hook.url)
        runs = [
            job.execute_in_process(partition_key="2026-10", instance=instance) for _ in range(2)
        ]
    assert all(run.success for run in runs)
    assert len(hook.received) == 1
    body = json.loads(hook.received[0].body)
    assert "aws · 111 · Amazon EC2 · USD" in body["text"]
    alerts = [
        next(
            m
            for m in run.asset_materializations_for_node("anomaly_marts")
            if m.asset_key.path == ["anomalies"]
        )
        .metadata["alerts"]
        .value
        for run in runs
    ]
    # The spike is seen by each grouping: account × service, project (atlas), model (none).
    assert alerts == ["sent 3, already sent 0, failed 0", "sent 0, already sent 3, failed 0"]
    logs = "\n".join(str(event.message) for run in runs for event in instance.all_logs(run.run_id))
    assert PATH not in logs
    scores = pl.read_parquet(tmp_path / "lake/marts/anomalies/billing_period=2026-10")
    assert set(scores["status_change"]) == {"unchanged"}  # the second run's view
