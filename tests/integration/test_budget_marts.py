"""The budgets of a period through the period marts job: each crossing reaches the webhook
once, a rerun sends nothing, and a restatement that lowers spend clears the status silently.

The hand-made lake: AWS account 111, two EC2 instances of team platform, i-a at 60 and i-b at
40 a day, from 2026-09-01 to 2026-10-20 (the lake's newest day). The budget: 2,500 USD a month
for team platform. Spend to 2026-10-20 is 20 × 100 = 2,000 USD = 80 % (threshold actual-80);
the forecast repeats 100 a day (the series is flat, so every weekday's mean is 100): 31 × 100 =
3,100 USD = 124 % (threshold forecast-100). Restated without i-b: 20 × 60 = 1,200 (48 %) and a
forecast of 31 × 60 = 1,860 (74 %): nothing crossed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import yaml
from dagster import DagsterInstance
from webhook_receiver import receiving

from costlake.focus.schema import FOCUS_FILE_METADATA, focus_polars_schema

LAST = date(2026, 10, 20)


def focus_rows(period: str, instances: dict[str, float]) -> pl.DataFrame:
    """Daily rows of ``instances`` (resource id -> cost) in ``period`` up to LAST."""
    rows = []
    day = date.fromisoformat(f"{period}-01")
    while day <= LAST and day.strftime("%Y-%m") == period:
        for resource, cost in instances.items():
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            rows.append(
                {
                    "x_Provider": "aws",
                    "BillingAccountId": "111",
                    "SubAccountId": "111",
                    "ServiceName": "Amazon EC2",
                    "ResourceId": resource,
                    "ChargePeriodStart": start,
                    "ChargePeriodEnd": start + timedelta(days=1),
                    "ChargeCategory": "Usage",
                    "ChargeFrequency": "Usage-Based",
                    "BilledCost": cost,
                    "EffectiveCost": cost,
                    "ListCost": cost,
                    "ContractedCost": cost,
                    "BillingCurrency": "USD",
                    "x_tag_team": "platform",
                    "x_Untaggable": False,
                }
            )
        day += timedelta(days=1)
    frame = pl.DataFrame(rows)
    return frame.select(
        [
            pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in focus_polars_schema().items()
        ]
    )


def write_lake(lake, instances: dict[str, float]) -> None:
    for period in ("2026-09", "2026-10"):
        part = lake / f"focus/provider=aws/billing_period={period}"
        part.mkdir(parents=True, exist_ok=True)
        focus_rows(period, instances).write_parquet(
            part / "part-00000.parquet",
            metadata=FOCUS_FILE_METADATA,  # as the lake writes it
        )


def test_each_crossing_is_announced_once_and_a_restatement_clears_it(tmp_path, monkeypatch):
    from pipelines.definitions import defs

    lake = tmp_path / "lake"
    write_lake(lake, {"i-a": 60.0, "i-b": 40.0})
    config = tmp_path / "costlake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "lake_root": str(lake),
                "anomalies": {"webhook_url_env": "COSTLAKE_TEST_WEBHOOK"},
                "budgets": [
                    {
                        "name": "platform",
                        "amount": 2500,
                        "currency": "USD",
                        "scope": {"team": "platform"},
                    }
                ],
            }
        )
    )
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("period_marts")
    mart = lake / "marts/budgets/billing_period=2026-10"

    def run():
        result = job.execute_in_process(partition_key="2026-10", instance=instance)
        assert result.success
        return pl.read_parquet(mart).row(0, named=True)

    with receiving() as hook:
        monkeypatch.setenv("COSTLAKE_TEST_WEBHOOK", hook.url)
        first = run()
        assert first["actual"] == 2000.0 and first["pct_used"] == 80.0
        assert first["forecast"] == 3100.0 and first["status"] == "at_risk"
        assert first["crossed"] == "actual-80,forecast-100"
        budget_ids = {
            "budget:platform:2026-10:actual-80",
            "budget:platform:2026-10:forecast-100",
        }

        def budget_blocks() -> list[str]:
            return [
                block["block_id"]
                for received in hook.received
                for block in json.loads(received.body)["blocks"]
                if block.get("block_id", "").startswith("budget:")
            ]

        assert sorted(budget_blocks()) == sorted(budget_ids)
        run()  # a rerun: the same crossings, nothing new
        assert sorted(budget_blocks()) == sorted(budget_ids)

        write_lake(lake, {"i-a": 60.0})  # the provider restates: i-b was never billed
        lowered = run()
        assert (lowered["actual"], lowered["forecast"]) == (1200.0, 1860.0)
        assert (lowered["status"], lowered["crossed"]) == ("ok", "")

        write_lake(lake, {"i-a": 60.0, "i-b": 40.0})  # and back: the same crossings again
        assert run()["crossed"] == "actual-80,forecast-100"
        assert sorted(budget_blocks()) == sorted(budget_ids)  # still announced only once
