"""The ``costlake`` command: what a user does from a shell."""

import os
import shutil
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import polars as pl
import typer
from dagster import DagsterInstance
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from costlake.config import load_settings
from costlake.focus.lake import Lake, LakeVersionError
from costlake.focus.periods import billing_period, periods_to_refresh
from costlake.providers.registry import source_datasets
from pipelines.cli_ai import arbitrage, maturity
from pipelines.cli_anomalies import anomalies_app
from pipelines.cli_budgets import budgets
from pipelines.cli_commitments import commitments_app
from pipelines.cli_gpu import gpu_app, gpu_fit
from pipelines.cli_report import report_command

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
app.add_typer(commitments_app, name="commitments")
console = Console()
STATE_DIR = Path(".costlake")
# Dagster's console logger at INFO: progress and warnings, not every engine event.
INTEGRITY_CHECKS = {"reconciles_to_bill", "schema_is_focus", "ai_cost_reconciles"}
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _fail(message: str) -> NoReturn:
    """Print ``message`` as an error and leave with status 1."""
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def _periods(values: list[str] | None) -> list[str] | None:
    """``--period`` values normalized (``2025-5`` → ``2025-05``), or a usage error naming one."""
    try:
        return None if values is None else [billing_period(v) for v in values]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _period(value: str) -> str:
    return (_periods([value]) or [""])[0] if value else ""


def dagster_instance() -> DagsterInstance:
    """The local instance: ``$DAGSTER_HOME``, else ``.costlake/dagster`` with the project's
    ``dagster.yaml`` (telemetry off), so run history lands where ``dagster dev`` finds it."""
    if not os.environ.get("DAGSTER_HOME"):
        home = (STATE_DIR / "dagster").resolve()
        home.mkdir(parents=True, exist_ok=True)
        if Path("dagster.yaml").exists() and not (home / "dagster.yaml").exists():
            shutil.copy("dagster.yaml", home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def _report(result, label: str) -> bool:
    """Print one run's verdict; True when it succeeded and no integrity check failed."""
    failed = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
    ]
    # The money and schema checks fail a run; governance checks (untagged share) warn.
    broken = [c.check_name for c in failed if c.check_name in INTEGRITY_CHECKS]
    warned = [c.check_name for c in failed if c.check_name not in INTEGRITY_CHECKS]
    ok = result.success and not broken
    verdict = "[green]ok[/]" if ok else f"[red]FAILED[/] {', '.join(broken)}"
    if warned:
        verdict += f" [yellow](warning: {', '.join(warned)})[/]"
    console.print(f"  {label} run {result.run_id[:8]}: {verdict}")
    if not result.success:
        for event in result.all_events:
            if event.is_failure and event.step_failure_data:
                console.print(f"  [red]{event.step_failure_data.error.message.strip()}[/]")
    return ok


def run_nightly(periods: list[str], providers: list[str]) -> bool:
    """Run the nightly job once per (period, provider), then the period marts of each period;
    True when every run and integrity check passed."""
    from assets.partitions import partition_key
    from pipelines.definitions import assets_of, defs

    nightly = defs.resolve_job_def("nightly")
    period_marts = defs.resolve_job_def("period_marts")
    instance = dagster_instance()
    all_ok = True
    for period in periods:
        for provider in providers:
            console.print(f"[bold]nightly[/] {provider} {period} …")
            result = nightly.execute_in_process(
                partition_key=partition_key(period, provider),
                asset_selection=assets_of(provider),
                instance=instance,
                raise_on_error=False,
                run_config=QUIET,
            )
            all_ok &= _report(result, provider)
        console.print(f"[bold]period marts[/] {period} …")
        result = period_marts.execute_in_process(
            partition_key=period, instance=instance, raise_on_error=False, run_config=QUIET
        )
        all_ok &= _report(result, "marts")
    return all_ok


