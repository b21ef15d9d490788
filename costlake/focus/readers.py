"""Lazy scans of landed export files, streamed by polars: a file is never loaded whole.

CSV (plain or gzip) is read with every column as text, so a bad value becomes a counted reject
later instead of a type-inference failure now; Parquet keeps its own types. Every row gets its
1-based position in the file (``x_SourceRow``, header excluded) for lineage and rejects.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from costlake.focus.deliveries import DeliveryError

ROW_COLUMN = "x_SourceRow"
NDJSON_SAMPLE_ROWS = 10_000
COPY_ROW_GROUP_ROWS = 65_536  # row group size of a JSON lines file's Parquet copy


def file_format(name: str) -> str:
    """``csv``, ``csv.gz`` or ``parquet``, from the file name as providers write it."""
    lower = name.lower()
    if lower.endswith((".csv.gz", ".csv.gzip")):
        return "csv.gz"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith((".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")):
        return "ndjson"
    raise DeliveryError(
        f"{name}: unknown export file type (expected .csv, .csv.gz, .parquet or .jsonl)"
    )


def scan_export(
    path: Path,
    name: str,
    ndjson_schema: pl.Schema | None = None,
    rows: tuple[int, int] | None = None,
) -> pl.LazyFrame:
    """A lazy, streaming scan of one export file with its row numbers; ``rows`` (offset,
    length) reads only that slice of a Parquet file, numbered as in the whole file.

    The file on disk decides how it is read (a JSON lines file may be given as its Parquet copy,
    see ``parquet_copy``); ``name`` is the delivery's name for it, for messages.
    """
    fmt = file_format(path.name)
    if fmt == "ndjson" and ndjson_schema is None:
        raise DeliveryError(f"{name}: this dataset is not read from newline-delimited JSON")
    if fmt in ("parquet", "ndjson"):
        if fmt == "parquet":
            scan = pl.scan_parquet(path).with_row_index(ROW_COLUMN, offset=1)
            if rows is not None:
                scan = scan.slice(*rows)
        else:
            scan = pl.scan_ndjson(path, schema=ndjson_schema).with_row_index(ROW_COLUMN, offset=1)
        # FOCUS nulls are nulls: an empty string in a typed export means "no value".
        # (The CSV reader already reads an empty field as null.) Unused columns are pruned.
        text = [n for n, t in scan.collect_schema().items() if t == pl.String]
        scan = scan.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in text)
    else:
        scan = pl.scan_csv(path, infer_schema=False, row_index_name=ROW_COLUMN, row_index_offset=1)
    return scan.with_columns(pl.col(ROW_COLUMN).cast(pl.Int64))


def parquet_slices(path: Path, target_rows: int) -> list[tuple[int, int]]:
    """(offset, length) slices of a Parquet file along its row groups: whole row groups, at
    most ``target_rows`` rows each unless one row group alone is larger."""
    metadata = pq.read_metadata(path)
    slices: list[tuple[int, int]] = []
    offset = length = 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if length and length + size > target_rows:
            slices.append((offset, length))
            offset, length = offset + length, 0
        length += size
    if length or not slices:
        slices.append((offset, length))
    return slices


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    """The Arrow type pyarrow's JSON reader can fill for a polars type (no large types)."""
    if isinstance(dtype, pl.List):
        return pa.list_(_arrow_type(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pa.struct([pa.field(f.name, _arrow_type(f.dtype)) for f in dtype.fields])
    if dtype == pl.String:
        return pa.string()
    return pl.Series(dtype=dtype).to_arrow().type


@contextmanager
def parquet_copy(path: Path, name: str, ndjson_schema: pl.Schema | None) -> Iterator[Path]:
    """The file to scan: ``path`` itself, or for JSON lines a temporary Parquet copy.

    pyarrow's streaming JSON reader converts it batch by batch (memory stays bounded): on the
    nested records of a billing export it is several times faster than polars' JSON scan.
    """
    if file_format(name) != "ndjson" or ndjson_schema is None:
        yield path
        return
    schema = pa.schema([pa.field(n, _arrow_type(t)) for n, t in ndjson_schema.items()])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    with tempfile.TemporaryDirectory(prefix="costlake-") as folder:
        target = Path(folder) / f"{path.name}.parquet"
        try:
            source = pa.input_stream(path, compression="detect")
            with (
                pj.open_json(source, parse_options=options) as batches,
                pq.ParquetWriter(target, schema, compression="lz4") as writer,
            ):
                # The reader's batches are ~1 MiB of JSON; a row group per batch would leave
                # thousands of them, whose footer metadata grows with the file.
                pending: list[pa.RecordBatch] = []
                for batch in batches:
                    pending.append(batch)
                    if sum(b.num_rows for b in pending) >= COPY_ROW_GROUP_ROWS:
                        writer.write_table(pa.Table.from_batches(pending))
                        pending = []
                if pending:
                    writer.write_table(pa.Table.from_batches(pending))
        except (pa.ArrowException, OSError, EOFError, zlib.error) as exc:
            where = ndjson_problem(path, ndjson_schema)
            raise DeliveryError(f"{name}: cannot read the file: {where or exc}") from exc
        yield target


def source_columns(path: Path, name: str, ndjson_schema: pl.Schema | None = None) -> list[str]:
    """Column names of an export file, reading only its header or footer.

    JSON lines have no header: their columns are the keys found in the first
    ``NDJSON_SAMPLE_ROWS`` lines, so a field the provider renamed is missed, not read as null.
    """
    try:
        if file_format(name) == "ndjson":
            return _ndjson_keys(path, name, ndjson_schema)
        names = scan_export(path, name, ndjson_schema).collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DeliveryError(f"{name}: cannot read the {file_format(name)} header: {exc}") from exc
    return [n for n in names if n != ROW_COLUMN]


def _ndjson_keys(path: Path, name: str, schema: pl.Schema | None) -> list[str]:
    """The keys found in the first lines of a JSON lines file; a line that is not JSON or has
    a field of the wrong type is named."""
    try:
        sample = pl.read_ndjson(
            path, n_rows=NDJSON_SAMPLE_ROWS, infer_schema_length=NDJSON_SAMPLE_ROWS
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        where = ndjson_problem(path, schema) if schema is not None else None
        raise DeliveryError(f"{name}: cannot read the file: {where or exc}") from exc
    return sample.columns


def _json_kind(dtype: pl.DataType) -> tuple[type, ...]:
    if isinstance(dtype, pl.List):
        return (list,)
    if isinstance(dtype, pl.Struct):
        return (dict,)
    if dtype.is_numeric():
        return (int, float, str)  # BigQuery writes INT64 and NUMERIC as strings too
    if dtype == pl.Boolean:
        return (bool, str)
    return (str, int, float)


def ndjson_problem(path: Path, schema: pl.Schema) -> str | None:
    """The first line of a JSON lines file that is not JSON or whose field has the wrong JSON
    type for ``schema``, as "line N: ...". Run only after a read failed, to say where."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        return _first_bad_line(opener(path, "rt", encoding="utf-8"), schema)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        return None  # the bytes themselves are broken: the reader's own message says so


def _first_bad_line(text: IO[str], schema: pl.Schema) -> str | None:
    with text as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            for name, dtype in schema.items():
                value = record.get(name)
                if value is not None and not isinstance(value, _json_kind(dtype)):
                    kind = type(value).__name__
                    return f"line {number}: {name} is a JSON {kind}, expected {dtype}"
    return None
