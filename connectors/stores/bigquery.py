"""Find and land the GCP Cloud Billing export straight from its BigQuery table.

The export table (``gcp_billing_export_v1_<ACCOUNT>``, or ``gcp_billing_export_resource_v1_…``
for the detailed export) is partitioned by day on ``_PARTITIONTIME``, and GCP keeps rewriting
recent partitions for days after the usage (late usage, credits, corrections). So the unit that
changes is one partition day, keyed also by ``invoice.month`` because a day can hold rows of two
invoices (usage reported after its month closed).

Finding is one cheap query over a trailing window of partition days: per (invoice month, day),
``MAX(export_time)`` and the row count. A month's delivery is its list of days with that state;
its id is a digest of the list, so a month changes id exactly when one of its days changed.
Landing re-queries only the days whose state changed since the last landing, each into its own
Parquet file (``day=YYYY-MM-DD.parquet``), which the GCP normalizer
(``costlake/providers/gcp.py``) reads like any other Parquet form of the export.

Money and safety: every query filters on the partition column (so BigQuery prunes partitions and
bills only the days read) and carries ``maximum_bytes_billed``, so a mistake fails instead of
scanning the whole table. Values always travel as query parameters; the table name is the only
text put into SQL, and only after it was checked to be plain identifiers.

``partition_column`` is ``_PARTITIONTIME`` for the real export. It can name a TIMESTAMP column of
a column-partitioned table instead (a copy of the export partitioned on a real column, and the
tests: the bqemulator stand-in answers every ``_PARTITIONTIME`` with the current time, so seeded
rows cannot be given a partition day there).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import GoogleAPICallError
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from connectors.exports.landing import RECORD
from connectors.state import StateFile
from costlake.config import BIGQUERY_COLUMN, BIGQUERY_NAME, BIGQUERY_PROJECT, BigQuerySource
from costlake.focus.deliveries import Delivery, DeliveryError, DeliveryFile

PARTITION_TIME = "_PARTITIONTIME"
DETAILED_PREFIX = "gcp_billing_export_resource_v1_"
# Rows per page of query results at most (BigQuery also caps a page's size): one Arrow batch in
# memory, one Parquet row group.
PAGE_ROWS = 50_000
JOB_ID_PREFIX = "costlake_gcp_export_"  # makes the connector's jobs easy to find in BigQuery

PROJECT_ID = re.compile(BIGQUERY_PROJECT)
NAME = re.compile(BIGQUERY_NAME)
COLUMN = re.compile(BIGQUERY_COLUMN)
INVOICE_MONTH = re.compile(r"(\d{4})(0[1-9]|1[0-2])")
DAY_FILE = re.compile(r"day=\d{4}-\d{2}-\d{2}\.parquet")


def table_name(source: BigQuerySource) -> str:
    """``project.dataset.table``. The names are checked again here, where they are written into
    SQL, so a source made without validation (``model_construct``) cannot inject text."""
    if not isinstance(source.project, str) or not PROJECT_ID.fullmatch(source.project):
        raise ValueError(
            f"BigQuery project id {source.project!r} is not valid: 6 to 30 characters, lower "
            "case letters, digits and hyphens, starting with a letter and not ending with a hyphen"
        )
    for what, value in (("dataset", source.dataset), ("table", source.table)):
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise ValueError(
                f"BigQuery {what} name {value!r} is not valid: use letters, digits and underscores"
            )
    column = source.partition_column
    if not isinstance(column, str) or not COLUMN.fullmatch(column):
        raise ValueError(
            f"partition column {column!r} is not a column name "
            f"(use {PARTITION_TIME} or a TIMESTAMP column's name)"
        )
    return f"{source.project}.{source.dataset}.{source.table}"


def source_dataset(source: BigQuerySource) -> str:
    """The costlake dataset of the table: the detailed export has its own required columns."""
    if source.table.startswith(DETAILED_PREFIX):
        return "gcp_billing_export_detailed"
    return "gcp_billing_export"


def bigquery_client(source: BigQuerySource) -> bigquery.Client:
    """A client for the table's project: application default credentials, or none at all for
    an emulator's ``endpoint_url`` (tests), which takes no credentials."""
    if source.endpoint_url:
        return bigquery.Client(
            project=source.project,
            location=source.location,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=source.endpoint_url),
        )
    return bigquery.Client(project=source.project, location=source.location)


def _query_error(exc: GoogleAPICallError, where: str, source: BigQuerySource) -> DeliveryError:
    """A DeliveryError naming what was queried; the bytes guard's refusal says how to lift it."""
    reasons = {e.get("reason") for e in (exc.errors or []) if isinstance(e, dict)}
    if "bytesBilledLimitExceeded" in reasons or "bytes billed" in str(exc).lower():
        return DeliveryError(
            f"{where}: BigQuery refused the query: it would bill more than "
            f"maximum_bytes_billed={source.maximum_bytes_billed:,} bytes, the guard against "
            "scanning too much of the export. If that much is expected, raise "
            f"maximum_bytes_billed in the source's configuration ({exc.message})"
        )
    return DeliveryError(f"{where}: BigQuery query failed: {exc.message}")


