"""Find Azure Cost Management export runs the way Azure writes them: by their manifest.json.

Each run writes ``<root folder>/<yyyyMMdd-yyyyMMdd>/<export>/<yyyyMMddHHmm>/<run id>/`` with its
data blobs and a ``manifest.json`` naming them (``blobs[].blobName``, ``byteCount``), the month
it covers (``runInfo.startDate``) and when it was submitted. Month-to-date runs re-deliver the
whole month, so the newest run of a month is its delivery; older runs are ignored.
"""

from __future__ import annotations

import json

from connectors.stores.files import FileStore, StoredObject, listed_files
from costlake.focus.deliveries import Delivery, DeliveryError

DATASET_BY_EXPORT_TYPE = {
    "actualcost": "azure_actual",
    "usage": "azure_actual",
    "amortizedcost": "azure_amortized",
    "focuscost": "azure_focus",
}


def _run(store: FileStore, manifest: StoredObject) -> dict:
    try:
        with store.open(manifest.key) as stream:
            data = json.load(stream)
        export_type = data["exportConfig"]["type"]
        run = data["runInfo"]
        blobs = data["blobs"]
        period = run["startDate"][:7]
        submitted = run["submittedTime"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeliveryError(f"{manifest.key}: not a readable Azure export manifest: {exc}") from exc
    dataset = DATASET_BY_EXPORT_TYPE.get(str(export_type).lower())
    if dataset is None:
        known = ", ".join(DATASET_BY_EXPORT_TYPE)
        raise DeliveryError(f"{manifest.key}: export type {export_type!r} is not one of {known}")
    return {
        "manifest": manifest,
        "dataset": dataset,
        "period": period,
        "submitted": submitted,
        "run_id": str(run.get("runId") or manifest.key),
        "blobs": blobs,
    }


def find_azure_deliveries(store: FileStore, prefix: str = "") -> dict[str, Delivery]:
    """The newest export run of every month found under ``prefix``.

    Two kinds of export (say actual and amortized) for the same month under one prefix are an
    error: a lake period holds one export, so the source must point at one export's folder.
    """
    runs = [_run(store, o) for o in store.list(prefix) if o.key.endswith("/manifest.json")]
    deliveries = {}
    for period in sorted({r["period"] for r in runs}):
        of_period = [r for r in runs if r["period"] == period]
        kinds = sorted({r["dataset"] for r in of_period})
        if len(kinds) > 1:
            raise DeliveryError(
                f"several Azure exports ({', '.join(kinds)}) deliver {period} under "
                f"{prefix or 'the root'} of {store.describe()}: point the source at one export"
            )
        newest = max(of_period, key=lambda r: (r["submitted"], r["manifest"].key))
        keys = [b["blobName"] for b in newest["blobs"]]
        sizes = {b["blobName"]: b["byteCount"] for b in newest["blobs"] if "byteCount" in b}
        deliveries[period] = Delivery(
            provider="azure",
            source_dataset=newest["dataset"],
            billing_period=period,
            delivery_id=newest["run_id"],
            manifest_path=newest["manifest"].key,
            files=listed_files(store, keys, newest["manifest"].key, sizes),
            created=newest["submitted"],
        )
    return deliveries
