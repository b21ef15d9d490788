"""Normalize one export file, outside any delivery: the ``costlake normalize`` command."""

from __future__ import annotations

from pathlib import Path

from costlake.focus.deliveries import Delivery, DeliveryError, DeliveryFile
from costlake.focus.ingest import IngestReport, ingest_delivery, normalized_rows
from costlake.focus.lake import Lake
from costlake.providers.registry import source_datasets


def first_billing_period(path: Path, dataset: str) -> str:
    """The billing period (YYYY-MM) of the file's first row that has one."""
    probe = _delivery(path, dataset, "")
    rows = normalized_rows(path, path.name, probe, source_datasets()[dataset])
    first = rows.select("BillingPeriodStart").drop_nulls().head(1).collect()
    if first.is_empty():
        raise DeliveryError(f"{path.name}: no row with a billing period")
    return first.item().strftime("%Y-%m")


def _delivery(path: Path, dataset: str, billing_period: str) -> Delivery:
    return Delivery(
        provider=source_datasets()[dataset].provider,
        source_dataset=dataset,
        billing_period=billing_period,
        delivery_id=f"file:{path.name}",
        manifest_path=path.name,
        files=(DeliveryFile(path.name, path.stat().st_size),),
    )


def normalize_file(
    path: Path, lake: Lake, dataset: str, billing_period: str | None
) -> IngestReport:
    """Write one file as the whole delivery of its billing period in ``lake``: audited and
    published like any delivery (``AuditFailed``, a ``DeliveryError``, when the audit fails)."""
    if dataset not in source_datasets():
        known = ", ".join(source_datasets())
        raise DeliveryError(f"unknown dataset {dataset}: use one of {known}")
    period = billing_period or first_billing_period(path, dataset)
    return ingest_delivery(_delivery(path, dataset, period), path.parent, lake)
