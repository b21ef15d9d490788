"""N-row Azure, GCP and OCI exports for the benchmark, tiled from the test fixtures.

Each fixture (tests/fixtures/README.md) is repeated until the file has N rows. In copy k of the
fixture the resource ids end in "-k" (as many resources as copies, not a handful) and usage
dates are moved k mod 28 days later, never past the end of a row's own month, so the file keeps
the fixture's one billing period and m whole copies bill m times the fixture. Files are written
chunk by chunk (``CHUNK_ROWS`` rows at a time): gzip CSV with the header once, JSON lines, or
Parquet row groups.
"""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from costlake.providers.gcp import GCP_EXPORT_SCHEMA

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CHUNK_ROWS = 100_000
TILE = "__tile"  # which copy of the fixture a row comes from


@dataclass(frozen=True)
class ProviderInput:
    """One provider's benchmark input: the fixture it is tiled from and how it is read."""

    provider: str
    fmt: str  # csv.gz | ndjson | parquet
    dataset: str  # x_SourceDataset
    fixture: Path
    billing_period: str  # the fixture's one period
    date_columns: tuple[str, ...]  # usage dates to vary, the first one being the start
    date_format: str  # of each date column's first 10 characters
    resource_column: str  # "struct.field" for a field of a struct column

    def file_name(self, rows: int) -> str:
        extension = {"csv.gz": "csv.gz", "ndjson": "jsonl", "parquet": "parquet"}[self.fmt]
        return f"{self.provider}-{rows}.{extension}"


_GCP_DATES = ("usage_start_time", "usage_end_time")
INPUTS = (
    ProviderInput(
        "azure",
        "csv.gz",
        "azure_actual",
        FIXTURES / "azure" / "EA_ActualCost_Small.csv",  # 11 rows, real EA actual cost
        "2023-09",
        ("Date",),
        "%m/%d/%Y",
        "ResourceId",
    ),
    ProviderInput(
        "gcp",
        "ndjson",
        "gcp_billing_export_detailed",
        FIXTURES / "gcp" / "hand_billing_export.jsonl",  # 7 rows, 3 of them with credits
        "2026-11",
        _GCP_DATES,
        "%Y-%m-%d",
        "resource.global_name",
    ),
    ProviderInput(
        "gcp",
        "parquet",
        "gcp_billing_export_detailed",
        FIXTURES / "gcp" / "hand_billing_export.jsonl",
        "2026-11",
        _GCP_DATES,
        "%Y-%m-%d",
        "resource.global_name",
    ),
    ProviderInput(
        "oci",
        "csv.gz",
        "oci_cost",
        FIXTURES / "oci" / "reports_cost-csv_0000000030000269.csv",  # 506 rows, real
        "2023-11",
        ("lineItem/intervalUsageStart", "lineItem/intervalUsageEnd"),
        "%Y-%m-%d",
        "product/resourceId",
    ),
)


def write_input(spec: ProviderInput, path: Path, rows: int) -> None:
    """Write ``rows`` rows tiled from ``spec``'s fixture to ``path``, a chunk at a time."""
    chunks = (_varied(spec, chunk) for chunk in _tiles(_read_fixture(spec), rows))
    if spec.fmt == "csv.gz":
        bom = spec.fixture.read_bytes().startswith(codecs.BOM_UTF8)  # Azure's exports have one
        with gzip.open(path, "wb", compresslevel=6) as out:
            for i, chunk in enumerate(chunks):
                chunk.write_csv(out, include_header=i == 0, include_bom=bom and i == 0)
    elif spec.fmt == "ndjson":
        with path.open("wb") as out:
            for chunk in chunks:
                chunk.write_ndjson(out)
    else:
        writer = None
        try:
            for chunk in chunks:
                table = _as_bigquery_parquet(chunk).to_arrow()
                writer = writer or pq.ParquetWriter(path, table.schema, compression="snappy")
                writer.write_table(table)
        finally:
            if writer:
                writer.close()


def _read_fixture(spec: ProviderInput) -> pl.DataFrame:
    if spec.fixture.suffix == ".jsonl":
        return pl.read_ndjson(spec.fixture, schema=GCP_EXPORT_SCHEMA)
    return pl.read_csv(spec.fixture, infer_schema=False)  # every value as the file's text


def _tiles(fixture: pl.DataFrame, rows: int) -> Iterator[pl.DataFrame]:
    """Rows 0..rows-1 of the fixture repeated end to end, ``CHUNK_ROWS`` at a time, with the
    number of the copy each row belongs to."""
    n = fixture.height
    for start in range(0, rows, CHUNK_ROWS):
        size = min(CHUNK_ROWS, rows - start)
        first, last = start // n, (start + size - 1) // n
        copies = pl.DataFrame({TILE: range(first, last + 1)}).join(fixture, how="cross")
        yield copies.slice(start - first * n, size)


def _varied(spec: ProviderInput, chunk: pl.DataFrame) -> pl.DataFrame:
    """The chunk with the copy's number appended to resource ids and each row's usage dates
    moved by the same number of days, within the month of its start."""
    start = _day(spec.date_columns[0], spec.date_format)
    room = (start.dt.month_end() - start).dt.total_days()
    shift = pl.min_horizontal(pl.col(TILE) % 28, room)
    suffix = "-" + pl.col(TILE).cast(pl.String)
    struct, _, field = spec.resource_column.partition(".")
    resource = (
        pl.col(struct).struct.with_fields(pl.field(field) + suffix)
        if field
        else pl.col(struct) + suffix
    )
    return chunk.with_columns(
        resource,
        *(
            (_day(c, spec.date_format) + pl.duration(days=shift)).dt.strftime(spec.date_format)
            + pl.col(c).str.slice(10)
            for c in spec.date_columns
        ),
    ).drop(TILE)


def _day(column: str, date_format: str) -> pl.Expr:
    return pl.col(column).str.slice(0, 10).str.to_date(date_format)


def _as_bigquery_parquet(chunk: pl.DataFrame) -> pl.DataFrame:
    """GCP rows read from JSON lines in the types of BigQuery's Parquet export:
    TIMESTAMP as timestamp[us, UTC], NUMERIC as decimal(38, 9)."""
    timestamp = pl.Datetime("us", "UTC")
    numeric = pl.Decimal(38, 9)
    price = pl.Struct(
        {
            "effective_price": numeric,
            "tier_start_amount": numeric,
            "unit": pl.String,
            "pricing_unit_quantity": numeric,
        }
    )
    return chunk.with_columns(
        pl.col(*_GCP_DATES, "export_time").str.strptime(timestamp, "%Y-%m-%d %H:%M:%S%.f UTC"),
        pl.col("price").cast(price),
    )
