"""Normalize one export file, outside any delivery: the ``costlake normalize`` command."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from costlake.deliveries import Delivery, DeliveryError, DeliveryFile
from costlake.ingest import SOURCE_DATASETS, IngestReport, ingest_delivery
from costlake.lake import Lake
from costlake.readers import record_batches, source_columns


def first_billing_period(path: Path, dataset: str) -> str:
    """The billing period (YYYY-MM) of the file's first good row."""
    reader = SOURCE_DATASETS[dataset]
    rename = reader.rename(source_columns(path, path.name))
    for batch in record_batches(path, path.name):
        frame = pl.from_arrow(batch).rename(rename)
        lineage = {
            "x_Provider": "aws",
            "x_SourceDataset": dataset,
            "x_DeliveryId": "",
            "x_SourceFile": path.name,
        }
        frame = frame.with_columns(
            *(pl.lit(v).alias(k) for k, v in lineage.items()), x_SourceRow=pl.lit(0)
        )
        starts = reader.normalize(frame.lazy()).select("BillingPeriodStart").drop_nulls()
        first = starts.head(1).collect()
        if first.height:
            return first.item().strftime("%Y-%m")
    raise DeliveryError(f"{path.name}: no row with a billing period")


def normalize_file(
    path: Path, lake: Lake, dataset: str, billing_period: str | None
) -> IngestReport:
    """Write one file as the whole delivery of its billing period in ``lake``."""
    if dataset not in SOURCE_DATASETS:
        raise DeliveryError(f"unknown dataset {dataset}: use one of {', '.join(SOURCE_DATASETS)}")
    period = billing_period or first_billing_period(path, dataset)
    delivery = Delivery(
        provider="aws",
        source_dataset=dataset,
        billing_period=period,
        delivery_id=f"file:{path.name}",
        manifest_path=str(path.name),
        files=(DeliveryFile(path.name, path.stat().st_size),),
    )
    return ingest_delivery(delivery, path.parent, lake)
