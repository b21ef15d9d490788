"""The tag marts of each (billing period, provider): coverage and untagged spend, for BI.

One streaming run over the period's rows writes both, so they are one multi-asset.
"""

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from assets.billing import partition_of
from assets.lake_tables import table_spec
from assets.partitions import billing_partitions
from assets.resources import CostlakeResource
from costlake.focus.lock import LockBusy, LockLost
from costlake.tags.marts import tag_coverage, untagged_share, untagged_spend

TAG_MARTS = ("marts/tag_coverage", "marts/untagged_spend")
TOP_SPENDERS = 10


def _share_check(shares: pl.DataFrame, warn: float, error: float) -> AssetCheckResult:
    """Fails at WARN above ``warn``, at ERROR above ``error``, per currency's untagged share."""
    worst = float(shares["untagged_share"].max() or 0.0)
    severity = AssetCheckSeverity.ERROR if worst > error else AssetCheckSeverity.WARN
    lines = [
        f"- {currency}: {untagged:,.2f} of {taggable:,.2f} taggable cost untagged ({share:.1%})"
        for currency, taggable, untagged, share in shares.fill_null(0.0).iter_rows()
    ]
    return AssetCheckResult(
        check_name="untagged_share_under_threshold",
        asset_key="tag_coverage",
        passed=worst <= warn,
        severity=severity,
        metadata={
            "untagged_share": worst,
            "thresholds": f"warn above {warn:.0%}, error above {error:.0%}",
            "by_currency": MetadataValue.md("\n".join(lines) or "no taggable cost"),
        },
    )


def _top_spenders_markdown(spend: pl.DataFrame) -> str:
    """The largest untagged resources of the period, summed over its days."""
    top = (
        spend.group_by("BillingCurrency", "ServiceName", "ResourceId", "missing_tags")
        .agg(pl.col("EffectiveCost").sum())
        .sort("EffectiveCost", descending=True)
        .head(TOP_SPENDERS)
    )
    rows = [
        f"| {cost:,.2f} {currency} | {service} | {resource or '(no resource id)'} | {missing} |"
        for currency, service, resource, missing, cost in top.iter_rows()
    ]
    header = "| cost | service | resource | missing tags |\n| ---: | --- | --- | --- |"
    return "\n".join([header, *rows]) if rows else "no untagged spend"


@multi_asset(
    name="tag_marts",
    specs=[
        table_spec(
            TAG_MARTS[0],
            "Share of cost carrying each mandatory tag, per account and service.",
            ["focus"],
            billing_partitions,
            "tags",
        ),
        table_spec(
            TAG_MARTS[1],
            "Untagged spend per day and resource, ranked by cost.",
            ["focus"],
            billing_partitions,
            "tags",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "untagged_share_under_threshold",
            asset="tag_coverage",
            description="The untagged share of taggable cost stays under the configured levels.",
        )
    ],
)
def tag_marts(context: AssetExecutionContext, costlake: CostlakeResource):
    billing_period, provider = partition_of(context)
    lake = costlake.lake()
    settings = costlake.settings()
    rules = costlake.tag_rules()
    try:
        # Under the period's lock, so the marts are built from one published version of focus
        # and published together.
        with lake.staged_period(provider, billing_period, TAG_MARTS) as staged:
            rows = lake.scan_partition("focus", provider, billing_period)
            # One streaming run writes both marts from the period's rows.
            coverage_path = staged.part_path("marts/tag_coverage", 0)
            spend_path = staged.part_path("marts/untagged_spend", 0)
            pl.collect_all(
                [
                    tag_coverage(rows, rules).sink_parquet(coverage_path, lazy=True),
                    untagged_spend(rows, rules).sink_parquet(spend_path, lazy=True),
                ],
                engine="streaming",
            )
    except (LockBusy, LockLost) as exc:
        raise Failure(f"{provider} {billing_period} tag marts: {exc}") from exc
    spend = lake.scan_partition("marts/untagged_spend", provider, billing_period).collect()
    shares = untagged_share(lake.scan_partition("marts/tag_coverage", provider, billing_period))
    limits = settings.untagged_share
    yield MaterializeResult(
        asset_key="tag_coverage",
        check_results=[_share_check(shares, limits.warn, limits.error)],
    )
    yield MaterializeResult(
        asset_key="untagged_spend",
        metadata={
            "untagged_rows": spend.height,
            "top_untagged": MetadataValue.md(_top_spenders_markdown(spend)),
        },
    )
