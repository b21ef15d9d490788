"""GPU utilization and the cost of idle GPUs: the bill's GPU hours against the telemetry.

The bill says how many GPU hours were paid for (instance hours × GPUs per instance, from the GPU
catalog or, where the bill states it, the bill's own count) and what they cost; the telemetry
says how busy each GPU was, per hour (``costlake.gpu.telemetry.busy_by_gpu_hour``). Per resource
and charge period (an hour or a day, as the bill has it):

* ``coverage`` = GPU hours with telemetry / GPU hours paid (at most 1);
* ``busy_ratio`` = busy GPU time / covered GPU time (null without telemetry: unknown, not idle);
* ``utilization`` = busy GPU time / GPU hours paid (a floor where coverage is below 1);
* ``idle_cost`` = cost × coverage × (1 − busy_ratio): what the GPUs cost while they sat idle
  and someone was watching; ``unmonitored_cost`` = cost × (1 − coverage); ``busy_cost`` =
  cost × busy GPU hours / GPU hours paid, so idle + busy + unmonitored = cost;
* where DCGM profiling fields exist: ``sm_active_ratio``, ``tensor_active_ratio``,
  ``dram_active_ratio`` (time-weighted over the profiled time) and ``inefficient_cost`` =
  cost × Σ (busy − SM active) GPU hours / GPU hours paid: busy time in which the SMs sat
  idle (a GPU running tiny kernels back to back reads 27 % busy while its SMs are 3.5 %
  active). ``busy_efficient_cost`` = busy − inefficient cost, so idle + inefficient +
  busy-efficient + unmonitored = cost (both null without profiling: unknown, not zero);
* ``spot_saving`` = the on-demand equivalent (ListCost) minus what spot hours cost.

``gpu_cost_allocation`` splits the same cost by who held each GPU (a Kubernetes workload, a
MIG instance's workload, or nobody), see :func:`gpu_cost_allocation`.

The cost of a GPU instance line is counted as GPU cost whole (its vCPUs and memory come with
the GPUs); GCP and OCI bill the GPUs on their own lines, which are the GPU cost exactly.
"""

from __future__ import annotations

import polars as pl

from costlake.gpu.catalog import with_gpu_usage
from costlake.gpu.telemetry import SUMMED_SECONDS, sum_seen

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
            *(sum_seen(c) for c in SUMMED_SECONDS),
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
            *(sum_seen(c) for c in SUMMED_SECONDS),
            pl.col("peak_memory_used_mib", "memory_total_mib", "gpus_seen").max(),
        )
    )


