"""``costlake estimate``: the monthly cost of a workload on each model, from the price catalog."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from costlake.config import load_settings
from pipelines.cli.common import console, fail


def estimate(
    model: Annotated[list[str], typer.Option(help="model to price (repeatable), e.g. gpt-4o")],
    queries_per_day: Annotated[float, typer.Option(help="queries a day")],
    input_tokens: Annotated[float, typer.Option(help="average input tokens per query")],
    output_tokens: Annotated[float, typer.Option(help="average output tokens per query")],
    days: Annotated[int, typer.Option(help="days in the month")] = 30,
    cached_share: Annotated[
        float, typer.Option(help="share of input tokens read from the prompt cache, 0..1")
    ] = 0.0,
    baseline: Annotated[
        str, typer.Option(help="model the savings are measured against (default: the dearest)")
    ] = "",
    on: Annotated[
        str, typer.Option(help="price date YYYY-MM-DD (default: today); prices are by date")
    ] = "",
    prices: Annotated[
        Path | None, typer.Option(help="price file replacing or adding catalog rows")
    ] = None,
) -> None:
    """Monthly cost of a workload on each model, from the price catalog (list prices)."""
    from costlake.ai.estimate import compare_models
    from costlake.ai.prices import (
        NoPriceOnDay,
        PriceCatalogError,
        UnknownModel,
        load_price_catalog,
    )

    try:
        day = date.fromisoformat(on) if on else date.today()
        catalog = load_price_catalog(prices or load_settings().ai.prices)
        estimates = compare_models(
            catalog,
            model,
            queries_per_day,
            input_tokens,
            output_tokens,
            days=days,
            cached_share=cached_share,
            day=day,
            baseline=baseline or None,
        )
    except (ValueError, PriceCatalogError, UnknownModel, NoPriceOnDay) as exc:
        fail(str(exc))
    against = f"vs {baseline}" if baseline else "vs dearest"
    table = Table(
        title=f"{queries_per_day:,.0f} queries/day x {input_tokens:,.0f} in / "
        f"{output_tokens:,.0f} out tokens, {days} days"
    )
    for name in ("model", "provider", "per query", "input", "output", "month", f"saving {against}"):
        table.add_column(name, justify="left" if name in ("model", "provider") else "right")
    for e in estimates:
        saving = e.saving_vs_baseline_pct if baseline else e.saving_vs_most_expensive_pct
        table.add_row(
            e.model,
            e.provider,
            f"${e.per_query_cost:,.6f}",
            f"${e.input_cost:,.2f}",
            f"${e.output_cost:,.2f}",
            f"${e.monthly_cost:,.2f}",
            "" if saving is None else f"{saving:.1f} %",
        )
    table.caption = (
        f"list prices of {catalog.version} on {day.isoformat()}; an estimate, not a bill"
    )
    console.print(table)
