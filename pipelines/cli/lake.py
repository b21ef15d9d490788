"""``costlake normalize``, ``costlake lake`` and ``costlake costs``: one file in, the lake out."""

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from costlake.config import load_settings
from costlake.focus.lake import Lake, LakeVersionError
from costlake.providers.registry import source_datasets
from pipelines.cli.common import console, fail, period_option


def normalize(
    source: Annotated[
        Path, typer.Argument(help="one export file: .csv, .csv.gz, .parquet or .jsonl")
    ],
    out: Annotated[Path, typer.Argument(help="lake folder to write FOCUS Parquet into")],
    dataset: Annotated[
        str, typer.Option(help=f"the export's kind: {' | '.join(source_datasets())}")
    ] = "aws_cur2",
    period: Annotated[
        str, typer.Option(help="billing period YYYY-MM of the file", callback=period_option)
    ] = "",
) -> None:
    """Normalize one export file into FOCUS Parquet (a one-file delivery)."""
    from costlake.focus.deliveries import DeliveryError
    from costlake.focus.single_file import normalize_file

    try:
        report = normalize_file(source, Lake(out), dataset, period or None)
    except DeliveryError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(report.to_json())


def show_lake(
    root: Annotated[str, typer.Option(help="lake root (default: from settings)")] = "",
) -> None:
    """Show the lake: rows, billed and effective cost per provider, period and currency."""
    lake = Lake(root or load_settings().lake_root)
    try:
        totals = (
            lake.scan("focus")
            .group_by("provider", "billing_period", "BillingCurrency")
            .agg(
                pl.len().alias("rows"),
                pl.col("BilledCost").sum().alias("billed"),
                pl.col("EffectiveCost").sum().alias("effective"),
            )
            .sort("provider", "billing_period", "BillingCurrency")
            .collect()
        )
    except (FileNotFoundError, LakeVersionError) as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    table = Table(title=f"FOCUS lake at {lake.root}")
    for column in ("provider", "period", "currency", "rows", "billed cost", "effective cost"):
        table.add_column(column, justify="right" if column[0] in "rbe" else "left")
    for provider, period, currency, rows, billed, effective in totals.iter_rows():
        table.add_row(
            provider, period, currency, f"{rows:,}", f"{billed:,.2f}", f"{effective:,.2f}"
        )
    console.print(table)


def costs(
    root: Annotated[str, typer.Option(help="lake root (default: from settings)")] = "",
    by: Annotated[
        list[str] | None,
        typer.Option(help="column to group by (repeatable); default: provider, billing_period"),
    ] = None,
    currency: Annotated[
        str, typer.Option(help="also show totals converted to this currency (needs --rates)")
    ] = "",
    rates: Annotated[
        Path | None, typer.Option(help="dated exchange-rate CSV (see docs/currency.md)")
    ] = None,
) -> None:
    """Billed and effective cost per group and BillingCurrency, optionally also converted.

    Currencies are never added together; with --currency and --rates each line also shows its
    totals converted by the dated rate table, in columns that say so.
    """
    from costlake.focus.currency import cost_by_currency, load_rates, with_converted_cost

    if currency and rates is None:
        fail(
            f"--currency {currency} needs --rates FILE: a dated exchange-rate table "
            "(see docs/currency.md); costlake never picks a rate itself"
        )
    if rates is not None and not currency:
        fail("--rates needs --currency: the currency to convert to, e.g. --currency USD")
    target = currency.upper()
    groups = by or ["provider", "billing_period"]

    lake = Lake(root or load_settings().lake_root)
    try:
        focus = lake.scan("focus")
    except (FileNotFoundError, LakeVersionError) as exc:
        fail(str(exc))
    unknown = [name for name in groups if name not in focus.collect_schema().names()]
    if unknown:
        fail(f"--by {', '.join(unknown)}: no such column in the focus table")

    sums = ("BilledCost", "EffectiveCost")
    if rates is not None:
        try:
            focus = with_converted_cost(focus, load_rates(rates), target)
        except ValueError as exc:
            fail(str(exc))
        sums += ("x_ConvertedBilledCost", "x_ConvertedEffectiveCost")
    totals = cost_by_currency(focus, groups, sums)

    table = Table(title=f"Cost in lake {lake.root} per {', '.join(groups)} and currency")
    for name in groups:
        table.add_column(name)
    table.add_column("currency")
    for name in ("rows", "billed", "effective"):
        table.add_column(name, justify="right")
    if rates is not None:
        table.add_column(f"billed ({target}, converted)", justify="right")
        table.add_column(f"effective ({target}, converted)", justify="right")
        table.caption = (
            f"converted to {target} with {rates.name}: each row at the newest rate dated "
            "on or before its ChargePeriodStart"
        )
    for line in totals.iter_rows(named=True):
        cells = ["" if line[name] is None else str(line[name]) for name in groups]
        cells += [line["BillingCurrency"] or "", f"{line['rows']:,}"]
        cells += [f"{line[name]:,.2f}" for name in sums]
        table.add_row(*cells)
    if rates is not None:
        # Converted amounts are all in the target currency, so they alone may be added up.
        table.add_section()
        table.add_row(
            "total",
            *[""] * (len(groups) + 3),
            f"{totals['x_ConvertedBilledCost'].sum():,.2f}",
            f"{totals['x_ConvertedEffectiveCost'].sum():,.2f}",
        )
    console.print(table)