def _billed(provisioned: pl.LazyFrame) -> pl.LazyFrame:
    """The bill per GPU resource and charge period: GPU hours (by purchase), cost, tags."""
    hours = pl.col("gpu_hours")

    def hours_of(kind: str) -> pl.Expr:
        return hours.filter(pl.col("purchase") == kind).sum().alias(f"{kind}_gpu_hours")

    return provisioned.group_by(*KEYS, "currency").agg(
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


def gpu_utilization(provisioned: pl.LazyFrame, busy_hours: pl.LazyFrame) -> pl.LazyFrame:
    """The ``gpu_utilization`` mart: one row per billed GPU resource and charge period (an hour
    or a day, as the bill has it), with its ``day``."""
    hours = pl.col("gpu_hours")
    billed = _billed(provisioned)
    seen = pl.col("covered_seconds").fill_null(0.0) > 0
    covered = pl.when(seen).then(pl.min_horizontal(pl.col("covered_seconds") / 3600, hours))
    # Telemetry never adds GPU time the bill did not pay for: busy (and inefficient) time
    # scales with coverage.
    scale = covered / (pl.col("covered_seconds") / 3600)
    busy = pl.when(seen).then(pl.col("busy_seconds") / 3600 * scale)
    inefficient = pl.when(seen).then(pl.col("inefficient_seconds") / 3600 * scale)
    cost_per_hour = pl.when(hours > 0).then(pl.col("gpu_cost") / hours)
    slots = billed.select("resource_id", "charge_start", "charge_end").unique()
    telemetry = busy_by_charge_period(busy_hours, slots)
    return (
        billed.join(telemetry, on=["resource_id", "charge_start", "charge_end"], how="left")
        .with_columns(
            covered.fill_null(0.0).alias("covered_gpu_hours"),
            busy.fill_null(0.0).alias("busy_gpu_hours"),
            inefficient.alias("inefficient_gpu_hours"),
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
            (cost_per_hour * pl.col("busy_gpu_hours")).fill_null(0.0).alias("busy_cost"),
            (cost_per_hour * pl.col("inefficient_gpu_hours")).alias("inefficient_cost"),
            *(
                pl.when(pl.col("profiled_seconds") > 0)
                .then(pl.col(f"{name}_seconds") / pl.col("profiled_seconds"))
                .alias(f"{name}_ratio")
                for name in ("sm_active", "tensor_active", "dram_active")
            ),
        )
        .with_columns(
            (pl.col("busy_cost") - pl.col("inefficient_cost")).alias("busy_efficient_cost")
        )
        .drop(*SUMMED_SECONDS, "peak_memory_used_mib", "memory_total_mib")
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
            .agg(
                pl.col("gpu_cost", "idle_cost", "unmonitored_cost", "busy_cost").sum(),
                sum_seen("inefficient_cost"),
                sum_seen("busy_efficient_cost"),
            ),
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


ALLOCATIONS = ("workload", "no_workload", "unmonitored")


def gpu_cost_allocation(provisioned: pl.LazyFrame, held_hours: pl.LazyFrame) -> pl.LazyFrame:
    """The ``gpu_cost_allocation`` mart: each GPU resource's cost per charge period split by
    who held its GPUs, summing to the GPU's billed cost.

    Every GPU of a resource costs ``gpu_cost / GPUs`` for ``GPU hours paid / GPUs`` hours
    (GPUs: the bill's or catalog's count, or more if the telemetry saw more). Each GPU-second
    a workload held (``held_by_workload_hour``: a pod on a whole GPU, on a MIG instance at the
    instance's share, pods time-sliced on one GPU in equal parts) is priced at that rate:
    ``allocation`` = ``workload`` with its ``namespace``, ``pod`` and ``container``;
    ``no_workload`` for time the telemetry saw the GPU held by no pod; ``unmonitored`` for the
    rest of the GPU's paid time (no telemetry, or MIG slices with no instance), and one
    ``unmonitored`` row (``gpu_uuid`` null) for GPUs the telemetry never saw. Held time beyond
    the GPU's paid time (clock skew, a file counted twice) is scaled down, never billed twice.
    The resource's tags (``team``, ``project``, …) come with every row, so a cost per
    namespace, pod or team is a sum over these rows.
    """
    billed = _billed(provisioned)
    slots = billed.select("resource_id", "charge_start", "charge_end").unique()
    held = (
        held_hours.filter(pl.col("resource_id").is_not_null())
        .with_columns(pl.col("resource_id").cast(pl.String))
        .sort("hour")
        .join_asof(
            slots.sort("charge_start"),
            left_on="hour",
            right_on="charge_start",
            by="resource_id",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on time just above
        )
        .filter(pl.col("hour") < pl.col("charge_end"))
        .group_by(
            "resource_id",
            "charge_start",
            "charge_end",
            "gpu_uuid",
            "mig_instance",
            "mig_profile",
            "namespace",
            "pod",
            "container",
        )
        .agg(held_gpu_hours=pl.col("held_seconds").sum() / 3600)
    )
    per_slot = list(KEYS)
    gpus = pl.max_horizontal(
        pl.col("gpus_per_instance").fill_null(1.0).round().clip(lower_bound=1.0),
        pl.col("gpus_seen").cast(pl.Float64),
    )
    hours_per_gpu = pl.col("gpu_hours") / pl.col("__gpus")
    cost_per_gpu = pl.col("gpu_cost") / pl.col("__gpus")
    seen = (
        billed.join(held, on=["resource_id", "charge_start", "charge_end"], how="inner")
        .with_columns(gpus_seen=pl.col("gpu_uuid").n_unique().over(per_slot))
        .with_columns(__gpus=gpus)
        .with_columns(
            __scale=pl.min_horizontal(
                pl.lit(1.0),
                hours_per_gpu / pl.col("held_gpu_hours").sum().over(*per_slot, "gpu_uuid"),
            )
        )
        .with_columns(
            allocation=pl.when(pl.col("pod").is_not_null() | pl.col("namespace").is_not_null())
            .then(pl.lit("workload"))
            .otherwise(pl.lit("no_workload")),
            held_gpu_hours=pl.col("held_gpu_hours") * pl.col("__scale"),
        )
        .with_columns(cost=cost_per_gpu * pl.col("held_gpu_hours") / hours_per_gpu)
    )
    # The rest of each seen GPU's paid time, and the GPUs never seen.
    billed_columns = ["currency", "BillingAccountId", "SubAccountId", "instance_type"]
    rest_of_seen = seen.group_by(*per_slot, "gpu_uuid").agg(
        pl.col(*billed_columns, "gpu_model", *TAGS).first(),
        held_gpu_hours=hours_per_gpu.first() - pl.col("held_gpu_hours").sum(),
        cost=cost_per_gpu.first() - pl.col("cost").sum(),
    )
    unseen = (
        billed.join(
            seen.group_by(per_slot).agg(gpus_seen=pl.col("gpu_uuid").n_unique()),
            on=per_slot,
            how="left",
        )
        .with_columns(pl.col("gpus_seen").fill_null(0))
        .with_columns(__gpus=gpus)
        .with_columns(
            gpu_uuid=pl.lit(None, pl.String),
            held_gpu_hours=hours_per_gpu * (pl.col("__gpus") - pl.col("gpus_seen")),
            cost=cost_per_gpu * (pl.col("__gpus") - pl.col("gpus_seen")),
        )
    )
    columns = [
        *KEYS,
        "currency",
        "BillingAccountId",
        "SubAccountId",
        "instance_type",
        "gpu_model",
        "gpu_uuid",
        "mig_instance",
        "mig_profile",
        "allocation",
        "namespace",
        "pod",
        "container",
        "held_gpu_hours",
        "cost",
        *TAGS,
    ]
    unmonitored = [
        frame.with_columns(
            allocation=pl.lit("unmonitored"),
            **{c: pl.lit(None, pl.String) for c in ("mig_instance", "mig_profile")},
            **{c: pl.lit(None, pl.String) for c in ("namespace", "pod", "container")},
        )
        .filter(pl.col("held_gpu_hours") > 1e-12)
        .select(columns)
        for frame in (rest_of_seen, unseen)
    ]
    return (
        pl.concat([seen.select(columns), *unmonitored], how="vertical_relaxed")
        .with_columns(pl.col("charge_start").dt.date().alias("day"))
        .sort(*KEYS, "gpu_uuid", "allocation", "namespace", "pod", "container", nulls_last=True)
    )
