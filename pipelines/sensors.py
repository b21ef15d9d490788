"""One sensor per cloud: a new delivery of any billing period requests that period's run.

The schedule refreshes the current (and, early in a month, the previous) period every night; a
sensor also catches what the schedule does not: a closed month re-delivered with late credits,
or a delivery that lands during the day. A period is new when its id (the ids of its deliveries,
one per configured account, joined) differs from the one the lake's ``ingests`` record holds,
so the lake itself is the durable state, and the run key (provider, period, id) makes Dagster
request each change once.
"""

from __future__ import annotations

from collections.abc import Iterator

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from assets.partitions import FIRST_PERIOD, partition_key
from connectors.sources import deliveries_by_period
from costlake.config import PROVIDERS, load_settings
from costlake.focus.deliveries import DeliveryError
from costlake.focus.ingest import combined_delivery_id, ingested_delivery_id
from costlake.focus.lake import Lake
from pipelines.jobs import nightly_job


def new_deliveries_sensor(provider: str) -> SensorDefinition:
    """The sensor that requests a run for each new delivery of ``provider``."""

    @sensor(
        name=f"{provider}_new_deliveries",
        job=nightly_job,
        minimum_interval_seconds=3600,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Requests the billing periods whose {provider} delivery changed.",
    )
    def _sensor(context: SensorEvaluationContext) -> Iterator[RunRequest | SkipReason]:
        settings = load_settings()
        if provider not in settings.providers():
            yield SkipReason(f"no {provider} source in the configuration")
            return
        lake = Lake(settings.lake_root)
        try:
            periods = deliveries_by_period(provider, settings.sources(provider), lake)
        except DeliveryError as exc:
            yield SkipReason(f"{provider}: {exc}")
            return
        requested = 0
        for period, found in sorted(periods.items()):
            delivery_id = combined_delivery_id([delivery for _, delivery in found])
            if period < FIRST_PERIOD or ingested_delivery_id(lake, provider, period) == delivery_id:
                continue
            requested += 1
            yield RunRequest(
                run_key=f"{provider}|{period}|{delivery_id}",
                partition_key=partition_key(period, provider),
                tags={"costlake/delivery_id": delivery_id},
            )
        if not requested:
            yield SkipReason(f"every {provider} delivery is in the lake")

    return _sensor


DELIVERY_SENSORS = [new_deliveries_sensor(provider) for provider in PROVIDERS]
