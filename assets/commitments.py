"""The commitment marts of each (billing period, provider): utilization and coverage, for BI.

One computation over the period's rows and its Contract Commitment table writes both, so they
are one multi-asset with a key per table."""

from collections.abc import Iterator
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

from assets.billing import partition_of
from assets.lake_tables import table_spec
from assets.partitions import billing_partitions
from assets.resources import CostlakeResource
from costlake.commitments.marts import (
    commitment_coverage,
    commitment_utilization,
    commitment_warnings,
    period_utilization,
)
from costlake.focus.schema import CONTRACT_COMMITMENT_TABLE

COMMITMENT_MARTS = ("marts/commitment_utilization", "marts/commitment_coverage")


@multi_asset(
    name="commitment_marts",
    specs=[
        table_spec(
            COMMITMENT_MARTS[0],
            "Per commitment and day: cost, used and unused parts, utilization, covered "
            "on-demand value and realized savings (docs/commitments.md).",
            ["focus", CONTRACT_COMMITMENT_TABLE],
            billing_partitions,
            "commitments",
        ),
        table_spec(
            COMMITMENT_MARTS[1],
            "Per account and day: coverage of eligible usage and the effective savings rate.",
            ["focus"],
            billing_partitions,
            "commitments",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "commitments_used_and_not_expiring",
            asset="commitment_utilization",
            description="Every commitment's utilization is at or above the configured level and "
            "none ends within the configured days.",
        )
    ],
)
def commitment_marts(
    context: AssetExecutionContext, costlake: CostlakeResource
) -> Iterator[MaterializeResult]:
    billing_period, provider = partition_of(context)
    lake = costlake.lake()
    limits = costlake.settings().commitments
    rows = lake.scan_partition("focus", provider, billing_period)
    with lake.staged_period(provider, billing_period, COMMITMENT_MARTS) as staged:
        pl.collect_all(
            [
                commitment_utilization(rows).sink_parquet(
                    staged.part_path(COMMITMENT_MARTS[0], 0), lazy=True
                ),
                commitment_coverage(rows).sink_parquet(
                    staged.part_path(COMMITMENT_MARTS[1], 0), lazy=True
                ),
            ],
            engine="streaming",
        )
    daily = lake.scan_partition(COMMITMENT_MARTS[0], provider, billing_period)
    period = period_utilization(daily).collect()
    contracts = lake.scan_partition(CONTRACT_COMMITMENT_TABLE, provider, billing_period).collect()
    period_end = contracts["BillingPeriodEnd"].max() if contracts.height else None
    as_of = min(datetime.now(UTC), period_end) if period_end else datetime.now(UTC)
    warnings = commitment_warnings(
        period, contracts, as_of, limits.utilization_threshold, limits.expiry_days
    )
    lines = [f"- {w.message}" for w in warnings]
    yield MaterializeResult(asset_key="commitment_coverage")
    yield MaterializeResult(
        asset_key="commitment_utilization",
        metadata={
            "commitments": period.height,
            "unused_cost": float(period["unused_cost"].sum() or 0.0),
        },
        check_results=[
            AssetCheckResult(
                check_name="commitments_used_and_not_expiring",
                asset_key="commitment_utilization",
                passed=not warnings,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "thresholds": f"utilization under {limits.utilization_threshold:.0%}, "
                    f"ending within {limits.expiry_days} days",
                    "warnings": MetadataValue.md("\n".join(lines) or "none"),
                },
            )
        ],
    )
