"""``costlake commitments``: what the period's commitments cost, used and saved, and what to buy.

A Typer sub-app of its own (registered on the main app in ``pipelines/cli/__init__.py``): the
summary of a period, ``recommend`` (the commitment level that maximizes net savings) and
``capacity`` (provisioned AI capacity against pay-as-you-go tokens). Formulas:
docs/commitments.md.
"""

from datetime import UTC, datetime
from typing import Annotated, NoReturn

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from costlake.commitments.marts import (
    DEFAULT_UTILIZATION_THRESHOLD,
    commitment_coverage,
    commitment_utilization,
    commitment_warnings,
    period_coverage,
    period_utilization,
)
from costlake.commitments.recommend import (
    TERMS,
    compare_capacity,
    default_discounts,
    eligible_hourly_usage,
    payg_tokens,
    peak_tokens_per_minute,
    recommend,
)
from costlake.config import load_settings
from costlake.focus.lake import Lake, LakeVersionError
from costlake.focus.schema import CONTRACT_COMMITMENT_TABLE

commitments_app = typer.Typer(
    help="Commitments: utilization, coverage, savings, and what to commit to.",
    invoke_without_command=True,
    add_completion=False,
)
console = Console()
RootOption = Annotated[str, typer.Option(help="lake root (default: from settings)")]


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _scan(lake: Lake, table: str, period: str, provider: str) -> pl.LazyFrame:
    try:
        rows = lake.scan(table)
    except (FileNotFoundError, LakeVersionError) as exc:
        _fail(str(exc))
    if period:
        rows = rows.filter(pl.col("billing_period") == period)
    if provider:
        rows = rows.filter(pl.col("provider") == provider)
    return rows


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


@commitments_app.callback()
def summary(
    ctx: typer.Context,
    root: RootOption = "",
    period: Annotated[str, typer.Option(help="billing period YYYY-MM (default: the newest)")] = "",
    provider: Annotated[str, typer.Option(help="aws, azure, gcp or oci (default: all)")] = "",
    threshold: Annotated[
        float, typer.Option(help="warn below this utilization")
    ] = DEFAULT_UTILIZATION_THRESHOLD,
) -> None:
    """The period's commitments: cost, used, unused, utilization, savings; coverage per account;
    warnings for low utilization and terms ending within 30 days."""
    if ctx.invoked_subcommand:
        return
    lake = Lake(root or load_settings().lake_root, read_only=True)
    if not period:
        periods = _scan(lake, "focus", "", provider).select("billing_period").unique().collect()
        if periods.is_empty():
            _fail("no billing period in the lake")
        period = max(periods["billing_period"])
    focus = _scan(lake, "focus", period, provider)
    used = period_utilization(commitment_utilization(focus)).collect()
    covered = period_coverage(commitment_coverage(focus)).collect()
    table = Table(title=f"Commitments in {period}")
    for name in ("provider", "commitment", "type", "currency", "cost", "used", "unused"):
        table.add_column(name, justify="right" if name in ("cost", "used", "unused") else "left")
    for name in ("utilization", "covered on demand", "savings", "savings rate"):
        table.add_column(name, justify="right")
    for row in used.iter_rows(named=True):
        table.add_row(
            row["x_Provider"],
            row["ContractCommitmentId"].rsplit("/", 1)[-1],
            row["ContractCommitmentType"],
            row["BillingCurrency"],
            _money(row["commitment_cost"]),
            _money(row["used_cost"]),
            _money(row["unused_cost"]),
            _pct(row["utilization"]),
            _money(row["covered_on_demand_cost"]),
            _money(row["realized_savings"]),
            _pct(row["savings_rate"]),
        )
    console.print(table)
    coverage = Table(title=f"Coverage of eligible usage in {period}")
    for name in ("provider", "account", "sub account", "currency"):
        coverage.add_column(name)
    for name in ("eligible on demand", "covered", "coverage", "paid", "effective savings rate"):
        coverage.add_column(name, justify="right")
    for row in covered.iter_rows(named=True):
        coverage.add_row(
            row["x_Provider"],
            row["BillingAccountId"],
            row["SubAccountId"] or "",
            row["BillingCurrency"],
            _money(row["eligible_on_demand_cost"]),
            _money(row["covered_on_demand_cost"]),
            _pct(row["coverage"]),
            _money(row["eligible_cost"]),
            _pct(row["effective_savings_rate"]),
        )
    console.print(coverage)
    contracts = _scan(lake, CONTRACT_COMMITMENT_TABLE, period, provider).collect()
    as_of = min(datetime.now(UTC), contracts["BillingPeriodEnd"].max() or datetime.now(UTC))
    for warning in commitment_warnings(used, contracts, as_of, threshold):
        console.print(f"[yellow]warning:[/yellow] {warning.message}")


