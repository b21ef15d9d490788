"""The Dagster code location: ``dagster dev`` and the ``costlake`` CLI both load ``defs``."""

__all__ = ["assets_of", "defs", "nightly_job", "nightly_schedule", "period_marts_schedule"]

from datetime import datetime

from dagster import (
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    schedule,
)

from assets.billing import RAW_DELIVERIES, focus
from assets.commitments import commitment_marts
from assets.partitions import partition_key
from assets.resources import CostlakeResource
from assets.tags import tag_marts
from costlake.config import PROVIDERS, load_settings
from costlake.focus.periods import periods_to_refresh
from pipelines.jobs import PERIOD_MARTS, assets_of, nightly_job, period_marts_job
from pipelines.sensors import DELIVERY_SENSORS


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


@schedule(
    job=period_marts_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
def period_marts_schedule(context: ScheduleEvaluationContext):
    """Two hours after the nightly runs: the cross-provider marts of the same periods."""
    when: datetime = context.scheduled_execution_time
    for period in periods_to_refresh(when.date()):
        yield RunRequest(run_key=f"{period}@{when:%Y-%m-%d}", partition_key=period)


defs = Definitions(
    assets=[*RAW_DELIVERIES.values(), focus, tag_marts, commitment_marts, *PERIOD_MARTS],
    jobs=[nightly_job, period_marts_job],
    schedules=[nightly_schedule, period_marts_schedule],
    sensors=DELIVERY_SENSORS,
    resources={"costlake": CostlakeResource()},
)