@app.command()
def demo(
    data: Annotated[Path, typer.Option(help="where the demo exports are written")] = Path(
        "demo-data"
    ),
) -> None:
    """Generate the demo bills of all four clouds and run the whole nightly pipeline into ./lake."""
    from connectors.sources import FINDERS
    from connectors.stores.files import LocalFileStore
    from demo.ai import write_demo_request_logs
    from demo.aws import demo_days, write_demo_aws_export
    from demo.azure import write_demo_azure_export
    from demo.gcp import write_demo_gcp_export
    from demo.gpu import write_demo_gpu_telemetry
    from demo.oci import write_demo_oci_export
    from demo.rates import write_demo_rates

    writers = {
        "aws": write_demo_aws_export,
        "azure": write_demo_azure_export,
        "gcp": write_demo_gcp_export,
        "oci": write_demo_oci_export,
    }
    periods: set[str] = set()
    for provider, write in writers.items():
        write(data / provider)
        found = FINDERS[provider](LocalFileStore(data / provider), "")
        console.print(f"demo {provider} export: {len(found)} billing periods in {data / provider}/")
        periods |= set(found)
    logs = write_demo_request_logs(data / "ai", demo_days(sorted(periods)))
    console.print(f"demo request logs: {sum(map(len, logs.values()))} files in {data / 'ai'}/")
    telemetry = write_demo_gpu_telemetry(data / "gpu")
    console.print(f"demo GPU telemetry: {len(telemetry)} hosts in {data / 'gpu'}/")
    write_demo_rates(data / "exchange_rates.csv", sorted(periods))
    console.print(f"demo exchange rates: {data / 'exchange_rates.csv'}")
    ok = run_nightly(sorted(periods), list(writers))
    show_lake()
    budgets()
    console.print(
        "\nNext: [bold]make ui[/] opens the Dagster UI (lineage, runs, checks); "
        "query the lake with DuckDB or polars: see the README's 'Query the lake'."
    )
    raise typer.Exit(0 if ok else 1)


@app.command()
def run(
    period: Annotated[
        list[str] | None,
        typer.Option(
            help="billing period YYYY-MM (repeatable); default: nightly", callback=_periods
        ),
    ] = None,
    provider: Annotated[list[str] | None, typer.Option(help="provider (repeatable)")] = None,
) -> None:
    """Run the nightly job for some periods (default: what tonight's schedule would refresh)."""
    providers = provider or load_settings().providers()
    ok = run_nightly(period or periods_to_refresh(date.today()), providers)
    raise typer.Exit(0 if ok else 1)


