"""Turn one landed delivery into FOCUS Parquet for its (provider, billing period), batch by batch.

Memory stays bounded by one record batch: each batch is renamed, normalized, split into good
rows and rejects, and appended to the staged Parquet files; the period is swapped into the lake
only when every file of the delivery has been read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from costlake import aws, parsing
from costlake.deliveries import Delivery, DeliveryError
from costlake.focus_schema import focus_arrow_schema
from costlake.lake import REJECTS_SCHEMA, Lake
from costlake.readers import record_batches, source_columns
from costlake.reconcile import totals_by_currency

log = logging.getLogger(__name__)
REJECT_REASON = aws.REJECT_REASON


@dataclass(frozen=True)
class SourceDataset:
    """How to read one kind of export: its normalizer and the bill's own cost and currency."""

    rename: Callable[[list[str]], dict[str, str]]
    normalize: Callable[[pl.LazyFrame], pl.LazyFrame]
    cost_column: str
    currency_column: str
    check_columns: Callable[[list[str], str], None]


def _identity(columns: list[str]) -> dict[str, str]:
    return {c: c for c in columns}


SOURCE_DATASETS: dict[str, SourceDataset] = {
    "aws_cur_legacy": SourceDataset(
        aws.cur_rename_map,
        aws.cur_to_focus,
        "line_item_unblended_cost",
        "line_item_currency_code",
        lambda cols, name: aws.check_columns(cols, "aws_cur_legacy", name),
    ),
    "aws_cur2": SourceDataset(
        aws.cur_rename_map,
        aws.cur_to_focus,
        "line_item_unblended_cost",
        "line_item_currency_code",
        lambda cols, name: aws.check_columns(cols, "aws_cur2", name),
    ),
    "aws_focus": SourceDataset(
        _identity,
        aws.focus_export_to_focus,
        "BilledCost",
        "BillingCurrency",
        lambda cols, name: aws.check_columns(cols, "aws_focus", name),
    ),
}


@dataclass
class IngestReport:
    """What one delivery became: counts and money, recorded beside the period in the lake."""

    provider: str
    billing_period: str
    source_dataset: str
    delivery_id: str
    files: list[str]
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rejected_cost_rows: int = 0
    bill_totals: dict[str, float] = field(default_factory=dict)
    written_totals: dict[str, float] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """The ``ingest.json`` record of the period."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IngestReport:
        """Read back an ``ingest.json`` record."""
        return cls(**json.loads(text))


def _add(totals: dict[str, float], more: dict[str, float]) -> None:
    for key, value in more.items():
        totals[key] = totals.get(key, 0.0) + value


def _with_lineage(batch: pa.RecordBatch, delivery: Delivery, file_name: str, first_row: int):
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        x_Provider=pl.lit(delivery.provider),
        x_SourceDataset=pl.lit(delivery.source_dataset),
        x_DeliveryId=pl.lit(delivery.delivery_id),
        x_SourceFile=pl.lit(file_name),
        x_SourceRow=pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64),
    )


def _outside_period(billing_period: str) -> tuple[pl.Expr, pl.Expr]:
    row_period = pl.col("BillingPeriodStart").dt.strftime("%Y-%m")
    message = pl.concat_str(
        [pl.lit("row belongs to billing period "), row_period, pl.lit(f", not {billing_period}")]
    )
    return row_period != billing_period, message


def ingest_delivery(
    delivery: Delivery,
    landed: Path,
    lake: Lake,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Normalize every file of a landed delivery and replace its period in the lake.

    ``landed`` is the folder holding the delivery's files under their base names. Any unreadable
    file or missing column fails the whole delivery and leaves the lake's previous version.
    """
    dataset = SOURCE_DATASETS.get(delivery.source_dataset)
    if dataset is None:
        raise DeliveryError(f"{delivery.manifest_path}: unknown dataset {delivery.source_dataset}")
    names = [Path(f.path).name for f in delivery.files]
    if len(set(names)) != len(names):
        raise DeliveryError(f"{delivery.manifest_path}: two data files share a base name")
    report = IngestReport(
        delivery.provider,
        delivery.billing_period,
        delivery.source_dataset,
        delivery.delivery_id,
        files=[f.path for f in delivery.files],
    )
    # Check every file's columns before writing anything.
    for delivery_file, name in zip(delivery.files, names, strict=True):
        dataset.check_columns(source_columns(landed / name, name), delivery_file.path)
    with lake.staged_period(delivery.provider, delivery.billing_period) as staged:
        rejects = staged.parquet_writer("rejects", 0, REJECTS_SCHEMA)
        for part, (delivery_file, name) in enumerate(zip(delivery.files, names, strict=True)):
            writer = staged.parquet_writer("focus", part, focus_arrow_schema())
            _ingest_file(
                landed / name, delivery_file.path, delivery, dataset, writer, rejects, report
            )
            writer.close()
            if progress:
                progress(f"{delivery_file.path}: {report.rows_read:,} rows read so far")
        rejects.close()
        staged.write_text("ingests", "ingest.json", report.to_json())
    return report


