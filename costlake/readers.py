"""Stream a landed export file as Arrow record batches, never holding the whole file in memory.

CSV (plain or gzip) is read with every column as text, so a bad value becomes a counted reject
later instead of a type-inference failure now; Parquet keeps its own types.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from costlake.deliveries import DeliveryError

BATCH_ROWS = 262_144
CSV_BLOCK_BYTES = 16 << 20


def file_format(name: str) -> str:
    """``csv``, ``csv.gz`` or ``parquet``, from the file name as providers write it."""
    lower = name.lower()
    if lower.endswith((".csv.gz", ".csv.gzip")):
        return "csv.gz"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".parquet"):
        return "parquet"
    raise DeliveryError(f"{name}: unknown export file type (expected .csv, .csv.gz or .parquet)")


def csv_header(path: Path, name: str) -> list[str]:
    """The header row, read apart so that every column can be declared text."""
    opener = gzip.open if file_format(name) == "csv.gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as stream:
            first = stream.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"{name}: cannot read CSV header: {exc}") from exc
    if not first.strip():
        raise DeliveryError(f"{name}: empty file, expected a CSV header")
    return next(csv.reader(io.StringIO(first)))


def _csv_batches(path: Path, name: str) -> Iterator[pa.RecordBatch]:
    header = csv_header(path, name)
    compression = "gzip" if file_format(name) == "csv.gz" else None
    reader = pacsv.open_csv(
        pa.input_stream(str(path), compression=compression),
        read_options=pacsv.ReadOptions(
            column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )
    yield from reader


def record_batches(path: Path, name: str) -> Iterator[pa.RecordBatch]:
    """Batches of one export file; any read failure names the file and what went wrong."""
    try:
        if file_format(name) == "parquet":
            yield from pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH_ROWS)
        else:
            yield from _csv_batches(path, name)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, EOFError) as exc:
        raise DeliveryError(f"{name}: cannot read {file_format(name)} data: {exc}") from exc


def source_columns(path: Path, name: str) -> list[str]:
    """Column names of an export file, without reading its data."""
    if file_format(name) != "parquet":
        return csv_header(path, name)
    try:
        return pq.ParquetFile(str(path)).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise DeliveryError(f"{name}: cannot read Parquet footer: {exc}") from exc
