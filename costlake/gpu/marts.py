"""GPU utilization and the cost of idle GPUs: the bill's GPU hours against the telemetry.

The bill says how many GPU hours were paid for (instance hours × GPUs per instance, from the GPU
catalog or, where the bill states it, the bill's own count) and what they cost; the telemetry
says how busy each GPU was, per hour (``costlake.gpu.telemetry.busy_by_gpu_hour``). Per resource
and charge period (an hour or a day, as the bill has it):

* ``coverage`` = GPU hours with telemetry / GPU hours paid (at most 1);
* ``busy_ratio`` = busy GPU time / covered GPU time (null without telemetry: unknown, not idle);
* ``utilization`` = busy GPU time / GPU hours paid (a floor where coverage is below 1);
* ``idle_cost`` = cost × coverage × (1 − busy_ratio): what the GPUs cost while they sat idle
  and someone was watching; ``unmonitored_cost`` = cost × (1 − coverage);
* ``spot_saving`` = the on-demand equivalent (ListCost) minus what spot hours cost.

The cost of a GPU instance line is counted as GPU cost whole (its vCPUs and memory come with
the GPUs); GCP and OCI bill the GPUs on their own lines, which are the GPU cost exactly.
"""

from __future__ import annotations

import polars as pl

from costlake.gpu.catalog import with_gpu_usage

GIB = 1024.0
KEYS = ("charge_start", "charge_end", "provider", "resource_id")
# The tags a GPU-hour is reported by: the allocation keys (a GPU runs many models, has one owner).
TAGS = ("project", "team", "environment", "workload_type", "cost_center")


def provisioned_gpu_hours(focus: pl.LazyFrame, catalog: pl.DataFrame | None = None) -> pl.LazyFrame:
    """The bill's GPU usage lines: per FOCUS row, GPU hours, cost and how they were bought
    (``purchase``: on_demand, spot or committed)."""
    usage = with_gpu_usage(focus, catalog, bill_gpu_count_col="x_GpuCount")
    purchase = (
        pl.when(pl.col("CommitmentDiscountId").is_not_null())
        .then(pl.lit("committed"))
        .when(pl.col("PricingCategory") == "Dynamic")
        .then(pl.lit("spot"))
        .otherwise(pl.lit("on_demand"))
    )
    return usage.filter(pl.col("gpu_hours") > 0).select(
        pl.col("ChargePeriodStart").alias("charge_start"),
        pl.col("ChargePeriodEnd").alias("charge_end"),
        pl.col("x_Provider").alias("provider"),
        "BillingAccountId",
        "SubAccountId",
        pl.col("ResourceId").alias("resource_id"),
        "instance_type",
        "gpu_model",
        "gpus_per_instance",
        "gpus_per_instance_source",
        "gpu_memory_gib",
        "accelerator_kind",
        purchase.alias("purchase"),
        "gpu_hours",
        pl.col("EffectiveCost").alias("cost"),
        pl.col("ListCost").alias("list_cost"),
        pl.col("BillingCurrency").alias("currency"),
        *[pl.col(f"x_tag_{tag}").alias(tag) for tag in TAGS],
    )


def busy_by_charge_period(busy_hours: pl.LazyFrame, slots: pl.LazyFrame) -> pl.LazyFrame:
    """Telemetry per billed resource and charge period (an hour or a day, as the bill has it):
    busy and covered GPU seconds and peak memory of the GPU-hours inside it."""
    per_hour = (
        busy_hours.filter(pl.col("resource_id").is_not_null())
        .group_by(pl.col("resource_id").cast(pl.String), "hour")
        .agg(
            pl.col("busy_seconds").sum(),
            pl.col("covered_seconds").sum(),
            pl.col("peak_memory_used_mib").max(),
            pl.col("memory_total_mib").max(),
            pl.col("gpu_uuid").n_unique().alias("gpus_seen"),
        )
        .sort("hour")
    )
    # Each telemetry hour goes to the resource's charge period that contains it.
    return (
        per_hour.join_asof(
            slots.sort("charge_start"),
            left_on="hour",
            right_on="charge_start",
            by="resource_id",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on time just above
        )
        .filter(pl.col("hour") < pl.col("charge_end"))
        .group_by("resource_id", "charge_start", "charge_end")
        .agg(
            pl.col("busy_seconds", "covered_seconds").sum(),
            pl.col("peak_memory_used_mib", "memory_total_mib", "gpus_seen").max(),
        )
    )


