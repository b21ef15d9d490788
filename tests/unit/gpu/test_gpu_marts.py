"""GPU hours paid against telemetry, on an hourly bill worked by hand.

A g5.12xlarge (4 × A10G, by the catalog) billed by the hour at 5.672 USD: 10:00 and 11:00 on
demand; 12:00 on spot at 1.70 against an on-demand equivalent (ListCost) of 5.672. Telemetry:
in hour 10 each GPU covered all 3,600 s and was busy 1,800 s; in hour 12, two GPUs covered 1,800 s
each, busy 900 s each; hour 11 has none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from costlake.focus.schema import focus_polars_schema
from costlake.gpu.marts import gpu_utilization, provisioned_gpu_hours, utilization_by
from costlake.gpu.telemetry import SUMMED_SECONDS

RESOURCE = "i-0gpu"


def bill() -> pl.LazyFrame:
    rows = []
    for hour, category, cost in (
        (10, "Standard", 5.672),
        (11, "Standard", 5.672),
        (12, "Dynamic", 1.70),
    ):
        start = datetime(2026, 11, 2, hour, tzinfo=UTC)
        rows.append(
            {
                "x_Provider": "aws",
                "BillingAccountId": "111",
                "ResourceId": RESOURCE,
                "x_InstanceType": "g5.12xlarge",
                "x_UsageType": "USE1-BoxUsage:g5.12xlarge"
                if category == "Standard"
                else "USE1-SpotUsage:g5.12xlarge",
                "x_LineItemType": "Usage",
                "ChargeCategory": "Usage",
                "PricingCategory": category,
                "PricingUnit": "Hours",
                "PricingQuantity": 1.0,
                "ConsumedQuantity": 1.0,
                "ChargePeriodStart": start,
                "ChargePeriodEnd": start + timedelta(hours=1),
                "EffectiveCost": cost,
                "ListCost": 5.672,
                "BillingCurrency": "USD",
                "x_tag_project": "atlas",
            }
        )
    frame = pl.DataFrame(rows)
    return frame.select(
        [
            pl.col(n).cast(t) if n in frame.columns else pl.lit(None, t).alias(n)
            for n, t in focus_polars_schema().items()
        ]
    ).lazy()


def busy_hours() -> pl.LazyFrame:
    rows = [(10, f"GPU-{i}", 1800.0, 3600.0) for i in range(4)]
    rows += [(12, f"GPU-{i}", 900.0, 1800.0) for i in range(2)]
    return pl.LazyFrame(
        {
            "resource_id": [RESOURCE] * len(rows),
            "host": ["h"] * len(rows),
            "gpu_uuid": [r[1] for r in rows],
            "hour": [datetime(2026, 11, 2, r[0], tzinfo=UTC) for r in rows],
            "busy_seconds": [r[2] for r in rows],
            "covered_seconds": [r[3] for r in rows],
            # nvidia-smi-like telemetry: no profiling fields.
            **{
                c: [None] * len(rows)
                for c in SUMMED_SECONDS
                if c not in ("busy_seconds", "covered_seconds")
            },
            "peak_memory_used_mib": [12000.0] * len(rows),
            "memory_total_mib": [23028.0] * len(rows),
        },
        schema_overrides={"hour": pl.Datetime("us", "UTC")}
        | {c: pl.Float64 for c in SUMMED_SECONDS},
    )


@pytest.fixture(scope="module")
def mart() -> pl.DataFrame:
    return gpu_utilization(provisioned_gpu_hours(bill()), busy_hours()).collect()


def test_each_billed_hour_meets_its_own_telemetry(mart):
    rows = {r["charge_start"].hour: r for r in mart.iter_rows(named=True)}
    assert [rows[h]["gpu_hours"] for h in (10, 11, 12)] == [4.0, 4.0, 4.0]
    # Hour 10: 4 GPU-hours covered, 2 busy; idle = 5.672 × 1 × (1 − 0.5).
    assert rows[10]["coverage"] == 1.0
    assert rows[10]["busy_ratio"] == pytest.approx(0.5)
    assert rows[10]["idle_cost"] == pytest.approx(2.836)
    assert rows[10]["unmonitored_cost"] == 0.0
    # Hour 11: no telemetry: nothing is called idle, all of it is unmonitored.
    assert rows[11]["coverage"] == 0.0
    assert rows[11]["busy_ratio"] is None
    assert rows[11]["idle_cost"] == 0.0
    assert rows[11]["unmonitored_cost"] == pytest.approx(5.672)
    # Hour 12: 1 of 4 GPU-hours covered (2 × 1,800 s), half of it busy; spot.
    assert rows[12]["coverage"] == pytest.approx(0.25)
    assert rows[12]["busy_ratio"] == pytest.approx(0.5)
    assert rows[12]["idle_cost"] == pytest.approx(1.70 * 0.25 * 0.5)
    assert rows[12]["unmonitored_cost"] == pytest.approx(1.70 * 0.75)
    assert (rows[12]["spot_gpu_hours"], rows[12]["on_demand_gpu_hours"]) == (4.0, 0.0)
    assert rows[12]["spot_saving"] == pytest.approx(5.672 - 1.70)
    assert rows[10]["memory_headroom"] == pytest.approx(1 - 12000 / 23028)


def test_the_project_rollup_adds_the_hours_up(mart):
    atlas = utilization_by(mart, "project").row(0, named=True)
    assert atlas["gpu_hours"] == 12.0
    assert atlas["busy_gpu_hours"] == pytest.approx(2.0 + 0.5)
    assert atlas["utilization"] == pytest.approx(2.5 / 12)
    assert atlas["busy_ratio"] == pytest.approx(2.5 / 5.0)  # of the 4 + 1 covered hours
    assert atlas["idle_cost"] == pytest.approx(2.836 + 0.2125)


def test_idle_busy_and_unmonitored_cost_add_up_to_the_bill(mart):
    # Without profiling fields the busy cost is not split: inefficiency is unknown, not zero.
    for row in mart.iter_rows(named=True):
        total = row["idle_cost"] + row["busy_cost"] + row["unmonitored_cost"]
        assert total == pytest.approx(row["gpu_cost"])
        assert (row["inefficient_cost"], row["busy_efficient_cost"]) == (None, None)
        assert row["sm_active_ratio"] is None
    rows = {r["charge_start"].hour: r for r in mart.iter_rows(named=True)}
    assert rows[10]["busy_cost"] == pytest.approx(5.672 * 2 / 4)  # 2 busy of 4 paid GPU hours