@commitments_app.command("recommend")
def recommend_command(
    provider: Annotated[str, typer.Option(help="aws, azure or gcp")],
    term: Annotated[str, typer.Option(help="commitment term: 1y or 3y")] = "1y",
    days: Annotated[
        int, typer.Option(help="days of usage to learn from, ending at the newest")
    ] = 30,
    discount: Annotated[
        float | None,
        typer.Option(help="discount against on demand (default: data/commitment_discounts.csv)"),
    ] = None,
    root: RootOption = "",
) -> None:
    """The commitment level (on-demand value per hour) that maximizes net savings over the last
    days of eligible usage not yet covered, its break-even utilization, ±20 % and the risk."""
    if term not in TERMS:
        _fail(f"--term {term}: use one of {', '.join(TERMS)}")
    if discount is None:
        discount = default_discounts().get((provider, term))
        if discount is None:
            _fail(f"no default discount for {provider} {term}: pass --discount")
    if not 0 < discount < 1:
        _fail(f"--discount {discount}: a share between 0 and 1, e.g. 0.27")
    lake = Lake(root or load_settings().lake_root, read_only=True)
    try:
        usage, currency, granularity = eligible_hourly_usage(
            _scan(lake, "focus", "", provider), provider, days
        )
    except ValueError as exc:
        _fail(str(exc))
    found = recommend(
        usage, discount, provider=provider, term=term, currency=currency, granularity=granularity
    )
    table = Table(
        title=f"{provider} {term} commitment at {discount:.0%} off, from {found.hours} h "
        f"({granularity}) of eligible uncovered usage: {found.on_demand_cost:,.2f} {currency}"
    )
    for name in ("", "level (on demand /h)", "commitment /h", "utilization", "net savings"):
        table.add_column(name, justify="right")
    for label, outcome in (("-20 %", found.lower), ("best", found.best), ("+20 %", found.upper)):
        table.add_row(
            label,
            _money(outcome.level),
            _money(outcome.hourly_commitment),
            _pct(outcome.utilization),
            _money(outcome.savings),
        )
    console.print(table)
    console.print(
        f"break-even utilization {found.break_even_utilization:.0%}; the best level keeps "
        f"saving while usage falls by up to {found.survivable_drop:.0%}"
    )
    for drop, savings in found.savings_if_usage_falls.items():
        console.print(f"  usage -{drop:.0%}: net savings {_money(savings)} {currency}")


@commitments_app.command("capacity")
def capacity_command(
    unit_hourly_cost: Annotated[float, typer.Option(help="cost of one capacity unit an hour")],
    model: Annotated[str, typer.Option(help="the model's normalized name (token lines)")] = "",
    period: Annotated[str, typer.Option(help="billing period YYYY-MM (default: all)")] = "",
    provider: Annotated[str, typer.Option(help="aws, azure, gcp or oci (default: all)")] = "",
    tpm_per_unit: Annotated[
        float | None, typer.Option(help="tokens per minute one unit serves (the provider's table)")
    ] = None,
    root: RootOption = "",
) -> None:
    """Provisioned capacity (PTU, model units) against pay-as-you-go tokens from the bill's
    token lines: the break-even tokens per minute, and with request logs the peak to size for."""
    from costlake.ai.token_lines import token_lines

    lake = Lake(root or load_settings().lake_root, read_only=True)
    lines = token_lines(_scan(lake, "focus", period, provider))
    try:
        tokens, cost, minutes = payg_tokens(lines, model or None)
    except ValueError as exc:
        _fail(str(exc))
    peak = None
    if lake.files("marts/llm_requests"):
        requests = lake.scan("marts/llm_requests")
        if period:
            requests = requests.filter(pl.col("billing_period") == period)
        peak = peak_tokens_per_minute(requests, model or None)
    try:
        found = compare_capacity(
            tokens, cost, minutes, unit_hourly_cost, peak_tpm=peak, tpm_per_unit=tpm_per_unit
        )
    except ValueError as exc:
        _fail(str(exc))
    console.print(
        f"pay-as-you-go: {found.tokens:,.0f} tokens for {found.payg_cost:,.2f} "
        f"({found.price_per_token * 1e6:,.4f} per million), {found.average_tpm:,.0f} tokens/min "
        "on average" + (f", {found.peak_tpm:,.0f} at the p95 busy minute" if found.peak_tpm else "")
    )
    console.print(
        f"one unit at {unit_hourly_cost:,.2f}/h breaks even above {found.break_even_tpm:,.0f} "
        "tokens per minute"
    )
    if found.units is not None:
        verdict = "saves" if found.capacity_cost < found.payg_cost else "costs more than"
        console.print(
            f"{found.units} unit(s) for the peak cost {found.capacity_cost:,.2f} over the "
            f"window: {verdict} pay-as-you-go ({found.payg_cost:,.2f})"
        )
