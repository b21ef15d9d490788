"""Typed values from export columns that may arrive as text (CSV) or typed (Parquet).

Each parser returns a polars expression; ``*_is_bad`` says where a present value did not parse,
so the row becomes a reject with a reason instead of a silent null.
"""

from __future__ import annotations

import polars as pl

TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)
UTC_MICROS = pl.Datetime("us", "UTC")


def number(name: str, dtype: pl.DataType) -> pl.Expr:
    """Float64 from a text or numeric column; unparseable text becomes null."""
    col = pl.col(name)
    if dtype == pl.String:
        return col.str.strip_chars().cast(pl.Float64, strict=False)
    return col.cast(pl.Float64)


def timestamp(name: str, dtype: pl.DataType) -> pl.Expr:
    """UTC timestamp (microseconds) from ISO-8601 text or a Parquet timestamp/date."""
    col = pl.col(name)
    if dtype == pl.String:
        text = col.str.strip_chars()
        naive = [text.str.to_datetime(f, time_unit="us", strict=False) for f in TIMESTAMP_FORMATS]
        with_offset = text.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False
        )
        return pl.coalesce([*(n.dt.replace_time_zone("UTC") for n in naive), with_offset])
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return col.dt.convert_time_zone("UTC").cast(UTC_MICROS)


def text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Trimmed text with empty strings as null (FOCUS: nulls are nulls, never "")."""
    col = pl.col(name) if dtype == pl.String else pl.col(name).cast(pl.String)
    stripped = col.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def is_bad(name: str, parsed: pl.Expr) -> pl.Expr:
    """A value was present in the source but did not parse."""
    raw = pl.col(name)
    present = raw.is_not_null()
    if isinstance(raw, pl.Expr):
        present = present & (raw.cast(pl.String).str.strip_chars() != "")
    return present & parsed.is_null()


def json_string(expr: pl.Expr) -> pl.Expr:
    """``expr`` as a JSON string literal (quoted and escaped), null stays null."""
    return (
        pl.struct(expr.alias("v"))
        .struct.json_encode()
        .str.strip_prefix('{"v":')
        .str.strip_suffix("}")
    )
