"""Find GCP billing export deliveries in a folder: the embedded stand-in for BigQuery.

The local form of the export is what an export of the BigQuery table to files gives, one folder
per invoice month under a folder named like the table::

    <prefix>/gcp_billing_export_v1_<ACCOUNT>/invoice_month=YYYYMM/*.parquet | *.jsonl[.gz]
    <prefix>/gcp_billing_export_resource_v1_<ACCOUNT>/invoice_month=YYYYMM/...   (detailed)

A month's folder is rewritten whole by each export, so all its files are the delivery; the
delivery id is a digest of their names and sizes, so an unchanged month is not fetched again.
"""

from __future__ import annotations

import hashlib
import re

from connectors.stores.files import FileStore, safe_key
from costlake.focus.deliveries import Delivery, DeliveryError, DeliveryFile

MONTH_FOLDER = re.compile(
    r"(?:^|/)gcp_billing_export_(resource_)?v1_[^/]+/invoice_month=(\d{4})(\d{2})/[^/]+$"
)
DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")


def find_gcp_deliveries(store: FileStore, prefix: str = "") -> dict[str, Delivery]:
    """Every invoice month's files found under ``prefix``."""
    months: dict[str, dict] = {}
    for obj in store.list(prefix):
        match = MONTH_FOLDER.search(obj.key)
        if not match or not obj.key.endswith(DATA_SUFFIXES):
            continue
        detailed, year, month = match.groups()
        period = f"{year}-{month}"
        dataset = "gcp_billing_export_detailed" if detailed else "gcp_billing_export"
        entry = months.setdefault(period, {"dataset": dataset, "objects": []})
        if entry["dataset"] != dataset:
            raise DeliveryError(
                f"both the standard and the detailed GCP export deliver {period} under "
                f"{prefix or 'the root'} of {store.describe()}: point the source at one table"
            )
        entry["objects"].append(obj)
    deliveries = {}
    for period, entry in sorted(months.items()):
        objects = sorted(entry["objects"], key=lambda o: o.key)
        digest = hashlib.sha256(
            "\n".join(f"{o.key}\t{o.size}" for o in objects).encode()
        ).hexdigest()[:16]
        folder = objects[0].key.rsplit("/", 1)[0]
        deliveries[period] = Delivery(
            provider="gcp",
            source_dataset=entry["dataset"],
            billing_period=period,
            delivery_id=f"{period}-{digest}",
            manifest_path=folder,
            files=tuple(DeliveryFile(safe_key(o.key), o.size) for o in objects),
        )
    return deliveries
