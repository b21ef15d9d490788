"""The BigQuery connector against bqemulator, with the real google-cloud-bigquery client.

Each test makes its own dataset holding the detailed billing export table, seeded with
``insert_rows_json`` from the demo export's rows (``demo/gcp.py``: October and
month-to-date November 2026, with late rows and closing rows on neighbouring days). A row's
partition day is the day it was exported (its ``export_time`` date), as in the real export.

bqemulator answers ``_PARTITIONTIME`` with the current time for every row and does not support
partition decorators, so the table here is partitioned on a real TIMESTAMP column,
``partition_time``, and the sources say ``partition_column="partition_time"``. It also ignores
``maximumBytesBilled`` (every query reports 0 bytes processed): that the guard is on every job is
checked on the jobs the connector submits, and BigQuery's refusal is injected as the error the
client raises (it cannot happen on the emulator).

Expected values are worked out from the seed rows (read with the stdlib, money as Decimal), never
taken from the connector's output.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bqemulator import BigQueryEmulator, running_bqemulator
from google.api_core.exceptions import BadRequest, ServiceUnavailable
from google.cloud import bigquery
from polars.testing import assert_frame_equal

import connectors.stores.bigquery as bq_export
from connectors.exports.gcp import find_gcp_deliveries
from connectors.exports.landing import RECORD, landed_delivery
from connectors.stores.bigquery import (
    bigquery_client,
    find_bigquery_deliveries,
    land_bigquery_delivery,
)
from connectors.stores.files import LocalFileStore
from costlake.config import BigQuerySource
from costlake.focus.deliveries import Delivery, DeliveryError
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake
from demo.aws import DEMO_TODAY
from demo.gcp import write_demo_gcp_export

TABLE = "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
MONTHS = {"2026-10": "202610", "2026-11": "202611"}
BACKFILL = date(2026, 9, 1)  # before every seeded partition day: the first run lists them all
LINEAGE = ("x_DeliveryId", "x_SourceFile", "x_SourceRow")

S = bigquery.SchemaField


def _key_values(name: str) -> bigquery.SchemaField:
    return S(name, "RECORD", mode="REPEATED", fields=[S("key", "STRING"), S("value", "STRING")])


def _record(name: str, *fields: tuple[str, str]) -> bigquery.SchemaField:
    return S(name, "RECORD", fields=[S(n, t) for n, t in fields])


# The detailed billing export's schema (every field the demo rows carry), plus the partition
# column standing for _PARTITIONTIME.
EXPORT_SCHEMA = [
    S("billing_account_id", "STRING"),
    _record("service", ("id", "STRING"), ("description", "STRING")),
    _record("sku", ("id", "STRING"), ("description", "STRING")),
    S("usage_start_time", "TIMESTAMP"),
    S("usage_end_time", "TIMESTAMP"),
    S(
        "project",
        "RECORD",
        fields=[
            S("id", "STRING"),
            S("number", "STRING"),
            S("name", "STRING"),
            _key_values("labels"),
            S("ancestry_numbers", "STRING"),
        ],
    ),
    _key_values("labels"),
    _key_values("system_labels"),
    _record(
        "location",
        ("location", "STRING"),
        ("country", "STRING"),
        ("region", "STRING"),
        ("zone", "STRING"),
    ),
    _record("resource", ("name", "STRING"), ("global_name", "STRING")),
    S("export_time", "TIMESTAMP"),
    S("cost", "FLOAT"),
    S("currency", "STRING"),
    S("currency_conversion_rate", "FLOAT"),
    _record(
        "usage",
        ("amount", "FLOAT"),
        ("unit", "STRING"),
        ("amount_in_pricing_units", "FLOAT"),
        ("pricing_unit", "STRING"),
    ),
    S(
        "credits",
        "RECORD",
        mode="REPEATED",
        fields=[
            S("name", "STRING"),
            S("amount", "FLOAT"),
            S("full_name", "STRING"),
            S("id", "STRING"),
            S("type", "STRING"),
        ],
    ),
    _record("invoice", ("month", "STRING")),
    S("cost_type", "STRING"),
    S("cost_at_list", "FLOAT"),
    _record(
        "price",
        ("effective_price", "NUMERIC"),
        ("tier_start_amount", "NUMERIC"),
        ("unit", "STRING"),
        ("pricing_unit_quantity", "NUMERIC"),
    ),
    _record(
        "adjustment_info",
        ("id", "STRING"),
        ("description", "STRING"),
        ("mode", "STRING"),
        ("type", "STRING"),
    ),
    S("transaction_type", "STRING"),
    S("seller_name", "STRING"),
    S("partition_time", "TIMESTAMP"),
]


# --- seed rows and what they imply --------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator[BigQueryEmulator]:
    with running_bqemulator(tmp_path_factory.mktemp("bqemulator")) as running:
        yield running


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory) -> Path:
    """The demo export's JSON lines files (the local-folder form of the same table)."""
    root = tmp_path_factory.mktemp("gcp-export")
    write_demo_gcp_export(root)
    return root


