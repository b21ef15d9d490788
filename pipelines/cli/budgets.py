"""``costlake budgets``: each budget's spend and forecast against its amount, from the budgets
mart. Registered on the main app by ``pipelines.cli``; no Dagster here, only the lake."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from costlake.config import load_settings
from costlake.focus.lake import Lake, partition_dir

console = Console()
BAR_WIDTH = 12
STATUS_STYLE = {"ok": "green", "at_risk": "yellow", "over": "red", "no_data": "dim"}


def bar(actual: float, forecast: float, amount: float, width: int = BAR_WIDTH) -> Text:
    """Actual (solid) then forecast (shaded) as shares of ``width``, the amount at the end of
    the bar; what passes the amount is drawn red after a ``|``."""
    scale = width / max(amount, actual, forecast, 1e-9) if amount > 0 else 0.0
    spent = round(min(actual, amount) * scale)
    ahead = round(min(forecast, amount) * scale) - spent
    text = Text("█" * spent, style="cyan") + Text("░" * max(0, ahead), style="cyan")
    text += Text("·" * max(0, round(amount * scale) - spent - max(0, ahead)), style="dim")
    beyond = round(max(actual, forecast) * scale) - round(amount * scale)
    text += Text("|", style="bold") + Text("█" * max(0, beyond), style="red")
    return text


def budgets(
    period: Annotated[
        str, typer.Option(help="billing period YYYY-MM (default: the newest in the lake)")
    ] = "",
    root: Annotated[str, typer.Option(help="lake root (default: from settings)")] = "",
) -> None:
    """Each budget: spend to date and forecast at the period's end against its amount."""
    lake = Lake(root or load_settings().lake_root)
    if period:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
            console.print(f"[red]--period {escape(period)}: expected a month YYYY-MM[/]")
            raise typer.Exit(1)
    else:
        found = lake.files("marts/budgets")
        periods = sorted({f.split("billing_period=")[1].split("/")[0] for f in found})
        if not periods:
            console.print(f"no budgets mart in lake {lake.root}: run `costlake run` first")
            raise typer.Exit(1)
        period = periods[-1]
    files = lake.files(partition_dir("marts/budgets", None, period))
    if not files:
        console.print(f"no budgets mart for {period} in lake {lake.root}")
        raise typer.Exit(1)
    rows = lake.scan_partition("marts/budgets", None, period).collect()
    if rows.is_empty():
        console.print("no budgets configured (budgets: in costlake.yaml, see docs/budgets.md)")
        return
    table = Table(title=f"Budgets of {period}: █ spent, ░ forecast to the period's end, | amount")
    table.add_column("budget", no_wrap=True)
    table.add_column("spent of amount", justify="right")
    table.add_column("forecast (80 %)", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("status")
    for r in rows.iter_rows(named=True):
        table.add_row(
            f"{r['budget']}\n{r['period']} to {r['as_of']}",
            f"{r['actual']:,.0f} of {r['amount']:,.0f} {r['currency']}\n{r['pct_used']:.0f} %",
            f"{r['forecast']:,.0f}\n{r['forecast_lower']:,.0f}-{r['forecast_upper']:,.0f}",
            bar(r["actual"], r["forecast"], r["amount"]),
            Text(
                "\n".join([r["status"], *filter(None, r["crossed"].split(","))]),
                style=STATUS_STYLE.get(r["status"], ""),
            ),
        )
    console.print(table)
