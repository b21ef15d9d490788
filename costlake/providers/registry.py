"""Every kind of export costlake reads, by ``x_SourceDataset`` name: each provider's own list."""

from __future__ import annotations

from costlake.providers import aws, azure, gcp, oci
from costlake.providers.datasets import SourceDataset


def source_datasets() -> dict[str, SourceDataset]:
    """All source datasets, by name."""
    return {
        **aws.SOURCE_DATASETS,
        **azure.SOURCE_DATASETS,
        **gcp.SOURCE_DATASETS,
        **oci.SOURCE_DATASETS,
    }
