"""One sensor per cloud: a new delivery of any billing period requests that period's run.

The schedule refreshes the current (and, early in a month, the previous) period every night; a
sensor also catches what the schedule does not: a closed month re-delivered with late credits,
or a delivery that lands during the day. A delivery is new when its id differs from the one the
lake's ``ingests`` record holds for that period, so the lake itself is the durable state, and
the run key (provider, period, delivery id) makes Dagster request each delivery once.
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
from connectors.sources import deliveries_at
from costlake.config import PROVIDERS, load_settings
from costlake.deliveries import DeliveryError
from costlake.ingest import ingested_delivery_id
from costlake.lake import Lake
from pipelines.jobs import assets_of, nightly_job


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
        requested = 0
        for source in settings.sources(provider):
            try:
                found = deliveries_at(provider, source)
            except DeliveryError as exc:
                context.log.warning(f"{provider} source {source.name}: {exc}")
                continue
            for period, delivery in sorted(found.items()):
                if period < FIRST_PERIOD:
                    continue
                if ingested_delivery_id(lake, provider, period) == delivery.delivery_id:
                    continue
                requested += 1
                yield RunRequest(
                    run_key=f"{provider}|{period}|{delivery.delivery_id}",
                    partition_key=partition_key(period, provider),
                    asset_selection=assets_of(provider),
                    tags={"costlake/delivery_id": delivery.delivery_id},
                )
        if not requested:
            yield SkipReason(f"every {provider} delivery is in the lake")

    return _sensor


DELIVERY_SENSORS = [new_deliveries_sensor(provider) for provider in PROVIDERS]
