"""Find OCI report deliveries in a folder laid out like Oracle's usage-report bucket.

OCI writes report files as a stream, not per billing period::

    reports/cost-csv/<digits>.csv.gz          cost reports (names increase with time)
    FOCUS Reports/YYYY/MM/DD/<name>.csv.gz    Oracle's FOCUS reports

A source reads one kind: its prefix points at one of these folders (or at a root holding only
one of them).

A file is a slice of time and can hold rows of two billing periods (the last hours of one month
and the first of the next). So the delivery of a period is every file holding at least one of
its rows, found by reading each file's usage-start (cost) or ``BillingPeriodStart`` (FOCUS)
column; the ingest keeps each row in its own period. A file in which no row has a readable date
(or that cannot be read at all) belongs to the month it was written in, where its rows are
rejected and counted (or its ingest fails, naming it). The delivery id
is a digest of the files' names and sizes, so a new report file makes a new delivery of each
period it touches.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from connectors.filestore import FileStore, StoredObject, listed_files
from costlake.deliveries import Delivery, DeliveryError
from costlake.sources import source_datasets

REPORT_FOLDERS = {"reports/cost-csv/": "oci_cost", "FOCUS Reports/": "oci_focus"}
# The column whose month is a row's billing period, in each dataset's canonical names.
PERIOD_COLUMN = {"oci_cost": "lineItem/intervalUsageStart", "oci_focus": "BillingPeriodStart"}
DATA_SUFFIXES = (".csv", ".csv.gz")
MONTH = re.compile(r"^\d{4}-\d{2}$")


def report_periods(data: bytes, dataset: str, name: str) -> set[str]:
    """The billing periods (YYYY-MM) of a report file's rows whose date is readable; none for a
    file that cannot be read at all (its ingest then fails, naming it)."""
    try:
        header = pl.read_csv(data, n_rows=0, infer_schema=False).columns
        rename = source_datasets()[dataset].rename(header)
        renamed = {target: source for source, target in rename.items()}
        column = renamed.get(PERIOD_COLUMN[dataset], PERIOD_COLUMN[dataset])
        if column not in header:
            raise DeliveryError(f"{name}: missing required column {PERIOD_COLUMN[dataset]}")
        months = pl.read_csv(data, columns=[column], infer_schema=False)[column].str.slice(0, 7)
    except (pl.exceptions.PolarsError, OSError, EOFError, zlib.error):
        return set()
    return {m for m in months.drop_nulls().unique() if MONTH.match(m)}


def _report_folder(key: str) -> str | None:
    """The report folder (``…reports/cost-csv`` or ``…FOCUS Reports``) a data file is in."""
    if not key.lower().endswith(DATA_SUFFIXES):
        return None
    for folder in REPORT_FOLDERS:
        at = ("/" + key).find("/" + folder)
        if at >= 0:
            return key[: at + len(folder) - 1]
    return None


def _written_month(obj: StoredObject) -> str:
    return datetime.fromtimestamp(obj.modified, UTC).strftime("%Y-%m")


def _load_periods(cache: Path | None) -> dict[str, list[str]]:
    if cache is None or not cache.exists():
        return {}
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}  # a damaged cache only costs reading the files again


def _save_periods(cache: Path, known: dict[str, list[str]]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + ".partial")
    partial.write_text(json.dumps(known, indent=0, sort_keys=True))
    partial.replace(cache)


def find_oci_deliveries(
    store: FileStore, prefix: str = "", cache: Path | None = None, update_cache: bool = True
) -> dict[str, Delivery]:
    """Every billing period's report files found under ``prefix`` (one kind of report).

    A file is read to learn its periods. With ``cache`` (a JSON file), what was learnt is kept
    by store, key and size, so a run reads only the report files it has not seen before: OCI
    never rewrites a report, it adds new ones. ``update_cache=False`` reads the cache but
    leaves it as it was.
    """
    listed = [(obj, _report_folder(obj.key)) for obj in store.list(prefix)]
    reports = [(obj, folder) for obj, folder in listed if folder]
    folders = {folder for _, folder in reports}
    if not folders:
        return {}
    if len(folders) > 1:
        raise DeliveryError(
            f"several report folders ({', '.join(sorted(folders))}) under {prefix or 'the root'} "
            f"of {store.describe()}: point each source at one (e.g. prefix 'reports/cost-csv/')"
        )
    (folder,) = folders
    dataset = next(d for f, d in REPORT_FOLDERS.items() if folder.endswith(f.rstrip("/")))
    known = _load_periods(cache)
    by_period: dict[str, list[StoredObject]] = {}
    for obj, _ in reports:
        remembered = f"{store.describe()}|{obj.key}|{obj.size}"
        if remembered not in known:
            with store.open(obj.key) as stream:
                periods = report_periods(stream.read(), dataset, obj.key)
            known[remembered] = sorted(periods or {_written_month(obj)})
        for period in known[remembered]:
            by_period.setdefault(period, []).append(obj)
    if cache is not None and update_cache:
        _save_periods(cache, known)
    deliveries = {}
    for period, objects in sorted(by_period.items()):
        objects.sort(key=lambda o: o.key)
        digest = hashlib.sha256(
            "\n".join(f"{o.key}\t{o.size}" for o in objects).encode()
        ).hexdigest()[:16]
        deliveries[period] = Delivery(
            provider="oci",
            source_dataset=dataset,
            billing_period=period,
            delivery_id=f"{period}-{digest}",
            manifest_path=folder,
            files=listed_files(store, [o.key for o in objects], folder),
        )
    return deliveries
