"""Lazy scans of landed export files, streamed by polars: a file is never loaded whole.

CSV (plain or gzip) is read with every column as text, so a bad value becomes a counted reject
later instead of a type-inference failure now; Parquet keeps its own types. Every row gets its
1-based position in the file (``x_SourceRow``, header excluded) for lineage and rejects.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from costlake.deliveries import DeliveryError

ROW_COLUMN = "x_SourceRow"


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


def scan_export(path: Path, name: str, ndjson_schema: pl.Schema | None = None) -> pl.LazyFrame:
    """A lazy, streaming scan of one export file with its row numbers."""
    fmt = file_format(name)
    if fmt == "ndjson" and ndjson_schema is None:
        raise DeliveryError(f"{name}: this dataset is not read from newline-delimited JSON")
    if fmt in ("parquet", "ndjson"):
        if fmt == "parquet":
            scan = pl.scan_parquet(path).with_row_index(ROW_COLUMN, offset=1)
        else:
            scan = pl.scan_ndjson(path, schema=ndjson_schema).with_row_index(ROW_COLUMN, offset=1)
        # FOCUS nulls are nulls: an empty string in a typed export means "no value".
        # (The CSV reader already reads an empty field as null.) Unused columns are pruned.
        text = [n for n, t in scan.collect_schema().items() if t == pl.String]
        scan = scan.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in text)
    else:
        scan = pl.scan_csv(path, infer_schema=False, row_index_name=ROW_COLUMN, row_index_offset=1)
    return scan.with_columns(pl.col(ROW_COLUMN).cast(pl.Int64))


def source_columns(path: Path, name: str, ndjson_schema: pl.Schema | None = None) -> list[str]:
    """Column names of an export file, reading only its header or footer.

    For JSON lines these are the dataset's declared columns: a JSON file has no header.
    """
    try:
        names = scan_export(path, name, ndjson_schema).collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DeliveryError(f"{name}: cannot read the {file_format(name)} header: {exc}") from exc
    return [n for n in names if n != ROW_COLUMN]