def _ingest_file(path, file_name, delivery, dataset, writer, rejects, report) -> None:
    schema = focus_arrow_schema()
    columns = source_columns(path, file_name)
    rename = dataset.rename(columns)
    outside_period, period_message = _outside_period(delivery.billing_period)
    next_row = 1
    for batch in record_batches(path, file_name):
        raw = _with_lineage(batch, delivery, file_name, next_row).rename(rename)
        next_row += batch.num_rows
        cost_dtype = raw.schema[dataset.cost_column]
        bill = raw.lazy().with_columns(
            __cost=parsing.number(dataset.cost_column, cost_dtype),
            __currency=parsing.text(dataset.currency_column, raw.schema[dataset.currency_column]),
        )
        _add(report.bill_totals, totals_by_currency(bill, "__cost", "__currency"))
        out = dataset.normalize(raw.lazy()).collect()
        out = out.with_columns(
            pl.when(pl.col(REJECT_REASON).is_null() & outside_period)
            .then(period_message)
            .otherwise(pl.col(REJECT_REASON))
            .alias(REJECT_REASON)
        )
        good = out.filter(pl.col(REJECT_REASON).is_null()).drop(REJECT_REASON)
        bad = out.filter(pl.col(REJECT_REASON).is_not_null())
        writer.write_table(good.to_arrow().cast(schema))
        report.rows_read += batch.num_rows
        report.rows_written += good.height
        _add(
            report.written_totals, totals_by_currency(good.lazy(), "BilledCost", "BillingCurrency")
        )
        if bad.height:
            _record_rejects(raw, bad, dataset.cost_column, rejects, report)


def _record_rejects(raw, bad, cost_column, rejects, report) -> None:
    costs = raw.select(
        "x_SourceRow", pl.col(cost_column).cast(pl.String).str.strip_chars().alias("raw_cost")
    )
    table = (
        bad.select(
            "x_Provider",
            "x_SourceDataset",
            "x_DeliveryId",
            "x_SourceFile",
            "x_SourceRow",
            pl.col(REJECT_REASON).alias("reason"),
        )
        .join(costs, on="x_SourceRow", how="left")
        .with_columns(pl.when(pl.col("raw_cost") != "").then(pl.col("raw_cost")).alias("raw_cost"))
    )
    rejects.write_table(table.to_arrow().cast(REJECTS_SCHEMA))
    report.rows_rejected += table.height
    parsed = pl.col("raw_cost").cast(pl.Float64, strict=False)
    carries_cost = pl.col("raw_cost").is_not_null() & (parsed.is_null() | (parsed != 0))
    report.rejected_cost_rows += table.filter(carries_cost).height
    for reason, count in (
        table.group_by(pl.col("reason").str.split(":").list.first()).len().iter_rows()
    ):
        report.reject_reasons[reason] = report.reject_reasons.get(reason, 0) + count
    log.warning("%s rows rejected in %s", table.height, bad["x_SourceFile"][0])
