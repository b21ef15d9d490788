"""The AI playbook's commands of ``costlake``: ``costlake arbitrage`` and ``costlake maturity``
print the period's arbitrage and maturity marts from the lake. Registered on the main app by
``pipelines.cli``; no Dagster here."""

from __future__ import annotations

from typing import Annotated, NoReturn

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from costlake.config import load_settings
from costlake.focus.lake import Lake, partition_dir

console = Console()
PeriodOption = Annotated[
    str, typer.Option("--period", help="billing period YYYY-MM (default: the newest built)")
]
RootOption = Annotated[str, typer.Option(help="lake root (default: from settings)")]


def _fail(message: str) -> NoReturn:
    """Print ``message`` as an error and leave with status 1."""
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def _mart(root: str, table: str, period: str) -> tuple[str, pl.DataFrame]:
    """(period, rows) of a mart partitioned by billing period; the newest when none is named."""
    lake = Lake(root or load_settings().lake_root)
    built = sorted({f.split("billing_period=", 1)[1].split("/", 1)[0] for f in lake.files(table)})
    if not period:
        if not built:
            _fail(
                f"lake {lake.root} has no {table} yet: build the period marts first "
                "(costlake run, or the period_marts job in Dagster)"
            )
        period = built[-1]
    files = lake.files(partition_dir(table, None, period))
    if not files:
        shown = ", ".join(built) or "none"
        _fail(f"lake {lake.root} has no {table} for {period} (built periods: {shown})")
    return period, lake.scan_partition(table, None, period).collect()


def _money(value: float | None, currency: str | None) -> str:
    return "" if value is None else f"{value:,.2f} {currency or ''}".strip()


def arbitrage(period: PeriodOption = "", root: RootOption = "") -> None:
    """What the period's models and GPU hours would cost at the cheapest other host or region
    that offers them (marts/arbitrage), largest saving first."""
    period, mart = _mart(root, "marts/arbitrage", period)
    table = Table(title=f"Cross-cloud arbitrage, {period}")
    for name in ("kind", "item", "ran on", "cost", "cheapest elsewhere", "basis", "saving"):
        table.add_column(name, justify="right" if name in ("cost", "saving") else "left")
    for r in mart.sort("saving", descending=True, nulls_last=True).iter_rows(named=True):
        ran = " ".join(x for x in (r["provider"], r["region"]) if x)
        if r["alternative_provider"]:
            where = f"{r['alternative_provider']} {r['alternative_region']}"
            dated = r["catalog_date"].isoformat() if r["catalog_date"] else "undated"
            basis = f"{r['alternative_basis']}, {dated}"
        else:
            where, basis = r["reason"] or "", ""
        table.add_row(
            r["kind"],
            r["item"] or "",
            ran,
            _money(r["cost"], r["currency"]),
            where,
            basis,
            _money(r["saving"], r["currency"]),
        )
    console.print(table)


def maturity(period: PeriodOption = "", root: RootOption = "") -> None:
    """Each project's FinOps maturity level, the evidence of each criterion and the next step
    (marts/maturity_scorecard)."""
    period, card = _mart(root, "marts/maturity_scorecard", period)
    for project in card["project"].unique().sort().to_list():
        rows = card.filter(pl.col("project") == project)
        overall = rows.filter(pl.col("criterion") == "overall").row(0, named=True)
        table = Table(title=f"{project}: {overall['level']} ({period})", title_justify="left")
        for name in ("criterion", "level", "value", "evidence"):
            table.add_column(name, justify="right" if name == "value" else "left")
        for r in rows.filter(pl.col("criterion") != "overall").iter_rows(named=True):
            value = "" if r["value"] is None else f"{r['value']:.4g}"
            table.add_row(r["criterion"], r["level"], value, r["evidence"])
        table.caption = f"next step: {overall['next_step'] or overall['evidence']}"
        console.print(table)
