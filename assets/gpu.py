"""GPU utilization of each billing period: the bills' GPU hours against the telemetry."""

import os
from datetime import UTC, datetime

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from assets.period_inputs import (
    SHOWN,
    input_files,
    listed,
    period_days,
    period_focus,
    period_table,
)
from assets.resources import CostlakeResource
from costlake.gpu.catalog import load_gpu_catalog
from costlake.gpu.marts import (
    gpu_cost_allocation,
    gpu_utilization,
    provisioned_gpu_hours,
    rightsizing_input,
    utilization_by,
)
from costlake.gpu.sizing import rightsizing_hints
from costlake.gpu.telemetry import (
    GPU_SAMPLES_SCHEMA,
    busy_by_gpu_hour,
    combined_busy_hours,
    combined_workload_hours,
    gpu_samples,
    held_by_workload_hour,
)

GPU_TABLES = (
    "gpu_samples",
    "marts/gpu_busy_hours",
    "marts/gpu_utilization",
    "marts/gpu_cost_allocation",
    "marts/gpu_rightsizing",
)
TELEMETRY_SUFFIXES = (".csv", ".txt", ".prom", ".log")


def _idle_markdown(by_resource: pl.DataFrame) -> str:
    header = (
        "| resource | project | GPU hours | busy ratio | coverage | idle cost |\n"
        "| --- | --- | ---: | ---: | ---: | ---: |"
    )
    rows = []
    for r in by_resource.head(SHOWN).iter_rows(named=True):
        busy = "unknown" if r["busy_ratio"] is None else f"{r['busy_ratio']:.0%}"
        rows.append(
            f"| {r['resource_id']} | {r['project'] or '(untagged)'} | {r['gpu_hours']:,.0f} | "
            f"{busy} | {r['covered_gpu_hours'] / r['gpu_hours']:.0%} | "
            f"{r['idle_cost']:,.2f} {r['currency']} |"
        )
    return "\n".join([header, *rows]) if rows else "no GPU spend"


def _namespace_markdown(allocation: pl.DataFrame) -> str:
    """GPU cost per Kubernetes namespace (and who held nothing), largest first."""
    by = (
        allocation.group_by("allocation", "namespace", "currency")
        .agg(pl.col("cost").sum())
        .sort("cost", descending=True)
    )
    lines = [
        f"- {r['namespace'] or r['allocation']}: {r['cost']:,.2f} {r['currency']}"
        for r in by.head(SHOWN).iter_rows(named=True)
    ]
    return "\n".join(lines) or "no GPU spend"