def _run_query(
    client: bigquery.Client,
    source: BigQuerySource,
    sql: str,
    parameters: list[bigquery.ScalarQueryParameter],
    where: str,
) -> Any:
    """The finished query's rows (a RowIterator fetching ``PAGE_ROWS`` rows per page), with
    the bytes guard on the job; errors become DeliveryError naming ``where``."""
    config = bigquery.QueryJobConfig(
        query_parameters=parameters, maximum_bytes_billed=source.maximum_bytes_billed
    )
    try:
        job = client.query(
            sql, job_config=config, location=source.location, job_id_prefix=JOB_ID_PREFIX
        )
        return job.result(page_size=PAGE_ROWS)
    except GoogleAPICallError as exc:
        raise _query_error(exc, where, source) from exc


def _period(invoice_month: Any, table: str, day: date) -> str:
    """``YYYY-MM`` from the export's ``invoice.month`` (``YYYYMM``)."""
    match = INVOICE_MONTH.fullmatch(invoice_month) if isinstance(invoice_month, str) else None
    if match is None:
        raise DeliveryError(
            f"{table} day {day}: rows with invoice.month {invoice_month!r}, not a YYYYMM month"
        )
    return f"{match.group(1)}-{match.group(2)}"


def _day_file(table: str, period: str, day: str) -> str:
    """A day's file as the delivery names it; its base name is the landed file's name."""
    return f"{table}/invoice_month={period.replace('-', '')}/day={day}.parquet"


def _delivery(source: BigQuerySource, period: str, days: dict[str, dict]) -> Delivery:
    """The delivery of one invoice month from its days' (export_time, rows) state."""
    table = table_name(source)
    days = dict(sorted(days.items()))
    listing = "\n".join(f"{d}\t{s['export_time']}\t{s['rows']}" for d, s in days.items())
    digest = hashlib.sha256(listing.encode()).hexdigest()[:16]
    exported = [s["export_time"] for s in days.values() if s["export_time"]]
    return Delivery(
        provider="gcp",
        source_dataset=source_dataset(source),
        billing_period=period,
        delivery_id=f"{period}-{digest}",
        manifest_path=table,
        files=tuple(DeliveryFile(_day_file(table, period, day)) for day in days),
        created=max(exported) if exported else None,
        extra={"days": days},
    )


def find_bigquery_deliveries(
    client: bigquery.Client,
    source: BigQuerySource,
    today: date | None = None,
    known: dict[str, Delivery] | None = None,
    since: date | None = None,
) -> dict[str, Delivery]:
    """Every invoice month with rows in the table, as one delivery per month (``YYYY-MM``).

    Only partition days from ``since`` on are queried: by default the trailing window,
    ``today - trailing_days`` (UTC today), where GCP still rewrites days. Days before the window
    keep the state they have in ``known`` (the deliveries landed before), so a month whose days
    all lie outside the window is still reported, unchanged, and the lake keeps it; a known day
    inside the window that the table no longer holds is dropped. A first run has nothing known:
    pass ``since`` (e.g. the first day of the oldest month the lake should hold) to backfill.
    """
    table = table_name(source)
    today = today or datetime.now(UTC).date()
    start = since or today - timedelta(days=source.trailing_days)
    column = source.partition_column
    sql = (
        f"SELECT invoice.month AS invoice_month, DATE({column}) AS day, "
        "MAX(export_time) AS last_export, COUNT(*) AS row_count "
        f"FROM `{table}` WHERE {column} >= @since GROUP BY 1, 2"
    )
    since_time = datetime.combine(start, time.min, tzinfo=UTC)
    parameters = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since_time)]
    where = f"{table} (partition days from {start})"
    fresh: dict[str, dict[str, dict]] = {}
    try:
        for row in _run_query(client, source, sql, parameters, where):
            period = _period(row["invoice_month"], table, row["day"])
            exported = row["last_export"]
            fresh.setdefault(period, {})[row["day"].isoformat()] = {
                "export_time": exported.astimezone(UTC).isoformat() if exported else None,
                "rows": int(row["row_count"]),
            }
    except GoogleAPICallError as exc:  # raised while paging through the results
        raise _query_error(exc, where, source) from exc
    except OSError as exc:  # the connection, while paging
        raise DeliveryError(f"{where}: BigQuery query failed: {exc}") from exc

    # Days before the window keep their known state; the window's days are what the table says.
    window_start = start.isoformat()
    known_days = {
        period: delivery.extra.get("days", {})
        for period, delivery in (known or {}).items()
        if delivery.manifest_path == table
    }
    deliveries = {}
    for period in sorted(set(fresh) | set(known_days)):
        days = {d: s for d, s in known_days.get(period, {}).items() if d < window_start}
        days.update(fresh.get(period, {}))
        if days:
            deliveries[period] = _delivery(source, period, days)
    return deliveries


