"""Typed values from export columns that may arrive as text (CSV) or typed (Parquet).

Each parser returns a polars expression; ``*_is_bad`` says where a present value did not parse,
so the row becomes a reject with a reason instead of a silent null.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

import polars as pl

from costlake.focus.schema import ROW_PROBLEM

ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"  # 2026-11-03T00:00:00Z, with or without fractions
TIMESTAMP_FORMATS = (
    ISO_UTC,
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)
UTC_MICROS = pl.Datetime("us", "UTC")


def number(name: str, dtype: pl.DataType) -> pl.Expr:
    """Float64 from a text or numeric column; unparseable text and NaN / ±inf (text such as
    "NaN", "inf", "1e999", or a Parquet float) become null, so ``is_bad`` rejects the row: a
    non-finite amount is never money in the lake."""
    parsed = pl.col(name).cast(pl.Float64, strict=dtype != pl.String)
    return pl.when(parsed.is_finite()).then(parsed)


def timestamp(
    name: str, dtype: pl.DataType, formats: tuple[str, ...] = TIMESTAMP_FORMATS
) -> pl.Expr:
    """UTC timestamp (microseconds) from text in one of ``formats``, or a Parquet timestamp/date.

    Text with a UTC offset (``+01:00``) is also read when more than one format is allowed.
    Each format is one pass over the column, so callers that know their source pass one.
    """
    col = pl.col(name)
    if dtype == pl.String:
        parsed = [col.str.to_datetime(f, time_unit="us", strict=False) for f in formats]
        candidates = [p.dt.replace_time_zone("UTC") for p in parsed]
        if len(formats) > 1:
            offset = "%Y-%m-%dT%H:%M:%S%.f%:z"
            candidates.append(
                col.str.to_datetime(offset, time_unit="us", time_zone="UTC", strict=False)
            )
        return pl.coalesce(candidates) if len(candidates) > 1 else candidates[0]
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return col.dt.convert_time_zone("UTC").cast(UTC_MICROS)


def text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as text. Empty strings are already null: see ``readers.scan_export``."""
    return pl.col(name) if dtype == pl.String else pl.col(name).cast(pl.String)


def is_bad(name: str, parsed: pl.Expr) -> pl.Expr:
    """A value was present in the source but did not parse."""
    return pl.col(name).is_not_null() & parsed.is_null()


def json_string(expr: pl.Expr) -> pl.Expr:
    """``expr`` as a JSON string literal (quoted and escaped), null stays null."""
    return (
        pl.struct(expr.alias("v"))
        .struct.json_encode()
        .str.strip_prefix('{"v":')
        .str.strip_suffix("}")
    )


# Tag columns of a source (legacy CUR ``resourceTags/*``, OCI ``tags/*``) are renamed to
# ``__tag__<key>`` before normalization, so one helper builds their Tags JSON.
TAG_PREFIX = "__tag__"


def tags_from_columns(tag_columns: list[str], column: Callable[[str], pl.Expr] = pl.col) -> pl.Expr:
    """Tags JSON object from ``__tag__<key>`` columns, keys as the source gave them; none → null."""
    if not tag_columns:
        return pl.lit(None, dtype=pl.String)
    pairs = [
        pl.when(column(c).is_not_null() & (column(c) != "")).then(
            pl.concat_str(
                [
                    json_string(pl.lit(c.removeprefix(TAG_PREFIX))),
                    pl.lit(":"),
                    json_string(column(c).cast(pl.String)),
                ]
            )
        )
        for c in tag_columns
    ]
    body = pl.concat_str(pairs, separator=",", ignore_nulls=True)
    return pl.when(body != "").then(pl.concat_str([pl.lit("{"), body, pl.lit("}")]))


def raw_tag_columns(tag_columns: list[str]) -> pl.Expr:
    """The ``__tag__<key>`` columns as one struct: a source's raw tags (``RAW_TAGS``)."""
    return pl.struct(tag_columns) if tag_columns else pl.lit(None, dtype=pl.String)


def tags_from_raw_columns(dtype: pl.DataType) -> pl.Expr:
    """``tags_from_columns`` of the struct ``raw_tag_columns`` made (``RAW_TAGS``)."""
    if not isinstance(dtype, pl.Struct):
        return pl.lit(None, dtype=pl.String)
    fields = [f.name for f in dtype.fields]
    return tags_from_columns(fields, lambda c: pl.col("x_RawTags").struct.field(c))


def reject_reason(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """The first failed check's message per row, or null for a good row.

    The row's ``x_RowProblem`` (a row that cannot be read as its dataset's, see
    ``focus_schema.ROW_PROBLEM``) comes before every check: such a row's values mean nothing.
    Messages are fixed text naming the column and what was expected (the row's cost text goes
    to the rejects table beside it): building a message from each row's values would cost a
    string per row and check on every row, good ones included.
    """
    problem = pl.col(ROW_PROBLEM)
    expr = pl.when(problem.is_not_null()).then(problem)
    for condition, message in checks:
        expr = expr.when(condition).then(pl.lit(message))
    return expr.otherwise(None)


@cache
def data_table(name: str) -> pl.DataFrame:
    """A lookup table shipped in ``costlake/data`` (every column text), read once."""
    text = resources.files("costlake").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return pl.read_csv(text.encode(), infer_schema=False)
