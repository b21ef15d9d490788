"""Short Markdown summaries of a period, for Dagster metadata and the CLI."""

from __future__ import annotations

import polars as pl

from costlake.focus.ingest import IngestReport


def cost_by_category_markdown(focus: pl.LazyFrame, report: IngestReport) -> str:
    """Rows and cost per charge category and currency, with the ingest's counts."""
    table = (
        focus.group_by("BillingCurrency", "ChargeCategory")
        .agg(
            pl.len().alias("rows"),
            pl.col("BilledCost").sum().alias("billed"),
            pl.col("EffectiveCost").sum().alias("effective"),
        )
        .sort("BillingCurrency", "ChargeCategory")
        .collect()
    )
    lines = [
        f"**{report.provider} {report.billing_period}** from delivery `{report.delivery_id}` "
        f"({report.source_dataset}): {report.rows_written:,} rows written, "
        f"{report.rows_rejected:,} rejected.",
        "",
        "| currency | charge category | rows | billed cost | effective cost |",
        "|---|---|---:|---:|---:|",
    ]
    for currency, category, rows, billed, effective in table.iter_rows():
        lines.append(f"| {currency} | {category} | {rows:,} | {billed:,.2f} | {effective:,.2f} |")
    return "\n".join(lines)