@multi_asset(
    name="gpu_marts",
    group_name="marts",
    specs=[
        period_table(
            "gpu_samples",
            "GPU telemetry samples of the period (nvidia-smi, NVML, dcgm-exporter), one table.",
        ),
        period_table(
            "marts/gpu_busy_hours",
            "Time-weighted busy ratio (and SM / tensor / DRAM activity) per GPU-hour.",
            "gpu_samples",
        ),
        period_table(
            "marts/gpu_utilization",
            "GPU hours paid (bills × GPU catalog) against GPU telemetry: per resource and charge "
            "period the busy ratio, SM / tensor / DRAM activity, coverage, utilization, idle, "
            "inefficient (busy but SMs idle) and unmonitored cost, memory headroom and spot "
            "savings.",
            "gpu_busy_hours",
        ),
        period_table(
            "marts/gpu_cost_allocation",
            "GPU cost per Kubernetes workload and MIG instance.",
            "gpu_samples",
        ),
        period_table(
            "marts/gpu_rightsizing",
            "Right-sizing hints with their monthly saving.",
            "gpu_utilization",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "telemetry_parses",
            asset="gpu_samples",
            description="Every telemetry line is read; bad ones are counted and listed.",
        ),
        AssetCheckSpec(
            "telemetry_maps_to_bills",
            asset="gpu_utilization",
            description="Every GPU with telemetry maps to a resource the bills pay for.",
        ),
    ],
)
def gpu_marts(context: AssetExecutionContext, costlake: CostlakeResource):
    billing_period = context.partition_key
    first, after = period_days(billing_period)
    lake = costlake.lake()
    gpu = costlake.settings().gpu
    catalog = load_gpu_catalog(gpu.catalog)

    files = input_files(gpu.telemetry, TELEMETRY_SUFFIXES, "GPU telemetry", skip=gpu.mapping)
    context.log.info(f"{len(files)} GPU telemetry file(s)")
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(after.year, after.month, after.day, tzinfo=UTC)
    # A few files at a time (as many as there are cores): memory holds their samples only.
    batch = os.cpu_count() or 1
    busy_parts, held_parts, problems, samples = [], [], [], 0
    with lake.staged_period(None, billing_period, GPU_TABLES) as staged:
        if not files:  # a period without telemetry replaces what an earlier run wrote
            empty = pl.DataFrame(schema=GPU_SAMPLES_SCHEMA)
            empty.write_parquet(staged.part_path("gpu_samples", 0), compression="zstd")
        for part, at in enumerate(range(0, len(files), batch)):
            read = gpu_samples(
                files[at : at + batch], gpu.mapping, query_gpu=gpu.query_gpu, on_bad_line="skip"
            )
            period = read.samples.filter((pl.col("time") >= start) & (pl.col("time") < end))
            rows = period.collect()
            rows.write_parquet(staged.part_path("gpu_samples", part), compression="zstd")
            busy_parts.append(busy_by_gpu_hour(rows.lazy()).collect())
            held_parts.append(held_by_workload_hour(rows.lazy()).collect())
            problems += read.problems
            samples += rows.height
            context.log.info(f"telemetry: {min(at + batch, len(files))}/{len(files)} files read")
        busy_hours = combined_busy_hours(busy_parts)
        provisioned = provisioned_gpu_hours(period_focus(lake, billing_period), catalog)
        mart = gpu_utilization(provisioned, busy_hours.lazy()).collect()
        held = combined_workload_hours(held_parts)
        allocation = gpu_cost_allocation(provisioned, held.lazy()).collect()
        hints = rightsizing_hints(rightsizing_input(mart), catalog).collect()
        for table, frame in (
            ("marts/gpu_busy_hours", busy_hours),
            ("marts/gpu_utilization", mart),
            ("marts/gpu_cost_allocation", allocation),
            ("marts/gpu_rightsizing", hints),
        ):
            frame.write_parquet(staged.part_path(table, 0), compression="zstd")

    billed_ids = set(mart["resource_id"].drop_nulls())
    unmapped = (
        busy_hours.filter(
            pl.col("resource_id").is_null() | ~pl.col("resource_id").is_in(list(billed_ids))
        )
        .select("host", "gpu_uuid", "resource_id")
        .unique()
    )
    by_resource = utilization_by(mart, "resource_id", "project")
    by_project = utilization_by(mart, "project")
    yield MaterializeResult(
        asset_key="gpu_samples",
        metadata={"samples": samples},
        check_results=[
            AssetCheckResult(
                check_name="telemetry_parses",
                asset_key="gpu_samples",
                passed=not problems,
                severity=AssetCheckSeverity.WARN,
                metadata={"problems": MetadataValue.md(listed(problems))},
            )
        ],
    )
    yield MaterializeResult(asset_key="gpu_busy_hours", metadata={"gpu_hours": busy_hours.height})
    yield MaterializeResult(
        asset_key="gpu_utilization",
        metadata={
            "gpu_hours": float(mart["gpu_hours"].sum() or 0.0),
            "largest_idle_spenders": MetadataValue.md(_idle_markdown(by_resource)),
            "by_project": MetadataValue.md(
                "\n".join(
                    f"- {r['project'] or '(untagged)'}: idle {r['idle_cost']:,.2f} "
                    f"{r['currency']} of {r['gpu_cost']:,.2f}, "
                    + (
                        ""
                        if r["inefficient_cost"] is None
                        else f"busy but SMs idle {r['inefficient_cost']:,.2f}, "
                    )
                    + f"unmonitored {r['unmonitored_cost']:,.2f}"
                    for r in by_project.iter_rows(named=True)
                )
                or "no GPU spend"
            ),
        },
        check_results=[
            AssetCheckResult(
                check_name="telemetry_maps_to_bills",
                asset_key="gpu_utilization",
                passed=unmapped.height == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"unmapped_gpus": unmapped.height},
            )
        ],
    )
    yield MaterializeResult(
        asset_key="gpu_cost_allocation",
        metadata={"by_namespace": MetadataValue.md(_namespace_markdown(allocation))},
    )
    yield MaterializeResult(
        asset_key="gpu_rightsizing",
        metadata={
            "rightsizing_monthly_saving": MetadataValue.md(
                "\n".join(
                    f"- {r['resource_id']}: {r['reason']} "
                    f"(saves {r['monthly_saving']:,.2f} a month)"
                    for r in hints.head(SHOWN).iter_rows(named=True)
                )
                or "no hints"
            ),
        },
    )
