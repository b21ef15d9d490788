"""Partitions follow the unit of replacement: billing period × provider."""

from dagster import (
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from costlake.config import PROVIDERS

FIRST_PERIOD = "2023-01"

# The marts that span the providers (AI unit costs, GPU utilization, anomalies) are rebuilt per
# billing period, after every provider's FOCUS rows of the period.
period_partitions = MonthlyPartitionsDefinition(start_date=FIRST_PERIOD, fmt="%Y-%m", end_offset=1)

billing_partitions = MultiPartitionsDefinition(
    {"billing_period": period_partitions, "provider": StaticPartitionsDefinition(list(PROVIDERS))}
)


def partition_key(billing_period: str, provider: str) -> MultiPartitionKey:
    """The Dagster partition key of one (billing period, provider)."""
    return MultiPartitionKey({"billing_period": billing_period, "provider": provider})
