"""The nightly jobs, and what one of their runs materializes."""

from dagster import AssetKey, AssetSelection, define_asset_job

from assets.ai import ai_unit_costs_mart, arbitrage_mart
from assets.anomalies import anomalies_mart
from assets.billing import RAW_DELIVERIES, focus
from assets.budgets import budget_marts
from assets.commitments import commitment_marts
from assets.gpu import gpu_utilization_mart
from assets.maturity import maturity_scorecard_mart
from assets.partitions import billing_partitions, period_partitions
from assets.report import report
from assets.tags import tag_marts

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.assets(*RAW_DELIVERIES.values(), focus, tag_marts, commitment_marts),
    partitions_def=billing_partitions,
    description="Land new deliveries, rebuild the FOCUS lake, tag and commitment marts, one "
    "period a run.",
)

# The report reads the marts before it, so it comes last in the period's run.
PERIOD_MARTS = (
    ai_unit_costs_mart,
    gpu_utilization_mart,
    anomalies_mart,
    budget_marts,
    arbitrage_mart,
    maturity_scorecard_mart,
    report,
)

period_marts_job = define_asset_job(
    "period_marts",
    selection=AssetSelection.assets(*PERIOD_MARTS),
    partitions_def=period_partitions,
    description="Rebuild the marts that span the providers (AI unit costs, GPU utilization, "
    "anomalies, budgets and forecasts, arbitrage, the maturity scorecard) and the period's "
    "report page, one period a run, "
    "after the nightly runs of that period.",
)


def assets_of(provider: str) -> list[AssetKey]:
    """What a run of one (period, provider) partition materializes: its delivery, focus, then
    the tag and commitment marts."""
    return [RAW_DELIVERIES[provider].key, focus.key, tag_marts.key, commitment_marts.key]