@pytest.fixture(scope="module")
def seed_lines(demo_export) -> list[str]:
    """Every demo row as its JSON line, both invoice months."""
    return [
        line
        for path in sorted(demo_export.rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _partitioned(row: dict) -> dict:
    """The row as inserted: partitioned on the day it was exported."""
    return {**row, "partition_time": row["export_time"][:10] + " 00:00:00 UTC"}


def _exact(lines: list[str]) -> list[dict]:
    """Rows with money as Decimal, for the expected values."""
    return [json.loads(line, parse_float=Decimal) for line in lines]


def _month_rows(rows: list[dict], period: str) -> list[dict]:
    return [r for r in rows if r["invoice"]["month"] == MONTHS[period]]


def _expected_days(rows: list[dict]) -> dict[str, tuple[int, datetime]]:
    """Per export day: (rows, newest export_time), from the rows' own text."""
    days: dict[str, list[datetime]] = {}
    for row in rows:
        text = row["export_time"].removesuffix(" UTC")
        stamp = datetime.fromisoformat(text + "+00:00")
        days.setdefault(row["export_time"][:10], []).append(stamp)
    return {day: (len(stamps), max(stamps)) for day, stamps in sorted(days.items())}


def _net(rows: list[dict]) -> Decimal:
    """The bill: Σ cost + Σ credits.amount."""
    return sum(r["cost"] + sum(c["amount"] for c in r["credits"]) for r in rows)


# --- the table, the client and what it was asked ------------------------------------------------


class CountingClient:
    """The real client, recording each query's SQL and job configuration."""

    def __init__(self, client: bigquery.Client) -> None:
        self.client = client
        self.queries: list[tuple[str, bigquery.QueryJobConfig]] = []

    def query(self, sql: str, **kwargs: Any) -> Any:
        self.queries.append((sql, kwargs["job_config"]))
        return self.client.query(sql, **kwargs)

    def days_queried(self) -> list[tuple[str, str]]:
        """(invoice month, day) of every row query (``SELECT *``), in order."""
        found = []
        for sql, config in self.queries:
            if sql.startswith("SELECT * "):
                values = {p.name: p.value for p in config.query_parameters}
                found.append((values["month"], values["day_start"].date().isoformat()))
        return found


def _source(emulator: BigQueryEmulator, dataset: str, **changes: Any) -> BigQuerySource:
    return BigQuerySource(
        kind="bigquery",
        project=emulator.project,
        dataset=dataset,
        table=TABLE,
        endpoint_url=emulator.endpoint,
        partition_column="partition_time",
        **changes,
    )


def _seeded_table(emulator: BigQueryEmulator, name: str, lines: list[str]) -> BigQuerySource:
    """A dataset named after the test holding the export table, seeded with ``lines``."""
    source = _source(emulator, re.sub(r"\W", "_", name)[:50] + "_" + uuid.uuid4().hex[:8])
    client = emulator.client()
    client.create_dataset(source.dataset)
    table = bigquery.Table(f"{source.project}.{source.dataset}.{TABLE}", schema=EXPORT_SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(type_="DAY", field="partition_time")
    client.create_table(table)
    _insert(client, source, [json.loads(line) for line in lines])
    return source


def _insert(client: bigquery.Client, source: BigQuerySource, rows: list[dict]) -> None:
    name = f"{source.project}.{source.dataset}.{TABLE}"
    for start in range(0, len(rows), 500):
        errors = client.insert_rows_json(name, [_partitioned(r) for r in rows[start : start + 500]])
        assert errors == []


def _delete_day(client: bigquery.Client, source: BigQuerySource, month: str, day: str) -> None:
    """Remove one invoice month's rows of one partition day (as a re-export does first)."""
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("day", "DATE", date.fromisoformat(day)),
            bigquery.ScalarQueryParameter("month", "STRING", month),
        ]
    )
    sql = (
        f"DELETE FROM `{source.project}.{source.dataset}.{TABLE}` "
        "WHERE DATE(partition_time) = @day AND invoice.month = @month"
    )
    client.query(sql, job_config=config).result()


def _land_all(
    client: Any, source: BigQuerySource, deliveries: dict[str, Delivery], landing: Path
) -> dict[str, Path]:
    """Land every delivery in ``landing/<period>``, with what was landed there before."""
    folders = {}
    for period, delivery in deliveries.items():
        folder = landing / period
        previous = landed_delivery(folder)
        folders[period] = land_bigquery_delivery(client, source, delivery, folder, previous)
    return folders


def _landed_rows(folder: Path) -> list[dict]:
    return [
        row
        for path in sorted(folder.glob("day=*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def _first_landing(emulator, name, lines, landing: Path):
    """Seed a table, list it from the start (backfill) and land every month."""
    source = _seeded_table(emulator, name, lines)
    client = CountingClient(bigquery_client(source))
    deliveries = find_bigquery_deliveries(client, source, today=DEMO_TODAY, since=BACKFILL)
    _land_all(client, source, deliveries, landing)
    return source, client, deliveries


@pytest.fixture(scope="module")
def first_landing(emulator, seed_lines, tmp_path_factory):
    """The read-only tests' table, listed and landed once."""
    landing = tmp_path_factory.mktemp("landing")
    source, client, deliveries = _first_landing(emulator, "first_landing", seed_lines, landing)
    return source, client, deliveries, landing


# --- finding ----------------------------------------------------------------------------------


def test_one_delivery_per_invoice_month_with_its_partition_days(first_landing, seed_lines):
    source, _, deliveries, _ = first_landing
    rows = _exact(seed_lines)
    full_name = f"test-project.{source.dataset}.{TABLE}"
    assert sorted(deliveries) == ["2026-10", "2026-11"]
    for period, delivery in deliveries.items():
        expected = _expected_days(_month_rows(rows, period))
        assert delivery.provider == "gcp"
        assert delivery.source_dataset == "gcp_billing_export_detailed"
        assert delivery.billing_period == period
        assert delivery.manifest_path == full_name
        assert delivery.delivery_id.startswith(f"{period}-")
        assert [f.path for f in delivery.files] == [
            f"{full_name}/invoice_month={MONTHS[period]}/day={day}.parquet" for day in expected
        ]
        days = delivery.extra["days"]
        assert list(days) == list(expected)
        for day, (count, newest) in expected.items():
            assert days[day]["rows"] == count
            assert datetime.fromisoformat(days[day]["export_time"]) == newest
    # The late hours of 30 September ride on October's invoice, exported on 1 October; October's
    # last day is exported on 1 November and its closing rows (tax, rounding) on 2 November, so
    # those partition days hold rows of both invoices.
    assert "2026-10-01" in deliveries["2026-10"].extra["days"]
    assert {"2026-11-01", "2026-11-02"} <= set(deliveries["2026-10"].extra["days"])
    assert {"2026-11-01", "2026-11-02"} <= set(deliveries["2026-11"].extra["days"])


def test_the_listing_filters_on_the_partition_column_with_parameters(first_landing):
    source, client, _, _ = first_landing
    sql, config = client.queries[0]
    table = f"`test-project.{source.dataset}.{TABLE}`"
    assert sql == (
        "SELECT invoice.month AS invoice_month, DATE(partition_time) AS day, "
        "MAX(export_time) AS last_export, COUNT(*) AS row_count "
        f"FROM {table} WHERE partition_time >= @since GROUP BY 1, 2"
    )
    [since] = config.query_parameters
    assert (since.name, since.type_, since.value.isoformat()) == (
        "since",
        "TIMESTAMP",
        "2026-09-01T00:00:00+00:00",
    )


# --- landing ----------------------------------------------------------------------------------


def test_landing_writes_every_row_of_each_month_one_file_per_day(first_landing, seed_lines):
    _, client, deliveries, landing = first_landing
    rows = _exact(seed_lines)
    for period, delivery in deliveries.items():
        month_rows = _month_rows(rows, period)
        expected = _expected_days(month_rows)
        folder = landing / period
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [RECORD] + [f"day={day}.parquet" for day in expected]
        )
        for day, (count, _) in expected.items():
            assert pq.read_metadata(folder / f"day={day}.parquet").num_rows == count
        landed = _landed_rows(folder)
        assert len(landed) == len(month_rows)
        assert {r["invoice"]["month"] for r in landed} == {MONTHS[period]}
        landed_cost = sum(Decimal(str(r["cost"])) for r in landed)
        assert abs(landed_cost - sum(r["cost"] for r in month_rows)) < Decimal("0.000001")
        assert landed_delivery(folder) == delivery
    # One row query per (month, day), none twice.
    queried = client.days_queried()
    expected_queries = {
        (MONTHS[period], day)
        for period in MONTHS
        for day in _expected_days(_month_rows(rows, period))
    }
    assert sorted(queried) == sorted(expected_queries)


def test_landed_rows_keep_the_exports_nested_types(first_landing):
    _, _, deliveries, landing = first_landing
    day = next(iter(deliveries["2026-11"].extra["days"]))
    schema = pq.read_schema(landing / "2026-11" / f"day={day}.parquet")
    labels = schema.field("labels").type
    assert pa.types.is_list(labels)
    assert labels.value_type == pa.struct([("key", pa.string()), ("value", pa.string())])
    assert str(schema.field("export_time").type) == "timestamp[us, tz=UTC]"
    assert schema.field("credits").type.value_type.field("amount").type == pa.float64()
    assert schema.field("project").type.field("labels").type == schema.field("labels").type


def test_landed_months_normalize_to_the_same_focus_rows_as_the_exported_files(
    first_landing, demo_export, tmp_path
):
    _, _, deliveries, landing = first_landing
    from_bigquery = Lake(tmp_path / "lake-bigquery")
    from_files = Lake(tmp_path / "lake-files")
    for period, delivery in deliveries.items():
        report = ingest_delivery(delivery, landing / period, from_bigquery)
        assert report.rows_rejected == 0, report.reject_reasons
    store = LocalFileStore(demo_export)
    folder_deliveries = find_gcp_deliveries(store)
    assert sorted(folder_deliveries) == sorted(deliveries)
    for delivery in folder_deliveries.values():
        ingest_delivery(delivery, store.local_path(delivery.files[0].path).parent, from_files)

    for period in deliveries:
        frames = [
            lake.scan_partition("focus", "gcp", period).collect().drop(*LINEAGE)
            for lake in (from_bigquery, from_files)
        ]
        assert frames[0].height > 0
        columns = frames[0].columns
        assert frames[1].columns == columns
        bigquery_rows, file_rows = (f.sort(columns, nulls_last=True) for f in frames)
        assert_frame_equal(bigquery_rows, file_rows)


# --- incremental runs -------------------------------------------------------------------------


def test_nothing_new_queries_no_rows_again(first_landing, tmp_path):
    source, _, first, landing = first_landing
    client = CountingClient(bigquery_client(source))
    again = find_bigquery_deliveries(client, source, today=DEMO_TODAY, known=first)
    assert again == first
    _land_all(client, source, again, landing)
    assert len(client.queries) == 1  # the listing of the trailing window, nothing else
    assert client.days_queried() == []


def test_a_restated_day_is_pulled_again_alone_and_replaces_the_old_values(
    emulator, seed_lines, tmp_path, request
):
    landing = tmp_path / "landing"
    source, _, first = _first_landing(emulator, request.node.name, seed_lines, landing)
    lake = Lake(tmp_path / "lake")
    for period, delivery in first.items():
        ingest_delivery(delivery, landing / period, lake)

    # GCP re-exports 20 November: the day's November rows come back with a new export_time,
    # each row's cost one dollar higher.
    day, restated_at = "2026-11-20", "2026-11-20 23:30:00 UTC"
    raw = [json.loads(line) for line in seed_lines]
    restated = [
        {**r, "cost": r["cost"] + 1.0, "export_time": restated_at}
        for r in raw
        if r["invoice"]["month"] == "202611" and r["export_time"][:10] == day
    ]
    assert len(restated) > 5
    emulated = bigquery_client(source)
    _delete_day(emulated, source, "202611", day)
    _insert(emulated, source, restated)

    client = CountingClient(bigquery_client(source))
    found = find_bigquery_deliveries(client, source, today=DEMO_TODAY, known=first)
    assert found["2026-10"] == first["2026-10"]
    november = found["2026-11"]
    assert november.delivery_id != first["2026-11"].delivery_id
    changed = {
        d
        for d in november.extra["days"]
        if november.extra["days"][d] != first["2026-11"].extra["days"].get(d)
    }
    assert changed == {day}
    assert november.extra["days"][day] == {
        "export_time": "2026-11-20T23:30:00+00:00",
        "rows": len(restated),
    }

    _land_all(client, source, found, landing)
    assert client.days_queried() == [("202611", day)]

    # Expected: the seed's November with that day's rows one dollar dearer each.
    rows = _month_rows(_exact(seed_lines), "2026-11")
    old_cost = sum(r["cost"] for r in rows)
    landed = _landed_rows(landing / "2026-11")
    assert len(landed) == len(rows)
    landed_cost = sum(Decimal(str(r["cost"])) for r in landed)
    assert abs(landed_cost - (old_cost + len(restated))) < Decimal("0.000001")

    # The lake's November is replaced by the restated delivery, not added to.
    ingest_delivery(november, landing / "2026-11", lake)
    focus = lake.scan_partition("focus", "gcp", "2026-11").collect()
    credits = sum(len(r["credits"]) for r in rows)
    assert focus.height == len(rows) + credits
    assert set(focus["x_DeliveryId"]) == {november.delivery_id}
    billed = Decimal(str(focus["BilledCost"].sum()))
    assert abs(billed - (_net(rows) + len(restated))) < Decimal("0.005")


def test_a_day_gone_from_the_table_is_removed_without_a_query(
    emulator, seed_lines, tmp_path, request
):
    landing = tmp_path / "landing"
    source, _, first = _first_landing(emulator, request.node.name, seed_lines, landing)
    day = "2026-11-22"
    _delete_day(bigquery_client(source), source, "202611", day)

    client = CountingClient(bigquery_client(source))
    found = find_bigquery_deliveries(client, source, today=DEMO_TODAY, known=first)
    expected_days = dict(first["2026-11"].extra["days"])
    removed = expected_days.pop(day)
    assert found["2026-11"].extra["days"] == expected_days
    _land_all(client, source, found, landing)
    assert client.days_queried() == []
    assert not (landing / "2026-11" / f"day={day}.parquet").exists()
    rows = _month_rows(_exact(seed_lines), "2026-11")
    assert len(_landed_rows(landing / "2026-11")) == len(rows) - removed["rows"]


def test_a_late_row_of_last_months_invoice_on_a_new_day_is_picked_up(
    emulator, seed_lines, tmp_path, request
):
    landing = tmp_path / "landing"
    source, _, first = _first_landing(emulator, request.node.name, seed_lines, landing)
    # A credit note for October, exported on 27 November: October's days are all before the
    # trailing window then (27 November - 10 days), so only what was known keeps them.
    october = [json.loads(line) for line in seed_lines if '"month":"202610"' in line]
    late = {
        **october[0],
        "cost": -12.5,
        "credits": [],
        "cost_type": "adjustment",
        "export_time": "2026-11-27 03:00:00 UTC",
    }
    _insert(bigquery_client(source), source, [late])

    client = CountingClient(bigquery_client(source))
    found = find_bigquery_deliveries(client, source, today=date(2026, 11, 27), known=first)
    assert found["2026-11"] == first["2026-11"]
    october_days = found["2026-10"].extra["days"]
    assert october_days == {
        **first["2026-10"].extra["days"],
        "2026-11-27": {"export_time": "2026-11-27T03:00:00+00:00", "rows": 1},
    }
    _land_all(client, source, found, landing)
    assert client.days_queried() == [("202610", "2026-11-27")]

    rows = _month_rows(_exact(seed_lines), "2026-10")
    landed = _landed_rows(landing / "2026-10")
    assert len(landed) == len(rows) + 1
    landed_cost = sum(Decimal(str(r["cost"])) for r in landed)
    assert abs(landed_cost - (sum(r["cost"] for r in rows) - Decimal("12.5"))) < Decimal("0.000001")


def test_a_month_outside_the_window_is_still_reported_unchanged(first_landing):
    source, _, first, _ = first_landing
    client = CountingClient(bigquery_client(source))
    # In February nothing of October or November is in the window: both come from what is known.
    found = find_bigquery_deliveries(client, source, today=date(2027, 2, 1), known=first)
    assert found == first
    # Without them known, the same window finds nothing.
    assert find_bigquery_deliveries(client, source, today=date(2027, 2, 1)) == {}


# --- refusals and failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project", "Test-Project"),
        ("project", "proj"),
        ("project", "test-project-"),
        ("project", "test-project`; DROP TABLE x; --"),
        ("dataset", "billing-export"),
        ("dataset", "billing.export"),
        ("dataset", ""),
        ("table", "gcp_billing_export`"),
        ("table", "t WHERE 1=1"),
        ("table", "export\n"),
        ("partition_column", "DATE(export_time)"),
    ],
)
def test_bad_identifiers_are_refused_naming_the_value(field, value):
    good = {"project": "test-project", "dataset": "billing", "table": TABLE}
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        BigQuerySource(kind="bigquery", **{**good, field: value})
    # A source made without validation is still checked before any query.
    source = BigQuerySource.model_construct(kind="bigquery", **{**good, field: value})
    client = CountingClient(client=None)
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        find_bigquery_deliveries(client, source, today=DEMO_TODAY)
    assert client.queries == []


@pytest.mark.parametrize(("field", "value"), [("maximum_bytes_billed", 0), ("trailing_days", 0)])
def test_limits_must_be_positive(field, value):
    with pytest.raises(ValueError, match=field):
        BigQuerySource(
            kind="bigquery",
            project="test-project",
            dataset="billing",
            table=TABLE,
            **{field: value},
        )


def test_every_query_carries_the_bytes_guard(emulator, seed_lines, tmp_path, request):
    source = _seeded_table(emulator, request.node.name, seed_lines[:50]).model_copy(
        update={"maximum_bytes_billed": 123_456_789}
    )
    client = CountingClient(bigquery_client(source))
    deliveries = find_bigquery_deliveries(client, source, today=DEMO_TODAY, since=BACKFILL)
    _land_all(client, source, deliveries, tmp_path)
    assert len(client.queries) > 2
    assert {config.maximum_bytes_billed for _, config in client.queries} == {123_456_789}
    for sql, _ in client.queries:
        assert "partition_time >= @" in sql


class RefusingClient(CountingClient):
    """The real client, except that row queries fail the way BigQuery fails a query past its
    ``maximum_bytes_billed`` (bqemulator ignores the limit, so the error is injected)."""

    def __init__(self, client: bigquery.Client, refuse: str) -> None:
        super().__init__(client)
        self.refuse = refuse

    def query(self, sql: str, **kwargs: Any) -> Any:
        job = super().query(sql, **kwargs)
        if not sql.startswith(self.refuse):
            return job
        limit = kwargs["job_config"].maximum_bytes_billed
        message = f"Query exceeded limit for bytes billed: {limit}. 10485760 or higher required."
        error = BadRequest(
            message, errors=[{"reason": "bytesBilledLimitExceeded", "message": message}]
        )
        return RefusedJob(error)


class RefusedJob:
    """A query job whose result is BigQuery's refusal."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def result(self, **_: Any) -> Any:
        raise self.error


def test_the_bytes_guard_refusal_names_the_guard_and_how_to_raise_it(
    emulator, seed_lines, tmp_path, request
):
    source = _seeded_table(emulator, request.node.name, seed_lines[:50]).model_copy(
        update={"maximum_bytes_billed": 1000}
    )
    listing = RefusingClient(bigquery_client(source), refuse="SELECT invoice.month")
    with pytest.raises(DeliveryError) as refused:
        find_bigquery_deliveries(listing, source, today=DEMO_TODAY, since=BACKFILL)
    message = str(refused.value)
    assert f"test-project.{source.dataset}.{TABLE}" in message
    assert "maximum_bytes_billed=1,000 bytes" in message
    assert "raise maximum_bytes_billed" in message

    deliveries = find_bigquery_deliveries(bigquery_client(source), source, since=BACKFILL)
    period, delivery = next(iter(deliveries.items()))
    day = next(iter(delivery.extra["days"]))
    rows = RefusingClient(bigquery_client(source), refuse="SELECT * ")
    folder = tmp_path / period
    with pytest.raises(DeliveryError) as refused:
        land_bigquery_delivery(rows, source, delivery, folder, None)
    message = str(refused.value)
    assert f"test-project.{source.dataset}.{TABLE} day {day}" in message
    assert "maximum_bytes_billed=1,000 bytes" in message
    assert list(folder.iterdir()) == []


class BrokenStreamClient(CountingClient):
    """The real client, except that row queries' results stop after their first page: with an
    error (``fail``) or silently (a truncated stream)."""

    def __init__(self, client: bigquery.Client, fail: bool) -> None:
        super().__init__(client)
        self.fail = fail

    def query(self, sql: str, **kwargs: Any) -> Any:
        job = super().query(sql, **kwargs)
        if not sql.startswith("SELECT * "):
            return job
        fail = self.fail

        class Rows:
            def __init__(self, rows: Any) -> None:
                self.rows = rows
                self.total_rows = rows.total_rows

            def to_arrow_iterable(self, **options: Any) -> Iterator[Any]:
                batches = self.rows.to_arrow_iterable(**options)
                yield next(batches)
                if fail:
                    raise ServiceUnavailable("connection reset while reading the next page")

        return SimpleNamespace(result=lambda **options: Rows(job.result(**options)))


@pytest.mark.parametrize("fail", [True, False], ids=["error", "truncated"])
def test_a_broken_result_stream_leaves_no_partial_file_and_no_record(
    emulator, seed_lines, tmp_path, request, monkeypatch, fail
):
    monkeypatch.setattr(bq_export, "PAGE_ROWS", 3)  # several pages per day
    source = _seeded_table(emulator, request.node.name, seed_lines)
    deliveries = find_bigquery_deliveries(bigquery_client(source), source, since=BACKFILL)
    delivery = deliveries["2026-11"]
    folder = tmp_path / "2026-11"
    land_bigquery_delivery(bigquery_client(source), source, delivery, folder, None)
    before = {p.name: p.read_bytes() for p in folder.glob("day=*.parquet")}

    # Everything must be fetched again (nothing known landed): the first day breaks.
    client = BrokenStreamClient(bigquery_client(source), fail=fail)
    with pytest.raises(DeliveryError) as broken:
        land_bigquery_delivery(client, source, delivery, folder, None)
    first_day = next(iter(delivery.extra["days"]))
    assert f"{TABLE} day {first_day}" in str(broken.value)
    expected = "connection reset" if fail else "wrote 3 rows, the query returned"
    assert expected in str(broken.value)
    assert not list(folder.glob("*.partial"))
    assert not (folder / RECORD).exists()
    # The days' files are as before (the broken one was never replaced).
    assert {p.name: p.read_bytes() for p in folder.glob("day=*.parquet")} == before


# --- the nightly job ----------------------------------------------------------------------------


def test_the_nightly_job_reads_a_bigquery_source_and_a_second_run_queries_no_rows(
    emulator, seed_lines, tmp_path, request, nightly_run, monkeypatch
):
    from conftest import check_verdicts

    import connectors.sources

    source = _seeded_table(emulator, request.node.name, seed_lines)
    clients: list[CountingClient] = []

    def counting_client(source: BigQuerySource) -> CountingClient:
        clients.append(CountingClient(bigquery_client(source)))
        return clients[-1]

    monkeypatch.setattr(bq_export, "bigquery_client", counting_client)
    monkeypatch.setattr(connectors.sources, "bigquery_client", counting_client)
    settings = {
        "lake_root": str(tmp_path / "lake"),
        "gcp": [{**source.model_dump(exclude_none=True), "name": "billing"}],
    }
    result = nightly_run(settings, "gcp", "2026-11")
    assert result.success
    assert check_verdicts(result) == {
        "reconciles_to_bill": True,
        "schema_is_focus": True,
        "amounts_are_finite": True,
        "no_duplicate_line_items": True,
    }
    focus = Lake(tmp_path / "lake").scan_partition("focus", "gcp", "2026-11").collect()
    expected = _net(_month_rows(_exact(seed_lines), "2026-11"))
    assert focus["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-6)
    assert sum(len(c.days_queried()) for c in clients) > 0

    clients.clear()
    assert nightly_run(settings, "gcp", "2026-11").success
    assert [day for c in clients for day in c.days_queried()] == []  # every day already landed
    again = Lake(tmp_path / "lake").scan_partition("focus", "gcp", "2026-11").collect()
    assert again["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-6)
