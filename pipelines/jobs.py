"""The nightly job, and what one of its runs materializes."""

from dagster import AssetKey, AssetSelection, define_asset_job

from assets.billing import RAW_DELIVERIES, focus
from assets.partitions import billing_partitions
from assets.tags import tag_marts

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.assets(*RAW_DELIVERIES.values(), focus, tag_marts),
    partitions_def=billing_partitions,
    description="Land new deliveries, rebuild the FOCUS lake and tag marts, one period a run.",
)


def assets_of(provider: str) -> list[AssetKey]:
    """What a run of one (period, provider) partition materializes: its delivery, focus, then
    the tag marts."""
    return [RAW_DELIVERIES[provider].key, focus.key, tag_marts.key]