def _write_rows(rows: Any, target: Path, where: str) -> int:
    """Stream query results into a Parquet file, one page (Arrow batch) at a time; the number
    of rows written. Memory holds one page, never the day."""
    writer: pq.ParquetWriter | None = None
    written = 0
    try:
        for batch in rows.to_arrow_iterable(bqstorage_client=None):
            if writer is None:
                writer = pq.ParquetWriter(target, batch.schema, compression="zstd")
            writer.write_table(pa.Table.from_batches([batch], schema=writer.schema))
            written += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DeliveryError(f"{where}: the query returned no result schema")
    return written


def _land_day(
    client: bigquery.Client,
    source: BigQuerySource,
    period: str,
    day: str,
    target: Path,
) -> None:
    """Query one (invoice month, partition day) into ``target``, via ``<target>.partial``."""
    table = table_name(source)
    column = source.partition_column
    sql = (
        f"SELECT * FROM `{table}` "
        f"WHERE {column} >= @day_start AND {column} < @day_end AND invoice.month = @month"
    )
    day_start = datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)
    parameters = [
        bigquery.ScalarQueryParameter("day_start", "TIMESTAMP", day_start),
        bigquery.ScalarQueryParameter("day_end", "TIMESTAMP", day_start + timedelta(days=1)),
        bigquery.ScalarQueryParameter("month", "STRING", period.replace("-", "")),
    ]
    where = f"{table} day {day} (invoice month {period})"
    partial = target.with_name(target.name + ".partial")
    try:
        rows = _run_query(client, source, sql, parameters, where)
        written = _write_rows(rows, partial, where)
        if written != rows.total_rows:
            raise DeliveryError(
                f"{where}: wrote {written} rows, the query returned {rows.total_rows}"
            )
        partial.replace(target)
    except GoogleAPICallError as exc:  # raised while paging through the results
        raise _query_error(exc, where, source) from exc
    except (pa.ArrowException, OSError) as exc:
        raise DeliveryError(f"{where}: landing failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def land_bigquery_delivery(
    client: bigquery.Client,
    source: BigQuerySource,
    delivery: Delivery,
    folder: Path,
    previous: Delivery | None,
) -> Path:
    """Land a month's rows in ``folder``, one Parquet file per partition day, record last.

    A day is queried again only when its (export_time, rows) differs from ``previous`` (the
    delivery landed there before) or its file is missing; files of days the delivery no longer
    has are removed. The record is removed first and written last, so a folder with a record
    always holds exactly that delivery; a failure leaves neither a record nor a partial file
    (so a caller passing the folder's record as ``previous`` re-queries every day next time).
    """
    table = table_name(source)
    if delivery.manifest_path != table or delivery.provider != "gcp":
        raise DeliveryError(f"{delivery.manifest_path}: not a delivery of the export table {table}")
    days: dict[str, dict] = delivery.extra.get("days", {})
    names = {f"day={day}.parquet" for day in days}
    if {Path(f.path).name for f in delivery.files} != names:
        raise DeliveryError(f"{table} {delivery.billing_period}: files and days do not match")
    landed: dict[str, dict] = {}
    if (
        previous is not None
        and previous.manifest_path == table
        and previous.billing_period == delivery.billing_period
    ):
        landed = previous.extra.get("days", {})
    record = folder / RECORD
    if previous == delivery and record.exists() and all((folder / n).exists() for n in names):
        return folder

    folder.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)
    for leftover in folder.glob("day=*.parquet.partial"):  # from a killed process
        leftover.unlink()
    for day, state in days.items():
        target = folder / f"day={day}.parquet"
        if landed.get(day) != state or not target.exists():
            _land_day(client, source, delivery.billing_period, day, target)
    for stale in folder.glob("day=*.parquet"):
        if DAY_FILE.fullmatch(stale.name) and stale.name not in names:
            stale.unlink()
    record.write_text(delivery.to_json())
    return folder


def remembered_bigquery_deliveries(
    source: BigQuerySource, cache: StateFile, update_cache: bool = True, today: date | None = None
) -> dict[str, Delivery]:
    """``find_bigquery_deliveries`` with what earlier listings found kept in ``cache`` (JSON),
    so a run lists only the trailing window. Without a remembered listing of the table (a first
    run), the listing starts ``backfill_months`` before the current month."""
    table = table_name(source)
    remembered: dict[str, dict[str, str]] = {}
    text = cache.read()
    if text is not None:
        try:
            remembered = json.loads(text)
        except ValueError:
            remembered = {}  # a damaged cache only costs a longer listing
    known = {p: Delivery.from_json(text) for p, text in remembered.get(table, {}).items()}
    today = today or datetime.now(UTC).date()
    since = None
    if not known:
        months = today.year * 12 + today.month - 1 - source.backfill_months
        since = date(months // 12, months % 12 + 1, 1)
    client = bigquery_client(source)
    deliveries = find_bigquery_deliveries(client, source, today, known, since)
    if update_cache:
        remembered[table] = {period: d.to_json() for period, d in deliveries.items()}
        cache.write(json.dumps(remembered, indent=1, sort_keys=True))
    return deliveries