def gpu_utilization(provisioned: pl.LazyFrame, busy_hours: pl.LazyFrame) -> pl.LazyFrame:
    """The ``gpu_utilization`` mart: one row per billed GPU resource and charge period (an hour
    or a day, as the bill has it), with its ``day``."""
    hours = pl.col("gpu_hours")

    def hours_of(kind: str) -> pl.Expr:
        return hours.filter(pl.col("purchase") == kind).sum().alias(f"{kind}_gpu_hours")

    billed = provisioned.group_by(*KEYS, "currency").agg(
        *[
            pl.col(c).drop_nulls().first()
            for c in (
                "BillingAccountId",
                "SubAccountId",
                "instance_type",
                "gpu_model",
                "gpus_per_instance",
                "gpus_per_instance_source",
                "gpu_memory_gib",
                *TAGS,
            )
        ],
        hours.sum(),
        hours_of("on_demand"),
        hours_of("spot"),
        hours_of("committed"),
        pl.col("cost").sum().alias("gpu_cost"),
        (pl.col("list_cost") - pl.col("cost"))
        .filter(pl.col("purchase") == "spot")
        .sum()
        .alias("spot_saving"),
    )
    seen = pl.col("covered_seconds").fill_null(0.0) > 0
    covered = pl.when(seen).then(pl.min_horizontal(pl.col("covered_seconds") / 3600, hours))
    # Telemetry never adds GPU time the bill did not pay for: busy time scales with coverage.
    busy = pl.when(seen).then(
        pl.col("busy_seconds") / 3600 * (covered / (pl.col("covered_seconds") / 3600))
    )
    slots = billed.select("resource_id", "charge_start", "charge_end").unique()
    telemetry = busy_by_charge_period(busy_hours, slots)
    return (
        billed.join(telemetry, on=["resource_id", "charge_start", "charge_end"], how="left")
        .with_columns(
            covered.fill_null(0.0).alias("covered_gpu_hours"),
            busy.fill_null(0.0).alias("busy_gpu_hours"),
        )
        .with_columns(
            pl.when(hours > 0).then(pl.col("covered_gpu_hours") / hours).alias("coverage"),
            pl.when(pl.col("covered_gpu_hours") > 0)
            .then(pl.col("busy_gpu_hours") / pl.col("covered_gpu_hours"))
            .alias("busy_ratio"),
            pl.when(hours > 0).then(pl.col("busy_gpu_hours") / hours).alias("utilization"),
            (pl.col("peak_memory_used_mib") / GIB).alias("peak_memory_used_gib"),
            (1 - pl.col("peak_memory_used_mib") / pl.col("memory_total_mib")).alias(
                "memory_headroom"
            ),
        )
        .with_columns(
            (
                pl.col("gpu_cost") * pl.col("coverage") * (1 - pl.col("busy_ratio").fill_null(0))
            ).alias("idle_cost"),
            (pl.col("gpu_cost") * (1 - pl.col("coverage"))).alias("unmonitored_cost"),
        )
        .drop("busy_seconds", "covered_seconds", "peak_memory_used_mib", "memory_total_mib")
        .with_columns(pl.col("charge_start").dt.date().alias("day"))
        .sort(*KEYS)
    )


def utilization_by(mart: pl.LazyFrame | pl.DataFrame, *keys: str) -> pl.DataFrame:
    """``gpu_utilization`` rolled up (by project, team, ...): GPU hours, busy and covered
    hours, utilization, busy ratio, cost, idle and unmonitored cost, per currency."""
    return (
        mart.lazy()
        .group_by(*keys, "currency")
        .agg(pl.col("gpu_hours", "covered_gpu_hours", "busy_gpu_hours").sum())
        .join(
            mart.lazy()
            .group_by(*keys, "currency")
            .agg(pl.col("gpu_cost", "idle_cost", "unmonitored_cost").sum()),
            on=[*keys, "currency"],
            nulls_equal=True,
        )
        .with_columns(
            (pl.col("busy_gpu_hours") / pl.col("gpu_hours")).alias("utilization"),
            pl.when(pl.col("covered_gpu_hours") > 0)
            .then(pl.col("busy_gpu_hours") / pl.col("covered_gpu_hours"))
            .alias("busy_ratio"),
        )
        .sort("idle_cost", descending=True)
        .collect()
    )


def rightsizing_input(mart: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Per resource over the period, what ``gpu_sizing.rightsizing_hints`` reads."""
    return (
        mart.lazy()
        .group_by("provider", "resource_id", "currency")
        .agg(
            pl.col("instance_type", "gpu_model", "gpus_per_instance", "gpu_memory_gib")
            .drop_nulls()
            .first(),
            pl.col("peak_memory_used_gib").max(),
            pl.col("gpu_hours", "covered_gpu_hours", "busy_gpu_hours", "gpu_cost").sum(),
            pl.col("day").n_unique().alias("days"),
        )
        .with_columns(
            pl.when(pl.col("covered_gpu_hours") > 0)
            .then(pl.col("busy_gpu_hours") / pl.col("covered_gpu_hours"))
            .alias("busy_ratio"),
            (pl.col("covered_gpu_hours") / pl.col("gpu_hours")).alias("coverage"),
            pl.col("gpu_cost").alias("cost"),
        )
    )
