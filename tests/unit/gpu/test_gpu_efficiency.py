"""Busy is not efficient, and shared GPUs: dcgm-exporter captures built here with known phases,
read, and set against one-hour bills worked by hand.

Efficiency: one A10G (a g5.xlarge, 1.006 USD for the hour 2026-11-26 19:00–20:00 UTC) scraped
every 10 s. DCGM reports each ratio as the mean over the sampling period, so each scrape here
holds the mean of the phase truth over the 10 s before it:

| seconds into the hour | what | GR_ENGINE_ACTIVE (GPU_UTIL) | SM_ACTIVE | TENSOR | DRAM |
| --- | --- | --- | --- | --- | --- |
| 0–1000 | training | 0.95 (95) | 0.80 | 0.60 | 0.40 |
| 1000–2205 | tiny kernels back to back | 0.27 (27) | 0.035 | 0.00 | 0.02 |
| 2205–3600 | idle | 0 | 0 | 0 | 0 |

The boundary at 2205 s falls inside a scrape period (2200–2210), as real phase changes do.
Time-weighted truth over the hour: busy (950 + 1205 × 0.27) / 3600 = 1275.35 / 3600 = 0.354264;
SM active (800 + 1205 × 0.035) / 3600 = 842.175 / 3600 = 0.233938; tensor 600 / 3600 =
0.166667; DRAM (400 + 24.1) / 3600 = 0.117806; busy but SMs idle (150 + 1205 × 0.235) / 3600 =
433.175 / 3600 = 0.120326.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from costlake.focus.schema import focus_polars_schema
from costlake.gpu.marts import gpu_cost_allocation, gpu_utilization, provisioned_gpu_hours
from costlake.gpu.telemetry import (
    busy_by_gpu_hour,
    gpu_samples,
    held_by_workload_hour,
    utilization_by_gpu,
)

HOUR = datetime(2026, 11, 26, 19, tzinfo=UTC)
HOUR_MS = int(HOUR.timestamp() * 1000)
PHASES = [  # (start s, end s, GR_ENGINE_ACTIVE, SM, TENSOR, DRAM)
    (0, 1000, 0.95, 0.80, 0.60, 0.40),
    (1000, 2205, 0.27, 0.035, 0.0, 0.02),
    (2205, 3600, 0.0, 0.0, 0.0, 0.0),
]
TRUTH = {
    "busy": 1275.35 / 3600,
    "sm": 842.175 / 3600,
    "tensor": 600 / 3600,
    "dram": 424.1 / 3600,
    "inefficient": 433.175 / 3600,
}


def mean_over(start: float, end: float, field: int) -> float:
    """Mean of one phase value over [start, end) seconds into the hour."""
    total = sum(
        max(0.0, min(end, p[1]) - max(start, p[0])) * p[field] for p in PHASES if p[0] < end
    )
    return total / (end - start)


def efficiency_capture() -> str:
    labels = 'gpu="0",UUID="GPU-a10g",modelName="NVIDIA A10G",Hostname="g5-node"'
    lines = []
    for t in range(0, 3601, 10):
        ms = HOUR_MS + t * 1000
        gr, sm, tensor, dram = (mean_over(max(t - 10, 0), max(t, 10), f) for f in (2, 3, 4, 5))
        lines += [
            f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} {round(gr * 100)} {ms}",
            f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{labels}}} {gr:.6f} {ms}",
            f"DCGM_FI_PROF_SM_ACTIVE{{{labels}}} {sm:.6f} {ms}",
            f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{labels}}} {tensor:.6f} {ms}",
            f"DCGM_FI_PROF_DRAM_ACTIVE{{{labels}}} {dram:.6f} {ms}",
        ]
    return "\n".join(lines) + "\n"


def one_hour_bill(instance_type: str, resource_id: str, cost: float, team: str) -> pl.LazyFrame:
    row = {
        "x_Provider": "aws",
        "BillingAccountId": "111",
        "ResourceId": resource_id,
        "x_InstanceType": instance_type,
        "x_UsageType": f"USE1-BoxUsage:{instance_type}",
        "x_LineItemType": "Usage",
        "ChargeCategory": "Usage",
        "PricingCategory": "Standard",
        "PricingUnit": "Hours",
        "PricingQuantity": 1.0,
        "ConsumedQuantity": 1.0,
        "ChargePeriodStart": HOUR,
        "ChargePeriodEnd": HOUR + timedelta(hours=1),
        "EffectiveCost": cost,
        "ListCost": cost,
        "BillingCurrency": "USD",
        "x_tag_team": team,
    }
    frame = pl.DataFrame([row])
    return frame.select(
        [
            pl.col(n).cast(t) if n in frame.columns else pl.lit(None, t).alias(n)
            for n, t in focus_polars_schema().items()
        ]
    ).lazy()


@pytest.fixture(scope="module")
def efficiency_samples(tmp_path_factory) -> pl.LazyFrame:
    path = tmp_path_factory.mktemp("dcgm") / "g5-node.prom"
    path.write_text(efficiency_capture())
    mapping = pl.DataFrame({"host": ["g5-node"], "resource_id": ["i-0g5"]})
    read = gpu_samples(path, mapping)
    assert read.problems == []
    return read.samples


def test_sm_activity_is_reported_beside_busy(efficiency_samples):
    gpu = utilization_by_gpu(efficiency_samples).row(0, named=True)
    assert gpu["seconds"] == pytest.approx(3600.0)  # the 19:00:00 scrape covers nothing before
    assert gpu["busy_ratio"] == pytest.approx(TRUTH["busy"], abs=0.01)
    assert gpu["sm_active_ratio"] == pytest.approx(TRUTH["sm"], abs=0.02)
    assert gpu["tensor_active_ratio"] == pytest.approx(TRUTH["tensor"], abs=0.02)
    assert gpu["dram_active_ratio"] == pytest.approx(TRUTH["dram"], abs=0.02)
    # The tiny-kernel phase alone: a quarter "busy", its SMs 3.5 % active.
    tiny = utilization_by_gpu(
        efficiency_samples, HOUR + timedelta(seconds=1000), HOUR + timedelta(seconds=2200)
    ).row(0, named=True)
    assert tiny["busy_ratio"] == pytest.approx(0.27, abs=1e-6)
    assert tiny["sm_active_ratio"] == pytest.approx(0.035, abs=1e-6)


def test_idle_inefficient_and_efficient_cost_add_up_to_the_bill(efficiency_samples):
    bill = one_hour_bill("g5.xlarge", "i-0g5", 1.006, "search")
    mart = gpu_utilization(provisioned_gpu_hours(bill), busy_by_gpu_hour(efficiency_samples))
    row = mart.collect().row(0, named=True)
    assert (row["gpu_hours"], row["coverage"]) == (1.0, pytest.approx(1.0))
    assert row["sm_active_ratio"] == pytest.approx(TRUTH["sm"], abs=0.02)
    # idle = 1.006 × (1 − 0.354264) = 0.649610; inefficient = 1.006 × 0.120326 = 0.121048;
    # busy-efficient = 1.006 × (0.354264 − 0.120326) = 0.235342.
    assert row["idle_cost"] == pytest.approx(1.006 * (1 - TRUTH["busy"]), abs=0.01)
    assert row["inefficient_cost"] == pytest.approx(1.006 * TRUTH["inefficient"], abs=0.01)
    assert row["busy_efficient_cost"] == pytest.approx(
        1.006 * (TRUTH["busy"] - TRUTH["inefficient"]), abs=0.01
    )
    total = row["idle_cost"] + row["inefficient_cost"] + row["busy_efficient_cost"]
    assert total == pytest.approx(1.006, rel=1e-9)
    assert row["unmonitored_cost"] == pytest.approx(0.0, abs=1e-9)


def test_with_half_the_hour_unmonitored_the_four_parts_still_add_up(efficiency_samples):
    half = efficiency_samples.filter(pl.col("time") <= HOUR + timedelta(seconds=1800))
    bill = one_hour_bill("g5.xlarge", "i-0g5", 1.006, "search")
    row = (
        gpu_utilization(provisioned_gpu_hours(bill), busy_by_gpu_hour(half))
        .collect()
        .row(0, named=True)
    )
    assert row["coverage"] == pytest.approx(0.5)
    assert row["unmonitored_cost"] == pytest.approx(0.503)
    parts = ("idle_cost", "inefficient_cost", "busy_efficient_cost", "unmonitored_cost")
    assert sum(row[p] for p in parts) == pytest.approx(1.006, rel=1e-9)


# --------------------------------------------------------------------------------------------
# Shared GPUs: MIG instances and Kubernetes pods on a p4d.24xlarge (8 × A100 40GB), 32.77 USD
# for the hour (a round test figure). Scrapes every 60 s, 19:00 to 20:00:
#   GPU 0 in MIG mode: instance 1 (3g.20gb) held by team-a/trainer, instance 2 (2g.10gb) by
#     team-b/notebook; the 2 remaining slices have no instance;
#   GPU 1 whole: team-a/batch until 19:30, then no pod;
#   GPU 2 time-sliced: team-b/serve-1 and team-b/serve-2 at every scrape;
#   GPUs 3–7: no telemetry.
# Each GPU costs 32.77 / 8 = 4.09625 for its hour:
#   GPU 0: trainer 3/7 × 4.09625 = 1.755536, notebook 2/7 × = 1.170357, unmonitored 2/7;
#   GPU 1: batch 0.5 × 4.09625 = 2.048125 (scrapes 19:01 … 19:30 name it), no_workload the rest;
#   GPU 2: serve-1 and serve-2 2.048125 each; GPUs 3–7: 5 × 4.09625 = 20.48125 unmonitored.

P4D_COST = 32.77
PER_GPU = P4D_COST / 8


def shared_capture() -> str:
    base = 'modelName="NVIDIA A100-SXM4-40GB",Hostname="p4d-node"'
    lines = []
    for t in range(0, 3601, 60):
        ms = HOUR_MS + t * 1000
        series = [
            f'gpu="0",UUID="GPU-0",GPU_I_ID="1",GPU_I_PROFILE="3g.20gb",{base},'
            'namespace="team-a",pod="trainer",container="main"',
            f'gpu="0",UUID="GPU-0",GPU_I_ID="2",GPU_I_PROFILE="2g.10gb",{base},'
            'namespace="team-b",pod="notebook",container="jupyter"',
            f'gpu="1",UUID="GPU-1",{base}'
            + (',namespace="team-a",pod="batch",container="main"' if t <= 1800 else ""),
            f'gpu="2",UUID="GPU-2",{base},namespace="team-b",pod="serve-1",container="vllm"',
            f'gpu="2",UUID="GPU-2",{base},namespace="team-b",pod="serve-2",container="vllm"',
        ]
        lines += [f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{labels}}} 0.5 {ms}" for labels in series]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def allocation(tmp_path_factory) -> pl.DataFrame:
    path = tmp_path_factory.mktemp("dcgm") / "p4d-node.prom"
    path.write_text(shared_capture())
    mapping = pl.DataFrame({"host": ["p4d-node"], "resource_id": ["i-0p4d"]})
    samples = gpu_samples(path, mapping).samples
    bill = one_hour_bill("p4d.24xlarge", "i-0p4d", P4D_COST, "ml-platform")
    return gpu_cost_allocation(
        provisioned_gpu_hours(bill), held_by_workload_hour(samples)
    ).collect()


def test_mig_and_pod_attribution_sums_to_each_gpus_billed_cost(allocation):
    per_gpu = dict(allocation.group_by("gpu_uuid").agg(pl.col("cost").sum()).iter_rows())
    assert per_gpu["GPU-0"] == pytest.approx(PER_GPU)
    assert per_gpu["GPU-1"] == pytest.approx(PER_GPU)
    assert per_gpu["GPU-2"] == pytest.approx(PER_GPU)
    assert per_gpu[None] == pytest.approx(5 * PER_GPU)  # the five GPUs nobody saw
    assert allocation["cost"].sum() == pytest.approx(P4D_COST)
    assert allocation["held_gpu_hours"].sum() == pytest.approx(8.0)


def test_each_workload_pays_for_its_share_of_gpu_time(allocation):
    rows = {
        (r["gpu_uuid"], r["allocation"], r["pod"]): r["cost"]
        for r in allocation.iter_rows(named=True)
    }
    assert rows[("GPU-0", "workload", "trainer")] == pytest.approx(PER_GPU * 3 / 7)
    assert rows[("GPU-0", "workload", "notebook")] == pytest.approx(PER_GPU * 2 / 7)
    assert rows[("GPU-0", "unmonitored", None)] == pytest.approx(PER_GPU * 2 / 7)
    assert rows[("GPU-1", "workload", "batch")] == pytest.approx(PER_GPU / 2)
    assert rows[("GPU-1", "no_workload", None)] == pytest.approx(PER_GPU / 2)
    assert rows[("GPU-2", "workload", "serve-1")] == pytest.approx(PER_GPU / 2)
    assert rows[("GPU-2", "workload", "serve-2")] == pytest.approx(PER_GPU / 2)
    mig = allocation.filter(pl.col("pod") == "trainer").row(0, named=True)
    assert (mig["mig_instance"], mig["mig_profile"], mig["namespace"]) == ("1", "3g.20gb", "team-a")
    # Per namespace: team-a = 3/7 + 1/2 GPU, team-b = 2/7 + 1 GPU; the bill's team tag on all.
    by_namespace = dict(allocation.group_by("namespace").agg(pl.col("cost").sum()).iter_rows())
    assert by_namespace["team-a"] == pytest.approx(PER_GPU * (3 / 7 + 1 / 2))
    assert by_namespace["team-b"] == pytest.approx(PER_GPU * (2 / 7 + 1))
    assert allocation["team"].unique().to_list() == ["ml-platform"]
