"""Partitions follow the unit of replacement: billing period × provider."""

from dagster import (
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from costlake.config import PROVIDERS

FIRST_PERIOD = "2023-01"

billing_partitions = MultiPartitionsDefinition(
    {
        "billing_period": MonthlyPartitionsDefinition(
            start_date=FIRST_PERIOD, fmt="%Y-%m", end_offset=1
        ),
        "provider": StaticPartitionsDefinition(list(PROVIDERS)),
    }
)


def partition_key(billing_period: str, provider: str) -> MultiPartitionKey:
    """The Dagster partition key of one (billing period, provider)."""
    return MultiPartitionKey({"billing_period": billing_period, "provider": provider})
