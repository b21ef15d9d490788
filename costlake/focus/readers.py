"""Lazy scans of landed export files, streamed by polars: a file is never loaded whole.

CSV (plain or gzip) is read with every column as text, so a bad value becomes a counted reject
later instead of a type-inference failure now; Parquet keeps its own types. Every row gets its
1-based position in the file (``x_SourceRow``, header excluded) for lineage and rejects, and
``x_RowProblem``: why the row cannot be read as the header says, or null.

A CSV header is read apart (``csv_header``), so duplicate names are seen as the file has them
(polars would rename the second ``a`` to ``a_duplicated_0``). polars cannot say which rows have
a different number of fields than the header: it pads a short row with nulls and, told to
(``truncate_ragged_lines``), cuts a long one, so "a,b," and "a,b" read alike. pyarrow's CSV
parser can: ``misshapen_rows`` lists those rows by number (streaming, converting one column
only; its handler runs for the bad rows alone), and a scan given that list (``Misshapen``)
flags them. Their values were not shifted into other columns: the whole row is a reject. The
ingest runs that parser beside its own polars pass (``costlake.focus.ingest``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq

from costlake.focus.deliveries import DeliveryError
from costlake.focus.schema import ROW_PROBLEM

ROW_COLUMN = "x_SourceRow"
# x_RowProblem of a CSV row; reject reasons are counted by the text before the first ":".
TOO_MANY_FIELDS = "row has more fields than the header"
TOO_FEW_FIELDS = "row has fewer fields than the header"
TAIL_BYTES = 1 << 20  # how much of a file's end is read to check that its last line is whole
NDJSON_SAMPLE_ROWS = 10_000
COPY_ROW_GROUP_ROWS = 65_536  # row group size of a JSON lines file's Parquet copy


@dataclass(frozen=True)
class Misshapen:
    """The data rows (1-based) of a CSV file with more, and with fewer, fields than its header."""

    longer: tuple[int, ...] = ()
    shorter: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.longer or self.shorter)


WELL_SHAPED = Misshapen()  # every row has the header's number of fields


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
    misshapen: Misshapen = WELL_SHAPED,
) -> pl.LazyFrame:
    """A lazy, streaming scan of one export file with its row numbers; ``rows`` (offset,
    length) reads only that slice of a Parquet file, numbered as in the whole file. A CSV
    file's ``misshapen`` rows (``misshapen_rows``) are flagged in ``x_RowProblem``.

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
        scan = scan.with_columns(pl.lit(None, dtype=pl.String).alias(ROW_PROBLEM))
    else:
        scan = _scan_csv(path, name, misshapen)
    return scan.with_columns(pl.col(ROW_COLUMN).cast(pl.Int64))


def _scan_csv(path: Path, name: str, misshapen: Misshapen) -> pl.LazyFrame:
    """Every column as text, against the header read apart; the ``misshapen`` rows flagged
    (see the module's docstring). A blank line is a row of nulls, rejected by its dataset's
    checks (testing every column for null would make the scan read columns the mapping never
    uses)."""
    header = csv_header(path, name)
    if len(set(header)) != len(header):
        raise DeliveryError(f"{name}: the header names a column twice")
    scan = pl.scan_csv(
        path,
        has_header=False,
        skip_rows=1,  # the header, read by csv_header (quotes respected)
        schema={column: pl.String for column in header},
        missing_columns="insert",  # a short row's missing fields are null
        truncate_ragged_lines=True,  # a long row's extra fields are dropped
        row_index_name=ROW_COLUMN,
        row_index_offset=1,
    )
    if not misshapen:
        return scan.with_columns(pl.lit(None, dtype=pl.String).alias(ROW_PROBLEM))
    row = pl.col(ROW_COLUMN)
    width = f"{len(header)} columns"
    return scan.with_columns(
        pl.when(row.is_in(misshapen.longer))
        .then(pl.lit(f"{TOO_MANY_FIELDS}: {width}"))
        .when(row.is_in(misshapen.shorter))
        .then(pl.lit(f"{TOO_FEW_FIELDS}: {width}"))
        .alias(ROW_PROBLEM)
    )


def misshapen_rows(path: Path, name: str) -> Misshapen:
    """The data rows of a CSV file (plain or gzip) with another number of fields than its header.

    pyarrow's streaming parser checks every row's field count; only the first column is
    converted, and its handler (Python) is called for the misshapen rows alone. One thread, so
    it numbers rows; a blank line is not one of them (it is a row of nulls).
    """
    longer: list[int] = []
    shorter: list[int] = []

    def note(row: pcsv.InvalidRow) -> str:
        data_row = row.number - 1  # pyarrow counts the header
        (longer if row.actual_columns > width else shorter).append(data_row)
        return "skip"

    width = len(csv_header(path, name))
    names = [f"c{i}" for i in range(width)]
    try:
        compression = "gzip" if file_format(path.name) == "csv.gz" else None
        source = pa.input_stream(path, compression=compression)
        with pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(
                use_threads=False, skip_rows=1, column_names=names, block_size=1 << 22
            ),
            parse_options=pcsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=note
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=names[:1], column_types={names[0]: pa.binary()}
            ),
        ) as batches:
            for _ in batches:
                pass
    except (pa.ArrowException, OSError, EOFError, zlib.error) as exc:
        raise DeliveryError(f"{name}: cannot read the file: {csv_problem(path) or exc}") from exc
    return Misshapen(tuple(longer), tuple(shorter))


