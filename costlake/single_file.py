"""Normalize one export file, outside any delivery: the ``costlake normalize`` command."""

from __future__ import annotations

from pathlib import Path

from costlake.deliveries import Delivery, DeliveryError, DeliveryFile
from costlake.ingest import SOURCE_DATASETS, IngestReport, ingest_delivery, normalized_rows
from costlake.lake import Lake


def first_billing_period(path: Path, dataset: str) -> str:
    """The billing period (YYYY-MM) of the file's first row that has one."""
    probe = _delivery(path, dataset, "")
    rows = normalized_rows(path, path.name, probe, SOURCE_DATASETS[dataset])
    first = rows.select("BillingPeriodStart").drop_nulls().head(1).collect()
    if first.is_empty():
        raise DeliveryError(f"{path.name}: no row with a billing period")
    return first.item().strftime("%Y-%m")


def _delivery(path: Path, dataset: str, billing_period: str) -> Delivery:
    return Delivery(
        provider="aws",
        source_dataset=dataset,
        billing_period=billing_period,
        delivery_id=f"file:{path.name}",
        manifest_path=path.name,
        files=(DeliveryFile(path.name, path.stat().st_size),),
    )


def normalize_file(
    path: Path, lake: Lake, dataset: str, billing_period: str | None
) -> IngestReport:
    """Write one file as the whole delivery of its billing period in ``lake``."""
    if dataset not in SOURCE_DATASETS:
        raise DeliveryError(f"unknown dataset {dataset}: use one of {', '.join(SOURCE_DATASETS)}")
    period = billing_period or first_billing_period(path, dataset)
    return ingest_delivery(_delivery(path, dataset, period), path.parent, lake)
