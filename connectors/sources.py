"""Which store and which delivery finder serve each provider's configured export locations."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from connectors.exports.aws import find_aws_deliveries
from connectors.exports.azure import find_azure_deliveries
from connectors.exports.gcp import find_gcp_deliveries
from connectors.exports.landing import land_delivery, landed_delivery
from connectors.exports.oci import find_oci_deliveries
from connectors.state import StateFile
from connectors.stores.bigquery import (
    bigquery_client,
    land_bigquery_delivery,
    remembered_bigquery_deliveries,
)
from connectors.stores.blob import AzureBlobStore
from connectors.stores.files import FileStore, LocalFileStore
from connectors.stores.oci import OciObjectStore
from connectors.stores.s3 import S3FileStore
from costlake.config import (
    BigQuerySource,
    ExportSource,
    FolderSource,
    ObjectStorageSource,
    S3Source,
)
from costlake.focus.deliveries import Delivery, DeliveryError
from costlake.focus.lake import Lake

# What each OCI report file holds, remembered so a run reads only new report files.
OCI_REPORT_PERIODS = "state/connectors/oci-report-periods.json"
# What each BigQuery export table held at its last listing, so a run lists only recent days.
BIGQUERY_LISTINGS = "state/connectors/bigquery-listings.json"

FINDERS: dict[str, Callable[[FileStore, str], dict[str, Delivery]]] = {
    "aws": find_aws_deliveries,
    "azure": find_azure_deliveries,
    "gcp": find_gcp_deliveries,
    "oci": find_oci_deliveries,
}


def store_for(source: ExportSource) -> FileStore:
    """The store behind a configured export location of files (every kind but BigQuery)."""
    if isinstance(source, BigQuerySource):
        raise TypeError(f"source {source.name} is a BigQuery table, not a store of files")
    if isinstance(source, FolderSource):
        return LocalFileStore(source.root)
    if isinstance(source, S3Source):
        return S3FileStore(
            source.bucket,
            region=source.region,
            profile=source.profile,
            endpoint_url=source.endpoint_url,
        )
    if isinstance(source, ObjectStorageSource):
        if source.auth == "instance_principal":
            return OciObjectStore.with_instance_principals(
                source.bucket, source.namespace, source.region, source.service_endpoint
            )
        return OciObjectStore.from_config_file(
            source.bucket,
            source.namespace,
            source.profile,
            source.config_file,
            source.region,
            source.service_endpoint,
        )
    if source.connection_string_env:
        return AzureBlobStore.from_connection_string(source.connection_string_env, source.container)
    return AzureBlobStore.from_account(str(source.account_url), source.container)


def deliveries_at(
    provider: str, source: ExportSource, lake: Lake, read_only: bool = False
) -> dict[str, Delivery]:
    """Every billing period's newest delivery at one export location of a provider.

    What a listing learnt (OCI's report periods, BigQuery listings) is kept in ``lake``'s
    state; ``read_only`` leaves it as it was.
    """
    if isinstance(source, BigQuerySource):
        listings = StateFile(lake, BIGQUERY_LISTINGS)
        return remembered_bigquery_deliveries(source, listings, update_cache=not read_only)
    store = store_for(source)
    if provider == "oci":
        periods = StateFile(lake, OCI_REPORT_PERIODS)
        return find_oci_deliveries(store, source.prefix, periods, update_cache=not read_only)
    return FINDERS[provider](store, source.prefix)


def deliveries_by_period(
    provider: str, sources: list[ExportSource], lake: Lake
) -> dict[str, list[tuple[ExportSource, Delivery]]]:
    """Each billing period's newest delivery from every export location of a provider: the
    accounts that together make up the period in the lake.

    Two locations delivering the very same export are refused: its rows would count twice.
    """
    periods: dict[str, list[tuple[ExportSource, Delivery]]] = {}
    for source in sources:
        for delivery in deliveries_at(provider, source, lake).values():
            # Keyed by the delivery's own period, normalized once (2025-5 is 2025-05).
            periods.setdefault(delivery.billing_period, []).append((source, delivery))
    for period, found in periods.items():
        seen: dict[str, str] = {}
        for source, delivery in found:
            if delivery.delivery_id in seen:
                raise DeliveryError(
                    f"{provider} sources {seen[delivery.delivery_id]} and {source.name} both "
                    f"deliver {delivery.delivery_id} for {period}: its rows would count twice; "
                    "give each account its own export location"
                )
            seen[delivery.delivery_id] = source.name
    return periods


def describe(source: ExportSource) -> str:
    """Where a source points, for messages (never with credentials)."""
    if isinstance(source, BigQuerySource):
        return f"bigquery://{source.project}.{source.dataset}.{source.table}"
    return store_for(source).describe()


def land_from(source: ExportSource, delivery: Delivery, folder: Path) -> Path:
    """Land ``delivery`` from ``source`` under ``folder`` (the source's raw folder for the
    period); the folder holding it.

    Files land in a folder named for the delivery, so the one landed before stays whole until
    the new one is complete; files that never change are linked from it, not fetched again. A
    BigQuery month lands in one lasting folder instead, where only the partition days that
    changed are queried again.
    """
    if isinstance(source, BigQuerySource):
        target = folder / "bigquery"
        previous = landed_delivery(target)
        client = bigquery_client(source)
        return land_bigquery_delivery(client, source, delivery, target, previous)
    target = folder / re.sub(r"[^A-Za-z0-9._-]", "_", delivery.delivery_id)
    earlier = tuple(p for p in folder.iterdir() if p != target) if folder.exists() else ()
    return land_delivery(store_for(source), delivery, target, earlier)