@app.command()
def normalize(
    source: Annotated[
        Path, typer.Argument(help="one export file: .csv, .csv.gz, .parquet or .jsonl")
    ],
    out: Annotated[Path, typer.Argument(help="lake folder to write FOCUS Parquet into")],
    dataset: Annotated[
        str, typer.Option(help=f"the export's kind: {' | '.join(source_datasets())}")
    ] = "aws_cur2",
    period: Annotated[
        str, typer.Option(help="billing period YYYY-MM of the file", callback=_period)
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


@app.command("lake")
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


@app.command()
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
        _fail(
            f"--currency {currency} needs --rates FILE: a dated exchange-rate table "
            "(see docs/currency.md); costlake never picks a rate itself"
        )
    if rates is not None and not currency:
        _fail("--rates needs --currency: the currency to convert to, e.g. --currency USD")
    target = currency.upper()
    groups = by or ["provider", "billing_period"]

    lake = Lake(root or load_settings().lake_root)
    try:
        focus = lake.scan("focus")
    except (FileNotFoundError, LakeVersionError) as exc:
        _fail(str(exc))
    unknown = [name for name in groups if name not in focus.collect_schema().names()]
    if unknown:
        _fail(f"--by {', '.join(unknown)}: no such column in the focus table")

    sums = ("BilledCost", "EffectiveCost")
    if rates is not None:
        try:
            focus = with_converted_cost(focus, load_rates(rates), target)
        except ValueError as exc:
            _fail(str(exc))
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


@app.command()
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
        _fail(str(exc))
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


# The GPU commands live in their own module: `costlake gpu utilization`, `costlake gpu-fit`.
app.add_typer(gpu_app, name="gpu")
app.command()(arbitrage)
app.command()(maturity)
app.command("gpu-fit")(gpu_fit)
# `costlake budgets` lives in its own module too.
app.command("budgets")(budgets)


app.add_typer(anomalies_app, name="anomalies")
app.command("report")(report_command)

sources_app = typer.Typer(help="The configured export locations.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("check")
def check_sources(
    config: Annotated[
        Path | None, typer.Option(help="costlake.yaml to check (default: $COSTLAKE_CONFIG)")
    ] = None,
) -> None:
    """Say whether each source can be reached and read, and which deliveries a run would
    ingest, without writing anything."""
    from connectors.source_check import source_checks

    try:
        settings = load_settings(config)
    except ValueError as exc:
        _fail(str(exc))
    checks = source_checks(settings)
    actions = {"new": "ingest (new)", "changed": "ingest (replaces the lake's)", "in lake": "skip"}
    for check in checks:
        heading = f"[bold]{check.provider} {check.name}[/] · {escape(check.where)}"
        if check.error:
            console.print(f"{heading}: [red]cannot read: {escape(check.error)}[/]", soft_wrap=True)
            continue
        found = f"{len(check.periods)} billing period(s)" if check.periods else "no delivery"
        console.print(f"{heading}: [green]readable[/], {found}", soft_wrap=True)
        for period in check.periods:
            console.print(
                f"  {period.billing_period}  {escape(period.delivery_id)}  {period.files} file(s)"
                f"  {period.bytes / 2**20:,.1f} MiB  → {actions[period.state]}",
                soft_wrap=True,
            )
    failed = [c for c in checks if not c.ok]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} source(s) cannot be read[/]")
    raise typer.Exit(1 if failed else 0)


azure_app = typer.Typer(
    help="Azure Cost Management exports: list them, run one now, show its run history.",
    no_args_is_help=True,
)
app.add_typer(azure_app, name="azure")
ScopeOption = Annotated[
    str,
    typer.Option(help="Cost Management scope; default: the `scope` of the azure blob source"),
]


def _cost_management(scope: str):
    """The Cost Management client (``DefaultAzureCredential``) and the scope to act on: the
    option, else the one azure source in the configuration that names a scope."""
    from connectors import azure_cost_management

    if not scope:
        scopes = {s.scope for s in load_settings().sources("azure") if getattr(s, "scope", None)}
        if len(scopes) != 1:
            found = ", ".join(sorted(scopes)) or "none"
            _fail(f"give --scope: the azure sources in the configuration name {found}")
        (scope,) = scopes
    return azure_cost_management.cost_management_client(), scope


def _azure_call(call, *args):
    """``call(*args)``, with the SDK's failures told as one line (never a token)."""
    from azure.core.exceptions import ClientAuthenticationError

    from connectors.azure_cost_management import CostManagementError

    try:
        return call(*args)
    except (ValueError, CostManagementError) as exc:
        _fail(str(exc))
    except ClientAuthenticationError as exc:
        _fail(
            "no Azure credential: sign in with `az login`, or set AZURE_TENANT_ID, "
            f"AZURE_CLIENT_ID and a secret or certificate ({type(exc).__name__})"
        )


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@azure_app.command("exports")
def azure_exports(scope: ScopeOption = "") -> None:
    """List the scope's exports: type, format, schedule and where they write."""
    from connectors.azure_cost_management import export_summaries

    client, scope = _cost_management(scope)
    exports = _azure_call(export_summaries, client, scope)
    table = Table(title=f"Cost Management exports of {scope}")
    for column in ("export", "type", "format", "timeframe", "schedule", "next run", "writes to"):
        table.add_column(column)
    for export in exports:
        where = export.destination
        table.add_row(
            export.name,
            export.export_type or "-",
            export.format or "-",
            export.timeframe or "-",
            f"{export.recurrence or '-'} ({export.schedule_status or 'on demand'})",
            _when(export.next_run_time),
            f"{where.storage_account}/{where.container}/{where.root_folder or ''}",
        )
    console.print(table)


@azure_app.command("run-export")
def azure_run_export(
    name: Annotated[str, typer.Argument(help="the export to run now")], scope: ScopeOption = ""
) -> None:
    """Ask Cost Management to run an export now; `costlake azure history` follows it."""
    from connectors.azure_cost_management import trigger_export_run

    client, scope = _cost_management(scope)
    _azure_call(trigger_export_run, client, scope, name)
    console.print(f"run of {name} requested in {scope}: see `costlake azure history {name}`")


@azure_app.command("history")
def azure_history(
    name: Annotated[str, typer.Argument(help="the export")], scope: ScopeOption = ""
) -> None:
    """Show an export's runs, newest first, with the error of any that failed."""
    from connectors.azure_cost_management import export_run_history

    client, scope = _cost_management(scope)
    runs = _azure_call(export_run_history, client, scope, name)
    table = Table(title=f"runs of {name} in {scope}")
    for column in ("submitted", "by", "kind", "status", "data from", "data to", "error"):
        table.add_column(column)
    for run in runs:
        error = f"{run.error_code}: {run.error_message}" if run.error_code else ""
        table.add_row(
            _when(run.submitted_time),
            run.submitted_by or "-",
            run.execution_type or "-",
            run.status or "-",
            _when(run.period_start),
            _when(run.period_end),
            error,
        )
    console.print(table)
