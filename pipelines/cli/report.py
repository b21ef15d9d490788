"""``costlake report``: the month-end report page of a billing period, from the lake's marts."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from costlake.config import load_settings
from costlake.focus.lake import Lake
from costlake.focus.periods import billing_period
from costlake.report.page import report_html
from costlake.report.tables import read_report_inputs, write_report

console = Console()


def report_command(
    period: Annotated[str, typer.Option(help="billing period YYYY-MM")],
    out: Annotated[
        Path | None,
        typer.Option(help="write the page to this HTML file (default: into the lake's reports/)"),
    ] = None,
    root: Annotated[str, typer.Option(help="lake root (default: from settings)")] = "",
) -> None:
    """Write one self-contained HTML page (inline SVG charts, no network needed) of a period:
    spend, top services, tags, AI unit costs, GPU idle cost, anomalies, budgets, reconciliation."""
    try:
        period = billing_period(period)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None
    lake = Lake(root or load_settings().lake_root, read_only=out is not None)
    inputs = read_report_inputs(lake, period)
    if inputs.table("focus") is None:
        console.print(f"[red]the lake at {escape(lake.root)} has no focus rows for {period}[/]")
        raise typer.Exit(1)
    html = report_html(inputs)
    if out is None:
        where = lake.path(write_report(lake, period, html))
    else:
        out.write_text(html, encoding="utf-8")
        where = str(out)
    console.print(f"report of {period}: {escape(where)}", soft_wrap=True)
