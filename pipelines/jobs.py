"""The nightly job, and what one of its runs materializes."""

from dagster import AssetKey, AssetSelection, define_asset_job

from assets.billing import RAW_DELIVERIES, focus
from assets.partitions import billing_partitions

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.assets(*RAW_DELIVERIES.values(), focus),
    partitions_def=billing_partitions,
    description="Land the newest deliveries and rebuild the FOCUS lake, one period per run.",
)


def assets_of(provider: str) -> list[AssetKey]:
    """What a run of one (period, provider) partition materializes: its delivery, then focus."""
    return [RAW_DELIVERIES[provider].key, focus.key]
