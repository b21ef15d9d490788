"""Partitions follow the unit of replacement: billing period × provider."""

from dagster import (
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from costlake.config import PROVIDERS
from costlake.focus.periods import billing_period as normalized_period

FIRST_PERIOD = "2023-01"

# The marts that span the providers (AI, GPU, anomalies, budgets, ...) are rebuilt per
# billing period, after every provider's FOCUS rows of the period.
period_partitions = MonthlyPartitionsDefinition(start_date=FIRST_PERIOD, fmt="%Y-%m", end_offset=1)

billing_partitions = MultiPartitionsDefinition(
    {"billing_period": period_partitions, "provider": StaticPartitionsDefinition(list(PROVIDERS))}
)


def partition_key(billing_period: str, provider: str) -> MultiPartitionKey:
    """The Dagster partition key of one (billing period, provider); ``2025-5`` is ``2025-05``,
    and what is not a period is refused (``ValueError`` naming it)."""
    period = normalized_period(billing_period)
    return MultiPartitionKey({"billing_period": period, "provider": provider})
