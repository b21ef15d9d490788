"""The Dagster code location: ``dagster dev`` and the ``costlake`` CLI both load ``defs``.

Policies are set here, once, for every asset (``pipelines.policies``): freshness, run retries,
and the automation condition that starts the period marts after ``focus``.
"""

__all__ = ["defs", "nightly_job", "nightly_schedule", "period_marts_job"]

from datetime import datetime

from dagster import (
    AssetSelection,
    AssetSpec,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    JobDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    schedule,
)

from assets.partitions import partition_key
from assets.resources import CostlakeResource
from costlake.config import PROVIDERS, load_settings
from costlake.focus.periods import periods_to_refresh
from pipelines.jobs import NIGHTLY_ASSETS, PERIOD_MARTS, nightly_job, period_marts_job
from pipelines.policies import FRESHNESS, MARTS_AFTER_FOCUS, RUN_RETRIES
from pipelines.sensors import DELIVERY_SENSORS


@schedule(
    job=nightly_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
def nightly_schedule(context: ScheduleEvaluationContext):
    """Each night: the current period and, early in a month, the previous one (restatements),
    for every configured provider; the period marts follow through their automation condition."""
    when: datetime = context.scheduled_execution_time
    configured = load_settings().providers()
    for period in periods_to_refresh(when.date()):
        for provider in [p for p in PROVIDERS if p in configured]:
            key = partition_key(period, provider)
            yield RunRequest(run_key=f"{key}@{when:%Y-%m-%d}", partition_key=key)


MARTS = AssetSelection.assets(*PERIOD_MARTS)

# The daemon's evaluation of the marts' automation condition; `costlake run` asks Dagster the
# same question in-process (pipelines.launch), so both launch the marts that are due.
marts_automation = AutomationConditionSensorDefinition(
    "period_marts_after_focus",
    target=MARTS,
    run_tags=RUN_RETRIES,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests the period marts whose focus partitions were updated and passed "
    "their blocking checks.",
)


MART_KEYS = {key for mart in PERIOD_MARTS for key in mart.keys}


def _with_policies(spec: AssetSpec) -> AssetSpec:
    spec = spec.replace_attributes(freshness_policy=FRESHNESS)
    if spec.key in MART_KEYS:
        spec = spec.replace_attributes(automation_condition=MARTS_AFTER_FOCUS)
    return spec


defs = Definitions(
    assets=[*NIGHTLY_ASSETS, *PERIOD_MARTS],
    jobs=[nightly_job, period_marts_job],
    schedules=[nightly_schedule],
    sensors=[*DELIVERY_SENSORS, marts_automation],
    resources={"costlake": CostlakeResource()},
).map_asset_specs(func=_with_policies)


def nightly() -> JobDefinition:
    """The nightly job, reconstructable in another process (``dagster.reconstructable``)."""
    return defs.resolve_job_def("nightly")


def period_marts() -> JobDefinition:
    """The period marts job, reconstructable in another process."""
    return defs.resolve_job_def("period_marts")
