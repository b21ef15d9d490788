"""Every kind of export costlake reads, by ``x_SourceDataset`` name.

A source dataset says how to rename a file's columns, which columns it cannot do without, how
its rows become FOCUS rows, and which of its own columns hold the bill's cost and currency (for
reconciliation, read apart from the mapping). Each provider module declares its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class SourceDataset:
    """How to read one kind of export."""

    provider: str  # aws | azure | gcp | oci
    rename: Callable[[list[str]], dict[str, str]]
    required: Callable[[list[str]], list[str]]  # missing required columns, in the file's names
    normalize: Callable[[pl.LazyFrame], pl.LazyFrame]
    cost_column: str  # after renaming
    currency_column: str  # after renaming
    # Newline-delimited JSON carries no schema of its own: the dataset names its columns' types.
    ndjson_schema: pl.Schema | None = None
    # Files that are slices of a stream (OCI's reports) can hold rows of two billing periods:
    # a delivery then takes the rows of its own period and leaves the others to theirs.
    # Elsewhere a file belongs to one period and a row of another is rejected.
    spans_periods: bool = False
    # Where one source row becomes several FOCUS rows (a credit, an unused commitment): the
    # step after ``normalize`` that adds them, right after their source row. Kept apart so the
    # ingest can read the tag keys of ``normalize``'s rows, one per source row, from their few
    # columns alone. An added row is not a source row: its ``ROW_HASH`` is null.
    expand: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None
    # Tags JSON from the ``RAW_TAGS`` column of the given type (which ``normalize`` carries
    # beside ``Tags``), so the ingest can build ``Tags`` once per distinct value.
    tags_from_raw: Callable[[pl.DataType], pl.Expr] | None = None
    # Why a ``RAW_TAGS`` value cannot be read (a reject reason), or null: checked once per
    # distinct value by the ingest, beside ``tags_from_raw``; a row with no other reason and
    # such tags is rejected with it.
    tags_problem: Callable[[pl.Expr], pl.Expr] | None = None


def same_names(columns: list[str]) -> dict[str, str]:
    """The rename of a source whose columns keep their names."""
    return {c: c for c in columns}
