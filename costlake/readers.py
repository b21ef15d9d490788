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
    raise DeliveryError(f"{name}: unknown export file type (expected .csv, .csv.gz or .parquet)")


def scan_export(path: Path, name: str) -> pl.LazyFrame:
    """A lazy, streaming scan of one export file with its row numbers."""
    if file_format(name) == "parquet":
        scan = pl.scan_parquet(path).with_row_index(ROW_COLUMN, offset=1)
        # FOCUS nulls are nulls: an empty string in a Parquet export means "no value".
        # (The CSV reader already reads an empty field as null.) Unused columns are pruned.
        text = [n for n, t in scan.collect_schema().items() if t == pl.String]
        scan = scan.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in text)
    else:
        scan = pl.scan_csv(path, infer_schema=False, row_index_name=ROW_COLUMN, row_index_offset=1)
    return scan.with_columns(pl.col(ROW_COLUMN).cast(pl.Int64))


def source_columns(path: Path, name: str) -> list[str]:
    """Column names of an export file, reading only its header or footer."""
    try:
        names = scan_export(path, name).collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DeliveryError(f"{name}: cannot read the {file_format(name)} header: {exc}") from exc
    return [n for n in names if n != ROW_COLUMN]