def csv_header(path: Path, name: str) -> list[str]:
    """The column names of a CSV file (plain or gzip) as its first record gives them.

    Only the header's own bytes are decoded (a header may span lines inside quotes), so a bad
    byte further down is found by the scan, not blamed on the header. A UTF-8 BOM is dropped.
    """
    opener = gzip.open if file_format(path.name) == "csv.gz" else open
    raw = b""
    try:
        with opener(path, "rb") as binary:
            for line in binary:
                raw += line
                if raw.count(b'"') % 2 == 0:
                    break
    except (OSError, EOFError, zlib.error) as exc:
        raise DeliveryError(f"{name}: cannot read the csv header: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeliveryError(
            f"{name}: line 1 (the header) is not UTF-8 text: byte 0x{raw[exc.start]:02X} "
            f"at byte {exc.start + 1}"
        ) from exc
    header = next(csv.reader(io.StringIO(text)), None)
    if not header:
        raise DeliveryError(f"{name}: the file is empty: no header line")
    return header


def cut_last_line(path: Path, header: list[str]) -> int | None:
    """The line number of a plain CSV file's last line when the file ends in the middle of it
    (no newline after it, and fewer fields than the header), else None.

    Only the file's tail is read. A compressed file cut short fails its own checksum instead.
    """
    with open(path, "rb") as f:
        size = f.seek(0, io.SEEK_END)
        if size == 0:
            return None
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read()
    if tail.endswith(b"\n"):
        return None
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    fields = next(csv.reader(io.StringIO(last)), [])
    if len(fields) >= len(header):
        return None
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) + 1


def csv_problem(path: Path) -> str | None:
    """The first line of a CSV file that is not UTF-8 text, or where a quoted field is never
    closed, as "line N: ...". Run only after a read failed, to say where."""
    opener = gzip.open if file_format(path.name) == "csv.gz" else open
    try:
        with opener(path, "rb") as binary:
            for number, line in enumerate(binary, start=1):
                try:
                    line.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    byte, at = line[exc.start], exc.start + 1
                    return f"line {number}: not UTF-8 text (byte 0x{byte:02X} at byte {at})"
        with opener(path, "rt", encoding="utf-8-sig", newline="") as text:
            reader = csv.reader(text, strict=True)
            for _ in reader:
                pass
    except csv.Error as exc:
        return f"line {reader.line_num}: {exc}"
    except (OSError, EOFError, zlib.error):
        return None  # the bytes themselves are broken: the reader's own message says so
    return None


def parquet_slices(path: Path, target_rows: int) -> list[tuple[int, int]]:
    """(offset, length) slices of a Parquet file of at most ``target_rows`` rows each: small
    row groups taken whole and together, a larger one cut into equal parts.

    polars decodes a slice's rows of each column at once, so a slice's memory grows with its
    rows, whatever the file's row groups (a writer may put a million rows in one); a part of a
    row group costs little more to read than the whole (its pages are skipped).
    """
    metadata = pq.read_metadata(path)
    slices: list[tuple[int, int]] = []
    offset = length = 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if length and length + size > target_rows:
            slices.append((offset, length))
            offset, length = offset + length, 0
        if size <= target_rows:
            length += size
            continue
        parts = -(-size // target_rows)
        for part in range(parts):
            part_rows = size * (part + 1) // parts - size * part // parts
            slices.append((offset, part_rows))
            offset += part_rows
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
    """Column names of an export file as the file has them (a name twice is listed twice),
    reading only its header or footer.

    JSON lines have no header: their columns are the keys found in the first
    ``NDJSON_SAMPLE_ROWS`` lines, so a field the provider renamed is missed, not read as null.
    """
    fmt = file_format(name)
    if fmt == "ndjson":
        return _ndjson_keys(path, name, ndjson_schema)
    if fmt in ("csv", "csv.gz"):
        return csv_header(path, name)
    try:
        return pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise DeliveryError(f"{name}: cannot read the parquet footer: {exc}") from exc


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
        # pyarrow's reader takes no string for a number: text numbers (BigQuery's NUMERIC)
        # are declared as text in the schema.
        return (int, float)
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
