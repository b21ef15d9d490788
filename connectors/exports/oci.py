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

import polars as pl

from connectors.state import StateFile
from connectors.stores.files import FileStore, StoredObject, safe_key
from costlake.focus.deliveries import Delivery, DeliveryError, DeliveryFile
from costlake.providers.registry import source_datasets

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


def _load_periods(cache: StateFile | None) -> dict[str, list[str]]:
    text = cache.read() if cache is not None else None
    if text is None:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}  # a damaged cache only costs reading the files again


def _report_objects(
    store: FileStore, prefix: str, known: dict[str, list[str]]
) -> list[StoredObject]:
    """The report files under ``prefix``: those remembered in ``known`` and, on a store that
    can list from a name on (``list_after``), only the files written after the newest of them.

    OCI names its reports in increasing order and never rewrites one, so the service lists
    only the new files (``start=<last name>``) instead of a year of reports every run.
    """
    list_after = getattr(store, "list_after", None)
    folder = prefix.strip("/")
    remembered = []
    for entry in known:
        where, key, size = entry.rsplit("|", 2)
        if where == store.describe() and (not folder or key.startswith(folder + "/")):
            remembered.append(StoredObject(key, int(size), 0.0))
    if list_after is None or not remembered:
        return store.list(prefix)
    newest = max(obj.key for obj in remembered)
    return remembered + list_after(prefix, newest)


def find_oci_deliveries(
    store: FileStore, prefix: str = "", cache: StateFile | None = None, update_cache: bool = True
) -> dict[str, Delivery]:
    """Every billing period's report files found under ``prefix`` (one kind of report).

    A file is read to learn its periods. With ``cache`` (a JSON state file), what was learnt is
    kept by store, key and size, so a run reads, and on Object Storage lists, only the report files
    written since: OCI never rewrites a report, it adds new ones. (Reports are kept for a year;
    a period whose remembered files have expired fails to land, naming them, rather than being
    rebuilt from what is left.) ``update_cache=False`` reads the cache but leaves it as it was.
    """
    known = _load_periods(cache)
    listed = [(obj, _report_folder(obj.key)) for obj in _report_objects(store, prefix, known)]
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
        cache.write(json.dumps(known, indent=0, sort_keys=True))
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
            files=tuple(DeliveryFile(safe_key(o.key), o.size) for o in objects),
            extra={"files_immutable": True},  # OCI adds report files, never rewrites one
        )
    return deliveries
