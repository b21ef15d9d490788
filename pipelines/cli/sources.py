"""``costlake sources check`` and ``costlake azure ...``: the configured export locations."""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from costlake.config import load_settings
from pipelines.cli.common import console, fail

sources_app = typer.Typer(help="The configured export locations.", no_args_is_help=True)


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
        fail(str(exc))
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
            fail(f"give --scope: the azure sources in the configuration name {found}")
        (scope,) = scopes
    return azure_cost_management.cost_management_client(), scope


def _azure_call(call, *args):
    """``call(*args)``, with the SDK's failures told as one line (never a token)."""
    from azure.core.exceptions import ClientAuthenticationError

    from connectors.azure_cost_management import CostManagementError

    try:
        return call(*args)
    except (ValueError, CostManagementError) as exc:
        fail(str(exc))
    except ClientAuthenticationError as exc:
        fail(
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
