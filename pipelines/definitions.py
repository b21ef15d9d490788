"""The Dagster code location: ``dagster dev`` and the ``costlake`` CLI both load ``defs``."""

from datetime import datetime

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from assets.billing import RAW_DELIVERIES, focus
from assets.partitions import billing_partitions, partition_key
from assets.resources import CostlakeResource
from costlake.config import PROVIDERS, load_settings
from costlake.schedule import periods_to_refresh

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.assets(*RAW_DELIVERIES.values(), focus),
    partitions_def=billing_partitions,
    description="Land the newest deliveries and rebuild the FOCUS lake, one period per run.",
)


def assets_of(provider: str) -> list[AssetKey]:
    """What a run of one (period, provider) partition materializes: its delivery, then focus."""
    return [RAW_DELIVERIES[provider].key, focus.key]


@schedule(
    job=nightly_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
def nightly_schedule(context: ScheduleEvaluationContext):
    """Each night: the current period and, early in a month, the previous one (restatements)."""
    when: datetime = context.scheduled_execution_time
    configured = load_settings().providers()
    for period in periods_to_refresh(when.date()):
        for provider in [p for p in PROVIDERS if p in configured]:
            key = partition_key(period, provider)
            yield RunRequest(
                run_key=f"{key}@{when:%Y-%m-%d}",
                partition_key=key,
                asset_selection=assets_of(provider),
            )


defs = Definitions(
    assets=[*RAW_DELIVERIES.values(), focus],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    resources={"costlake": CostlakeResource()},
)
