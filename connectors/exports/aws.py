"""Find AWS billing deliveries the way AWS writes them: the newest manifest of each period wins.

Legacy CUR: ``<prefix>/<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json`` names its
``reportKeys``; manifests inside assembly folders and stale assemblies are ignored. CUR 2.0 and
FOCUS (Data Exports):
``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/[...]<export>-Manifest.json``
names its ``dataFiles``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from connectors.stores.files import FileStore, StoredObject, listed_files
from costlake.focus.deliveries import Delivery, DeliveryError

LEGACY_MANIFEST = re.compile(r"(?:^|/)(\d{8})-(\d{8})/[^/]+-Manifest\.json$")
DATA_EXPORT_MANIFEST = re.compile(
    r"(?:^|/)metadata/BILLING_PERIOD=(\d{4}-\d{2})/(?:.+/)?[^/]+-Manifest\.json$"
)


def _period_of_legacy(start: str) -> str:
    return f"{start[:4]}-{start[4:6]}"


def _key_of(uri_or_key: str) -> str:
    """Bucket-relative key from ``s3://bucket/key`` or a plain key."""
    if uri_or_key.startswith("s3://"):
        return uri_or_key.split("/", 3)[3]
    return uri_or_key


def _dataset_of(columns: Iterable[str]) -> str:
    names = set(columns)
    return "aws_focus" if "BilledCost" in names else "aws_cur2"


def _read_manifest(store: FileStore, key: str) -> dict:
    try:
        with store.open(key) as stream:
            return json.load(stream)
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{key}: cannot read AWS manifest: {exc}") from exc


def _newest(objects: list[StoredObject]) -> StoredObject:
    return max(objects, key=lambda o: (o.modified, o.key))


def find_aws_deliveries(store: FileStore, prefix: str = "") -> dict[str, Delivery]:
    """The newest complete delivery of every billing period found under ``prefix``."""
    objects = [o for o in store.list(prefix) if o.key.endswith("-Manifest.json")]
    by_period: dict[str, list[StoredObject]] = {}
    for obj in objects:
        legacy = LEGACY_MANIFEST.search(obj.key)
        export = DATA_EXPORT_MANIFEST.search(obj.key)
        if export:
            by_period.setdefault(export.group(1), []).append(obj)
        elif legacy:
            by_period.setdefault(_period_of_legacy(legacy.group(1)), []).append(obj)
    return {period: _delivery(store, period, _newest(objs)) for period, objs in by_period.items()}


def _delivery(store: FileStore, period: str, manifest: StoredObject) -> Delivery:
    data = _read_manifest(store, manifest.key)
    if "reportKeys" in data:
        return Delivery(
            provider="aws",
            source_dataset="aws_cur_legacy",
            billing_period=period,
            delivery_id=str(data.get("assemblyId") or manifest.key),
            manifest_path=manifest.key,
            files=listed_files(store, [_key_of(k) for k in data["reportKeys"]], manifest.key),
            created=None,
        )
    if "dataFiles" in data:
        columns = [c["name"] if isinstance(c, dict) else c for c in data.get("columns", [])]
        return Delivery(
            provider="aws",
            source_dataset=_dataset_of(columns),
            billing_period=period,
            delivery_id=str(data.get("executionId") or manifest.key),
            manifest_path=manifest.key,
            files=listed_files(store, [_key_of(k) for k in data["dataFiles"]], manifest.key),
            created=data.get("createdAt"),
        )
    raise DeliveryError(f"{manifest.key}: neither 'reportKeys' nor 'dataFiles' in AWS manifest")
